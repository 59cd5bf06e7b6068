"""Reading a format file: bytes, TOML, key locations.

``tomllib`` returns plain dicts without positions, so after parsing we scan the
source once more to learn on which line each key is declared; ``validate`` uses
that to point its errors at a line.
"""

from __future__ import annotations

import os
import re
import sys
from typing import Any, Dict, Optional, Tuple

from ..errors import FormatError

#: Format files larger than this are refused before parsing. Real formats are
#: a few kilobytes; the limit keeps a hostile file from costing much.
MAX_FORMAT_BYTES = 256 * 1024


def read_source(path: "str | os.PathLike[str]") -> Tuple[str, str]:
    """Return ``(display_path, text)`` of a format file."""
    display = os.fspath(path)
    try:
        size = os.path.getsize(display)
        if size > MAX_FORMAT_BYTES:
            raise FormatError(
                f"file is {size} bytes; format files are limited to {MAX_FORMAT_BYTES} bytes",
                path=display,
            )
        with open(display, "rb") as handle:
            data = handle.read(MAX_FORMAT_BYTES + 1)
    except OSError as error:
        raise FormatError(f"cannot read file: {error.strerror or error}", path=display) from None
    return display, decode(data, display)


def decode(data: bytes, display: str) -> str:
    if len(data) > MAX_FORMAT_BYTES:
        raise FormatError(
            f"file is larger than {MAX_FORMAT_BYTES} bytes, the limit for format files", path=display
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise FormatError("file is not valid UTF-8", path=display, line=line) from None


def parse_toml(text: str, display: str) -> Dict[str, Any]:
    if len(text) > MAX_FORMAT_BYTES:
        raise FormatError(
            f"text is larger than {MAX_FORMAT_BYTES} characters, the limit for format files", path=display
        )
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on old interpreters only
        # tomli is a dependency on Python < 3.11 only, so it may be absent where mypy runs (and then
        # this line has nothing to ignore, hence unused-ignore).
        import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        message = str(error)
        line = getattr(error, "lineno", None)
        found = re.search(r" \(at line (\d+), column \d+\)$", message)
        if found:
            line = line or int(found.group(1))
            message = message[: found.start()]
        elif message.endswith(" (at end of document)"):
            message = message[: -len(" (at end of document)")]
            line = line or text.count("\n") + 1
        raise FormatError(f"invalid TOML: {message}", path=display, line=line) from None
    except RecursionError:
        raise FormatError("invalid TOML: nesting too deep", path=display) from None


_KEY = re.compile(
    r"""\s*((?:[A-Za-z0-9_\-]+|"[^"\n]*"|'[^'\n]*')"""  # a bare, "basic" or 'literal' key part,
    r"""(?:\s*\.\s*(?:[A-Za-z0-9_\-]+|"[^"\n]*"|'[^'\n]*'))*)\s*="""  # then any dotted parts, then '='
)
_KEY_PART = re.compile(r"""[A-Za-z0-9_\-]+|"((?:[^"\\]|\\.)*)"|'([^']*)'""")


def _split_key(key: str) -> Tuple[str, ...]:
    parts = []
    for match in _KEY_PART.finditer(key):
        if match.group(1) is not None:
            parts.append(match.group(1))
        elif match.group(2) is not None:
            parts.append(match.group(2))
        else:
            parts.append(match.group(0))
    return tuple(parts)


def _header(line: str) -> "Optional[Tuple[Tuple[str, ...], bool]]":
    """``(key parts, is array)`` for a ``[table]`` or ``[[array]]`` line, else ``None``.

    Plain string scanning: a regular expression here backtracked badly on hostile lines.
    """
    stripped = line.strip()
    if not stripped.startswith("["):
        return None
    is_array = stripped.startswith("[[")
    body = stripped[2:] if is_array else stripped[1:]
    end = body.find("]")
    if end <= 0:
        return None
    parts = _split_key(body[:end])
    return (parts, is_array) if parts else None


def locate_keys(text: str) -> Dict[str, int]:
    """Map dotted key paths (``roles.user.prefix``) to the line declaring them.

    Best effort: it follows table headers and ``key =`` lines and skips the
    inside of multi-line strings, which covers how format files are written.
    """
    lines: Dict[str, int] = {}
    table: Tuple[str, ...] = ()
    arrays: Dict[Tuple[str, ...], int] = {}
    in_string: Optional[str] = None
    for number, line in enumerate(text.splitlines(), start=1):
        if in_string:
            if line.count(in_string) % 2 == 1:
                in_string = None
            continue
        header = _header(line)
        if header is not None and not _KEY.match(line):
            table, is_array = header
            lines.setdefault(".".join(table), number)
            if is_array:  # [[array of tables]]: address items by index
                index = arrays.get(table, -1) + 1
                arrays[table] = index
                table = table + (str(index),)
                lines.setdefault(".".join(table), number)
            continue
        key = _KEY.match(line)
        if key:
            path = ".".join(table + _split_key(key.group(1)))
            lines.setdefault(path, number)
            rest = line[key.end():]
            for quote in ('"""', "'''"):
                if rest.count(quote) % 2 == 1:
                    in_string = quote
                    break
    return lines


def line_of(lines: Dict[str, int], key: Optional[str]) -> Optional[int]:
    """The line of ``key``, or of the nearest enclosing key that has one (an item of an inline array,
    ``prefix[0].when``, is found on its array's line)."""
    while key:
        if key in lines:
            return lines[key]
        head, _, last = key.rpartition(".")
        key = key[:key.index("[")] if "[" in last else head
    return None
