"""What generated renderers call at run time, and nothing heavier.

A renderer's globals are these helpers only. They import their machinery
(the reference interpreter, the attrs model, regex) when first called, which
happens on rare paths only: malformed input, refusals, continuation, the
control-token policy, unknown keywords. The common render path imports nothing.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, Mapping

    from .model import FormatSpec


def function_name(format_name: str) -> str:
    return "render_" + format_name.replace("-", "_").replace(".", "_")


class Unhandled(Exception):
    """Raised by a renderer's fast path for input it leaves to the reference interpreter: a
    refusal, whose error the reference words and places. Never escapes a renderer."""


def hand_on(render: "Any", position: int, messages: "Any", **options: "Any") -> str:
    """``render(messages, **options)`` for a batch's conversation at ``position``, which a
    conversation error then names."""
    from .errors import ConversationError

    try:
        return render(messages, **options)
    except ConversationError as error:
        error.conversation = position
        raise


def extra_fields(message: "Any", allowed: "Any") -> bool:
    """Whether ``message`` has a field outside ``allowed`` whose value is not ``None`` (the
    generated fast path asks this of a message with more than two keys)."""
    return any(value is not None and key not in allowed for key, value in message.items())


def helpers(get_spec: "Callable[[], FormatSpec]") -> "Dict[str, Any]":
    """The globals of a generated renderer (see ``codegen.HELPERS``).

    ``get_spec`` returns the format's declaration; a precompiled built-in
    format builds it only when a helper needs it.
    """
    from . import variables

    def _fallback(messages: "Any", add_generation_prompt: bool, given: "Mapping[str, Any]") -> str:
        from . import reference

        values = {k: v for k, v in given.items() if v is not None}
        return reference.render(get_spec(), messages, add_generation_prompt, values)

    guards: list = []

    def _options(render: "Any", messages: "Any", add_generation_prompt: bool, continue_final_message: bool,
                 control_tokens: str, unknown: "Dict[str, Any]", given: "Dict[str, Any]") -> str:
        """The options a render rarely gets: unknown keywords, the control-token policy, continuation."""
        if unknown:
            raise variables.unknown_variables(get_spec(), unknown)
        if control_tokens != "keep":
            if not guards:
                from .control import Guard

                guards.append(Guard(get_spec()))
            messages = guards[0].apply(messages, control_tokens)
        if continue_final_message:
            from .continuation import both_flags, continue_final

            if add_generation_prompt:
                raise both_flags()
            return continue_final(render, messages, given, get_spec())
        return render(messages, add_generation_prompt=add_generation_prompt, **given)

    return {
        "_fallback": _fallback,
        "_hand_on": hand_on,
        "_options": _options,
        "_Unhandled": Unhandled,
        "_bad_variable": variables.bad_variable,
        "_bad_switch": variables.bad_switch,
        "_missing_variable": variables.missing_variable,
        "_today": variables.today,
        "_extra_fields": extra_fields,
    }
