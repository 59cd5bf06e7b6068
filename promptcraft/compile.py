"""Compiling generated source into a render function, once per format.

As attrs does for its generated methods, the source is registered with
``linecache`` under a name of its own, so tracebacks, ``pdb`` and
``inspect.getsource`` show the generated lines.
"""

from __future__ import annotations

import linecache
import threading
from typing import Any, Callable, Dict, Mapping, Tuple

from . import reference
from .codegen import generate
from .continuation import both_flags, continue_final
from .control import Guard
from .conversation import normalize
from .model import FormatSpec
from .variables import bad_switch, bad_variable, missing_variable, today, unknown_variables

_cache: Dict[FormatSpec, Tuple[Callable[..., str], str]] = {}
_lock = threading.Lock()


def _helpers(spec: FormatSpec) -> Dict[str, Any]:
    """The globals of a generated renderer: only these helpers, no builtins beyond the defaults."""

    def _fallback(messages: Any, add_generation_prompt: bool, variables: Mapping[str, Any]) -> str:
        given = {k: v for k, v in variables.items() if v is not None}
        return reference.render(spec, messages, add_generation_prompt, given)

    def _refuse_system(messages: Any) -> Exception:
        return reference.refuse_system(spec, normalize(messages)[0])

    def _refuse_alternation(messages: Any, index: int, position: int) -> Exception:
        return reference.refuse_alternation(spec, normalize(messages)[index], position)

    def _refuse_role(messages: Any, index: int) -> Exception:
        message = normalize(messages)[index]
        return reference.refuse_role(spec, message, spec.role(message.role))

    def _refuse_content(messages: Any, index: int) -> Exception:
        message = normalize(messages)[index]
        role = spec.role(message.role)
        assert role is not None
        needle = next(n for n in role.refuse_containing if n in message.content)
        return reference.refuse_containing(spec, message, role, needle)

    def _refuse_no_query(messages: Any) -> Exception:
        try:
            reference.last_query(spec, normalize(messages))
        except Exception as error:  # the refusal, with its message
            return error
        raise AssertionError("a query was found")  # pragma: no cover

    return {
        "__name__": f"promptcraft.formats.{spec.name}",
        "_refuse_no_query": _refuse_no_query,
        "_bad_switch": bad_switch,
        "_missing_variable": missing_variable,
        "_refuse_content": _refuse_content,
        "_fallback": _fallback,
        "_continue": continue_final,
        "_both_flags": both_flags,
        "_unknown_variables": lambda given: unknown_variables(spec, given),
        "_bad_variable": bad_variable,
        "_today": today,
        "_refuse_system": _refuse_system,
        "_refuse_alternation": _refuse_alternation,
        "_refuse_role": _refuse_role,
        "_guard": Guard(spec).apply,
    }


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


def compile_spec(spec: FormatSpec) -> Tuple[Callable[..., str], str]:
    """Return ``(render, source)`` for ``spec``, compiling it on first use."""
    cached = _cache.get(spec)
    if cached is not None:
        return cached
    with _lock:
        cached = _cache.get(spec)
        if cached is not None:
            return cached
        source = generate(spec)
        filename = _register(spec.name, source)
        namespace = _helpers(spec)
        exec(compile(source, filename, "exec"), namespace)
        render = namespace["render"]
        render.__qualname__ = render.__name__ = f"render_{spec.name.replace('-', '_').replace('.', '_')}"
        _cache[spec] = (render, source)
        return render, source
