"""Content given as a list of typed parts: what kind each part is, and the text written for it.

A part is of the first kind, in the order images, videos, text (the order every corpus template
tests them in), whose ``types`` hold its ``type`` or one of whose ``keys`` it holds: Qwen2.5-VL's
``content['type'] == 'image' or 'image' in content``, Gemma 3's ``item['type'] == 'image'``. A
media part is written as its kind's placeholder (after a numbered label when the format's labels
are on, counting that kind's parts across the conversation); a text part as its text. Whatever the
template would leave out is refused: a part of no kind, a ``type`` that names another kind, a key
the part's kind does not read.

A form is ``(trim, kinds)``, each kind ``(name, types, keys, placeholder, label)`` with the label's
pieces (literals, and ``0`` for the number) or ``None``: plain literals, which generated code
passes as they are. ``pieces`` reports problems precisely (for the reference interpreter);
``text``, ``first_text`` and ``has_image`` serve the fast path and raise ``Unhandled`` instead.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..errors import ConversationError, InvalidMessageError, UnsupportedFieldError
from .unhandled import Unhandled

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Tuple

#: See ``_spec.model.PART_SOURCES`` (repeated to keep attrs off the render path).
SOURCES = {"image": ("type", "image", "image_url", "url", "path", "base64"),
           "video": ("type", "video", "url", "path", "base64"), "text": ("type", "text")}
_STRIP = {"none": None, "both": str.strip, "left": str.lstrip, "right": str.rstrip,
          "left_newlines": lambda text: text.lstrip("\n")}


def _kind(value: "Any") -> str:
    return "None" if value is None else type(value).__name__


def classify(part: "Any", kinds: "Tuple") -> "Optional[Tuple]":
    """The kind of ``part`` (a mapping), or ``None`` for none of ``kinds``."""
    given = part.get("type")
    for kind in kinds:
        if given in kind[1] or any(key in part for key in kind[2]):
            return kind
    return None


def pieces(content: "Any", form: "Tuple", counts: "Optional[Dict[str, int]]", index: "Optional[int]" = None,
           role: "Optional[str]" = None) -> "List[Tuple[str, str, str]]":
    """``(kind, label, text)`` for each part of ``content``, or the precise error; ``counts`` (kind ->
    parts so far in the conversation, ``None`` when labels are off) is advanced."""
    trim, kinds = form
    strip = _STRIP[trim]
    out = []
    for position, part in enumerate(content):
        where = f"content[{position}]"
        if not isinstance(part, Mapping):
            raise InvalidMessageError(f"a content part must be a mapping, got {_kind(part)}", index=index, role=role,
                                      field=where)
        kind = classify(part, kinds)
        given = part.get("type")
        if kind is None:
            written = " and ".join(k[0] for k in kinds)
            raise UnsupportedFieldError(f"a part of type {given!r} is not written by this format, which writes "
                                        f"{written} parts here", index=index, role=role, field=where + ".type")
        name = kind[0]
        if given is not None and given not in kind[1] and given not in kind[2]:
            raise UnsupportedFieldError(f"this part is read as {name} (by its keys), but its type is {given!r}",
                                        index=index, role=role, field=where + ".type")
        allowed = SOURCES[name]
        for key, value in part.items():
            if value is not None and key not in allowed and key not in kind[2]:
                raise UnsupportedFieldError(f"this field of a {name} part is not written by the format, so it is "
                                            "refused rather than left out", index=index, role=role,
                                            field=f"{where}.{key}")
        if name == "text":
            text = part.get("text")
            if not isinstance(text, str):
                raise InvalidMessageError(f"a text part's 'text' must be a string, got {_kind(text)}", index=index,
                                          role=role, field=where + ".text")
            out.append((name, "", strip(text) if strip is not None else text))
            continue
        label = ""
        if kind[4] is not None and counts is not None:
            counts[name] = counts.get(name, 0) + 1
            label = "".join(p if isinstance(p, str) else str(counts[name]) for p in kind[4])
        out.append((name, label, kind[3]))
    return out


def text(content: "Any", form: "Tuple", counts: "Optional[Dict[str, int]]") -> str:
    """The text of a list of parts, for the fast path."""
    if type(content) is not list:
        raise Unhandled
    try:
        return "".join(label + written for _, label, written in pieces(content, form, counts))
    except ConversationError:
        raise Unhandled from None


def first_text(content: "Any") -> str:
    """A list of one text part read as its first part's text, for the fast path."""
    if type(content) is not list or len(content) != 1:
        raise Unhandled
    part = content[0]
    if type(part) is not dict or part.get("type") != "text" or type(part.get("text")) is not str:
        raise Unhandled
    if any(value is not None and key not in ("type", "text") for key, value in part.items()):
        raise Unhandled
    return part["text"]


def check_first_text(content: "Any", index: int, role: str) -> str:
    """``first_text`` with the precise error: the template reads only the first part's text."""
    if len(content) != 1:
        raise UnsupportedFieldError(f"this message is read as its first part's text: a list of {len(content)} parts "
                                    "is refused (write one text part)", index=index, role=role, field="content")
    return pieces(content, ("none", (("text", ("text",), (), "", None),)), None, index, role)[0][2]


def has_image(messages: "Any", form: "Tuple") -> bool:
    """Whether a message's content is a list holding an image part, for the fast path."""
    kinds = form[1]
    for message in messages:
        content = message.get("content")
        if content is None or type(content) is str:
            continue
        if type(content) is not list:
            raise Unhandled
        for part in content:
            if type(part) is not dict:
                raise Unhandled
            kind = classify(part, kinds)
            if kind is not None and kind[0] == "image":
                return True
    return False
