"""Tool definitions built from Python callables, exactly as transformers builds them.

``apply_chat_template(tools=[get_weather])`` first turns each callable into a JSON
tool definition with ``transformers.utils.get_json_schema``, and most templates then
write that definition into the prompt with ``tojson``. For the same callable to give
the same prompt here, promptcraft has to build the same definition: the same keys in
the same order, and descriptions cut out of the docstring by the same (sometimes
surprising) rules, which is why some of the code below keeps odd behaviour on purpose.
Only the standard library is used, imported when a tool is converted; tests/test_schema.py
checks the equivalence against transformers.
"""

from __future__ import annotations

from ..errors import ConversationError

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs milliseconds at import; annotations are strings here
    from typing import Any, Callable, Dict, List, Optional, Tuple

__all__ = ["json_schema"]

# Values that can be written as a JSON scalar, and so may appear in an "enum" (exact types: True is not an int here).
_SCALARS = {int: "integer", float: "number", str: "string", bool: "boolean", type(None): "null"}
_PLAIN = {**_SCALARS, list: "array", tuple: "array", dict: "object"}
# transformers maps these only when Pillow / torch are importable, which they are if a hint names them.
_OPTIONAL_CLASSES = {("PIL.Image", "Image"): "image", ("torch", "Tensor"): "audio"}


class _NoSchema(Exception):
    """A type hint has no JSON schema; the caller knows which argument it belongs to."""


def _enum(values: List[Any], what: str) -> Dict[str, Any]:
    if any(type(value) not in _SCALARS for value in values):
        raise _NoSchema(f"{what} has values that are not JSON scalars (int, float, str, bool or None): {values!r}")
    names = list(dict.fromkeys(_SCALARS[type(value)] for value in values))
    return {"type": names[0] if len(names) == 1 else names, "enum": values}


def _schema(hint: Any) -> Dict[str, Any]:
    """The JSON schema of one type hint; a new dict each time, since the caller adds keys to it."""
    import enum
    import types
    import typing

    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is None:
        if hint is typing.Any:
            return {}
        if isinstance(hint, type):
            if issubclass(hint, enum.Enum):
                values = [member.value for member in hint]  # the values, since those are what the model writes
                if not values:
                    raise _NoSchema(f"the Enum {hint.__name__} has no members, so no value could match it")
                return _enum(values, f"the Enum {hint.__name__}")
            name = _PLAIN.get(hint) or _OPTIONAL_CLASSES.get((hint.__module__, hint.__qualname__))
            if name:
                return {"type": name}
        raise _NoSchema(f"its type hint {_show(hint)} has no JSON schema (a custom class?); supported are int, float, "
                        "str, bool, None, Any, Enum classes, Literal, and list, tuple, dict and Union of those")
    if origin is typing.Union or origin is getattr(types, "UnionType", None):
        parts = [_schema(arg) for arg in args if arg is not type(None)]
        if len(parts) == 1:
            union = parts[0]
        elif all(list(part) == ["type"] and isinstance(part["type"], str) for part in parts):
            # Plain types merge into one "type" list; anything carrying more (items, enum...) needs anyOf to keep it.
            names = sorted({part["type"] for part in parts})
            union = {"type": names[0] if len(names) == 1 else names}
        else:
            union = {"anyOf": parts}
        if type(None) in args:
            union["nullable"] = True
        return union
    if origin is typing.Literal and args:
        return _enum(list(args), f"the type hint {_show(hint)}")
    if origin is list:
        return {"type": "array", "items": _schema(args[0])} if args else {"type": "array"}
    if origin is tuple:
        if len(args) == 1:
            raise _NoSchema(f"its type hint {_show(hint)} is a tuple of one element; use the element or a list")
        if ... in args:
            raise _NoSchema(f"its type hint {_show(hint)} is a tuple of any length, which needs a list instead")
        return {"type": "array", "prefixItems": [_schema(arg) for arg in args]} if args else {"type": "array"}
    if origin is dict:
        # JSON object keys are always strings, so only the value type can be described.
        return {"type": "object", "additionalProperties": _schema(args[1])} if len(args) == 2 else {"type": "object"}
    raise _NoSchema(f"its type hint {_show(hint)} has no JSON schema")


def _show(hint: Any) -> str:
    return hint.__qualname__ if isinstance(hint, type) else repr(hint).replace("typing.", "")


def _first(text: str, words: Tuple[str, ...]) -> int:
    """Where the first of ``words`` starts in ``text``, even inside a word, as transformers' section regexes cut."""
    return min([at for at in map(text.find, words) if at >= 0], default=len(text))


def _sections(doc: str) -> Tuple[str, Optional[str], Optional[str]]:
    """The description, the raw ``Args:`` block and the ``Returns:`` text of a Google-style docstring."""
    import re

    def section(title: str, ends: Tuple[str, ...]) -> Optional[str]:
        # A section title must start a line and end it, with nothing after the colon.
        header = re.search(r"\n\s*" + title + r"\n", doc)
        if header is None:
            return None
        rest = doc[header.end():]
        return rest[:_first(rest, ends)]

    returns = section("Returns:", ("Raises:",))
    return (doc[:_first(doc, ("Args:", "Returns:", "Raises:"))].strip(), section("Args:", ("Returns:", "Raises:")),
            None if returns is None else returns.strip())


def _argument_docs(block: str) -> Dict[str, str]:
    """Each argument's description in an ``Args:`` block, its lines joined by single spaces.

    An argument starts at a ``name:`` or ``name (type):`` line and runs until the next such line
    that is not indented deeper than its own; lines before the first one are ignored.
    """
    import re

    header = re.compile(r"([ \t]*)(\w+)(?:[ \t]*\([^()\n]*\))?:")
    lines = [line for line in block.split("\n") if line.strip()]
    starts = [header.match(line) for line in lines]
    docs: Dict[str, str] = {}
    at = next((n for n, start in enumerate(starts) if start), len(lines))
    while at < len(lines):
        start = starts[at]
        assert start is not None
        indent = start.group(1)
        pieces = [lines[at][start.end():]]
        at += 1
        if not pieces[0].strip() and at < len(lines):
            # transformers skips the whitespace after the colon across the line break, so the next line is this
            # argument's text even when it looks like another argument.
            pieces = [lines[at]]
            at += 1
        while at < len(lines):
            line, next_start = lines[at], starts[at]
            if next_start and not (line.startswith(indent) and line[len(indent):len(indent) + 1] in (" ", "\t")):
                break
            pieces.append(line)
            at += 1
        docs[start.group(2)] = " ".join(piece.strip() for piece in pieces)
    return docs


def json_schema(function: Callable[..., Any], *, position: int = 0) -> Dict[str, Any]:
    """The tool definition ``transformers.utils.get_json_schema(function)`` gives, built without transformers.

    ``function`` needs a Google-style docstring describing it and each argument, and a type hint on each
    argument (an unannotated leading ``self`` or ``cls`` is skipped). A ConversationError names the tool
    as ``tools[position]``.
    """
    import inspect
    import json
    import re
    import typing

    name = getattr(function, "__name__", "operation")

    def refuse(reason: str) -> ConversationError:
        return ConversationError(reason, field=f"tools[{position}]")

    doc = inspect.getdoc(function)
    if not doc:
        raise refuse(f"function {name!r} has no docstring: a tool given as a callable needs a Google-style "
                     "docstring describing it and each argument")
    description, args_block, returns_doc = _sections(doc.strip())
    arg_docs = _argument_docs(args_block) if args_block is not None else {}
    try:
        hints = typing.get_type_hints(function)
        parameters = list(inspect.signature(function).parameters.values())
    except (NameError, TypeError, ValueError) as error:
        raise refuse(f"the type hints of function {name!r} cannot be read: {error}") from error

    receiver = None
    if parameters and parameters[0].name in ("self", "cls") and parameters[0].annotation is inspect.Parameter.empty:
        receiver = parameters[0].name
    required = []
    for parameter in parameters:
        if parameter.name == receiver:
            continue
        if parameter.annotation is inspect.Parameter.empty:
            raise refuse(f"argument {parameter.name!r} of function {name!r} has no type hint: a tool given as a "
                         "callable needs one on each argument")
        if parameter.default is inspect.Parameter.empty:
            required.append(parameter.name)

    properties: Dict[str, Any] = {}
    returned = None
    for arg, hint in hints.items():
        if arg == receiver:
            continue
        try:
            if arg == "return":
                returned = _schema(hint)
            else:
                properties[arg] = _schema(hint)
        except _NoSchema as error:
            # The model never writes the return value, so transformers leaves out a return hint it cannot convert.
            if arg != "return":
                raise refuse(f"argument {arg!r} of function {name!r}: {error}") from None

    for arg, schema in properties.items():
        if arg not in arg_docs:
            raise refuse(f"argument {arg!r} of function {name!r} is not described in the docstring: a tool given as "
                         "a callable needs an 'Args:' section with a 'name: description' line for each argument")
        text = arg_docs[arg]
        choices = re.search(r"\(choices:\s*(.*)\)\s*$", text, flags=re.IGNORECASE)
        if choices:
            try:
                values = json.loads(choices.group(1))
            except ValueError:
                values = None
            if not isinstance(values, list):
                raise refuse(f"argument {arg!r} of function {name!r}: '(choices: ...)' must end the description "
                             f"with a JSON list, not {choices.group(1)!r}")
            schema["enum"] = [value.strip() if isinstance(value, str) else value for value in values]
            text = text[:choices.start()].strip()
        schema["description"] = text

    parameters_schema: Dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        parameters_schema["required"] = required
    tool = {"name": name, "description": description, "parameters": parameters_schema}
    if returned is not None:
        if returns_doc is not None:
            returned["description"] = returns_doc
        tool["return"] = returned
    return {"type": "function", "function": tool}
