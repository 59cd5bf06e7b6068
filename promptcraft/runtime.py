"""What generated renderers call at run time, and nothing heavier.

A renderer's globals are these helpers only. They import their machinery
(the reference interpreter, the attrs model, regex) when first called, which
happens on rare paths only: malformed input, refusals, continuation, the
control-token policy. The common render path imports nothing.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, Mapping

    from .model import FormatSpec


def function_name(format_name: str) -> str:
    return "render_" + format_name.replace("-", "_").replace(".", "_")


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

    def _continue(render: "Any", messages: "Any", given: "Dict[str, Any]") -> str:
        from .continuation import continue_final

        return continue_final(render, messages, given)

    def _both_flags() -> Exception:
        from .continuation import both_flags

        return both_flags()

    def _refuse_system(messages: "Any") -> Exception:
        from . import reference
        from .conversation import normalize

        return reference.refuse_system(get_spec(), normalize(messages)[0])

    def _refuse_alternation(messages: "Any", index: int, position: int) -> Exception:
        from . import reference
        from .conversation import normalize

        return reference.refuse_alternation(get_spec(), normalize(messages)[index], position)

    def _refuse_role(messages: "Any", index: int) -> Exception:
        from . import reference
        from .conversation import normalize

        spec = get_spec()
        message = normalize(messages)[index]
        return reference.refuse_role(spec, message, spec.role(message.role))

    def _refuse_content(messages: "Any", index: int) -> Exception:
        from . import reference
        from .conversation import normalize

        spec = get_spec()
        message = normalize(messages)[index]
        role = spec.role(message.role)
        assert role is not None
        needle = next(n for n in role.refuse_containing if n in message.content)
        return reference.refuse_containing(spec, message, role, needle)

    def _refuse_no_query(messages: "Any") -> Exception:
        from . import reference
        from .conversation import normalize
        from .errors import RefusedError

        try:
            reference.last_query(get_spec(), normalize(messages))
        except RefusedError as error:  # the refusal, with its message
            return error
        raise AssertionError("a query was found")  # pragma: no cover

    guards: list = []

    def _guard(messages: "Any", policy: str) -> "Any":
        if not guards:
            from .control import Guard

            guards.append(Guard(get_spec()))
        return guards[0].apply(messages, policy)

    return {
        "_fallback": _fallback,
        "_continue": _continue,
        "_both_flags": _both_flags,
        "_unknown_variables": lambda given: variables.unknown_variables(get_spec(), given),
        "_bad_variable": variables.bad_variable,
        "_bad_switch": variables.bad_switch,
        "_missing_variable": variables.missing_variable,
        "_today": variables.today,
        "_refuse_system": _refuse_system,
        "_refuse_alternation": _refuse_alternation,
        "_refuse_role": _refuse_role,
        "_refuse_content": _refuse_content,
        "_refuse_no_query": _refuse_no_query,
        "_guard": _guard,
    }
