"""Tool definitions as a TypeScript namespace entry, as gpt-oss's (Harmony) template writes them.

A port of the template's ``render_tool_namespace`` and ``render_typescript_type`` macros, Jinja's
reading included: a missing key is falsy, ``a not in (required or [])`` is a list test, the nested
object's ``\\n`` plus 16 spaces and a ``oneOf`` variant's 20 spaces before ``// default:`` are the
template's own whitespace, and its ``has_object_variants`` flag never leaves the loop that sets it
(Jinja scoping), so every ``oneOf`` is written variant by variant. What the template would write as
Python's text of a value (``True``, ``None``, a dict), as a schema it silently ignores, or where it
raises, is refused with the path of the value. One of ``serialisers.ITEMS``
(``[tools] item = "typescript"``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Callable, List, Sequence

from ..errors import UnsupportedFieldError

#: What the template writes between ``name: `` and a nested property's type (its literal whitespace).
NESTED = ": \n                "
#: Before a ``oneOf`` variant's ``// default:`` comment.
VARIANT_DEFAULT = " " * 20 + "// default: "


def _refuse(field: str, reason: str) -> UnsupportedFieldError:
    return UnsupportedFieldError(f"{reason}: this format's template cannot write it as TypeScript", field=field)


def _text(value: Any, field: str) -> str:
    """A description or default the template concatenates to a string (anything else raises there)."""
    if not isinstance(value, str):
        raise _refuse(field, f"is a {type(value).__name__}, where the template joins a string")
    return value


def _words(values: Any, field: str) -> List[str]:
    """Values the template writes with ``|join``: their ``str()``, which is their text only for
    strings and numbers (``True``, ``None`` or a dict would be written as Python writes them)."""
    if not isinstance(values, (list, tuple)):
        raise _refuse(field, "must be a list")
    out = []
    for position, value in enumerate(values):
        if type(value) is bool or not isinstance(value, (str, int, float)):
            raise _refuse(f"{field}[{position}]", "is not a string or a number (the template would write "
                                                  "Python's text of it)")
        out.append(str(value))
    return out


def _required(schema: Mapping, field: str) -> Sequence[Any]:
    """``schema.required or []``, which the template tests names against; a string would be tested
    as text (``'a' in 'city'``), so only a list is taken."""
    required = schema.get("required")
    if not required:
        return ()
    if not isinstance(required, (list, tuple)):
        raise _refuse(field + ".required", "must be a list of names")
    return required


def _schema(value: Any, field: str) -> Mapping:
    if not isinstance(value, Mapping):
        raise _refuse(field, "is not a schema (a mapping); the template would write it as 'any'")
    return value


def type_text(spec: Any, field: str, tojson: Callable[[Any], str]) -> str:
    """``render_typescript_type(spec)``; ``tojson`` writes a default as transformers' ``tojson``."""
    spec = _schema(spec, field)
    kind = spec.get("type")
    if kind == "array":
        items = spec.get("items")
        if items:
            items = _schema(items, field + ".items")
            inner_kind = items.get("type")
            if inner_kind == "string":
                out = "string[]"
            elif inner_kind == "number" or inner_kind == "integer":
                out = "number[]"
            elif inner_kind == "boolean":
                out = "boolean[]"
            else:
                inner = type_text(items, field + ".items", tojson)
                out = "any[]" if inner == "object | object" or len(inner) > 50 else inner + "[]"
        else:
            out = "any[]"
        return out + " | null" if spec.get("nullable") else out
    if isinstance(kind, (list, tuple)) and kind:
        names = _words(kind, field + ".type")
        return " | ".join(names) if len(names) > 1 else names[0]
    variants = spec.get("oneOf")
    if variants:
        if not isinstance(variants, (list, tuple)):
            raise _refuse(field + ".oneOf", "must be a list of schemas")
        written = []
        for position, variant in enumerate(variants):
            where = f"{field}.oneOf[{position}]"
            text = type_text(variant, where, tojson)
            description = variant.get("description")
            if description:
                text += "// " + _text(description, where + ".description")
            if "default" in variant:
                text += VARIANT_DEFAULT + _json(variant["default"], where + ".default", tojson)
            if position != len(variants) - 1:
                text += " | \n"
            written.append(text)
        return "".join(written)
    if kind == "string":
        enum = spec.get("enum")
        if enum:
            return '"' + '" | "'.join(_words(enum, field + ".enum")) + '"'
        return "string | null" if spec.get("nullable") else "string"
    if kind == "number" or kind == "integer":
        return "number"
    if kind == "boolean":
        return "boolean"
    if kind == "object":
        properties = spec.get("properties")
        if not properties:
            return "object"
        if not isinstance(properties, Mapping):
            raise _refuse(field + ".properties", "must be a mapping of names to schemas")
        required = _required(spec, field)
        members = []
        for name, inner in properties.items():
            where = f"{field}.properties.{name}"
            if not isinstance(name, str):
                raise _refuse(where, "has a name that is not a string")
            members.append(name + ("" if name in required else "?") + NESTED + type_text(inner, where, tojson))
        return "{\n" + ", ".join(members) + "}"
    return "any"


def _json(value: Any, field: str, tojson: Callable[[Any], str]) -> str:
    try:
        return tojson(value)
    except ValueError:
        raise _refuse(field, "is not JSON") from None


def definition(tool: Any, field: str, tojson: Callable[[Any], str]) -> str:
    """One tool's entry in ``render_tool_namespace``: its description comment and its type."""
    function = tool.get("function") if isinstance(tool, Mapping) else None
    if not isinstance(function, Mapping):
        raise UnsupportedFieldError("this format's template reads each definition's 'function' object "
                                    "({'type': 'function', 'function': {...}})", field=field + ".function")
    field += ".function"
    out = ["// ", _text(function.get("description"), field + ".description"), "\n",
           "type ", _text(function.get("name"), field + ".name"), " = "]
    parameters = function.get("parameters")
    if not parameters:
        out.append("() => any;\n\n")
        return "".join(out)
    if not isinstance(parameters, Mapping):
        raise _refuse(field + ".parameters", "is not a schema (a mapping); the template would leave it out")
    properties = parameters.get("properties")
    if not properties:
        out.append("() => any;\n\n")
        return "".join(out)
    if not isinstance(properties, Mapping):
        raise _refuse(field + ".parameters.properties", "must be a mapping of names to schemas")
    required = _required(parameters, field + ".parameters")
    out.append("(_: {\n")
    for name, spec in properties.items():
        where = f"{field}.parameters.properties.{name}"
        if not isinstance(name, str):
            raise _refuse(where, "has a name that is not a string")
        spec = _schema(spec, where)
        description = spec.get("description")
        if description:
            out += ["// ", _text(description, where + ".description"), "\n"]
        out += [name, "" if name in required else "?", ": ", type_text(spec, where, tojson)]
        if "default" in spec:
            default = spec["default"]
            if spec.get("enum"):
                out += [", // default: ", _text(default, where + ".default")]
            elif spec.get("oneOf"):
                out += ["// default: ", _text(default, where + ".default")]
            else:
                out += [", // default: ", _json(default, where + ".default", tojson)]
        out.append(",\n")
    out.append("}) => any;\n\n")
    return "".join(out)
