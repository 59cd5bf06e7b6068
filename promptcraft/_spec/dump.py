"""Writing a declaration back as a format file: ``dump(spec)`` is TOML that loads as ``spec`` again.

Template import infers a ``FormatSpec`` and must hand a person a file to review, so the text is laid
out as the files in ``formats/`` are: top-level keys first, then ``[tokens]``, ``[variables.NAME]``,
``[system]``, the roles and the rest, one key per line, and only the keys whose value is not the
loader's default. ``to_surface`` gives the mapping ``validate.build_spec`` accepts; ``write_toml``
writes any such mapping.
"""

from __future__ import annotations

import math
import re
from typing import Any, Callable, Dict, List, Mapping, Sequence, Tuple

import attrs

from .model import (
    EMPTY,
    TEXT_PART,
    Calls,
    Condition,
    Control,
    Documents,
    FormatSpec,
    Generation,
    Output,
    PartKind,
    ReasoningDisplay,
    Role,
    Slot,
    System,
    Text,
    Tools,
    Variable,
    Variant,
)

#: Top-level keys in the order format files use (``write_toml`` puts plain keys before tables).
_ORDER = ("name", "description", "models", "templates", "stop", "start", "start_when_first", "tool_use",
          "tool_use_of", "tokens", "variables", "system", "any_role", "roles", "alternation", "reasoning", "thinking",
          "tools", "calls", "documents", "generation", "output", "control", "message", "parts")
#: Tables below the top level that get a header of their own (``*``: any key); others are inline.
SUB_TABLES = (("roles", "*"), ("variables", "*"), ("parts", "*"), ("system", "override"), ("control", "escape"))
#: An array of scalars longer than this is written one item per line.
WIDTH = 100


def dump(spec: FormatSpec) -> str:
    """``spec`` as the text of a format file (``loads_format(dump(spec)).spec == spec`` for the same path)."""
    return write_toml(to_surface(spec))


def to_surface(spec: FormatSpec) -> Dict[str, Any]:
    """``spec`` as the mapping a format file parses to, with only the keys that are not defaults."""
    return _Surface(spec).format()


class _Surface:
    """One declaration's surface: texts are written with ``{bos}`` and ``{eos}`` where they hold the
    tokens (the loader substitutes them back) and literal braces doubled."""

    def __init__(self, spec: FormatSpec) -> None:
        self.spec = spec
        tokens = [(name, token) for name, token in (("eos", spec.eos), ("bos", spec.bos)) if token]
        if len(tokens) == 2 and tokens[0][1] == tokens[1][1]:
            tokens = []  # one string for both: either name would mislead a reader, the literal does not
        # A longer token first, so that one holding the other is not cut by it.
        self.tokens = sorted(tokens, key=lambda item: -len(item[1]))

    def literal(self, value: str) -> str:
        for name, token in self.tokens:
            if token in value:
                return ("{%s}" % name).join(self.literal(part) for part in value.split(token))
        return value.replace("{", "{{").replace("}", "}}")

    def text(self, text: Text) -> str:
        return "".join("{%s}" % p.name if isinstance(p, Slot) else self.literal(p) for p in text.pieces)

    def choice(self, variants: Sequence[Variant], last: Text) -> Any:
        """A text, or its variants then the unconditional ``last``."""
        if not variants:
            return self.text(last)
        return [{"when": condition(c), "text": self.text(t)} for c, t in variants] + [{"text": self.text(last)}]

    def by_role(self, pairs: Sequence[Tuple[str, Text]]) -> Dict[str, Any]:
        return {name: self.text(text) for name, text in pairs}

    def fields(self, obj: Any, special: Mapping[str, Dict[str, Any]]) -> Dict[str, Any]:
        """``obj``'s fields that are not their class default, in declaration order; ``special`` gives
        the keys written for a field whose surface is not its value (an empty mapping: none). A field
        of another kind is an error here, so that a field added to the model without its surface
        fails the round-trip tests instead of being dropped."""
        out: Dict[str, Any] = {}
        for field in attrs.fields(type(obj)):
            if field.name in special:
                out.update(special[field.name])
                continue
            value = getattr(obj, field.name)
            if field.default is not attrs.NOTHING and value == field.default:
                continue
            if isinstance(value, (str, bool, int)):
                out[field.name] = value
            elif isinstance(value, Text):
                out[field.name] = self.text(value)
            elif isinstance(value, tuple) and all(isinstance(v, str) for v in value):
                out[field.name] = list(value)
            else:
                raise TypeError(f"dump cannot write {type(obj).__name__}.{field.name} = {value!r}")
        return out

    def format(self) -> Dict[str, Any]:
        spec = self.spec
        tokens = {name: token for name, token in (("bos", spec.bos), ("eos", spec.eos)) if token is not None}
        optional = {name: getattr(spec, name) for name in
                    ("system", "alternation", "reasoning", "thinking", "tools", "calls", "documents", "generation",
                     "output", "control", "message")}
        special: Dict[str, Dict[str, Any]] = {
            "path": {}, "tool_use_spec": {}, "bos": {}, "eos": {}, "start_when": {},
            "start": {"start": self.choice(spec.start_when, spec.start)} if spec.start_when or spec.start != EMPTY
            else {},
            "variables": {"variables": {v.name: variable(v, self) for v in spec.variables}} if spec.variables else {},
            "roles": {"roles": {r.name: self.role(r) for r in spec.roles}} if spec.roles else {},
            "any_role": {"any_role": self.role(spec.any_role)} if spec.any_role is not None else {},
            "parts": {"parts": self.parts()} if spec.parts is not None else {},
        }
        writers: Dict[str, Callable[[Any], Dict[str, Any]]] = {
            "system": self.system, "reasoning": self.reasoning, "calls": self.calls, "documents": self.documents,
            "tools": self.tools,
            "generation": self.generation, "output": self.output, "control": self.control}
        for name, value in optional.items():
            written = None if value is None else writers.get(name, self.plain)(value)
            # [system], [generation], [control] and [message] are always there: an empty one says nothing.
            keep = written is not None and (written or name not in ("system", "generation", "control", "message"))
            special[name] = {name: written} if keep else {}
        out = self.fields(spec, special)
        if tokens:
            out["tokens"] = tokens
        return dict(sorted(out.items(), key=lambda item: _ORDER.index(item[0]) if item[0] in _ORDER else len(_ORDER)))

    def plain(self, obj: Any) -> Dict[str, Any]:
        return self.fields(obj, {})

    def role(self, role: Role) -> Dict[str, Any]:
        return self.fields(role, {
            "name": {}, "prefix_when": {}, "suffix_when": {}, "attach_text": {},
            "prefix": {"prefix": self.choice(role.prefix_when, role.prefix)}
            if role.prefix_when or role.prefix != EMPTY else {},
            "suffix": {"suffix": self.choice(role.suffix_when, role.suffix)}
            if role.suffix_when or role.suffix != EMPTY else {},
            "prefix_after": {"prefix_after": self.by_role(role.prefix_after)} if role.prefix_after else {},
            "strip_reasoning": {"strip_reasoning": self.plain(role.strip_reasoning)}
            if role.strip_reasoning is not None else {},
            "attach_field": {"attach": {"field": role.attach_field, "text": self.text(role.attach_text or EMPTY)}}
            if role.attach_field is not None else {},
        })

    def system(self, system: System) -> Dict[str, Any]:
        if system.default_parts:
            # A part of one unconditional text is a plain string, as the loader reads one.
            default: Any = [self.text(part[0][1]) if len(part) == 1 else self.choice(part[:-1], part[-1][1])
                            for part in system.default_parts]
        elif system.default is not None:
            default = self.choice(system.default_variants, system.default)
        return self.fields(system, {
            "default_parts": {}, "default_variants": {}, "prefix_when": {}, "item_suffix_when": {},
            "default": {} if system.default is None else {"default": default},
            "prefix": {"prefix": self.choice(system.prefix_when, system.prefix)}
            if system.prefix_when or system.prefix != EMPTY else {},
            "item_suffix": {"item_suffix": self.choice(system.item_suffix_when, system.item_suffix)}
            if system.item_suffix_when or system.item_suffix != EMPTY else {},
            "refuse_message": {} if system.refuse_message is None else {"message": system.refuse_message},
            "override": {} if system.override is None else {"override": self.plain(system.override)},
            "after": {"after": self.choice(system.after[:-1], system.after[-1][1])} if system.after else {},
        })

    def generation(self, generation: Generation) -> Dict[str, Any]:
        return self.fields(generation, {
            "prompt_when": {},
            "prompt": {"prompt": self.choice(generation.prompt_when, generation.prompt)}
            if generation.prompt_when or generation.prompt != EMPTY else {},
            "prompt_after": {"prompt_after": self.by_role(generation.prompt_after)} if generation.prompt_after else {},
            "otherwise_after": {"otherwise_after": self.by_role(generation.otherwise_after)}
            if generation.otherwise_after else {},
        })

    def reasoning(self, display: ReasoningDisplay) -> Dict[str, Any]:
        # Every show but "given" needs a template, even an empty one.
        return self.fields(display, {"template": {} if display.show == "given"
                                     else {"template": self.text(display.template)}})

    def tools(self, tools: Tools) -> Dict[str, Any]:
        return self.fields(tools, {"builtin": {"builtin": dict(tools.builtin)} if tools.builtin else {}})

    def control(self, control: Control) -> Dict[str, Any]:
        return self.fields(control, {"escapes": {"escape": dict(control.escapes)} if control.escapes else {}})

    def calls(self, calls: Calls) -> Dict[str, Any]:
        # The loader's default for ignore depends on whether a call text writes {type}.
        ignored = ("id",) if calls.typed else ("id", "type")
        return self.fields(calls, {
            "call_when": {},
            "call": {"call": self.choice(calls.call_when, calls.call)},
            "ignore": {} if calls.ignore == ignored else {"ignore": list(calls.ignore)},
            "parameter": {"parameter": self.text(calls.parameter)} if calls.arguments == "parameters" else {},
            "refuse_when": {} if calls.refuse_when is None else {"refuse_when": condition(calls.refuse_when)},
        })

    def documents(self, documents: Documents) -> Dict[str, Any]:
        return self.fields(documents, {
            "item": {"item": self.text(documents.item)},
            "keys": {"keys": dict(documents.keys)} if documents.keys else {},
            "optional": {"optional": self.by_role(documents.optional)} if documents.optional else {},
        })

    def output(self, output: Output) -> Dict[str, Any]:
        return self.fields(output, {
            "prefix_when": {},
            "prefix": {} if output.prefix is None else {"prefix": self.choice(output.prefix_when, output.prefix)},
            "call": {"call": [self.text(t) for t in output.call]} if output.call else {},
        })

    def parts(self) -> Dict[str, Any]:
        parts = self.spec.parts
        assert parts is not None
        kinds = {k.name: self.part_kind(k) for k in parts.kinds if k != TEXT_PART}
        return dict(self.fields(parts, {"kinds": {}}), **kinds)

    def part_kind(self, kind: PartKind) -> Dict[str, Any]:
        types = {} if kind.types == (kind.name,) else {"types": list(kind.types)}  # the loader's default
        return self.fields(kind, {"name": {}, "types": types})


def variable(var: Variable, surface: _Surface) -> Dict[str, Any]:
    """A variable's table: a mapping's ``when_given``, a switch's default and texts, or a text's source."""
    if var.is_number:
        number: Dict[str, Any] = {"number": var.number}
        if var.lookup_slot is not None:
            number["lookup"] = {"slot": var.lookup_slot, "at_most": [list(pair) for pair in var.lookup]}
        return number
    if var.when_given is not None:
        before, after = var.when_given
        return {"when_given": surface.literal(before) + "{json}" + surface.literal(after)}
    if var.is_switch:
        out: Dict[str, Any] = {"default": var.switch_default}
        if var.when_true or var.when_false:  # a switch with two empty texts is a mode alone ([thinking])
            out.update(when_true=var.when_true, when_false=var.when_false)
        return out
    out = {"default": var.default} if var.default is not None else {"strftime": var.strftime} \
        if var.strftime is not None else {"required": True}
    if var.serialiser is not None:
        out["serialiser"] = var.serialiser
    if var.empty_default:
        out["empty"] = "default"
    if var.nonblank is not None:
        before, after = var.nonblank
        out["nonblank"] = surface.literal(before) + "{value}" + surface.literal(after)
    return out


def condition(cond: Condition) -> Dict[str, Any]:
    """A variant's ``when`` table: the facts given, a list of one role as the role alone."""
    out: Dict[str, Any] = {}
    for field in attrs.fields(Condition):
        value = getattr(cond, field.name)
        if value is None:
            continue
        key = "name" if field.name == "call_name" else field.name  # a call's function name
        if field.name == "has":
            keys: Dict[str, List[str]] = {}
            for variable_name, key_name in value:
                keys.setdefault(variable_name, []).append(key_name)
            out[key] = {name: names[0] if len(names) == 1 else names for name, names in keys.items()}
        elif field.name == "equals":
            out[key] = dict(value)
        elif isinstance(value, tuple):
            out[key] = value[0] if len(value) == 1 else list(value)
        elif isinstance(value, bool):
            out[key] = value
        else:
            raise TypeError(f"dump cannot write the condition {field.name} = {value!r}")
    return out


# --- TOML ------------------------------------------------------------------------------------------------------

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+\Z")
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def write_toml(mapping: Mapping[str, Any]) -> str:
    """``mapping`` (strings, integers, floats, booleans, lists and mappings, string keys) as TOML 1.0:
    mappings at the top level and at ``SUB_TABLES`` under a ``[header]``, other mappings inline,
    strings as one-line basic strings. Any other value is a ``TypeError``."""
    lines: List[str] = []
    _table(mapping, (), lines)
    return "\n".join(lines) + "\n"


def _is_header(path: Tuple[str, ...], value: Any) -> bool:
    if not isinstance(value, Mapping):
        return False
    return len(path) == 1 or (len(path) == 2 and any(
        path[0] == table and key in ("*", path[1]) for table, key in SUB_TABLES))


def _table(table: Mapping[str, Any], path: Tuple[str, ...], lines: List[str]) -> None:
    plain = [(k, v) for k, v in table.items() if not _is_header(path + (k,), v)]
    tables = [(k, v) for k, v in table.items() if _is_header(path + (k,), v)]
    # A table holding only tables needs no header of its own: theirs declare it.
    if path and (plain or not tables):
        if lines:
            lines.append("")
        lines.append("[" + ".".join(map(_key, path)) + "]")
    for key, value in plain:
        lines.append(f"{_key(key)} = {_value(value, 0)}")
    for key, value in tables:
        _table(value, path + (key,), lines)


def _key(key: str) -> str:
    if not isinstance(key, str):
        raise TypeError(f"a TOML key is a string, not {key!r}")
    return key if _BARE_KEY.match(key) else _string(key)


def _value(value: Any, depth: int) -> str:
    if isinstance(value, list):
        if not value:
            return "[]"
        if all(_is_scalar(v) for v in value):
            one_line = "[" + ", ".join(map(_scalar, value)) + "]"
            if len(one_line) + 4 * depth <= WIDTH:
                return one_line
        # Arrays of tables and arrays (variants, a default's parts) and long ones: an item a line.
        inner = "    " * (depth + 1)
        return "[\n" + "".join(f"{inner}{_value(v, depth + 1)},\n" for v in value) + "    " * depth + "]"
    if isinstance(value, Mapping):
        return _inline(value)
    return _scalar(value)


def _inline(value: Any) -> str:
    """A value on one line (inline tables cannot span lines in TOML 1.0)."""
    if isinstance(value, Mapping):
        if not value:
            return "{}"
        return "{ " + ", ".join(f"{_key(k)} = {_inline(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(map(_inline, value)) + "]"
    return _scalar(value)


def _is_scalar(value: Any) -> bool:
    return isinstance(value, (str, int, float))  # bool is an int


def _scalar(value: Any) -> str:
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        if not -2**63 <= value < 2**63:
            raise ValueError(f"{value} is out of TOML's integer range (64 bits)")
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)  # '1.5', '1e+16': both TOML floats
    raise TypeError(f"TOML cannot hold {type(value).__name__} values: {value!r}")


def _string(value: str) -> str:
    """A one-line basic string. Characters that do not print (controls, U+2028, U+200B, no-break
    space) are escaped as well as those TOML requires, so that a reader sees them."""
    out = []
    for ch in value:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ch.isprintable():
            out.append(ch)
        elif "\ud800" <= ch <= "\udfff":
            raise ValueError(f"a lone surrogate ({ord(ch):#x}) is not Unicode text, which TOML holds")
        else:
            out.append("\\u%04x" % ord(ch) if ord(ch) <= 0xFFFF else "\\U%08x" % ord(ch))
    return '"' + "".join(out) + '"'
