"""Documents (``render(..., documents=[...])``) as the templates write them.

A format's ``[documents]`` comes here as a layout of literals (see ``_engine.lower``):
``(prefix, item, separator, suffix, keys, optional, others, others_key, ignore)``, where a
text is a tuple of literal strings and ``(name,)`` slots. ``write_documents`` gives the
text or the precise error, naming ``documents[i].key``; ``documents_text`` is the fast
path's, which raises ``Unhandled`` instead so that the reference interpreter reports it.
Loaded only when a conversation carries documents.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Dict, Sequence, Tuple

from ..errors import ConversationError, InvalidMessageError, UnsupportedFieldError
from .unhandled import Unhandled

Pieces = Tuple[Any, ...]


def _kind(value: Any) -> str:
    return "None" if value is None else type(value).__name__


def _fill(pieces: Pieces, values: Dict[str, str]) -> str:
    return "".join(piece if isinstance(piece, str) else values[piece[0]] for piece in pieces)


def _scalar(value: Any) -> Any:
    """``value`` as Jinja's ``|string`` writes it, for a string, a number or a boolean (transformers
    hands subclasses to templates as their base type); ``None`` for anything else."""
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float):
        return float.__repr__(value)
    return None


def _value(value: Any, kind: str, field: str) -> str:
    if kind == "text":
        if not isinstance(value, str):
            raise UnsupportedFieldError(f"this format writes it as text only, got {_kind(value)}", field=field)
        return str.__str__(value)
    text = _scalar(value)
    if text is None:
        # A list or a mapping would be written as its Python repr, None as the word None.
        raise UnsupportedFieldError(f"this format writes it as Python's str() writes a string, a number or a "
                                    f"boolean; a {_kind(value)} is refused", field=field)
    return text


def title_case(text: str) -> str:
    """Jinja's ``title`` filter: each word (after ``-``, whitespace or an opening bracket) capitalised."""
    import re

    return "".join(item[0].upper() + item[1:].lower() for item in re.split(r"([-\s({\[<]+)", text) if item)


def write_documents(documents: Any, layout: Sequence[Any]) -> str:
    """The documents' text, or the precise error for the first document or key it cannot write."""
    prefix, item, separator, suffix, keys, optional, others, others_key, ignore = layout
    if isinstance(documents, (str, bytes, Mapping)) or not isinstance(documents, (list, tuple)):
        raise InvalidMessageError(f"documents must be a list of mappings, got {_kind(documents)}", field="documents")
    read = {name for name, _ in keys} | {name for name, _ in optional}
    wants_json = ("json",) in item
    texts = []
    for position, document in enumerate(documents):
        where = f"documents[{position}]"
        if not isinstance(document, Mapping):
            raise InvalidMessageError(f"a document is a mapping ({{'text': ...}}), got {_kind(document)}", field=where)
        values = {"index": str(position)}
        for name, kind in keys:
            value = document.get(name)
            if value is None:
                raise UnsupportedFieldError("this format writes every document's "
                                            f"{name!r}: this one has none", field=f"{where}.{name}")
            values[name] = _value(value, kind, f"{where}.{name}")
        for name, text in optional:
            value = document.get(name)
            values[name] = "" if value is None else _fill(text, {"value": _value(value, "text", f"{where}.{name}")})
        if wants_json:
            from .tools import _json_error, tojson

            try:
                values["json"] = tojson(document)
            except ValueError:
                raise _json_error(document, where) from None
        elif others is not None:
            written = []
            for key, value in document.items():
                if key in read:
                    continue
                if not isinstance(key, str):
                    raise UnsupportedFieldError(f"a document's key must be a string, got {_kind(key)}", field=where)
                name = title_case(key) if others_key == "title" else key
                written.append(_fill(others, {"key": name, "value": _value(value, "scalar", f"{where}.{key}")}))
            values["others"] = "".join(written)
        else:
            for key, value in document.items():
                if value is not None and key not in read and key not in ignore:
                    raise UnsupportedFieldError(
                        "this key is not written by the format, so it is refused rather than left out (a format "
                        "lists the keys its template leaves out under [documents] ignore)", field=f"{where}.{key}")
        texts.append(_fill(item, values))
    return prefix + separator.join(texts) + suffix


def documents_text(documents: Any, layout: Sequence[Any]) -> str:
    """``write_documents`` for the fast path: any problem raises ``Unhandled``."""
    try:
        return write_documents(documents, layout)
    except (ConversationError, ValueError, RecursionError):
        raise Unhandled from None
