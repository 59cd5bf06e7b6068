"""Tool definitions and tool calls as the templates write them: JSON exactly as transformers'
``tojson`` writes it, checked, bounded and cached.

Both renderers use this module: the generated fast path through ``tools_text`` and
``write_calls`` (which raise ``Unhandled`` on any problem, so that the reference
interpreter reports it), the reference through ``checked_tools`` and ``call_texts``
(which raise the precise error, naming the message, the call and the field).
Loaded only when a conversation carries tools or calls.
"""

from __future__ import annotations

import json
import marshal
from collections.abc import Mapping
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ..errors import ConversationError, InvalidMessageError, RefusedError, UnsupportedFieldError
from .serialisers import spliced as _spliced
from .unhandled import Unhandled

#: transformers' ``tojson``: ``json.dumps(x, ensure_ascii=False)`` with Python's default separators,
#: keys in the order given, no HTML escaping. One encoder, built once (``json.dumps`` with keywords
#: builds a new one per call).
_encode = json.JSONEncoder(ensure_ascii=False).encode
try:
    # The C encoder that ``_encode`` builds on every call, built once. Without circular-reference
    # markers: a circular value ends in RecursionError, which tojson turns into a refusal like any other.
    from json.encoder import encode_basestring

    _make = getattr(json.encoder, "c_make_encoder", None)
    _chunks = _make(None, None, encode_basestring, None, ": ", ", ", False, False, True) if _make else None
except ImportError:  # pragma: no cover - another Python implementation
    _chunks = None

#: Deeper values are refused; tool schemas nest a few levels, and ``json`` itself gives up near
#: the interpreter's recursion limit with a ``RecursionError``, which must not reach the caller.
MAX_DEPTH = 200

#: Serialised tool lists kept for reuse, keyed on their exact structure (see ``tools_text``).
_CACHE: Dict[Tuple[Any, bytes], str] = {}
_CACHE_SIZE = 64
_CACHE_KEY_LIMIT = 1 << 20


def _kind(value: Any) -> str:
    return "None" if value is None else type(value).__name__


def json_problem(value: Any) -> Tuple[str, str]:
    """Where and why ``value`` cannot be written as JSON: ``(path suffix, reason)``. Iterative, so a
    value nested 10,000 levels deep is diagnosed in bounded time and stack."""
    stack: List[Tuple[Any, str, int]] = [(value, "", 0)]
    seen: Dict[int, bool] = {}
    while stack:
        item, path, depth = stack.pop()
        if depth > MAX_DEPTH:
            return "", f"nested more than {MAX_DEPTH} levels deep"
        if item is None or isinstance(item, (str, int, float)):
            continue
        if isinstance(item, (list, tuple, dict)):
            if id(item) in seen:
                return path, "refers to itself (a circular structure is not JSON)"
            seen[id(item)] = True
            if isinstance(item, dict):
                for key, inner in item.items():
                    if not (key is None or isinstance(key, (str, int, float))):
                        return path, f"has a key of type {_kind(key)}; JSON keys are strings"
                    stack.append((inner, f"{path}.{key}" if isinstance(key, str) else f"{path}[{key!r}]",
                                  depth + 1))
            else:
                for position, inner in enumerate(item):
                    stack.append((inner, f"{path}[{position}]", depth + 1))
            continue
        return path, f"is a {_kind(item)}, which is not a JSON value"
    return "", "cannot be written as JSON"


_indented: Dict[int, Any] = {}


def tojson(value: Any, indent: Optional[int] = None) -> str:
    """``value`` as transformers' ``tojson`` writes it (``indent``: ``tojson(indent=N)``, whose item
    separator is then ``","``); ``ValueError`` for what is not JSON."""
    try:
        if indent is not None:
            encode = _indented.get(indent)
            if encode is None:
                encode = _indented[indent] = json.JSONEncoder(ensure_ascii=False, indent=indent).encode
            return encode(value)
        if _chunks is not None and type(value) is dict:
            return "".join(_chunks(value, 0))
        return _encode(value)
    except (TypeError, ValueError, RecursionError):
        raise ValueError("not JSON") from None


def _json_error(value: Any, field: str, index: Optional[int] = None, role: Optional[str] = None) -> ConversationError:
    where, reason = json_problem(value)
    return UnsupportedFieldError(f"{reason}: it cannot be written as transformers' tojson writes it",
                                 index=index, role=role, field=field + where)


# -- tool definitions ----------------------------------------------------------------------------

class PreparedTools:
    """Tool definitions checked, copied and serialised once, for reuse across renders.

    An agent or a server sends the same tools with every request; a plain list must be read in
    full on each render to know it did not change (``tools_text``), while this object is
    immutable (it holds its own deep copy), so a render finds its text by identity. Callables
    become their JSON schema here, once.
    """

    __slots__ = ("_definitions", "_texts")

    def __init__(self, tools: Any) -> None:
        import copy

        # Built-in tools of any type are taken: a format's render refuses those it does not write.
        self._definitions = copy.deepcopy(checked_tools(tools, ANY_BUILTIN))
        self._texts: Dict[Tuple[Any, ...], str] = {}

    @property
    def definitions(self) -> List[Any]:
        """A copy of the definitions, as the templates see them."""
        import copy

        return copy.deepcopy(self._definitions)

    def text(self, layout: Tuple[Any, ...]) -> str:
        found = self._texts.get(layout)
        if found is None:
            found = self._texts[layout] = join_tools(self._definitions, layout)
        return found

    def __len__(self) -> int:
        return len(self._definitions)

    def __bool__(self) -> bool:
        return bool(self._definitions)

    def __repr__(self) -> str:
        names = [tool.get("function", tool).get("name") for tool in self._definitions]
        return f"PreparedTools({names!r})"


def prepare_tools(tools: Any) -> PreparedTools:
    """``tools`` checked and serialised once: pass the result as ``render(..., tools=...)`` on every
    request (see ``PreparedTools``)."""
    return tools if isinstance(tools, PreparedTools) else PreparedTools(tools)


class _Any:
    """Every built-in tool type (``checked_tools`` for a list prepared before its format is known)."""

    def __contains__(self, kind: object) -> bool:
        return True


ANY_BUILTIN: Any = _Any()


def builtin_kind(tool: Mapping) -> Optional[str]:
    """The type of a built-in tool (``{"type": "python"}``: a type other than ``function``, without a
    function or a name), which a template writes as its own fixed text; ``None`` for any other."""
    kind = tool.get("type")
    if isinstance(kind, str) and kind != "function" and "function" not in tool and "name" not in tool:
        return kind
    return None


def checked_tools(tools: Any, builtin: Any = ()) -> List[Any]:
    """The tool definitions as the template sees them (a callable becomes its JSON schema), or
    the precise error for the first that is not one. A built-in tool of a type in ``builtin`` (the
    format's ``[tools] builtin``) needs no name; one of another type is refused."""
    if isinstance(tools, PreparedTools):
        return tools._definitions
    if isinstance(tools, (str, bytes, Mapping)) or not isinstance(tools, (list, tuple)):
        raise InvalidMessageError(f"tools must be a list of tool definitions, got {_kind(tools)}", field="tools")
    out = []
    for position, tool in enumerate(tools):
        where = f"tools[{position}]"
        if callable(tool) and not isinstance(tool, Mapping):
            from .schema import json_schema

            tool = json_schema(tool, position=position)
        if not isinstance(tool, Mapping):
            raise InvalidMessageError(
                f"a tool definition is a mapping ({{'type': 'function', 'function': {{'name': ...}}}}) or a "
                f"callable, got {_kind(tool)}", field=where)
        kind = builtin_kind(tool)
        if kind is not None and kind not in builtin:
            raise UnsupportedFieldError(f"a built-in tool of type {kind!r} (a type without a function): this format "
                                        "writes none of that type", field=where + ".type")
        function = tool.get("function", tool)
        if not isinstance(function, Mapping):
            raise InvalidMessageError(f"'function' must be a mapping, got {_kind(function)}", field=where + ".function")
        name = function.get("name")
        if kind is None and (not isinstance(name, str) or not name):
            inner = ".function" if "function" in tool else ""
            raise InvalidMessageError(f"a tool needs a 'name' string, got {_kind(name)}", field=f"{where}{inner}.name")
        try:
            tojson(tool)
        except ValueError:
            raise _json_error(tool, where) from None
        out.append(tool)
    return out


def join_tools(tools: Sequence[Any], layout: Sequence[Any]) -> str:
    """The tools block of checked definitions: ``layout`` is ``(prefix, item_prefix, item_suffix,
    separator, suffix, indent)`` (``indent`` ``-1``: each definition on one line), then the name of a
    serialiser of ``serialisers.ITEMS`` where the item is not ``json`` (``json_array``: the whole list as
    one JSON array), the envelope where it is not ``whole`` (``_spec.model.TOOL_ENVELOPES``), and the keys
    of a parameter's schema the serialiser leaves out (``[tools] ignore``) where there are any, then the
    built-in tools' texts (``[tools] builtin``, ``(type, text)`` pairs) where there are any."""
    prefix, item_prefix, item_suffix, separator, suffix, indent = layout[:6]
    builtin = _builtin_texts(tools, layout[9] if len(layout) > 9 else ())
    positions = [position for position in range(len(tools)) if position not in builtin]
    if builtin:
        tools = [tools[position] for position in positions]
    envelope = layout[7] if len(layout) > 7 else "whole"
    if envelope == "function":
        tools = [tool.get("function", tool) for tool in tools]
    elif envelope in ("by_type", "function_only"):
        tools = [_function_of(tool, position, envelope == "function_only") for position, tool in zip(positions, tools)]
    item = layout[6] if len(layout) > 6 else "json"
    if item == "json_array":
        return prefix + tojson(list(tools), None if indent < 0 else indent) + suffix
    if item == "named_json":
        items = [tool.get("function", tool).get("name") + "\n\n" + tojson(tool, None if indent < 0 else indent)
                 for tool in tools]
    elif item != "json":
        from .serialisers import ITEMS

        write = ITEMS[item]
        ignore = layout[8:9] if len(layout) > 8 and layout[8] else ()  # empty before built-in texts: not passed
        items = [write(tool, f"tools[{position}]", tojson, *ignore) for position, tool in zip(positions, tools)]
    else:
        indent = None if indent < 0 else indent
        items = [tojson(tool, indent) for tool in tools]
    texts = [item_prefix + item + item_suffix for item in items]
    if builtin:
        # Each built-in tool's fixed text stands in its place, item texts and all.
        written = iter(texts)
        texts = [builtin[position] if position in builtin else next(written) for position in range(len(builtin)
                                                                                                  + len(texts))]
    return prefix + separator.join(texts) + suffix


def _builtin_texts(tools: Sequence[Any], declared: Sequence[Tuple[str, str]]) -> Dict[int, str]:
    """Position -> text of each built-in tool (``builtin_kind``) among checked definitions: the format's
    fixed text for its type. One of a type the format does not declare, or with a key besides its type
    (which the template would leave out), is refused."""
    texts = dict(declared)
    found: Dict[int, str] = {}
    for position, tool in enumerate(tools):
        kind = builtin_kind(tool)
        if kind is None:
            continue
        if kind not in texts:
            raise UnsupportedFieldError(f"a built-in tool of type {kind!r} (a type without a function): this format "
                                        "writes none of that type", field=f"tools[{position}].type")
        extra = next((key for key in tool if key != "type"), None)
        if extra is not None:
            raise UnsupportedFieldError(f"a built-in tool of type {kind!r} is written as its fixed text alone: the "
                                        "template leaves this key out, so it is refused",
                                        field=f"tools[{position}].{extra}")
        found[position] = texts[kind]
    return found


def _function_of(tool: Mapping, position: int, typed: bool = False) -> Any:
    """The ``function`` object of a definition of type ``function``; one without a type is written whole,
    or refused where the template writes only those ``typed`` so."""
    kind = tool.get("type")
    if kind is None and typed:
        raise UnsupportedFieldError("this format writes tools of type 'function' only (its template leaves out a "
                                    "definition without a type): give 'type': 'function'",
                                    field=f"tools[{position}].type")
    if kind is None:
        return tool
    if kind != "function":
        raise UnsupportedFieldError(f"this format writes tools of type 'function' only, got {kind!r}",
                                    field=f"tools[{position}].type")
    if tool.get("function") is None:
        raise InvalidMessageError("a tool of type 'function' needs its 'function' object",
                                  field=f"tools[{position}].function")
    return tool["function"]


def builtin_types(layout: Sequence[Any]) -> Tuple[str, ...]:
    """The built-in tool types a layout writes (``join_tools``)."""
    return tuple(kind for kind, _ in layout[9]) if len(layout) > 9 else ()


def tools_text(tools: Any, layout: Tuple[str, ...]) -> str:
    """The tools block for the fast path, from the cache when this exact list was written before.

    The key is the list's ``marshal`` bytes, which encode every type, value and key order (``1`` and
    ``True``, ``{"a", "b"}`` and ``{"b", "a"}`` differ), so an edited list is never served stale;
    what marshal cannot encode (an object, a subclass) is simply not cached. Any problem raises
    ``Unhandled``: the reference interpreter reports it.
    """
    if type(tools) is PreparedTools:
        try:
            return tools.text(layout)
        except ConversationError:  # what this format's serialiser refuses: the reference says so
            raise Unhandled from None
    try:
        key: Optional[Tuple[Any, bytes]] = (layout, marshal.dumps(tools))
    except (ValueError, TypeError, RecursionError):
        key = None
    if key is not None:
        found = _CACHE.get(key)
        if found is not None:
            return found
    try:
        text = join_tools(checked_tools(tools, builtin_types(layout)), layout)
    except (ConversationError, ValueError):
        raise Unhandled from None
    if key is not None and len(key[1]) <= _CACHE_KEY_LIMIT:
        if len(_CACHE) >= _CACHE_SIZE:
            _CACHE.clear()
        _CACHE[key] = text
    return text


# -- tool calls ----------------------------------------------------------------------------------

#: How a call's arguments are written, as generated code passes it: ``(mode, parameter, value,
#: separator)``. ``mode`` is ``json``, ``json_or_text``, ``parameters`` or ``text`` (see
#: ``_spec.model.ARGUMENTS``); for ``parameters``, ``parameter`` is the text of one (literals, ``0``
#: for the key, ``1`` for the value), ``value`` the formatter of each value (``VALUE_FORMATS``) and
#: ``separator`` the text between two.
Form = Tuple[str, Tuple[Any, ...], str, str]


def _py_str(value: Any) -> str:
    """Jinja's ``|string``: Python's ``str()`` (``True``, ``None``, ``1.0``, ``{'k': [1, 2]}``), for
    JSON values only: anything else is refused rather than written as its repr."""
    tojson(value)  # a value JSON cannot write is not one a template can be given as data
    return value if isinstance(value, str) else str(value)


def _json_or_str(value: Any) -> str:
    """A mapping or a list (or tuple) through ``tojson``, anything else as ``|string`` writes it."""
    if isinstance(value, (Mapping, list, tuple)):
        return tojson(value)
    return _py_str(value)


#: Formatters of one parameter's value (``[calls] value``); ``json``: every value through ``tojson``
#: (a string quoted).
VALUE_FORMATS = {"json_or_str": _json_or_str, "str": _py_str, "json": tojson}


#: What ``str.splitlines`` splits at besides the newline, that JSON text may hold unescaped.
_LINE_BREAKS = ("\x85", "\u2028", "\u2029")


def _json_block(value: Any, field: str, index: Optional[int], role: Optional[str]) -> str:
    """A mapping as Command R+ writes a call's parameters: ``tojson(indent=4)|indent(8)``, every line
    after the first indented by 8 more spaces. Jinja's ``indent`` splits lines with ``str.splitlines``,
    which also breaks a string value at U+2028 and its kind: such a value is refused, not rewritten."""
    if not isinstance(value, Mapping):
        what = "a JSON string, which the template would encode a second time" if isinstance(value, str) else \
            _kind(value)
        raise UnsupportedFieldError(f"arguments must be a mapping, got {what}", index=index, role=role, field=field)
    try:
        text = tojson(value, 4)
    except ValueError:
        raise _json_error(value, field, index, role) from None
    if any(mark in text for mark in _LINE_BREAKS):
        raise UnsupportedFieldError("a value holds a line separator (U+2028, U+2029 or U+0085), at which the "
                                    "template's |indent breaks the JSON", index=index, role=role, field=field)
    return text.replace("\n", "\n" + " " * 8)


def write_arguments(value: Any, form: Form, field: str, index: Optional[int] = None,
                    role: Optional[str] = None) -> str:
    """A call's arguments as ``form`` writes them, or the precise error (``field`` is their path)."""
    mode = form[0]
    if mode == "parameters":
        if not isinstance(value, Mapping):
            raise UnsupportedFieldError(f"arguments must be a mapping (this format writes each one as a parameter), "
                                        f"got {_kind(value)}", index=index, role=role, field=field)
        out = []
        write = VALUE_FORMATS[form[2]]
        for key, item in value.items():
            if not isinstance(key, str):
                raise UnsupportedFieldError(f"an argument's name must be a string, got {_kind(key)}", index=index,
                                            role=role, field=field)
            try:
                text = write(item)
            except ValueError:
                raise _json_error(item, f"{field}.{key}", index, role) from None
            out.append("".join(key if piece == 0 else text if piece == 1 else piece for piece in form[1]))
        return form[3].join(out)
    if mode == "json_block":
        return _json_block(value, field, index, role)
    if mode == "text" and not isinstance(value, str):
        raise UnsupportedFieldError(
            f"arguments must be a JSON string, got {_kind(value)}: this format's template writes them into the "
            "text as they are, and raises on anything else; pass json.dumps(arguments)",
            index=index, role=role, field=field)
    if isinstance(value, str):
        if mode == "json":
            raise UnsupportedFieldError(
                "arguments given as a JSON string are refused: this format's template writes them with "
                "tojson, which would encode the string a second time; pass a mapping (json.loads it)",
                index=index, role=role, field=field)
        return value
    if mode == "json" and not isinstance(value, Mapping):
        raise UnsupportedFieldError(f"arguments must be a mapping, got {_kind(value)}", index=index, role=role,
                                    field=field)
    try:
        return tojson(value)
    except ValueError:
        raise _json_error(value, field, index, role) from None


def id_text(value: Any, form: str, field: str, index: Optional[int] = None, role: Optional[str] = None,
            present: bool = True) -> str:
    """A call's id or a tool result's ``tool_call_id`` as ``form`` writes it (``_spec.model.ID_FORMS``),
    or the precise error; ``present``: the key is given (a call's ``"id": None`` is JSON's null)."""
    if not present or (value is None and form != "json"):
        raise InvalidMessageError(f"the template needs '{field.rpartition('.')[2]}' (it raises without it)",
                                  index=index, role=role, field=field)
    if form == "json":
        try:
            return tojson(value)
        except ValueError:
            raise _json_error(value, field, index, role) from None
    if not isinstance(value, str):
        raise InvalidMessageError(f"must be a string (the template splices it into its text), got {_kind(value)}",
                                  index=index, role=role, field=field)
    if form == "string9" and len(value) != 9:
        raise RefusedError(f"an id must be a string of 9 characters, as the template requires (it raises "
                           f"otherwise), got {len(value)}", index=index, role=role, rule="call_id", field=field)
    if not _spliced(value):
        raise UnsupportedFieldError("the template writes the id between quotes unescaped: with a quote, a backslash "
                                    "or a control character it is not JSON, so it is refused", index=index,
                                    role=role, field=field)
    return value


def _fast_id(value: Any, form: str) -> str:
    """``id_text`` for the fast path: ``Unhandled`` for anything it would refuse."""
    if form == "json":
        try:
            return tojson(value)
        except ValueError:
            raise Unhandled from None
    if type(value) is not str or (form == "string9" and len(value) != 9) or not _spliced(value):
        raise Unhandled
    return value


def call_id(value: Any, form: str) -> str:
    """A tool result's ``tool_call_id`` (``None``: not given) for the fast path."""
    if value is None:
        raise Unhandled
    return _fast_id(value, form)


#: What call texts need besides the name and the arguments, as generated code passes it
#: (``_spec.model.Calls.extra``): ``(name form, id form or "", whether {function_members} is used)``.
Extra = Tuple[str, str, bool]


def call_texts(calls: Any, form: Form, ignore: Sequence[str], index: Optional[int] = None,
               role: Optional[str] = None, nested: bool = False, typed: bool = False,
               extra: Optional[Extra] = None) -> List[Tuple[str, ...]]:
    """``(name, arguments as written)`` for each call of a message, and its ``type`` when ``typed``
    (the format writes it), then with ``extra`` its id and function members as written; or the
    precise error."""
    if typed:
        ignore = (*ignore, "type")  # written, so not a key left out
    if extra is not None and extra[1]:
        ignore = (*ignore, "id")  # read, not ignored: let it through the checks of keys
    if type(calls) is not list and (isinstance(calls, (str, bytes, Mapping)) or not isinstance(calls, tuple)):
        # Templates disagree on such a value (Llama's raises, Qwen3.5's reads a falsy one as none):
        # a value that is not calls is refused as one the format does not write.
        raise UnsupportedFieldError(f"'tool_calls' must be a list of calls, got {_kind(calls)}", index=index,
                                    role=role, field="tool_calls")
    out: List[Tuple[str, ...]] = []
    for position, call in enumerate(calls):
        if type(call) is not dict and not isinstance(call, Mapping):
            raise InvalidMessageError(f"a call is a mapping, got {_kind(call)}", index=index, role=role,
                                      field=f"tool_calls[{position}]")
        function = call.get("function")
        if function is not None:
            if len(call) > 1:
                _only(call, ("function", *ignore), f"tool_calls[{position}]", index, role)
            if type(function) is not dict and not isinstance(function, Mapping):
                raise InvalidMessageError(f"a call's 'function' is a mapping, got {_kind(function)}", index=index,
                                          role=role, field=f"tool_calls[{position}].function")
            if len(function) > 2:
                _only(function, ("name", "arguments"), f"tool_calls[{position}].function", index, role)
            where = f"tool_calls[{position}].function"
        else:
            function = call
            where = f"tool_calls[{position}]"
            if nested:
                raise InvalidMessageError("this format reads each call's 'function' object ({'type': 'function', "
                                          "'function': {'name': ..., 'arguments': ...}})", index=index, role=role,
                                          field=where + ".function")
            if len(call) > 2:
                _only(call, ("name", "arguments", *ignore), where, index, role)
        name = function.get("name")
        if not isinstance(name, str):
            raise InvalidMessageError(f"a call needs a 'name' string, got {_kind(name)}", index=index, role=role,
                                      field=where + ".name")
        value = function.get("arguments")
        if value is None:
            raise InvalidMessageError("a call needs 'arguments' (a mapping, {} for none)", index=index, role=role,
                                      field=where + ".arguments")
        written = write_arguments(value, form, where + ".arguments", index, role)
        call_text: Tuple[str, ...] = (name, written)
        if typed:
            kind = call.get("type")
            if not isinstance(kind, str):
                # The template writes the type into the text, and raises without one.
                raise InvalidMessageError(f"this format writes each call's 'type' ('function'), got {_kind(kind)}",
                                          index=index, role=role, field=f"tool_calls[{position}].type")
            call_text += (kind,)
        if extra is not None:
            name_form, id_form, members = extra
            ids = id_text(call.get("id"), id_form, f"tool_calls[{position}].id", index, role,
                          "id" in call) if id_form else ""
            call_text = (tojson(name) if name_form == "json" else name,) + call_text[1:] + (
                ids, tojson(function)[1:-1] if members else "")
        out.append(call_text)
    return out


def _only(table: Mapping, allowed: Sequence[str], where: str, index: Optional[int], role: Optional[str]) -> None:
    for key, value in table.items():
        if value is not None and key not in allowed:
            raise UnsupportedFieldError("this field of a call is not written by the format, so it is refused "
                                        "rather than left out", index=index, role=role, field=f"{where}.{key}")


def call_numbers(messages: Any) -> Dict[str, str]:
    """Each call id of the conversation -> the position of the first call with that id among all its
    calls, from 0, as text: how Command R7B's template numbers the call a tool result answers (its
    ``tool_call_id_to_int``). Calls without a text id are counted and not indexed."""
    numbers: Dict[str, str] = {}
    count = 0
    for message in messages if isinstance(messages, (list, tuple)) else ():
        calls = message.get("tool_calls") if isinstance(message, Mapping) else None
        if not isinstance(calls, (list, tuple)):
            continue
        for call in calls:
            found = call.get("id") if isinstance(call, Mapping) else None
            if isinstance(found, str) and found not in numbers:
                numbers[found] = str(count)
            count += 1
    return numbers


def call_messages(messages: Any) -> Dict[str, int]:
    """Each call id of the conversation -> the index of the message holding the first call with that id
    (the call ``call_numbers`` numbers), to tell the calls written after documents that take a number."""
    found: Dict[str, int] = {}
    for index, message in enumerate(messages if isinstance(messages, (list, tuple)) else ()):
        calls = message.get("tool_calls") if isinstance(message, Mapping) else None
        for call in calls if isinstance(calls, (list, tuple)) else ():
            given = call.get("id") if isinstance(call, Mapping) else None
            if isinstance(given, str) and given not in found:
                found[given] = index
    return found


def call_parts(calls: Any, form: Form, ignore: Sequence[str], typed: bool = False,
               extra: Optional[Extra] = None) -> List[Tuple[str, ...]]:
    """``(name, arguments as written)`` for each call of a message, for the fast path, and its
    ``type`` when ``typed``, then with ``extra`` as ``call_texts``. It takes the common shape only (a
    list of OpenAI-style calls whose arguments are a dict, or a string where the format takes one);
    anything else raises ``Unhandled``, and the reference interpreter writes it or reports the
    precise problem."""
    if type(calls) is not list:
        raise Unhandled
    json_form = form[0] in ("json", "json_or_text") and _chunks is not None
    id_form = extra[1] if extra is not None else ""
    out: List[Tuple[str, ...]] = []
    for call in calls:
        function = call.get("function") if type(call) is dict else None
        if type(function) is not dict or len(function) != 2:
            raise Unhandled
        for key in call:
            if key != "function" and key not in ignore and not (typed and key == "type") and not (
                    key == "id" and id_form):
                raise Unhandled
        name = function.get("name")
        args = function.get("arguments")
        if type(name) is not str:
            raise Unhandled
        if type(args) is dict and json_form:
            try:
                args = "".join(_chunks(args, 0))  # type: ignore[misc]
            except (TypeError, ValueError, RecursionError):
                raise Unhandled from None
        elif type(args) is str and form[0] == "text":
            pass  # written as it is
        elif type(args) is dict or (type(args) is str and form[0] == "json_or_text"):
            try:
                args = write_arguments(args, form, "arguments")
            except ConversationError:
                raise Unhandled from None
        else:
            raise Unhandled
        part: Tuple[str, ...] = (name, args)
        if typed:
            kind = call.get("type")
            if type(kind) is not str:
                raise Unhandled
            part += (kind,)
        if extra is not None:
            if id_form and "id" not in call:
                raise Unhandled
            try:
                members = tojson(function)[1:-1] if extra[2] else ""
            except ValueError:
                raise Unhandled from None
            part = (_encode(name) if extra[0] == "json" else name,) + part[1:] + (
                _fast_id(call["id"], id_form) if id_form else "", members)
        out.append(part)
    return out


# -- messages as the templates compare them -------------------------------------------------------

def _plain(value: Any) -> Any:
    """transformers' ``_plain_template_data``: what a template sees of a value."""
    if value is None or type(value) in (str, int, float, bool):
        return value
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int):
        return int.__int__(value)
    if isinstance(value, float):
        return float.__float__(value)
    if isinstance(value, Mapping):
        return {_plain(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, tuple):
        return tuple(_plain(item) for item in value)
    if any(kind.__name__ == "generic" and kind.__module__ == "numpy" for kind in type(value).__mro__):
        return _plain(value.item())
    import dataclasses

    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if callable(getattr(value, "model_dump", None)):
        return _plain(value.model_dump())
    return f"<{type(value).__name__}>"


def template_view(message: Mapping) -> Dict[Any, Any]:
    """A message as transformers gives it to the template: keys whose value is ``None`` left out, the
    values as ``_plain`` makes them, the reasoning aliases filled in (``_alias_reasoning_fields``)."""
    view = {_plain(key): _plain(value) for key, value in message.items() if value is not None}
    reasoning = next((view[k] for k in ("reasoning_content", "thinking", "reasoning") if view.get(k) is not None),
                     None)
    if reasoning is not None:
        view = {"thinking": reasoning, **view, "reasoning_content": reasoning}
    return view


def same_message(message: Mapping, other: Mapping) -> bool:
    """Whether the template sees two messages as equal (the Mistral templates write the tools before
    every user message equal to the last one)."""
    if len(message) == 2 and len(other) == 2:
        return message == other
    try:
        return template_view(message) == template_view(other)
    except RecursionError:
        raise Unhandled from None
