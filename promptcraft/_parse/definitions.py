"""Tool definitions read back from the text a named serialiser wrote (``_runtime.serialisers.ITEMS``).

Each reader takes the prompt and where a definition starts, and gives the definition it reads and
where its text ends, or ``None``. A reader may guess (a value written as ``str()`` could be ``1`` or
``"1"``): the caller keeps a reading only when the serialiser writes it back as the same text, so
what comes back is a definition that renders the prompt, the canonical one where the serialiser
loses something (a trimmed description, a schema key it leaves out).
"""

from __future__ import annotations

import ast
import json
from typing import Any, Callable, Dict, List, Optional, Tuple

Found = Optional[Tuple[Any, int]]


def _literal(text: str) -> Any:
    """A value written as Python's ``str()`` or JSON: the value it most likely is, else the text."""
    if text[:1] == "{":
        try:
            return json.loads(text)
        except ValueError:
            pass
    try:
        return ast.literal_eval(text)
    except (SyntaxError, ValueError, TypeError, RecursionError, MemoryError):
        return text


def _between(text: str, at: int, opening: str, closing: str) -> Optional[Tuple[str, int]]:
    """The text between ``opening`` (at ``at``) and the next ``closing``, and the position after it."""
    if not text.startswith(opening, at):
        return None
    start = at + len(opening)
    end = text.find(closing, start)
    return (text[start:end], end + len(closing)) if end >= 0 else None


def _item_list(text: str) -> Optional[List[Any]]:
    """``[`a`, 1]`` (strings in backticks, other values as ``str()``) as the list it writes."""
    if not (text.startswith("[") and text.endswith("]")):
        return None
    out: List[Any] = []
    at, inner = 0, text[1:-1]
    while at < len(inner):
        if inner.startswith("`", at):
            end = inner.find("`", at + 1)
            while end >= 0 and not (end + 1 == len(inner) or inner.startswith(", ", end + 1)):
                end = inner.find("`", end + 1)
            if end < 0:
                return None
            out.append(inner[at + 1:end])
            at = end + 1
        else:
            end = inner.find(", ", at)
            end = len(inner) if end < 0 else end
            out.append(_literal(inner[at:end]))
            at = end
        if at < len(inner):
            if not inner.startswith(", ", at):
                return None
            at += 2
    return out


def xml_schema(text: str, at: int) -> Found:
    """Qwen3-Coder's ``<function>`` block (``definitions.xml_schema``)."""
    head = _between(text, at, "<function>\n<name>", "</name>\n<description>")
    if head is None:
        return None
    name, at = head
    found = text.find("</description>\n<parameters>", at)
    if found < 0:
        return None
    function: Dict[str, Any] = {"name": name, "description": text[at:found]}
    at = found + len("</description>\n<parameters>")
    properties: Dict[str, Any] = {}
    parameters: Dict[str, Any] = {"type": "object", "properties": properties}
    while text.startswith("\n<parameter>\n<name>", at):
        named = _between(text, at, "\n<parameter>\n<name>", "</name>")
        if named is None:
            return None
        key, at = named
        schema: Dict[str, Any] = {}
        while not text.startswith("\n</parameter>", at):
            opened = _between(text, at, "\n<", ">")
            if opened is None or not opened[0] or "\n" in opened[0]:
                return None
            tag, at = opened
            end = text.find(f"</{tag}>\n", at)
            if end < 0:
                return None
            value = text[at:end]
            at = end + len(tag) + 3
            if tag in ("enum", "required"):
                schema[tag] = _item_list(value)
            elif tag == "description":
                schema[tag] = value
            elif tag == "type":
                schema[tag] = _literal(value) if value.startswith("[") else value
            else:
                schema[tag] = _literal(value)
        at += len("\n</parameter>")
        properties[key] = schema
    if text.startswith("\n<required>", at):
        listed = _between(text, at, "\n<required>", "</required>")
        if listed is None:
            return None
        parameters["required"], at = _item_list(listed[0]), listed[1]
    if not text.startswith("\n</parameters>", at):
        return None
    at += len("\n</parameters>")
    function["parameters"] = parameters
    if text.startswith("\n<return>", at):
        returns = _between(text, at, "\n<return>", "</return>")
        if returns is None:
            return None
        function["return"], at = _literal(returns[0]), returns[1]
    if not text.startswith("\n</function>", at):
        return None
    return {"type": "function", "function": function}, at + len("\n</function>")


#: The Python types ``python_docstring`` writes, as the JSON types they stand for (``int`` is
#: ``integer`` or ``number``; ``Any`` any other or none: the type is lost there).
_PY_TYPES = {"str": "string", "int": "integer", "bool": "boolean", "list": "array"}


def python_docstring(text: str, at: int) -> Found:
    """Seed-OSS's ``def`` with a docstring (``definitions.python_docstring``)."""
    head = _between(text, at, "def ", "(")
    if head is None:
        return None
    name, at = head
    signature = _between(text, at - 1, "(", '):\n    """\n    ')
    if signature is None:
        return None
    typed = [item.partition(": ") for item in signature[0].split(",")] if signature[0] else []
    at = signature[1]
    found = text.find("\n\n", at)
    if found < 0:
        return None
    function: Dict[str, Any] = {"name": name, "description": text[at:found]}
    at = found + 2
    properties: Dict[str, Any] = {}
    required: List[str] = []
    if typed:
        if not text.startswith("    Args:", at):
            return None
        at += len("    Args:")
        for key, _, kind in typed:
            line = f"\n    - {key} ({kind}) "
            if not text.startswith(line, at):
                return None
            at += len(line)
            if text.startswith("[必填]: ", at):
                required.append(key)
            elif not text.startswith("[选填]: ", at):
                return None
            at += len("[必填]: ")
            end = text.find("\n", at)
            if end < 0:
                return None
            schema: Dict[str, Any] = {}
            if kind in _PY_TYPES:
                schema["type"] = _PY_TYPES[kind]
            if end > at:
                schema["description"] = text[at:end]
            properties[key] = schema
            at = end
    if not text.startswith('\n\n    """', at):
        return None  # a definition with returns is not read back
    function["parameters"] = {"type": "object", "properties": properties, "required": required}
    return {"type": "function", "function": function}, at + len('\n\n    """')


def hermes(text: str, at: int) -> Found:
    """Hermes 3's hand-built JSON envelope (``serialisers.hermes``): the name, the parameters' JSON;
    the description is what the docstring holds between what the parameters make of it."""
    head = _between(text, at, '{"type": "function", "function": {"name": "', '", "description": "')
    if head is None:
        return None
    name, start = head
    end = text.find('", "parameters": ', start)
    while end >= 0:
        try:
            parameters, after = json.JSONDecoder().raw_decode(text, end + len('", "parameters": '))
        except (ValueError, RecursionError):
            parameters, after = None, -1
        if isinstance(parameters, dict) and text.startswith("}", after):
            description = _hermes_description(name, parameters, text[start:end])
            if description is not None:
                function = {"name": name, "description": description, "parameters": parameters}
                return {"type": "function", "function": function}, after + 1
        end = text.find('", "parameters": ', end + 1)
    return None


def _hermes_description(name: str, parameters: Dict[str, Any], doc: str) -> Optional[str]:
    from .._runtime.serialisers import _python_type

    properties = parameters.get("properties", {})
    if not isinstance(properties, dict):
        return None
    try:
        kinds = {key: _python_type(schema, "") for key, schema in properties.items()}
    except Exception:  # noqa: BLE001 - a schema the serialiser refuses: no reading
        return None
    head = f"{name}({', '.join(f'{key}: {kind}' for key, kind in kinds.items())}) - "
    tail = "\n\n" + ("    Args:\n" + "".join(
        f"        {key}({kind}): " + (str(properties[key].get("description", "")).strip()
                                      if isinstance(properties[key], dict) else "")
        for key, kind in kinds.items()) if kinds else "")
    if not (doc.startswith(head) and doc.endswith(tail) and len(doc) >= len(head) + len(tail)):
        return None
    return doc[len(head):len(doc) - len(tail)]


#: TypeScript types (``typescript.type_text``) as the schemas they are read back as; ``number`` is
#: ``number`` or ``integer``, ``any`` any schema without a type written: lost there.
_TS_TYPES: Dict[str, Dict[str, Any]] = {
    "string": {"type": "string"}, "number": {"type": "number"}, "boolean": {"type": "boolean"},
    "object": {"type": "object"}, "any": {}, "string[]": {"type": "array", "items": {"type": "string"}},
    "number[]": {"type": "array", "items": {"type": "number"}},
    "boolean[]": {"type": "array", "items": {"type": "boolean"}}, "any[]": {"type": "array"},
    "string | null": {"type": "string", "nullable": True}}


def _ts_type(text: str) -> Optional[Dict[str, Any]]:
    if text in _TS_TYPES:
        return dict(_TS_TYPES[text])
    if text.startswith('"') and text.endswith('"'):
        return {"type": "string", "enum": text[1:-1].split('" | "')}
    return None


def typescript(text: str, at: int) -> Found:
    """gpt-oss's TypeScript entry (``typescript.definition``), for parameters of the simple types."""
    head = _between(text, at, "// ", "\ntype ")
    if head is None:
        return None
    description, at = head
    named = _between(text, at - len("type "), "type ", " = ")
    if named is None:
        return None
    name, at = named
    function: Dict[str, Any] = {"name": name, "description": description}
    if text.startswith("() => any;\n\n", at):
        function["parameters"] = {"type": "object", "properties": {}}
        return {"type": "function", "function": function}, at + len("() => any;\n\n")
    if not text.startswith("(_: {\n", at):
        return None
    at += len("(_: {\n")
    properties: Dict[str, Any] = {}
    required: List[str] = []
    while not text.startswith("}) => any;\n\n", at):
        described = None
        if text.startswith("// ", at):
            end = text.find("\n", at)
            if end < 0:
                return None
            described, at = text[at + 3:end], end + 1
        end = text.find(",\n", at)
        if end < 0:
            return None
        line = text[at:end]
        at = end + 2
        declared, _, default = line.partition(", // default: ")
        key, colon, kind = declared.partition(": ")
        schema = _ts_type(kind) if colon else None
        if schema is None or not key:
            return None
        if key.endswith("?"):
            key = key[:-1]
        else:
            required.append(key)
        if described:
            schema["description"] = described
        if default:
            try:
                schema["default"] = default if "enum" in schema else json.loads(default)
            except ValueError:
                return None
        properties[key] = schema
    function["parameters"] = {"type": "object", "properties": properties, "required": required}
    return {"type": "function", "function": function}, at + len("}) => any;\n\n")


#: The Python types Command R+'s signature writes (``serialisers._signature_type``), as the schemas they
#: stand for; ``List[Union[]]`` is any array (its items are not written), ``Union[]`` no type.
_SIGNATURE_TYPES: Dict[str, Dict[str, Any]] = {
    "str": {"type": "string"}, "float": {"type": "number"}, "int": {"type": "integer"},
    "bool": {"type": "boolean"}, "List[Union[]]": {"type": "array"}, "Union[]": {}}


def _signature_schema(text: str) -> Optional[Dict[str, Any]]:
    if text in _SIGNATURE_TYPES:
        return dict(_SIGNATURE_TYPES[text])
    if text.startswith("Dict[str, ") and text.endswith("]"):
        inner = _signature_schema(text[len("Dict[str, "):-1])
        return None if inner is None else {"type": "object", "additionalProperties": inner}
    if text.startswith("Union[") and text.endswith("]") and "[" not in text[6:-1]:
        kinds = [_signature_schema(item) for item in text[6:-1].split(",")]
        if all(kind and len(kind) == 1 for kind in kinds):
            return {"type": [kind["type"] for kind in kinds if kind]}
    return None


def python_signature(text: str, at: int) -> Found:
    """Command R+'s Python stub (``serialisers.python_signature``): read from its ``Args:`` lines."""
    head = _between(text, at, "```python\ndef ", "(")
    if head is None:
        return None
    name, at = head
    opened = text.find(') -> List[Dict]:\n    """', at)
    closed = text.find('\n    """\n    pass\n```', at)
    if opened < 0 or closed < opened:
        return None
    doc = text[opened + len(') -> List[Dict]:\n    """'):closed]
    description, _, listed = doc.partition("\n\n    Args:\n        ")
    properties: Dict[str, Any] = {}
    required: List[str] = []
    for line in listed.split("\n        ") if listed else ():
        key, opening, rest = line.partition(" (")
        kind, closing, described = rest.partition("): ")
        optional = kind.startswith("Optional[") and kind.endswith("]")
        schema = _signature_schema(kind[9:-1] if optional else kind)
        if not (opening and closing) or schema is None:
            return None
        schema["description"] = described
        properties[key] = schema
        if not optional:
            required.append(key)
    function = {"name": name, "description": description,
                "parameters": {"type": "object", "properties": properties, "required": required}}
    return {"type": "function", "function": function}, closed + len('\n    """\n    pass\n```')


def _functionary_kind(text: str) -> Optional[Dict[str, Any]]:
    if text.startswith('"') and text.endswith('"'):
        return {"type": "string", "enum": text[1:-1].split('" | "')}
    kinds = text.split(" | ")
    if not all(kind and kind.isalpha() and kind not in ("object", "array") for kind in kinds):
        return None
    return {"type": kinds[0] if len(kinds) == 1 else kinds}


def functionary(text: str, at: int) -> Found:
    """Functionary v3.2's TypeScript entry (``functionary.definition``), for parameters of flat types whose
    comment is their description alone."""
    head = _between(text, at, "// ", "\ntype ")
    if head is None:
        return None
    description, at = head
    found = text.find(" = ", at)
    if found < 0:
        return None
    function: Dict[str, Any] = {"name": text[at:found], "description": description}
    at = found + 3
    if text.startswith("() => any;\n\n", at):
        function["parameters"] = {"type": "object", "properties": {}}
        return {"type": "function", "function": function}, at + len("() => any;\n\n")
    if not text.startswith("(_: {", at):
        return None
    at += len("(_: {")
    properties: Dict[str, Any] = {}
    required: List[str] = []
    while not text.startswith("\n}) => any;\n\n", at):
        described = None
        if text.startswith("\n// ", at):
            end = text.find("\n", at + 1)
            if end < 0:
                return None
            described, at = text[at + 4:end], end
        end = text.find(",", at + 1)
        if not text.startswith("\n", at) or end < 0:
            return None
        key, colon, kind = text[at + 1:end].partition(": ")
        at = end + 1
        schema = _functionary_kind(kind) if colon else None
        if schema is None or not key:
            return None
        if key.endswith("?"):
            key = key[:-1]
        else:
            required.append(key)
        if described is not None:
            schema["description"] = described
        properties[key] = schema
    function["parameters"] = {"type": "object", "properties": properties, "required": required}
    return {"type": "function", "function": function}, at + len("\n}) => any;\n\n")


def _json_at(text: str, at: int) -> Found:
    try:
        return json.JSONDecoder().raw_decode(text, at)
    except (ValueError, RecursionError):
        return None


def json_spliced(text: str, at: int) -> Found:
    """Mistral's rebuilt envelope (``serialisers.json_spliced``): JSON wherever it is accepted."""
    found = _json_at(text, at)
    return found if found is not None and isinstance(found[0], dict) else None


def command_r7b(text: str, at: int) -> Found:
    """Command R7B's ``{"name", "description", "parameters", "responses": null}`` (``serialisers.command_r7b``)."""
    found = _json_at(text, at)
    if found is None or not isinstance(found[0], dict) or list(found[0]) != [
            "name", "description", "parameters", "responses"]:
        return None
    function = {key: found[0][key] for key in ("name", "description", "parameters")}
    return {"type": "function", "function": function}, found[1]


def python_repr(text: str, at: int) -> Found:
    """SmolLM3's definition as Python's ``repr`` of it (``serialisers.python_item``), which holds no line
    break: the text up to the next one."""
    end = text.find("\n", at)
    end = len(text) if end < 0 else end
    try:
        value = ast.literal_eval(text[at:end])
    except (SyntaxError, ValueError, TypeError, RecursionError, MemoryError):
        return None
    return (value, end) if isinstance(value, dict) else None


#: MiniCPM3's annotations (``definitions._annotation``) as the JSON types they stand for.
_PYDANTIC_TYPES = {"str": "string", "float": "number", "int": "integer", "bool": "boolean", "None": "null"}


def _annotation_schema(text: str) -> Optional[Dict[str, Any]]:
    if text in _PYDANTIC_TYPES:
        return {"type": _PYDANTIC_TYPES[text]}
    if text.startswith("List[") and text.endswith("]"):
        items = _annotation_schema(text[5:-1])
        return None if items is None else {"type": "array", "items": items}
    if text.startswith("Dict[str, ") and text.endswith("]"):
        inner = _annotation_schema(text[10:-1])
        return None if inner is None else {"type": "object", "additionalProperties": inner}
    if text.startswith("Union[") and text.endswith("]"):
        kinds = text[6:-1].split(", ")
        if all(kind in _PYDANTIC_TYPES for kind in kinds):
            return {"type": [_PYDANTIC_TYPES[kind] for kind in kinds]}
    return None


def _pydantic_default(text: str) -> Any:
    """A default as MiniCPM3 writes it: a string through ``tojson``, anything else as ``str()``."""
    return json.loads(text) if text.startswith('"') else _literal(text)


def _pydantic_field(line: str, classes: Dict[str, List[Any]]) -> Optional[Tuple[str, Dict[str, Any], bool]]:
    """``name: ANNOTATION[ = DEFAULT | = Field(...)]`` as ``(name, schema, required)``; an annotation naming
    an ``Enum`` class is that enum (its type is not written: read back as ``string`` where every value is
    one)."""
    name, colon, rest = line.partition(": ")
    annotation, equals, value = rest.partition(" = ")
    optional = annotation.startswith("Optional[") and annotation.endswith("]")
    written = annotation[9:-1] if optional else annotation
    schema = _annotation_schema(written)
    if schema is None and written in classes:
        enum = classes[written]
        schema = {"type": "string", "enum": enum} if all(isinstance(v, str) for v in enum) else {"enum": enum}
    if not colon or schema is None:
        return None
    if equals and value.startswith("Field(") and value.endswith(")"):
        head, _, keywords = value[6:-1].partition(", ")
        if head not in ("...", "None"):  # a default of None is written as none is: read back as none
            schema["default"] = _pydantic_default(head)
        decoder, at = json.JSONDecoder(), 0
        labels = {"description": "description", "regex": "pattern", "title": "title"}
        while at < len(keywords):
            key, _, _ = keywords[at:].partition("=")
            if key not in labels:
                return None
            try:
                schema[labels[key]], at = decoder.raw_decode(keywords, at + len(key) + 1)
            except ValueError:
                return None
            if keywords.startswith(", ", at):
                at += 2
    elif equals and value != "None":
        schema["default"] = _pydantic_default(value)
    return name, schema, not optional


def pydantic_signature(text: str, at: int) -> Found:
    """MiniCPM3's ``def`` with pydantic-style fields (``definitions.pydantic_signature``), for parameters
    that need no class of their own but an ``Enum`` (no object with properties)."""
    classes: Dict[str, List[Any]] = {}
    while text.startswith("\n\nclass ", at):
        named = _between(text, at, "\n\nclass ", "(Enum):\n")
        if named is None:
            return None
        values: List[Any] = []
        at = named[1]
        while text.startswith(f"    enum_{len(values)} = ", at):
            start = at + len(f"    enum_{len(values)} = ")
            end = text.find("\n", start)
            try:
                values.append(json.loads(text[start:end]))
            except ValueError:
                return None
            at = end + 1
        classes[named[0]] = values
    head = _between(text, at, "\n\ndef ", "(")
    if head is None:
        return None
    name, at = head
    opened = text.find('):\n    """', at)
    if opened < 0:
        return None
    at = opened + len('):\n    """')
    closed = text.find('    """\n', at)
    if closed < 0:
        return None
    doc = text[at:closed]
    function: Dict[str, Any] = {"name": name}
    if "\n\n    Args:\n" not in doc:
        if not doc.endswith("\n"):
            return None
        function["description"] = doc[:-1]
        return {"type": "function", "function": function}, closed + len('    """\n')
    description, _, fields = doc.partition("\n\n    Args:\n")
    function["description"] = description
    properties: Dict[str, Any] = {}
    required: List[str] = []
    for line in fields.split("\n")[:-1] if fields else ():
        if not line.startswith("        "):
            return None
        found = _pydantic_field(line[8:], classes)
        if found is None:
            return None
        properties[found[0]] = found[1]
        if found[2]:
            required.append(found[0])
    function["parameters"] = {"type": "object", "properties": properties, "required": required}
    return {"type": "function", "function": function}, closed + len('    """\n')


#: The serialisers read back, by their name in ``[tools] item``.
READERS: Dict[str, Callable[[str, int], Found]] = {
    "xml_schema": xml_schema, "python_docstring": python_docstring, "hermes": hermes, "typescript": typescript,
    "python_signature": python_signature, "functionary": functionary, "json_spliced": json_spliced,
    "command_r7b": command_r7b, "python_repr": python_repr, "pydantic_signature": pydantic_signature}
