"""The output form of a format: how a completion writes an assistant message, read from the
declaration once, and ``parse_output`` on it.

A completion is what the model writes after the generation prompt. The format already says how an
assistant message is written: the role's prefix (variants included), the reasoning display or the
``[output]`` reasoning, the content, the calls (``[calls]`` texts with their slots and variants) and
the suffix, ended by a stop string. ``OutputForm`` turns those texts into what a reader needs:
literals matched leniently on whitespace (scaffold), end markers matched exactly (stop strings are
matched exactly by servers too), and the slots between them. Nothing here is per model: every
marker comes from the format, and where the model's output differs from the history the template
writes, the format declares it under ``[output]``.
"""

from __future__ import annotations

import re
from typing import Any, Dict, List, Optional, Sequence, Tuple

import attrs

from .._spec.model import OWN_REASONING_FIELDS, Condition, FormatSpec, Role, Slot, Text
from ..errors import OutputError

#: Whitespace, as ``str.split`` and ``str.strip`` see it.
WS = re.compile(r"\s*")
#: The whitespace a literal's tokens may have between them, read leniently but bounded, so a run of
#: a million spaces costs one look, not one per piece of a stream.
GAP = 64
_GAP = re.compile(r"\s{0,%d}" % GAP)


def gap(s: str, pos: int, final: bool) -> int:
    """The end of the whitespace at ``pos`` (at most ``GAP`` characters), ``NEED`` when the text may
    go on with more of it, ``FAIL`` when there is more."""
    found = _GAP.match(s, pos)
    end = found.end() if found else pos
    if end - pos == GAP and end < len(s) and s[end].isspace():
        return FAIL
    if end == len(s) and not final:
        return NEED
    return end

#: A matcher's answers besides a position: more text could decide, or it cannot match.
NEED = -1
FAIL = -2


class Lit:
    """A literal of the output form, matched leniently on whitespace: its non-whitespace runs
    (``tokens``) must appear in order, any whitespace between them; ``lead`` and ``trail`` are its
    whitespace ends, taken exactly where they border a slot (a slot's text keeps anything else)."""

    __slots__ = ("text", "lead", "tokens", "trail")

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tuple(text.split())
        self.lead = text[:len(text) - len(text.lstrip())] if self.tokens else text
        self.trail = text[len(text.rstrip()):] if self.tokens else ""

    def __repr__(self) -> str:
        return f"Lit({self.text!r})"

    @property
    def search(self) -> str:
        """What finds this literal in a text: its first token, or its whitespace where it has no token
        (Functionary v3.2's name ended by a newline)."""
        return self.tokens[0] if self.tokens else self.text

    def match(self, s: str, pos: int, final: bool, trail: bool = False) -> int:
        """The end of this literal read at ``pos`` (whitespace before each token skipped), ``NEED``
        or ``FAIL``; with ``trail``, its trailing whitespace is taken too when it is there."""
        for token in self.tokens:
            if s.startswith(token, pos):  # the common case: no whitespace to skip
                pos += len(token)
                continue
            pos = gap(s, pos, final)
            if pos < 0:
                return pos
            if s.startswith(token, pos):
                pos += len(token)
                continue
            if not final and len(s) - pos < len(token) and token.startswith(s[pos:]):
                return NEED
            return FAIL
        if trail and self.trail:
            if s.startswith(self.trail, pos):
                return pos + len(self.trail)
            if not final and len(s) - pos < len(self.trail) and self.trail.startswith(s[pos:]):
                return NEED
        return pos


def skip_ws(s: str, pos: int) -> int:
    """The end of the whitespace at ``pos``."""
    found = WS.match(s, pos)
    return found.end() if found else pos


def strip_end(text: str, end: str) -> str:
    """``text`` without ``end`` where it ends with it."""
    return text[:-len(end)] if end and text.endswith(end) else text


def trim(text: str, how: str) -> str:
    if how == "both":
        return text.strip()
    if how == "left":
        return text.lstrip()
    if how == "right":
        return text.rstrip()
    if how == "newlines":
        return text.strip("\n")
    return text


#: What the reader knows of the message it reads: it is the conversation's final one, there is no
#: generation prompt after it, no message follows, and it is not the first.
KNOWN = {"final": True, "generation_prompt": False, "next": None, "first": False}


def possible(condition: Optional[Condition], facts: Dict[str, Any]) -> bool:
    """Whether ``condition`` can hold for the message read, given ``facts`` (and ``KNOWN``); a fact
    neither knows (the role before, earlier messages) may hold."""
    if condition is None:
        return True
    for field in attrs.fields(type(condition)):
        wanted = getattr(condition, field.name)
        if wanted is None:
            continue
        if field.name in facts:
            fact = facts[field.name]
        elif field.name in KNOWN:
            fact = KNOWN[field.name]
        else:
            continue  # unknown to a reader of one completion
        if isinstance(wanted, tuple):
            if fact not in wanted:
                return False
        elif fact is not None and wanted != fact:
            return False
    return True


def certain(condition: Optional[Condition], facts: Dict[str, Any]) -> bool:
    """Whether ``condition`` surely holds given ``facts`` (and ``KNOWN``): every fact it names is known."""
    if condition is None:
        return True
    for field in attrs.fields(type(condition)):
        wanted = getattr(condition, field.name)
        if wanted is None:
            continue
        if field.name not in facts and field.name not in KNOWN:
            return False
    return possible(condition, facts)


def choices(variants: Sequence[Any], facts: Dict[str, Any]) -> List[Any]:
    """The variants (each with a ``condition``) a writer may have used, in order: those that may hold,
    up to the first that surely holds (the writer takes the first that holds)."""
    out = []
    for variant in variants:
        if possible(variant.condition, facts):
            out.append(variant)
            if certain(variant.condition, facts):
                break
    return out


# -- the form ------------------------------------------------------------------------------------

#: A piece of a call's text: a literal, a slot (``name``, ``index``, ``type``, with the literal that
#: ends it), the arguments as JSON, or the arguments as parameters (with the literal after them).
Piece = Tuple[Any, ...]


_BRACE = Lit("{")


@attrs.frozen
class CallForm:
    """One way the format writes a call, when ``condition`` may hold (``first``, ``empty``)."""

    condition: Optional[Condition]
    pieces: Tuple[Piece, ...]
    #: The name of a text written for one function only, without ``{name}`` (Functionary v3.1's python).
    name: Optional[str] = None

    @property
    def anchor(self) -> Lit:
        # A call that is one JSON object from its first character on opens with its brace.
        return _BRACE if self.pieces[0][0] == "object" else self.pieces[0][1]

    @property
    def named_first(self) -> bool:
        """The text opens with a slot (the name): read wherever what closes the calls does not follow."""
        return self.pieces[0][0] == "slot"


@attrs.frozen
class End:
    """Where a turn ends: ``search`` (the suffix's text before the stop string, and the stop string,
    matched exactly) after ``lead`` (whitespace, taken from the text before when it is there); the
    suffix's ``tail`` may follow. ``calls``: this suffix ends a turn with calls (or without)."""

    search: str
    lead: str
    head: str
    tail: str
    calls: Optional[bool]
    condition: Optional[Condition]


@attrs.frozen
class Reasoning:
    """A reasoning block: ``open`` and ``close`` literals, the reasoning between them (trimmed by
    ``trim``), the answer after."""

    open: Lit
    close: Lit
    trim: str
    #: The message field it is read into.
    field: str = "reasoning_content"


@attrs.frozen
class Plan:
    """Reasoning a prefix variant writes inside itself, ``A{reasoning}B`` (Cohere's tool_plan), where its
    twin without reasoning is the text ``A + B`` (``text``, with ``A`` ending at ``at``): a completion
    opening that twin may write the reasoning between ``A`` and ``B``, read into ``field`` as written."""

    text: str
    at: int
    field: str
    trim: str


@attrs.frozen
class CallsForm:
    forms: Tuple[CallForm, ...]
    arguments: str
    value: str
    max: int
    #: The calls stand in place of the content (Llama 3.x): they come first, or there are none.
    replace_content: bool
    call_id: Optional[Text]
    #: The parameters' text, for ``arguments = "parameters"``.
    parameter: Tuple[Piece, ...] = ()
    #: The forms are alternatives the model may write (``[output] call``), not variants chosen by facts.
    alternatives: bool = False
    #: What opens a message's calls before the first (``[calls] prefix``, and what only the first call's
    #: text writes), and what closes them after the last.
    open: Optional[Lit] = None
    close: Optional[Lit] = None
    #: How the content before calls is trimmed, where not by the role's trim.
    trim: Optional[str] = None
    #: The calls come before the content (MiniCPM3), which follows what closes them.
    before_content: bool = False
    #: What is written between two parameters (``[calls] separator``).
    separator: Optional[Lit] = None


@attrs.frozen
class Attach:
    """A call named by the field the turn's prefix attaches (``[output] call_name = "attach"``, GLM-4's
    metadata): the completion writes ``open``, the name, then ``close`` (the attach text's end and the
    prefix's text after it); an answer, without the field, opens with ``after`` (the prefix's text)."""

    field: str
    open: str
    close: str
    after: str


@attrs.frozen
class OutputForm:
    """A format's assistant turn, as a completion writes it."""

    name: str
    #: The turn's openings: ``(text, condition)`` for each prefix variant (the last unconditional).
    prefixes: Tuple[Tuple[str, Optional[Condition]], ...]
    reasoning: Optional[Reasoning]
    #: How the content is trimmed (the role's trim), and whether leading newlines go too (a display).
    content_trim: str
    content_newlines: bool
    calls: Optional[CallsForm]
    ends: Tuple[End, ...]
    #: The suffix texts, taken off a completion that stops without a stop string.
    suffixes: Tuple[Tuple[str, Optional[Condition]], ...]
    #: The prompt a completion follows when none is given.
    default_prompt: str = ""
    #: What the model writes before its answer (``[output] content``).
    content_open: Optional[Lit] = None
    #: The stop strings (a text may end without one; a call's closing literal that is one may be left out).
    stops: Tuple[str, ...] = ()
    #: Calls this reader cannot read yet (``calls`` is then ``None``): the text their first call opens
    #: with, each as its first token, and why they cannot be read. A completion holding one is refused
    #: there, never read as content; one without any is read as a message without calls.
    unread_calls: Tuple[str, ...] = ()
    unread_reason: str = ""
    #: A message field the turn's prefix writes (GLM-4's ``metadata``, a call's name), not read back: the
    #: whitespace the prefix writes after it must open the completion, else the field is there and the
    #: completion is refused rather than read as content.
    unread_field: Optional[str] = None
    #: Where that field names a call, read back (``[output] call_name = "attach"``).
    attach: Optional[Attach] = None
    #: Reasoning written inside a prefix variant (``Plan``).
    plan: Optional[Plan] = None


class Unreadable(Exception):
    """A declaration whose output this reader cannot read (said once, when the form is built)."""


def _fill(text: Text, values: Dict[str, str]) -> Optional[str]:
    try:
        return text.fill(values)
    except KeyError:
        return None  # a slot the reader cannot know (a variant written from other messages)


#: ``attach``: a field written in the prefix (GLM-4's metadata) is read apart (``Attach``), if at all.
_ROLE_VALUES = {"role": "assistant", "tool_call_id": "", "attach": ""}

#: The declaration keys this reader reads; another one set (a newer vocabulary) makes it refuse
#: rather than misread.
_ROLE_KEYS = {"name", "prefix", "suffix", "trim", "skip_empty", "drop", "refuse", "when_empty", "final_suffix",
              "final_suffix_with_prompt", "prefix_after", "strip_reasoning", "refuse_containing",
              "refuse_containing_message", "prefix_when", "suffix_when", "content", "remove"}
_CALLS_KEYS = {"role", "arguments", "call", "call_when", "ignore", "missing_content", "parameter", "value", "max",
               "max_message", "content", "shape", "empty", "content_parts", "refuse_when", "prefix", "suffix", "name",
               "id", "trim", "separator", "position", "refuse_content_starting",
               "no_call_message"}  # the refusal of a tool result without a call: nothing a completion holds
_DISPLAY_KEYS = {"role", "open", "close", "template", "reasoning_trim", "show", "query_exclude", "no_query",
                 "no_query_message", "field"}


def _unknown(value: Any, known: set, where: str) -> None:
    for field in attrs.fields(type(value)):
        if field.name not in known and getattr(value, field.name) != field.default:
            raise Unreadable(f"[{where}] {field.name} is not read by parse_output yet")


def _pieces(text: Text, where: str, slot_first: bool = False, json_value: bool = False) -> Tuple[Piece, ...]:
    """A call (or parameter) text as pieces: literals, and slots each ended by the literal after it.
    ``slot_first``: the text may open with a slot (something else tells where it starts);
    ``json_value``: a ``{value}`` written as JSON ends itself, with no literal after it."""
    raw = [piece for piece in text.pieces if piece != ""]
    out: List[Piece] = []
    for position, piece in enumerate(raw):
        following = raw[position + 1] if position + 1 < len(raw) else None
        if isinstance(piece, str):
            out.append(("lit", Lit(piece), isinstance(following, Slot) and following.name != "arguments"))
            continue
        name = piece.name
        after = Lit(following) if isinstance(following, str) else None
        if name == "arguments":
            out.append(("arguments",))
            continue
        if name == "value" and after is None and json_value:
            out.append(("slot", name, None))
            continue
        # A name, id or index holds no whitespace, so whitespace alone ends one; a value may hold any.
        if after is None or not after.text or (not after.tokens and name == "value"):
            raise Unreadable(f"{where}: {{{name}}} is not followed by a literal that ends it")
        out.append(("slot", name, after))
    if not out or (out[0][0] != "lit" or not out[0][1].tokens) and not (slot_first and out[0][0] == "slot"):
        raise Unreadable(f"{where}: a call text that does not open with a literal cannot be found in a completion")
    return tuple(out)


#: What a call text's slots are filled with to find its JSON object's members: each decodes to its
#: marker, whether the slot is written as JSON or between the text's own quotes.
_MARKERS = {"@@name@@": "name", "@@id@@": "id"}


def _object_pieces(text: Text, calls: Any, where: str) -> Tuple[Piece, ...]:
    """A call text that writes one JSON object of its slots (Mistral's ``{"name": ..., "arguments": ...,
    "id": ...}``, or Nemo's ``{function_members}`` then the id) as a literal before it, the object (its
    key -> slot, in any order, as JSON's members are) and a literal after it. The object is read as
    JSON whole, so a name or id holding the text's own punctuation reads right."""
    import json

    values = {}
    for slot in text.names:
        if slot == "arguments":
            values[slot] = "{}"
        elif slot == "function_members":
            values[slot] = '"name": "@@name@@", "arguments": {}'
        elif slot in ("name", "id"):
            quoted = (calls.name if slot == "name" else calls.id) == "json"
            values[slot] = f'"@@{slot}@@"' if quoted else f"@@{slot}@@"
        else:
            raise Unreadable(f"{where}: {{{slot}}} in a call written as a JSON object")
    filled = text.fill(values)
    start = filled.find("{")
    try:
        found, end = json.JSONDecoder().raw_decode(filled, start) if start >= 0 else (None, 0)
    except ValueError:
        found = None
    if not isinstance(found, dict) or "@@" in filled[:start] + filled[end:]:
        raise Unreadable(f"{where}: a call text with {{id}} or a JSON name that is not one JSON object of its slots")
    keys: Dict[str, str] = {}
    for key, value in found.items():
        member = _MARKERS.get(value) if isinstance(value, str) else "arguments" if value == {} else None
        if member is None or member in keys.values():
            raise Unreadable(f"{where}: the call object's member {key!r} is not one of its slots")
        keys[key] = member
    if "name" not in keys.values() or "arguments" not in keys.values():
        raise Unreadable(f"{where}: a call object writes the name and the arguments")
    before, after = filled[:start], filled[end:]
    pieces: List[Piece] = []
    if before.strip():
        pieces.append(("lit", Lit(before), False))
    pieces.append(("object", tuple(keys.items())))
    if after.strip():
        pieces.append(("lit", Lit(after), False))
    return tuple(pieces)


def _flat(text: Text) -> List[Any]:
    return [c for piece in text.pieces for c in (piece if isinstance(piece, str) else [piece])]


def _unflat(flat: List[Any]) -> Text:
    pieces: List[Any] = []
    for item in flat:
        if isinstance(item, str) and pieces and isinstance(pieces[-1], str):
            pieces[-1] += item
        else:
            pieces.append(item)
    return Text(tuple(pieces))


def _split_last(variants: List[Tuple[Optional[Condition], Text]], where: str) -> Tuple[str, Text, str, str]:
    """Call texts chosen by ``first`` and ``last`` (Mistral's ", " after each but the last) as what the
    first call's text writes before the others' (``lead``), the text every call shares, the literal
    between two calls and the one after the last: ``(lead, core, between, after)``."""
    def text(first: bool, last: bool) -> List[Any]:
        for condition, variant in variants:
            if condition is None or ((condition.first is None or condition.first == first)
                                     and (condition.last is None or condition.last == last)):
                return _flat(variant)
        raise Unreadable(f"{where}: no call text for a call")  # pragma: no cover - the last is unconditional

    for condition, _ in variants:
        if condition is not None and any(getattr(condition, f.name) is not None for f in attrs.fields(Condition)
                                         if f.name not in ("first", "last")):
            raise Unreadable(f"{where}: call texts chosen by 'last' and another fact")
    middle, last = text(False, False), text(False, True)
    size = 0
    while size < min(len(middle), len(last)) and middle[size] == last[size]:
        size += 1
    core, between, after = middle[:size], middle[size:], last[size:]
    lead = text(True, False)[:len(text(True, False)) - len(middle)]
    if not (text(True, False) == lead + middle and text(True, True) == lead + last
            and all(isinstance(c, str) for c in lead + between + after)):
        raise Unreadable(f"{where}: call texts chosen by 'last' that are not one text with literals around it")
    return "".join(lead), _unflat(core), "".join(between), "".join(after)


def _reasoning(spec: FormatSpec, role: Role) -> Optional[Reasoning]:
    output = spec.output
    template: Optional[Text] = None
    how = "none"
    if output is not None and output.reasoning is not None:
        template = output.reasoning
    elif spec.reasoning is not None and spec.reasoning.role == role.name:
        _unknown(spec.reasoning, _DISPLAY_KEYS, "reasoning")
        if spec.reasoning.show == "given" and spec.reasoning.field in OWN_REASONING_FIELDS:
            # A field of its own is no reasoning block: it is read where its prefix writes it (``Plan``), or
            # the prefix writing it is left out of the openings, so a completion holding it is refused where
            # it opens, never read as content.
            return None
        if spec.reasoning.show == "given":
            return _given_reasoning(spec, role)
        template = spec.reasoning.template
        how = "both" if spec.reasoning.reasoning_trim == "both" else "newlines"
    elif role.strip_reasoning is not None:
        raise Unreadable(f"the template cuts reasoning at {role.strip_reasoning.marker!r}, and the format does not "
                         "declare how a completion writes it ([output] reasoning)")
    if template is None:
        return None
    pieces = template.pieces
    if not (len(pieces) == 4 and pieces[1] == Slot("reasoning") and pieces[3] == Slot("content")
            and isinstance(pieces[0], str) and isinstance(pieces[2], str)
            and pieces[0].strip() and pieces[2].strip()):
        raise Unreadable("the reasoning template is not OPEN{reasoning}CLOSE{content}")
    return Reasoning(open=Lit(pieces[0]), close=Lit(pieces[2]), trim=how)


def _given_reasoning(spec: FormatSpec, role: Role) -> Reasoning:
    """The block a role's prefix writes reasoning in (``show = "given"``): its prefix variants
    ``PREFIX OPEN{reasoning}CLOSE``, where ``PREFIX`` is the text the variants without reasoning open
    with."""
    assert spec.reasoning is not None
    base = _fill(role.prefix, _ROLE_VALUES) or ""
    found = set()
    for _, text in role.prefix_when:
        if "reasoning" not in text.names:
            continue
        pieces = text.pieces
        if not (len(pieces) == 3 and pieces[1] == Slot("reasoning") and isinstance(pieces[0], str)
                and isinstance(pieces[2], str) and pieces[0].startswith(base)
                and pieces[0][len(base):].strip() and pieces[2].strip()):
            raise Unreadable("[reasoning] show = 'given': a prefix writing {reasoning} is not the role's prefix, "
                             "then OPEN{reasoning}CLOSE")
        found.add((pieces[0][len(base):], pieces[2]))
    # Closes that differ only in the whitespace after them (before an answer, or none) are one block
    # where the content's trim takes that whitespace.
    blocks = {(opening, closing.rstrip()) for opening, closing in found}
    if len(blocks) != 1 or (len(found) > 1 and role.trim not in ("both", "left")):
        raise Unreadable("[reasoning] show = 'given': the prefixes do not write one reasoning block")
    opening, closing = blocks.pop()
    return Reasoning(open=Lit(opening), close=Lit(closing),
                     trim="both" if spec.reasoning.reasoning_trim == "both" else "newlines")


def _plan(spec: FormatSpec, role: Role) -> Optional[Plan]:
    """The reasoning a prefix variant ``A{reasoning}B`` writes where a variant without reasoning is the
    text ``A + B`` (``show = "given"``, a field of its own): read there, as the template writes it."""
    display = spec.reasoning
    if display is None or display.show != "given" or display.role != role.name or display.field not in \
            OWN_REASONING_FIELDS or (spec.output is not None and spec.output.prefix is not None):
        return None
    texts = [_fill(text, _ROLE_VALUES) for _, text in role.prefix_when] + [_fill(role.prefix, _ROLE_VALUES)]
    found = set()
    for _, text in role.prefix_when:
        if len(text.pieces) != 3 or text.pieces[1] != Slot("reasoning"):
            continue
        head, tail = text.pieces[0], text.pieces[2]
        if isinstance(head, str) and isinstance(tail, str) and head.strip() and tail.strip() \
                and head + tail in texts:
            found.add((head + tail, len(head)))
    if len(found) != 1:
        return None  # (none, or two: the reader takes one block per turn)
    twin, at = found.pop()
    return Plan(text=twin, at=at, field=display.field or "reasoning_content", trim=display.reasoning_trim)


@attrs.frozen
class _Variant:
    condition: Optional[Condition]
    text: Text


def _unread_openings(spec: FormatSpec) -> Tuple[str, ...]:
    """The first token of each text a message's calls may open with (the ``[calls] prefix``, or each
    first call's text), ``Unreadable`` where one opens with a slot: then nothing tells a completion
    without calls apart."""
    calls = spec.calls
    assert calls is not None
    if calls.prefix.strip():
        return (calls.prefix.split()[0],)
    variants = [_Variant(condition, text) for condition, text in calls.call_when] + [_Variant(None, calls.call)]
    if spec.output is not None and spec.output.call:
        variants = [_Variant(None, text) for text in spec.output.call]
    out = []
    for variant in choices(variants, {"first": True}):
        head = variant.text.pieces[0] if variant.text.pieces else ""
        if not isinstance(head, str) or not head.split():
            raise Unreadable("a call text opens with a slot, so a completion without calls cannot be told apart")
        out.append(head.split()[0])
    return tuple(dict.fromkeys(out))


def _ends(spec: FormatSpec, role: Role) -> Tuple[Tuple[End, ...], Tuple[Tuple[str, Optional[Condition]], ...]]:
    stops = tuple(dict.fromkeys([s for s in spec.stop] + ([spec.eos] if spec.eos else [])))
    texts: List[Tuple[str, Optional[Condition]]] = []
    for when, variant in role.suffix_when:
        filled = _fill(variant, _ROLE_VALUES)
        if filled is not None:
            texts.append((filled, when))
    default = role.final_suffix if role.final_suffix is not None and not role.suffix_when else role.suffix
    for variant in (default, role.suffix):
        filled = _fill(variant, _ROLE_VALUES)
        if filled is not None:
            texts.append((filled, None))
    ends: List[End] = []
    covered = set()
    for text, condition in texts:
        calls = condition.calls if condition is not None else None
        found = [(text.find(stop), stop) for stop in stops if stop in text]
        if found:
            at, stop = min(found)
            head = text[:at]
            core = head.lstrip()
            ends.append(End(core + stop, head[:len(head) - len(core)], core, text[at + len(stop):], calls, condition))
            covered.add(stop)
        elif text.strip():
            core = text.strip()
            ends.append(End(core, text[:len(text) - len(text.lstrip())], core, text[len(text.rstrip()):], calls,
                            condition))
    default_text = texts[-1][0] if texts else ""
    for stop in stops:
        if stop in covered:
            continue
        # The suffix may end with the stop string's start (Falcon's "\n" before "\nUser:").
        overlap = max((k for k in range(1, min(len(stop), len(default_text)) + 1)
                       if default_text.endswith(stop[:k])), default=0)
        head = default_text[:len(default_text) - overlap] if overlap else ""
        core = head.lstrip()
        ends.append(End(core + stop, head[:len(head) - len(core)], core, "", None, None))
    unique = tuple(dict.fromkeys(ends))
    return unique, tuple(dict.fromkeys((t, c) for t, c in texts if t))


def _calls(spec: FormatSpec) -> Optional[CallsForm]:
    calls = spec.calls
    output = spec.output
    if output is not None and output.call:
        # The model's own call texts, any of which it may write ([calls], if any, says the rest).
        forms = [CallForm(None, _pieces(text, "[output] call")) for text in output.call]
        if calls is None:
            return CallsForm(forms=tuple(forms), arguments="json", value="json_or_str", max=0, replace_content=False,
                             call_id=output.call_id, alternatives=True)
        _unknown(calls, _CALLS_KEYS, "calls")
    elif calls is None:
        return None
    else:
        _unknown(calls, _CALLS_KEYS, "calls")
        variants: List[Tuple[Optional[Condition], Text]] = [*calls.call_when, (None, calls.call)]
        lead = after = ""
        if any(condition.last is not None for condition, _ in calls.call_when):
            lead, core, between, after = _split_last(variants, "[calls] call")
            # The first call's text, and the others' with the literal between two calls before them.
            variants = [(Condition(first=True), core), (None, Text((between, *core.pieces)) if between else core)]
        opening, closing = calls.prefix + lead, after + calls.suffix
        # Between what opens and what closes the calls, a call may open with its name (MiniCPM3's
        # "f(...)"): a call is read wherever the close does not follow.
        enclosed = bool(opening.strip() and closing.strip())
        # Names and ids written as JSON, or a call's function object, are read as the call's JSON object.
        read = _object_pieces if calls.extra() is not None else \
            lambda text, _, where: _pieces(text, where, slot_first=enclosed)
        forms = [CallForm(condition, read(text, calls, "[calls] call")) for condition, text in variants]
    for position, form in enumerate(forms):
        kinds = [piece[0] for piece in form.pieces]
        if "object" in kinds:
            continue
        if kinds.count("arguments") != 1:
            raise Unreadable("[calls] call: a call text writes {arguments} once")
        names = [piece[1] for piece in form.pieces if piece[0] == "slot"]
        fixed = form.condition.call_name if form.condition is not None else None
        if "name" not in names:
            if fixed is None or len(fixed) != 1:
                raise Unreadable("[calls] call: a call text writes {name}, or is chosen for one name")
            forms[position] = attrs.evolve(form, name=fixed[0])
    parameter: Tuple[Piece, ...] = ()
    if calls.arguments == "parameters":
        separator = calls.separator.strip()
        if calls.separator and not separator:
            raise Unreadable("[calls] separator: parameters separated by whitespace alone")
        # A parameter may open with its key where a separator or the arguments' start tells where it starts.
        parameter = _pieces(calls.parameter, "[calls] parameter", slot_first=True, json_value=calls.value == "json")
        if [p[1] for p in parameter if p[0] == "slot"] != ["key", "value"] or not all(
                p[0] in ("lit", "slot") for p in parameter):
            raise Unreadable("[calls] parameter: a parameter text writes {key} then {value}, each ended by a literal")
        for form in forms:
            at = [p[0] for p in form.pieces].index("arguments")
            if at + 1 >= len(form.pieces) or form.pieces[at + 1][0] != "lit" or not form.pieces[at + 1][1].tokens:
                raise Unreadable("[calls] call: {arguments} written as parameters must be followed by a literal")
    elif calls.arguments not in ("json", "json_or_text", "text", "json_block"):  # JSON whatever its indent
        raise Unreadable(f"[calls] arguments = {calls.arguments!r} is not read by parse_output yet")
    if output is not None and output.call:
        opening = closing = ""
    if opening and not opening.split() or closing and not closing.split():
        raise Unreadable("[calls] prefix, suffix: calls opened or closed by whitespace alone")
    return CallsForm(forms=tuple(forms), arguments=calls.arguments, value=calls.value, max=calls.max,
                     replace_content=calls.content == "refuse", call_id=output.call_id if output else None,
                     parameter=parameter, alternatives=bool(output is not None and output.call),
                     open=Lit(opening) if opening.strip() else None, close=Lit(closing) if closing.strip() else None,
                     trim=calls.trim, before_content=calls.position == "before_content",
                     separator=Lit(calls.separator) if calls.separator else None)


def _attach(spec: FormatSpec, role: Role) -> Attach:
    """The texts around a call's name written as the role's attached field in its prefix."""
    assert role.attach_field is not None and role.attach_text is not None
    if role.prefix_when or role.prefix_after or (spec.output is not None and spec.output.prefix is not None):
        raise Unreadable("[output] call_name = 'attach': the role's prefix has variants, one of which the name "
                         "would have to choose")
    marked = _fill(role.prefix, dict(_ROLE_VALUES, attach="\x00"))
    if marked is None or marked.count("\x00") != 1:
        raise Unreadable("[output] call_name = 'attach': the prefix writes a value a completion cannot know")
    after = marked.split("\x00")[1]
    opening, closing = role.attach_text.fill({"value": "\x00"}).split("\x00")
    # An answer (no field) opens with the prefix's text after it, a call with the attach text: each must tell
    # itself apart from the other's start.
    if not after or (opening and (opening.startswith(after) or after.startswith(opening))):
        raise Unreadable("[output] call_name = 'attach': a completion without the field cannot be told from one with "
                         "it (the prefix writes no text after it, or the attach text opens alike)")
    return Attach(field=role.attach_field, open=opening, close=closing + after, after=after)


def build_form(spec: FormatSpec, default_prompt: str = "") -> OutputForm:
    """The output form of ``spec``; ``Unreadable`` says why there is none."""
    role = spec.role("assistant")
    if role is None or role.drop or role.refuse is not None:
        raise Unreadable("the format writes no assistant messages")
    # A field written in the prefix (GLM-4's metadata) is read back where it names a call ([output]
    # call_name); else a completion holding it is refused where it opens.
    known = _ROLE_KEYS | ({"attach_field", "attach_text"} if role.attach_in_prefix else set())
    _unknown(role, known, f"roles.{role.name}" if role.name != "*" else "any_role")
    output = spec.output
    prefixes: List[Tuple[str, Optional[Condition]]] = []
    if output is not None and output.prefix is not None:
        for condition, text in output.prefix_when:
            prefixes.append((text.fill(_ROLE_VALUES), condition))
        prefixes.append((output.prefix.fill(_ROLE_VALUES), None))
    else:
        for condition, text in role.prefix_when:
            filled = _fill(text, _ROLE_VALUES)
            if filled is not None:
                prefixes.append((filled, condition))
        for previous, text in role.prefix_after:
            filled = _fill(text, _ROLE_VALUES)
            if filled is not None:
                prefixes.append((filled, Condition(previous=(previous,))))
        filled = _fill(role.prefix, _ROLE_VALUES)
        prefixes.append((filled or "", None))
    reasoning = _reasoning(spec, role)
    ends, suffixes = _ends(spec, role)
    content_open = None
    if output is not None and output.content is not None:
        content_open = Lit(str(output.content.pieces[0]))
    stops = tuple(dict.fromkeys([s for s in spec.stop] + ([spec.eos] if spec.eos else [])))
    attach = _attach(spec, role) if output is not None and output.call_name == "attach" else None
    unread: Tuple[str, ...] = ()
    reason = ""
    try:
        calls = _calls(spec)
    except Unreadable as error:
        if spec.calls is None:
            raise
        # A completion without calls is still read: where one holds a call, it is refused there.
        calls, unread, reason = None, _unread_openings(spec), str(error)
    return OutputForm(name=spec.name, prefixes=tuple(prefixes), reasoning=reasoning, content_trim=role.trim,
                      content_newlines=spec.output is None and spec.reasoning is not None and reasoning is not None,
                      calls=calls, ends=ends, suffixes=suffixes, default_prompt=default_prompt,
                      content_open=content_open, stops=stops, unread_calls=unread, unread_reason=reason,
                      unread_field=role.attach_field if role.attach_in_prefix and attach is None else None,
                      attach=attach, plan=_plan(spec, role))


# -- where the prompt leaves the turn ------------------------------------------------------------

@attrs.frozen
class Opening:
    """Where a completion starts: what is left of the prefix to read (``remainder``, under
    ``condition``), and the reasoning state the prompt left (``"none"``: no block written yet;
    ``"open"``: inside one, with ``text`` already written; ``"closed"``: a block is over, with
    ``text`` its reasoning; ``"absent"``: the prompt closed reasoning without one)."""

    remainder: str
    condition: Optional[Condition]
    state: str = "none"
    text: str = ""
    #: The length of the prefix when the prompt ends with it (and the start of a turn), else -1.
    found: int = -1
    #: The reasoning this opening may hold (``Plan``): ``open`` is what of ``A`` is left to write.
    plan: Optional[Reasoning] = None


def _prompt_state(form: OutputForm, extra: str) -> Optional[Tuple[str, str]]:
    """The reasoning state ``extra`` (what the prompt wrote after the prefix) leaves, or ``None``
    when it is not the start of an assistant turn."""
    if not extra.strip():
        return ("none", "")
    reasoning = form.reasoning
    if reasoning is None:
        return None
    end = reasoning.open.match(extra, 0, True, trail=True)
    if end >= 0:
        close = extra.find(reasoning.close.tokens[0], end)
        if close < 0:
            return ("open", extra[end:])
        after = reasoning.close.match(extra, close, True, trail=True)
        if after < 0 or extra[after:].strip():
            return None
        return ("closed", trim(strip_end(extra[end:close], reasoning.close.lead), reasoning.trim))
    end = reasoning.close.match(extra, 0, True, trail=True)
    if end >= 0 and not extra[end:].strip():
        return ("absent", "")
    return None


def openings(form: OutputForm, prompt: str) -> List[Opening]:
    """For each prefix variant, what a completion after ``prompt`` still has to write of it."""
    out = []
    for text, condition in form.prefixes:
        state: Optional[Tuple[str, str]] = None
        if text.strip() and text in prompt:
            state = _prompt_state(form, prompt[prompt.rfind(text) + len(text):])
        if state is not None:
            out.append(Opening("", condition, *state, found=len(text)))
            continue
        overlap = max((k for k in range(len(text), 0, -1) if prompt.endswith(text[:k])), default=0)
        plan = form.plan
        block = None
        if plan is not None and plan.text == text and text[overlap:plan.at].strip():
            block = Reasoning(open=Lit(text[overlap:plan.at]), close=Lit(text[plan.at:]), trim=plan.trim,
                              field=plan.field)
        out.append(Opening(text[overlap:], condition, plan=block))
    return out


# -- values --------------------------------------------------------------------------------------

def tool_schemas(tools: Any) -> Optional[Dict[str, Dict[str, Any]]]:
    """Tool name -> its parameters' properties, from definitions as ``render`` takes them."""
    if tools is None:
        return None
    from .._runtime.tools import checked_tools

    try:
        checked = checked_tools(tools)
    except Exception as error:  # noqa: BLE001 - a bad definition is reported as the caller's option
        raise OutputError(f"tools: {error}") from None
    out: Dict[str, Dict[str, Any]] = {}
    for tool in checked:
        if "function" not in tool and "name" not in tool:
            continue  # a built-in tool, written as its format's fixed text: a completion calls no function of it
        function = tool.get("function", tool)
        parameters = function.get("parameters")
        properties = parameters.get("properties") if isinstance(parameters, dict) else None
        out[function["name"]] = properties if isinstance(properties, dict) else {}
    return out


def schema_types(schema: Any) -> Tuple[str, ...]:
    if not isinstance(schema, dict):
        return ()
    declared = schema.get("type")
    types = [declared] if isinstance(declared, str) else [t for t in declared if isinstance(t, str)] if isinstance(
        declared, list) else []
    for union in ("anyOf", "oneOf"):
        for choice in schema.get(union) or []:
            types.extend(schema_types(choice))
    if schema.get("nullable") and "null" not in types:
        types.append("null")
    return tuple(types)


_INT = re.compile(r"-?(?:0|[1-9][0-9]*)\Z")
_CONSTANTS = {"True": True, "False": False, "None": None}


def _structured(text: str, value: str) -> Any:
    """A mapping or list as the value format writes one (``json_or_str``: JSON, ``str``: Python's
    ``str()``), else ``ValueError``."""
    if value == "str":
        import ast

        try:
            found = ast.literal_eval(text)
        except (SyntaxError, ValueError, RecursionError, MemoryError, TypeError):
            raise ValueError(text) from None
    else:
        import json

        try:
            found = json.loads(text)
        except RecursionError:
            raise ValueError(text) from None
    if not isinstance(found, (dict, list)):
        raise ValueError(text)
    return found


def read_value(text: str, value: str, types: Sequence[str]) -> Any:
    """A parameter's value from its text, written by the value format ``value`` (``str()`` for
    scalars: ``True``, ``None``, ``1.0``). The tool's schema types decide where the text alone
    cannot (``"1"`` is a string for a ``string`` parameter); without them a text that reads as a
    Python constant, a number or (from ``{``/``[``) a mapping or list is taken as one."""
    for kind in types:
        try:
            if kind == "string":
                return text
            if kind == "integer" and _INT.match(text.strip()):
                return int(text)
            if kind == "number":
                number = float(text)
                return int(text) if _INT.match(text.strip()) else number
            if kind == "boolean" and text.strip() in ("True", "False", "true", "false"):
                return text.strip() in ("True", "true")
            if kind == "null" and text.strip() in ("None", "null"):
                return None
            if kind in ("object", "array"):
                found = _structured(text, value)
                if isinstance(found, dict if kind == "object" else list):
                    return found
        except ValueError:
            continue
    if types:
        return text  # no declared type reads it: the text as written
    if text in _CONSTANTS:
        return _CONSTANTS[text]
    if _INT.match(text):
        try:
            return int(text)
        except ValueError:  # more digits than int() takes
            return text
    try:
        number = float(text)
    except ValueError:
        pass
    else:
        if repr(number) == text:
            return number
    if text[:1] in ("{", "["):
        try:
            return _structured(text, value)
        except ValueError:
            pass
    return text


