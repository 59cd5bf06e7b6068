"""Tool definitions written in the shapes templates give them besides JSON: named serialisers.

A format chooses one by name (``[tools] item``); each writes one definition exactly as the
templates that use that shape write it, and refuses, naming the field, what such a template would
write as junk (a Python ``None`` for a missing text, a list written letter by letter) or leave out
without the format saying so (``[tools] ignore`` lists the schema keys its template leaves out).

- ``xml_schema``: XML tags (``<function>``, ``<name>``, ``<parameters>``, ``<parameter>``...),
  every key of a parameter's schema written in a tag of its own (Qwen3-Coder);
- ``python_docstring``: a Python ``def`` with its parameters' types and a docstring listing them,
  required ones marked ``[必填]`` and the others ``[选填]`` (Seed-OSS);
- ``pydantic_signature``: Python code, an ``Enum`` or ``BaseModel`` class for each parameter that
  needs one, then a ``def`` whose docstring lists pydantic-style fields (MiniCPM3).

Each takes the definition (a checked mapping, see ``tools.checked_tools``), its path (``tools[2]``),
transformers' ``tojson`` (``tools.tojson``) and the keys to leave out, and returns its text, or raises
``UnsupportedFieldError``; ``serialisers.ITEMS`` lists them with the others.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Callable, List, Sequence, Tuple

from ..errors import UnsupportedFieldError


def _kind(value: Any) -> str:
    return "None" if value is None else type(value).__name__


def _refuse(reason: str, field: str) -> UnsupportedFieldError:
    return UnsupportedFieldError(reason, field=field)


def _junk(written: str, field: str) -> UnsupportedFieldError:
    """The refusal of a value the template would write as junk (``written`` says how)."""
    return UnsupportedFieldError(f"the template would write {written}, which is junk: it is refused", field=field)


def _key_path(where: str, key: Any) -> str:
    return f"{where}.{key}" if isinstance(key, str) else f"{where}[{key!r}]"


def py_str(value: Any) -> str:
    """Jinja's ``|string`` (and ``{{ value }}``): Python's ``str()`` (``True``, ``None``, ``1.0``,
    ``{'k': [1, 2]}``); definitions are JSON values, checked before they get here."""
    return value if isinstance(value, str) else str(value)


def _only(table: Mapping, allowed: Sequence[str], where: str, what: str) -> None:
    for key in table:
        if key not in allowed:
            raise _refuse(f"this key of {what} is not written by the format's template, so it is refused rather "
                          "than left out", _key_path(where, key))


def _function(tool: Mapping, where: str, wrapped: bool) -> Tuple[Mapping, str]:
    """The function object of a definition (``{"type": "function", "function": {...}}`` or the inner
    object alone) and its path; ``wrapped``: the template reads only the first form and leaves any
    other definition out. A type other than ``function`` is refused either way."""
    if tool.get("type", "function") != "function" or (wrapped and "type" not in tool):
        raise _refuse(f"the template writes definitions of type 'function' only (type {tool.get('type')!r})",
                      where + ".type")
    if "function" not in tool:
        if wrapped:
            raise _refuse("the template reads the definition's 'function' object and leaves this one out",
                          where + ".function")
        return {k: v for k, v in tool.items() if k != "type"}, where
    _only(tool, ("type", "function"), where, "a tool definition")
    return tool["function"], where + ".function"


def _text(table: Mapping, key: str, where: str) -> str:
    """A description the template writes trimmed (``| trim``): missing is empty, text is trimmed,
    anything else would be its Python ``str()`` (``None``) and is refused."""
    value = table.get(key, "")
    if not isinstance(value, str):
        raise _junk(f"a description that is not a string ({_kind(value)}) as its Python str()", _key_path(where, key))
    return value.strip()


def _mapping(table: Mapping, key: str, where: str, needed: bool, why: str) -> Mapping:
    if key not in table:
        if needed:
            raise _refuse(f"{why}; it is missing", _key_path(where, key))
        return {}
    value = table[key]
    if not isinstance(value, Mapping):
        raise _refuse(f"{why}, got {_kind(value)}", _key_path(where, key))
    return value


# -- xml_schema (Qwen3-Coder) --------------------------------------------------------------------

#: Keys of a parameter's schema written in tags of their own, in this order, before the others.
_XML_HANDLED = ("type", "description", "enum", "required")


def _item_list(value: Any, tag: str, where: str) -> str:
    """``\\n<tag>[`a`, 1]</tag>``: strings in backticks, other values as ``str()`` writes them;
    nothing for an empty list. Another value is refused: the template writes a string letter by
    letter and leaves other values out."""
    if not isinstance(value, (list, tuple)):
        raise _junk(f"a '{tag}' that is not a list ({_kind(value)}) letter by letter, or not at all", where)
    if not value:
        return ""
    return f"\n<{tag}>[" + ", ".join(f"`{item}`" if isinstance(item, str) else py_str(item) for item in value) \
        + f"]</{tag}>"


#: transformers' ``tojson``, as the serialisers are given it.
ToJson = Callable[[Any], str]


def xml_schema(tool: Mapping, where: str, tojson: ToJson, ignore: Sequence[str] = ()) -> str:
    """One definition as XML tags, as Qwen3-Coder's template writes it.

    ``<function>``, ``<name>``, ``<description>`` (trimmed), then ``<parameters>`` with a
    ``<parameter>`` per property: its ``<name>``, ``<type>`` (``str()`` of the value, so a list of
    types is written ``['string', 'null']``), ``<description>`` (trimmed), ``<enum>`` (``[`a`, 1]``),
    then every other key of its schema as a tag named after it (``-`` and spaces as ``_``, ``$``
    left out) holding a mapping as JSON and anything else as ``str()``, then its ``<required>``;
    after the properties the list of ``required`` ones (``[`city`]``), and the function's
    ``<return>`` (JSON, or ``str()``). Every key is written, so ``ignore`` is not used.
    """
    function, where = _function(tool, where, wrapped=False)
    _only(function, ("name", "description", "parameters", "return"), where, "a function")
    out = [f"<function>\n<name>{function['name']}</name>\n<description>{_text(function, 'description', where)}"
           "</description>\n<parameters>"]
    parameters = _mapping(function, "parameters", where, True, "the template needs 'parameters', a mapping")
    at = where + ".parameters"
    _only(parameters, ("type", "properties", "required"), at, "the parameters' schema")
    for name, schema in _mapping(parameters, "properties", at, False, "'properties' must be a mapping").items():
        here = _key_path(at + ".properties", name)
        if not isinstance(schema, Mapping):
            raise _refuse(f"a parameter's schema must be a mapping, got {_kind(schema)}", here)
        out.append(f"\n<parameter>\n<name>{py_str(name)}</name>")
        if "type" in schema:
            out.append(f"\n<type>{py_str(schema['type'])}</type>")
        if "description" in schema:
            out.append(f"\n<description>{_text(schema, 'description', here)}</description>")
        if "enum" in schema:
            out.append(_item_list(schema["enum"], "enum", here + ".enum"))
        for key, value in schema.items():
            if key in _XML_HANDLED:
                continue
            tag = py_str(key).replace("-", "_").replace(" ", "_").replace("$", "")
            out.append(f"\n<{tag}>{tojson(value) if isinstance(value, Mapping) else py_str(value)}</{tag}>")
        if "required" in schema:
            out.append(_item_list(schema["required"], "required", here + ".required"))
        out.append("\n</parameter>")
    if "required" in parameters:
        out.append(_item_list(parameters["required"], "required", at + ".required"))
    out.append("\n</parameters>")
    if "return" in function:
        value = function["return"]
        out.append(f"\n<return>{tojson(value) if isinstance(value, Mapping) else py_str(value)}</return>")
    out.append("\n</function>")
    return "".join(out)


# -- python_docstring (Seed-OSS) -----------------------------------------------------------------

#: JSON schema types as the signature writes them; any other type (``object``, a list of types,
#: none) is ``Any``.
_PY_TYPES = {"string": "str", "number": "int", "integer": "int", "boolean": "bool", "array": "list"}


def _py_type(schema: Mapping) -> str:
    kind = schema.get("type")
    return _PY_TYPES.get(kind, "Any") if isinstance(kind, str) else "Any"


def _described(schema: Mapping, where: str) -> str:
    """A parameter's description as written after its marker (``spec.description or ""``)."""
    value = schema.get("description")
    if value is None or value == "":
        return ""
    if not isinstance(value, str):
        raise _junk(f"a description that is not a string ({_kind(value)}) as its Python str()", where + ".description")
    return value


def _schemas(properties: Mapping, where: str, written: Sequence[str], ignore: Sequence[str]
             ) -> List[Tuple[str, Mapping, str]]:
    """``(name, schema, path)`` of each property; a key the signature does not write is refused
    unless the format says its template leaves it out (``ignore``)."""
    out = []
    for name, schema in properties.items():
        here = _key_path(where, name)
        if not isinstance(schema, Mapping):
            raise _refuse(f"a parameter's schema must be a mapping, got {_kind(schema)}", here)
        for key in schema:
            if key not in written and key not in ignore:
                raise _refuse("this key of a parameter's schema is not written by the format's template, so it is "
                              "refused rather than left out (a format lists the keys its template leaves out under "
                              "[tools] ignore)", _key_path(here, key))
        out.append((py_str(name), schema, here))
    return out


def python_docstring(tool: Mapping, where: str, tojson: ToJson, ignore: Sequence[str] = ()) -> str:
    """One definition as a Python signature with a docstring, as Seed-OSS's template writes it.

    ``def name(city: str,days: int):`` (JSON types as ``str``, ``int`` for ``number`` and
    ``integer``, ``bool``, ``list``, ``Any`` for the rest), then the docstring: the description
    (trimmed), ``Args:`` with a line per property (``- city (str) [必填]: The city``, ``[选填]`` for
    one not required) and ``Returns:`` for the properties of ``returns``. A parameter's keys other
    than ``type`` and ``description`` are not written (those in ``ignore`` are left out, the others
    refused); so is a definition the template leaves out (not of type ``function``).
    """
    function, where = _function(tool, where, wrapped=True)
    _only(function, ("name", "description", "parameters", "returns"), where, "a function")
    parameters = _mapping(function, "parameters", where, True, "the template needs 'parameters', a mapping")
    at = where + ".parameters"
    _only(parameters, ("type", "properties", "required"), at, "the parameters' schema")
    properties = _mapping(parameters, "properties", at, True, "the template needs 'properties', a mapping")
    required = parameters.get("required", ())
    if not isinstance(required, (list, tuple)):
        raise _junk(f"a 'required' that is not a list ({_kind(required)}) as one (a string letter by letter)",
                    at + ".required")
    listed = _schemas(properties, at + ".properties", ("type", "description"), ignore)
    out = [f"def {function['name']}(", ",".join(f"{name}: {_py_type(schema)}" for name, schema, _ in listed),
           f'):\n    """\n    {_text(function, "description", where)}\n\n']
    if listed:
        out.append("    Args:")
        for name, schema, here in listed:
            mark = "[必填]" if name in required else "[选填]"
            out.append(f"\n    - {name} ({_py_type(schema)}) {mark}: {_described(schema, here)}")
    out.append("\n")
    if "returns" in function:
        returns = _mapping(function, "returns", where, True, "'returns' must be a mapping")
        _only(returns, ("type", "properties"), where + ".returns", "the returns' schema")
        written = returns.get("properties")
        if not isinstance(written, Mapping) or not written:
            raise _refuse("the template writes 'returns' only with properties, and leaves this one out",
                          where + ".returns")
        out.append("    Returns:")
        for name, schema, here in _schemas(written, where + ".returns.properties", ("type", "description"), ignore):
            out.append(f"\n    - {name} ({_py_type(schema)}): {_described(schema, here)}")
    out.append('\n    """')
    return "".join(out)


# -- pydantic_signature (MiniCPM3) ---------------------------------------------------------------

#: JSON schema types as the annotations write them.
_PYDANTIC_TYPES = {"string": "str", "number": "float", "integer": "int", "boolean": "bool", "null": "None"}
_WORD = re.compile(r"([-\s({\[<]+)")


def title(text: str) -> str:
    """Jinja's ``|title``: each word's first letter upper-case, the rest lower-case."""
    return "".join(item[0].upper() + item[1:].lower() for item in _WORD.split(text) if item)


def _annotation(name: str, schema: Any, where: str, classed: bool) -> str:
    """A schema's type annotation (``str``, ``List[int]``, ``Optional`` is added by the caller):
    ``Name`` for an enum or an object with properties (``classed``: a class of that name is
    written for it), ``List[...]`` for an array, ``Dict[str, ...]`` for an object with typed
    ``additionalProperties``, ``Union[...]`` for a list of basic types. What the template would
    write as junk (``Union[]`` for a missing type or items, an annotation naming a class it does
    not write) or fail on is refused."""
    if not isinstance(schema, Mapping):
        raise _refuse(f"a schema must be a mapping, got {_kind(schema)}", where)
    kind = schema.get("type")
    if schema.get("enum") or (kind == "object" and schema.get("properties")):
        if not classed:
            raise _junk("the name of a class for this schema (an enum or an object with properties) without "
                        "the class", where)
        return title(name)
    if isinstance(kind, str) and kind in _PYDANTIC_TYPES:
        return _PYDANTIC_TYPES[kind]
    if kind == "array":
        if not isinstance(schema.get("items"), Mapping):
            raise _junk("an array without typed 'items' as List[Union[]]", where + ".items")
        items = schema["items"]
        return f"List[{_annotation(name, items, where + '.items', classed and items.get('type') == 'object')}]"
    if kind == "object":
        extra = schema.get("additionalProperties")
        if not isinstance(extra, Mapping) or not extra:
            raise _junk("an object without properties or typed 'additionalProperties' as Dict[str, Union[]]", where)
        return f"Dict[str, {_annotation(name, extra, where + '.additionalProperties', False)}]"
    if isinstance(kind, list) and kind and all(isinstance(t, str) and t in _PYDANTIC_TYPES for t in kind):
        return "Union[" + ", ".join(_PYDANTIC_TYPES[t] for t in kind) + "]"
    raise _junk(f"the type {kind!r} as Union[] (or fail on it)", where + ".type")


def _default(schema: Mapping, tojson: ToJson) -> str:
    """A parameter's default as the template writes it: a string through ``tojson``, another value
    as ``str()`` writes it, ``None`` without one."""
    if "default" not in schema:
        return "None"
    value = schema["default"]
    return tojson(value) if isinstance(value, str) else py_str(value)


def _read_keys(schema: Mapping) -> Tuple[str, ...]:
    """The keys of a parameter's schema that the template reads (the others it leaves out)."""
    keys = ("enum", "type", "title", "description", "pattern", "default")
    if schema.get("enum"):
        return keys
    if schema.get("type") == "object":
        return keys + (("properties", "required") if schema.get("properties") else ("additionalProperties",))
    if schema.get("type") == "array":
        return keys + ("items",)
    return keys


def _fields(schema: Mapping, where: str, indent: str, ignore: Sequence[str], out: List[str], tojson: ToJson
            ) -> List[str]:
    """The fields of an object schema (``indent`` before each), appending to ``out`` the classes
    its properties need first (an ``Enum`` per enum, a ``BaseModel`` per object with properties)."""
    required = schema.get("required", ())
    if not isinstance(required, (list, tuple)):
        raise _junk(f"a 'required' that is not a list ({_kind(required)}) as one (a string letter by letter)",
                    where + ".required")
    properties = schema.get("properties", {})
    if not isinstance(properties, Mapping):
        raise _refuse(f"'properties' must be a mapping, got {_kind(properties)}", where + ".properties")
    fields = []
    for key, field in properties.items():
        name, here = py_str(key), _key_path(where + ".properties", key)
        if not isinstance(field, Mapping):
            raise _refuse(f"a parameter's schema must be a mapping, got {_kind(field)}", here)
        for unread in field:
            if unread not in _read_keys(field) and unread not in ignore:
                raise _refuse("this key of a parameter's schema is not written by the format's template, so it is "
                              "refused rather than left out (a format lists the keys its template leaves out under "
                              "[tools] ignore)", _key_path(here, unread))
        enum = field.get("enum")
        if enum and not isinstance(enum, (list, tuple)):
            raise _junk(f"an 'enum' that is not a list ({_kind(enum)}) letter by letter", here + ".enum")
        if enum:
            out.append(f"\n\nclass {title(name)}(Enum):\n" + "".join(
                f"    enum_{position} = {tojson(option)}\n" for position, option in enumerate(enum)))
        elif field.get("type") == "object" and field.get("properties"):
            nested = _fields(field, here, "    ", ignore, out, tojson)
            out.append(f"\n\nclass {title(name)}(BaseModel):\n" + "".join(nested))
        elif field.get("type") == "array" and isinstance(field.get("items"), Mapping) and \
                field["items"].get("type") == "object" and field["items"].get("properties"):
            nested = _fields(field["items"], here + ".items", "    ", ignore, out, tojson)
            out.append(f"\n\nclass {title(name)}(BaseModel):\n" + "".join(nested))
        annotation = _annotation(name, field, here, True)
        line = f"{indent}{name}: " + (annotation if name in required else f"Optional[{annotation}]")
        if not (field.get("title") or field.get("description") or field.get("pattern")):
            line += "" if name in required else " = " + _default(field, tojson)
        else:
            line += " = Field(..." if name in required else " = Field(" + _default(field, tojson)
            for key, label in (("description", "description"), ("pattern", "regex"), ("title", "title")):
                if field.get(key):
                    line += f", {label}={tojson(field[key])}"
            line += ")"
        fields.append(line + "\n")
    return fields


def pydantic_signature(tool: Mapping, where: str, tojson: ToJson, ignore: Sequence[str] = ()) -> str:
    """One definition as Python code with pydantic-style fields, as MiniCPM3's template writes it.

    First a class for each parameter that needs one (``class Unit(Enum):`` with ``enum_0 = "c"``
    for an enum, ``class Place(BaseModel):`` for an object with properties, nested alike), then
    ``def name(city, days=None):`` (a parameter that is not required gets its default) and a
    docstring: the description as given, then ``Args:`` and a field per parameter
    (``city: str = Field(..., description="The city")``, ``days: Optional[int] = None``). Keys
    of a parameter's schema the template does not read are left out when ``ignore`` lists them,
    refused otherwise.
    """
    function, where = _function(tool, where, wrapped=False)
    _only(function, ("name", "description", "parameters"), where, "a function")
    description = function.get("description", "")
    if not isinstance(description, str):
        raise _junk(f"a description that is not a string ({_kind(description)}) as its Python str()",
                    where + ".description")
    parameters = function.get("parameters")
    if parameters is not None and not isinstance(parameters, Mapping):
        raise _refuse(f"'parameters' must be a mapping, got {_kind(parameters)}", where + ".parameters")
    parameters = parameters or {}
    at = where + ".parameters"
    _only(parameters, ("type", "properties", "required"), at, "the parameters' schema")
    classes: List[str] = []
    fields = _fields(parameters, at, "        ", ignore, classes, tojson)
    required = parameters.get("required", ())
    names = [py_str(name) + ("" if py_str(name) in required else "=" + _default(schema, tojson))
             for name, schema in (parameters.get("properties") or {}).items()]
    return "".join(classes) + f"\n\ndef {function['name']}({', '.join(names)}):\n    \"\"\"{description}" + (
        "\n\n    Args:\n" if parameters else "\n") + "".join(fields) + '    """\n'
