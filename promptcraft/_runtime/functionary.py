"""Tool definitions as Functionary v3.2's template writes them: a TypeScript namespace entry of its
own style (``// description``, ``type name = (_: {`` then one line per parameter, indented by four
spaces per level of nesting, with ``//`` comments built from the schema's description, default,
format and bounds, and ``// Example`` lines).

A port of the template's ``generate_schema_from_functions`` macro and the ones it calls, Jinja's
reading included: a parameter without ``type`` or ``oneOf`` gets no type at all (``name: ,``), an
enum's separator is left out before any value equal to the last one, ``oneOf`` types are made unique
ignoring case, examples have their single quotes turned into double quotes. What the template would
write as Python's text of a value (``True``, ``None``, a dict), leave out without a word (a parameter
that is not a mapping, a ``code_interpreter`` tool's extra turn) or test as text (``required`` given
as a string), or where it raises, is refused with the path of the value. One of
``serialisers.ITEMS`` (``[tools] item = "functionary"``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Callable, List, Optional, Sequence

from ..errors import UnsupportedFieldError

NONE = "<|NONE|>"
_BOUNDS = (("maximum", "Maximum"), ("minimum", "Minimum"), ("maxLength", "Maximum length"),
           ("minLength", "Minimum length"))


def _refuse(field: str, reason: str) -> UnsupportedFieldError:
    return UnsupportedFieldError(f"{reason}: this format's template cannot write it", field=field)


def _text(value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise _refuse(field, f"is a {type(value).__name__}, where the template joins a string")
    return value


def _word(value: Any, field: str) -> str:
    """A value the template writes with ``~`` or ``{{ }}``: its ``str()``, taken for text and numbers only."""
    if type(value) is bool or not isinstance(value, (str, int, float)):
        raise _refuse(field, "is not a string or a number (the template would write Python's text of it)")
    return str(value)


def _mapping(value: Any, field: str) -> Mapping:
    if not isinstance(value, Mapping):
        raise _refuse(field, "is not a mapping (the template leaves it out, or raises)")
    return value


def _required(schema: Mapping, field: str) -> Sequence[Any]:
    """``schema.get("required", [])``, which the template tests names against with ``in``."""
    required = schema.get("required", [])
    if not isinstance(required, (list, tuple)):
        raise _refuse(field + ".required", "must be a list of names (a string would be tested as text)")
    return required


def param_type(param: Mapping, field: str) -> str:
    """``get_param_type``: the type, a list of types joined by `` | ``, or the ``oneOf`` types."""
    if "type" in param:
        raw = param["type"]
        if isinstance(raw, (list, tuple)):
            kind = " | ".join(_text(item, f"{field}.type[{k}]") for k, item in enumerate(raw))
        else:
            kind = _text(raw, field + ".type")
        return "number" if kind in ("integer", "float") else kind
    if "oneOf" in param:
        variants = param["oneOf"]
        if not isinstance(variants, (list, tuple)):
            raise _refuse(field + ".oneOf", "must be a list of schemas")
        kinds: List[str] = []
        seen = set()
        for position, variant in enumerate(variants):
            if isinstance(variant, Mapping) and "type" in variant:
                kind = _text(variant["type"], f"{field}.oneOf[{position}].type")
                if kind.lower() not in seen:  # Jinja's unique filter ignores case
                    seen.add(kind.lower())
                    kinds.append(kind)
        kind = " | ".join(kinds)
        return "number" if kind in ("integer", "float") else kind
    return ""


def _format(param: Mapping, field: str) -> str:
    """``get_format_param``."""
    if "format" in param:
        return _word(param["format"], field + ".format")
    if "oneOf" not in param:
        return NONE
    variants = param["oneOf"]
    if not isinstance(variants, (list, tuple)) or not all(isinstance(v, Mapping) for v in variants):
        raise _refuse(field + ".oneOf", "must be a list of schemas")
    last = variants[-1].get("format") if variants else None
    out = []
    for position, variant in enumerate(variants):
        if "format" in variant:
            value = _text(variant["format"], f"{field}.oneOf[{position}].format")
            out.append(value if last is not None and value == last else value + " or ")
    return "".join(out)


def _info(param: Mapping, field: str) -> str:
    """``get_param_info``: the comment before a parameter, or ``NONE``."""
    written_format = _format(param, field)
    if not ("description" in param or "default" in param or written_format != NONE
            or any(param.get(name) for name, _ in _BOUNDS)):
        return NONE
    out = "//"
    if "description" in param:
        description = _text(param["description"], field + ".description")
        out += " " + (description if description.endswith(".") else description + ".")
    if "default" in param:
        default = _word(param["default"], field + ".default")
        if param.get("type", "any") == "string":
            default = '"' + default + '"'
        out += " Default=" + default + "."
    if written_format != NONE:
        out += " Format=" + written_format
    for name, label in _BOUNDS:
        if name in param:
            out += " " + label + "=" + _word(param[name], f"{field}.{name}")
    return out


def _enum(values: Any, field: str) -> str:
    """``get_enum_option_str``."""
    if not isinstance(values, (list, tuple)):
        raise _refuse(field, "must be a list")
    out = []
    for position, value in enumerate(values):
        out.append('"' + value + '"' if isinstance(value, str) else _word(value, f"{field}[{position}]"))
        if value != values[-1]:
            out.append(" | ")
    return "".join(out)


def _examples(param: Mapping, name: str, field: str) -> List[str]:
    if "examples" not in param:
        return []
    examples = param["examples"]
    if not isinstance(examples, list):
        raise _refuse(field + ".examples", "must be a list")
    return ["Example " + name + ":"] + [_word(e, f"{field}.examples[{k}]") for k, e in enumerate(examples)]


def _comment_lines(comment: str, examples: List[str], offset: str) -> str:
    out = "\n" + offset + comment if comment != NONE else ""
    return out + "".join("\n" + offset + "// " + example.replace("'", '"') for example in examples)


def _declared(declaration: str, comment: str, examples: List[str], depth: int) -> str:
    """``append_new_param_info``: examples are written only after a comment."""
    offset = "    " * depth
    head = _comment_lines(comment, examples, offset) if comment != NONE else ""
    return head + "\n" + offset + declaration


def _array(name: Optional[str], schema: Mapping, depth: int, field: str) -> str:
    """``get_array_typescript``."""
    offset = "    " * depth
    items = _mapping(schema.get("items", {}), field + ".items")
    if len(items) == 0:
        return "\n" + offset + name + ": []" if name else "\n" + offset + "[]"
    kind = param_type(items, field + ".items")
    if kind == "object":
        inner = _parameters(_mapping(items.get("properties", {}), field + ".items.properties"),
                            _required(items, field + ".items"), depth + 1, field + ".items")
        return ("\n" + offset + name + ": {" if name else "\n" + offset + "{") + inner + "\n" + offset + "}[]"
    if kind == "array":
        inner = _array(None, items, depth + 1, field + ".items")
        return "\n" + inner + "[]" if not name else "\n" + offset + name + ": " + inner.strip() + "[]"
    if "enum" in items:
        values = _enum(items["enum"], field + ".items.enum")
        return "(" + values + ")[]" if name is None else "\n" + offset + name + ": (" + values + ")[]"
    return "\n" + kind + "[]" if name is None else "\n" + offset + name + ": " + kind + "[],"


def _parameters(properties: Mapping, required: Sequence[Any], depth: int, field: str) -> str:
    """``get_parameter_typescript``."""
    offset = "    " * depth
    out = []
    for name, param in properties.items():
        where = f"{field}.properties.{name}"
        if not isinstance(name, str):
            raise _refuse(where, "has a name that is not a string")
        param = _mapping(param, where)
        comment = _info(param, where)
        examples = _examples(param, name, where)
        declaration = name if name in required else name + "?"
        kind = param_type(param, where)
        if kind == "object":
            inner = _parameters(_mapping(param.get("properties", {}), where + ".properties"),
                                _required(param, where), depth + 1, where)
            out.append(_comment_lines(comment, examples, offset) + "\n" + offset + declaration + ": {" + inner
                       + "\n" + offset + "},")
        elif kind == "array":
            items = _mapping(param.get("items", {}), where + ".items")
            if "type" not in items:
                out.append(_declared(declaration + ": [],", comment, examples, depth))
            else:
                written = _array(declaration, param, depth, where)
                out.append(_comment_lines(comment, examples, offset) + (written if written.endswith(",")
                                                                          else written + ","))
        else:
            if not kind and "enum" not in param:
                raise _refuse(where, "has no type (nor oneOf nor enum): the template would write none")
            if "enum" in param:
                kind = _enum(param["enum"], where + ".enum")
            if "nullable" in param and param["nullable"]:
                kind += " | null"
            out.append(_declared(declaration + ": " + kind + ",", comment, examples, depth))
    return "".join(out)


def definition(tool: Any, field: str, tojson: Callable[[Any], str]) -> str:
    """One tool's entry of ``generate_schema_from_functions``."""
    if isinstance(tool, Mapping) and tool.get("type") == "code_interpreter":
        raise _refuse(field + ".type", "a code_interpreter tool adds a turn of its own, which this format does "
                                       "not write")
    function = tool.get("function") or tool
    where = field + ".function" if tool.get("function") else field
    function = _mapping(function, where)
    out = "// " + _text(function.get("description", ""), where + ".description") + "\n" + \
        "type " + _text(function.get("name"), where + ".name")
    parameters = function.get("parameters", {})
    if parameters and not isinstance(parameters, Mapping):
        raise _refuse(where + ".parameters", "is not a schema (a mapping)")
    properties = parameters.get("properties") if parameters else None
    if not properties:
        return out + " = () => any;\n\n"
    properties = _mapping(properties, where + ".parameters.properties")
    return out + " = (_: {" + _parameters(properties, _required(parameters, where + ".parameters"), 0,
                                          where + ".parameters") + "\n}) => any;\n\n"
