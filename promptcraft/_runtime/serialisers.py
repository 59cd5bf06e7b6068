"""Named tool-definition serialisers: how some templates rewrite a definition instead of writing it
with ``tojson``. A format names one in ``[tools] item``; each reproduces its template byte for byte
over the definitions it can write, and refuses (``UnsupportedFieldError`` naming the field) where the
template would raise, loop forever or write junk.

Definitions reach here checked by ``tools.checked_tools`` (mappings with a name, JSON values only).
"""

from __future__ import annotations

from collections.abc import Mapping
from json.encoder import encode_basestring
from typing import Any, Callable, Dict, List

from ..errors import UnsupportedFieldError
from .definitions import pydantic_signature, python_docstring, xml_schema
from .functionary import definition as functionary
from .typescript import definition as typescript

_MISSING = object()

#: Hermes' ``json_to_python_type`` macro: JSON schema types as Python type names.
_BASIC = {"string": "str", "number": "float", "integer": "int", "boolean": "bool"}


def _kind(value: Any) -> str:
    return "None" if value is None else type(value).__name__


def _refuse(reason: str, field: str) -> UnsupportedFieldError:
    return UnsupportedFieldError(reason, field=field)


def _python_type(schema: Any, field: str) -> str:
    """The type Hermes' ``json_to_python_type`` macro writes for ``schema``.

    The macro's quirks are kept because the model was trained on them: an array is always
    ``list[Union[]]`` (it hands the schema's own ``|items`` to itself, whose type is then undefined), a
    schema without a type (or not a mapping) is ``Union[]``, a list of types is joined with ``,`` and no
    space, and a type that is not text (a number, null) is ``Any``. An unknown type name makes the macro
    call itself on each of its letters without end, so it is refused.
    """
    kind = schema.get("type", _MISSING) if isinstance(schema, Mapping) else _MISSING
    if type(kind) is str and kind in _BASIC:
        return _BASIC[kind]
    if kind == "array":
        return "list[Union[]]"
    if kind == "object":
        assert isinstance(schema, Mapping)
        if "additionalProperties" in schema:
            return "dict[str, " + _python_type(schema["additionalProperties"], field + ".additionalProperties") + "]"
        return "dict"
    if kind is _MISSING or kind == "":
        return "Union[]"
    if isinstance(kind, str):
        raise _refuse(f"type {kind!r} is not one the template knows (string, number, integer, boolean, array, "
                      "object): its type macro would call itself without end", field + ".type")
    if isinstance(kind, (list, tuple, Mapping)):
        return "Union[" + ",".join(_python_type({"type": item}, field) for item in kind) + "]"
    return "Any"


def _text(value: Any, field: str, what: str) -> str:
    if not isinstance(value, str):
        raise _refuse(f"{what} must be a string, got {_kind(value)} (the template would write its Python repr "
                      "or raise)", field)
    return value


def hermes(tool: Mapping, field: str, tojson: Callable[[Any], str]) -> str:
    """One definition as Hermes 2 Pro / Hermes 3's ``tool_use`` template writes it.

    ``{"type": "function", "function": {"name": "NAME", "description": "DOC", "parameters": SCHEMA}``:
    the envelope is rebuilt by hand (its outer brace is never closed), the name and the docstring are
    spliced between quotes unescaped, and the parameters are ``tojson`` (``{}`` when there are none).
    DOC is ``NAME(a: str, b: int) -> R - DESCRIPTION\\n\\n    Args:\\n        a(str): ...`` with each
    argument line written straight after the previous one (no newline: the template's bug), each
    argument's description trimmed, then ``\\n    Returns:\\n        ...`` when the return schema has a
    description. ``tojson`` is transformers' (``tools.tojson``).
    """
    if "function" in tool:
        tool, field = tool["function"], field + ".function"
    name = tool["name"]
    if "description" not in tool:
        raise _refuse("the template reads the tool's 'description' unguarded: give one", field + ".description")
    description = _text(tool["description"], field + ".description", "the description")
    if "parameters" not in tool:
        raise _refuse("the template reads the tool's 'parameters' unguarded: give a schema "
                      "({'type': 'object', 'properties': {}} for none)", field + ".parameters")
    parameters = tool["parameters"]
    if not isinstance(parameters, Mapping):
        raise _refuse(f"'parameters' must be a mapping, got {_kind(parameters)} (the template would write {{}})",
                      field + ".parameters")
    properties = parameters.get("properties", {})
    if not isinstance(properties, Mapping):
        raise _refuse(f"'properties' must be a mapping, got {_kind(properties)}", field + ".parameters.properties")
    signature, arguments = [], []
    for key, schema in properties.items():
        where = f"{field}.parameters.properties.{key}"
        if not isinstance(key, str):
            raise _refuse(f"a parameter's name must be a string, got {_kind(key)}", field + ".parameters.properties")
        if not isinstance(schema, Mapping):
            raise _refuse(f"a parameter's schema must be a mapping, got {_kind(schema)}", where)
        kind = _python_type(schema, where)
        signature.append(f"{key}: {kind}")
        doc = _text(schema["description"], where + ".description", "a parameter's description").strip() \
            if "description" in schema else ""
        arguments.append(f"        {key}({kind}): {doc}")
    doc = f"{name}({', '.join(signature)})"
    returns = tool["return"] if "return" in tool else _MISSING
    if returns is not _MISSING:
        doc += " -> " + _python_type(returns, field + ".return")
    doc += " - " + description + "\n\n"
    if arguments:
        doc += "    Args:\n" + "".join(arguments)
    if isinstance(returns, Mapping) and "description" in returns:
        doc += "\n    Returns:\n        " + _text(returns["description"], field + ".return.description",
                                                  "the return description")
    schema_text = tojson(parameters) if properties else "{}"
    return ('{"type": "function", "function": {"name": "' + name + '", "description": "' + doc
            + '", "parameters": ' + schema_text + "}")


def python_repr(value: Any) -> str:
    """``value`` as Jinja's ``|string`` writes it in transformers: Python's ``repr`` of the plain data
    transformers makes of it first (``_plain_template_data``: a mapping becomes a ``dict``, a subclass of
    ``str``, ``int`` or ``float`` its base type), so ``{'type': 'function', 'k': [1, 2.5, True, None]}``.
    Only JSON-like values (what ``tojson`` takes) are written; anything else raises ``ValueError``
    (checked definitions never do)."""
    out: List[str] = []
    # Iterative, as json_problem is: a deep value must not exhaust the stack.
    stack: List[Any] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if type(item) is str and depth < 0:  # punctuation pushed below
            out.append(item)
            continue
        if depth > MAX_DEPTH:
            raise ValueError("too deep")
        if item is None or item is True or item is False:
            out.append(repr(item))
        elif isinstance(item, str):
            out.append(str.__repr__(item))
        elif isinstance(item, int):
            out.append(int.__repr__(int.__int__(item)))
        elif isinstance(item, float):
            out.append(float.__repr__(float.__float__(item)))
        elif isinstance(item, Mapping):
            pending: List[Any] = [("{", -1)]
            for position, (key, inner) in enumerate(item.items()):
                pending += [(", ", -1)] if position else []
                pending += [(key, depth + 1), (": ", -1), (inner, depth + 1)]
            stack += reversed(pending + [("}", -1)])
        elif isinstance(item, (list, tuple)):
            opening, closing = ("[", "]") if isinstance(item, list) else ("(", ",)" if len(item) == 1 else ")")
            pending = [(opening, -1)]
            for position, inner in enumerate(item):
                pending += [(", ", -1)] if position else []
                pending.append((inner, depth + 1))
            stack += reversed(pending + [(closing, -1)])
        else:
            raise ValueError(f"a {_kind(item)} is not written as plain data")
    return "".join(out)


#: Deeper values are refused, as ``tools.MAX_DEPTH`` refuses them (checked definitions are never deeper).
MAX_DEPTH = 200


def python_item(tool: Mapping, field: str, tojson: Callable[[Any], str]) -> str:
    """SmolLM3's ``tool | string``: the whole definition as ``python_repr`` writes it."""
    try:
        return python_repr(tool)
    except ValueError as error:
        raise _refuse(f"{error}: it cannot be written as Python writes plain data", field) from None


def command_r7b(tool: Mapping, field: str, tojson: Callable[[Any], str]) -> str:
    """One definition as Command R7B's ``tool_use`` template writes it:
    ``{"name": "NAME", "description": "DESCRIPTION", "parameters": SCHEMA, "responses": null}``, the name
    and the description spliced between quotes unescaped (a missing description is empty), the
    parameters through ``tojson``. The template reads ``tool['function']``: a definition without that
    envelope, or without parameters, makes it raise, so it is refused."""
    if "function" not in tool:
        raise _refuse("the template reads the definition's 'function' object: give "
                      "{'type': 'function', 'function': {...}}", field + ".function")
    tool, field = tool["function"], field + ".function"
    if "parameters" not in tool:
        raise _refuse("the template writes the tool's 'parameters' through tojson unguarded: give a schema "
                      "({'type': 'object', 'properties': {}} for none)", field + ".parameters")
    description = _text(tool["description"], field + ".description", "the description") \
        if "description" in tool else ""
    return ('{"name": "' + tool["name"] + '", "description": "' + description + '", "parameters": '
            + tojson(tool["parameters"]) + ', "responses": null}')


#: Command R+'s ``json_to_python_type`` macro: as Hermes' but with ``List`` and ``Dict``.
def _signature_type(schema: Any, field: str) -> str:
    """The type Command R+'s type macro writes: ``List[Union[]]`` for any array (it hands the schema's
    ``items`` *method* to itself, whose type is then undefined), ``Dict[str, T]`` for an object with
    ``additionalProperties`` (without them the macro reads an attribute of undefined and raises, so it
    is refused), ``Union[...]`` joined with ``,`` for a list of types, ``Union[]`` without a type,
    ``Any`` for a type that is not text; an unknown type name makes it call itself without end."""
    kind = schema.get("type", _MISSING) if isinstance(schema, Mapping) else _MISSING
    if type(kind) is str and kind in _BASIC:
        return _BASIC[kind]
    if kind == "array":
        return "List[Union[]]"
    if kind == "object":
        assert isinstance(schema, Mapping)
        if "additionalProperties" not in schema:
            raise _refuse("an object type without additionalProperties makes the template's type macro raise",
                          field + ".additionalProperties")
        return "Dict[str, " + _signature_type(schema["additionalProperties"], field + ".additionalProperties") + "]"
    if kind is _MISSING or kind == "":
        return "Union[]"
    if isinstance(kind, str):
        raise _refuse(f"type {kind!r} is not one the template knows (string, number, integer, boolean, array, "
                      "object): its type macro would call itself without end", field + ".type")
    if isinstance(kind, (list, tuple, Mapping)):
        return "Union[" + ",".join(_signature_type({"type": item}, field) for item in kind) + "]"
    return "Any"


def python_signature(tool: Mapping, field: str, tojson: Callable[[Any], str]) -> str:
    """One definition as Command R+'s ``tool_use`` template writes it: a Python stub in a fence,
    ```` ```python\ndef NAME(a: str, b: Optional[int] = None) -> List[Dict]:\n    \"\"\"DESCRIPTION\n\n
    Args:\n        a (str): ...\n        b (Optional[int]): ...\n    \"\"\"\n    pass\n``` ````, parameters
    not listed in ``required`` optional, types by its type macro (``_signature_type``), a missing
    description empty. Refused: old-style ``parameter_definitions`` (the template then writes every
    tool another way), no ``parameters``, a ``required`` that is not a list, a parameter without a
    description (the template raises)."""
    if "function" in tool:
        tool, field = tool["function"], field + ".function"
    if "parameter_definitions" in tool:
        raise _refuse("old-style parameter_definitions switch the template to another layout for every tool, "
                      "which this format does not declare", field + ".parameter_definitions")
    if "parameters" not in tool:
        raise _refuse("the template reads the tool's 'parameters' unguarded: give a schema "
                      "({'type': 'object', 'properties': {}} for none)", field + ".parameters")
    parameters = tool["parameters"]
    if not isinstance(parameters, Mapping):
        raise _refuse(f"'parameters' must be a mapping, got {_kind(parameters)}", field + ".parameters")
    properties = parameters.get("properties", {})
    if not isinstance(properties, Mapping):
        raise _refuse(f"'properties' must be a mapping, got {_kind(properties)}", field + ".parameters.properties")
    required = parameters.get("required", [])
    if not isinstance(required, (list, tuple)):
        raise _refuse(f"'required' must be a list, got {_kind(required)} (the template tests membership with "
                      "'in', a substring test on text)", field + ".parameters.required")
    description = _text(tool["description"], field + ".description", "the description") \
        if "description" in tool else ""
    signature, arguments = [], []
    for key, schema in properties.items():
        where = f"{field}.parameters.properties.{key}"
        if not isinstance(key, str):
            raise _refuse(f"a parameter's name must be a string, got {_kind(key)}", field + ".parameters.properties")
        if not isinstance(schema, Mapping):
            raise _refuse(f"a parameter's schema must be a mapping, got {_kind(schema)}", where)
        kind = _signature_type(schema, where)
        if "description" not in schema:
            raise _refuse("the template reads each parameter's description unguarded: give one", where + ".description")
        text = _text(schema["description"], where + ".description", "a parameter's description")
        if key in required:
            signature.append(f"{key}: {kind}")
            arguments.append(f"{key} ({kind}): {text}")
        else:
            signature.append(f"{key}: Optional[{kind}] = None")
            arguments.append(f"{key} (Optional[{kind}]): {text}")
    out = "```python\ndef " + tool["name"] + "(" + ", ".join(signature) + ") -> List[Dict]:\n    \"\"\"" + description
    if arguments:
        out += "\n\n    Args:\n        " + "\n        ".join(arguments)
    return out + "\n    \"\"\"\n    pass\n```"


def spliced(text: Any) -> bool:
    """Whether ``'"' + text + '"'`` is what JSON writes for the string ``text`` (nothing in it is escaped)."""
    return isinstance(text, str) and encode_basestring(text) == '"' + text + '"'


def json_spliced(tool: Mapping, field: str, tojson: Callable[[Any], str]) -> str:
    """One definition as the Mistral v0.3 and Nemo templates rebuild it: ``{"type": "function",
    "function": ...}`` around the ``function`` object, its ``return`` key left out, its string values
    spliced between quotes unescaped and the rest through ``tojson``. That equals ``tojson`` of the
    same object where no string needs escaping; where one does, the template writes invalid JSON, so it
    is refused, as is any key of the definition that the template leaves out."""
    function = tool.get("function")
    if function is None:
        raise _refuse("the template reads each tool's 'function' object ({'type': 'function', 'function': "
                      "{'name': ...}})", field + ".function")
    for key, value in tool.items():
        if key == "type" and value not in ("function", None):
            raise _refuse(f"the template writes every tool as type 'function', got {value!r}", field + ".type")
        if key not in ("type", "function") and value is not None:
            raise _refuse("the template writes a tool's 'function' object only: this key would be left out, so it "
                          "is refused", f"{field}.{key}")
    written = {}
    for key, value in function.items():
        if key == "return":
            continue  # the templates leave it out (transformers' get_json_schema adds it for documented returns)
        if not spliced(key):
            raise _refuse(f"the template writes the key {key!r} between quotes unescaped, which is not JSON: it is "
                          "refused", field + ".function")
        if isinstance(value, str) and not spliced(value):
            raise _refuse("the template writes a string value between quotes unescaped: with a quote, a backslash "
                          "or a control character it is not JSON, so it is refused", f"{field}.function.{key}")
        written[key] = value
    return '{"type": "function", "function": ' + tojson(written) + "}"


#: The serialisers ``[tools] item`` may name, besides ``json`` (``tools.tojson``): each takes a checked
#: definition, its path (``tools[0]``) and ``tools.tojson``.
ITEMS: Dict[str, Callable[..., str]] = {
    "hermes": hermes, "python_repr": python_item, "command_r7b": command_r7b, "typescript": typescript,
    "python_signature": python_signature, "functionary": functionary, "json_spliced": json_spliced,
    # Those of definitions.py also take the schema keys their template leaves out ([tools] ignore).
    "xml_schema": xml_schema, "python_docstring": python_docstring, "pydantic_signature": pydantic_signature}
