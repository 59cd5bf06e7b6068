"""Checking a parsed format file and building its ``FormatSpec``.

Every problem becomes a ``FormatError`` that names the file, the line and the
dotted key. Unknown keys are errors with a suggestion, never ignored: a typo
in a format must not silently change a prompt.
"""

from __future__ import annotations

import keyword
import re
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Tuple

from ..errors import FormatError
from . import model
from .model import (
    EMPTY,
    Alternation,
    Calls,
    Condition,
    Control,
    Documents,
    FormatSpec,
    Generation,
    MessageRules,
    Output,
    Override,
    Parts,
    Reasoning,
    ReasoningDisplay,
    Role,
    Slot,
    System,
    Text,
    Thinking,
    Tools,
    Variable,
)
from .toml import line_of, locate_keys

_NAME = re.compile(r"[a-z0-9][a-z0-9._-]*\Z")
#: Limits that keep generated code small and shallow; real formats are far below them.
MAX_ROLES = 256
MAX_PLACEHOLDERS = 64
_FINGERPRINT = re.compile(r"sha256:[0-9a-f]{64}\Z")
_MODEL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*\Z")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")

#: Names a variable may not take: they are placeholders or render arguments already.
RESERVED = frozenset(
    {"role", "content", "system", "reasoning", "bos", "eos", "messages", "conversations", "add_generation_prompt",
     "continue_final_message", "control_tokens", "render", "render_many", "render_spans", "tools", "documents",
     "strict", "errors", "tool_call_id", "call_number", "number", "name"}
)

_TYPE_NAMES = {str: "a string", bool: "a boolean", int: "an integer", float: "a float", list: "an array",
               dict: "a table"}


def _type_name(value: Any) -> str:
    for kind, name in _TYPE_NAMES.items():
        if type(value) is kind:
            return name
    return type(value).__name__


class Checker:
    """Validation state: the file, its text, and the tokens and variables declared."""

    def __init__(self, path: Optional[str], text: str) -> None:
        self.path = path
        self.source = text
        self.tokens: Dict[str, str] = {}
        self.variables: Dict[str, Variable] = {}
        #: Lookup slots of number variables -> their variable.
        self.derived: Dict[str, str] = {}
        self.used: set = set()
        #: Switches declared without texts (they set [thinking]).
        self.flags: set = set()
        #: Keys of variants that test the thinking mode (which [thinking] must declare).
        self.thinking_keys: List[str] = []

    def fail(self, key: Optional[str], reason: str) -> FormatError:
        # Key lines are worked out only when an error needs one: valid files load faster.
        return FormatError(reason, path=self.path, line=line_of(locate_keys(self.source), key), key=key)

    def table(self, raw: Any, key: str, allowed: Iterable[str]) -> Dict[str, Any]:
        if not isinstance(raw, dict):
            raise self.fail(key, f"expected a table, got {_type_name(raw)}")
        allowed = tuple(allowed)
        for name in raw:
            if name not in allowed:
                full = f"{key}.{name}" if key else name
                raise self.fail(full, "unknown key" + _suggest(name, allowed))
        return raw

    def names_table(self, raw: Mapping[str, Any], key: str) -> Dict[str, Any]:
        """A table whose keys are names the file chooses (roles, variables)."""
        value = raw.get(key, {})
        return self.table(value, key, tuple(value) if isinstance(value, dict) else ())

    def string(self, raw: Mapping[str, Any], key: str, name: str, default: Any = None, *, empty: bool = True) -> Any:
        if name not in raw:
            return default
        value = raw[name]
        full = f"{key}.{name}" if key else name
        if not isinstance(value, str):
            raise self.fail(full, f"expected a string, got {_type_name(value)}")
        if not empty and not value:
            raise self.fail(full, "must not be empty")
        return value

    def boolean(self, raw: Mapping[str, Any], key: str, name: str) -> bool:
        value = raw.get(name, False)
        if not isinstance(value, bool):
            raise self.fail(f"{key}.{name}", f"expected a boolean, got {_type_name(value)}")
        return value

    def choice(self, raw: Mapping[str, Any], key: str, name: str, choices: Tuple[str, ...], default: str) -> str:
        value = self.string(raw, key, name, default)
        if value not in choices:
            raise self.fail(
                f"{key}.{name}",
                f"expected one of {', '.join(map(repr, choices))}, got {value!r}" + _suggest(value, choices),
            )
        return value

    def strings(self, raw: Mapping[str, Any], name: str, check: Optional[Callable[[str], Optional[str]]] = None,
                key: str = "") -> Tuple[str, ...]:
        if name not in raw:
            return ()
        value = raw[name]
        full = f"{key}.{name}" if key else name
        if not isinstance(value, list):
            raise self.fail(full, f"expected an array of strings, got {_type_name(value)}")
        seen = set()
        for index, item in enumerate(value):
            if not isinstance(item, str):
                raise self.fail(full, f"item {index}: expected a string, got {_type_name(item)}")
            problem = check(item) if check else None
            if problem:
                raise self.fail(full, f"item {index} ({item!r}): {problem}")
            if item in seen:
                raise self.fail(full, f"item {index} ({item!r}) is listed twice")
            seen.add(item)
        return tuple(value)

    def text(self, raw: Mapping[str, Any], key: str, name: str, slots: Tuple[str, ...] = (), default: str = "") -> Text:
        value = self.string(raw, key, name)
        full = f"{key}.{name}" if key else name
        return self.parse_text(default if value is None else value, full, slots)

    def by_role(
        self, raw: Mapping[str, Any], key: str, name: str, slots: Tuple[str, ...]
    ) -> Tuple[Tuple[str, Text], ...]:
        """A table of role name -> text, e.g. ``prompt_after = {assistant = ""}``."""
        if name not in raw:
            return ()
        table = self.names_table(raw, name) if not key else self.table(
            raw[name], f"{key}.{name}", tuple(raw[name]) if isinstance(raw[name], dict) else ())
        return tuple((role, self.text(table, f"{key}.{name}", role, slots)) for role in table)

    def parse_text(self, value: str, key: str, slots: Tuple[str, ...]) -> Text:
        """Split ``value`` at ``{name}`` placeholders; ``{{`` and ``}}`` are literal braces."""
        if "{" not in value and "}" not in value:  # most texts: no placeholder to look for (load time)
            return Text((value,)) if value else EMPTY
        pieces: List[Any] = []
        literal: List[str] = []
        position = 0
        for match in _PLACEHOLDER.finditer(value):
            literal.append(value[position:match.start()])
            position = match.end()
            token = match.group(0)
            if token in ("{{", "}}"):
                literal.append(token[0])
                continue
            name = match.group(1)
            if name is None:
                raise self.fail(
                    key, f"unmatched {token!r} at character {match.start()}; write {token * 2!r} for a literal brace"
                )
            name = name.strip()
            if name in ("bos", "eos"):
                if name not in self.tokens:
                    raise self.fail(key, f"uses {{{name}}} but tokens.{name} is not declared")
                literal.append(self.tokens[name])
                continue
            known = tuple(slots) + tuple(self.variables) + tuple(self.derived)
            if name not in known:
                allowed = tuple(self.tokens) + known
                usable = (
                    ("here you can use " + ", ".join("{%s}" % a for a in allowed)) if allowed else "none is usable here"
                )
                raise self.fail(
                    key,
                    f"unknown placeholder {{{name}}} ({usable}; declare variables under [variables.NAME], "
                    "write {{ and }} for literal braces)" + _suggest(name, allowed),
                )
            self.used.add(self.derived.get(name, name))
            if sum(isinstance(p, Slot) for p in pieces) >= MAX_PLACEHOLDERS:
                raise self.fail(key, f"more than {MAX_PLACEHOLDERS} placeholders in one string")
            if literal:
                pieces.append("".join(literal))
                literal = []
            pieces.append(Slot(name))
        literal.append(value[position:])
        if "".join(literal):
            pieces.append("".join(literal))
        return Text(tuple(pieces))


def _suggest(name: str, choices: Iterable[str]) -> str:
    import difflib

    close = difflib.get_close_matches(str(name), list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


_TOP = ("templates",
        "name", "description", "models", "stop", "start", "start_when_first", "tokens", "variables", "system", "roles",
        "any_role", "reasoning", "alternation", "generation", "control", "message", "parts", "tools", "calls",
        "tool_use", "tool_use_of", "thinking", "output", "documents")
_ROLE_KEYS = ("prefix", "suffix", "trim", "skip_empty", "drop", "refuse", "when_empty", "final_suffix",
              "final_suffix_with_prompt", "prefix_after", "strip_reasoning", "refuse_containing",
              "refuse_containing_message", "content", "remove", "attach", "tool_call_id")
_TAKEN_OUT = ("default", "default_when", "trim", "leading_roles", "skip_empty", "keep_empty", "wrap")
_SYSTEM_KEYS = {
    "message": ("placement", "default", "default_when", "leading_roles"),
    "block": ("placement", "prefix", "suffix", "remove", "override", "refuse_alone", "default_unless", "after")
    + _TAKEN_OUT,
    "fold_first": ("placement", "fold", "fold_order") + _TAKEN_OUT,
    "fold_last": ("placement", "fold", "fold_order") + _TAKEN_OUT,
    "hoist": ("placement", "prefix", "suffix", "trim", "select", "join", "item_prefix", "item_suffix",
              "leading_roles"),
    "refuse": ("placement", "message", "leading_roles"),
}


def _check_field(value: str) -> Optional[str]:
    if value in ("role", "content"):
        return "every format writes 'role' and 'content'; they cannot be ignored"
    return None


def _check_fingerprint(value: str) -> Optional[str]:
    if not _FINGERPRINT.match(value):
        return "not a template fingerprint 'sha256:' + 64 lower-case hex digits (promptcraft identify FILE prints it)"
    return None


def _check_model_id(value: str) -> Optional[str]:
    if not _MODEL_ID.match(value):
        return "not a Hugging Face model id of the form 'organisation/name'"
    return None


def build_spec(raw: Dict[str, Any], path: Optional[str], text: str) -> FormatSpec:
    """Validate ``raw``, parsed from the TOML ``text``, and return the format it declares."""
    check = Checker(path, text)
    check.table(raw, "", _TOP)

    name = check.string(raw, "", "name")
    if name is None:
        raise check.fail(None, "missing required key 'name'")
    if not _NAME.match(name):
        raise check.fail("name", f"{name!r} is not a format name: use lower-case letters, digits, '.', '_' and '-'")
    description = check.string(raw, "", "description", "")
    models = check.strings(raw, "models", _check_model_id)
    templates = check.strings(raw, "templates", _check_fingerprint)
    stop = check.strings(raw, "stop", lambda s: None if s else "a stop string must not be empty")

    tokens = check.table(raw.get("tokens", {}), "tokens", ("bos", "eos"))
    for token in ("bos", "eos"):
        value = check.string(tokens, "tokens", token, empty=False)
        if value is not None:
            check.tokens[token] = value

    variables = check.names_table(raw, "variables")
    for var_name, decl in variables.items():
        key = f"variables.{var_name}"
        if not _IDENT.match(var_name) or keyword.iskeyword(var_name):
            raise check.fail(key, f"{var_name!r} is not a valid variable name (letters, digits and '_')")
        if var_name in RESERVED or var_name.startswith("_"):
            # A variable becomes a parameter of the generated renderer: it may shadow neither a render
            # argument nor the generated code's own names, which all start with '_' (builtins included).
            raise check.fail(key, f"{var_name!r} is reserved; choose another variable name (not starting with '_')")
        if var_name in check.derived:
            raise check.fail(key, f"{var_name!r} is the lookup slot of the number variable "
                                  f"{check.derived[var_name]!r}; choose another name")
        check.table(decl, key, ("default", "strftime", "required", "when_true", "when_false", "serialiser",
                                "when_given", "number", "lookup", "empty", "nonblank"))
        if "number" in decl:
            check.variables[var_name] = _number(check, decl, key, var_name)
            continue
        if "lookup" in decl:
            raise check.fail(f"{key}.lookup", "used by a number variable only (number = DEFAULT)")
        for extra in ("empty", "nonblank"):
            if extra in decl and ("when_given" in decl or "when_true" in decl or "when_false" in decl
                                  or isinstance(decl.get("default"), bool)):
                raise check.fail(f"{key}.{extra}", "used by a text variable only")
        if "when_given" in decl:
            unused = [k for k in decl if k != "when_given"]
            if unused:
                raise check.fail(f"{key}.{unused[0]}", "not used by a mapping variable (when_given)")
            given = check.text(decl, key, "when_given", ("json",))
            if given.names != ("json",):
                raise check.fail(f"{key}.when_given", "must write the mapping once, as {json}")
            at = given.pieces.index(Slot("json"))
            before, after = ("".join(p for p in part if isinstance(p, str)) for part in
                             (given.pieces[:at], given.pieces[at + 1:]))
            check.variables[var_name] = Variable(var_name, when_given=(before, after))
            continue
        if "when_true" in decl or "when_false" in decl or isinstance(decl.get("default"), bool):
            when_true = check.string(decl, key, "when_true")
            when_false = check.string(decl, key, "when_false")
            if (when_true is None) != (when_false is None):
                raise check.fail(key, "a switch declares both 'when_true' and 'when_false'")
            default = decl.get("default", False)
            if not isinstance(default, bool):
                raise check.fail(f"{key}.default", f"a switch's default is true or false, got {_type_name(default)}")
            for extra in ("strftime", "required", "serialiser"):
                if extra in decl:
                    raise check.fail(f"{key}.{extra}", "not used by a switch (when_true/when_false)")
            # A switch without texts (default = true alone) only sets a mode ([thinking] variable).
            check.variables[var_name] = Variable(var_name, when_true=when_true or "", when_false=when_false or "",
                                                 switch_default=default)
            if when_true is None:
                check.flags.add(var_name)
            continue
        default = check.string(decl, key, "default")
        strftime = check.string(decl, key, "strftime", empty=False)
        required = check.boolean(decl, key, "required")
        if sum((default is not None, strftime is not None, required)) != 1:
            raise check.fail(key, "declare exactly one of 'default' (a fixed text), 'strftime' (today's date) "
                                  "or 'required = true'")
        if strftime is not None and "%" not in strftime:
            raise check.fail(f"{key}.strftime", f"{strftime!r} has no % directive; use 'default' for fixed text")
        serialiser = check.choice(decl, key, "serialiser", model.SERIALISERS, "") or None \
            if "serialiser" in decl else None
        if serialiser is not None and strftime is not None:
            raise check.fail(f"{key}.serialiser", "not used with 'strftime' (a date is text)")
        if serialiser is not None and default is not None:
            import json

            try:
                json.loads(default)
            except ValueError:
                raise check.fail(f"{key}.default", f"not JSON text, which a variable written by the serialiser "
                                                   f"{serialiser!r} takes") from None
        empty_default = check.choice(decl, key, "empty", ("default",), "default") == "default" \
            if "empty" in decl else False
        if empty_default and default is None:
            raise check.fail(f"{key}.empty", "takes the variable's 'default' for an empty string: declare one")
        nonblank = None
        if "nonblank" in decl:
            if serialiser is not None:
                raise check.fail(f"{key}.nonblank", "not used with 'serialiser' (JSON text is never blank)")
            around = check.text(decl, key, "nonblank", ("value",))
            if around.names != ("value",):
                raise check.fail(f"{key}.nonblank", "must write the value once, as {value}")
            at = around.pieces.index(Slot("value"))
            before, after = ("".join(p for p in part if isinstance(p, str))
                             for part in (around.pieces[:at], around.pieces[at + 1:]))
            nonblank = (before, after)
        check.variables[var_name] = Variable(var_name, default=default, strftime=strftime, required=required,
                                             serialiser=serialiser, empty_default=empty_default, nonblank=nonblank)

    start_decl, start_when = _variants(check, raw, "", "start", (), ("tools",))
    start = check.text(start_decl, "", "start")
    start_when_first = check.strings(raw, "start_when_first")
    system = _system(check, raw.get("system", {}))
    roles = []
    declared_roles = check.names_table(raw, "roles")
    if len(declared_roles) > MAX_ROLES:
        raise check.fail("roles", f"{len(declared_roles)} roles declared; a format may declare at most {MAX_ROLES}")
    shown = raw.get("reasoning")
    given_role = shown.get("role", "assistant") if isinstance(shown, dict) and shown.get("show") == "given" else None
    for role_name, decl in declared_roles.items():
        if not role_name or role_name != role_name.strip():
            raise check.fail(f"roles.{role_name}", "a role name must be non-empty without surrounding spaces")
        roles.append(_role(check, decl, f"roles.{role_name}", role_name, writes_reasoning=role_name == given_role))
    any_role = _role(check, raw["any_role"], "any_role", "*") if "any_role" in raw else None

    alternation = None
    if "alternation" in raw:
        decl = check.table(raw["alternation"], "alternation", ("message", "skip_roles", "skip_calls"))
        message = check.string(decl, "alternation", "message", empty=False)
        if message is None:
            raise check.fail("alternation", "missing required key 'message' (the refusal text)")
        skip = check.strings(decl, "skip_roles", lambda r: "the user's messages are what alternates"
                             if r == "user" else None, key="alternation")
        alternation = Alternation(message, skip_roles=skip,
                                  skip_calls=check.boolean(decl, "alternation", "skip_calls"))

    generation_raw = check.table(raw.get("generation", {}), "generation",
                                 ("prompt", "otherwise", "prompt_after", "otherwise_after", "require_body"))
    generation_raw, prompt_when = _variants(check, generation_raw, "generation", "prompt", (), _PROMPT_CONDITIONS)
    generation = Generation(
        prompt=check.text(generation_raw, "generation", "prompt"),
        otherwise=check.text(generation_raw, "generation", "otherwise"),
        prompt_after=check.by_role(generation_raw, "generation", "prompt_after", ()),
        otherwise_after=check.by_role(generation_raw, "generation", "otherwise_after", ()),
        require_body=check.boolean(generation_raw, "generation", "require_body"),
        prompt_when=prompt_when,
    )
    if prompt_when and generation.prompt_after:
        raise check.fail("generation.prompt_after", "conflicts with variants of 'prompt' (use when = {previous = ...})")

    control = _control(check, raw.get("control", {}))
    reasoning = _reasoning(check, raw["reasoning"]) if "reasoning" in raw else None
    message = check.table(raw.get("message", {}), "message", ("ignore",))
    ignore = check.strings(message, "ignore", _check_field, key="message")
    parts = _parts(check, raw["parts"]) if "parts" in raw else None

    tools = _tools(check, raw["tools"]) if "tools" in raw else None
    calls = _calls(check, raw["calls"]) if "calls" in raw else None
    tool_use = check.string(raw, "", "tool_use", empty=False)
    tool_use_of = check.strings(raw, "tool_use_of", _check_model_id)
    thinking = _thinking(check, raw["thinking"]) if "thinking" in raw else None
    output = _output(check, raw["output"], calls) if "output" in raw else None
    documents = _documents(check, raw["documents"]) if "documents" in raw else None

    spec = FormatSpec(
        name=name, path=path, description=description, models=models, templates=templates, stop=stop,
        bos=check.tokens.get("bos"), eos=check.tokens.get("eos"), start=start, start_when_first=start_when_first,
        start_when=start_when,
        system=system,
        roles=tuple(roles), any_role=any_role, alternation=alternation, generation=generation,
        variables=tuple(check.variables.values()), control=control, reasoning=reasoning,
        message=MessageRules(ignore=ignore), parts=parts, tools=tools, calls=calls, tool_use=tool_use,
        tool_use_of=tool_use_of, thinking=thinking, output=output, documents=documents,
    )
    _cross_checks(check, spec)
    return spec


_CONDITIONS = ("previous", "next", "first", "final", "generation_prompt", "empty", "given_empty", "calls", "tools",
               "earlier", "earlier_calls", "thinking", "previous_message", "documents", "named", "has", "opening",
               "reasoning", "equals")
#: Facts of the request, not of a message: what a system text (its prefix, its default) can test.
_REQUEST_CONDITIONS = ("tools", "thinking", "documents", "has", "equals")
#: A call's variants: its position among the message's calls (first, last), whether the message's answer
#: is empty, whether an earlier message had calls, whether the message is the conversation's last, and
#: the call's function name.
_CALL_CONDITIONS = ("first", "empty", "earlier_calls", "final", "name", "last")
#: The generation prompt's variants: the role written last, the conversation's last message, the thinking mode.
_PROMPT_CONDITIONS = ("previous", "previous_message", "thinking", "equals")


def _variants(check: Checker, decl: Dict[str, Any], key: str, name: str, slots: Tuple[str, ...],
              conditions: Tuple[str, ...] = _CONDITIONS) -> Tuple[Dict[str, Any], Tuple[Any, ...]]:
    """A text key given as ``[{when = {...}, text = "..."}, ..., {text = "..."}]``: the declaration with
    the key replaced by its last (unconditional) text, and the conditional variants before it."""
    value = decl.get(name)
    if not isinstance(value, list):
        return decl, ()
    full = f"{key}.{name}" if key else name
    if not value:
        raise check.fail(full, 'an array of variants needs at least the last one, {text = "..."}')
    variants = []
    for position, item in enumerate(value):
        where = f"{full}[{position}]"
        if not isinstance(item, dict):
            raise check.fail(full, f'item {position}: expected a table {{when = {{...}}, text = "..."}}, '
                                   f"got {_type_name(item)}")
        check.table(item, where, ("when", "text"))
        if "text" not in item:
            raise check.fail(where, "missing 'text'")
        if position == len(value) - 1:
            if "when" in item:
                raise check.fail(f"{where}.when", "the last variant is the default: it takes no 'when'")
            break
        if "when" not in item:
            raise check.fail(where, "only the last variant may leave out 'when' (a variant without it "
                                    "would hide the ones after it)")
        when = check.table(item["when"], f"{where}.when", conditions)
        if not when:
            raise check.fail(f"{where}.when", "give at least one condition")
        facts: Dict[str, Any] = {}
        for fact in ("previous", "next", "earlier", "previous_message"):
            if fact in when:
                roles = when[fact]
                roles = [roles] if isinstance(roles, str) else roles
                if not isinstance(roles, list) or not roles or not all(isinstance(r, str) and r for r in roles):
                    raise check.fail(f"{where}.when.{fact}", "expected a role name or an array of role names")
                facts[fact] = tuple(roles)
        for fact in ("first", "final", "generation_prompt", "empty", "given_empty", "calls", "tools", "earlier_calls",
                     "thinking", "documents", "named", "opening", "reasoning", "last"):
            if fact in when:
                facts[fact] = check.boolean(when, f"{where}.when", fact)
        if "name" in when:  # a call's function name (call variants only)
            names = when["name"]
            names = [names] if isinstance(names, str) else names
            if not isinstance(names, list) or not names or not all(isinstance(n, str) and n for n in names):
                raise check.fail(f"{where}.when.name", "expected a function name or an array of names")
            facts["call_name"] = tuple(names)
        if "thinking" in when:
            check.thinking_keys.append(f"{where}.when.thinking")
        if "has" in when:
            facts["has"] = _has(check, when["has"], f"{where}.when.has")
        if "equals" in when:
            facts["equals"] = _equals(check, when["equals"], f"{where}.when.equals")
        if "role" in slots and not facts.get("named"):
            _no_name(check, item.get("text"), f"{where}.text")
        text = check.text(item, where, "text", slots + (("name",) if facts.get("named") else ()))
        variants.append((Condition(**facts), text))
    return dict(decl, **{name: value[-1]["text"]}), tuple(variants)


def _is_number(value: Any) -> bool:
    """An integer or a finite float (TOML's nan and inf have no literal in generated code)."""
    import math

    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _number(check: Checker, decl: Dict[str, Any], key: str, name: str) -> Variable:
    """``number = DEFAULT`` and its optional ``lookup = {slot = "...", at_most = [[bound, value], ...]}``."""
    unused = [k for k in decl if k not in ("number", "lookup")]
    if unused:
        raise check.fail(f"{key}.{unused[0]}", "not used by a number variable (number = DEFAULT)")
    default = decl["number"]
    if not _is_number(default):
        raise check.fail(f"{key}.number", f"a number variable's default is an integer or a finite float, got "
                                          f"{_type_name(default)}")
    if "lookup" not in decl:
        return Variable(name, number=default)
    where = f"{key}.lookup"
    table = check.table(decl["lookup"], where, ("slot", "at_most"))
    slot = check.string(table, where, "slot", empty=False)
    if slot is None or "at_most" not in table:
        raise check.fail(where, "needs 'slot' (the placeholder it fills) and 'at_most' ([[bound, value], ...])")
    if not _IDENT.match(slot) or slot in RESERVED or slot.startswith("_") or keyword.iskeyword(slot) \
            or slot in check.variables or slot in check.derived:
        raise check.fail(f"{where}.slot", f"{slot!r} is not a free placeholder name (letters, digits and '_', "
                                          "not a variable's or a reserved name)")
    gears = table["at_most"]
    if not isinstance(gears, list) or not gears:
        raise check.fail(f"{where}.at_most", "expected a non-empty array of [bound, value] pairs")
    pairs: List[Tuple[Any, str]] = []
    for position, pair in enumerate(gears):
        if not (isinstance(pair, list) and len(pair) == 2 and _is_number(pair[0])
                and (_is_number(pair[1]) or isinstance(pair[1], str))):
            raise check.fail(f"{where}.at_most", f"item {position}: expected [bound, value], a number and a number "
                                                 "or a text")
        if pairs and not pair[0] > pairs[-1][0]:
            raise check.fail(f"{where}.at_most", f"item {position}: the bounds must increase ({pair[0]!r} after "
                                                 f"{pairs[-1][0]!r})")
        # Written as Jinja prints a number: Python's str().
        pairs.append((pair[0], pair[1] if isinstance(pair[1], str) else str(pair[1])))
    check.derived[slot] = name
    return Variable(name, number=default, lookup_slot=slot, lookup=tuple(pairs))


def _variable_of_kind(check: Checker, key: str, name: str, kind: str, declared_with: str) -> None:
    """A condition's ``{VARIABLE = ...}`` names a variable of this format of ``kind`` (``number``, ``mapping``)."""
    variable = check.variables.get(name)
    if variable is None or not getattr(variable, "is_" + kind):
        names = [v for v, d in check.variables.items() if getattr(d, "is_" + kind)]
        raise check.fail(f"{key}.{name}", f"not a {kind} variable of this format (declare it under "
                                          f"[variables.NAME] with {declared_with})" + _suggest(name, names))


def _equals(check: Checker, raw: Any, key: str) -> Tuple[Tuple[str, Any], ...]:
    """``equals = {VARIABLE = number}``: the number variable's value equals it."""
    table = check.table(raw, key, tuple(raw) if isinstance(raw, dict) else ())
    if not table:
        raise check.fail(key, "name a number variable and a number, e.g. {thinking_budget = 0}")
    pairs = []
    for name, value in table.items():
        _variable_of_kind(check, key, name, "number", "number = DEFAULT")
        if not _is_number(value):
            raise check.fail(f"{key}.{name}", f"expected a number, got {_type_name(value)}")
        check.used.add(name)
        pairs.append((name, value))
    return tuple(pairs)


def _no_name(check: Checker, value: Any, key: str) -> None:
    """A role's text writes ``{name}`` only where it knows the message has one."""
    if isinstance(value, str) and re.search(r"(?<!\{)\{\s*name\s*\}", value.replace("{{", "")):
        raise check.fail(key, "{name} is written only by a variant with when = {named = true} (the message "
                              "has a name)")


def _has(check: Checker, raw: Any, key: str) -> Tuple[Tuple[str, str], ...]:
    """``has = {VARIABLE = "key"}`` (or an array of keys): keys a mapping variable must have."""
    table = check.table(raw, key, tuple(raw) if isinstance(raw, dict) else ())
    if not table:
        raise check.fail(key, "name a mapping variable and a key, e.g. {controls = \"citations\"}")
    pairs = []
    for name, keys in table.items():
        _variable_of_kind(check, key, name, "mapping", "when_given")
        keys = [keys] if isinstance(keys, str) else keys
        if not isinstance(keys, list) or not keys or not all(isinstance(k, str) for k in keys):
            raise check.fail(f"{key}.{name}", "expected a key or an array of keys")
        check.used.add(name)
        pairs += [(name, k) for k in keys]
    return tuple(pairs)


def _role(check: Checker, decl: Any, key: str, name: str, writes_reasoning: bool = False) -> Role:
    check.table(decl, key, _ROLE_KEYS)
    slots = ("role", "tool_call_id", "call_number")
    # A declared role's prefix and suffix may name the previous call (Harmony's tool results).
    named = slots + (("call_name",) if name != "*" else ())
    # The role that writes reasoning given in its field ([reasoning] show = "given") writes it in its prefix.
    prefix_slots = named + ("reasoning",) if writes_reasoning else named
    # A role that attaches a field may write it in its prefix ({attach}) rather than after its content.
    prefix_slots += ("attach",) if isinstance(decl, dict) and "attach" in decl else ()
    decl, prefix_when = _variants(check, decl, key, "prefix", prefix_slots)
    decl, suffix_when = _variants(check, decl, key, "suffix", named)
    for text_key in ("prefix", "suffix", "when_empty", "final_suffix", "final_suffix_with_prompt"):
        _no_name(check, decl.get(text_key), f"{key}.{text_key}")
    when_empty = check.text(decl, key, "when_empty", slots) if "when_empty" in decl else None
    final_suffix = check.text(decl, key, "final_suffix", slots) if "final_suffix" in decl else None
    final_with = (
        check.text(decl, key, "final_suffix_with_prompt", slots) if "final_suffix_with_prompt" in decl else None
    )
    reasoning = None
    if "strip_reasoning" in decl:
        rkey = f"{key}.strip_reasoning"
        table = check.table(decl["strip_reasoning"], rkey, ("marker", "keep", "lstrip", "scope", "always",
                                                            "skip_after", "skip_calls"))
        reasoning = Reasoning(
            marker=check.string(table, rkey, "marker", "</think>", empty=False),
            keep=check.choice(table, rkey, "keep", model.KEEPS, "after_last"),
            lstrip=check.string(table, rkey, "lstrip", ""),
            scope=check.choice(table, rkey, "scope", model.SCOPES, "history"),
            always=check.boolean(table, rkey, "always"),
            skip_after=check.strings(table, "skip_after", lambda s: None if s else "a role name must not be empty",
                                     key=rkey),
            skip_calls=check.boolean(table, rkey, "skip_calls"),
        )
    attach_field = attach_text = None
    if "attach" in decl:
        akey = f"{key}.attach"
        table = check.table(decl["attach"], akey, ("field", "text"))
        attach_field = check.string(table, akey, "field", empty=False)
        if attach_field is None or "text" not in table:
            raise check.fail(akey, "needs 'field' (a message field) and 'text' (with {value}, the field's value)")
        reserved = ("role", "content", "tool_calls") + model.REASONING_FIELDS + model.OWN_REASONING_FIELDS
        if not _IDENT.match(attach_field) or attach_field in reserved:
            raise check.fail(f"{akey}.field", f"{attach_field!r} is not a field a role can attach (a name other than "
                                              "role, content, tool_calls and the reasoning fields)")
        attach_text = check.text(table, akey, "text", ("value",))
        if "value" not in attach_text.names:
            raise check.fail(f"{akey}.text", "must contain {value}, the field's value")
    prefix = check.text(decl, key, "prefix", prefix_slots)
    prefixes = [prefix] + [text for _, text in prefix_when]
    if any("attach" in text.names for text in prefixes) and (not all(
            text.names.count("attach") == 1 for text in prefixes) or "prefix_after" in decl):
        raise check.fail(f"{key}.prefix", "writes {attach} in some of its texts: each must write it once (and "
                                          "no prefix_after), or the field would be left out")
    role = Role(
        name=name,
        attach_field=attach_field,
        attach_text=attach_text,
        prefix=prefix,
        suffix=check.text(decl, key, "suffix", named),
        trim=check.choice(decl, key, "trim", model.TRIMS, "none"),
        skip_empty=check.boolean(decl, key, "skip_empty"),
        drop=check.boolean(decl, key, "drop"),
        refuse=check.string(decl, key, "refuse", empty=False),
        when_empty=when_empty,
        final_suffix=final_suffix,
        final_suffix_with_prompt=final_with,
        prefix_after=check.by_role(decl, key, "prefix_after", slots),
        strip_reasoning=reasoning,
        refuse_containing=check.strings(
            decl, "refuse_containing", lambda s: None if s else "must not be empty", key=key
        ),
        refuse_containing_message=check.string(decl, key, "refuse_containing_message", empty=False),
        prefix_when=prefix_when,
        suffix_when=suffix_when,
        content=check.choice(decl, key, "content", ("text", "json"), "text"),
        remove=check.strings(decl, "remove", lambda s: None if s else "must not be empty", key=key),
        tool_call_id=check.choice(decl, key, "tool_call_id", model.ID_FORMS, "") or None
        if "tool_call_id" in decl else None,
    )
    if role.tool_call_id is not None:
        texts = [role.prefix, role.suffix, role.when_empty, role.final_suffix, role.final_suffix_with_prompt]
        texts += [text for _, text in role.prefix_after + prefix_when + suffix_when]
        if not any(text is not None and "tool_call_id" in text.names for text in texts):
            raise check.fail(f"{key}.tool_call_id", "declared but no text of the role writes {tool_call_id}")
        if name == "*":
            raise check.fail(f"{key}.tool_call_id", "the catch-all role may write a message the format makes up, "
                                                    "which has no tool_call_id: declare the role that has one")
    if prefix_when and role.prefix_after:
        raise check.fail(f"{key}.prefix_after", "conflicts with variants of 'prefix' (use when = {previous = ...})")
    if suffix_when and (role.final_suffix is not None or role.final_suffix_with_prompt is not None):
        raise check.fail(f"{key}.final_suffix", "conflicts with variants of 'suffix' "
                                                "(use when = {final = true, generation_prompt = ...})")
    if role.drop or role.refuse is not None:
        which = "drop" if role.drop else "refuse"
        extra = [k for k in decl if k not in (which,)]
        if extra:
            raise check.fail(
                f"{key}.{extra[0]}",
                f"conflicts with '{which}': a {'dropped' if role.drop else 'refused'} role writes nothing",
            )
    if role.skip_empty and role.when_empty is not None:
        raise check.fail(f"{key}.when_empty", "conflicts with 'skip_empty' (which is when_empty = \"\")")
    if role.attach_field is not None and role.when_empty is not None:
        # (With skip_empty, an empty message with the field is refused.)
        raise check.fail(f"{key}.attach", "conflicts with when_empty: an empty message would leave its attached "
                                          "field out")
    if role.refuse_containing_message is not None and not role.refuse_containing:
        raise check.fail(f"{key}.refuse_containing_message", "needs 'refuse_containing'")
    return role


def _system(check: Checker, decl: Any) -> System:
    known = sorted({k for keys in _SYSTEM_KEYS.values() for k in keys})
    check.table(decl, "system", known)
    placement = check.choice(decl, "system", "placement", model.PLACEMENTS, "message")
    allowed = _SYSTEM_KEYS[placement]
    for key in decl:
        if key not in allowed:
            raise check.fail(
                f"system.{key}", f"not used with placement = {placement!r} (it takes: {', '.join(allowed[1:])})"
            )
    fold = None
    if placement in ("fold_first", "fold_last"):
        if "fold" not in decl:
            raise check.fail("system", f"placement = {placement!r} needs 'fold', e.g. \"{{system}}\\n\\n{{content}}\"")
        fold = check.text(decl, "system", "fold", ("system", "content"))
        for needed in ("system", "content"):
            if needed not in fold.names:
                raise check.fail("system.fold", f"must contain {{{needed}}}")
    refuse_message = None
    if placement == "refuse":
        refuse_message = check.string(decl, "system", "message", empty=False)
        if refuse_message is None:
            raise check.fail("system", "placement = 'refuse' needs 'message' (the refusal text)")
    decl, prefix_when = _variants(check, decl, "system", "prefix", (), _REQUEST_CONDITIONS)
    if prefix_when and placement != "block":
        raise check.fail("system.prefix", "variants of the prefix are for placement = 'block'")
    default_parts = _default_parts(check, decl.get("default"))
    default_variants: Tuple[Any, ...] = ()
    if not default_parts:
        decl, default_variants = _variants(check, decl, "system", "default", (), _REQUEST_CONDITIONS)
    decl, after_when = _variants(check, decl, "system", "after", (), _REQUEST_CONDITIONS)
    after = after_when + ((Condition(), check.text(decl, "system", "after")),) if "after" in decl else ()
    # A hoisted system text's suffix may differ when tools follow (Nemotron Mini ends each line then).
    decl, item_suffix_when = _variants(check, decl, "system", "item_suffix", (), ("tools",))
    if (default_parts or default_variants) and placement != "block":
        raise check.fail("system.default", "variants of the default are for placement = 'block'")
    override = None
    if "override" in decl:
        table = check.table(decl["override"], "system.override", ("marker", "prefix", "suffix"))
        marker = check.string(table, "system.override", "marker", empty=False)
        if marker is None:
            raise check.fail("system.override", "needs 'marker', the text that makes a system text written this way")
        override = Override(marker=marker, prefix=check.text(table, "system.override", "prefix"),
                            suffix=check.text(table, "system.override", "suffix"))
    leading = check.strings(decl, "leading_roles", key="system") or ("system",)
    wrap = check.text(decl, "system", "wrap", ("system",)) if "wrap" in decl else None
    if wrap is not None and "system" not in wrap.names:
        raise check.fail("system.wrap", "must contain {system}")
    system = System(
        placement=placement,
        default=(Text(tuple(p for part in default_parts for p in part[-1][1].pieces)) if default_parts
                 else check.text(decl, "system", "default") if "default" in decl else None),
        default_parts=default_parts,
        default_when=check.choice(decl, "system", "default_when", model.DEFAULT_WHEN, "first_not_system"),
        prefix=check.text(decl, "system", "prefix"),
        suffix=check.text(decl, "system", "suffix"),
        trim=check.choice(decl, "system", "trim", model.TRIMS, "none"),
        fold=fold,
        fold_order=check.choice(decl, "system", "fold_order", model.FOLD_ORDERS, "fold_then_trim"),
        refuse_message=refuse_message,
        leading_roles=leading,
        skip_empty=check.boolean(decl, "system", "skip_empty"),
        keep_empty=check.boolean(decl, "system", "keep_empty"),
        wrap=wrap,
        select=check.choice(decl, "system", "select", ("all", "last"), "all"),
        join=check.string(decl, "system", "join", ""),
        item_prefix=check.text(decl, "system", "item_prefix"),
        item_suffix=check.text(decl, "system", "item_suffix"),
        item_suffix_when=item_suffix_when,
        prefix_when=prefix_when,
        default_variants=default_variants,
        remove=check.strings(decl, "remove", lambda s: None if s else "must not be empty", key="system"),
        override=override,
        refuse_alone=check.string(decl, "system", "refuse_alone", empty=False),
        default_unless=check.choice(decl, "system", "default_unless", ("images",), "images")
        if "default_unless" in decl else None,
        after=after,
    )
    if system.default_unless is not None and system.default is None:
        raise check.fail("system.default_unless", "needs 'default', the text it leaves out")
    if system.skip_empty and system.keep_empty:
        raise check.fail(
            "system.keep_empty", "conflicts with 'skip_empty': an empty system message is either left out or kept"
        )
    if system.default_when == "no_text":
        if placement != "block":
            raise check.fail("system.default_when", "'no_text' is for placement = 'block'")
        if system.skip_empty or system.keep_empty:
            raise check.fail("system.default_when", "'no_text' writes the default for an empty system text: it "
                                                    "conflicts with skip_empty and keep_empty")
    return system


def _default_parts(check: Checker, raw: Any) -> Tuple[Tuple[Any, ...], ...]:
    """A default given as a sequence of texts and variant arrays, as parts of variants each (the last
    unconditional); ``()`` for a text or a single array of variants (``default_variants``)."""
    if not isinstance(raw, list) or all(isinstance(item, dict) for item in raw):
        return ()
    parts = []
    for position, item in enumerate(raw):
        if isinstance(item, str):
            parts.append(((Condition(), check.parse_text(item, "system.default", ())),))
            continue
        if not isinstance(item, list):
            raise check.fail("system.default", f"item {position}: expected a text or an array of variants, got "
                                               f"{_type_name(item)}")
        decl, variants = _variants(check, {"default": item}, "system", "default", (), _REQUEST_CONDITIONS)
        parts.append(variants + ((Condition(), check.text(decl, "system", "default")),))
    return tuple(parts)


def _reasoning(check: Checker, decl: Any) -> ReasoningDisplay:
    key = "reasoning"
    check.table(decl, key, ("role", "open", "close", "template", "reasoning_trim", "show", "query_exclude",
                            "no_query", "no_query_message", "field", "placement", "split", "refuse_containing",
                            "refuse_containing_message"))
    show = check.choice(decl, key, "show", ("final_or_present", "always", "until_answer", "given"), "final_or_present")
    if show == "given":
        # The role's prefix writes the reasoning: none of the display's keys apply.
        for extra in ("open", "close", "template", "query_exclude", "no_query", "no_query_message", "placement",
                      "split", "refuse_containing", "refuse_containing_message"):
            if extra in decl:
                raise check.fail(f"{key}.{extra}",
                                 "not used with show = 'given' (the role's prefix writes {reasoning})")
        if "field" not in decl:
            raise check.fail(key, "show = 'given' needs 'field', the message field the reasoning is given in")
    elif "template" not in decl:
        raise check.fail(key, "needs 'template', e.g. \"<think>\\n{reasoning}\\n</think>\\n\\n{content}\"")
    template = check.text(decl, key, "template", ("reasoning", "content")) if show != "given" else EMPTY
    exclude = check.strings(decl, "query_exclude", key=key)
    if exclude and len(exclude) != 2:
        raise check.fail(f"{key}.query_exclude", "give two strings: the start and the end of a non-query user message")
    display = ReasoningDisplay(
        role=check.string(decl, key, "role", "assistant", empty=False),
        open=check.string(decl, key, "open", "<think>", empty=False),
        close=check.string(decl, key, "close", "</think>", empty=False),
        template=template,
        reasoning_trim=check.choice(decl, key, "reasoning_trim", ("newlines", "both", "none"), "newlines"),
        show=show,
        query_exclude=exclude,
        no_query=check.choice(decl, key, "no_query", ("last", "refuse"), "last"),
        no_query_message=check.string(decl, key, "no_query_message", empty=False),
        field=check.choice(decl, key, "field", model.REASONING_FIELDS + model.OWN_REASONING_FIELDS, "") or None
        if "field" in decl else None,
        placement=check.choice(decl, key, "placement", ("content", "before"), "content"),
        split=check.boolean(decl, key, "split") if "split" in decl else True,
        refuse_containing=check.strings(decl, "refuse_containing", lambda s: None if s else "must not be empty",
                                        key=key),
        refuse_containing_message=check.string(decl, key, "refuse_containing_message", empty=False),
    )
    if display.field in model.OWN_REASONING_FIELDS and show != "given":
        raise check.fail(f"{key}.field", f"{display.field!r} is read with show = 'given' only")
    if display.no_query == "refuse" and display.no_query_message is None:
        raise check.fail(key, "no_query = 'refuse' needs 'no_query_message'")
    if display.placement == "before" and "content" in template.names:
        raise check.fail(f"{key}.template", "placement = 'before' writes the template before the message: it takes "
                                            "{reasoning} only")
    if (display.refuse_containing or display.refuse_containing_message is not None) and display.field is None:
        extra = "refuse_containing" if display.refuse_containing else "refuse_containing_message"
        raise check.fail(f"{key}.{extra}", "checks the reasoning field: it needs 'field'")
    if display.refuse_containing_message is not None and not display.refuse_containing:
        raise check.fail(f"{key}.refuse_containing_message", "needs 'refuse_containing'")
    if display.show == "until_answer":
        if display.field is None or display.split:
            raise check.fail(f"{key}.show", "'until_answer' reads the reasoning from the field only: it needs "
                                            "'field' and split = false")
        unused = [k for k in ("query_exclude", "no_query", "no_query_message") if k in decl]
        if unused:
            raise check.fail(f"{key}.{unused[0]}", "not used with show = 'until_answer', which reads no query")
    return display


def _tools(check: Checker, decl: Any) -> Tools:
    key = "tools"
    check.table(decl, key, ("placement", "join", "join_when", "prefix", "item", "indent", "item_prefix",
                            "item_suffix", "separator", "suffix", "empty", "trim", "required", "envelope",
                            "ignore", "builtin"))
    placement = check.choice(decl, key, "placement", model.TOOL_PLACEMENTS, "system_after")
    if placement == "none":
        extra = [k for k in decl if k not in ("placement", "empty")]
        if extra:
            raise check.fail(f"{key}.{extra[0]}", "not used with placement = 'none' (the format writes no tools)")
    if placement == "start":
        extra = [k for k in ("join", "join_when") if k in decl]
        if extra:
            raise check.fail(f"{key}.{extra[0]}", "not used with placement = 'start' (the tools are written apart "
                                                  "from the system text)")
    empty = check.choice(decl, key, "empty", model.TOOL_EMPTY, "none")
    if placement == "none" and empty == "written":
        raise check.fail(f"{key}.empty", "a format that writes no tools cannot write an empty list: 'none' or "
                                         "'refuse'")
    texts = {name: check.string(decl, key, name, "") for name in
             ("join", "prefix", "item_prefix", "item_suffix", "separator", "suffix")}
    indent = decl.get("indent")
    if indent is not None and (type(indent) is not int or not 0 <= indent <= 16):
        raise check.fail(f"{key}.indent", "expected an integer from 0 to 16")
    if "trim" in decl and placement != "first_user":
        raise check.fail(f"{key}.trim", "used with placement = 'first_user' only (the content the tools go in)")
    item = check.choice(decl, key, "item", model.TOOL_ITEMS, "json")
    if indent is not None and item not in ("json", "json_array", "named_json"):
        raise check.fail(f"{key}.indent", f"used with item = 'json', 'json_array' or 'named_json' only (the "
                                          f"serialiser {item!r} lays out its own)")
    if placement == "message":
        extra = [k for k in ("join", "join_when", "trim", "required") if k in decl]
        if extra:
            raise check.fail(f"{key}.{extra[0]}", "not used with placement = 'message' (the tools a message carries "
                                                  "are written just before it)")
    if item == "json_array":
        for name in ("item_prefix", "item_suffix", "separator"):
            if name in decl:
                raise check.fail(f"{key}.{name}", "not used with item = 'json_array' (the list is one JSON array)")
    if placement in model.TOOL_TURNS:
        for name in ("join", "join_when"):
            if name in decl:
                raise check.fail(f"{key}.{name}", f"not used with placement = {placement!r} (a turn of its own: "
                                                  "prefix and suffix write it)")
    ignore = check.strings(decl, "ignore", lambda k: None if k else "must not be empty", key=key)
    if "ignore" in decl and item not in model.TOOL_ITEMS_LEAVING_OUT:
        raise check.fail(f"{key}.ignore", f"item = {item!r} writes every key of a parameter's schema; 'ignore' is for "
                                          + ", ".join(map(repr, model.TOOL_ITEMS_LEAVING_OUT)))
    builtin = _builtin(check, decl, key, placement, item)
    return Tools(placement=placement, item=item, empty=empty,
                 join_when=check.choice(decl, key, "join_when", ("system", "text"), "system"), indent=indent,
                 trim=check.choice(decl, key, "trim", model.TRIMS, "none"),
                 required=check.boolean(decl, key, "required"),
                 envelope=check.choice(decl, key, "envelope", model.TOOL_ENVELOPES, "whole"), ignore=ignore,
                 builtin=builtin, **texts)


def _builtin(check: Checker, decl: Any, key: str, placement: str, item: str) -> Tuple[Tuple[str, str], ...]:
    """``[tools] builtin``: a table of tool type -> the literal text the template writes for it."""
    if "builtin" not in decl:
        return ()
    where = f"{key}.builtin"
    table = decl["builtin"]
    if not isinstance(table, dict) or not table:
        raise check.fail(where, "expected a table of tool types, each with the text written for it "
                                "(builtin = {python = \"...\"})")
    if placement == "none" or item == "json_array":
        raise check.fail(where, "not used with placement = 'none' or item = 'json_array' (no definition is "
                                "written on its own)")
    out = []
    for kind, text in table.items():
        if not kind or kind != kind.strip() or kind == "function":
            raise check.fail(f"{where}.{kind}", "a built-in tool type is a name other than 'function', without "
                                                "surrounding spaces")
        if not isinstance(text, str):
            raise check.fail(f"{where}.{kind}", f"expected a string (the text written for it), got "
                                                f"{type(text).__name__}")
        out.append((kind, text))
    return tuple(out)


def _thinking(check: Checker, decl: Any) -> Thinking:
    key = "thinking"
    check.table(decl, key, ("variable", "default", "on", "off", "roles", "scope", "precedence"))
    variable = check.string(decl, key, "variable", empty=False)
    if variable is not None:
        var = check.variables.get(variable)
        if var is None or not var.is_switch:
            raise check.fail(f"{key}.variable", f"{variable!r} is not a switch declared under [variables] "
                                                "(e.g. [variables.enable_thinking] default = true)")
        if "default" in decl:
            raise check.fail(f"{key}.default", "the switch's default is the default")
        check.used.add(variable)
    default = decl.get("default", True)
    if not isinstance(default, bool):
        raise check.fail(f"{key}.default", f"expected a boolean, got {_type_name(default)}")
    thinking = Thinking(
        variable=variable, default=default,
        on=check.string(decl, key, "on", "/think", empty=False),
        off=check.string(decl, key, "off", "/no_think", empty=False),
        roles=check.strings(decl, "roles", key=key) if "roles" in decl else ("system",),
        scope=check.choice(decl, key, "scope", ("first", "all"), "first"),
        precedence=check.choice(decl, key, "precedence", ("off", "on"), "off"),
    )
    if not thinking.roles:
        raise check.fail(f"{key}.roles", "list the roles whose messages turn the thinking mode on or off")
    if thinking.on == thinking.off:
        raise check.fail(f"{key}.off", "must differ from 'on'")
    return thinking


def _count(check: Checker, decl: Any, key: str, name: str) -> int:
    value = decl.get(name, 0)
    if type(value) is not int or not 0 <= value <= 1000:
        raise check.fail(f"{key}.{name}", "expected an integer from 0 (no limit) to 1000")
    return value


def _calls(check: Checker, decl: Any) -> Calls:
    key = "calls"
    check.table(decl, key, ("role", "arguments", "call", "ignore", "missing_content", "parameter", "value", "max",
                            "max_message", "content", "shape", "empty", "content_parts", "refuse_when",
                            "no_call_message", "prefix", "suffix", "trim", "separator", "position",
                            "refuse_content_starting", "name", "id"))
    refuse_when = None
    if "refuse_when" in decl:
        when = check.table(decl["refuse_when"], f"{key}.refuse_when", ("final", "generation_prompt"))
        if not when:
            raise check.fail(f"{key}.refuse_when", "give at least one condition")
        refuse_when = Condition(
            final=check.boolean(when, f"{key}.refuse_when", "final") if "final" in when else None,
            generation_prompt=check.boolean(when, f"{key}.refuse_when", "generation_prompt")
            if "generation_prompt" in when else None)
    slots = ("name", "arguments", "index", "type", "number", "id", "function_members")
    decl, call_when = _variants(check, decl, key, "call", slots, _CALL_CONDITIONS)
    if "call" not in decl:
        raise check.fail(key, "needs 'call', the text of one call with {name} and {arguments}")
    call = check.text(decl, key, "call", slots)
    id_form = check.choice(decl, key, "id", model.ID_FORMS, "") or None if "id" in decl else None
    arguments = check.choice(decl, key, "arguments", model.ARGUMENTS, "json")
    shape = check.choice(decl, key, "shape", ("either", "nested"), "either")
    for condition, text in [(None, call)] + list(call_when):
        # A variant for given names (when = {name = ...}) says the name by being chosen.
        if "name" not in text.names and "function_members" not in text.names and (
                condition is None or condition.call_name is None):
            raise check.fail(f"{key}.call", "every call text writes {name} (or {function_members}; but one chosen "
                                            "by when = {name = ...})")
        other = [n for n in text.names if n not in slots]
        if other:
            raise check.fail(f"{key}.call", f"a call text takes {{name}}, {{arguments}}, {{index}}, {{type}}, "
                                            f"{{number}}, {{id}} and {{function_members}}, not the variable "
                                            f"{{{other[0]}}}")
        if ("id" in text.names) != (id_form is not None):
            raise check.fail(f"{key}.call", "every call text writes {id} when 'id' says how, and only then")
        if "function_members" in text.names and (arguments != "json" or shape != "nested"):
            raise check.fail(f"{key}.call", "{function_members} writes the function object through tojson: it "
                                            "needs arguments = 'json' and shape = 'nested'")
    typed = any("type" in text.names for text in [call] + [text for _, text in call_when])
    # A call's id is left out by default, and its type too unless a call text writes it.
    ignore = check.strings(decl, "ignore", key=key) if "ignore" in decl else ("id",) if typed else ("id", "type")
    if id_form is not None and "id" in ignore:
        raise check.fail(f"{key}.ignore", "lists 'id', which the call texts write ({id})")
    if decl.get("name") == "json" and any(condition.call_name is not None for condition, _ in call_when):
        raise check.fail(f"{key}.name", "'json' is not used with variants chosen by the call's name")
    parameter = EMPTY
    if arguments == "parameters":
        if "parameter" not in decl:
            raise check.fail(key, "arguments = 'parameters' needs 'parameter', the text of one with {key} and {value}")
        parameter = check.text(decl, key, "parameter", ("key", "value"))
    else:
        for name in ("parameter", "value", "separator"):
            if name in decl:
                raise check.fail(f"{key}.{name}", "used with arguments = 'parameters' only")
    calls = Calls(role=check.string(decl, key, "role", "assistant", empty=False), arguments=arguments,
                  parameter=parameter, value=check.choice(decl, key, "value", model.VALUE_FORMATS, "json_or_str"),
                  max=_count(check, decl, key, "max"), max_message=check.string(decl, key, "max_message", empty=False),
                  content=check.choice(decl, key, "content", model.CALL_CONTENT, "write"),
                  no_call_message=check.string(decl, key, "no_call_message", empty=False),
                  shape=shape, name=check.choice(decl, key, "name", model.NAME_FORMS, "text"), id=id_form,
                  empty=check.choice(decl, key, "empty", ("none", "refuse"), "none"),
                  call=call, call_when=call_when, ignore=ignore, refuse_when=refuse_when,
                  missing_content=check.choice(decl, key, "missing_content", ("refuse", "empty", "final"), "refuse"),
                  content_parts=check.choice(decl, key, "content_parts", ("join", "refuse"), "join"),
                  prefix=check.string(decl, key, "prefix", ""), suffix=check.string(decl, key, "suffix", ""),
                  trim=check.choice(decl, key, "trim", model.TRIMS, "none") if "trim" in decl else None,
                  separator=check.string(decl, key, "separator", ""),
                  position=check.choice(decl, key, "position", ("after_content", "before_content"), "after_content"),
                  refuse_content_starting=check.string(decl, key, "refuse_content_starting", empty=False))
    if calls.typed and "type" in ignore:
        raise check.fail(f"{key}.ignore", "'type' is written by the call text ({type}): it cannot be left out too")
    return calls


def _output(check: Checker, decl: Any, calls: Optional[Calls]) -> Output:
    key = "output"
    check.table(decl, key, ("prefix", "reasoning", "call_id", "content", "call", "call_name"))
    decl, prefix_when = _variants(check, decl, key, "prefix", ("role",))
    prefix = check.text(decl, key, "prefix", ("role",)) if "prefix" in decl else None
    for text in ([prefix] if prefix is not None else []) + [t for _, t in prefix_when]:
        other = [n for n in text.names if n != "role"]
        if other:
            # A completion is read against the prompt it follows, which already says what a variable was.
            raise check.fail(f"{key}.prefix", f"takes {{role}} only, not the variable {{{other[0]}}}")
    reasoning = None
    if "reasoning" in decl:
        reasoning = check.text(decl, key, "reasoning", ("reasoning", "content"))
        pieces = reasoning.pieces
        # Read back by markers: a literal opens the reasoning, another closes it, the answer follows.
        if not (len(pieces) == 4 and pieces[1] == Slot("reasoning") and pieces[3] == Slot("content")
                and isinstance(pieces[0], str) and pieces[0].strip() and isinstance(pieces[2], str)
                and pieces[2].strip()):
            raise check.fail(f"{key}.reasoning", "write it as OPEN{reasoning}CLOSE{content}, with text that is not "
                                                 "only whitespace before and after {reasoning}, e.g. "
                                                 "\"<think>\\n{reasoning}\\n</think>\\n\\n{content}\"")
    content = None
    if "content" in decl:
        content = check.text(decl, key, "content", ("content",))
        pieces = content.pieces
        if not (len(pieces) == 2 and isinstance(pieces[0], str) and pieces[0].strip() and pieces[1] == Slot("content")):
            raise check.fail(f"{key}.content", "write it as OPEN{content}, the text before the answer, e.g. "
                                               "\"<|channel|>final<|message|>{content}\"")
    texts = decl.get("call", [])
    if isinstance(texts, str):
        texts = [texts]
    if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
        raise check.fail(f"{key}.call", "expected a call text or an array of them (any of which the model writes)")
    call = []
    for position, text in enumerate(texts):
        parsed = check.parse_text(text, f"{key}.call", ("name", "arguments", "index"))
        if "name" not in parsed.names or parsed.names.count("arguments") != 1:
            raise check.fail(f"{key}.call", f"item {position}: a call text writes {{name}} and {{arguments}} once")
        call.append(parsed)
    call_id = None
    if "call_id" in decl:
        if calls is None and not call:
            raise check.fail(f"{key}.call_id", "needs [calls]: it is the id of a call's text")
        call_id = check.text(decl, key, "call_id", ("name", "index", "number"))
        if not call_id.names:
            raise check.fail(f"{key}.call_id", "an id made of the call's {name}, {index} or {number}, e.g. "
                                               "\"functions.{name}:{index}\"")
    call_name = check.choice(decl, key, "call_name", model.CALL_NAMES, "") or None if "call_name" in decl else None
    if prefix is None and reasoning is None and call_id is None and content is None and not call \
            and call_name is None:
        raise check.fail(key, "declare at least one of 'prefix', 'reasoning', 'content', 'call', 'call_id' and "
                              "'call_name'")
    return Output(prefix=prefix, reasoning=reasoning, call_id=call_id, prefix_when=prefix_when, content=content,
                  call=tuple(call), call_name=call_name)


def names_of(role: Role) -> Tuple[str, ...]:
    """The placeholders of a role's prefix and suffix, variants included."""
    texts = [role.prefix, role.suffix] + [text for _, text in role.prefix_when + role.suffix_when]
    return tuple(name for text in texts for name in text.names)


def _parts(check: Checker, decl: Any) -> Parts:
    key = "parts"
    check.table(decl, key, ("roles", "trim", "system", "labels") + model.PART_KINDS)
    part_roles = check.strings(decl, "roles", key=key)
    if not part_roles:
        raise check.fail("parts.roles", "list the roles whose content may be a list of parts")
    kinds = []
    seen: Dict[str, str] = {}
    for name in model.PART_KINDS:
        if name not in decl:
            if name == "text":
                kinds.append(model.TEXT_PART)
            continue
        where = f"{key}.{name}"
        media = name != "text"
        table = check.table(decl[name], where, ("types", "keys") + (("text", "label") if media else ()))
        types = check.strings(table, "types", key=where) if "types" in table else (name,)
        keys = check.strings(table, "keys", lambda k: "'type' names the kind; it is not a key to test" if k == "type"
                             else None, key=where)
        if not types and not keys:
            raise check.fail(where, "give the 'types' or the 'keys' that make a part of this kind")
        for test in types + keys:
            if test in seen and seen[test] != name:
                raise check.fail(where, f"{test!r} already makes a part of kind {seen[test]!r}")
            seen[test] = name
        text, label = "", None
        if media:
            text = check.string(table, where, "text", empty=False)
            if text is None:
                raise check.fail(where, "needs 'text', the placeholder written for such a part")
            if "label" in table:
                label = check.text(table, where, "label", ("n",))
                if "n" not in label.names:
                    raise check.fail(f"{where}.label", "must contain {n}, the part's number")
        kinds.append(model.PartKind(name, types, keys, text, label))
    labels = check.string(decl, key, "labels", empty=False)
    labelled = [k.name for k in kinds if k.label is not None]
    if labels is not None:
        variable = check.variables.get(labels)
        if variable is None or not variable.is_switch:
            raise check.fail("parts.labels", f"{labels!r} is not a switch declared under [variables] "
                                             "(default = true or false)")
        if not labelled:
            raise check.fail("parts.labels", "no part kind declares a 'label'")
        check.used.add(labels)
    elif labelled:
        raise check.fail(f"parts.{labelled[0]}.label", "needs [parts] labels, the switch that writes labels")
    return Parts(roles=part_roles, trim=check.choice(decl, key, "trim", model.TRIMS, "none"), kinds=tuple(kinds),
                 system=check.choice(decl, key, "system", model.SYSTEM_PARTS, "refuse"), labels=labels)
def _documents(check: Checker, decl: Any) -> Documents:
    key = "documents"
    check.table(decl, key, ("placement", "prefix", "item", "separator", "suffix", "keys", "optional", "others",
                            "others_key", "ignore", "counts_as_call"))
    if "placement" not in decl or "item" not in decl:
        raise check.fail(key, "needs 'placement' and 'item' (the text of one document, e.g. "
                              "\"Document {index}\\n{text}\")")
    placement = check.choice(decl, key, "placement", model.DOCUMENT_PLACEMENTS, "")

    def names(table: str) -> Dict[str, Any]:
        raw = check.table(decl.get(table, {}), f"{key}.{table}",
                          tuple(decl[table]) if isinstance(decl.get(table), dict) else ())
        for name in raw:
            if not _IDENT.match(name) or name in model.DOCUMENT_SLOTS:
                raise check.fail(f"{key}.{table}.{name}", "a key written in a text must be an identifier other "
                                                          f"than {', '.join(model.DOCUMENT_SLOTS)}")
        return raw

    keys = names("keys")
    values = tuple((name, check.choice(keys, f"{key}.keys", name, model.DOCUMENT_VALUES, "")) for name in keys)
    optional_raw = names("optional")
    optional = []
    for name in optional_raw:
        text = check.text(optional_raw, f"{key}.optional", name, ("value",))
        if "value" not in text.names:
            raise check.fail(f"{key}.optional.{name}", "must write the key's value, {value}")
        optional.append((name, text))
    for name in optional_raw:
        if name in keys:
            raise check.fail(f"{key}.optional.{name}", "also listed under keys: a key is required or optional")
    others = check.text(decl, key, "others", ("key", "value")) if "others" in decl else None
    for where, text, slots in [(f"optional.{n}", t, ("value",)) for n, t in optional] + (
            [("others", others, ("key", "value"))] if others is not None else []):
        if not set(text.names) <= set(slots):
            raise check.fail(f"{key}.{where}", f"writes {', '.join(slots)} only, not a variable")
    allowed = model.DOCUMENT_SLOTS + tuple(keys) + tuple(optional_raw)
    item = check.text(decl, key, "item", allowed)
    for name in item.names:
        if name not in allowed:
            raise check.fail(f"{key}.item", f"{{{name}}} is a variable: a document's text writes its own keys only")
    for name in tuple(keys) + tuple(optional_raw) + (("others",) if others is not None else ()):
        if name not in item.names:
            raise check.fail(f"{key}.item", f"must write {{{name}}}, which the format declares")
    if "others" in item.names and others is None:
        raise check.fail(f"{key}.item", "writes {others} but 'others' (the text of one other key) is not declared")
    ignore = check.strings(decl, "ignore", key=key)
    written = [n for n in ignore if n in keys or n in optional_raw]
    if written:
        raise check.fail(f"{key}.ignore", f"{written[0]!r} is written by the format; it cannot be ignored")
    if ignore and (others is not None or "json" in item.names):
        raise check.fail(f"{key}.ignore", "every key is written (through {others} or {json}): none is ignored")
    return Documents(placement=placement, prefix=check.string(decl, key, "prefix", ""), item=item,
                     separator=check.string(decl, key, "separator", ""), suffix=check.string(decl, key, "suffix", ""),
                     keys=values, optional=tuple(optional), others=others,
                     others_key=check.choice(decl, key, "others_key", model.DOCUMENT_KEY_CASES, "as_is"),
                     ignore=ignore, counts_as_call=check.boolean(decl, key, "counts_as_call"))


def _check_control_token(token: str) -> Optional[str]:
    if len(token) < 2:
        return "a control token has at least two characters (its escape breaks it after the first)"
    if "\u200b" in token:
        return "a control token must not contain U+200B ZERO WIDTH SPACE, which escaping inserts"
    return None


def _control(check: Checker, decl: Any) -> Control:
    check.table(decl, "control", ("tokens", "escape"))
    tokens = check.strings(decl, "tokens", _check_control_token, key="control")
    known = tuple(dict.fromkeys([t for t in check.tokens.values()] + list(tokens)))
    for name, token in check.tokens.items():
        problem = _check_control_token(token)
        if problem:
            raise check.fail(f"tokens.{name}", problem)
    escapes = []
    raw = decl.get("escape", {})
    check.table(raw, "control.escape", tuple(raw) if isinstance(raw, dict) else ())
    for token, replacement in raw.items():
        key = f"control.escape.{token}"
        if token not in known:
            raise check.fail(
                key, f"{token!r} is not a control token of this format (tokens.bos, tokens.eos, control.tokens)"
            )
        if not isinstance(replacement, str):
            raise check.fail(key, f"expected a string, got {_type_name(replacement)}")
        inside = [t for t in known if t in replacement]
        if inside:
            raise check.fail(key, f"the replacement still contains the control token {inside[0]!r}")
        escapes.append((token, replacement))
    return Control(tokens=tokens, escapes=tuple(escapes))


def _cross_checks(check: Checker, spec: FormatSpec) -> None:
    if not spec.roles and spec.any_role is None:
        raise check.fail("roles", "declare at least one role under [roles.NAME] or an [any_role]")
    if spec.system.placement == "message" and spec.system.default is not None:
        writer = spec.role(spec.system.leading_roles[0])
        if writer is None or writer.drop or writer.refuse is not None:
            raise check.fail("system.default", "placement = 'message' writes the default as a system message, "
                             "but no role declaration writes 'system'")
    if spec.reasoning is not None:
        role = next((r for r in spec.roles if r.name == spec.reasoning.role), None)
        if role is None or role.drop or role.refuse is not None:
            raise check.fail(
                "reasoning.role", f"role {spec.reasoning.role!r} must be declared under [roles] and written"
            )
        if role.strip_reasoning is not None:
            raise check.fail(
                f"roles.{role.name}.strip_reasoning",
                "conflicts with [reasoning], which decides how reasoning is written",
            )
        if spec.system.placement == "fold_first" or spec.system.placement == "fold_last":
            raise check.fail("reasoning", "cannot be combined with a folded system message")
    if spec.tools is not None and spec.tools.placement == "first_user":
        writer = next((r for r in spec.roles if r.name == "user"), None)
        if spec.system.placement != "block":
            raise check.fail("tools.placement", "'first_user' is for [system] placement = 'block'")
        if writer is not None and (writer.skip_empty or writer.when_empty is not None):
            raise check.fail("tools.placement", "'first_user' writes the tools in the user's first message, which "
                                                "must not be left out when empty (skip_empty, when_empty)")
        if writer is None or writer.drop or writer.refuse is not None:
            raise check.fail("tools.placement", "'first_user' writes the tools in the first user message: it needs "
                                                "a [roles.user] that writes it")
    elif spec.tools is not None and spec.tools.placement == "turn_after_system":
        if spec.system.placement != "block":
            raise check.fail("tools.placement", "'turn_after_system' is for [system] placement = 'block'")
    elif spec.tools is not None and spec.tools.placement == "last_user":
        writer = next((r for r in spec.roles if r.name == "user"), None)
        if writer is None or writer.drop or writer.refuse is not None:
            raise check.fail("tools.placement", "'last_user' writes the tools before the last user message: it needs "
                                                "a [roles.user] that writes it")
        if writer.skip_empty or writer.when_empty is not None:
            raise check.fail("tools.placement", "'last_user' writes the tools before the last user message, which "
                                                "must not be left out when empty (skip_empty, when_empty)")
    elif spec.tools is not None and spec.tools.placement == "message":
        # Every message is written where it stands, so the tools it carries are never left out with it.
        roles = spec.roles + ((spec.any_role,) if spec.any_role is not None else ())
        if spec.system.placement != "message" or any(r.drop for r in roles):
            raise check.fail("tools.placement", "'message' writes the tools a message carries before it: it needs "
                                                "[system] placement = 'message' and no dropped role")
        if "tools" in spec.message.ignore or any(r.attach_field == "tools" for r in roles):
            raise check.fail("tools.placement", "'message' reads a message's 'tools' field: it cannot be ignored or "
                                                "attached too")
    elif spec.tools is not None and spec.tools.placement not in ("none", "start") and (
            spec.system.placement not in ("message", "block", "hoist")):
        # An empty leading system message kept (keep_empty): the tools go with the default; left out
        # (skip_empty): the tools get a block of their own.
        raise check.fail("tools", "tool definitions are written with the system text: they need [system] "
                                  "placement = 'message', 'block' or 'hoist'")
    if spec.tools is not None and spec.tools.placement in ("system_after", "system_before") and (
            spec.system.placement == "message"):
        writer = spec.role(spec.system.leading_roles[0])
        if writer is None or writer.drop or writer.refuse is not None:
            raise check.fail("tools", "tool definitions are written in a system message, but no role "
                                      "declaration writes 'system'")
    if spec.documents is not None and spec.documents.placement == "turn_after_system" and (
            spec.system.placement != "block"):
        raise check.fail("documents.placement", "'turn_after_system' is for [system] placement = 'block'")
    if spec.documents is not None and spec.documents.placement != "turn_after_system":
        user = spec.role("user")
        if spec.system.placement == "hoist" or user is None or user.drop or user.refuse is not None:
            raise check.fail("documents.placement", f"{spec.documents.placement!r} writes the documents with a "
                                                    "user message: it needs one that is written, and a system "
                                                    "placement other than 'hoist'")
    if spec.system.default_when == "tools" and (
            spec.tools is None or spec.tools.placement not in ("system_after", "system_before")):
        raise check.fail("system.default_when", "'tools' is a default written with the tool definitions: it needs "
                                                "[tools] placement = 'system_after' or 'system_before'")
    if spec.calls is not None:
        writer = next((r for r in spec.roles if r.name == spec.calls.role), None)
        if writer is None or writer.drop or writer.refuse is not None:
            raise check.fail("calls.role", f"role {spec.calls.role!r} must be declared under [roles] and written")
        if spec.system.placement != "message" and spec.calls.role in spec.system.leading_roles:
            raise check.fail("calls.role", "a system message taken out of the conversation cannot carry calls")
        if spec.calls.content == "reasoning" and (spec.reasoning is None or spec.reasoning.field is None
                                                  or spec.reasoning.role != spec.calls.role
                                                  or spec.reasoning.show == "given"):
            raise check.fail("calls.content", "'reasoning' writes a call message's content as its reasoning: it "
                                              "needs a [reasoning] of the same role, with 'field'")
    for role in spec.roles + ((spec.any_role,) if spec.any_role is not None else ()):
        if role.attach_field is None:
            continue
        where = "any_role.attach" if role.name == "*" else f"roles.{role.name}.attach"
        if role.attach_field in spec.message.ignore:
            raise check.fail(where, f"the field {role.attach_field!r} is also under [message] ignore: it is either "
                                    "written or left out")
        if spec.reasoning is not None and spec.reasoning.role == role.name:
            raise check.fail(where, "cannot be combined with [reasoning] for the same role")
        if spec.system.placement != "message" and (role.name in spec.system.leading_roles or role.name == "*"):
            raise check.fail(where, "a leading system message is taken out of the conversation here: it cannot "
                                    "attach a field (use [system] placement = 'message')")
    if spec.output is not None and spec.output.call_name == "attach":
        writer = spec.role("assistant")
        if writer is None or writer.attach_field is None or not writer.attach_in_prefix:
            raise check.fail("output.call_name", "'attach' names a call by the assistant role's attached field "
                                                 "written in its prefix: that role writes no {attach} in its prefix")
    for role in spec.roles:
        if "call_name" in names_of(role):
            where = f"roles.{role.name}"
            if spec.calls is None:
                raise check.fail(where, "uses {call_name}, the previous call's name: it needs [calls]")
            if role.name == spec.calls.role or role.name in spec.system.leading_roles:
                raise check.fail(where, "{call_name} names the previous call in another role's messages "
                                        "(not the calls' role nor a leading system role)")
    if ("tool_call_id" in check.used or "call_number" in check.used) and "tool_call_id" not in spec.message.ignore:
        # A field is read or left out as the format declares: the roles whose texts do not write it leave it out.
        raise check.fail("message.ignore", "a role writes {tool_call_id} or {call_number}: list 'tool_call_id' here "
                                           "too (the roles that do not write it leave it out)")
    for role in spec.roles:
        if role.tool_call_id is not None and role.name in spec.system.leading_roles:
            raise check.fail(f"roles.{role.name}.tool_call_id", "a system role's messages may be written by the "
                                                                "format itself, without a tool_call_id")
    _check_tool_use(check, spec)
    if spec.thinking is None and check.thinking_keys:
        raise check.fail(check.thinking_keys[0], "tests the thinking mode, which [thinking] declares")
    parts = spec.parts
    if parts is not None and parts.system != "refuse":
        if spec.system.placement in ("message", "refuse"):
            raise check.fail("parts.system", f"for a system message taken out of the conversation; with placement = "
                                             f"{spec.system.placement!r} list its role under [parts] roles")
        if spec.system.keep_empty:
            raise check.fail("parts.system", "conflicts with [system] keep_empty (an empty system message is "
                                             "written by its role)")
        if parts.system == "first_text_list" and spec.system.placement == "hoist":
            raise check.fail("parts.system", "'first_text_list' is for the one leading system message that "
                                             "placements 'block', 'fold_first' and 'fold_last' take out")
    if spec.system.default_unless is not None:
        if parts is None or parts.kind("image") is None:
            raise check.fail("system.default_unless", "needs [parts.image], which says what an image part is")
        if spec.tools is not None and spec.tools.placement in ("system_after", "system_before"):
            raise check.fail("system.default_unless", "conflicts with tool definitions written in the system block")
    for var in spec.variables:
        if var.name not in check.used:
            raise check.fail(f"variables.{var.name}", "declared but never used in any string of the format"
                             + (" or as [thinking] variable or [parts] labels" if var.name in check.flags else ""))


def _check_tool_use(check: Checker, spec: FormatSpec) -> None:
    """``tool_use`` names a built-in format that is a ``tool_use`` template (``tool_use_of``); such a
    format writes tools and names no other."""
    if spec.tool_use_of:
        if spec.tools is None or spec.tools.placement == "none":
            raise check.fail("tool_use_of", "a model's tool_use template writes tool definitions: declare [tools]")
        if spec.tool_use is not None:
            raise check.fail("tool_use", "a tool_use template is the one transformers picks: it names no other")
    if spec.tool_use is None:
        return
    if spec.tools is not None:
        raise check.fail("tools", "with tool_use, every render given tools is the tool_use format's: "
                                  "[tools] here would never be used")
    if spec.tool_use == spec.name or not _NAME.match(spec.tool_use):
        raise check.fail("tool_use", f"{spec.tool_use!r} is not the name of another format")


def resolve_tool_use(spec: FormatSpec, text: str, resolve: Optional[Callable[[str], Any]]) -> FormatSpec:
    """``spec`` with the declaration of its ``tool_use`` format, found by ``resolve`` (the registry's
    ``get_format``, which the loader is given); a name it does not know, or a format that is not a
    tool_use template, is a FormatError at the key."""
    if spec.tool_use is None:
        return spec
    check = Checker(spec.path, text)
    if resolve is None:
        raise check.fail("tool_use", "names a built-in format, which a format loaded without the registry cannot "
                                     "reach: load it with promptcraft.load_format or loads_format")
    from ..errors import UnknownFormatError

    try:
        target = resolve(spec.tool_use).spec
    except UnknownFormatError as error:
        raise check.fail("tool_use", f"{spec.tool_use!r} is not a built-in format" + _suggest(
            spec.tool_use, error.suggestions)) from None
    if not target.tool_use_of:
        raise check.fail("tool_use", f"{spec.tool_use!r} is not a tool_use template (it declares no tool_use_of)")
    import attrs

    return attrs.evolve(spec, tool_use_spec=target)
