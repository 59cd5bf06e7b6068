"""The built-in formats shipped in ``formats/``, by name and by model id."""

from __future__ import annotations

import _thread  # threading's RLock itself, without threading's imports (functools, collections): import time
import os

from .errors import UnknownFormatError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional

    from ._format import Format

_formats: "Dict[str, Format]" = {}
_models: "Optional[Dict[str, str]]" = None
# The typeshed of mypy < 1.15 lacks _thread.RLock (newer mypy needs no ignore, hence unused-ignore).
_lock = _thread.RLock()  # type: ignore[attr-defined, unused-ignore]


def formats_dir() -> str:
    """Where the built-in format files are: inside the package in a wheel,
    at the top of the repository in a source checkout."""
    here = os.path.dirname(os.path.abspath(__file__))
    packaged = os.path.join(here, "formats")
    if os.path.isdir(packaged):
        return packaged
    return os.path.join(os.path.dirname(here), "formats")


def names() -> "List[str]":
    """Names of the built-in formats, sorted."""
    try:
        files = os.listdir(formats_dir())
    except OSError:
        return []
    return sorted(f[:-5] for f in files if f.endswith(".toml"))


def checksum(data: bytes) -> int:
    """Detects an edited format file; not a security check (the precompiled modules ship with the package)."""
    import zlib

    return zlib.crc32(data)


_engine_fingerprint: "Optional[int]" = None

#: The modules whose code decides what a precompiled renderer says.
_ENGINE_FILES = ("_engine/ir.py", "_engine/lower.py", "_engine/pygen.py", "_spec/model.py", "_spec/validate.py",
                 "_runtime/helpers.py")


def engine_fingerprint() -> int:
    """A checksum of the code generator's source: precompiled modules made by another one are not used."""
    global _engine_fingerprint
    if _engine_fingerprint is None:
        import zlib

        here = os.path.dirname(os.path.abspath(__file__))
        total = 0
        for name in _ENGINE_FILES:
            with open(os.path.join(here, name), "rb") as handle:
                total = zlib.crc32(handle.read(), total)
        _engine_fingerprint = total
    return _engine_fingerprint


def _precompiled_index() -> "Any":
    """The index of the precompiled modules, when they exist and came from this code generator."""
    try:
        from . import _precompiled as index
    except ImportError:  # a source tree without build output: formats compile from their files
        return None
    try:
        if getattr(index, "ENGINE", None) != engine_fingerprint():
            return None
    except OSError:
        return None
    return index


def get_format(name: str) -> "Format":
    """The built-in format called ``name``."""
    found = _formats.get(name)
    if found is not None:
        return found
    with _lock:
        found = _formats.get(name)
        if found is not None:
            return found
        if not isinstance(name, str) or name not in names():
            raise UnknownFormatError("named", str(name), _close(str(name), names()))
        path = os.path.join(formats_dir(), name + ".toml")
        found = _precompiled(name, path) or _compile(path)
        _formats[name] = found
        return found


def _compile(path: str) -> "Format":
    from ._load import load_format

    return load_format(path, recipe=(get_format, (os.path.basename(path)[:-5],)), resolve=get_format)


def _precompiled(name: str, path: str) -> "Optional[Format]":
    """The format from its precompiled module, when that was made from this very file."""
    index = _precompiled_index()
    if index is None:
        return None
    entry = index.FORMATS.get(name)
    if entry is None:
        return None

    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError:
        return None
    if checksum(data) != entry[1]:
        return None
    import importlib

    from ._load import precompiled_format

    module = importlib.import_module(f"{index.__name__}.{entry[0]}")
    return precompiled_format(module, data.decode("utf-8"), path, (get_format, (name,)), get_format)


def model_index() -> "Dict[str, str]":
    """Model id -> built-in format name, for every model a built-in format declares."""
    global _models
    if _models is None:
        with _lock:
            if _models is None:
                _models = _precompiled_models() or _scan_models()
    return _models


def _scan_models() -> "Dict[str, str]":
    index: "Dict[str, str]" = {}
    for name in names():
        for model in get_format(name).models:
            index[model] = name
    return index


def _precompiled_models() -> "Optional[Dict[str, str]]":
    """The shipped model index, when every format file is the one it was made from."""
    index = _precompiled_index()
    if index is None:
        return None
    if set(index.FORMATS) != set(names()):
        return None
    for name, (_, expected) in index.FORMATS.items():
        try:
            with open(os.path.join(formats_dir(), name + ".toml"), "rb") as handle:
                if checksum(handle.read()) != expected:
                    return None
        except OSError:
            return None
    return dict(index.MODELS)


_templates: "Optional[Dict[str, str]]" = None


def template_index() -> "Dict[str, str]":
    """Template fingerprint -> built-in format name, from the formats' ``templates`` keys."""
    global _templates
    if _templates is None:
        with _lock:
            if _templates is None:
                index = _precompiled_index()
                shipped = getattr(index, "TEMPLATES", None) if _precompiled_models() is not None else None
                _templates = dict(shipped) if shipped is not None else _scan_templates()
    return _templates


def _scan_templates() -> "Dict[str, str]":
    return {fingerprint: name for name in names() for fingerprint in get_format(name).spec.templates}


def for_model(model_id: str) -> "Format":
    """The built-in format that serves the Hugging Face model ``model_id``."""
    index = model_index()
    name = index.get(model_id)
    if name is None and isinstance(model_id, str):
        folded = {m.lower(): n for m, n in index.items()}
        name = folded.get(model_id.lower())
    if name is None:
        raise UnknownFormatError("for model", str(model_id), _close(str(model_id), list(index)))
    return get_format(name)


def _close(name: str, choices: "List[str]") -> "List[str]":
    import difflib

    close = difflib.get_close_matches(name, choices, n=3, cutoff=0.6)
    if not close and "/" in name:
        tail = name.rsplit("/", 1)[1].lower()
        close = [c for c in choices if tail and tail in c.lower()][:3]
    return close
