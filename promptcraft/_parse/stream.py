"""The incremental reader of a completion: ``feed`` text as it is generated, get the deltas of
content, reasoning and tool calls as they become certain, ``close`` to get the message.

``parse_output`` is this reader fed the whole text at once, so the one-shot result and the
streamed one are the same by construction: every step decides only on text it has seen, and
waits (``NEED``) wherever more text could change its decision. Every search resumes where the
last one gave up, so reading is linear in the text's length however it is cut.
"""

from __future__ import annotations

import json
import re
from typing import Any, Dict, List, Optional, Tuple

from ..errors import OutputError
from .output import (
    FAIL,
    NEED,
    CallForm,
    End,
    Lit,
    OutputForm,
    Piece,
    choices,
    gap,
    openings,
    possible,
    read_value,
    schema_types,
    skip_ws,
    strip_end,
    tool_schemas,
    trim,
)

_STRUCTURE = re.compile(r'[{}\[\]"]')
_DECODE = json.JSONDecoder().raw_decode
_IN_STRING = re.compile(r'["\\]')
#: A JSON scalar other than a string, read to its end.
_SCALAR = re.compile(r"[-+.\w]*")


class _Target:
    """Something a free text (reasoning, content) ends at: searched for as ``search`` (a literal's
    first token, or an end marker), then checked whole."""

    __slots__ = ("search", "kind", "lit", "end", "form")

    def __init__(self, search: str, kind: str, lit: Optional[Lit] = None, end: Optional[End] = None,
                 form: Optional[CallForm] = None) -> None:
        self.search = search
        self.kind = kind
        self.lit = lit
        self.end = end
        self.form = form

    def verify(self, s: str, at: int, final: bool) -> int:
        if self.lit is None:
            return at + len(self.search)
        pos = at + len(self.search)
        for token in self.lit.tokens[1:]:
            if s.startswith(token, pos):
                pos += len(token)
                continue
            pos = gap(s, pos, final)
            if pos < 0:
                return pos
            if s.startswith(token, pos):
                pos += len(token)
            elif not final and len(s) - pos < len(token) and token.startswith(s[pos:]):
                return NEED
            else:
                return FAIL
        return pos


def _partial(s: str, search: str, start: int) -> int:
    """Where ``s`` ends with the start of ``search`` (from ``start`` on), else ``len(s)``."""
    at = max(start, len(s) - len(search) + 1)
    while True:
        at = s.find(search[0], at)
        if at < 0:
            return len(s)
        if search.startswith(s[at:]):
            return at
        at += 1


class _Json:
    """Finds where a JSON object ends, resumably: brackets are counted outside strings."""

    __slots__ = ("start", "pos", "depth", "in_string")

    def __init__(self, start: int) -> None:
        self.start = self.pos = start
        self.depth = 0
        self.in_string = False

    def string_end(self, s: str) -> int:
        """The end of a JSON string whose opening quote is before ``pos`` (``NEED`` while it is open)."""
        pos = self.pos
        while True:
            found = _IN_STRING.search(s, pos)
            if found is None:
                self.pos = len(s)
                return NEED
            if found.group() == '"':
                self.pos = found.end()
                return found.end()
            if found.end() >= len(s):
                self.pos = found.start()
                return NEED
            pos = found.end() + 1

    def end(self, s: str) -> int:
        pos = self.pos
        while True:
            if self.in_string:
                found = _IN_STRING.search(s, pos)
                if found is None:
                    self.pos = len(s)
                    return NEED
                if found.group() == '"':
                    self.in_string = False
                    pos = found.end()
                    continue
                if found.end() >= len(s):
                    self.pos = found.start()
                    return NEED
                pos = found.end() + 1
                continue
            found = _STRUCTURE.search(s, pos)
            if found is None:
                self.pos = len(s)
                return NEED
            char = found.group()
            pos = found.end()
            if char == '"':
                self.in_string = True
            elif char in "{[":
                self.depth += 1
            else:
                self.depth -= 1
                if self.depth <= 0:
                    self.pos = pos
                    return pos


class _Seq:
    """Reading one call's (or one parameter's) pieces in order, resumably."""

    __slots__ = ("pieces", "i", "pos", "values", "hint", "json", "params", "inner", "start", "where", "separated")

    def __init__(self, pieces: Tuple[Piece, ...], pos: int, where: str) -> None:
        self.pieces = pieces
        self.i = 0
        self.pos = self.start = pos
        self.values: Dict[str, Any] = {}
        self.hint = pos
        self.json: Optional[_Json] = None
        self.params: List[Tuple[str, str, int]] = []
        self.inner: Optional[_Seq] = None
        self.where = where
        #: The separator after the last parameter was read: a parameter follows.
        self.separated = False


class OutputParser:
    """Reads a completion of a format incrementally (see the module's docstring).

    ``feed(text)`` returns a list of deltas, each ``{"reasoning_content": text}`` (or the format's own
    reasoning field: ``{"tool_plan": text}``), ``{"content": text}`` or
    ``{"tool_calls": [{"index": i, ...call}]}``; ``close()`` returns the message, which equals
    ``Format.parse_output`` of everything fed. Joined, the deltas are the message: text deltas are
    never taken back, a call is given once it is complete. Malformed text raises ``OutputError``
    (with the offset, the field and the message read so far) as soon as it is certain.
    """

    def __init__(self, form: OutputForm, prompt: Optional[str] = None, tools: Any = None) -> None:
        self._form = form
        self._schemas = tool_schemas(tools)
        self._prompt = form.default_prompt if prompt is None else prompt
        self._openings = openings(form, self._prompt)
        self._s = ""
        self._pos = 0
        self._phase = "start"
        self._hint = 0
        self._deltas: List[Dict[str, Any]] = []
        self._closed = False
        self._reasoning: Optional[str] = None
        self._reasoning_prefix = ""
        self._reasoning_start = 0
        #: The reasoning block read: the form's, or the one the turn's opening holds (``Plan``).
        self._block = form.reasoning
        self._field = form.reasoning.field if form.reasoning is not None else "reasoning_content"
        self._sent = {self._field: 0, "content": 0}
        #: Per text field: where its raw text was sent up to, up to where it is known to be whitespace
        #: after that (held back: a trim or a marker's lead may take it), and whether any was sent.
        self._emitted: Dict[str, List[Any]] = {}
        self._content = ""
        self._content_start = 0
        self._calls: List[Dict[str, Any]] = []
        self._seq: Optional[_Seq] = None
        self._content_targets: List[_Target] = []
        self._needs_calls: Optional[bool] = None
        self._ending: Optional[End] = None
        self._opened = False
        #: The call's name read as the turn's attached field (``[output] call_name = "attach"``).
        self._attached: Optional[str] = None
        calls = form.calls
        self._first_forms: List[CallForm] = []
        self._later_forms: List[CallForm] = []
        if calls is not None:
            # Variants are read as their writer chooses them; [output] call texts are alternatives.
            self._first_forms = list(calls.forms) if calls.alternatives else choices(calls.forms, {"first": True})
            self._later_forms = list(calls.forms) if calls.alternatives else choices(calls.forms, {"first": False})
            if calls.open is not None:
                # What opens the calls is read as the first call's text.
                self._first_forms = [CallForm(f.condition, (("lit", calls.open, False), *f.pieces))
                                     for f in self._first_forms]
        #: Whether what closes the calls (``[calls] suffix``) was read: no call follows.
        self._calls_closed = False

    # -- the public face -----------------------------------------------------------------------

    def feed(self, text: str) -> List[Dict[str, Any]]:
        """Read ``text`` (the next piece of the completion); the deltas that became certain."""
        if self._closed:
            raise OutputError("the parser is closed")
        if not isinstance(text, str):
            raise OutputError(f"expected text, got {type(text).__name__}")
        # Appended in place: a string only this frame holds grows without a copy (CPython), where
        # `self._s += text` would copy the whole buffer at every piece of a stream.
        buffer, self._s = self._s, ""
        buffer += text
        self._s = buffer
        self._run(False)
        deltas, self._deltas = self._deltas, []
        return deltas

    def close(self) -> Dict[str, Any]:
        """The end of the completion: the message it stands for (raises ``OutputError`` when it is
        cut short inside a block or a call). Deltas not yet given are in ``pending``."""
        if self._closed:
            raise OutputError("the parser is closed")
        self._run(True)
        self._closed = True
        return self.message()

    @property
    def pending(self) -> List[Dict[str, Any]]:
        """Deltas that became certain at ``close`` (the end of the text decided them)."""
        deltas, self._deltas = self._deltas, []
        return deltas

    def message(self) -> Dict[str, Any]:
        """The message read so far."""
        out: Dict[str, Any] = {"role": "assistant", "content": self._content}
        if self._attached is not None:
            assert self._form.attach is not None
            out[self._form.attach.field] = self._attached
        reasoning = self._reasoning
        if reasoning is None and self._phase == "reasoning":
            reasoning = self._reasoning_prefix + self._s[self._reasoning_start:]
        if reasoning:
            out[self._field] = reasoning
        if self._calls:
            out["tool_calls"] = [dict(call) for call in self._calls]
        return out

    # -- the machine ---------------------------------------------------------------------------

    def _error(self, reason: str, offset: Optional[int], field: Optional[str] = None) -> OutputError:
        if self._phase == "content" and not self._content:
            end = len(self._s) if offset is None else max(offset, self._content_start)
            self._content = self._content_text(self._s[self._content_start:end])
        return OutputError(f"format {self._form.name!r}: {reason}", offset=offset, field=field,
                           partial=self.message())

    def _run(self, final: bool) -> None:
        while getattr(self, "_on_" + self._phase)(final):
            pass

    def _go(self, phase: str, pos: int) -> bool:
        self._phase = phase
        self._pos = self._hint = pos
        return True

    def _find(self, targets: List[_Target], start: int, final: bool) -> Tuple[int, List[Tuple[_Target, int]], int]:
        """The earliest targets found whole (their position and ends), or ``(-1, [], hold)``: no
        target yet, and text from ``hold`` on may still start one."""
        s = self._s
        frm = max(start, self._hint)
        best = -1
        found: List[Tuple[_Target, int]] = []
        pending = len(s)
        broken = len(s)  # a call's marker whose text does not follow: a malformed call, not content
        cut = False  # ... because the text ends there
        for target in targets:
            at = s.find(target.search, frm)
            while at != -1 and at < pending and (best < 0 or at <= best):
                end = target.verify(s, at, final)
                if end == NEED:
                    pending = at
                    break
                if end != FAIL:
                    if best < 0 or at < best:
                        best, found = at, []
                    found.append((target, end))
                    break
                if target.kind == "call":
                    if at < broken:
                        broken, cut = at, final and target.verify(s, at, False) == NEED
                    break
                at = s.find(target.search, at + 1)
        if broken < len(s) and broken < pending and (best < 0 or broken < best):
            lits = " or ".join(dict.fromkeys(repr(t.lit.text) for t in targets if t.kind == "call" and t.lit))
            reason = "the completion ends inside a tool call's opening" if cut else \
                f"a tool call starts here, but not as the format writes one ({lits})"
            raise self._error(reason, broken, f"tool_calls[{len(self._calls)}]")
        if best >= 0 and best < pending:
            return best, found, best
        if final:
            return -1, [], len(s)
        longest = max([len(target.search) for target in targets], default=1)
        tail = max(frm, len(s) - longest + 1)
        hold = pending
        for target in targets:
            if s.find(target.search[0], tail) >= 0:  # else no start of it can end the text
                hold = min(hold, _partial(s, target.search, frm))
        self._hint = max(start, min(pending, tail))
        return -1, [], hold

    def _on_start(self, final: bool) -> bool:
        s = self._s
        chosen = None
        attach = self._form.attach
        if attach is not None and s and not s.startswith(attach.after):
            # Where the prompt wrote the prefix up to the attached field, a completion that does not go on
            # with the prefix's text after it writes the field: a call's name (GLM-4's metadata).
            named = next((o for o in self._openings if o.remainder == attach.after), None)
            if named is not None and (final or not attach.after.startswith(s)):
                pos = self._attached_name(final)
                if pos == NEED:
                    return False
                return self._opened_turn(named, pos)
        for opening in sorted(self._openings, key=lambda o: -len(o.remainder)):
            if not opening.remainder.strip():
                continue
            # (an opening holding reasoning is told by what opens it: the reasoning follows)
            rest = opening.plan.open if opening.plan is not None else Lit(opening.remainder)
            end = rest.match(s, 0, final, trail=True)
            if end == NEED:
                return False
            if end >= 0 and rest.trail and not s.startswith(rest.trail, end - len(rest.trail)) \
                    and self._call_from_prompt() is not None:
                # "all" without its newline, where the prompt opened a call: a name ("all_items\n").
                continue
            if end >= 0:
                chosen, pos = opening, end
                break
        # Else the prefix the prompt ends with (the longest), or the unconditional one.
        blanks = [o for o in self._openings if not o.remainder.strip()]
        blank = max(blanks, key=lambda o: (o.found, o.condition is None), default=None)
        if chosen is None:
            if blank is None:
                begun = self._call_from_prompt()
                if begun is not None:
                    return self._begin_call(begun, 0)
                for token in self._form.unread_calls:
                    # The prompt wrote the start of a call's opening (Functionary v3.2's ">>>"), the
                    # completion goes on with the rest of it and no turn opening: a call.
                    if any(self._prompt.endswith(token[:k]) and s.startswith(token[k:])
                           for k in range(1, len(token) + 1)):
                        raise self._error(f"a tool call starts here ({token!r}, from the prompt on), and "
                                          f"parse_output cannot read this format's calls yet: "
                                          f"{self._form.unread_reason}", 0, "tool_calls[0]")
                expected = " or ".join(repr(o.remainder) for o in self._openings)
                raise self._error(f"the completion does not open the assistant turn: expected {expected}", 0)
            chosen, pos = blank, 0
            if s.startswith(blank.remainder):
                pos = len(blank.remainder)
            elif not final and blank.remainder.startswith(s):
                return False
            elif self._form.unread_field is not None and blank.remainder and s:
                raise self._error(f"the completion writes the turn's {self._form.unread_field!r} field (what comes "
                                  f"before {blank.remainder!r}), which parse_output does not read yet",
                                  0, self._form.unread_field)
        else:
            self._needs_calls = chosen.condition.calls if chosen.condition is not None else None
        return self._opened_turn(chosen, pos)

    def _opened_turn(self, chosen: Any, pos: int) -> bool:
        """Read on at ``pos``, where the turn's opening ``chosen`` ends."""
        if chosen.state == "open":
            self._reasoning_prefix = chosen.text
            self._reasoning_start = pos
            return self._go("reasoning", pos)
        if chosen.state == "closed":
            self._reasoning = chosen.text
            return self._go("body", pos)
        if chosen.plan is not None:
            # Its reasoning is read between what of the prefix the completion writes and the prefix's rest.
            self._block, self._field = chosen.plan, chosen.plan.field
            self._sent.setdefault(self._field, 0)
            self._reasoning_start = pos
            return self._go("reasoning", pos)
        if chosen.state == "absent" or self._block is None:
            return self._go("body", pos)
        return self._go("open", pos)

    def _attached_name(self, final: bool) -> int:
        """A call's name written as the turn's attached field (GLM-4's metadata) at the completion's start;
        where the answer opens after it, or ``NEED``."""
        attach = self._form.attach
        assert attach is not None
        s, field = self._s, attach.field
        if not s.startswith(attach.open):
            if not final and attach.open.startswith(s):
                return NEED
            raise self._error(f"the completion opens neither an answer ({attach.after!r}) nor a call's name as the "
                              f"turn's {field!r} ({attach.open!r})", 0, field)
        start = len(attach.open)
        # Resumed where the last look gave up: a long name cut in many pieces is read once.
        at = s.find(attach.close, max(start, self._hint))
        if at < 0:
            if final:
                raise self._error(f"the call's name (the turn's {field!r}) is not ended by {attach.close!r}", start,
                                  field)
            self._hint = max(start, len(s) - len(attach.close) + 1)
            return NEED
        name = s[start:at]
        if not name:
            raise self._error("the call has no name", start, field)
        schemas = self._schemas
        if schemas is not None and name not in schemas:
            known = ", ".join(repr(n) for n in schemas) or "none"
            raise self._error(f"the call names {name!r}, which is not one of the tools given ({known})", start, field)
        self._attached = name
        self._deltas.append({field: name})
        return at + len(attach.close)

    def _call_from_prompt(self) -> Optional[CallForm]:
        """The first call's text, less what the prompt already wrote of its opening (Functionary v3.2's
        generation prompt ends with the ">>>" a call opens with); ``None`` where it wrote none."""
        for form in self._first_forms:
            head = form.pieces[0]
            if head[0] != "lit" or not possible(form.condition, {"first": True, "empty": True}):
                continue
            text = head[1].text
            written = max((k for k in range(len(text), 0, -1) if self._prompt.endswith(text[:k])), default=0)
            if not text[:written].strip():
                continue
            rest = text[written:]
            return CallForm(form.condition, ((("lit", Lit(rest), head[2]),) if rest else ()) + form.pieces[1:])
        return None

    def _on_open(self, final: bool) -> bool:
        reasoning = self._block
        assert reasoning is not None
        end = reasoning.open.match(self._s, self._pos, final, trail=True)
        if end == NEED:
            return False
        if end == FAIL:
            return self._go("body", self._pos)
        self._reasoning_start = end
        return self._go("reasoning", end)

    def _reasoning_text(self, raw: str) -> str:
        reasoning = self._block
        assert reasoning is not None
        return trim(strip_end(self._reasoning_prefix + raw, reasoning.close.lead), reasoning.trim)

    def _emit(self, field: str, start: int, hold: int, ltrim: Any, prefix: str = "") -> None:
        """Send what is certain of a text field whose raw text starts at ``start``: up to ``hold``
        (where a marker may start), without trailing whitespace, its start trimmed by ``ltrim``. Only
        text not looked at before is scanned."""
        state = self._emitted.get(field)
        if state is None:
            state = self._emitted[field] = [start, start, False]
        upto, checked = state[0], max(state[1], state[0])
        if hold <= checked:
            return
        s = self._s
        core = len(s[checked:hold].rstrip())
        if not core:
            state[1] = hold
            return
        end = checked + core
        text = s[upto:end]
        if not state[2]:
            text = ltrim(prefix + text)
        state[:] = [end, end, True]
        self._deltas.append({field: text})
        self._sent[field] += len(text)

    def _send(self, field: str, text: str) -> None:
        """Send the rest of a field's final text (what ``_emit`` sent is its start: the tests hold it)."""
        sent = self._sent[field]
        if len(text) > sent:
            self._deltas.append({field: text[sent:]})
            self._sent[field] = len(text)

    def _reasoning_ltrim(self, text: str) -> str:
        reasoning = self._block
        assert reasoning is not None
        return text.lstrip() if reasoning.trim == "both" else text.lstrip("\n") if reasoning.trim == "newlines" \
            else text

    def _left_trim_unsure(self, start: int) -> bool:
        """Whether the content opens with whitespace that a message with calls trims and one without
        keeps ([calls] trim): nothing of it is certain until the content ends."""
        calls = self._form.calls
        if calls is None or calls.trim not in ("both", "left") or self._form.content_trim in ("both", "left"):
            return False
        return start >= len(self._s) or self._s[start].isspace()

    def _content_ltrim(self, text: str) -> str:
        form = self._form
        text = text.lstrip() if form.content_trim in ("both", "left") else text
        return text.lstrip("\n") if form.content_newlines else text

    def _on_reasoning(self, final: bool) -> bool:
        reasoning = self._block
        assert reasoning is not None
        start = self._reasoning_start
        targets = [_Target(reasoning.close.tokens[0], "close", lit=reasoning.close)]
        targets += [_Target(end.search, "end", end=end) for end in self._form.ends]
        at, found, hold = self._find(targets, start, final)
        if at < 0:
            if final:
                raise self._error("the reasoning block is not closed", start, self._field)
            self._emit(self._field, start, hold, self._reasoning_ltrim, self._reasoning_prefix)
            return False
        target, end = found[0]
        if target.kind != "close":
            raise self._error("the turn ends inside the reasoning block", at, self._field)
        text = self._reasoning_text(self._s[start:at])
        self._reasoning = text
        self._send(self._field, text)
        self._phase = "reasoning_trail"
        self._pos = end
        return True

    def _on_reasoning_trail(self, final: bool) -> bool:
        reasoning = self._block
        assert reasoning is not None
        trail = reasoning.close.trail
        s, pos = self._s, self._pos
        if trail and not s.startswith(trail, pos):
            if not final and len(s) - pos < len(trail) and trail.startswith(s[pos:]):
                return False
        elif trail:
            pos += len(trail)
        return self._go("body", pos)

    def _on_body(self, final: bool) -> bool:
        opening = self._form.content_open
        if opening is not None and not self._opened:
            # The text before the answer, where the format declares one (taken when it is there).
            end = opening.match(self._s, self._pos, final, trail=True)
            if end == NEED:
                return False
            self._opened = True
            if end >= 0:
                self._pos = end
        calls = self._form.calls
        self._content_start = self._pos
        ends = [_Target(end.search, "end", end=end) for end in self._form.ends if end.calls is not True]
        if calls is not None and (calls.replace_content or (calls.before_content and not self._calls)):
            for form in self._first_forms:
                end = form.anchor.match(self._s, self._pos, final)
                if end == NEED:
                    return False
                if end >= 0:
                    return self._begin_call(form, skip_ws(self._s, self._pos))
            self._content_targets = ends
            if calls.open is not None:
                # The calls' opening after text: the format writes calls in place of any text, or before it.
                self._content_targets = ends + [_Target(calls.open.tokens[0], "misplaced")]
        elif calls is not None and calls.before_content:
            # The content after the calls: another opening of calls is not where the format writes one.
            self._content_targets = ends + ([_Target(calls.open.tokens[0], "misplaced")] if calls.open else [])
        else:
            anchors = [_Target(f.anchor.tokens[0], "call", lit=f.anchor, form=f) for f in self._first_forms]
            self._content_targets = anchors + ends
        self._content_targets += [_Target(token, "unread") for token in self._form.unread_calls]
        return self._go("content", self._pos)

    def _content_text(self, raw: str, calls: bool = False) -> str:
        form = self._form
        how = form.calls.trim if calls and form.calls is not None and form.calls.trim is not None else form.content_trim
        text = trim(raw, how)
        return text.lstrip("\n") if form.content_newlines else text

    def _on_content(self, final: bool) -> bool:
        start = self._content_start
        at, found, hold = self._find(self._content_targets, start, final)
        s = self._s
        if at < 0:
            if not final:
                if not self._left_trim_unsure(start):
                    self._emit("content", start, hold, self._content_ltrim)
                return False
            raw = s[start:]
            for text, condition in self._form.suffixes:
                if possible(condition, {"calls": False}) and raw.endswith(text):
                    raw = raw[:-len(text)]
                    break
            else:
                for end in self._form.ends:
                    if end.calls is not True and end.head and raw.endswith(end.head):
                        raw = strip_end(raw[:-len(end.head)], end.lead)
                        break
            return self._finish_content(raw, "done", len(s))
        raw = s[start:at]
        unread = [t for t, _ in found if t.kind == "unread"]
        if unread:
            raise self._error(f"a tool call starts here ({unread[0].search!r}), and parse_output cannot read this "
                              f"format's calls yet: {self._form.unread_reason}", at, "tool_calls[0]")
        if any(t.kind == "misplaced" for t, _ in found):
            where = "before any text" if self._form.calls is not None and self._form.calls.before_content else \
                "in place of any text"
            raise self._error(f"a tool call after text, where the format writes calls {where}", at,
                              f"tool_calls[{len(self._calls)}]")
        calls = [(t, e) for t, e in found if t.kind == "call"]
        if calls:
            # The first call text whose condition holds for the answer it leaves (its lead taken off).
            chosen_call = calls[-1][0]
            for target, _ in calls:
                assert target.form is not None and target.lit is not None
                if possible(target.form.condition,
                            {"first": True, "empty": not self._content_text(strip_end(raw, target.lit.lead), True)}):
                    chosen_call = target
                    break
            assert chosen_call.lit is not None
            self._finish_content(strip_end(raw, chosen_call.lit.lead), "call", at, calls=True)
            return self._begin_call(chosen_call.form, at)
        ends = [t.end for t, _ in found if t.end is not None]
        chosen = next((e for e in ends if possible(e.condition, {"calls": False})), ends[0])
        self._ending = chosen
        return self._finish_content(strip_end(raw, chosen.lead), "end", at + len(chosen.search))

    def _finish_content(self, raw: str, then: str, pos: int, calls: bool = False) -> bool:
        self._content = self._content_text(raw, calls)
        self._send("content", self._content)
        if self._attached is not None:
            self._check_attached_arguments()
        if then == "done":
            return self._done_check(pos)
        if then == "end":
            return self._go("end", pos)
        return True

    def _check_attached_arguments(self) -> None:
        """A call named by the attached field has its arguments, a JSON object, as its content: the text is
        kept as written (it renders back as is), and is checked to be one."""
        try:
            value = json.loads(self._content)
        except json.JSONDecodeError as error:
            raise self._error(f"the call's arguments (its content) are not valid JSON: {error.msg}",
                              self._content_start + error.pos, "content") from None
        except (ValueError, RecursionError) as error:
            raise self._error(f"the call's arguments (its content) cannot be read as JSON ({type(error).__name__})",
                              self._content_start, "content") from None
        if not isinstance(value, dict):
            raise self._error("the call's arguments (its content) are not a JSON object", self._content_start,
                              "content")

    def _done_check(self, pos: int) -> bool:
        if self._needs_calls and not self._calls:
            raise self._error("the turn opens as one with tool calls, and has none", pos)
        self._phase = "done"
        self._pos = pos
        return False

    def _on_done(self, final: bool) -> bool:
        return False

    def _begin_call(self, form: Optional[CallForm], at: int) -> bool:
        assert form is not None
        calls = self._form.calls
        assert calls is not None
        index = len(self._calls)
        if calls.max and index >= calls.max:
            raise self._error(f"the format writes at most {calls.max} call(s) per message", at, f"tool_calls[{index}]")
        self._seq = _Seq(form.pieces, at, f"tool_calls[{index}]")
        if form.name is not None:
            self._seq.values["name"] = (form.name, at)
        self._phase = "call"
        self._pos = at
        return True

    def _on_call(self, final: bool) -> bool:
        seq = self._seq
        assert seq is not None
        if not self._step(seq, final):
            return False
        self._finish_call(seq)
        return self._go("after_call", seq.pos)

    def _step(self, seq: _Seq, final: bool) -> bool:
        """Read ``seq``'s pieces as far as the text allows; whether all were read."""
        s = self._s
        calls = self._form.calls
        assert calls is not None
        while seq.i < len(seq.pieces):
            piece = seq.pieces[seq.i]
            kind = piece[0]
            if kind == "lit":
                end = piece[1].match(s, seq.pos, final, trail=piece[2])
                if end == NEED:
                    return False
                if end == FAIL and final and not s[seq.pos:].strip() and piece[1].text.strip() in self._form.stops:
                    end = len(s)  # the call's closing stop string, left out as servers leave stop strings out
                if end == FAIL:
                    raise self._error(f"expected {piece[1].text!r}", skip_ws(s, seq.pos), seq.where)
                seq.pos = end
            elif kind == "slot" and piece[2] is None:
                if not self._json_value(seq, final):
                    return False
            elif kind == "slot":
                name, after = piece[1], piece[2]
                at = s.find(after.search, max(seq.pos, seq.hint))
                if at < 0:
                    if final:
                        raise self._error(f"the call's {name} is not ended by {after.text!r}", seq.pos,
                                          f"{seq.where}.{'function.' if name == 'name' else ''}{name}")
                    seq.hint = max(seq.pos, len(s) - len(after.search) + 1)
                    return False
                text = strip_end(s[seq.pos:at], after.lead)
                seq.values[name] = (text if name == "value" else text.strip(), seq.pos)
                seq.pos = seq.hint = at
            elif kind == "object":
                if not self._object(seq, piece[1], final):
                    return False
            elif calls.arguments == "parameters":
                if not self._parameters(seq, final):
                    return False
            elif calls.arguments == "text" and seq.i == len(seq.pieces) - 1 and seq.json is None \
                    and not s.startswith("{", skip_ws(s, seq.pos)):
                # Text arguments ending the call's text, not a JSON object (Functionary v3.1's python code):
                # the text as written, up to the next call or the end of the turn.
                if skip_ws(s, seq.pos) >= len(s) and not final or not self._raw_arguments(seq, final):
                    return False
            else:
                if not self._json(seq, final):
                    return False
            seq.i += 1
            seq.hint = seq.pos
        return True

    def _json(self, seq: _Seq, final: bool) -> bool:
        s = self._s
        where = f"{seq.where}.function.arguments"
        if seq.json is None:
            at = skip_ws(s, seq.pos)
            if at >= len(s):
                if final:
                    raise self._error("the call has no arguments", at, where)
                return False
            if s[at] != "{":
                raise self._error("the arguments are not a JSON object", at, where)
            # Most often the whole object is there (the text after it is): read it at once. Else count
            # brackets as text comes, resumably: decoding again at every piece would be quadratic in its
            # length, and a failed decoding counts the lines of the whole text before it.
            after = seq.pieces[seq.i + 1] if seq.i + 1 < len(seq.pieces) else None
            whole = final or (after is not None and after[0] == "lit" and bool(after[1].tokens)
                              and s.find(after[1].tokens[0], at) >= 0)
            try:
                if not whole:
                    raise ValueError("not there yet")
                value, end = _DECODE(s, at)
            except (ValueError, RecursionError):
                seq.json = _Json(at)
            else:
                if not isinstance(value, dict):  # pragma: no cover - it starts with "{"
                    raise self._error("the arguments are not a JSON object", at, where)
                seq.values["arguments"] = (value, at)
                seq.pos = end
                return True
        end = seq.json.end(s)
        if end == NEED:
            if final:
                raise self._error("the arguments' JSON is not closed", seq.json.start, where)
            return False
        text = s[seq.json.start:end]
        try:
            value = json.loads(text)
        except json.JSONDecodeError as error:
            raise self._error(f"the arguments are not valid JSON: {error.msg}", seq.json.start + error.pos,
                              where) from None
        except (ValueError, RecursionError) as error:
            raise self._error(f"the arguments cannot be read as JSON ({type(error).__name__})", seq.json.start,
                              where) from None
        if not isinstance(value, dict):
            raise self._error("the arguments are not a JSON object", seq.json.start, where)
        seq.values["arguments"] = (value, seq.json.start)
        seq.pos = end
        return True

    def _raw_arguments(self, seq: _Seq, final: bool) -> bool:
        calls = self._form.calls
        assert calls is not None
        targets = [_Target(f.anchor.tokens[0], "next", lit=f.anchor) for f in self._later_forms if not f.named_first]
        targets += [_Target(end.search, "end", end=end) for end in self._form.ends
                    if end.calls is not False and possible(end.condition, {"calls": True})]
        at, found, _ = self._find(targets, seq.pos, final)
        if at < 0:
            if not final:
                return False
            at = len(self._s)
        else:
            target = found[0][0]
            lead = target.lit.lead if target.lit is not None else target.end.lead if target.end is not None else ""
            at = len(strip_end(self._s[:at], lead))
        seq.values["arguments"] = (self._s[seq.pos:at], seq.pos)
        seq.pos = at
        return True

    def _json_value(self, seq: _Seq, final: bool) -> bool:
        """A ``{value}`` written as JSON, which ends itself (MiniCPM3's ``k="a,b)"``): its text."""
        s = self._s
        if seq.json is None:
            at = skip_ws(s, seq.pos)
            if at >= len(s):
                if final:
                    raise self._error("the parameter has no value", at, seq.where)
                return False
            seq.json = _Json(at + 1 if s[at] == '"' else at)
            seq.json.start = at
        start = seq.json.start
        if s[start] in "{[":
            end = seq.json.end(s)
        elif s[start] == '"':
            end = seq.json.string_end(s)
        else:
            found = _SCALAR.match(s, start)
            end = found.end() if found and (final or found.end() < len(s)) else NEED
        if end == NEED:
            if final:
                raise self._error("the parameter's JSON value is not closed", start, seq.where)
            return False
        text = s[start:end]
        try:
            json.loads(text)
        except (ValueError, RecursionError):
            raise self._error("the parameter's value is not JSON", start, seq.where) from None
        seq.values["value"] = (text, start)
        seq.json = None
        seq.pos = end
        return True

    def _object(self, seq: _Seq, keys: Tuple[Tuple[str, str], ...], final: bool) -> bool:
        """A call written as one JSON object: its members (any order) are its slots' values."""
        s = self._s
        if seq.json is None:
            at = skip_ws(s, seq.pos)
            if at >= len(s):
                if final:
                    raise self._error("the call has no JSON object", at, seq.where)
                return False
            if s[at] != "{":
                raise self._error("the call is not a JSON object", at, seq.where)
            seq.json = _Json(at)
        start = seq.json.start
        end = seq.json.end(s)
        if end == NEED:
            if final:
                raise self._error("the call's JSON object is not closed", start, seq.where)
            return False
        try:
            value = json.loads(s[start:end])
        except json.JSONDecodeError as error:
            raise self._error(f"the call is not valid JSON: {error.msg}", start + error.pos, seq.where) from None
        except (ValueError, RecursionError) as error:
            raise self._error(f"the call cannot be read as JSON ({type(error).__name__})", start, seq.where) from None
        wanted = [key for key, _ in keys]
        if not isinstance(value, dict) or sorted(value) != sorted(wanted):
            found = sorted(value) if isinstance(value, dict) else type(value).__name__
            raise self._error(f"the call's JSON object holds {found}, where the format writes {sorted(wanted)}",
                              start, seq.where)
        for key, slot in keys:
            seq.values[slot] = (value[key], start)
        seq.json = None
        seq.pos = end
        return True

    def _parameters(self, seq: _Seq, final: bool) -> bool:
        """The parameters, one ``[calls] parameter`` text each, up to the literal after them."""
        s = self._s
        calls = self._form.calls
        assert calls is not None
        after = seq.pieces[seq.i + 1][1]
        first = calls.parameter[0][1] if calls.parameter[0][0] == "lit" else None
        where = f"{seq.where}.function.arguments"
        while True:
            if seq.inner is None:
                at = seq.pos = skip_ws(s, seq.pos)
                rest = s[at:]
                if not seq.separated:
                    if s.startswith(after.tokens[0], at):
                        return True
                    if calls.separator is not None and seq.params:
                        end = calls.separator.match(s, at, final)
                        if end == NEED or (end == FAIL and not final and after.tokens[0].startswith(rest)):
                            return False
                        if end == FAIL:
                            raise self._error(f"expected {calls.separator.text!r} or {after.text!r}", at, where)
                        seq.pos, seq.separated = end, True
                        continue
                if first is None:
                    if at >= len(s):
                        if final:
                            raise self._error("expected a parameter", at, where)
                        return False
                elif not s.startswith(first.tokens[0], at):
                    if not final and (after.tokens[0].startswith(rest) or first.tokens[0].startswith(rest)):
                        return False
                    raise self._error(f"expected a parameter ({first.text!r}) or {after.text!r}", at, where)
                seq.inner = _Seq(calls.parameter, at, where)
                seq.separated = False
            if not self._step(seq.inner, final):
                return False
            key, at = seq.inner.values["key"]
            if first is None and "\n" in key:
                # A key opening the parameter's text runs to its literal: across a line, it is no key.
                raise self._error("expected a parameter", at, where)
            value, _ = seq.inner.values["value"]
            seq.params.append((key, value, at))
            seq.pos = seq.inner.pos
            seq.inner = None

    def _finish_call(self, seq: _Seq) -> None:
        calls = self._form.calls
        assert calls is not None
        index = len(self._calls)
        name, name_at = seq.values["name"]
        if not isinstance(name, str):  # read from a JSON object
            raise self._error(f"the call's name is not a string ({type(name).__name__})", name_at,
                              f"tool_calls[{index}].function.name")
        if not name:
            raise self._error("the call has no name", name_at, f"tool_calls[{index}].function.name")
        schemas = self._schemas
        if schemas is not None and name not in schemas:
            known = ", ".join(repr(n) for n in schemas) or "none"
            raise self._error(f"the call names {name!r}, which is not one of the tools given ({known})", name_at,
                              f"tool_calls[{index}].function.name")
        if calls.arguments == "parameters":
            properties = schemas.get(name, {}) if schemas is not None else {}
            arguments: Dict[str, Any] = {}
            for key, text, at in seq.params:
                if key in arguments:
                    raise self._error(f"the parameter {key!r} is given twice", at,
                                      f"tool_calls[{index}].function.arguments.{key}")
                if calls.value == "json":
                    try:
                        arguments[key] = json.loads(text)
                    except (ValueError, RecursionError):
                        raise self._error("the parameter's value is not JSON", at,
                                          f"tool_calls[{index}].function.arguments.{key}") from None
                else:
                    arguments[key] = read_value(text, calls.value, schema_types(properties.get(key)))
        else:
            arguments, at = seq.values["arguments"]
            if not isinstance(arguments, dict) and not (calls.arguments == "text" and isinstance(arguments, str)):
                raise self._error("the arguments are not a JSON object", at, f"tool_calls[{index}].function.arguments")
        call: Dict[str, Any] = {}
        if "id" in seq.values:
            call["id"] = seq.values["id"][0]
        elif calls.call_id is not None:
            values = {"name": name, "index": seq.values.get("index", (str(index), 0))[0],
                      "number": seq.values.get("number", (str(index), 0))[0]}
            call["id"] = calls.call_id.fill(values)
        call["type"] = seq.values["type"][0] if "type" in seq.values else "function"
        call["function"] = {"name": name, "arguments": arguments}
        self._calls.append(call)
        self._deltas.append({"tool_calls": [dict(call, index=index)]})

    def _on_after_call(self, final: bool) -> bool:
        s = self._s
        at = self._pos = skip_ws(s, self._pos)  # whitespace between calls is read once
        if at >= len(s):
            if final:
                if self._form.calls is not None and self._form.calls.close is not None and not self._calls_closed:
                    raise self._error("the completion ends inside the tool calls", at,
                                      f"tool_calls[{len(self._calls)}]")
                return self._done_check(at)
            return False
        calls = self._form.calls
        assert calls is not None
        if not self._calls_closed:
            for form in self._later_forms:
                if form.named_first:
                    continue
                end = form.anchor.match(s, at, final)
                if end == NEED:
                    return False
                if end >= 0:
                    return self._begin_call(form, at)
        if not self._calls_closed and calls.close is not None:
            end = calls.close.match(s, at, final, trail=calls.before_content)
            if end == NEED:
                return False
            if end == FAIL:
                named = [form for form in self._later_forms if form.named_first]
                if named:
                    return self._begin_call(named[0], at)
                raise self._error(f"expected another tool call or {calls.close.text!r}", at,
                                  f"tool_calls[{len(self._calls)}]")
            self._calls_closed = True
            self._pos = end
            if calls.before_content:
                return self._go("body", end)
            return True
        for end_form in self._form.ends:
            if end_form.calls is False or not possible(end_form.condition, {"calls": True}):
                continue
            if s.startswith(end_form.search, at):
                self._ending = end_form
                return self._go("end", at + len(end_form.search))
            rest = s[at:]
            if end_form.search.startswith(rest):
                if not final:
                    return False
                if rest == end_form.head:
                    return self._done_check(len(s))  # the stop string itself was left out
        raise self._error("unexpected text after the tool calls", at)

    def _on_end(self, final: bool) -> bool:
        if not final:
            return False
        rest = self._s[self._pos:]
        tail = self._ending.tail if self._ending is not None else ""
        if rest.strip() and not (tail.startswith(rest) or (rest.startswith(tail) and not rest[len(tail):].strip())):
            raise self._error("text after the end of the turn", self._pos + len(rest) - len(rest.lstrip()))
        return self._done_check(len(self._s))


def parse_output(form: OutputForm, text: str, prompt: Optional[str] = None, tools: Any = None) -> Dict[str, Any]:
    """The assistant message ``text`` (a whole completion) stands for."""
    if not isinstance(text, str):
        raise OutputError(f"expected the completion as text, got {type(text).__name__}")
    if prompt is not None and not isinstance(prompt, str):
        raise OutputError(f"expected the prompt as text, got {type(prompt).__name__}")
    parser = OutputParser(form, prompt, tools)
    parser.feed(text)
    return parser.close()
