"""Hostile format files: every string a payload, and the compiled renderer still only writes literals.

For random formats whose prefixes, suffixes, start, fold, system texts, generation
texts, tokens, variable defaults, refusals and role names are quote breakers,
Python-looking payloads, control characters, line separators and triple quotes:

(a) loading succeeds or raises ``FormatError``, nothing else;
(b) the compiled renderer gives the reference interpreter's result or error, for
    random conversations, with every flag combination and control-token policy;
(c) no payload runs: a probe module, a marker file and ``os.system`` are watched;
(d) the generated source is one function ``render`` whose names, calls and node
    kinds are a fixed set (plus the declared variables), and whose string
    constants are all made of the format's own texts.

The counts of formats tried are printed at the end of the module (``[hostile] ...``).
Bugs found are pinned by ``xfail(strict=True)`` tests at the bottom of the file.
"""

from __future__ import annotations

import ast
import os
import re
import sys
import time
from functools import partial
from typing import Any, Dict, List

import attrs
import pytest
from hostile_support import (
    COUNTS,
    IN_CI,
    PAYLOADS,
    REFUSED_VARIABLES,
    ROLE_NAMES,
    RUN_PROBE,
    SAFE_VARIABLES,
    TOUCH_MARKER,
    Probe,
    compare_all_options,
    count_report,
    escape_braces,
    hostile_conversation,
    hostile_format,
    outcome,
    toml_literal,
    toml_string,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import promptcraft
from promptcraft._engine import reference
from promptcraft._engine.pygen import HELPERS, LOCALS

_counts = count_report("hostile")

EXAMPLES = int(os.environ.get("PROMPTCRAFT_HOSTILE_EXAMPLES", "200"))
HOSTILE_SETTINGS = settings(
    max_examples=EXAMPLES, deadline=None, derandomize=IN_CI, database=None if IN_CI else settings.default.database,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)

# ---------------------------------------------------------------------------
# What generated source may contain

#: Identifiers the generated code may use: its own locals and helpers (codegen.LOCALS and HELPERS, which
#: validation reserves), plus the declared variables and, for a switch, its ``_NAME`` local.
FIXED_NAMES = frozenset(LOCALS) | frozenset(HELPERS)
CALLABLE_NAMES = frozenset(HELPERS) | {"render"}
#: Locals holding a text chosen by a condition (``_t1``...), and flags of a role written earlier (``_e0``...).
TEMPORARY = re.compile(r"_[te][0-9]+\Z")
#: Methods the generated code calls; all are str/list/dict methods that run no code of the format's. And
#: ``__class__``, read to tell a content given as a string from one given as a list of parts.
METHODS = frozenset({"strip", "lstrip", "rstrip", "join", "append", "startswith", "endswith", "partition", "rpartition",
                     "get", "replace", "__class__"})
#: AST node kinds of the generated code. A new kind here means codegen grew a construct: review it, then add it.
NODE_KINDS = frozenset({
    "Module", "FunctionDef", "arguments", "arg", "keyword", "Expr", "Constant", "Name", "Load", "Store",
    "Assign", "AugAssign", "If", "IfExp", "For", "While", "Break", "Continue", "Pass", "Raise", "Return", "Try",
    "ExceptHandler", "Call", "Attribute", "Subscript", "Slice", "Tuple", "List", "Dict", "ListComp",
    "GeneratorExp", "comprehension", "Compare", "Eq", "NotEq", "Lt", "LtE", "Gt", "GtE", "In", "NotIn", "Is",
    "IsNot", "BoolOp", "And", "Or", "UnaryOp", "Not", "USub", "BinOp", "Add", "Sub", "Mult", "Starred",
})


def spec_strings(spec: Any) -> List[str]:
    """Every string anywhere in the validated declaration (texts' literal pieces, names, refusals...)."""
    found: List[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, str):
            found.append(value)
        elif attrs.has(type(value)):
            for field in attrs.fields(type(value)):
                walk(getattr(value, field.name))
        elif isinstance(value, (tuple, list)):
            for item in value:
                walk(item)

    walk(spec)
    return found


def format_numbers(spec: Any) -> set:
    """Every number the format declares: number variables' defaults and lookup bounds, ``equals`` values."""
    found: set = set()

    def walk(value: Any) -> None:
        if attrs.has(type(value)):
            for field in attrs.fields(type(value)):
                item = getattr(value, field.name)
                if field.name == "equals" and item:
                    found.update(number for _, number in item)
                elif field.name == "number" and item is not None:
                    found.add(item)
                elif field.name == "lookup" and item:
                    found.update(bound for bound, _ in item)
                else:
                    walk(item)
        elif isinstance(value, (tuple, list)):
            for item in value:
                walk(item)

    walk(spec)
    return found


def format_pieces(spec: Any) -> List[str]:
    """Every text the format declares, as the generated code may quote it (trimmed variants included)."""
    pieces = set()
    for text in spec_strings(spec):
        pieces.update((text, text.strip(), text.lstrip(), text.rstrip(), text.strip("\n")))
    # codegen's own: role names, message fields (the reasoning aliases too), trim names, render inputs
    pieces.update(("system", "user", "assistant", "role", "content", "keep", "\n", "both", "left", "right",
                   "reasoning_content", "thinking", "reasoning", "tool_calls", "name", "documents", "tools"))
    # A number variable's default as the text it stands for (what {NAME} writes when it is not given).
    pieces.update(str(v.number) for v in spec.variables if getattr(v, "number", None) is not None)
    pieces.add(f"Render messages in the {spec.name!r} format.")
    pieces.add(f"Render each conversation in the {spec.name!r} format.")
    pieces.add(f"Render messages in the {spec.name!r} format, with the kind and message of every piece.")
    return sorted((p for p in pieces if p), key=len, reverse=True)


def made_of(text: str, pieces: List[str]) -> bool:
    """Whether ``text`` is a concatenation of ``pieces`` (word-break over the format's texts)."""
    reachable = [False] * (len(text) + 1)
    reachable[0] = True
    for start in range(len(text)):
        if not reachable[start]:
            continue
        for piece in pieces:
            if text.startswith(piece, start):
                reachable[start + len(piece)] = True
    return reachable[len(text)]


def check_source(fmt: Any) -> None:
    """(d): the two generated functions, fixed names and calls, constants from the format only."""
    tree = ast.parse(fmt.source)
    assert [getattr(n, "name", type(n).__name__) for n in tree.body] == ["render", "render_many", "render_spans"]
    for function in tree.body:
        assert isinstance(function, ast.FunctionDef) and not function.decorator_list
    variables = set(fmt.variables)
    assert not variables & FIXED_NAMES, "a variable shares a name with the generated code"
    variables |= {f"_v_{v.name}" for v in fmt.spec.variables
                  if getattr(v, "when_true", None) is not None or getattr(v, "when_given", None) is not None
                  or getattr(v, "number", None) is not None or getattr(v, "nonblank", None) is not None}
    # A number variable's derived text (its lookup slot, which no variable may be called).
    variables |= {f"_v_{v.lookup_slot}" for v in fmt.spec.variables if getattr(v, "lookup_slot", None)}
    pieces = format_pieces(fmt.spec)
    numbers = format_numbers(fmt.spec)
    for node in ast.walk(tree):
        kind = type(node).__name__
        assert kind in NODE_KINDS, f"unexpected {kind} node in generated source"
        if isinstance(node, ast.Name):
            assert node.id in FIXED_NAMES | variables or TEMPORARY.match(node.id), f"unexpected name {node.id!r}"
        elif isinstance(node, ast.arg):
            assert node.arg in FIXED_NAMES | variables, f"unexpected parameter {node.arg!r}"
        elif isinstance(node, ast.Attribute):
            assert node.attr in METHODS, f"unexpected attribute {node.attr!r}"
        elif isinstance(node, ast.Call):
            func = node.func
            assert (isinstance(func, ast.Name) and func.id in CALLABLE_NAMES) or isinstance(func, ast.Attribute), \
                ast.dump(func)
        elif isinstance(node, ast.Constant):
            if isinstance(node.value, str):
                assert made_of(node.value, pieces), f"string constant not from the format: {node.value[:80]!r}"
            else:
                # flags, counts, and span tags: (message index + 1) * 8 + kind code
                small_int = type(node.value) is int and 0 <= node.value < 64
                assert node.value in (None, False, True) or small_int or node.value in numbers, node.value


# ---------------------------------------------------------------------------
# Loading


def load(text: str) -> Any:
    """(a): a Format, or None after a FormatError; any other exception fails the test."""
    try:
        return promptcraft.loads_format(text)
    except promptcraft.FormatError as error:
        assert isinstance(error, ValueError)
        assert error.reason and isinstance(str(error), str)
        COUNTS["hostile.formats_refused_with_FormatError"] += 1
        return None
    except Exception:
        COUNTS["hostile.exceptions_escaped"] += 1
        raise


@pytest.fixture(scope="module")
def marker(tmp_path_factory):
    return str(tmp_path_factory.mktemp("pwned") / "marker")


@HOSTILE_SETTINGS
@given(text=hostile_format(), data=st.data())
def test_hostile_formats_load_render_like_reference_and_run_nothing(marker, text, data):
    """Random hostile formats load or give FormatError, render as the reference does, and execute no payload."""
    COUNTS["hostile.formats_tried"] += 1
    COUNTS["hostile.random_formats_tried"] += 1
    with Probe(marker) as probe:
        fmt = load(text)
        if fmt is not None:
            COUNTS["hostile.formats_compiled"] += 1
            check_source(fmt)
            roles = [r.name for r in fmt.spec.roles]
            for _ in range(2):
                messages = data.draw(hostile_conversation(roles))
                variables: Dict[str, Any] = {}
                for var in fmt.spec.variables:
                    if getattr(var, "when_true", None) is not None:
                        value = data.draw(st.sampled_from([None, True, False, "yes", 1]))
                    elif var.strftime is not None:
                        value = "2025-01-01"  # pinned: the clock must not tick between two renders
                    else:
                        value = data.draw(st.none() | st.sampled_from(PAYLOADS) | st.text(max_size=6))
                    variables[var.name] = value
                COUNTS["hostile.renders_compared"] += compare_all_options(fmt, messages, variables)
            # Unpinned, a strftime variable is today's date; the render still works (or names a missing variable).
            out = outcome(lambda: fmt.render([{"role": "user", "content": "x"}]))
            assert isinstance(out, (str, tuple))
        probe.assert_clean()


# ---------------------------------------------------------------------------
# Deterministic sweeps: every payload in every slot, every role name, very long strings

SLOTS = {
    # slot -> (TOML declaring it, with @T@ standing for the hostile string; whether that string is a template)
    "start": ('start = @T@\n[any_role]\nprefix = "<{role}>"\n', True),
    "role.prefix": ('[roles.user]\nprefix = @T@\n[any_role]\n', True),
    "role.suffix": ('[roles.user]\nsuffix = @T@\n[any_role]\n', True),
    "any_role.prefix": ('[any_role]\nprefix = @T@\n', True),
    "system.block": ('[system]\nplacement = "block"\nprefix = @T@\nsuffix = @T@\ndefault = @T@\n[any_role]\n', True),
    "system.fold": ('[system]\nplacement = "fold_first"\nfold = @T@\n[any_role]\n', True),
    "system.default": ('[system]\ndefault = @T@\n[any_role]\nprefix = "<{role}>"\n', False),
    "generation": ('[any_role]\n[generation]\nprompt = @T@\notherwise = @T@\n', True),
    "tokens": ('start = "{bos}"\n[tokens]\nbos = @T@\neos = @T@\n[any_role]\nsuffix = "{eos}"\n', False),
    "variable.default": ('start = "{v}"\n[variables.v]\ndefault = @T@\n[any_role]\n', False),
    "refuse": ('[roles.tool]\nrefuse = @T@\n[any_role]\n', False),
    "alternation": ('[alternation]\nmessage = @T@\n[any_role]\n', False),
    "system.refuse": ('[system]\nplacement = "refuse"\nmessage = @T@\n[any_role]\n', False),
    "control": ('[control]\ntokens = [@T@]\n[any_role]\n', False),
    "description": ('description = @T@\n[any_role]\n', False),
}
CHAT = [{"role": "system", "content": " S "}, {"role": "user", "content": "U"}, {"role": "assistant", "content": "A"},
        {"role": "tool", "content": "T"}]


def slot_format(slot: str, value: str, quote=toml_string) -> str:
    """A format declaring ``value`` (brace-escaped where it is a template) in ``slot``."""
    body, is_template = SLOTS[slot]
    text = escape_braces(value) if is_template else value
    if slot == "system.fold":
        text += "{system}|{content}"
    return 'name = "slot"\n' + body.replace("@T@", quote(text))


@pytest.mark.parametrize("slot", sorted(SLOTS))
def test_every_payload_in_every_slot_is_a_literal(slot, tmp_path):
    """Each payload, in each slot and in both TOML string styles, loads, renders as the reference and runs nothing."""
    with Probe(str(tmp_path / "marker")) as probe:
        for value in PAYLOADS:
            for quote in (toml_string, toml_literal):
                COUNTS["hostile.formats_tried"] += 1
                fmt = load(slot_format(slot, value, quote))
                if fmt is None:
                    continue
                COUNTS["hostile.formats_compiled"] += 1
                check_source(fmt)
                for chat in (CHAT, CHAT[1:3]):
                    COUNTS["hostile.renders_compared"] += compare_all_options(fmt, chat, {})
                rendered = outcome(partial(fmt.render, CHAT[1:3]))
                if slot in ("start", "role.prefix", "any_role.prefix", "generation", "variable.default") \
                        and isinstance(rendered, str):
                    assert value in rendered, "the payload must be written verbatim"
        probe.assert_clean()


@pytest.mark.parametrize("name", ROLE_NAMES, ids=[repr(n)[:40] for n in ROLE_NAMES])
def test_hostile_role_names_are_repr_literals(name, tmp_path):
    """A role name is compared as a repr() literal: it loads (or FormatError), renders its messages, runs nothing."""
    text = (f'name = "roles"\n[roles.{toml_string(name)}]\nprefix = "<{{role}}>"\nsuffix = "</>"\n'
            '[any_role]\nrefuse = "no"\n')
    with Probe(str(tmp_path / "marker")) as probe:
        COUNTS["hostile.formats_tried"] += 1
        fmt = load(text)
        if fmt is None:
            lone_surrogate = any(0xD800 <= ord(c) <= 0xDFFF for c in name)
            assert not name or name != name.strip() or lone_surrogate
            return
        COUNTS["hostile.formats_compiled"] += 1
        check_source(fmt)
        tree = ast.parse(fmt.source)
        compared = [c.comparators[0].value for c in ast.walk(tree)
                    if isinstance(c, ast.Compare) and isinstance(c.left, ast.Name) and c.left.id == "_role"
                    and isinstance(c.comparators[0], ast.Constant)]
        assert name in compared
        chat = [{"role": name, "content": "hi"}]
        assert fmt.render(chat) == reference.render(fmt.spec, chat) == f"<{name}>hi</>"
        with pytest.raises(promptcraft.RefusedError) as caught:
            fmt.render(chat + [{"role": name + "x", "content": "c"}])
        assert (caught.value.index, caught.value.role) == (1, name + "x")
        probe.assert_clean()


@pytest.mark.parametrize("name", SAFE_VARIABLES)
def test_python_looking_variable_names_are_plain_parameters(name):
    """Variables named like builtins or dunders are keyword parameters, no more, and render like the reference."""
    text = f'name = "v"\n[variables.{name}]\ndefault = "D"\n[any_role]\nprefix = "<{{{name}}}|{{role}}>"\n'
    fmt = promptcraft.loads_format(text)
    check_source(fmt)
    chat = [{"role": "user", "content": "c"}, {"role": "assistant", "content": "d"}]
    for variables in ({}, {name: "V"}, {name: 5}):
        compare_all_options(fmt, chat, variables)
    assert fmt.render(chat, **{name: "V"}) == "<V|user>c<V|assistant>d"


@pytest.mark.parametrize("name", REFUSED_VARIABLES)
def test_keyword_and_reserved_variable_names_are_refused(name):
    """Keywords, reserved names and non-identifiers cannot be variables: FormatError naming the variable."""
    text = f'name = "v"\n[variables.{toml_string(name)}]\ndefault = "D"\n[any_role]\nprefix = "x"\n'
    with pytest.raises(promptcraft.FormatError) as caught:
        promptcraft.loads_format(text)
    assert caught.value.key == f"variables.{name}"
    assert caught.value.line == 2


LONG = {
    "letters": "x" * 100_000,
    "quotes": ("'''\"\"\"\\'\\\"" * 10_000)[:100_000],
    "payload": (f"'); {RUN_PROBE} #\n" * 4_000)[:100_000],
    "separators": "\u2028\u2029\x85\r\n\x00" * 16_000,
}


@pytest.mark.parametrize("kind", sorted(LONG))
@pytest.mark.parametrize("slot", ["start", "role.prefix", "system.default", "system.fold", "generation", "tokens",
                                  "variable.default"])
def test_very_long_strings(slot, kind, tmp_path):
    """A ~100k-character string in a slot loads, compiles to one literal-only function and renders as the reference."""
    value = LONG[kind]
    text = slot_format(slot, value, toml_string)
    with Probe(str(tmp_path / "marker")) as probe:
        COUNTS["hostile.formats_tried"] += 1
        fmt = load(text)
        if fmt is None:
            assert len(text.encode("utf-8")) > 256 * 1024 or slot == "tokens"
            return
        COUNTS["hostile.formats_compiled"] += 1
        check_source(fmt)
        for chat in (CHAT[:3], CHAT[1:3]):
            COUNTS["hostile.renders_compared"] += compare_all_options(fmt, chat, {}, policies=("keep",))
        assert max(len(fmt.render(CHAT[:3])), len(fmt.render(CHAT[1:3]))) >= len(value)
        probe.assert_clean()


def test_builtin_formats_generate_literal_only_code():
    """The shipped formats obey the same source rules as hostile ones."""
    for name in promptcraft.list_formats():
        check_source(promptcraft.get_format(name))


def test_oversized_text_is_a_format_error():
    """A format text over the size limit is refused with FormatError before parsing."""
    with pytest.raises(promptcraft.FormatError, match="limit"):
        promptcraft.loads_format('name = "x"\n#' + "a" * (256 * 1024) + "\n")


# ---------------------------------------------------------------------------
# Bugs found by this suite, pinned until fixed


@pytest.mark.parametrize("text", [
    'name = "x"\n[system]\ndefault = ""\n[any_role]\n',
    'name = "x"\n[system]\ndefault = "  "\n[roles.system]\ntrim = "both"\n[any_role]\nprefix = "x"\n',
])
def test_empty_system_default_compiles(text):
    """An empty system default written by a role with no prefix or suffix loads and writes nothing for it."""
    # Regression: this suite found these raising IndentationError at load (an empty `if` block); fixed upstream.
    fmt = promptcraft.loads_format(text)
    chat = [{"role": "user", "content": "c"}]
    assert fmt.render(chat) == reference.render(fmt.spec, chat)
    check_source(fmt)


@pytest.mark.parametrize("separator", ["\n", "\r"])
def test_path_cannot_inject_code(separator, tmp_path):
    """The path labelling a format is never code, whatever characters it holds."""
    path = f"fmt{separator}{RUN_PROBE}{separator}#.toml"
    with Probe(str(tmp_path / "marker")) as probe:
        try:
            promptcraft.loads_format('name = "x"\n[any_role]\n', path=path)
        finally:
            probe.assert_clean()


def test_file_name_cannot_inject_code(tmp_path):
    """Loading a real file whose name carries a payload creates no marker file."""
    marker = tmp_path / "marker"
    evil = tmp_path / f"x\n{TOUCH_MARKER}\n#.toml"
    evil.write_text('name = "x"\n[any_role]\n', encoding="utf-8")
    with Probe(str(marker)) as probe:
        try:
            promptcraft.load_format(evil)
        finally:
            probe.assert_clean()


@pytest.mark.parametrize("path", ["a\x00b.toml", "\udcff.toml"], ids=["nul", "surrogate"])
def test_odd_paths_label_errors_only(path):
    """Whatever the path label, loading a valid text succeeds (the path is only a label)."""
    try:
        promptcraft.loads_format('name = "x"\n[any_role]\n', path=path)
    except promptcraft.FormatError:
        pass


def test_undecodable_file_name(tmp_path):
    """A format file whose name is not UTF-8 loads like any other."""
    if sys.platform != "linux":
        pytest.skip("needs a filesystem that accepts arbitrary bytes in names")
    raw = os.fsencode(str(tmp_path)) + b"/\xff.toml"
    with open(raw, "wb") as handle:
        handle.write(b'name = "x"\n[any_role]\n')
    fmt = promptcraft.load_format(os.fsdecode(raw))
    assert fmt.render([{"role": "u", "content": "c"}]) == "c"


def variable_format(name: str, kind: str) -> str:
    decl = {"default": 'default = "D"', "strftime": 'strftime = "%Y"', "required": "required = true",
            "switch": 'when_true = "T"\nwhen_false = "F"'}[kind]
    return (f'name = "v"\n[variables.{name}]\n{decl}\n[variables.d]\nstrftime = "%Y"\n[variables.r]\n'
            f'required = true\n[system]\nplacement = "fold_first"\nfold = "{{system}}/{{content}}"\n'
            f'[alternation]\nmessage = "alternate"\n[roles.user]\nprefix = "<{{{name}}}|{{role}}|{{d}}|{{r}}>"\n'
            f'[roles.tool]\nrefuse = "no tools"\n[any_role]\nprefix = "<{{{name}}}|{{role}}>"\n'
            f'[generation]\nprompt = "{{{name}}}"\n')


VARIABLE_KINDS = ("default", "strftime", "required", "switch")


def check_variable_name(name: str, kinds=VARIABLE_KINDS) -> None:
    """Load a format using variable ``name`` in every slot: FormatError, or renders exactly as the reference."""
    chats = [
        [{"role": "system", "content": "S"}, {"role": "user", "content": "c"}, {"role": "assistant", "content": "d"}],
        [{"role": "user", "content": "c"}, {"role": "tool", "content": "t"}],
        [{"role": "assistant", "content": "c"}],
        [],
        [{"role": "user", "content": 5}],
    ]
    for kind in kinds:
        try:
            fmt = promptcraft.loads_format(variable_format(name, kind))
        except promptcraft.FormatError as error:
            assert error.key == f"variables.{name}"
            continue
        check_source(fmt)
        good = True if kind == "switch" else "V"
        pinned = {"d": "2025", "r": "R"}
        for chat in chats:
            for values in ({name: good, **pinned}, {name: 5, **pinned}, {name: None, **pinned}, pinned,
                           {name: good, "zz_unknown": "x", **pinned}, {name: good, "d": 5, "r": "R"},
                           {name: good, "d": "2025"}, {name: good, "r": "R"}):  # the last: d is today's date
                compare_all_options(fmt, chat, values)


#: Every identifier of the generated code, and builtins it might one day use: as a variable name, each is
#: refused (FormatError) or harmless.
GENERATED_NAMES = sorted(set(LOCALS) | set(HELPERS) | {"__debug__", "__name__", "__builtins__", "print", "repr",
                                                        "exec", "eval", "getattr", "open", "__import__"})


@pytest.mark.parametrize("name", GENERATED_NAMES)
def test_variable_names_of_the_generated_code(name):
    """A variable named like a local, helper or builtin of the renderer is refused or renders like the reference."""
    # Regression: this suite found 20 such names (unknown, render, isinstance, str, TypeError, out, first, i, m,
    # _fallback, _today...) that broke the renderer (SyntaxError at load, TypeError or a wrong OptionsError at
    # render); validate now reserves codegen.LOCALS, HELPERS and names starting with '_'.
    check_variable_name(name)


HELPER_NAMES = sorted(h[1:] for h in HELPERS)
SWITCH_SAFE_TODAY = {"refuse_system", "refuse_alternation", "refuse_role", "refuse_content", "refuse_no_query",
                     "continue"}  # the refusal helpers are called inside the try block; `continue` is a keyword


@pytest.mark.parametrize("name", [n
                                  for n in HELPER_NAMES])
def test_switch_named_like_a_helper(name):
    """A switch variable whose name is a helper's without the underscore is refused or renders like the reference."""
    check_variable_name(name, kinds=("switch",))


def test_switch_named_today_minimal():
    """The plainest case of the bug above: a switch `today` beside a date variable renders like the reference."""
    text = ('name = "x"\n[variables.today]\nwhen_true = "T"\nwhen_false = "F"\n[variables.d]\nstrftime = "%Y"\n'
            '[any_role]\nprefix = "{today}{d}"\n')
    try:
        fmt = promptcraft.loads_format(text)
    except promptcraft.FormatError:
        return
    chat = [{"role": "user", "content": "c"}]
    assert fmt.render(chat, d="2025") == reference.render(fmt.spec, chat, False, {"d": "2025"}) == "F2025c"
    assert fmt.render(chat) == reference.render(fmt.spec, chat)  # unpinned: _today is called, and shadowed


def test_fold_with_many_placeholders():
    """A long fold loads (or is a FormatError), never a RecursionError."""
    fold = "{system}{content}" * 3000
    try:
        fmt = promptcraft.loads_format(f'name = "x"\n[system]\nplacement = "fold_first"\nfold = "{fold}"\n[any_role]\n')
    except promptcraft.FormatError:
        return
    chat = [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]
    assert fmt.render(chat) == reference.render(fmt.spec, chat)


def test_many_roles():
    """A format with thousands of roles loads (or is a FormatError), never a RecursionError."""
    text = 'name = "x"\n' + "".join(f'[roles.r{i}]\nprefix = "<{i}>"\n' for i in range(5000))
    try:
        fmt = promptcraft.loads_format(text)
    except promptcraft.FormatError:
        return
    chat = [{"role": "r4999", "content": "u"}]
    assert fmt.render(chat) == "<4999>u"


def test_as_many_roles_as_allowed_are_fine():
    """The documented maximum of roles compiles and each is written by its own declaration."""
    from promptcraft._spec.validate import MAX_ROLES

    text = 'name = "x"\n' + "".join(f'[roles.r{i}]\nprefix = "<{i}>"\n' for i in range(MAX_ROLES))
    fmt = promptcraft.loads_format(text)
    chat = [{"role": f"r{i}", "content": "."} for i in range(0, MAX_ROLES, 7)]
    assert fmt.render(chat) == reference.render(fmt.spec, chat) == "".join(f"<{i}>." for i in range(0, MAX_ROLES, 7))
    with pytest.raises(promptcraft.FormatError, match="at most"):
        promptcraft.loads_format(text + f'[roles.r{MAX_ROLES}]\nprefix = "x"\n')


def test_strftime_with_surrogate():
    """Text with a lone surrogate (possible only through loads_format of a str) is refused at load."""
    with pytest.raises(promptcraft.FormatError, match="lone surrogate") as caught:
        promptcraft.loads_format('name = "x"\n[variables.d]\nstrftime = "%Y\ud800"\n[any_role]\nprefix = "{d}"\n')
    assert caught.value.line == 3


def test_declared_escape_that_respells_the_token():
    """escape leaves no control token in content, even when the declared replacement could re-form one."""
    fmt = promptcraft.loads_format('name = "x"\n[tokens]\nbos = "ab"\n[control.escape]\nab = "bbaa"\n[any_role]\n')
    out = fmt.render([{"role": "user", "content": "aabb"}], control_tokens="escape")
    assert "ab" not in out
    assert len(out) < 100


def test_one_character_control_token():
    """A format whose control token escape cannot work is refused, or escape removes the token."""
    try:
        fmt = promptcraft.loads_format('name = "x"\n[control]\ntokens = ["|"]\n[any_role]\n')
    except promptcraft.FormatError:
        return
    out = fmt.render([{"role": "user", "content": "a|b"}], control_tokens="escape")
    assert "|" not in out


def test_zero_width_space_token_escape_is_not_exponential():
    """A control token holding U+200B (which escaping inserts) is refused at load, so escaping stays linear."""
    for token in ("\\u200b", "a\\u200bb"):
        with pytest.raises(promptcraft.FormatError, match="control.tokens"):
            promptcraft.loads_format(f'name = "x"\n[control]\ntokens = ["{token}"]\n[any_role]\n')
    fmt = promptcraft.loads_format('name = "x"\n[control]\ntokens = ["ab"]\n[any_role]\n')
    out = fmt.render([{"role": "user", "content": "ab" * 5000}], control_tokens="escape")
    assert len(out) == 15000 and "ab" not in out


def test_locating_keys_is_not_quadratic():
    """A 1 KB format file with a line of spaces after '[' is located in well under a second."""
    text = 'name = "x"\nstop = [\n[' + " " * 1000 + "\n]]\n[any_role]\n"
    started = time.perf_counter()
    with pytest.raises(promptcraft.FormatError):
        promptcraft.loads_format(text)
    assert time.perf_counter() - started < 0.3
