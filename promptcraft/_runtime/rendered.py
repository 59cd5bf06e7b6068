"""``Rendered``: a prompt with the provenance of every character, and the masks derived from it.

``render_spans`` builds one from the pieces the renderer wrote and the tag
entries that say where they came from (see ``_engine.pygen``): outside the
message loop ``(message index or -1, kind codes)``; the loop bracketed by its
first message's index and ``None``, with one entry per message, an item per
piece (a kind code, or ``(index, code)`` for another message's piece). The
spans are worked out only when first asked for, so a caller that wants the
text and a mask pays for little more than the render.
"""

from __future__ import annotations

from typing import Any, List, NamedTuple, Optional, Sequence, Tuple

#: The kinds of text, in the order of their codes in tags (see ``_engine.ir.KINDS``).
KINDS = ("scaffold", "content", "reasoning", "generation_prompt", "tools", "tool_calls", "documents")


class Span(NamedTuple):
    """``text[start:end]`` is of ``kind`` and comes from ``messages[message]`` (``None``: text the
    format writes on its own), whose role is ``role``."""

    start: int
    end: int
    kind: str
    message: Optional[int]
    role: Optional[str]


class Rendered:
    """A rendered prompt (``text``, equal to what ``render`` returns) and its ``spans``: a tuple of
    ``Span`` that partitions the text, in order, adjacent spans differing in kind or message."""

    __slots__ = ("text", "_pieces", "_tags", "_messages", "_spans", "_runs")

    #: The format's stop strings, among which ``mask`` finds end-of-turn markers (see ``of_format``).
    stop: Tuple[str, ...] = ()
    #: The roles of the format's system messages: a hoisted system text names its message by order.
    leading: Tuple[str, ...] = ("system",)

    def __init__(self, pieces: Sequence[str], tags: Sequence[Any], messages: Any) -> None:
        self.text = "".join(pieces)
        self._pieces = pieces
        self._tags = tags
        self._messages = messages
        self._spans: Optional[Tuple[Span, ...]] = None
        self._runs: Optional[List[Tuple[int, int, int]]] = None

    @classmethod
    def of_format(cls, stop: Sequence[str], leading: Sequence[str] = ("system",)) -> "type":
        """The class of one format's results: what it knows of the format (``stop``, ``leading``) is
        known to every instance without a per-render store (``render_spans`` calls the class directly)."""
        return type("Rendered", (cls,), {"__slots__": (), "stop": tuple(stop), "leading": tuple(leading),
                                         "__module__": cls.__module__, "__qualname__": cls.__qualname__})

    def _system_owners(self) -> List[int]:
        """Indexes of the messages with a leading (system) role, in order."""
        leading = self.leading
        return [index for index, message in enumerate(self._messages) if message["role"] in leading]

    @classmethod
    def from_segments(cls, segments: Sequence[Tuple[str, str, Optional[int]]], messages: Any) -> "Rendered":
        """From the reference interpreter's ``(text, kind, message index)`` segments."""
        codes = {kind: code for code, kind in enumerate(KINDS)}
        pieces = [text for text, _, _ in segments]
        tags = [(-1 if index is None else index, (codes[kind],)) for _, kind, index in segments]
        return cls(pieces, tags, messages)

    @property
    def spans(self) -> Tuple[Span, ...]:
        if self._spans is None:
            new, messages = tuple.__new__, self._messages  # tuple.__new__: a NamedTuple's own __new__ is slow
            self._spans = tuple(
                new(Span, (a, b, KINDS[key % 8], None, None) if key < 8
                    else (a, b, KINDS[key % 8], key // 8 - 1, messages[key // 8 - 1]["role"]))
                for a, b, key in self._build())
        return self._spans

    def _flat(self) -> List[Tuple[str, int, int]]:
        """``(piece, message index, kind code)`` for every piece written."""
        flat = []
        pieces = iter(self._pieces)
        hoisted: List[int] = []
        current = None  # the message of the loop's current entry, or None outside the loop
        for entry in self._tags:
            if entry is None:
                current = None
            elif type(entry) is int:
                current = entry
            elif current is None:
                index = self._owner(entry[0], hoisted)
                for code in entry[1]:
                    flat.append((next(pieces), index, code))
            else:
                for item in entry:
                    if type(item) is int:
                        flat.append((next(pieces), current, item))
                    else:
                        flat.append((next(pieces), item[0], item[1]))
                current += 1
        return flat

    def _build(self) -> List[Tuple[int, int, int]]:
        """The spans as ``(start, end, key)`` runs, ``key = (message index + 1) * 8 + kind code``."""
        if self._runs is not None:
            return self._runs
        # One pass over entries and pieces; a run ends only where the key changes.
        runs: List[Tuple[int, int, int]] = []
        hoisted: List[int] = []
        pieces = self._pieces
        p = position = start = 0
        run = -1
        current = None  # the message of the loop's current entry, or None outside the loop
        for entry in self._tags:
            if entry is None:
                current = None
                continue
            if type(entry) is int:
                current = entry
                continue
            if current is None:
                base = (self._owner(entry[0], hoisted) + 1) * 8
                items = entry[1]
            else:
                base = (current + 1) * 8
                items = entry
                current += 1
            for item in items:
                size = len(pieces[p])
                p += 1
                if not size:
                    continue
                key = base + item if type(item) is int else (item[0] + 1) * 8 + item[1]
                if key != run:
                    if position > start:
                        runs.append((start, position, run))
                    run, start = key, position
                position += size
        if position > start:
            runs.append((start, position, run))
        self._runs = runs
        return runs

    def _owner(self, index: int, hoisted: List[int]) -> int:
        """A tag's message index; -2 and -3 stand for hoisted system texts (see ``_engine.pygen``): the
        next system message in order, or the last one. ``hoisted`` counts the ones already seen."""
        if index > -2:
            return index
        owners = self._system_owners()
        if index == -3:
            return owners[-1]
        hoisted.append(0)
        return owners[len(hoisted) - 1]

    def mask(self, roles: Sequence[str] = ("assistant",), kinds: Sequence[str] = ("content",),
             end_of_turn: bool = True) -> List[Tuple[int, int]]:
        """Character ranges ``(start, end)``, sorted and merged, of the text a model is trained on:
        the spans of ``kinds`` from messages of ``roles``, and with ``end_of_turn`` the format's
        end-of-turn marker that closes each such message (the first of the format's stop strings
        written after its content, say ``<|im_end|>`` or ``<|eot_id|>``; not the newline after it,
        nor anything the generation prompt writes)."""
        runs = self._build()
        messages = self._messages
        codes = {KINDS.index(kind) for kind in kinds}
        chosen: List[Tuple[int, int]] = []
        selected: dict = {}  # message index -> whether its role is in roles
        # message -> position in runs just after its last non-scaffold run (or of its first run)
        after: dict = {}
        for position, (start, end, key) in enumerate(runs):
            index = key // 8 - 1
            if index < 0:
                continue
            keep = selected.get(index)
            if keep is None:
                keep = selected[index] = messages[index]["role"] in roles
            if not keep:
                continue
            code = key % 8
            if code in codes:
                chosen.append((start, end))
            if code:
                after[index] = (position + 1, True)
            elif index not in after:
                after[index] = (position, False)
        if end_of_turn and self.stop:
            for index, (position, written) in after.items():
                marker = self._end_of_turn(runs, index, position, written)
                if marker is not None:
                    chosen.append(marker)
        chosen.sort()
        merged: List[Tuple[int, int]] = []
        for start, end in chosen:
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
            else:
                merged.append((start, end))
        return merged

    def _end_of_turn(self, runs: Sequence[Tuple[int, int, int]], index: int, position: int,
                     written: bool) -> Optional[Tuple[int, int]]:
        """The message's end-of-turn marker: the first stop string in the run of its own scaffold that
        follows its content, from the content's end (or, for a message with no content, the marker
        alone); ``None`` when that run holds none."""
        owner = (index + 1) * 8
        if position >= len(runs) or runs[position][2] // 8 * 8 != owner:
            return None
        start = end = runs[position][0]
        while position < len(runs) and runs[position][2] // 8 * 8 == owner:
            end = runs[position][1]
            position += 1
        region = self.text[start:end]
        found = [(region.find(stop), stop) for stop in self.stop if stop and stop in region]
        if not found:
            return None
        at, stop = min(found)
        return (start if written else start + at, start + at + len(stop))

    def char_mask(self, roles: Sequence[str] = ("assistant",), kinds: Sequence[str] = ("content",),
                  end_of_turn: bool = True) -> bytearray:
        """``mask`` as one byte per character of ``text``: 1 inside a range, 0 outside."""
        out = bytearray(len(self.text))
        for start, end in self.mask(roles, kinds, end_of_turn):
            out[start:end] = b"\x01" * (end - start)
        return out

    def cut(self, end: int, rstrip: bool = False) -> "Rendered":
        """The first ``end`` characters (trailing whitespace stripped too with ``rstrip``), spans kept."""
        text = self.text[:end]
        if rstrip:
            text = text.rstrip()
        pieces, tags = [], []
        position = 0
        for piece, index, code in self._flat():
            if position >= len(text):
                break
            keep = piece[:len(text) - position]
            pieces.append(keep)
            tags.append((index, (code,)))
            position += len(keep)
        return type(self)(pieces, tags, self._messages)

    def __repr__(self) -> str:
        return f"Rendered({self.text!r}, {len(self.spans)} spans)"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Rendered) and (self.text, self.spans) == (other.text, other.spans)

    __hash__ = None  # type: ignore[assignment]


def trim_pieces(pieces: Sequence[str], tags: Sequence[int], how: str) -> Tuple[tuple, tuple]:
    """``pieces`` whose joined text is trimmed as ``str.strip`` (``how``: both, left, right) trims it."""
    text = "".join(pieces)
    head = len(text) - len(text.lstrip("\n" if how == "left_newlines" else None)) if how in (
        "both", "left", "left_newlines") else 0
    tail = len(text) - len(text.rstrip()) if how in ("both", "right") else 0
    if not head and not tail:
        return tuple(pieces), tuple(tags)
    stop = len(text) - tail
    out, out_tags = [], []
    position = 0
    for piece, tag in zip(pieces, tags):
        start, end = position, position + len(piece)
        position = end
        lo, hi = max(start, head), min(end, stop)
        if lo < hi:
            out.append(piece[lo - start:hi - start])
            out_tags.append(tag)
    return tuple(out), tuple(out_tags)
