"""The Python code generator: a lowered ``Program`` -> the source of its renderers.

Three functions come from one walk of the program: ``render`` (the prompt),
``render_spans`` (the prompt and, for every piece of it, its kind and the
message it came from) and ``render_many`` (``render``'s body in a loop over
conversations). They are specialised: only what the format declares produces
code, and choices that facts known here decide are decided here.

Safety rule: a string from a format file reaches the source only through
``repr()``, as a literal. Names in the source are fixed identifiers of this
module (locals start with ``_``), the render parameters, and variable names
that validation has checked to be plain identifiers (never a builtin, a
keyword or a name starting with ``_``). Input the fast path cannot handle
(malformed messages raise ``LookupError``, ``TypeError`` or
``AttributeError``; refusals raise ``_Unhandled``) goes to the reference
interpreter, which renders it or reports the precise problem.

In ``render_spans`` every write to ``_out`` also appends to ``_tags`` an
entry saying where its pieces came from. Outside the message loop an entry is
``(message index or -1, kind codes)``. The loop is bracketed by the index of
its first message and ``None``, and each iteration appends exactly one entry:
a tuple with an item per piece, the kind code for a piece of the message
being written (a constant tuple, in the common case) or ``(index, code)`` for
a piece of another message (a system text folded in). ``Rendered`` turns the
entries into spans when they are first asked for.
"""

from __future__ import annotations

import contextlib
import os
from typing import Dict, List, Optional, Sequence, Tuple, Union

import attrs

from .._runtime.messages import reasoning_order
from .._runtime.variables import looked_up
from . import ir
from .ir import ALWAYS, CONTENT, DOCUMENTS, KINDS, SCAFFOLD, TOOLS, Case, Choice, Lit, Slot, When
from .lower import specialize

#: Builtins generated code calls, under names of its own (``_len``...): a variable may be called ``len``.
BUILTINS = ("isinstance", "len", "any", "all", "enumerate", "str", "TypeError", "LookupError", "AttributeError")

#: Names generated code reads from its globals (``_runtime.helpers.namespace``).
HELPERS = (
    "_fallback", "_hand_on", "_options", "_Unhandled", "_bad_variable", "_bad_switch", "_missing_variable", "_today",
    "_extra_fields", "_spans_fallback", "_Rendered", "_trim_pieces", "_reasoning_of", "_tools_text", "_call_parts",
    "_tojson", "_serialised", "_call_numbers", "_parts_text", "_first_text", "_has_image", "_documents_text",
    "_mapping_text", "_call_id", "_same_message", "_call_messages", "_number", "_looked_up",
) + tuple("_" + name for name in BUILTINS)

#: Every other name generated code uses: the render parameters and its locals (all of which start
#: with '_', as do ``_v_NAME`` for a switch, ``_tN`` for a chosen text and ``_eN`` for a role written
#: earlier). Validation keeps variables
#: off all of them without knowing this list; the hostile-format tests check it.
LOCALS = (
    "messages", "conversations", "add_generation_prompt", "continue_final_message", "control_tokens", "render",
    "render_many", "render_spans", "_unknown", "_first", "_last", "_out", "_tags", "_rest", "_offset", "_system",
    "_sx", "_sy", "_m", "_i", "_j", "_n", "_role", "_content", "_prev", "_user_turn", "_target", "_found",
    "_query", "_text", "_reasoning", "_cx", "_cy", "_prompts", "_given", "_present", "tools", "_tt", "_tc", "_calls",
    "_cn", "_ca", "_tu", "_size", "_ck", "_ci", "_ec", "_th", "_nk", "_cids", "_cseen", "_cnum", "_answer",
    "_cname", "_at", "_pc", "_gx", "documents", "_dt", "_du", "_nm", "_parts", "_part", "_lu", "_cd", "_cf", "_cmsg",
)

#: What a fast path raises for input it hands to the reference interpreter.
_HANDED_ON = "(_LookupError, _TypeError, _AttributeError, _Unhandled)"

_TRIM_CALL = {"none": "", "both": ".strip()", "left": ".lstrip()", "right": ".rstrip()",
              "left_newlines": ".lstrip('\\n')"}
_CODE = {kind: code for code, kind in enumerate(KINDS)}


class Code:
    """Python expression text, as opposed to literal text to be quoted."""

    __slots__ = ("expr",)

    def __init__(self, expr: str) -> None:
        self.expr = expr


#: A piece of output: its value (a literal, or an expression), its kind, and the expression of the
#: index of the message it belongs to (``"None"`` for none).
Item = Tuple[Union[str, Code], str, str]


class Writer:
    """Indented source lines; a block that ends up empty gets a ``pass``."""

    def __init__(self) -> None:
        self.lines: List[str] = []
        self.depth = 0
        self._starts: List[int] = []

    def line(self, text: str = "") -> None:
        self.lines.append("    " * self.depth + text if text else "")

    def block(self) -> "Writer":
        self.depth += 1
        self._starts.append(len(self.lines))
        return self

    def __enter__(self) -> "Writer":
        return self

    def __exit__(self, *exc: object) -> None:
        if len(self.lines) == self._starts.pop():
            self.line("pass")
        self.depth -= 1


def _literal_tuple(values: Sequence[str]) -> str:
    return "(" + "".join(f"{v!r}, " for v in values) + ")"


def _is_in(expr: str, names: Sequence[str]) -> str:
    return f"{expr} == {names[0]!r}" if len(names) == 1 else f"{expr} in {_literal_tuple(names)}"


def generate(program: ir.Program) -> str:
    """The source of ``render``."""
    return _Generator(program, "render").source()


def generate_spans(program: ir.Program) -> str:
    """The source of ``render_spans``."""
    return _Generator(program, "spans").source()


def generate_batch(program: ir.Program) -> str:
    """The source of ``render_many`` (it calls ``render`` for what it hands on)."""
    return _Generator(program, "many").source()


class _Generator:
    """Writes one function of one format; each declared rule adds its lines, and only then."""

    def __init__(self, program: ir.Program, mode: str) -> None:
        self.p = program
        self.mode = mode
        self.spans = mode == "spans"
        self.w = Writer()
        # A switch's parameter keeps what the caller gave (the fallback needs it); its text lives in
        # _v_NAME, which no variable can be (none starts with '_').
        self.values: Dict[str, Union[str, Code]] = {
            v.name: Code(f"_v_{v.name}" if v.is_switch or v.is_mapping or v.is_number or v.nonblank is not None
                         else v.name)
            for v in program.variables}
        # A number's derived text lives in _v_SLOT (a slot name is no variable's, nor starts with '_').
        self.values.update({v.lookup_slot: Code(f"_v_{v.lookup_slot}") for v in program.variables
                            if v.lookup_slot is not None})
        # A switch whose two texts are one text (a mode's switch: none) is that literal.
        self.values.update({v.name: v.when_true for v in program.variables
                            if v.is_switch and v.when_true == v.when_false and v.when_true is not None})
        roles = list(program.roles) + ([program.any_role] if program.any_role else [])
        whens = [w for r in roles for w in _whens(r.body)]
        self.uses_final = any(w.final is not None for w in whens) or any(
            r.cut is not None and r.cut.history for r in roles) or program.display is not None
        self.uses_prev = any(w.prev_role is not None for w in whens + list(_whens(program.end))) or any(
            r.cut is not None and r.cut.skip_after for r in roles)
        # Facts about the whole conversation so far, kept in flags only where a condition reads them:
        # whether a message of each role named by ``earlier`` was written (``_eN``), and one with calls (``_ec``).
        named = sorted({name for w in whens if w.earlier is not None for name in w.earlier})
        self.earlier = {name: f"_e{k}" for k, name in enumerate(named)}
        self.uses_earlier_calls = any(w.earlier_calls is not None for w in whens) or any(
            r.calls is not None and (r.calls.content_first or any(t.earlier_calls is not None for t in r.calls.texts))
            for r in roles)
        # Calls numbered across the conversation (``{number}``: ``_nk`` calls written before this message),
        # and results written with the number of the call they answer (``{call_number}``).
        self.numbers_calls = any(r.calls is not None and any(4 in t.text for t in r.calls.texts) for r in roles)
        self.numbers_results = any(_uses((r.body,), "call_number") for r in roles)
        # The next message's role is read where a condition asks for it (it needs the loop's index).
        self.uses_next = any(w.next_role is not None or w.first is not None or w.opening is not None for w in whens)
        self.uses_final = self.uses_final or self.uses_next or any(
            r.calls is not None and (r.calls.content_optional == "final" or r.calls.refused is not None
                                     or any(t.final is not None for t in r.calls.texts)) for r in roles)
        # The previous message's role (written or not) is read where a condition asks for it.
        self.uses_prev_message = any(w.prev_message is not None for w in whens)
        self.next_role = "(messages[_i + 1]['role'] if _i != _last else None)"
        system = program.system
        self.leading = system.leading
        self.hoist = system.placement == "hoist"
        self.fold = system.placement in ("fold_first", "fold_last")
        # What the loop runs over: the messages themselves, unless a leading system message was taken out.
        self.rest = "messages" if system.placement in ("hoist", "message", "refuse") else "_rest"
        self.tools = program.tools
        #: The tools go with the system text (not in the first user message).
        self.tools_in_system = self.tools is not None and self.tools.placement in ("system_after", "system_before")
        self.documents = program.documents
        #: The documents go with a message of the loop (before the last user message, after the first).
        self.documents_in_loop = self.documents is not None and self.documents.placement in (
            "before_last_user", "after_first_user")
        #: The documents take a call number (``[documents] counts_as_call``).
        self.numbered_documents = self.documents is not None and self.documents.counts_as_call
        #: Some role writes a message's name: a role that does not must refuse one.
        self.names_read = program.refuse_names
        #: The tools join the system message's content in the loop (placement 'message').
        self.tools_in_message = self.tools_in_system and system.placement == "message"
        # Only tools written with a message of the loop need its position.
        self.numbered = self.fold or self.uses_final or self.uses_next or self.uses_prev_message or \
            self.tools_in_message or (self.tools is not None and self.tools.placement == "first_user")
        #: The role being written writes tool calls (its ``_tc`` holds them).
        self.role_calls = False
        self.any_calls = any(r.calls is not None for r in roles)
        self.empty_calls_refused = any(r.calls is not None and r.calls.empty_refused for r in roles)
        #: Some role names the previous call (``_cname``, the last call's name since the last answer).
        self.call_names = any(r.names_call for r in roles)
        #: The message fields some role writes (``attach``): every other role refuses them.
        self.attach_fields = tuple(dict.fromkeys(r.attach_field for r in roles if r.attach_field is not None))
        #: A reasoning field transformers does not alias (``tool_plan``): every role but its reader refuses it.
        self.attach_fields += tuple(dict.fromkeys(r.given_field for r in roles if r.given_field is not None))
        #: The alternation skips some messages: each role's branch checks its own.
        self.alternation_by_role = program.alternation and bool(
            program.alternation_skip_roles or program.alternation_skip_calls)
        self.current: Optional[ir.Role] = None
        #: A local holding the content as given, where it is not ``_m.get('content')`` (a list of parts).
        self.given_local: Optional[str] = None
        self.calls_done = False
        self.temporaries = 0
        #: How the loop's code reads the message's role: a local, or the message itself.
        self.role_expr = "_role"
        #: Inside the message loop (where render_spans writes one tag entry per iteration), and how
        #: many writes have been generated so far.
        self.in_loop = False
        self.writes = 0

    # -- output -------------------------------------------------------------
    def items(self, pieces: ir.Seq, owner: str, values: Dict[str, Union[str, Code]],
              kinds: Optional[Dict[str, str]] = None) -> List[Item]:
        """Choice-free ``pieces`` as items; ``values`` maps slot names to constants or expressions,
        ``kinds`` overrides the kind of some slots (a default text written as a message is scaffold)."""
        out: List[Item] = []
        for piece in pieces:
            if isinstance(piece, Lit):
                out.append((piece.text, piece.kind, owner))
            elif isinstance(piece, Slot):
                kind = (kinds or {}).get(piece.name, piece.kind)
                out.append((values[piece.name], kind, owner))
            else:  # pragma: no cover - emit() resolves choices first
                raise AssertionError(piece)
        return out

    def merge(self, items: Sequence[Item]) -> List[Tuple[str, str, str]]:
        """``(expression, kind, owner)`` per output piece: adjacent literals merged (in ``render_spans``,
        only those of one kind and message), empty literals left out."""
        return _merge(items, self.spans)

    @staticmethod
    def entries(merged: Sequence[Tuple[str, str, str]]) -> List[str]:
        """``render_spans`` tag entries ``(message index, (kind codes))`` for ``merged`` pieces outside
        the message loop: one per run of pieces from one message."""
        out: List[Tuple[str, List[str]]] = []
        for _, kind, owner in merged:
            owner = "-1" if owner == "None" else owner
            if out and out[-1][0] == owner:
                out[-1][1].append(str(_CODE[kind]))
            else:
                out.append((owner, [str(_CODE[kind])]))
        return [f"({owner}, ({', '.join(codes)},))" for owner, codes in out]

    @staticmethod
    def loop_items(merged: Sequence[Tuple[str, str, str]]) -> List[str]:
        """Tag items inside the message loop: the kind code of a piece of the message being written,
        ``(index, code)`` for a piece of another."""
        out = []
        for _, kind, owner in merged:
            if owner == "_i":
                out.append(str(_CODE[kind]))
            else:
                out.append(f"({'-1' if owner == 'None' else owner}, {_CODE[kind]})")
        return out

    def extend(self, items: Sequence[Item]) -> None:
        merged = self.merge(items)
        if not merged:
            return
        self.writes += 1
        if len(merged) == 1:
            self.w.line(f"_out.append({merged[0][0]})")
        else:
            self.w.line(f"_out += ({', '.join(m[0] for m in merged)})")
        if not self.spans:
            return
        if self.in_loop:
            self.w.line(f"_tags.append(({''.join(i + ', ' for i in self.loop_items(merged))}))")
            return
        entries = self.entries(merged)
        if len(entries) == 1:
            self.w.line(f"_tags.append({entries[0]})")
        else:
            self.w.line(f"_tags += ({', '.join(entries)})")

    def one_entry(self, write) -> None:
        """``write()``, which in render_spans' loop must write once on its path: an empty tag entry
        where it writes nothing, so that the next iteration's entry belongs to the next message."""
        before = self.writes
        write()
        if not (self.spans and self.in_loop):
            return
        assert self.writes - before <= 1, "render_spans: one write per message in the loop"
        if self.writes == before:
            self.w.line("_tags.append(())")

    def concat(self, items: Sequence[Item]) -> str:
        """One string expression for ``items`` (their kinds are not kept)."""
        exprs = [m[0] for m in _merge(items, spans=False)]
        if not exprs:
            return "''"
        if len(exprs) > 8:  # a long a + b + ... chain nests deeply in the compiler; a join does not
            return "''.join((" + ", ".join(exprs) + ",))"
        return " + ".join(exprs)

    def condition(self, when: When, body: str = "") -> str:
        """The Python test of ``when`` (facts of the message being written, or of the end)."""
        tests = []
        if when.gen is not None:
            tests.append("add_generation_prompt" if when.gen else "not add_generation_prompt")
        if when.first is not None:
            tests.append("_i == 0" if when.first else "_i != 0")
        if when.opening is not None:
            # The first message after a leading system message, or the first without one.
            opening = f"(1 if {_is_in(chr(95) + 'first[' + repr('role') + ']', self.leading)} else 0)"
            tests.append(f"_i == {opening}" if when.opening else f"_i != {opening}")
        if when.final is not None:
            tests.append("_i == _last" if when.final else "_i != _last")
        if when.empty is not None:
            tests.append("_content == ''" if when.empty else "_content != ''")
        if when.given_empty is not None:
            # In the loop, the message's content as given (None or missing: empty); a message the
            # format writes itself has only the content it writes.
            given = "_content" if self.current is None else (self.given_local or "_m.get('content')")
            tests.append(f"not {given}" if when.given_empty else f"{given}")
        if when.prev_role is not None:
            tests.append(_is_in("_prev", when.prev_role))
        if when.next_role is not None:
            tests.append(_is_in(self.next_role, when.next_role))
        if when.first_role is not None:
            tests.append(f"_first['role'] in {_literal_tuple(when.first_role)}")
        if when.body is not None:
            tests.append(body if when.body else f"not {body}")
        if when.tools is not None:
            if self.tools is not None:
                tests.append("_tt is not None" if when.tools else "_tt is None")
            elif when.tools:
                tests.append("False")  # a format that writes no tools never has any
        if when.documents is not None:
            if self.documents is not None:
                tests.append("_dt is not None" if when.documents else "_dt is None")
            elif when.documents:
                tests.append("False")  # a format that writes no documents never has any
        if when.named is not None:
            tests.append("_nm is not None" if when.named else "_nm is None")
        for variable, key in when.has or ():
            tests.append(f"({variable} is not None and {key!r} in {variable})")
        for variable, value in when.equals or ():
            tests.append(f"{variable} == {value!r}")  # resolved: the number given, or the default
        if when.reasoning is not None:
            if self.current is not None and self.current.given_reasoning is not None:
                tests.append("_reasoning != ''" if when.reasoning else "_reasoning == ''")
            elif when.reasoning:
                tests.append("False")  # a role that writes no reasoning from its field never shows any
        if when.calls is not None:
            if self.role_calls:
                tests.append("_tc" if when.calls else "not _tc")
            elif when.calls:
                tests.append("False")  # a role that writes no calls never has any
        if when.earlier is not None:
            flags = [self.earlier[name] for name in when.earlier]
            tests.append(flags[0] if len(flags) == 1 else f"({' or '.join(flags)})")
        if when.earlier_calls is not None:
            tests.append("_ec" if when.earlier_calls else "not _ec")
        if when.thinking is not None:
            tests.append("_th" if when.thinking else "not _th")
        if when.prev_message is not None:
            # In the loop, the conversation's message before this one; at the end, its last message.
            before = "(messages[_i - 1]['role'] if _i else None)" if self.in_loop else "messages[-1]['role']"
            tests.append(_is_in(before, when.prev_message))
        return " and ".join(tests) or "True"

    def emit(self, pieces: ir.Seq, owner: str, values: Dict[str, Union[str, Code]],
             kinds: Optional[Dict[str, str]] = None, body: str = "") -> None:
        """Lines that write ``pieces``. A choice between texts of one kind becomes a local string, so
        that the message is still one extend; any other choice becomes branches."""
        if self.spans and self.in_loop:
            pieces = _one_write(pieces)
        pending: List[Item] = []
        for piece in pieces:
            if not isinstance(piece, Choice):
                pending += self.items((piece,), owner, values, kinds)
                continue
            if not any(case.seq for case in piece.cases):
                continue
            if _single_kind(piece) is not None and len(pieces) > 1:
                pending.append(self.chosen(piece, owner, values, kinds, body))
                continue
            assert not (self.spans and self.in_loop and pending), "render_spans: one write per message in the loop"
            self.extend(pending)
            pending = []
            self.branches(piece, lambda seq: self.emit(seq, owner, values, kinds, body), body)
        self.extend(pending)

    def chosen(self, choice: Choice, owner: str, values: Dict[str, Union[str, Code]],
               kinds: Optional[Dict[str, str]] = None, body: str = "") -> Item:
        """A choice between texts of one kind as a local string (``_tN``), assigned in branches."""
        self.temporaries += 1
        name = f"_t{self.temporaries}"
        self.branches(choice, lambda seq: self.w.line(f"{name} = {self.concat(self.items(seq, owner, values, kinds))}"),
                      body, assign=True)
        return (Code(name), _single_kind(choice) or SCAFFOLD, owner)

    def flat(self, pieces: ir.Seq, owner: str, values: Dict[str, Union[str, Code]]) -> List[Item]:
        """``pieces`` as items, each choice among them chosen into a local first (all are of one kind)."""
        out: List[Item] = []
        for piece in pieces:
            if isinstance(piece, Choice):
                if any(case.seq for case in piece.cases):
                    out.append(self.chosen(piece, owner, values))
            else:
                out += self.items((piece,), owner, values)
        return out

    def branches(self, choice: Choice, write, body: str = "", assign: bool = False) -> None:
        """if/elif/else over the cases of ``choice``; ``write(seq)`` writes each case's lines. Empty
        cases at the end need no branch, unless each case ``assign``-s a local or render_spans' loop
        needs an entry from every case."""
        w = self.w
        cases = list(choice.cases)
        every_case = assign or (self.spans and self.in_loop)
        while cases and not cases[-1].seq and not every_case:
            cases.pop()
        if not cases:
            return
        if len(cases) == 1 and cases[0].when.always:
            write(cases[0].seq)
            return
        keyword = "if"
        for case in cases:
            if case.when.always:
                w.line("else:")
            else:
                w.line(f"{keyword} {self.condition(case.when, body)}:")
            with w.block():
                if assign:
                    write(case.seq)
                else:
                    self.one_entry(lambda seq=case.seq: write(seq))
            if case.when.always:
                return
            keyword = "elif"

    # -- the function ---------------------------------------------------------
    def source(self) -> str:
        p, w = self.p, self.w
        # The tool definitions travel with the variables to whatever the fast path hands on to.
        names = [v.name for v in p.variables] + (["tools"] if self.tools is not None else []) + (
            ["documents"] if self.documents is not None else [])
        given = "{" + ", ".join(f"{name!r}: {name}" for name in names) + "}"
        params = "".join(f", {name}=None" for name in names)
        origin = repr(os.path.basename(p.path)) if p.path else "a string"
        if self.mode == "many":
            keywords = "".join(f", {name}={name}" for name in names)
            w.line(f"# Batch renderer of chat format {p.name!r}: render's body, run for each conversation.")
            w.line(f"def render_many(conversations, add_generation_prompt=False{params}):")
            with w.block():
                w.line(f'"""Render each conversation in the {p.name!r} format."""')
                w.line("_prompts = []")
                w.line("for messages in conversations:")
                with w.block():
                    # In the loop, as in render: an empty batch checks nothing. Once resolved, a value
                    # is a str and the next conversation's check is one test.
                    self.resolve_variables()
                    w.line("try:")
                    with w.block():
                        self.body()
                        w.line("_prompts.append(''.join(_out))")
                        w.line("continue")
                    w.line(f"except {_HANDED_ON}:")
                    with w.block():
                        w.line("pass")
                    w.line("# Malformed or refused: render hands it to the reference interpreter; "
                           "an error names the conversation.")
                    w.line(f"_prompts.append(_hand_on(render, _len(_prompts), messages, "
                           f"add_generation_prompt=add_generation_prompt{keywords}))")
                w.line("return _prompts")
            return "\n".join(w.lines) + "\n"
        function = "render_spans" if self.spans else "render"
        if self.spans:
            w.line(f"# Spans renderer of chat format {p.name!r}: render's walk, "
                   "each piece tagged with its kind and message.")
        else:
            w.line(f"# Renderer of chat format {p.name!r}, generated by promptcraft from {origin}.")
            w.line("# Every text below is a literal copied from the format; the file contributed no code.")
        w.line(f"def {function}(messages, *, add_generation_prompt=False, continue_final_message=False, "
               f"control_tokens='keep'{params}, **_unknown):")
        with w.block():
            what = "and the spans of its pieces" if self.spans else "in the"
            w.line(f'"""Render messages {what} {p.name!r} format."""' if not self.spans
                   else f'"""Render messages in the {p.name!r} format, with the kind and message of every piece."""')
            # The rare options are handled out of line, which keeps this function short (cheap to compile)
            # and the common call to one test.
            w.line("if _unknown or continue_final_message or control_tokens != 'keep':")
            with w.block():
                w.line(f"return _options({function}, messages, add_generation_prompt, continue_final_message, "
                       f"control_tokens, _unknown, {given})")
            self.resolve_variables()
            w.line("try:")
            with w.block():
                self.body()
                w.line("return _Rendered(_out, _tags, messages)" if self.spans else "return ''.join(_out)")
            w.line(f"except {_HANDED_ON}:")
            with w.block():
                w.line("# Malformed or refused: the reference interpreter says what and where.")
                w.line("pass")
            fallback = "_spans_fallback" if self.spans else "_fallback"
            w.line(f"return {fallback}(messages, add_generation_prompt, {given})")
        return "\n".join(w.lines) + "\n"

    def resolve_variables(self) -> None:
        """Lines that give each declared variable its value (or refuse a bad one)."""
        w = self.w
        for var in self.p.variables:
            if var.is_number:
                # The value itself stays in the parameter, for equals conditions (and the fallback); the
                # default's texts are worked out here, so that a render without the variable calls nothing.
                w.line(f"if {var.name} is None:")
                with w.block():
                    w.line(f"{var.name} = {var.number!r}")
                    w.line(f"_v_{var.name} = {str(var.number)!r}")
                    if var.lookup_slot is not None:
                        w.line(f"_v_{var.lookup_slot} = {looked_up(var.number, var.lookup)!r}")
                w.line("else:")
                with w.block():
                    w.line(f"{var.name} = _number({var.name!r}, {var.name}, None)")
                    w.line(f"_v_{var.name} = _str({var.name})")
                    if var.lookup_slot is not None:
                        w.line(f"_v_{var.lookup_slot} = _looked_up({var.name}, {var.lookup!r})")
                continue
            if var.is_switch and var.when_true == var.when_false:
                w.line(f"if {var.name} is not None and {var.name} is not True and {var.name} is not False:")
                with w.block():
                    w.line(f"raise _bad_switch({var.name!r}, {var.name})")
                continue
            if var.is_mapping:
                assert var.when_given is not None
                before, after = var.when_given
                w.line(f"_v_{var.name} = _mapping_text({var.name!r}, {var.name}, {before!r}, {after!r}) "
                       f"if {var.name} is not None else ''")
                continue
            if var.is_switch:
                w.line(f"if {var.name} is None:")
                with w.block():
                    w.line(f"_v_{var.name} = {(var.when_true if var.switch_default else var.when_false)!r}")
                w.line(f"elif {var.name} is True:")
                with w.block():
                    w.line(f"_v_{var.name} = {var.when_true!r}")
                w.line(f"elif {var.name} is False:")
                with w.block():
                    w.line(f"_v_{var.name} = {var.when_false!r}")
                w.line("else:")
                with w.block():
                    w.line(f"raise _bad_switch({var.name!r}, {var.name})")
                continue
            w.line(f"if {var.name} is None:")
            with w.block():
                if var.required:
                    w.line(f"raise _missing_variable({var.name!r})")
                elif var.strftime is not None:
                    w.line(f"{var.name} = _today({var.strftime!r})")
                else:
                    w.line(f"{var.name} = {var.default!r}")
            if var.serialiser is not None:
                # A list is written by the named serialiser; a string must be what it writes.
                w.line("else:")
                with w.block():
                    w.line(f"{var.name} = _serialised({var.name!r}, {var.serialiser!r}, {var.name})")
                continue
            w.line(f"elif not _isinstance({var.name}, _str):")
            with w.block():
                w.line(f"raise _bad_variable({var.name!r}, {var.name})")
            if var.empty_default:
                w.line(f"elif {var.name} == '':")
                with w.block():
                    w.line(f"{var.name} = {var.default!r}")
            if var.nonblank is not None:
                before, after = var.nonblank
                w.line(f"_v_{var.name} = {before!r} + {var.name} + {after!r} if {var.name}.strip() else ''")

    def body(self) -> None:
        """Lines that render ``messages`` into ``_out``, or raise for the reference to take over."""
        p, w = self.p, self.w
        w.line("_first = messages[0]")
        if p.labels is not None:
            # Media parts are numbered across the conversation only while the labels are on.
            name, default = p.labels
            w.line(f"_pc = {{}} if {name + ' is not False' if default else name} else None")
        if self.uses_final:
            w.line("_last = _len(messages) - 1")
        if self.tools is not None:
            self.tools_text()
        if p.thinking is not None:
            self.thinking_mode()
        if self.documents is not None:
            self.documents_text()
        self.system_section()
        if p.system.after:
            self.emit(p.system.after, "None", self.values)
        if p.display is not None:
            if p.display.until_answer:
                self.last_answer()
            else:
                self.last_query()
        if self.call_names:
            w.line("_cname = None")
        if self.uses_prev:
            w.line("_prev = None")
        for flag in self.earlier.values():
            w.line(f"{flag} = False")
        if self.uses_earlier_calls:
            w.line("_ec = False")
        if self.numbers_calls:
            w.line("_nk = 0")
            if self.documents is not None and self.documents.counts_as_call and \
                    self.documents.placement == "turn_after_system":
                w.line("if _dt is not None:")
                with w.block():
                    w.line("_nk = 1")
        if self.numbers_results:
            w.line("_cids = _call_numbers(messages)")
            w.line("_cseen = {}")
            if self.numbered_documents:
                w.line("_cmsg = _call_messages(messages) if _dt is not None else None")
        self.loop()
        self.emit((p.end,), "None", self.values, body=self.body_test())

    def thinking_mode(self) -> None:
        """``_th``: the thinking mode, from the switch (or the default), then the flags of the messages read."""
        w, thinking = self.w, self.p.thinking
        assert thinking is not None
        variable = next((v for v in self.p.variables if v.name == thinking.variable), None)
        if variable is None:
            w.line(f"_th = {thinking.default!r}")
        else:  # resolved: None, True or False
            w.line(f"_th = {variable.switch_default!r} if {variable.name} is None else {variable.name}")

        def read(message: str) -> None:
            w.line(f"if {_is_in(message + '[' + repr('role') + ']', thinking.roles)}:")
            with w.block():
                # A call message may leave its content out: it holds no flag (the loop checks the rest).
                w.line(f"_text = {message}.get('content') or ''")
                w.line("if not _isinstance(_text, _str):")
                with w.block():
                    w.line("raise _TypeError")
                for position, (flag, value) in enumerate(thinking.flags):
                    w.line(f"{'if' if position == 0 else 'elif'} {flag!r} in _text:")
                    with w.block():
                        w.line(f"_th = {value!r}")

        if thinking.first_only:
            read("_first")
            return
        w.line("for _m in messages:")
        with w.block():
            read("_m")

    def body_test(self) -> str:
        if self.hoist:
            return f"_any(not ({_is_in(chr(95) + 'm[' + repr('role') + ']', self.leading)}) for _m in messages)"
        return f"_len({self.rest})"

    # -- the leading system message ---------------------------------------
    def start(self, default: Optional[ir.Seq] = None) -> None:
        """The lines that begin ``_out`` with the start text; ``default``: a constant default system
        message, written with it when the conversation has no system message of its own."""
        w = self.w
        cases = self.p.start.cases
        # Tools placed at the start follow the start text (render_spans leaves tools to the reference).
        tools_first = self.tools is not None and self.tools.placement == "start" and not self.spans
        if len(cases) > 1 or any(isinstance(piece, Choice) for piece in cases[0].seq):
            w.line("_out = []")
            if self.spans:
                w.line("_tags = []")
            self.emit((self.p.start,), "None", self.values)
            if tools_first:
                self.start_tools()
            if default is not None:
                missing = self.default_missing() + (" and _tt is None" if self.tools_in_system else "")
                w.line(f"if {missing}:")
                with w.block():
                    self.extend(self.items(default, "None", self.values))
            return
        start = self.merge(self.items(cases[0].seq, "None", self.values))
        initial = f"[{', '.join(m[0] for m in start)}]"
        tags = f"[{', '.join(self.entries(start))}]"
        if default is None or tools_first:
            w.line(f"_out = {initial}")
            if self.spans:
                w.line(f"_tags = {tags}")
            if tools_first:
                self.start_tools()
            if default is not None:
                w.line(f"if {self.default_missing()}:")
                with w.block():
                    self.extend(self.items(default, "None", self.values))
            return
        both = self.merge(self.items(cases[0].seq + default, "None", self.values))
        missing = self.default_missing() + (" and _tt is None" if self.tools_in_system else "")
        w.line(f"_out = [{', '.join(m[0] for m in both)}] if {missing} else {initial}")
        if self.spans:
            w.line(f"_tags = [{', '.join(self.entries(both))}] if {missing} else {tags}")

    def start_tools(self) -> None:
        self.w.line("if _tt is not None:")
        with self.w.block():
            self.w.line("_out.append(_tt)")

    def system_section(self) -> None:
        """The start text and the lines for the leading system message (and the turns of tools and
        documents that go before or after it)."""
        w, system = self.w, self.p.system
        placement = system.placement
        # A default that goes with the tools is written by the lines that write them.
        with_tools = system.default_when == "tools"
        self.start(system.default_message if placement == "message" and not with_tools else None)
        if placement == "hoist":
            self.hoisted()
            return
        if placement == "message":
            if system.default is not None and system.default_message is None and not with_tools:
                missing = self.default_missing() + (" and _tt is None" if self.tools_in_system else "")
                w.line(f"if {missing}:")
                with w.block():
                    self.default_message()
            if self.tools_in_system:
                self.tools_message()
            self.offset("0")
            return
        if placement == "refuse":
            w.line(f"if {_is_in(chr(95) + 'first[' + repr('role') + ']', self.leading)}:")
            with w.block():
                w.line("raise _Unhandled")
            self.offset("0")
            return

        condition = _is_in("_first['role']", self.leading)
        if system.keep_empty:
            condition += " and _first['content'] != ''"
        w.line(f"if {condition}:")
        with w.block():
            self.check_fields("_first")
            self.no_calls("_first")
            if system.refuse_alone:
                w.line("if _len(messages) == 1:")
                with w.block():
                    w.line("raise _Unhandled")
            self.no_name("_first")
            w.line("_system = _first['content']")
            self.system_parts()
            if system.skip_empty:
                w.line("if _system == '':")
                with w.block():
                    if self.tools_in_system:
                        # Left out, but the tools are still written in a block of their own.
                        w.line("if _tt is not None:")
                        with w.block():
                            w.line("_system = _tt")
                            self.system_block([(Code("_system"), CONTENT, "None")], "None")
                    w.line("_system = None")
                w.line("else:")
                with w.block():
                    self.given_system()
            else:
                self.given_system()
            w.line("_rest = messages[1:]")
            self.offset("1")
        w.line("else:")
        with w.block():
            default = system.default
            if self.tools_in_system:
                # No system message: a block is written for the tools (with the default, if any).
                w.line("if _tt is not None:")
                with w.block():
                    if default is None:
                        w.line("_system = _tt")
                    else:
                        self.default_with_tools(default)
                    self.system_block([(Code("_system"), CONTENT, "None")], "None")
                w.line("else:")
                w.block()  # closed below, once the lines without tools are written
            if with_tools:
                default = None
            if default is None:
                w.line("_system = None")
            else:
                if system.default_when == "no_system":
                    condition = self.default_missing()
                    if system.keep_empty:  # an empty leading system message was kept: the default applies
                        condition = f"{_is_in(chr(95) + 'first[' + repr('role') + ']', self.leading)} or {condition}"
                    w.line(f"if {condition}:")
                    with w.block():
                        self.write_default(default)
                    w.line("else:")
                    with w.block():
                        w.line("_system = None")
                else:
                    self.write_default(default)
            if self.tools_in_system:
                w.__exit__(None, None, None)
            w.line("_rest = messages")
            self.offset("0")
        if self.tools is not None and self.tools.placement == "turn_after_system":
            self.turn("_tt", TOOLS)
        if self.documents is not None and self.documents.placement == "turn_after_system":
            self.turn("_dt", DOCUMENTS)
        if self.fold:
            if placement == "fold_first":
                w.line("_target = _offset if _system is not None and _len(messages) > _offset else -1")
            else:
                w.line("_target = _len(messages) - 1 if _system is not None and _len(messages) > _offset "
                       "and messages[-1]['role'] == 'user' else -1")

    def counters(self) -> str:
        return "_pc" if self.p.labels is not None else "None"

    def system_parts(self) -> None:
        """``_system`` read from a list of parts, as the format's ``[parts] system`` says."""
        w, system = self.w, self.p.system
        if system.parts == "refuse":
            return  # a list fails where the text is written, and the reference refuses it
        if system.parts == "first_text_list":
            w.line("if _system.__class__ is _str:")
            with w.block():
                w.line("raise _Unhandled  # the format reads a list here: the reference refuses a string")
            w.line("_system = _first_text(_system)")
            return
        w.line("if _system.__class__ is not _str:")
        with w.block():
            if system.parts == "first_text":
                w.line("_system = _first_text(_system)")
            else:
                w.line(f"_system = _parts_text(_system, {system.parts_form!r}, {self.counters()})")

    def content_parts(self, role: ir.Role) -> None:
        """``_content`` read from a list of parts, where the role takes one."""
        w, parts = self.w, role.parts
        assert parts is not None
        w.line("if _content.__class__ is not _str:")
        with w.block():
            refused = []
            if parts.roles is not None:
                refused.append(f"not ({_is_in(self.role_expr, parts.roles)})")
            if self.role_calls and not parts.with_calls:
                refused.append("_tc")
            if role.first_tools:
                refused.append("(_i == _offset and _tt is not None)")  # its template writes the list's repr
            if refused:
                w.line(f"if {' or '.join(refused)}:")
                with w.block():
                    w.line("raise _Unhandled")
            w.line(f"_content = _parts_text(_content, {parts.form!r}, {self.counters()})")
            images = self.p.system.unless_images
            if images is not None:
                # The default written above is left out when a message has an image (placement 'block':
                # no system message was taken out): the reference writes that conversation.
                w.line(f"if _rest is messages and _has_image((_m,), {images!r}):")
                with w.block():
                    w.line("raise _Unhandled")

    def tools_text(self) -> None:
        """``_tt``: the tool definitions' text, or ``None`` without any (a cached serialisation)."""
        w = self.w
        assert self.tools is not None
        w.line("if tools is not None:" if self.tools.written_empty else "if tools:")
        with w.block():
            if self.spans:
                # The tools' spans come from the reference interpreter, which says what each piece is.
                w.line("raise _Unhandled")
            else:
                w.line(f"_tt = _tools_text(tools, {self.tools.layout!r})")
        if self.tools.refuse_empty:
            w.line("elif tools is not None:")
            with w.block():
                w.line("raise _Unhandled  # an empty list, which the format refuses, or not a list")
        w.line("else:")
        with w.block():
            if self.tools.required and self.tools.written_empty:
                w.line("raise _Unhandled  # the template raises without tools: the reference refuses")
                return
            if self.tools.required:
                w.line("if tools is None:")
                with w.block():
                    w.line("raise _Unhandled  # the template raises without tools: the reference refuses")
            w.line("_tt = None")

    def turn(self, text: str, kind: str) -> None:
        """The tools' (documents') turn of its own, ``text``, when there is one. ``render_spans`` leaves
        them to the reference (``tools_text``), so it never writes one."""
        if self.spans:
            return
        self.w.line(f"if {text} is not None:")
        with self.w.block():
            self.extend([(Code(text), kind, "None")])

    def documents_text(self) -> None:
        """``_dt``: the documents' text, or ``None`` without any (a false value, as ``if documents`` reads it)."""
        w = self.w
        assert self.documents is not None
        w.line("if documents:")
        with w.block():
            if self.spans:
                # The documents' spans come from the reference interpreter, which says what each piece is.
                w.line("raise _Unhandled")
            else:
                w.line(f"_dt = _documents_text(documents, {self.documents.layout!r})")
        w.line("else:")
        with w.block():
            w.line("_dt = None")

    def documents_parts(self) -> None:
        """``_parts``: the messages of the loop, cut in two where the documents go (``_du``: the index of
        the first message after them) when there are any; a conversation with no message to write them
        with goes to the reference, which refuses it. The loop runs over the parts, so that a
        conversation without documents pays for no test per message."""
        w = self.w
        assert self.documents is not None
        w.line("if _dt is None:")
        with w.block():
            w.line(f"_parts = ({self.rest},)")
        w.line("else:")
        with w.block():
            if self.documents.placement == "before_last_user":
                # Before the last user message, or before the loop's first message when none is the user's.
                w.line("_du = _len(messages) - 1")
                w.line("while _du >= _offset and messages[_du]['role'] != 'user':")
                with w.block():
                    w.line("_du -= 1")
                w.line("if _du < _offset:")
                with w.block():
                    w.line("if _len(messages) == _offset:")
                    with w.block():
                        w.line("raise _Unhandled")
                    w.line("_du = _offset")
            else:
                # After the first user message.
                w.line("_du = _offset")
                w.line("while _du < _len(messages) and messages[_du]['role'] != 'user':")
                with w.block():
                    w.line("_du += 1")
                w.line("if _du == _len(messages):")
                with w.block():
                    w.line("raise _Unhandled")
                w.line("_du += 1")
            w.line(f"_parts = ({self.rest}[:_du - _offset], {self.rest}[_du - _offset:])")

    def default_with_tools(self, default: ir.Seq) -> None:
        """``_system``: the default text (where it applies) joined with the tools' text, which is given."""
        w = self.w
        w.line(f"_system = {self.concat(self.flat(default, 'None', self.values))}")
        if self.p.system.default_when == "no_system":
            w.line(f"if not ({self.default_missing()}):")
            with w.block():
                w.line("_system = None")
        self.join_tools(known=True, maybe_none=self.p.system.default_when == "no_system")

    def join_tools(self, known: bool = False, maybe_none: bool = False) -> None:
        """``_system`` (a text, or ``None`` for none where ``maybe_none``) joined with the tools' text,
        when there are tools (``known``: the lines are already inside a branch where there are)."""
        w, tools = self.w, self.tools
        assert tools is not None
        if known:
            self.join_lines(tools, maybe_none)
            return
        w.line("if _tt is not None:")
        with w.block():
            self.join_lines(tools, maybe_none)

    def join_lines(self, tools: ir.Tools, maybe_none: bool) -> None:
        w = self.w
        join = f" + {tools.join!r}" if tools.join else ""
        joined = (f"_system = _system{join} + _tt" if tools.placement == "system_after"
                  else f"_system = _tt{join} + _system")
        # join_when = "text": the join only when the system text is not empty.
        cases = ([("_system is None", "_system = _tt")] if maybe_none else []) + (
            [("_system != ''", joined), (None, "_system = _tt")] if tools.join_when == "text" else [(None, joined)])
        if len(cases) == 1:
            w.line(cases[0][1])
            return
        for position, (test, line) in enumerate(cases):
            w.line(("if" if position == 0 else "elif") + f" {test}:" if test is not None else "else:")
            with w.block():
                w.line(line)

    def tools_message(self) -> None:
        """Without a system message of its own, the conversation gets one for the tool definitions."""
        p, w, tools = self.p, self.w, self.tools
        assert tools is not None
        w.line(f"if _tt is not None and not ({_is_in(chr(95) + 'first[' + repr('role') + ']', self.leading)}):")
        with w.block():
            default = p.system.default
            if default is None:
                w.line("_content = _tt")
            else:
                self.default_with_tools(default)
                w.line("_content = _system")
            self.write_system_message()

    def given_system(self) -> None:
        """The caller's system text, trimmed and wrapped: written as a block, or kept for a fold."""
        w, system = self.w, self.p.system
        if system.remove:
            w.line("_system = _system" + "".join(f".replace({text!r}, '')" for text in system.remove))
        if system.trim != "none":
            w.line(f"_system = _system{_TRIM_CALL[system.trim]}")
        if system.override is None:
            self.given_text()
            return
        w.line(f"if {system.override!r} in _first['content']:")
        with w.block():
            if self.tools_in_system:
                w.line("if _tt is not None:")
                with w.block():
                    w.line("raise _Unhandled  # the template leaves the tools out: the reference refuses them")
            w.line(f"_system = _system.replace({system.override!r}, ''){_TRIM_CALL[system.trim]}")
            self.extend(self.items(system.override_block, "0", dict(self.values, system=Code("_system"))))
        w.line("else:")
        with w.block():
            self.given_text()

    def given_text(self) -> None:
        """``given_system`` once the text is trimmed: an empty one may take the default (``no_text``)."""
        w, system = self.w, self.p.system
        if system.default_when != "no_text":
            self.wrapped_text()
            return
        assert system.default is not None
        w.line("if _system == '':")
        with w.block():
            items = self.flat(system.default, "None", self.values)
            if self.tools_in_system and not self.spans:
                w.line(f"_system = {self.concat(items)}")
                self.join_tools()
                items = [(Code("_system"), CONTENT, "0")]
            self.system_block(items, "0")
        w.line("else:")
        with w.block():
            self.wrapped_text()

    def wrapped_text(self) -> None:
        w, system = self.w, self.p.system
        system_items: List[Item] = [(Code("_system"), CONTENT, "0")]
        if system.wrap is not None:
            system_items = self.items(system.wrap, "0", dict(self.values, system=Code("_system")))
        if system.placement == "block":
            if self.tools_in_system and not self.spans:  # render_spans leaves tools to the reference
                text = self.concat(system_items)
                if text != "_system":
                    w.line(f"_system = {text}")
                self.join_tools()
                system_items = [(Code("_system"), CONTENT, "0")]
            self.system_block(system_items, "0")
            return
        w.line("if not _isinstance(_system, _str):")
        with w.block():
            w.line("raise _TypeError")
        self.keep_system(system_items)

    def write_default(self, default: ir.Seq) -> None:
        """The default text written as a block, or kept for a fold. Its variants by the request's facts
        are chosen at render time, except for a request without tools and documents, the common one,
        where they are decided here (render_spans leaves tools and documents to the reference)."""
        w = self.w
        declared = (("tools", self.tools), ("documents", self.documents))
        facts: Dict[str, object] = {fact: False for fact, rules in declared if rules is not None}
        plain = specialize(default, facts)
        if not facts or plain == default or self.spans:
            self.default_system(self.flat(plain, "None", self.values))
            return
        w.line("if " + " and ".join(f"{local} is None" for fact, local in (("tools", "_tt"), ("documents", "_dt"))
                                    if fact in facts) + ":")
        with w.block():
            self.default_system(self.flat(plain, "None", self.values))
        w.line("else:")
        with w.block():
            self.default_system(self.flat(default, "None", self.values))

    def default_system(self, items: List[Item]) -> None:
        """The default text stands in for the system message: written as a block, or kept for a fold."""
        if self.p.system.placement == "block":
            self.system_block(items, "None")
        else:
            self.keep_system(items)

    def system_block(self, system_items: List[Item], owner: str) -> None:
        block = self.p.system.block
        at = next(k for k, piece in enumerate(block) if isinstance(piece, Slot) and piece.name == "system")
        # The prefix may be a choice (its variants when tools are given): chosen into a local first.
        before, after = self.flat(block[:at], owner, self.values), self.items(block[at + 1:], owner, self.values)
        self.extend(before + system_items + after)

    def keep_system(self, items: List[Item]) -> None:
        """Keep the system text for the fold: a string, and in ``render_spans`` its pieces and tags too."""
        w = self.w
        if self.spans:  # before _system becomes the wrapped text
            merged = self.merge(items)
            w.line(f"_sx = ({''.join(m[0] + ', ' for m in merged)})")
            w.line(f"_sy = ({''.join(i + ', ' for i in self.loop_items(merged))})")
        text = self.concat(items)
        if text != "_system":
            w.line(f"_system = {text}")

    def default_message(self) -> None:
        """A default system message that is not constant: its role writes it, as the first message."""
        assert self.p.system.default is not None
        self.w.line(f"_content = {self.concat(self.flat(self.p.system.default, 'None', self.values))}")
        self.write_system_message()

    def write_system_message(self) -> None:
        """``_content`` written as a system message of the format's own, before the conversation's first."""
        p, w = self.p, self.w
        name = self.leading[0]
        writer = p.role(name)
        assert writer is not None
        trim = _TRIM_CALL[writer.trim]
        if trim:
            w.line(f"_content = _content{trim}")
        pieces = specialize((writer.body,), {"prev_role": None, "first": False, "final": False, "calls": False,
                                             "earlier": frozenset(), "earlier_calls": False, "prev_message": None,
                                             "named": False, "opening": False, "reasoning": False})
        values = dict(self.values, role=name, content=Code("_content"), calls="", tool_call_id="", call_number="",
                      attach="")
        # The message after the default system message is the conversation's first.
        self.next_role, loop_next = "_first['role']", self.next_role
        self.emit(pieces, "None", values, kinds={"content": SCAFFOLD, "role": SCAFFOLD})
        self.next_role = loop_next

    def hoisted(self) -> None:
        w, system = self.w, self.p.system
        trim = _TRIM_CALL[system.trim]
        leading = _is_in("_m['role']", self.leading)
        block = system.block
        at = next(k for k, piece in enumerate(block) if isinstance(piece, Slot) and piece.name == "system")
        if not self.spans:
            w.line(f"_found = [_m['content']{trim} for _m in messages if {leading}]")
            if system.select == "last":
                # Every system message's content must still be text, even those not written.
                w.line("if not _all(_isinstance(_text, _str) for _text in _found):")
                with w.block():
                    w.line("raise _TypeError")
                w.line("_found = _found[-1:]")
            suffix = self.flat(system.item_suffix, "None", self.values)
            if system.item_prefix or suffix:
                around = self.items(system.item_prefix, "None", self.values) + [(Code("_text"), CONTENT, "None")] \
                    + suffix
                joined = f"{system.join!r}.join([{self.concat(around)} for _text in _found])"
            else:
                joined = f"{system.join!r}.join(_found)"
            if self.tools_in_system:
                # The tools follow the system texts (with the join where there is one), or stand alone.
                w.line(f"_system = {joined} if _found else None")
                self.join_tools(maybe_none=True)
                w.line("if _system is None:")
                with w.block():
                    w.line("_system = ''")
                joined = "_system"
            self.extend(self.items(block[:at], "None", self.values) + [(Code(joined), CONTENT, "None")]
                        + self.items(block[at + 1:], "None", self.values))
            self.offset("0")
            return
        # As render does; the messages' positions are looked up only when there is a system text.
        w.line(f"_found = [_m['content']{trim} for _m in messages if {leading}]")
        if system.select == "last":
            w.line("if not _all(_isinstance(_text, _str) for _text in _found):")
            with w.block():
                w.line("raise _TypeError")
        if system.select == "last":
            w.line("_found = _found[-1:]")
        self.extend(self.items(block[:at], "None", self.values))
        # Each text's message is found when spans are asked for: owner -2 is "the next system message
        # in order", -3 "the last one" (Rendered knows the leading roles).
        owner = "-3" if system.select == "last" else "-2"
        w.line("for _n, _text in _enumerate(_found):")
        with w.block():
            if system.join:
                w.line("if _n:")
                with w.block():
                    self.extend([(system.join, SCAFFOLD, "None")])
            self.extend(self.items(system.item_prefix, owner, self.values) + [(Code("_text"), CONTENT, owner)]
                        + self.flat(system.item_suffix, owner, self.values))
        self.extend(self.items(block[at + 1:], "None", self.values))
        self.offset("0")

    def last_answer(self) -> None:
        """``_answer``: the index of the last message of the reasoning's role without calls."""
        w, display = self.w, self.p.display
        assert display is not None
        w.line("_answer = _len(messages) - 1")
        w.line("while _answer >= 0:")
        with w.block():
            w.line("_m = messages[_answer]")
            w.line(f"if _m['role'] == {display.role!r} and not _m.get('tool_calls'):")
            with w.block():
                w.line("break")
            w.line("_answer -= 1")

    def last_query(self) -> None:
        w, display = self.w, self.p.display
        assert display is not None
        trim = _TRIM_CALL[display.query_trim]
        w.line("_query = _len(messages) - 1")
        w.line("while _query >= 0:")
        with w.block():
            w.line("_m = messages[_query]")
            w.line("if _m['role'] == 'user':")
            with w.block():
                if display.query_exclude:
                    start, end = display.query_exclude
                    if display.query_parts is not None:
                        # Parts are read without their labels: nothing is counted before the messages are.
                        w.line("_text = _m['content']")
                        w.line("if _text.__class__ is not _str:")
                        with w.block():
                            w.line(f"_text = _parts_text(_text, {display.query_parts!r}, None)")
                        if trim:
                            w.line(f"_text = _text{trim}")
                    else:
                        w.line(f"_text = _m['content']{trim}")
                    w.line(f"if not (_text.startswith({start!r}) and _text.endswith({end!r})):")
                    with w.block():
                        w.line("break")
                else:
                    w.line("break")
            w.line("_query -= 1")
        w.line("else:")
        with w.block():
            w.line("raise _Unhandled" if display.refuse_without_query else "_query = _len(messages) - 1")

    def check_fields(self, message: str) -> None:
        """A message with a field besides role and content goes to the reference, unless the
        format ignores that field: nothing is dropped without the format saying so."""
        w = self.w
        if message == "_m" and self.any_calls:
            # The loop's message size, read again by each branch's check for calls.
            w.line("_size = _len(_m)")
            w.line(f"if _size != 2 and _extra_fields(_m, {_literal_tuple(self.p.fields)}):")
        else:
            w.line(f"if _len({message}) != 2 and _extra_fields({message}, {_literal_tuple(self.p.fields)}):")
        with w.block():
            w.line("raise _Unhandled")

    def no_name(self, message: str) -> None:
        """A message whose name is not written (its role writes none, or it is taken out of the loop)
        goes to the reference, which refuses the name, in a format where some role writes one."""
        if self.names_read:
            self.w.line(f"if _len({message}) != 2 and {message}.get('name') is not None:")
            with self.w.block():
                self.w.line("raise _Unhandled")

    def no_calls(self, message: str) -> None:
        """A system message taken out of the loop carries no calls: the reference refuses them."""
        if self.any_calls:
            self.w.line(f"if _len({message}) != 2 and {self.has_calls(message)}:")
            with self.w.block():
                self.w.line("raise _Unhandled")
        self.no_attached(message, None)

    def no_attached(self, message: str, role: Optional[ir.Role], size: str = "") -> None:
        """A field another role writes (``attach``) is refused on this message: the reference says so."""
        for field in self.attach_fields:
            if role is None or field not in (role.attach_field, role.given_field):
                self.w.line(f"if {size or f'_len({message})'} != 2 and {message}.get({field!r}) is not None:")
                with self.w.block():
                    self.w.line("raise _Unhandled")

    def attached(self, role: ir.Role) -> None:
        """``_at``: the role's attached field around its value (text only), empty when the message has none."""
        w = self.w
        size = "_size" if self.any_calls else "_len(_m)"
        w.line(f"_at = _m.get({role.attach_field!r}) if {size} != 2 else None")
        w.line("if _at is None:")
        with w.block():
            w.line("_at = ''")
        w.line("elif _isinstance(_at, _str):")
        with w.block():
            if self.spans:
                w.line("raise _Unhandled  # its spans come from the reference")
            else:
                w.line(f"_at = {self.concat(self.items(role.attach_text, '_i', dict(self.values, value=Code('_at'))))}")
        w.line("else:")
        with w.block():
            w.line("raise _Unhandled")

    def has_calls(self, message: str) -> str:
        """The test of a message carrying calls, which a role that writes none refuses (an empty list
        too, where the format refuses one)."""
        if self.empty_calls_refused:
            return f"{message}.get('tool_calls') is not None"
        return f"{message}.get('tool_calls') not in (None, [], ())"

    def offset(self, value: str) -> None:
        """Index of ``_rest[0]`` in ``messages``; numbered loops, render_spans and the documents' place read it."""
        if self.numbered or self.spans or self.documents_in_loop:
            self.w.line(f"_offset = {value}")

    def default_missing(self) -> str:
        system = self.p.system
        if system.default_when == "no_system":
            return f"not _any({_is_in(chr(95) + 'm[' + repr('role') + ']', self.leading)} for _m in messages)"
        if len(self.leading) == 1:
            return f"_first['role'] != {self.leading[0]!r}"
        return f"_first['role'] not in {_literal_tuple(self.leading)}"

    # -- the messages -------------------------------------------------------
    def loop(self) -> None:
        p, w = self.p, self.w
        if self.tools is not None and self.tools.placement == "first_user":
            # The tools go in the first message after the system block, which must be the user's.
            w.line(f"if _tt is not None and (_len({self.rest}) == 0 or {self.rest}[0]['role'] != 'user'):")
            with w.block():
                w.line("raise _Unhandled")
        if self.tools is not None and self.tools.placement == "last_user" and not self.spans:
            # The tools go before the last user message (and those equal to it), which must exist.
            w.line("_lu = None")
            w.line("if _tt is not None:")
            with w.block():
                w.line("for _m in messages:")
                with w.block():
                    w.line("if _m['role'] == 'user':")
                    with w.block():
                        w.line("_lu = _m")
                w.line("if _lu is None:")
                with w.block():
                    w.line("raise _Unhandled")
        if p.alternation:
            w.line("_user_turn = True")
        if self.spans:
            w.line("_tags.append(_offset)")  # the loop's entries begin: one per message from here
        if self.documents_in_loop and not self.spans:  # render_spans leaves documents to the reference
            self.documents_parts()
            w.line("for _n, _part in _enumerate(_parts):")
            w.block()
            w.line("if _n:")
            with w.block():
                self.extend([(Code("_dt"), DOCUMENTS, "None")])
                if self.numbered_documents and self.numbers_calls:
                    w.line("_nk += 1")
            messages, start = "_part", "_du if _n else _offset"
        else:
            messages, start = self.rest, "_offset"
        w.line(f"for _i, _m in _enumerate({messages}, {start}):" if self.numbered else f"for _m in {messages}:")
        self.in_loop = True
        with w.block():
            self.loop_body()
        self.in_loop = False
        if self.documents_in_loop and not self.spans:
            w.__exit__(None, None, None)
        if self.spans:
            w.line("_tags.append(None)")

    def loop_body(self) -> None:
        p, w = self.p, self.w
        any_role = p.any_role
        # A value read once is read where it is written: the common loop stores nothing.
        needs_role = bool(p.roles) or p.alternation or self.hoist or self.uses_prev or bool(self.earlier) or (
            any_role is not None and _role_unchecked(any_role))
        self.role_expr = "_role" if needs_role else "_m['role']"
        self.check_fields("_m")
        if needs_role:
            w.line("_role = _m['role']")
        if self.hoist:
            w.line(f"if {_is_in('_role', self.leading)}:")
            with w.block():
                self.no_calls("_m")
                self.no_name("_m")
                if self.spans:
                    w.line("_tags.append(())")
                w.line("continue")
        if p.alternation and not self.alternation_by_role:
            w.line("if (_role == 'user') is not _user_turn:")
            with w.block():
                w.line("raise _Unhandled")
            w.line("_user_turn = not _user_turn")
        keyword = "if"
        for role in p.roles:
            w.line(f"{keyword} _role == {role.name!r}:")
            with w.block():
                self.write_role(role)
            keyword = "elif"
        if not p.roles:
            self.other_roles()
        else:
            w.line("else:")
            with w.block():
                self.other_roles()

    def other_roles(self) -> None:
        """The roles not listed: the catch-all role, or a refusal."""
        if self.p.any_role is not None:
            self.write_role(self.p.any_role)
        else:
            self.w.line("raise _Unhandled")

    def write_role(self, role: ir.Role) -> None:
        """Lines that write ``_content`` as ``role``. A role that writes calls gets two branches: a
        message without ``tool_calls`` takes the plain one, decided statically, at a plain message's cost.
        A role whose texts depend on a name gets them too: a message of two keys has neither."""
        reads_named = any(when.named is not None for when in _whens(role.body))
        if role.action == "write" and not role.writes_name and reads_named:
            # The reference reads a message as named only where its role writes names: here none is.
            named_off = specialize((role.body,), {"named": False})
            body = named_off[0] if len(named_off) == 1 and isinstance(named_off[0], Choice) else Choice(
                (Case(ALWAYS, named_off),))
            self.write_calls_apart(attrs.evolve(role, body=body), declared=role)
            return
        if role.action == "write" and reads_named:
            self.w.line(f"if {'_size' if self.any_calls else '_len(_m)'} == 2:")
            with self.w.block():
                self.alternate(role, False)  # two keys: no tool_calls
                plain = _without_calls(specialize((role.body,), {"named": False, "calls": False}))
                body = plain[0] if len(plain) == 1 and isinstance(plain[0], Choice) else Choice((Case(ALWAYS, plain),))
                self.write_one(attrs.evolve(role, calls=None, body=body), calls_read=True, declared=role)
            self.w.line("else:")
            with self.w.block():
                self.write_calls_apart(role)
            return
        self.write_calls_apart(role)

    def write_calls_apart(self, role: ir.Role, declared: Optional[ir.Role] = None) -> None:
        """``write_role``'s branches for a message without calls and one with them; ``declared``: the
        role before ``role``'s texts were specialised."""
        declared = declared or role
        if role.calls is None or role.action != "write":
            self.alternate(role, None)
            self.write_one(role, calls_read=False, declared=declared)
            return
        w = self.w
        # A message of two keys has no calls (one without content takes the reference's path).
        w.line("_tc = _m.get('tool_calls') if _size != 2 else None")
        calls_trim = role.calls.trim if role.calls.trim is not None and role.calls.trim != role.trim else None
        # Where a message with calls is trimmed otherwise, an empty list of calls (unless refused) is
        # none: the plain branch.
        plain_empty = calls_trim is not None and not role.calls.empty_refused
        w.line("if _tc in (None, [], ()):" if plain_empty else "if _tc is None:")
        with w.block():
            self.alternate(role, None if plain_empty else False)  # an empty list is not counted as no calls
            plain = _without_calls(specialize((role.body,), {"calls": False}))
            body = plain[0] if len(plain) == 1 and isinstance(plain[0], Choice) else Choice((Case(ALWAYS, plain),))
            if role.writes_name and not any(when.named is not None for when in _whens(body)):
                # Only cases with calls write the name: the reference still refuses one that is not text.
                w.line("if _size != 2 and _m.get('name') is not None and not _isinstance(_m['name'], _str):")
                with w.block():
                    w.line("raise _TypeError")
            self.write_one(attrs.evolve(role, calls=None, body=body), calls_read=True, declared=declared)
            if self.call_names:
                w.line("_cname = None")
        w.line("else:")
        with w.block():
            self.alternate(role, True)
            self.write_one(attrs.evolve(role, trim=calls_trim) if calls_trim is not None else role, calls_read=True,
                           declared=declared)
            if self.call_names:
                w.line("_cname = _cn if _tc else None")

    def alternate(self, role: ir.Role, calls: Optional[bool]) -> None:
        """The alternation, checked in the branch of ``role`` where some messages are not counted (so
        that a skipped role pays nothing); ``calls``: whether the branch's messages have ``tool_calls``
        (``None``: not known there)."""
        p, w = self.p, self.w
        if not self.alternation_by_role or role.action == "refuse" or role.name in p.alternation_skip_roles or (
                calls and p.alternation_skip_calls):
            return
        tests = []
        if role.name is None and p.alternation_skip_roles:
            tests.append(f"not ({_is_in('_role', p.alternation_skip_roles)})")
        if p.alternation_skip_calls and calls is None and not (self.any_calls and self.empty_calls_refused):
            # Calls this role does not write, but accepts (an empty list, or a field the format ignores).
            tests.append(f"({'_size' if self.any_calls else '_len(_m)'} == 2 or _m.get('tool_calls') is None)")
        if tests:
            w.line(f"if {' and '.join(tests)}:")
        with w.block() if tests else contextlib.nullcontext():
            if role.name is None:
                w.line("if (_role == 'user') is not _user_turn:")
            else:
                w.line("if not _user_turn:" if role.name == "user" else "if _user_turn:")
            with w.block():
                w.line("raise _Unhandled")
            w.line(f"_user_turn = {'not _user_turn' if role.name is None else role.name != 'user'}")

    def write_one(self, role: ir.Role, calls_read: bool, declared: Optional[ir.Role] = None) -> None:
        """``write_role`` for one branch; ``calls_read``: ``_tc`` holds the message's calls already;
        ``declared``: the role before the branch specialised its texts."""
        w = self.w
        # The reference checks a result's id and call number wherever some text of the role writes them,
        # so a branch whose case leaves them out checks them too (or it would write what it refuses).
        slots = ((declared or role).body,)
        if role.action == "refuse":
            w.line("raise _Unhandled")
            return
        if self.any_calls and role.calls is None and not calls_read:
            # Calls on a role that writes none are refused, not left out: the reference says so.
            w.line(f"if _size != 2 and {self.has_calls('_m')}:")
            with w.block():
                w.line("raise _Unhandled")
        self.no_attached("_m", role, "_size" if self.any_calls else "")
        # The catch-all branch sees any role value; unless the role is written (where the
        # join rejects a non-string), check it here so that malformed input reaches the fallback.
        if role.action == "drop" and role.parts is not None:
            # Its parts are checked, and its media counted, though the message is not written.
            w.line("_content = _m['content']")
            self.content_parts(role)
            checks = ["_content"]
        else:
            checks = ["_m['content']"] if role.action == "drop" else []
        checks += ["_role"] if _role_unchecked(role) else []
        if checks:
            w.line(f"if {' or '.join(f'not _isinstance({c}, _str)' for c in checks)}:")
            with w.block():
                w.line("raise _TypeError")
        named = any(when.named is not None for when in _whens(role.body))
        if not role.writes_name:
            self.no_name("_m")
        if role.action == "drop":
            if self.spans:
                w.line("_tags.append(())")
            return
        if role.names_call:
            w.line("if _cname is None:")
            with w.block():
                w.line("raise _Unhandled  # no call to name: the reference refuses the message")
        if named:
            # The name is written where given; one that is not text goes to the reference, which refuses it.
            w.line("_nm = _m.get('name') if _size != 2 else None" if self.any_calls else "_nm = _m.get('name')")
            w.line("if _nm is not None and not _isinstance(_nm, _str):")
            with w.block():
                w.line("raise _TypeError")
        trim = _TRIM_CALL[role.trim]
        # The leading role of a format with tools appends them to the first message's content, where the
        # system message stays in the conversation (a block takes it out: the tools join it there).
        # (A branch's role may be a copy, specialised: the catch-all role is known by its missing name.)
        with_tools = self.tools_in_message and (role.name in self.leading or (
            role.name is None and self.p.role(self.leading[0]) is self.p.any_role))
        # The first user message that the tools go in may be trimmed then (``[tools] trim``).
        host_trim = _TRIM_CALL[self.tools.trim] if role.first_tools and self.tools is not None else ""
        transformed = bool(role.refuse_containing or role.cut or trim or self.fold or role.display or role.calls
                           or with_tools or role.content_json or host_trim or role.remove or role.parts
                           or any(when.empty is not None for when in _whens(role.body)))
        self.role_calls = role.calls is not None
        self.current, self.calls_done = role, False
        if role.calls is not None and (role.calls.content_optional or role.calls.content_first):
            # OpenAI clients send a call message with content None (or none at all): it is empty where the
            # format takes it so (and after the first message with calls, where content_first does not read it).
            w.line("_content = _m.get('content')")
            optional = role.calls.content_optional
            test = ""
            if optional is not True:
                cases = (["_i == _last"] if optional == "final" else []) + (
                    ["_ec"] if role.calls.content_first else [])
                test = f" and {cases[0]}" if len(cases) == 1 else f" and ({' or '.join(cases)})"
            w.line(f"if _content is None and _tc{test}:")
            with w.block():
                w.line("_content = ''")
        elif transformed:
            w.line("_content = _m['content']")
        if role.parts is not None:
            self.content_parts(role)
            if any(when.given_empty is not None for when in _whens(role.body)):
                # The content as given is the parts' text: conditions on it read this.
                w.line("_gx = _content")
                self.given_local = "_gx"
        if role.content_json:
            # tojson would write any value; the reference refuses what is not text, as for any content.
            w.line("if not _isinstance(_content, _str):")
            with w.block():
                w.line("raise _TypeError")
            w.line("_content = _tojson(_content)")
        if role.refuse_containing:
            tests = " or ".join(f"{needle!r} in _content" for needle in role.refuse_containing)
            w.line(f"if {tests}:")
            with w.block():
                w.line("raise _Unhandled")
        if role.remove:
            w.line("_content = _content" + "".join(f".replace({text!r}, '')" for text in role.remove))
        if role.cut is not None:
            self.cut(role.cut)
        if with_tools:
            self.append_tools(role)
        if role.given_reasoning is not None:
            self.given_reasoning(role.given_reasoning, role.given_field)
        values: Dict[str, Union[str, Code]] = dict(
            self.values, role=role.name if role.name is not None else Code(self.role_expr),
            content=Code("_content" if transformed else "_m['content']"), calls=Code("_calls"), tools=Code("_tu"),
            tool_call_id=Code("_ci"), call_number=Code("_cnum"), call_name=Code("_cname"), attach=Code("_at"),
            name=Code("_nm"), reasoning=Code("_reasoning"))
        if role.attach_field is not None:
            self.attached(role)
        if _uses(slots, "call_number"):
            # The number of the call this result answers, by its id: one call's, answered once.
            size = "_size" if self.any_calls else "_len(_m)"
            w.line(f"_ci = _m.get('tool_call_id') if {size} != 2 else None")
            w.line("if not _isinstance(_ci, _str) or _ci not in _cids or _ci in _cseen:")
            with w.block():
                w.line("raise _Unhandled")
            w.line("_cseen[_ci] = True")
            w.line("_cnum = _cids[_ci]")
            if self.documents is not None and self.documents.counts_as_call:
                # The template numbers a call after the documents one more than its result: the reference refuses.
                after = "" if self.documents.placement == "turn_after_system" else " and _cmsg[_ci] >= _du"
                w.line(f"if _dt is not None{after}:")
                with w.block():
                    w.line("raise _Unhandled")
        if _uses(slots, "tool_call_id") and role.call_id is not None:
            # Required, and checked as the format's rule says (the template raises or writes junk otherwise).
            w.line(f"_ci = _call_id(_m.get('tool_call_id'), {role.call_id!r})")
        elif _uses(slots, "tool_call_id"):
            # The id of the call this message answers, as given (text only), empty without one.
            size = "_size" if self.any_calls else "_len(_m)"
            w.line(f"_ci = _m.get('tool_call_id') if {size} != 2 else None")
            w.line("if _ci is None:")
            with w.block():
                w.line("_ci = ''")
            w.line("elif not _isinstance(_ci, _str):")
            with w.block():
                w.line("raise _Unhandled")
        if role.first_tools:
            # The tools go in the conversation's first message after the system block (checked to be this role's).
            w.line("_tu = _tt if _i == _offset and _tt is not None else ''")
            if host_trim:
                w.line("if _i == _offset and _tt is not None:")
                with w.block():
                    w.line(f"_content = _content{host_trim}")
        if role.last_tools:
            # Before the last user message and each the template sees as equal to it, as a write of its
            # own: a message without them pays one test. render_spans leaves tools to the reference.
            values["tools"] = ""
            if not self.spans:
                w.line("if _tt is not None and (_m is _lu or _same_message(_m, _lu)):")
                with w.block():
                    w.line("_out.append(_tt)")
        if self.p.message_tools is not None:
            self.carried_tools(self.p.message_tools)
        if self.fold:
            w.line("if _i == _target:")
            with w.block():
                self.fold_into(role)
                # render_spans: the folded content is pieces of several messages (_cx, _cy).
                self.write_body(role.body, values, composite=self.spans)
            w.line("else:")
            with w.block():
                if trim:
                    w.line(f"_content = _content{trim}")
                self.write_body(role.body, values, composite=False)
        else:
            if trim:
                w.line(f"_content = _content{trim}")
            if role.display:
                self.display(role, values)
            else:
                self.write_body(role.body, values, composite=False)
        if self.uses_prev:
            w.line("_prev = _role")
        self.remember(role)
        self.role_calls = False
        self.current = None
        self.given_local = None

    def remember(self, role: ir.Role) -> None:
        """After a message is written: the flags of what was written so far, where conditions read them."""
        w = self.w
        if role.name is not None:
            if role.name in self.earlier:
                w.line(f"{self.earlier[role.name]} = True")
        else:
            declared = {r.name for r in self.p.roles}
            for name, flag in self.earlier.items():
                if name not in declared:  # a role the catch-all writes
                    w.line(f"if _role == {name!r}:")
                    with w.block():
                        w.line(f"{flag} = True")
        if role.calls is not None and self.uses_earlier_calls:
            w.line("if _tc:")
            with w.block():
                w.line("_ec = True")

    def given_reasoning(self, how: str, field: Optional[str] = None) -> None:
        """``_reasoning``: the reasoning given in the message's field, trimmed (``''`` for none)."""
        w = self.w
        size = "_size" if self.any_calls else "_len(_m)"  # the loop has read the message's size where it has calls
        order = f", {reasoning_order(field)!r}" if field is not None else ""
        w.line(f"_reasoning = _reasoning_of(_m{order}) if {size} != 2 else None")
        w.line("if _reasoning is None:")
        with w.block():
            w.line("_reasoning = ''")
        w.line("elif _isinstance(_reasoning, _str):")
        with w.block():
            w.line({"both": "_reasoning = _reasoning.strip()", "newlines": "_reasoning = _reasoning.strip('\\n')"}
                   .get(how, "pass"))
        w.line("else:")
        with w.block():
            w.line("raise _Unhandled  # not text: the reference refuses it")

    def append_tools(self, role: ir.Role) -> None:
        """The tool definitions' text joined to the first message's content (``_tt``, when given)."""
        w, tools = self.w, self.tools
        assert tools is not None
        test = "_i == 0 and _tt is not None"
        if role.name is None:
            test += f" and {_is_in(self.role_expr, self.leading)}"
        w.line(f"if {test}:")
        with w.block():
            join = f" + {tools.join!r}" if tools.join else ""
            if tools.join_when == "text":
                w.line(f"_content = (_content{join} if _content != '' else '') + _tt" if tools.placement ==
                       "system_after" else f"_content = _tt + ({tools.join!r} + _content if _content != '' else '')")
            elif tools.placement == "system_after":
                w.line(f"_content = _content{join} + _tt")
            else:
                w.line(f"_content = _tt{join} + _content")

    def write_calls(self, role: ir.Role) -> None:
        """``_calls``: the message's calls as written, where the answer (``_content``) is final."""
        calls = role.calls
        assert calls is not None
        w = self.w
        w.line("_calls = ''")
        w.line("if _tc:")
        with w.block():
            if calls.refused is not None:
                # Where the template leaves the calls out, the reference refuses them.
                w.line(f"if {self.condition(calls.refused)}:")
                with w.block():
                    w.line("raise _Unhandled")
            if calls.max or calls.content_refused or calls.content_first or calls.refuse_content_starting is not None:
                tests = ([f"_len(_tc) > {calls.max}"] if calls.max else []) + (
                    ["_m.get('content')"] if calls.content_refused else []) + (
                    ["_ec and _m.get('content')"] if calls.content_first else []) + (
                    [f"(_m.get('content') or '').startswith({calls.refuse_content_starting!r})"]
                    if calls.refuse_content_starting is not None else [])
                w.line(f"if {' or '.join(tests)}:")
                with w.block():
                    w.line("raise _Unhandled")
            parts = ["_cn", "_ca"] + (["_ck"] if calls.typed else []) + (["_cd", "_cf"] if calls.extra else [])
            extra = (", True" if calls.typed else "") + (f", extra={calls.extra!r}" if calls.extra else "")
            w.line(f"for _j, ({', '.join(parts)}) in _enumerate(_call_parts(_tc, {calls.form!r}, {calls.ignore!r}"
                   f"{extra})):")
            with w.block():
                keyword = "if"
                for text in calls.texts:
                    tests = ([] if text.first is None else ["_j == 0" if text.first else "_j != 0"]) + (
                        [] if text.empty is None else ["_content == ''" if text.empty else "_content != ''"]) + (
                        [] if text.earlier_calls is None else ["_ec" if text.earlier_calls else "not _ec"]) + (
                        [] if text.final is None else ["_i == _last" if text.final else "_i != _last"]) + (
                        [] if text.names is None else [_is_in("_cn", text.names)]) + (
                        [] if text.last is None else ["_j == _len(_tc) - 1" if text.last else "_j != _len(_tc) - 1"])
                    pieces = [repr(p) if isinstance(p, str) else
                              ("_cn", "_ca", "_str(_j)", "_ck", "_str(_nk + _j)", "_cd", "_cf")[p]
                              for p in text.text]
                    line = f"_calls += {' + '.join(pieces) or repr('')}"
                    if not tests:
                        if keyword == "if":
                            w.line(line)
                        else:
                            w.line("else:")
                            with w.block():
                                w.line(line)
                        break
                    w.line(f"{keyword} {' and '.join(tests)}:")
                    with w.block():
                        w.line(line)
                    keyword = "elif"
            if calls.open or calls.close:
                w.line(f"_calls = {calls.open!r} + _calls + {calls.close!r}")
            if self.numbers_calls:
                w.line("_nk += _len(_tc)")
        if calls.empty_refused:
            w.line("else:")
            with w.block():
                w.line("raise _Unhandled  # an empty list or not a list of calls: the reference says why")
        else:
            w.line("elif _tc not in (None, [], ()):")
            with w.block():
                w.line("raise _Unhandled  # not a list of calls: the reference says what it is")

    def fold_into(self, role: ir.Role) -> None:
        """The system text folded into this message's content (``_content``; in ``render_spans``
        ``_cx`` and ``_cy``, the pieces and their tags)."""
        w, system = self.w, self.p.system
        trim = _TRIM_CALL[role.trim]
        assert system.fold is not None
        if system.fold_order == "trim_then_fold" and trim:
            w.line(f"_content = _content{trim}")
        how = role.trim if system.fold_order == "fold_then_trim" else "none"
        if self.spans:
            self.fold_pieces(system.fold, how)
            return
        fold_items: List[Item] = []
        for piece in system.fold:
            if isinstance(piece, Slot) and piece.name == "system":
                fold_items.append((Code("_system"), CONTENT, "None"))
            else:
                fold_items += self.items((piece,), "_i", dict(self.values, content=Code("_content")))
        w.line(f"_content = {self.concat(fold_items)}")
        if how != "none":
            w.line(f"_content = _content{_TRIM_CALL[how]}")

    def write_body(self, body: Choice, values: Dict[str, Union[str, Code]], composite: bool) -> None:
        """The message's own pieces around its content; ``composite``: the content is the pieces
        ``_cx`` (tags ``_cy``), spliced in between."""
        if not composite:
            if self.role_calls and not self.calls_done:
                assert self.current is not None
                self.write_calls(self.current)
            self.attached_skipped(body)
            self.reasoning_unwritten()
            self.emit((body,), "_i", values)
            return
        w = self.w
        w.line("_content = ''.join(_cx)")
        if self.role_calls and not self.calls_done:
            assert self.current is not None
            self.write_calls(self.current)
        self.attached_skipped(body)
        self.reasoning_unwritten()

        def write(pieces: ir.Seq) -> None:
            at = [k for k, piece in enumerate(pieces) if isinstance(piece, Slot) and piece.name == "content"]
            if not at:
                self.emit(pieces, "_i", values)
                return
            # One write: the message's pieces with the content's spliced in.
            before = self.merge(self.flat(pieces[:at[0]], "_i", values))
            after = self.merge(self.flat(pieces[at[0] + 1:], "_i", values))
            texts = [m[0] for m in before] + ["*_cx"] + [m[0] for m in after]
            tags = self.loop_items(before) + ["*_cy"] + self.loop_items(after)
            w.line(f"_out += ({''.join(t + ', ' for t in texts)})")
            w.line(f"_tags.append(({''.join(t + ', ' for t in tags)}))")
            self.writes += 1

        self.branches(body, write)

    def carried_tools(self, tools: ir.Tools) -> None:
        """The definitions a message carries in its ``tools`` field, written before it (even where its
        role then skips it); any problem, and render_spans, go to the reference."""
        w = self.w
        size = "_size" if self.any_calls else "_len(_m)"
        w.line(f"_tu = _m.get('tools') if {size} != 2 else None")
        w.line("if _tu is not None:")
        with w.block():
            if self.spans:
                w.line("raise _Unhandled  # its spans come from the reference")
                return
            write = f"_out.append(_tools_text(_tu, {tools.layout!r}))"
            if tools.written_empty:
                w.line(write)
                return
            w.line("if _tu == [] or _tu == ():")
            with w.block():
                w.line("raise _Unhandled  # refused, as the reference says" if tools.refuse_empty else "pass")
            w.line("else:")
            with w.block():
                w.line(write)

    def reasoning_unwritten(self) -> None:
        """Reasoning given where the chosen prefix does not write it goes to the reference, which refuses it
        (``ir.Role.given_unwritten``: the prefix's cases in order, first match)."""
        role = self.current
        if role is None or not role.given_unwritten:
            return
        chain = []
        for when, writes in role.given_unwritten:
            test = "True" if when.always else self.condition(when)
            if test == "False" or test.endswith(" and False") or "False and " in test:
                continue  # a fact this branch never has (calls, in a branch without them)
            chain.append((test, writes))
            if test == "True":
                break
        w = self.w
        w.line("if _reasoning != '':")
        with w.block():
            if not any(writes for _, writes in chain):
                w.line("raise _Unhandled")
                return
            for position, (test, writes) in enumerate(chain):
                w.line("else:" if test == "True" and position else f"{'elif' if position else 'if'} {test}:")
                with w.block():
                    w.line("pass" if writes else "raise _Unhandled")

    def attached_skipped(self, body: Choice) -> None:
        """A message with an attached field that its role skips (empty) goes to the reference, which refuses it."""
        skip = next((case.when for case in body.cases if not case.seq and case.when.empty), None)
        if skip is not None and self.current is not None and self.current.attach_field is not None:
            self.w.line(f"if _at and {self.condition(skip)}:")
            with self.w.block():
                self.w.line("raise _Unhandled")

    def fold_pieces(self, fold: ir.Seq, how: str) -> None:
        """``render_spans``: the folded content as pieces and tags (``_cx``, ``_cy``)."""
        w = self.w
        texts, tags = [], []
        for piece in fold:
            if isinstance(piece, Slot) and piece.name == "system":
                texts.append("*_sx")
                tags.append("*_sy")
                continue
            merged = self.merge(self.items((piece,), "_i", dict(self.values, content=Code("_content"))))
            texts += [m[0] for m in merged]
            tags += self.loop_items(merged)
        w.line(f"_cx = ({''.join(t + ', ' for t in texts)})")
        w.line(f"_cy = ({''.join(t + ', ' for t in tags)})")
        if how != "none":
            w.line(f"_cx, _cy = _trim_pieces(_cx, _cy, {how!r})")

    def cut(self, rule: ir.Cut) -> None:
        w = self.w
        conditions = ["_i != _last"] if rule.history else []
        if rule.skip_after:
            conditions.append(f"not ({_is_in('_prev', rule.skip_after)})")
        if rule.skip_calls and self.role_calls:
            conditions.append("not _tc")  # the branch for messages without tool_calls cuts unconditionally
        marker = repr(rule.marker)
        lstrip = f".lstrip({rule.lstrip!r})" if rule.lstrip else ""
        # partition and rpartition cut without building a list of every piece, as split would.
        if rule.keep == "after_last":
            # Without the marker, rpartition keeps the whole text, as the rule does.
            steps = [f"_content = _content.rpartition({marker})[2]{lstrip}"]
            if not rule.always:
                conditions.append(f"{marker} in _content")
        else:
            # after_first keeps what follows the first marker; second_piece only up to the next one.
            cut = f".partition({marker})[2]" + (f".partition({marker})[0]" if rule.keep == "second_piece" else "")
            if rule.always:
                steps = [f"if {marker} in _content:", f"    _content = _content{cut}"]
                steps += [f"_content = _content{lstrip}"] if lstrip else []
            else:
                conditions.append(f"{marker} in _content")
                steps = [f"_content = _content{cut}{lstrip}"]
        if not conditions:
            for step in steps:
                w.line(step)
            return
        w.line(f"if {' and '.join(conditions)}:")
        with w.block():
            for step in steps:
                w.line(step)

    def display(self, role: ir.Role, values: Dict[str, Union[str, Code]]) -> None:
        """The reasoning display: reasoning and answer through the template after the last query."""
        w, display = self.w, self.p.display
        assert display is not None
        close, opening = repr(display.close), repr(display.open)
        strip = {"newlines": ".strip('\\n')", "both": ".strip()", "none": ""}[display.reasoning_trim]
        if display.field:
            # Reasoning given in a field is taken as it is, and the content is left whole.
            order = "" if display.field_name == "reasoning_content" else f", {reasoning_order(display.field_name)!r}"
            w.line(f"_given = _reasoning_of(_m{order}) if _len(_m) != 2 else None")
            if display.refuse_containing:
                tests = " or ".join(f"{needle!r} in _given" for needle in display.refuse_containing)
                w.line(f"if _isinstance(_given, _str) and ({tests}):")
                with w.block():
                    w.line("raise _Unhandled")
            if role.calls is not None and role.calls.content_reasoning:
                # A message with calls writes its content as its reasoning, and no content.
                w.line("if _tc:")
                with w.block():
                    w.line("if _content != '':")
                    with w.block():
                        w.line("if _given is not None and _given != '':")
                        with w.block():
                            w.line("raise _Unhandled")
                        w.line("_given = _content")
                    w.line("_content = ''")
            w.line("if _given is not None:")
            with w.block():
                w.line("if not _isinstance(_given, _str):")
                with w.block():
                    w.line("raise _Unhandled")
                w.line("_present = _given != ''")
                w.line(f"_reasoning = _given{strip}")
            if display.split:
                w.line(f"elif {close} in _content:")
        else:
            w.line(f"if {close} in _content:")
        if display.split or not display.field:
            with w.block():
                w.line(f"_reasoning = _content.partition({close})[0].rstrip('\\n')"
                       f".rpartition({opening})[2].lstrip('\\n')")
                # Whether a turn shows its reasoning depends on the reasoning before it is trimmed.
                w.line("_present = _reasoning != ''")
                w.line(f"_reasoning = _reasoning{strip}")
                w.line(f"_content = _content.rpartition({close})[2].lstrip('\\n')")
        w.line("else:")
        with w.block():
            w.line("_reasoning = ''")
            w.line("_present = False")
        if role.calls is not None:
            # The calls' conditions read the answer, before the display writes the reasoning into it.
            self.write_calls(role)
            self.calls_done = True
        if display.until_answer:
            # A call's reasoning until an answer follows; an answer's in the final message only, if given.
            answered = "_i == _last and not add_generation_prompt and _given is not None"
            shown = f"((_i > _answer and _present) if _tc else {answered})" if role.calls is not None else answered
        else:
            shown = "_i > _query" if display.always else "_i > _query and (_i == _last or _present)"
        template = dict(self.values, reasoning=Code("_reasoning"), content=Code("_content.lstrip('\\n')"))
        items = self.items(display.template, "_i", template)
        if display.before:
            # A turn of its own before the message; render_spans leaves it to the reference.
            w.line(f"if {shown}:")
            with w.block():
                if self.spans:
                    w.line("raise _Unhandled")
                else:
                    self.extend(items)
            self.write_body(role.body, values, composite=False)
            return
        w.line(f"if {shown}:")
        with w.block():
            if self.spans:
                merged = self.merge(items)
                w.line(f"_cx = ({''.join(m[0] + ', ' for m in merged)})")
                w.line(f"_cy = ({''.join(i + ', ' for i in self.loop_items(merged))})")
                self.write_body(role.body, values, composite=True)
            else:
                w.line(f"_content = {self.concat(items)}")
        if self.spans:
            w.line("else:")
            with w.block():
                self.write_body(role.body, values, composite=False)
        else:
            self.write_body(role.body, values, composite=False)


def _merge(items: Sequence[Item], spans: bool) -> List[Tuple[str, str, str]]:
    """``_Generator.merge``: with ``spans`` false, adjacent literals merge whatever their kind and message."""
    out: List[Tuple[str, str, str]] = []
    pending: Optional[List] = None
    for value, kind, owner in items:
        if isinstance(value, str):
            if pending is not None and (not spans or (pending[1], pending[2]) == (kind, owner)):
                pending[0] += value
                continue
            if pending is not None and pending[0]:
                out.append((repr(pending[0]), pending[1], pending[2]))
            pending = [value, kind, owner]
            continue
        if pending is not None and pending[0]:
            out.append((repr(pending[0]), pending[1], pending[2]))
        pending = None
        out.append((value.expr, kind, owner))
    if pending is not None and pending[0]:
        out.append((repr(pending[0]), pending[1], pending[2]))
    return out


def _one_write(pieces: ir.Seq) -> ir.Seq:
    """``pieces`` with no choice that mixes kinds (reasoning in a prefix) beside other pieces or
    inside a case: its cases are spread over the cases around it, conditions joined, so that
    ``render_spans`` writes a message at once."""
    if len(pieces) > 1 and any(isinstance(p, Choice) and _single_kind(p) is None for p in pieces):
        return (_flatten(Choice((Case(ALWAYS, pieces),))),)
    return tuple(_flatten(p) if isinstance(p, Choice) else p for p in pieces)


def _flatten(choice: Choice) -> Choice:
    """``choice`` with each case holding a choice of mixed kinds split into a case per case of that
    choice (the outer condition joined with each inner one, in order; contradictions dropped)."""
    out: List[Case] = []
    for case in choice.cases:
        at = next((k for k, p in enumerate(case.seq) if isinstance(p, Choice) and _single_kind(p) is None), None)
        if at is None:
            out.append(case)
            continue
        inner = case.seq[at]
        assert isinstance(inner, Choice)
        for sub in inner.cases:
            when = _conjoin(case.when, sub.when)
            if when is not None:
                out += _flatten(Choice((Case(when, case.seq[:at] + sub.seq + case.seq[at + 1:]),))).cases
    return Choice(tuple(out))


def _conjoin(a: When, b: When) -> Optional[When]:
    """Both conditions at once, or ``None`` where they contradict each other."""
    joined = {}
    for fact in attrs.fields(When):
        x, y = getattr(a, fact.name), getattr(b, fact.name)
        if x is None or y is None:
            joined[fact.name] = y if x is None else x
        elif fact.name in ("has", "equals"):  # what each variable must have or be: both sides' requirements
            joined[fact.name] = tuple(dict.fromkeys(x + y))
        elif fact.name == "earlier":
            # "One of these roles was written" twice is no single such fact; it cannot come up: only a
            # prefix mixes kinds, and the cases around it (a role's empty or written body) never ask it.
            assert x == y, "earlier conditions on both sides of a choice of mixed kinds"
            joined[fact.name] = x
        elif isinstance(x, tuple):
            both = tuple(name for name in x if name in y)
            if not both:
                return None
            joined[fact.name] = both
        elif x != y:
            return None
        else:
            joined[fact.name] = x
    return When(**joined)


def _without_calls(pieces: ir.Seq) -> ir.Seq:
    """``pieces`` without the calls' slot (a message without calls writes none)."""
    out: List[ir.Piece] = []
    for piece in pieces:
        if isinstance(piece, Slot) and piece.name == "calls":
            continue
        if isinstance(piece, Choice):
            piece = Choice(tuple(Case(case.when, _without_calls(case.seq)) for case in piece.cases))
        out.append(piece)
    return tuple(out)


def _uses(pieces: ir.Seq, name: str) -> bool:
    """Whether some case of ``pieces`` writes the value ``name``."""
    for piece in pieces:
        if isinstance(piece, Slot) and piece.name == name:
            return True
        if isinstance(piece, Choice) and any(_uses(case.seq, name) for case in piece.cases):
            return True
    return False


def _role_unchecked(role: ir.Role) -> bool:
    """A catch-all role that never writes the role's name: its branch must check the role's type itself."""
    return role.name is None and (role.action == "drop" or not role.writes_role)


def _single_kind(choice: Choice) -> Optional[str]:
    """The kind of every piece of every case, when they share one and hold no choice; else None."""
    kinds = set()
    for case in choice.cases:
        for piece in case.seq:
            if isinstance(piece, Choice) or (isinstance(piece, Slot) and piece.name == "content"):
                return None
            kinds.add(piece.kind)
    return kinds.pop() if len(kinds) == 1 else (SCAFFOLD if not kinds else None)


def _whens(choice: Choice):
    for case in choice.cases:
        yield case.when
        for piece in case.seq:
            if isinstance(piece, Choice):
                yield from _whens(piece)
