"""Compiling generated source into a render function, once per format.

As attrs does for its generated methods, the source is registered with
``linecache`` under a name of its own, so tracebacks, ``pdb`` and
``inspect.getsource`` show the generated lines.
"""

from __future__ import annotations

import linecache
import threading
from typing import Any, Callable, Dict, Tuple

from .codegen import generate, generate_batch
from .model import FormatSpec
from .runtime import function_name, helpers

_cache: Dict[FormatSpec, Tuple[Callable[..., str], str]] = {}
_batch_cache: Dict[FormatSpec, Tuple[Callable[..., list], str]] = {}
_lock = threading.Lock()


def _register(name: str, source: str) -> str:
    base = f"<promptcraft format {name}>"
    filename = base
    count = 1
    while True:
        entry = (len(source), None, source.splitlines(True), filename)
        if linecache.cache.setdefault(filename, entry) == entry:
            return filename
        filename = f"{base[:-1]}-{count}>"
        count += 1


def _once(cache: Dict[FormatSpec, Any], spec: FormatSpec, build: Callable[[], Any]) -> Any:
    """``cache[spec]``, built by ``build()`` the first time, by one thread only."""
    found = cache.get(spec)
    if found is not None:
        return found
    with _lock:
        found = cache.get(spec)
        if found is None:
            found = cache[spec] = build()
        return found


def compile_spec(spec: FormatSpec) -> Tuple[Callable[..., str], str]:
    """Return ``(render, source)`` for ``spec``, compiling it on first use."""

    def build() -> Tuple[Callable[..., str], str]:
        source = generate(spec)
        namespace = helpers(lambda: spec)
        namespace["__name__"] = f"promptcraft.formats.{spec.name}"
        exec(compile(source, _register(spec.name, source), "exec"), namespace)
        render = namespace["render"]
        render.__qualname__ = render.__name__ = function_name(spec.name)
        return render, source

    return _once(_cache, spec, build)


def compile_batch(spec: FormatSpec, render: Callable[..., str]) -> Tuple[Callable[..., list], str]:
    """Return ``(render_many, source)`` for ``spec``, whose ``render`` is given: compiled on first
    use only, so that loading a format does not pay for it."""

    def build() -> Tuple[Callable[..., list], str]:
        source = generate_batch(spec)
        namespace = render.__globals__  # the helpers and render itself, which it calls
        exec(compile(source, _register(spec.name + " render_many", source), "exec"), namespace)
        many = namespace["render_many"]
        many.__qualname__ = many.__name__ = function_name(spec.name) + "_many"
        return many, source

    return _once(_batch_cache, spec, build)
