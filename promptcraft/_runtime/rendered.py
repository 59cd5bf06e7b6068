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
KINDS = ("scaffold", "content", "reasoning", "generation_prompt")


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

    __slots__ = ("text", "_pieces", "_tags", "_messages", "_spans")

    #: The format's stop strings, among which ``mask`` finds end-of-turn markers (see ``of_format``).
    stop: Tuple[str, ...] = ()

    def __init__(self, pieces: Sequence[str], tags: Sequence[Any], messages: Any) -> None:
        self.text = "".join(pieces)
        self._pieces = pieces
        self._tags = tags
        self._messages = messages
        self._spans: Optional[Tuple[Span, ...]] = None

    @classmethod
    def of_format(cls, stop: Sequence[str]) -> "type":
        """The class of one format's results: ``stop`` is known to every instance without a
        per-render store (``render_spans`` calls the class directly)."""
        return type("Rendered", (cls,), {"__slots__": (), "stop": tuple(stop), "__module__": cls.__module__,
                                         "__qualname__": cls.__qualname__})

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
            self._spans = tuple(self._build())
        return self._spans

    def _flat(self) -> List[Tuple[str, int, int]]:
        """``(piece, message index, kind code)`` for every piece written."""
        flat = []
        pieces = iter(self._pieces)
        current = None  # the message of the loop's current entry, or None outside the loop
        for entry in self._tags:
            if entry is None:
                current = None
            elif type(entry) is int:
                current = entry
            elif current is None:
                index, codes = entry
                for code in codes:
                    flat.append((next(pieces), index, code))
            else:
                for item in entry:
                    if type(item) is int:
                        flat.append((next(pieces), current, item))
                    else:
                        flat.append((next(pieces), item[0], item[1]))
                current += 1
        return flat

    def _build(self) -> List[Span]:
        out: List[Span] = []
        position = start = 0
        current: Optional[Tuple[int, int]] = None
        for piece, index, code in self._flat():
            if not piece:
                continue
            if (index, code) != current:
                if current is not None:
                    out.append(self._span(start, position, *current))
                current, start = (index, code), position
            position += len(piece)
        if current is not None:
            out.append(self._span(start, position, *current))
        return out

    def _span(self, start: int, end: int, index: int, code: int) -> Span:
        if index < 0:
            return Span(start, end, KINDS[code], None, None)
        return Span(start, end, KINDS[code], index, self._messages[index]["role"])

    def mask(self, roles: Sequence[str] = ("assistant",), kinds: Sequence[str] = ("content",),
             end_of_turn: bool = True) -> List[Tuple[int, int]]:
        """Character ranges ``(start, end)``, sorted and merged, of the text a model is trained on:
        the spans of ``kinds`` from messages of ``roles``, and with ``end_of_turn`` the format's
        end-of-turn marker that closes each such message (the first of the format's stop strings
        written after its content, say ``<|im_end|>`` or ``<|eot_id|>``; not the newline after it,
        nor anything the generation prompt writes)."""
        chosen: List[Tuple[int, int]] = []
        by_message: dict = {}
        for span in self.spans:
            if span.message is None or span.role not in roles:
                continue
            by_message.setdefault(span.message, []).append(span)
            if span.kind in kinds:
                chosen.append((span.start, span.end))
        if end_of_turn and self.stop:
            for spans in by_message.values():
                marker = self._end_of_turn(spans)
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

    def _end_of_turn(self, spans: List[Span]) -> Optional[Tuple[int, int]]:
        """From the end of the message's last non-scaffold span (or its start, when it has none) to the
        end of the first stop string inside the message's own text; ``None`` when there is none."""
        written = [s for s in spans if s.kind != "scaffold"]
        start = written[-1].end if written else spans[0].start
        end = max(s.end for s in spans)
        # The message's own text after `start`, up to where another message's text begins.
        for span in self.spans:
            if span.start >= start and span.message != spans[0].message:
                end = min(end, span.start)
                break
        region = self.text[start:end]
        found = [(region.find(stop), stop) for stop in self.stop if stop and stop in region]
        if not found:
            return None
        at, stop = min(found)
        if written:
            return (start, start + at + len(stop))
        return (start + at, start + at + len(stop))

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
    head = len(text) - len(text.lstrip()) if how in ("both", "left") else 0
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
