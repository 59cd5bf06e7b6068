"""Compiling generated source into functions, once per declaration.

As attrs does for its generated methods, the source is registered with
``linecache`` under a name of its own, so tracebacks, ``pdb`` and
``inspect.getsource`` show the generated lines.
"""

from __future__ import annotations

import linecache
import threading
from typing import Any, Callable, Dict, Tuple

from .._runtime.helpers import function_name

_cache: Dict[Tuple[Any, str], Tuple[Callable[..., Any], str]] = {}
_lock = threading.Lock()


def register(name: str, source: str) -> str:
    """A ``linecache`` file name of its own for ``source``."""
    base = f"<promptcraft format {name}>"
    filename = base
    count = 1
    while True:
        entry = (len(source), None, source.splitlines(True), filename)
        if linecache.cache.setdefault(filename, entry) == entry:
            return filename
        filename = f"{base[:-1]}-{count}>"
        count += 1


def once(key: Tuple[Any, str], build: Callable[[], Tuple[Callable[..., Any], str]]) -> Tuple[Callable[..., Any], str]:
    """``build()`` the first time ``key`` is asked for, by one thread only; the cached result after."""
    found = _cache.get(key)
    if found is not None:
        return found
    with _lock:
        found = _cache.get(key)
        if found is None:
            found = _cache[key] = build()
        return found


def compile_function(format_name: str, function: str, source: str, namespace: Dict[str, Any],
                     suffix: str = "") -> Callable[..., Any]:
    """Execute ``source`` in ``namespace`` and return its function ``function``, named after the format."""
    label = format_name + (" " + function if function != "render" else "")
    namespace.setdefault("__name__", f"promptcraft.formats.{format_name}")
    exec(compile(source, register(label, source), "exec"), namespace)
    made = namespace[function]
    made.__qualname__ = made.__name__ = function_name(format_name) + suffix
    return made
