"""Loading formats from files or text, and the one-call ``render``."""

from __future__ import annotations

import os
from typing import Any, Optional, Union

from .errors import FormatError
from .format import Format

FormatLike = Union[str, "os.PathLike[str]", Format]


def loads_format(text: str, *, path: Optional[str] = None, builtin: bool = False) -> Format:
    """Validate and compile a format from TOML ``text`` (``path`` labels errors)."""
    from .load import parse_toml
    from .validate import build_spec

    if path is not None and not isinstance(path, str):
        path = os.fspath(path) if isinstance(path, os.PathLike) else None
        if path is None:
            raise FormatError("path must be a string or a path")
    if not isinstance(text, str):
        raise FormatError(f"expected TOML text as a string, got {type(text).__name__}", path=path)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        line = text.count("\n", 0, error.start) + 1
        raise FormatError("text is not valid Unicode (it holds a lone surrogate)", path=path, line=line) from None
    raw = parse_toml(text, path or "<string>")
    spec = build_spec(raw, path, text)
    return Format(spec, text=text, builtin=builtin)


def load_format(path: "str | os.PathLike[str]") -> Format:
    """Load, validate and compile the format file at ``path``."""
    from .load import read_source

    display, text = read_source(path)
    return loads_format(text, path=display)


def resolve_format(format: FormatLike) -> Format:
    """A ``Format`` from a format, a built-in name, or a path to a TOML file."""
    if isinstance(format, Format):
        return format
    if isinstance(format, os.PathLike) or (isinstance(format, str) and (format.endswith(".toml") or os.sep in format or "/" in format)):
        return load_format(format)
    if isinstance(format, str):
        from .registry import get_format

        return get_format(format)
    raise TypeError(f"format must be a name, a path or a Format, got {type(format).__name__}")


def render(messages: Any, format: FormatLike, *, add_generation_prompt: bool = False,
           continue_final_message: bool = False, control_tokens: str = "keep", **variables: Any) -> str:
    """Render ``messages`` with ``format`` (a built-in name, a TOML path or a ``Format``)."""
    return resolve_format(format).render(
        messages, add_generation_prompt=add_generation_prompt,
        continue_final_message=continue_final_message, control_tokens=control_tokens, **variables,
    )
