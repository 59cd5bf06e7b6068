"""Shared pieces of the hostile-input suites: payloads, strategies, iteration counters.

The counters record how many hostile formats, mutated files and fuzzed
conversations each suite tried; ``count_report`` prints them at the end of a
module (and appends them, as JSON lines, to ``$PROMPTCRAFT_COUNTS_FILE`` when
that is set) so the numbers can be quoted.
"""

from __future__ import annotations

import collections
import json
import os
import sys
import types
from functools import partial
from typing import Any, Callable, Dict, Iterable, List

import pytest
from hypothesis import strategies as st
from strategies import (
    NASTY,
    toml_string,  # noqa: F401  (re-exported for the hostile suites)
)

import promptcraft

IN_CI = bool(os.environ.get("CI"))

#: name -> number of inputs tried; filled in by the suites, read by ``count_report``.
COUNTS: "collections.Counter[str]" = collections.Counter()

# ---------------------------------------------------------------------------
# Payloads: text that would do something if a renderer ever treated it as code.

MARKER_ENV = "PROMPTCRAFT_PWNED_MARKER"
PROBE_MODULE = "promptcraft_pwned_probe"

#: Calls that leave a trace if they ever run: the probe module counts its hits,
#: the marker file appears at ``$PROMPTCRAFT_PWNED_MARKER``.
RUN_PROBE = f"__import__('{PROBE_MODULE}').hit()"
TOUCH_MARKER = f"__import__('pathlib').Path(__import__('os').environ['{MARKER_ENV}']).touch()"

PAYLOADS = [
    f"'); {RUN_PROBE} #",
    f'"); {RUN_PROBE} #',
    f"'''); {RUN_PROBE} #",
    f'"""); {RUN_PROBE} #',
    f"\\'); {RUN_PROBE} #",
    f"\\\"); {RUN_PROBE} #",
    f"' + {RUN_PROBE} + '",
    f'" + {RUN_PROBE} + "',
    f"\n{RUN_PROBE}\n",
    f"\r{RUN_PROBE}\r#",
    f"\\\n{TOUCH_MARKER}\n#",
    f"'''\n{TOUCH_MARKER}\n'''",
    f'"""\n{TOUCH_MARKER}\n"""',
    f"\u2028{TOUCH_MARKER}\u2029",
    f"\x0c{TOUCH_MARKER}",
    f"{{{{{RUN_PROBE}}}}}",
    f"{{{{{{{{{TOUCH_MARKER}}}}}}}}}",
    "'); import os; os.system('x') #",
    "__import__('os').system('touch /tmp/pwned')",
    "'); __import__('os').system('touch /tmp/pwned') #",
    "def render(messages, **kw): return 'pwned'",
    "render = None",
    "_fallback = lambda *a: 'pwned'",
    "__builtins__",
    "().__class__.__mro__[1].__subclasses__()",
    "%s %(x)s {0} {!r} ${x} `x`",
    "\\N{BULLET} \\x41 \\u0041 \\0",
    "\\", "\\\\", "'", '"', "'''", '"""', "'''\"\"\"", "\\'''", '\\"""',
    "\x00", "\x01\x02\x1b[31m\x7f", "\x0b\x0c\x1c\x1d\x1e\x85", "\r", "\r\n", "\n",
    "\u2028", "\u2029", "a\u2028b", "\ufeff", "\u200b", "\u202e", "\ud800", "\udcff",
    "\U0010ffff", "🙂", "日本語", "é",
    "#", "=", "[", "]", "]]", "[[", "{{", "}}", "{{}}", ".", "*", "-->", "$'`;|&<>",
    "<|im_start|>", "<|im_end|>", "[INST]", "<s>", "</s>", "CONTINUE_FINAL_MESSAGE_TAG ",
    "", " ", "  x  ", "\t",
]

#: Message contents for conversations: the shared nasty texts and the payloads.
NASTY_CONTENT = list(dict.fromkeys(NASTY + PAYLOADS))

#: Role names as a hostile format would write them (quoted TOML keys).
ROLE_NAMES = [
    "user", "assistant", "system", "tool", 'a"b', "x'''", 'y"""', "def", "class", "__import__", "render",
    "_fallback", "messages", "\\n", "\\", "'", '"', "a\nb", "\n", "\u2028", "a\u2028b", "a\u2029b", "\x00",
    "a\x00b", "\x1b", "{role}", "{{", "}}", "*", ".", "a.b", "#", " ", " user", "user ", "", "🙂", "\ud800",
    "x" * 300, f"'); {RUN_PROBE} #", f'"); {RUN_PROBE} #', f"\n{RUN_PROBE}\n", "None", "True",
]

#: Variable names that are fine: plain identifiers the generated code does not use.
SAFE_VARIABLES = [
    "date_string", "flavour", "x", "a1", "exec", "eval", "os", "sys", "print", "open", "self", "cls", "match",
    "case", "type", "kwargs", "day", "import_", "Render", "MESSAGES",
]

#: Names a format may not use as variables: keywords, reserved names, non-identifiers (FormatError expected).
REFUSED_VARIABLES = ["def", "class", "import", "None", "True", "lambda", "role", "content", "system", "bos", "eos",
                     "messages", "add_generation_prompt", "continue_final_message", "control_tokens", "not-ident",
                     "1abc", "a b", "é", "", "__import__", "_private"]


def toml_literal(value: str) -> str:
    """A TOML literal (or multi-line literal) string when the text allows one, else a basic string."""
    if any((ord(ch) < 0x20 and ch not in "\t\n") or ord(ch) == 0x7F for ch in value):
        return toml_string(value)
    if "'" not in value and "\n" not in value:
        return "'" + value + "'"
    if "'''" not in value and not value.endswith("'"):
        # TOML drops a newline right after the opening delimiter: add one when the text starts with one.
        lead = "\n" if value.startswith("\n") else ""
        return "'''" + lead + value + "'''"
    return toml_string(value)


def escape_braces(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


def quoted_key(name: str) -> str:
    return toml_string(name)


# ---------------------------------------------------------------------------
# Strategies

STRFTIME_TAILS = ["", " ", "%%", " {x} ", "\u2028", "'", "\\"]

payload = st.sampled_from(PAYLOADS)
raw_text = st.one_of(
    payload,
    st.text(max_size=12),
    st.lists(payload | st.text(max_size=4), min_size=2, max_size=4).map("".join),
)


@st.composite
def template(draw, slots=()):
    """A format string made of escaped payloads and some of ``slots`` as placeholders."""
    names = list(slots)
    spellings = [f"{{{n}}}" for n in names] + [f"{{ {n} }}" for n in names[:2]]
    piece = raw_text.map(escape_braces)
    if spellings:
        piece = piece | st.sampled_from(spellings)
    return "".join(draw(st.lists(piece, max_size=4)))


def string_literal(draw: Callable, text: str) -> str:
    return draw(st.sampled_from([toml_string, toml_literal]))(text)


def blows_up_escape(token: str) -> bool:
    """Tokens holding U+200B: their default escape re-forms them, and control_tokens="escape" doubles the text
    on each of its len(text)+1 passes (pinned by test_zero_width_space_token_escape_is_not_exponential)."""
    return "\u200b" in token


def _choice(draw: Callable, *options: Any) -> Any:
    return draw(st.sampled_from(options))


@st.composite
def hostile_format(draw) -> str:
    """A format declaration (TOML text) whose every string is hostile, using the whole schema.

    Most are valid; some break a rule on purpose (a role name with spaces, an
    empty refusal), which must come back as FormatError and nothing else.
    """
    top = ['name = "hostile"']
    tables: List[str] = []
    if draw(st.booleans()):
        top.append(f"description = {string_literal(draw, draw(raw_text))}")
    stop = draw(st.lists(payload.filter(bool), unique=True, max_size=3))
    if stop:
        top.append("stop = [" + ", ".join(toml_string(s) for s in stop) + "]")
    tokens: Dict[str, str] = {}
    for token in ("bos", "eos"):
        if draw(st.booleans()):
            tokens[token] = draw(raw_text.filter(lambda s: bool(s) and not blows_up_escape(s)))
    if tokens:
        tables.append("[tokens]")
        tables += [f"{k} = {string_literal(draw, v)}" for k, v in tokens.items()]

    variables = draw(st.lists(st.sampled_from(SAFE_VARIABLES), unique=True, max_size=3))
    base = tuple(tokens) + tuple(variables)
    texts: List[str] = []

    def text(slots=()) -> str:
        value = draw(template(base + tuple(slots)))
        texts.append(value)
        return value

    def literal(slots=()) -> str:
        return string_literal(draw, text(slots))

    role_names = draw(st.lists(st.sampled_from(ROLE_NAMES), unique=True, max_size=4))
    some_roles = st.lists(st.sampled_from(ROLE_NAMES + ["system", "user", "assistant"]), unique=True, min_size=1,
                          max_size=3)

    def role_table(roles: List[str], slots=()) -> str:
        return "{ " + ", ".join(f"{quoted_key(r)} = {toml_string(text(slots))}" for r in roles) + " }"

    start = text()
    if draw(st.integers(0, 4)) == 0:
        top.append("start_when_first = [" + ", ".join(toml_string(r) for r in draw(some_roles)) + "]")

    # [system]
    placement = _choice(draw, "message", "block", "fold_first", "fold_last", "hoist", "refuse")
    system = ["[system]", f'placement = "{placement}"']
    trims = ("none", "both", "left", "right")
    leading = draw(st.none() | some_roles)
    if leading is not None:
        system.append("leading_roles = [" + ", ".join(toml_string(r) for r in leading) + "]")
    default = draw(st.none() | st.just("text"))
    if placement in ("block", "hoist"):
        system.append(f"prefix = {literal()}")
        system.append(f"suffix = {literal()}")
    if placement in ("fold_first", "fold_last"):
        a, b, c = text(), text(), text()
        fold = a + "{system}" + b + "{content}" + c if draw(st.booleans()) else a + "{content}" + b + "{system}" + c
        texts.append(fold)
        system.append(f"fold = {string_literal(draw, fold)}")
        system.append(f'fold_order = "{_choice(draw, "fold_then_trim", "trim_then_fold")}"')
    if placement != "refuse" and placement != "message":
        system.append(f'trim = "{_choice(draw, *trims)}"')
    if placement in ("message", "block", "fold_first", "fold_last") and default is not None:
        system.append(f"default = {literal()}")
        system.append(f'default_when = "{_choice(draw, "first_not_system", "no_system")}"')
    if placement in ("block", "fold_first", "fold_last"):
        empty = _choice(draw, None, "skip_empty", "keep_empty")
        if empty:
            system.append(f"{empty} = true")
        if draw(st.booleans()):
            system.append(f"wrap = {string_literal(draw, text() + '{system}' + text())}")
    if placement == "hoist":
        system.append(f'select = "{_choice(draw, "all", "last")}"')
        system.append(f"join = {string_literal(draw, draw(raw_text))}")
        system.append(f"item_prefix = {literal()}")
    if placement == "refuse":
        system.append(f"message = {string_literal(draw, draw(raw_text.filter(bool)))}")

    # [roles.*] and [any_role]
    any_role = draw(st.booleans()) or not role_names
    writer_name = (leading or ["system"])[0]
    needs_writer = placement == "message" and default is not None
    if needs_writer and writer_name not in role_names and not any_role:
        role_names.append(writer_name)
    reasoning_role = None
    role_tables: List[str] = []
    role: Any
    for role in role_names + ([None] if any_role else []):
        header = "[any_role]" if role is None else f"[roles.{quoted_key(role)}]"
        mode = _choice(draw, *(["write"] * 6 + ["drop", "refuse"]))
        if needs_writer and (role == writer_name or (role is None and writer_name not in role_names)):
            mode = "write"
        role_tables.append(header)
        if mode == "drop":
            role_tables.append("drop = true")
            continue
        if mode == "refuse":
            role_tables.append(f"refuse = {string_literal(draw, draw(raw_text.filter(bool)))}")
            continue
        role_tables.append(f"prefix = {literal(('role',))}")
        role_tables.append(f"suffix = {literal(('role',))}")
        role_tables.append(f'trim = "{_choice(draw, *trims)}"')
        empty = _choice(draw, None, None, "skip_empty", "when_empty")
        if empty == "skip_empty":
            role_tables.append("skip_empty = true")
        elif empty == "when_empty":
            role_tables.append(f"when_empty = {literal(('role',))}")
        if draw(st.integers(0, 3)) == 0:
            role_tables.append(f"final_suffix = {literal(('role',))}")
        if draw(st.integers(0, 3)) == 0:
            role_tables.append(f"final_suffix_with_prompt = {literal(('role',))}")
        if draw(st.integers(0, 3)) == 0:
            role_tables.append(f"prefix_after = {role_table(draw(some_roles), ('role',))}")
        if draw(st.integers(0, 4)) == 0:
            marker = draw(payload.filter(bool))
            keep = _choice(draw, "after_last", "after_first")
            scope = _choice(draw, "history", "all")
            role_tables.append(
                f'strip_reasoning = {{ marker = {toml_string(marker)}, keep = "{keep}", '
                f'lstrip = {toml_string(draw(raw_text))}, scope = "{scope}", '
                f'always = {_choice(draw, "true", "false")} }}')
        elif role == "assistant":
            reasoning_role = role
        if draw(st.integers(0, 4)) == 0:
            words = draw(st.lists(payload.filter(bool), min_size=1, max_size=2, unique=True))
            role_tables.append("refuse_containing = [" + ", ".join(toml_string(w) for w in words) + "]")
            if draw(st.booleans()):
                role_tables.append(f"refuse_containing_message = {toml_string(draw(raw_text.filter(bool)))}")

    if reasoning_role and placement not in ("fold_first", "fold_last") and draw(st.booleans()):
        opener, closer = draw(st.lists(payload.filter(bool), min_size=2, max_size=2, unique=True))
        reasoning = ["[reasoning]", f"role = {toml_string(reasoning_role)}", f"open = {toml_string(opener)}",
                     f"close = {toml_string(closer)}",
                     f"template = {string_literal(draw, text() + '{reasoning}' + text() + '{content}' + text())}",
                     f'reasoning_trim = "{_choice(draw, "newlines", "both")}"',
                     f'show = "{_choice(draw, "final_or_present", "always")}"']
        if draw(st.booleans()):
            excluded = draw(st.lists(payload.filter(bool), min_size=2, max_size=2))
            reasoning.append("query_exclude = [" + ", ".join(toml_string(w) for w in excluded) + "]")
        if draw(st.booleans()):
            reasoning += ['no_query = "refuse"', f"no_query_message = {toml_string(draw(raw_text.filter(bool)))}"]
        tables += reasoning

    if draw(st.booleans()):
        tables += ["[alternation]", f"message = {string_literal(draw, draw(raw_text.filter(bool)))}"]
    generation = ["[generation]", f"prompt = {literal()}", f"otherwise = {literal()}"]
    if draw(st.integers(0, 3)) == 0:
        generation.append(f"prompt_after = {role_table(draw(some_roles))}")
    if draw(st.integers(0, 3)) == 0:
        generation.append(f"otherwise_after = {role_table(draw(some_roles))}")
    if draw(st.integers(0, 3)) == 0:
        generation.append("require_body = true")

    control_tokens = draw(st.lists(payload.filter(lambda s: bool(s) and "\u241b" not in s and not blows_up_escape(s)),
                                   unique=True, max_size=3))
    control: List[str] = []
    if control_tokens or draw(st.booleans()):
        control = ["[control]", "tokens = [" + ", ".join(toml_string(t) for t in control_tokens) + "]"]
        declared = control_tokens + list(tokens.values())
        escaped = draw(st.lists(st.sampled_from(declared), unique=True, max_size=2)) if declared else []
        if escaped:
            # U+241B is in no token, so an escape can never help spell one again.
            control.append("[control.escape]")
            control += [f"{quoted_key(t)} = \"\u241b\u241b\"" for t in escaped]

    var_tables: List[str] = []
    joined = "".join(texts) + start
    for name in variables:
        if "{" + name + "}" not in joined and "{ " + name + " }" not in joined:
            start += "{" + name + "}"
        var_tables.append(f"[variables.{name}]")
        kind = _choice(draw, "default", "default", "strftime", "required", "switch")
        if kind == "default":
            var_tables.append(f"default = {string_literal(draw, draw(raw_text))}")
        elif kind == "strftime":
            strftime = "%Y-%m-%d" + draw(st.sampled_from(STRFTIME_TAILS))
            var_tables.append(f"strftime = {toml_string(strftime)}")
        elif kind == "required":
            var_tables.append("required = true")
        else:
            var_tables.append(f"when_true = {string_literal(draw, draw(raw_text))}")
            var_tables.append(f"when_false = {string_literal(draw, draw(raw_text))}")
            if draw(st.booleans()):
                var_tables.append(f"default = {_choice(draw, 'true', 'false')}")
    top.append(f"start = {string_literal(draw, start)}")
    return "\n".join(top + tables + var_tables + system + role_tables + generation + control) + "\n"


#: Message roles for conversations over hostile formats: declared names and strangers.
conversation_role = st.sampled_from(ROLE_NAMES + ["system", "user", "assistant", "user", "assistant", "stranger"])
conversation_content = st.one_of(payload, st.text(max_size=16),
                                 st.lists(payload, min_size=2, max_size=3).map("".join))


@st.composite
def hostile_conversation(draw, roles: Iterable[str] = ()) -> List[Dict[str, str]]:
    role = st.sampled_from(list(roles)) | conversation_role if roles else conversation_role
    if draw(st.booleans()):
        sequence = (["system"] if draw(st.booleans()) else []) + [
            "user" if i % 2 == 0 else "assistant" for i in range(draw(st.integers(1, 5)))
        ]
    else:
        sequence = draw(st.lists(role, min_size=1, max_size=6))
    return [{"role": r, "content": draw(conversation_content)} for r in sequence]


# ---------------------------------------------------------------------------
# Helpers about variables


def pinned_values(fmt: Any, date: str = "26 Jul 2024") -> Dict[str, Any]:
    """A value for every declared variable: switches on, mappings given, numbers 512 (Seed-OSS's budget turn
    written), texts (dates, required ones) pinned (as JSON text where a serialiser writes the variable); and an
    empty list of tools for a format that needs them (a model's tool_use template)."""
    import json

    values = {v.name: (True if getattr(v, "when_true", None) is not None
                       else {"citations": True} if getattr(v, "when_given", None) is not None
                       else 512 if getattr(v, "number", None) is not None
                       else json.dumps(date) if getattr(v, "serialiser", None) else date) for v in fmt.spec.variables}
    return {**values, **needed_tools(fmt)}


def needed_tools(fmt: Any) -> Dict[str, Any]:
    """``{"tools": []}`` for a format that refuses to render without tools, as its template raises."""
    tools = fmt.spec.tools
    return {"tools": []} if tools is not None and getattr(tools, "required", False) else {}


# ---------------------------------------------------------------------------
# Outcomes and the execution probe


def outcome(fn: Callable[[], Any]) -> Any:
    """The result, or the PromptcraftError as comparable data; anything else propagates."""
    try:
        return fn()
    except promptcraft.PromptcraftError as error:
        return (type(error).__name__, str(error), getattr(error, "index", None), getattr(error, "role", None))


# ---------------------------------------------------------------------------
# Compiled against reference


def reference_outcome(fmt: Any, messages: Any, gen: bool, cont: bool, policy: str, variables: Dict[str, Any]) -> Any:
    """What the format means, read by the reference interpreter, in the order render applies the options."""
    from promptcraft._engine import reference
    from promptcraft._runtime.continuation import both_flags, continue_final
    from promptcraft._runtime.control import Guard
    from promptcraft._runtime.variables import resolve, unknown_variables

    spec = fmt.spec
    variables = dict(variables)
    tools = variables.pop("tools", None)
    given_values = {k: v for k, v in variables.items() if v is not None}

    def ref_render(msgs: Any, add_generation_prompt: bool = False, **values: Any) -> str:
        return reference.render(spec, msgs, add_generation_prompt, {k: v for k, v in values.items() if v is not None},
                                tools)

    def run() -> str:
        unknown = {k: v for k, v in variables.items() if k not in fmt.variables}
        if unknown:
            raise unknown_variables(spec, unknown)
        guarded = messages if policy == "keep" else Guard(spec).apply(messages, policy)
        if cont:
            if gen:
                raise both_flags()
            return continue_final(ref_render, guarded, dict(variables), spec)
        resolve(spec, given_values)  # render checks its variables before the messages
        return reference.render(spec, guarded, gen, given_values, tools)

    return outcome(run)


def compare_all_options(fmt: Any, messages: Any, variables: Dict[str, Any],
                        policies=("keep", "reject", "escape")) -> int:
    """Compiled against reference for every flag combination and policy; returns how many were compared."""
    compared = 0
    for gen in (False, True):
        for cont in (False, True):
            for policy in policies:
                fast = outcome(partial(fmt.render, messages, add_generation_prompt=gen, continue_final_message=cont,
                                       control_tokens=policy, **variables))
                slow = reference_outcome(fmt, messages, gen, cont, policy, variables)
                assert fast == slow, (gen, cont, policy, messages)
                compared += 1
    return compared



class Probe:
    """Install the probe module and the marker path; any payload that runs leaves a trace."""

    def __init__(self, marker: str) -> None:
        self.marker = marker
        self.hits = 0
        self.system_calls: List[Any] = []

    def __enter__(self) -> "Probe":
        module = types.ModuleType(PROBE_MODULE)
        module.hit = self._hit  # type: ignore[attr-defined]
        sys.modules[PROBE_MODULE] = module
        self._env = os.environ.get(MARKER_ENV)
        os.environ[MARKER_ENV] = self.marker
        self._system = os.system
        os.system = self._os_system  # type: ignore[assignment]
        return self

    def _hit(self) -> None:
        self.hits += 1

    def _os_system(self, command: Any) -> int:
        self.system_calls.append(command)
        return 0

    def __exit__(self, *exc: Any) -> None:
        os.system = self._system  # type: ignore[assignment]
        sys.modules.pop(PROBE_MODULE, None)
        if self._env is None:
            os.environ.pop(MARKER_ENV, None)
        else:
            os.environ[MARKER_ENV] = self._env

    def assert_clean(self) -> None:
        assert self.hits == 0, "a payload ran: the probe module was called"
        assert not self.system_calls, f"a payload ran: os.system{self.system_calls!r}"
        assert not os.path.exists(self.marker), "a payload ran: the marker file was created"


# ---------------------------------------------------------------------------
# Reporting the counts


def _report(request: Any, prefix: str) -> None:
    numbers = {k: v for k, v in sorted(COUNTS.items()) if k.startswith(prefix)}
    if not numbers:
        return
    line = f"[{prefix}] " + ", ".join(f"{k[len(prefix) + 1:]}={v}" for k, v in numbers.items())
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_line("")
            reporter.write_line(line)
    target = os.environ.get("PROMPTCRAFT_COUNTS_FILE")
    if target:
        with open(target, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({prefix: numbers}) + "\n")


def count_report(prefix: str) -> Any:
    """A module-scoped autouse fixture printing the counters that start with ``prefix``."""

    @pytest.fixture(scope="module", autouse=True)
    def _counts(request: Any) -> Any:
        yield COUNTS
        _report(request, prefix)

    return _counts
