"""Turning a ``FormatSpec`` into the Python source of its renderer.

The generated function is what runs on every render, so it is specialised:
only the rules the format declares produce code, constant text is merged into
literals, and the common case is one pass that extends a list and joins it.

Safety rule: a string from a format file reaches the source only through
``repr()``, as a literal. Names in the source come from this module (fixed
identifiers) or are variable names that ``validate`` has checked to be plain
identifiers. Input the fast path cannot handle (malformed messages raise
``LookupError``, ``TypeError`` or ``AttributeError``; refusals raise
``_Unhandled``) goes to the reference interpreter, which renders it or reports
the precise problem: the fast path never needs a message's index, and the
errors cannot drift from the reference's.
"""

from __future__ import annotations

import os
from typing import List, Optional, Sequence, Tuple, Union

from .._spec.model import EMPTY, FormatSpec, Role, Text
from . import reference

#: Local names of the generated code; a variable may not take one of them.
LOCALS = frozenset({
    "messages", "unknown", "render", "render_many", "conversations", "prompts", "first", "last", "out", "rest", "offset", "system", "m", "role", "content", "i",
    "previous", "user_turn", "target", "found", "query", "text", "reasoning", "prefix", "suffix",
    "add_generation_prompt", "continue_final_message", "control_tokens", "isinstance", "str", "len", "any", "all",
    "enumerate", "TypeError", "LookupError", "AttributeError", "None", "True", "False",
})

#: Names the generated code reads from its globals (see ``compile.py``).
HELPERS = (
    "_fallback", "_hand_on", "_options", "_Unhandled", "_bad_variable", "_bad_switch", "_missing_variable", "_today",
    "_extra_fields",
)  # keep in step with runtime.helpers

#: What a fast path raises for input it hands to the reference interpreter.
_HANDED_ON = "(LookupError, TypeError, AttributeError, _Unhandled)"

#: Role expressions of the generated code (named here: an f-string expression cannot quote them in 3.11).
_M_ROLE = "m['role']"
_FIRST_ROLE = "first['role']"

_TRIM_CALL = {"none": "", "both": ".strip()", "left": ".lstrip()", "right": ".rstrip()"}


class Code:
    """Python expression text, as opposed to literal text to be quoted."""

    __slots__ = ("expr",)

    def __init__(self, expr: str) -> None:
        self.expr = expr


Item = Union[str, Code]


class Writer:
    """Indented source lines."""

    def __init__(self) -> None:
        self.lines: List[str] = []
        self.depth = 0

    def line(self, text: str = "") -> None:
        self.lines.append("    " * self.depth + text if text else "")

    def indent(self) -> "Writer":
        self.depth += 1
        return self

    def dedent(self) -> None:
        self.depth -= 1

    def __enter__(self) -> "Writer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.dedent()


def items(text: Text, scope: dict) -> List[Item]:
    """The text's pieces as literals and expressions; ``scope`` maps slot names to
    either a constant string or a ``Code`` expression."""
    out: List[Item] = []
    for piece in text.pieces:
        out.append(piece if isinstance(piece, str) else scope[piece.name])
    return out


def merge(parts: Sequence[Item]) -> List[str]:
    """Python expressions for ``parts``, adjacent literals merged into one."""
    exprs: List[str] = []
    literal: List[str] = []
    for part in parts:
        if isinstance(part, str):
            literal.append(part)
            continue
        if literal and "".join(literal):
            exprs.append(repr("".join(literal)))
        literal = []
        exprs.append(part.expr)
    if literal and "".join(literal):
        exprs.append(repr("".join(literal)))
    return exprs


def extend(w: Writer, parts: Sequence[Item]) -> None:
    exprs = merge(parts)
    if len(exprs) == 1:
        w.line(f"out.append({exprs[0]})")
    elif exprs:
        w.line(f"out += ({', '.join(exprs)})")


def concat(parts: Sequence[Item]) -> str:
    exprs = merge(parts)
    if not exprs:
        return "''"
    if len(exprs) > 8:  # a long a + b + ... chain nests deeply in the compiler; a join does not
        return "''.join((" + ", ".join(exprs) + ",))"
    return " + ".join(exprs)


def generate(spec: FormatSpec) -> str:
    """The source of ``render`` for ``spec``."""
    return _Generator(spec).source()


def generate_batch(spec: FormatSpec) -> str:
    """The source of ``render_many`` for ``spec`` (it calls ``render`` for what it hands on)."""
    return _Generator(spec).batch_source()


def _literal_tuple(values: Sequence[str]) -> str:
    return "(" + "".join(f"{v!r}, " for v in values) + ")"


class _Generator:
    """Writes one format's renderer; each declared rule adds its lines, and only then."""

    def __init__(self, spec: FormatSpec) -> None:
        self.spec = spec
        self.w = Writer()
        self.variables = [v.name for v in spec.variables]
        # A switch's parameter keeps what the caller gave (the fallback needs it); its text lives in
        # __NAME, which no helper (one underscore) and no variable (none starts with '_') can be.
        self.scope: dict = {v.name: Code(f"__{v.name}" if v.is_switch else v.name) for v in spec.variables}
        roles = list(spec.roles) + ([spec.any_role] if spec.any_role else [])
        self.uses_final = any(r.final_suffix is not None or r.final_suffix_with_prompt is not None for r in roles) or any(
            r.strip_reasoning is not None and r.strip_reasoning.scope == "history" for r in roles) or spec.reasoning is not None
        generation = spec.generation
        self.uses_previous = any(r.prefix_after for r in roles) or bool(generation.prompt_after or generation.otherwise_after)
        system = spec.system
        self.leading = system.leading_roles
        self.hoist = system.placement == "hoist"
        self.fold = system.placement in ("fold_first", "fold_last")
        # What the loop runs over: the messages themselves, unless a leading system message was taken out.
        self.rest = "messages" if system.placement in ("hoist", "message", "refuse") else "rest"
        # Refusals need no index: the fast path leaves them to the reference interpreter.
        self.numbered = self.fold or self.uses_final

    # -- helpers ---------------------------------------------------------
    def is_leading(self, expr: str) -> str:
        if len(self.leading) == 1:
            return f"{expr} == {self.leading[0]!r}"
        return f"{expr} in {_literal_tuple(self.leading)}"

    def source(self) -> str:
        """The source of ``render``: one conversation, every option."""
        spec, w = self.spec, self.w
        var_dict = "{" + ", ".join(f"{name!r}: {name}" for name in self.variables) + "}"
        # The path is the caller's, not the format's, but it is still only ever a literal here.
        origin = repr(os.path.basename(spec.path)) if spec.path else "a string"
        w.line(f"# Renderer of chat format {spec.name!r}, generated by promptcraft from {origin}.")
        w.line("# Every text below is a literal copied from the format; the file contributed no code.")
        params = "".join(f", {name}=None" for name in self.variables)
        w.line(f"def render(messages, *, add_generation_prompt=False, continue_final_message=False, "
               f"control_tokens='keep'{params}, **unknown):")
        w.indent()
        w.line(f'"""Render messages in the {spec.name!r} format."""')
        # The rare options are handled out of line, which keeps this function short (cheap to compile)
        # and the common call to one test.
        w.line("if unknown or continue_final_message or control_tokens != 'keep':")
        with w.indent():
            w.line(f"return _options(render, messages, add_generation_prompt, continue_final_message, control_tokens, "
                   f"unknown, {var_dict})")
        self.resolve_variables()
        w.line("try:")
        with w.indent():
            self.body()
            w.line("return ''.join(out)")
        w.line(f"except {_HANDED_ON}:")
        with w.indent():
            w.line("# Malformed or refused: the reference interpreter says what and where.")
            w.line("pass")
        w.line(f"return _fallback(messages, add_generation_prompt, {var_dict})")
        w.dedent()
        return "\n".join(w.lines) + "\n"

    def batch_source(self) -> str:
        """The source of ``render_many``: ``render``'s body in a loop over conversations, for the
        default options (one call per conversation is a good part of a short render's time)."""
        spec, w = self.spec, self.w
        params = "".join(f", {name}=None" for name in self.variables)
        keywords = "".join(f", {name}={name}" for name in self.variables)
        w.line(f"# Batch renderer of chat format {spec.name!r}: render's body, run for each conversation.")
        w.line(f"def render_many(conversations, add_generation_prompt=False{params}):")
        w.indent()
        w.line(f'"""Render each conversation in the {spec.name!r} format."""')
        w.line("prompts = []")
        w.line("for messages in conversations:")
        with w.indent():
            # In the loop, as in render: an empty batch checks nothing. Once resolved, a value
            # is a str and the next conversation's check is one test.
            self.resolve_variables()
            w.line("try:")
            with w.indent():
                self.body()
                w.line("prompts.append(''.join(out))")
                w.line("continue")
            w.line(f"except {_HANDED_ON}:")
            with w.indent():
                w.line("pass")
            w.line("# Malformed or refused: render hands it to the reference interpreter; an error names the conversation.")
            w.line(f"prompts.append(_hand_on(render, len(prompts), messages, add_generation_prompt=add_generation_prompt"
                   f"{keywords}))")
        w.line("return prompts")
        w.dedent()
        return "\n".join(w.lines) + "\n"

    def resolve_variables(self) -> None:
        """Lines that give each declared variable its value (or refuse a bad one)."""
        w = self.w
        for var in self.spec.variables:
            if var.is_switch:
                # A switch stands for one of its two texts from here on.
                w.line(f"if {var.name} is None:")
                with w.indent():
                    w.line(f"__{var.name} = {(var.when_true if var.switch_default else var.when_false)!r}")
                w.line(f"elif {var.name} is True:")
                with w.indent():
                    w.line(f"__{var.name} = {var.when_true!r}")
                w.line(f"elif {var.name} is False:")
                with w.indent():
                    w.line(f"__{var.name} = {var.when_false!r}")
                w.line("else:")
                with w.indent():
                    w.line(f"raise _bad_switch({var.name!r}, {var.name})")
                continue
            w.line(f"if {var.name} is None:")
            with w.indent():
                if var.required:
                    w.line(f"raise _missing_variable({var.name!r})")
                elif var.strftime is not None:
                    w.line(f"{var.name} = _today({var.strftime!r})")
                else:
                    w.line(f"{var.name} = {var.default!r}")
            w.line(f"elif not isinstance({var.name}, str):")
            with w.indent():
                w.line(f"raise _bad_variable({var.name!r}, {var.name})")

    def body(self) -> None:
        """Lines that render ``messages`` into the list ``out``, or raise for the reference to take over."""
        spec, w = self.spec, self.w
        w.line("first = messages[0]")
        if self.uses_final:
            w.line("last = len(messages) - 1")
        default_text = self.constant_default()
        if default_text is None or spec.start_when_first:
            start = merge(items(spec.start, self.scope))
            if start and spec.start_when_first:
                w.line(f"out = [{', '.join(start)}] if first['role'] in {_literal_tuple(spec.start_when_first)} else []")
            else:
                w.line(f"out = [{', '.join(start)}]" if start else "out = []")
            default_text = None
        self.system_section(default_text)
        if spec.reasoning is not None:
            self.last_query()
        if self.uses_previous:
            w.line("previous = None")
        self.loop()
        self.generation()

    # -- the leading system message ---------------------------------------
    def constant_default(self) -> Optional[str]:
        """The default system message as written, when it is one known text (placement "message")."""
        system = self.spec.system
        if system.placement != "message" or system.default is None or system.default.literal is None:
            return None
        writer = self.spec.role(self.leading[0])
        assert writer is not None
        texts = [writer.prefix, writer.suffix] + ([writer.when_empty] if writer.when_empty else [])
        if not all(set(t.names) <= {"role"} for t in texts):
            return None
        # Written as one literal, as the reference interpreter would write it.
        return reference.write(writer, self.leading[0], system.default.literal, {}, False, False, None)

    def system_section(self, default_text: Optional[str]) -> None:
        """The lines for the leading system message; ``default_text``: the constant default message,
        which this writes together with the start text as the first value of ``out``."""
        spec, w, system = self.spec, self.w, self.spec.system
        placement = system.placement
        if placement == "hoist":
            trim_call = _TRIM_CALL[system.trim]
            w.line(f"found = [m['content']{trim_call} for m in messages if {self.is_leading(_M_ROLE)}]")
            if system.select == "last":
                # Every system message's content must still be text, even those not written.
                w.line("if not all(isinstance(text, str) for text in found):")
                with w.indent():
                    w.line("raise TypeError")
                w.line("found = found[-1:]")
            item = system.item_prefix
            if item.pieces:
                joined = f"{system.join!r}.join([{concat(items(item, self.scope))} + text for text in found])"
            else:
                joined = f"{system.join!r}.join(found)"
            extend(w, items(system.prefix, self.scope) + [Code(joined)] + items(system.suffix, self.scope))
            self.offset("0")
            return
        if placement == "message":
            if default_text is not None:
                start = items(self.spec.start, self.scope)
                with_default = merge(start + [default_text])
                without = merge(start)
                w.line(f"out = [{', '.join(with_default)}] if {self.default_missing()} else [{', '.join(without)}]")
            elif system.default is not None:
                writer = spec.role(self.leading[0])
                assert writer is not None
                w.line(f"if {self.default_missing()}:")
                with w.indent():
                    w.line(f"content = {concat(items(system.default, self.scope))}")
                    self.write_role(writer, self.leading[0], default=True)
            self.offset("0")
            return
        if placement == "refuse":
            w.line(f"if {self.is_leading(_FIRST_ROLE)}:")
            with w.indent():
                w.line("raise _Unhandled")
            self.offset("0")
            return

        condition = self.is_leading(_FIRST_ROLE)
        if system.keep_empty:
            condition += " and first['content'] != ''"
        w.line(f"if {condition}:")
        with w.indent():
            self.check_fields("first")
            w.line("system = first['content']")
            if system.skip_empty:
                w.line("if system == '':")
                with w.indent():
                    w.line("system = None")
                w.line("else:")
                w.indent()
            if system.trim != "none":
                w.line(f"system = system{_TRIM_CALL[system.trim]}")
            if system.wrap is not None:
                w.line(f"system = {concat(items(system.wrap, dict(self.scope, system=Code('system'))))}")
            if placement == "block":
                extend(w, items(system.prefix, self.scope) + [Code("system")] + items(system.suffix, self.scope))
            else:
                w.line("if not isinstance(system, str):")
                with w.indent():
                    w.line("raise TypeError")
            if system.skip_empty:
                w.dedent()
            w.line("rest = messages[1:]")
            self.offset("1")
        w.line("else:")
        with w.indent():
            default = system.default
            if default is None:
                w.line("system = None")
            elif system.default_when == "no_system":
                condition = self.default_missing()
                if system.keep_empty:  # an empty leading system message was kept: the default applies
                    condition = f"{self.is_leading(_FIRST_ROLE)} or {condition}"
                w.line(f"system = {concat(items(default, self.scope))} if {condition} else None")
                if placement == "block":
                    w.line("if system is not None:")
                    with w.indent():
                        extend(w, items(system.prefix, self.scope) + [Code("system")] + items(system.suffix, self.scope))
            elif placement == "block":
                extend(w, items(system.prefix, self.scope) + items(default, self.scope) + items(system.suffix, self.scope))
            else:
                w.line(f"system = {concat(items(default, self.scope))}")
            w.line("rest = messages")
            self.offset("0")
        if self.fold:
            if placement == "fold_first":
                w.line("target = offset if system is not None and len(messages) > offset else -1")
            else:
                w.line("target = len(messages) - 1 if system is not None and len(messages) > offset "
                       "and messages[-1]['role'] == 'user' else -1")

    def last_query(self) -> None:
        w, display = self.w, self.spec.reasoning
        assert display is not None
        user = self.spec.role("user")
        trim_call = _TRIM_CALL[user.trim] if user is not None else ""
        w.line("query = len(messages) - 1")
        w.line("while query >= 0:")
        with w.indent():
            w.line("m = messages[query]")
            w.line("if m['role'] == 'user':")
            with w.indent():
                if display.query_exclude:
                    start, end = display.query_exclude
                    w.line(f"text = m['content']{trim_call}")
                    w.line(f"if not (text.startswith({start!r}) and text.endswith({end!r})):")
                    with w.indent():
                        w.line("break")
                else:
                    w.line("break")
            w.line("query -= 1")
        w.line("else:")
        with w.indent():
            if display.no_query == "refuse":
                w.line("raise _Unhandled")
            else:
                w.line("query = len(messages) - 1")

    def check_fields(self, message: str) -> None:
        """A message with a field besides role and content goes to the reference, unless the
        format ignores that field: nothing is dropped without the format saying so."""
        w = self.w
        fields = _literal_tuple(("role", "content") + self.spec.message.ignore)
        w.line(f"if len({message}) != 2 and _extra_fields({message}, {fields}):")
        with w.indent():
            w.line("raise _Unhandled")

    def offset(self, value: str) -> None:
        """Index of ``rest[0]`` in ``messages``; only numbered loops (folds among them) read it."""
        if self.numbered:
            self.w.line(f"offset = {value}")

    def default_missing(self) -> str:
        system = self.spec.system
        if system.default_when == "no_system":
            return f"not any({self.is_leading(_M_ROLE)} for m in messages)"
        if len(self.leading) == 1:
            return f"first['role'] != {self.leading[0]!r}"
        return f"first['role'] not in {_literal_tuple(self.leading)}"

    # -- the messages -------------------------------------------------------
    def loop(self) -> None:
        spec, w = self.spec, self.w
        if spec.alternation is not None:
            w.line("user_turn = True")
        w.line(f"for i, m in enumerate({self.rest}, offset):" if self.numbered else f"for m in {self.rest}:")
        w.indent()
        self.check_fields("m")
        w.line("role = m['role']")
        if self.hoist:
            w.line(f"if {self.is_leading('role')}:")
            with w.indent():
                w.line("continue")
        w.line("content = m['content']")
        if spec.alternation is not None:
            w.line("if (role == 'user') is not user_turn:")
            with w.indent():
                w.line("raise _Unhandled")
            w.line("user_turn = not user_turn")
        branches = list(spec.roles)
        keyword = "if"
        for role in branches:
            w.line(f"{keyword} role == {role.name!r}:")
            with w.indent():
                self.write_role(role, role.name)
            keyword = "elif"
        if branches:
            w.line("else:")
            w.indent()
        if spec.any_role is not None:
            self.write_role(spec.any_role, None)
        else:
            w.line("raise _Unhandled")
        if branches:
            w.dedent()
        w.dedent()

    def write_role(self, role: Role, name: Optional[str], default: bool = False) -> None:
        """Lines that write ``content`` as ``role``; ``default``: the format's own default system text."""
        w, system = self.w, self.spec.system
        if role.refuse is not None:
            w.line("raise _Unhandled")
            return
        # The catch-all branch sees any role value; unless the role is written (where the
        # join rejects a non-string), check it here so that malformed input reaches the fallback.
        always_written = (not role.drop and "role" in role.prefix.names + role.suffix.names and not role.skip_empty
                          and (role.when_empty is None or "role" in role.when_empty.names))
        role_unchecked = name is None and not always_written
        if role.drop or role_unchecked:
            checks = (["content"] if role.drop else []) + (["role"] if role_unchecked else [])
            w.line(f"if {' or '.join(f'not isinstance({c}, str)' for c in checks)}:")
            with w.indent():
                w.line("raise TypeError")
        if role.drop:
            return
        if role.refuse_containing and not default:
            tests = " or ".join(f"{needle!r} in content" for needle in role.refuse_containing)
            w.line(f"if {tests}:")
            with w.indent():
                w.line("raise _Unhandled")
        rule = role.strip_reasoning
        if rule is not None and not default:
            conditions = [] if rule.scope == "all" else ["i != last"]
            marker = repr(rule.marker)
            lstrip = f".lstrip({rule.lstrip!r})" if rule.lstrip else ""
            # partition and rpartition cut without building a list of every piece, as split would.
            if rule.keep == "after_last":
                # Without the marker, rpartition keeps the whole text, as the rule does.
                steps = [f"content = content.rpartition({marker})[2]{lstrip}"]
                if not rule.always:
                    conditions.append(f"{marker} in content")
            elif rule.always:
                steps = [f"if {marker} in content:", f"    content = content.partition({marker})[2]"]
                steps += [f"content = content{lstrip}"] if lstrip else []
            else:
                conditions.append(f"{marker} in content")
                steps = [f"content = content.partition({marker})[2]{lstrip}"]
            if conditions:
                w.line(f"if {' and '.join(conditions)}:")
                w.indent()
            for step in steps:
                w.line(step)
            if conditions:
                w.dedent()
        trim_call = _TRIM_CALL[role.trim]
        if self.fold and not default:
            w.line("if i == target:")
            with w.indent():
                if system.fold_order == "trim_then_fold" and trim_call:
                    w.line(f"content = content{trim_call}")
                fold_scope = dict(self.scope, system=Code("system"), content=Code("content"))
                assert system.fold is not None
                w.line(f"content = {concat(items(system.fold, fold_scope))}")
                if system.fold_order == "fold_then_trim" and trim_call:
                    w.line(f"content = content{trim_call}")
            if trim_call:
                w.line("else:")
                with w.indent():
                    w.line(f"content = content{trim_call}")
        elif trim_call:
            w.line(f"content = content{trim_call}")

        display = self.spec.reasoning
        if display is not None and name == display.role and not default:
            close, opening = repr(display.close), repr(display.open)
            strip = "strip('\\n')" if display.reasoning_trim == "newlines" else "strip()"
            w.line(f"if {close} in content:")
            with w.indent():
                w.line(f"reasoning = content.partition({close})[0].rstrip('\\n').rpartition({opening})[2].lstrip('\\n').{strip}")
                w.line(f"content = content.rpartition({close})[2].lstrip('\\n')")
            w.line("else:")
            with w.indent():
                w.line("reasoning = ''")
            shown = "i > query" if display.show == "always" else "i > query and (i == last or reasoning)"
            w.line(f"if {shown}:")
            with w.indent():
                scope = dict(self.scope, reasoning=Code("reasoning"), content=Code("content.lstrip('\\n')"))
                w.line(f"content = {concat(items(display.template, scope))}")
        inner = dict(self.scope, role=name if name is not None else Code("role"))
        empty = EMPTY if role.skip_empty else role.when_empty
        if empty is not None:
            w.line("if content == '':")
            with w.indent():
                if empty.pieces:
                    extend(w, items(empty, inner))
                else:
                    w.line("pass")
            w.line("else:")
            w.indent()
        prefix_after = () if default else role.prefix_after
        final_variants = (not default) and (role.final_suffix is not None or role.final_suffix_with_prompt is not None)
        if not prefix_after and not final_variants:
            extend(w, items(role.prefix, inner) + [Code("content")] + items(role.suffix, inner))
        else:
            if prefix_after:
                keyword = "if"
                for after, text in prefix_after:
                    w.line(f"{keyword} previous == {after!r}:")
                    with w.indent():
                        w.line(f"prefix = {concat(items(text, inner))}")
                    keyword = "elif"
                w.line("else:")
                with w.indent():
                    w.line(f"prefix = {concat(items(role.prefix, inner))}")
                prefix_items: List[Item] = [Code("prefix")]
            else:
                prefix_items = items(role.prefix, inner)
            if final_variants:
                with_prompt = role.final_suffix_with_prompt or role.suffix
                without = role.final_suffix or role.suffix
                w.line("if i != last:")
                with w.indent():
                    w.line(f"suffix = {concat(items(role.suffix, inner))}")
                w.line("elif add_generation_prompt:")
                with w.indent():
                    w.line(f"suffix = {concat(items(with_prompt, inner))}")
                w.line("else:")
                with w.indent():
                    w.line(f"suffix = {concat(items(without, inner))}")
                suffix_items: List[Item] = [Code("suffix")]
            else:
                suffix_items = items(role.suffix, inner)
            extend(w, prefix_items + [Code("content")] + suffix_items)
        if empty is not None:
            w.dedent()
        if self.uses_previous and not default:
            w.line("previous = role")

    # -- the end --------------------------------------------------------------
    def generation(self) -> None:
        w, generation = self.w, self.spec.generation

        def choose(after: Tuple[Tuple[str, Text], ...], base: Text) -> None:
            if not after:
                extend(w, items(base, self.scope)) if merge(items(base, self.scope)) else w.line("pass")
                return
            keyword = "if"
            for role, text in after:
                w.line(f"{keyword} previous == {role!r}:")
                with w.indent():
                    extend(w, items(text, self.scope)) if merge(items(text, self.scope)) else w.line("pass")
                keyword = "elif"
            w.line("else:")
            with w.indent():
                extend(w, items(base, self.scope)) if merge(items(base, self.scope)) else w.line("pass")

        has_prompt = bool(merge(items(generation.prompt, self.scope))) or bool(generation.prompt_after)
        has_otherwise = bool(merge(items(generation.otherwise, self.scope))) or bool(generation.otherwise_after)
        if not has_prompt and not has_otherwise:
            return
        if has_prompt:
            condition = "add_generation_prompt"
            if generation.require_body:
                body = "any(not (" + self.is_leading(_M_ROLE) + ") for m in messages)" if self.hoist else f"len({self.rest})"
                condition += f" and {body}"
            w.line(f"if {condition}:")
            with w.indent():
                choose(generation.prompt_after, generation.prompt)
            if has_otherwise:
                w.line("elif not add_generation_prompt:" if generation.require_body else "else:")
                with w.indent():
                    choose(generation.otherwise_after, generation.otherwise)
        else:
            w.line("if not add_generation_prompt:")
            with w.indent():
                choose(generation.otherwise_after, generation.otherwise)
