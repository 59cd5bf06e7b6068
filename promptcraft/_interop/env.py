"""transformers' Jinja environment, the one copy promptcraft keeps (verify, import, export checks).

A chat template runs here exactly as ``apply_chat_template`` runs it: an
``ImmutableSandboxedEnvironment`` with ``trim_blocks`` and ``lstrip_blocks``,
the ``loopcontrols`` extension, a ``{% generation %}`` tag that renders its
body, transformers' ``tojson`` (no HTML escaping), ``raise_exception`` and
``strftime_now``; ``None``-valued message keys are dropped before rendering.

``limits`` adds what the sandbox alone does not bound for an untrusted
template: arithmetic that builds huge values (``'a' * 10**9``, ``9**9**9``)
and output beyond a size. Time and memory are bounded by the process that
runs the template (``sandbox.py``), since a pure-Python loop can only be
stopped from outside. jinja2 is imported here only, and only when a function
of this module is called.
"""

from __future__ import annotations

import datetime
import json
from typing import Any, Callable, Dict, Optional

from .._runtime.continuation import alias_reasoning

#: The clock both sides read: templates that call ``strftime_now`` and formats with a date variable agree.
PINNED_NOW = datetime.datetime(2025, 3, 5, 10, 30)


class LimitExceeded(Exception):
    """A template built a value or an output beyond the bounds it runs with."""


def environment(*, max_size: Optional[int] = None,
                now: Callable[[], datetime.datetime] = lambda: PINNED_NOW) -> Any:
    """A fresh environment as transformers builds it, with ``max_size`` bounding built values if given."""
    import jinja2
    from jinja2.ext import Extension, loopcontrols
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class Generation(Extension):
        # transformers' {% generation %} marks assistant spans; rendering ignores it.
        tags = {"generation"}

        def parse(self, parser: Any) -> Any:
            lineno = next(parser.stream).lineno
            body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
            return jinja2.nodes.CallBlock(self.call_method("_body"), [], [], body).set_lineno(lineno)

        def _body(self, caller: Any) -> str:
            return caller()

    class Bounded(ImmutableSandboxedEnvironment):
        intercepted_binops = frozenset({"*", "**", "+"})

        def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
            if max_size is not None:
                _check_binop(operator, left, right, max_size)
            return super().call_binop(context, operator, left, right)

    def raise_exception(message: str) -> None:
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x: Any, ensure_ascii: bool = False, indent: Any = None, separators: Any = None,
               sort_keys: bool = False) -> str:
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    env_class = Bounded if max_size is not None else ImmutableSandboxedEnvironment
    env = env_class(trim_blocks=True, lstrip_blocks=True, extensions=[Generation, loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: now().strftime(fmt)
    return env


def _check_binop(operator: str, left: Any, right: Any, max_size: int) -> None:
    sized = (str, bytes, list, tuple)
    if operator == "*":
        for value, times in ((left, right), (right, left)):
            if isinstance(value, sized) and isinstance(times, int) and len(value) * times > max_size:
                raise LimitExceeded(f"a value of {len(value)} items multiplied by {times}")
        if isinstance(left, int) and isinstance(right, int) and left.bit_length() + right.bit_length() > 4096:
            raise LimitExceeded("an integer product beyond 4096 bits")
    elif operator == "**":
        if isinstance(left, int) and isinstance(right, int) and abs(left) > 1 and right > 4096:
            raise LimitExceeded(f"an integer power with exponent {right}")
    elif isinstance(left, sized) and isinstance(right, sized) and len(left) + len(right) > max_size:
        raise LimitExceeded(f"a concatenation of {len(left) + len(right)} items")


def renderer(template: str, bos: Optional[str] = None, eos: Optional[str] = None, *,
             max_size: Optional[int] = None,
             now: Callable[[], datetime.datetime] = lambda: PINNED_NOW) -> Callable[..., str]:
    """A function rendering messages through ``template`` as ``apply_chat_template(tokenize=False)`` does
    (before ``continue_final_message``, which works on the rendered text)."""
    compiled = environment(max_size=max_size, now=now).from_string(template)
    tokens = {k: v for k, v in (("bos_token", bos), ("eos_token", eos)) if v is not None}

    def render(messages: Any, add_generation_prompt: bool = False, **variables: Any) -> str:
        cleaned = [{k: v for k, v in alias_reasoning(m).items() if v is not None} if isinstance(m, dict) else m
                   for m in messages]
        # transformers passes tools and documents always, None when not given: `tools is none` holds and
        # `for tool in tools` raises, as in apply_chat_template.
        context: Dict[str, Any] = {"tools": None, "documents": None, **tokens, **variables, "messages": cleaned,
                                   "add_generation_prompt": add_generation_prompt}
        if max_size is None:
            return compiled.render(context)
        pieces, size = [], 0
        for piece in compiled.generate(context):
            size += len(piece)
            if size > max_size:
                raise LimitExceeded(f"output beyond {max_size} characters")
            pieces.append(piece)
        return "".join(pieces)

    return render
