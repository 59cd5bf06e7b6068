"""What generated renderers call at run time, and nothing heavier.

A renderer's globals are these helpers only. Two of them belong to one
format and are injected by whoever builds it: ``_fallback``, which renders (or
refuses, with the precise error) what the fast path hands on, and ``_options``,
which reads the format's declaration for the rare options. The others are
shared. Nothing here imports the spec model, attrs or the reference
interpreter: the common render path imports nothing.
"""

from __future__ import annotations

from .unhandled import Unhandled
from .variables import bad_switch, bad_variable, looked_up, mapping_text, missing_variable, number, serialised, today

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, Optional


def function_name(format_name: str) -> str:
    return "render_" + format_name.replace("-", "_").replace(".", "_")




def hand_on(render: "Any", position: int, messages: "Any", **options: "Any") -> "Any":
    """``render(messages, **options)`` for a batch's conversation at ``position``, which a
    conversation error then names."""
    from ..errors import ConversationError

    try:
        return render(messages, **options)
    except ConversationError as error:
        error.conversation = position
        raise


def collect_errors(render_many: "Any", render: "Any", conversations: "Any", errors: str,
                   options: "Dict[str, Any]") -> list:
    """``render_many(..., errors="collect")``: the prompts, with each failing conversation's error in
    its place. A bad option (``OptionsError``) is no conversation's fault: it is raised."""
    from ..errors import ConversationError, OptionsError

    if errors != "collect":
        raise OptionsError(f"errors must be 'raise' or 'collect', got {errors!r}")
    batch = list(conversations)
    try:  # the batch function while nothing fails; the rare failure is worked out one by one
        return render_many(batch, **options)
    except ConversationError:
        pass
    results: list = []
    for position, conversation in enumerate(batch):
        try:
            results.append(hand_on(render, position, conversation, **options))
        except ConversationError as error:
            results.append(error)
    return results


_allowed_sets: "Dict[Any, frozenset]" = {}


def extra_fields(message: "Any", allowed: "Any") -> bool:
    """Whether ``message`` has a field outside ``allowed`` whose value is not ``None`` (the
    generated fast path asks this of a message with more than two keys)."""
    keys = _allowed_sets.get(allowed)
    if keys is None:
        keys = _allowed_sets[allowed] = frozenset(allowed)
    if message.keys() <= keys:  # the common case, one set operation in C
        return False
    return any(value is not None and key not in allowed for key, value in message.items())


def reasoning_of(message: "Any", order: "Any" = ("reasoning_content", "thinking", "reasoning")) -> "Any":
    """The first of a message's reasoning fields that is not ``None``, in the order the template's
    field takes them (transformers' aliasing; ``_runtime.messages.reasoning_order``)."""
    for name in order:
        value = message.get(name)
        if value is not None:
            return value
    return None


def options_handler(get_spec: "Callable[[], Any]", resolve: "Any" = None) -> "Callable[..., Any]":
    """The ``_options`` of one format: unknown keywords, the control-token policy, continuation.

    ``get_spec`` returns the format's declaration; a precompiled built-in format builds it
    only when one of these options is first used; ``resolve`` finds a built-in format by name (the
    ``tool_use`` one, which renders whenever tools are given).
    """
    guards: "Dict[str, Any]" = {}

    def _options(render: "Any", messages: "Any", add_generation_prompt: bool, continue_final_message: "Any",
                 control_tokens: str, unknown: "Dict[str, Any]", given: "Dict[str, Any]") -> "Any":
        if unknown.get("tools") is not None and get_spec().tool_use is not None:
            keywords = {**{k: v for k, v in given.items() if v is not None}, **unknown}
            return _tool_use(resolve(get_spec().tool_use), render, messages, add_generation_prompt,
                             continue_final_message, control_tokens, keywords)
        # Tools and documents the format does not write are refused after the variables are checked, in
        # the reference's order.
        inputs: "Dict[str, Any]" = {name: unknown.pop(name) for name in ("tools", "documents")
                                    if name in unknown} if unknown else {}
        strict = unknown.pop("strict", True) if unknown else True
        if strict is not True and strict is not False:
            from ..errors import OptionsError

            raise OptionsError(f"strict must be True or False, got {strict!r}")
        if unknown and not strict:
            # strict=False: keywords the format does not read are left out, as transformers leaves out
            # template variables a template does not read (tools and documents are still refused below).
            unknown = {}
        if unknown:
            from .variables import unknown_variables

            raise unknown_variables(get_spec(), unknown)
        if inputs:
            from ..errors import UnsupportedFieldError

            try:
                _render_inputs(get_spec(), inputs)
            except UnsupportedFieldError:
                # A bad variable is what the reference names first; checked only here, where it matters.
                from .variables import resolve as check_variables

                check_variables(get_spec(), {k: v for k, v in given.items() if k not in ("tools", "documents")})
                raise
        if control_tokens != "keep":
            guard = guards.get("guard")
            if guard is None:
                from .control import Guard

                guard = guards["guard"] = Guard(get_spec())
            messages = guard.apply(messages, control_tokens)
        if continue_final_message:
            from .continuation import both_flags, continue_final

            if add_generation_prompt:
                raise both_flags()
            return continue_final(render, messages, given, get_spec(), continue_final_message)
        return render(messages, add_generation_prompt=add_generation_prompt, **given)

    return _options


def _tool_use(target: "Any", render: "Any", messages: "Any", add_generation_prompt: bool,
              continue_final_message: bool, control_tokens: str, keywords: "Dict[str, Any]") -> "Any":
    """The render (or spans) of the format ``target``, which serves a model's named ``tool_use``
    template: transformers picks that template whenever ``tools`` is given, and so does a format that
    names it in ``tool_use``."""
    function = target.render_spans if render.__code__.co_name == "render_spans" else target.render
    return function(messages, add_generation_prompt=add_generation_prompt,
                    continue_final_message=continue_final_message, control_tokens=control_tokens, **keywords)


def _render_inputs(spec: "Any", unknown: "Dict[str, Any]") -> "Dict[str, Any]":
    """The keywords left once ``tools`` and ``documents`` are taken out of ``unknown``: ``None`` or an
    empty list (what the templates' ``if tools`` skips) is accepted by every format; anything else is
    refused by a format that does not write it, rather than left out."""
    from ..errors import UnsupportedFieldError

    rest = dict(unknown)
    for name in ("tools", "documents"):
        if name not in rest:
            continue
        value = rest.pop(name)
        rules = spec.tools if name == "tools" else None
        carried = rules is not None and rules.placement == "message"
        empty = not isinstance(value, (str, bytes, dict)) and hasattr(value, "__len__") and len(value) == 0
        if value is None or (empty and (rules is None or rules.empty == "none" or carried)):
            continue
        if carried:
            raise UnsupportedFieldError(f"format {spec.name!r} writes the tool definitions a message carries in its "
                                        "'tools' field (its template reads no others): those passed to render are "
                                        "refused rather than left out", field=name)
        what = "tool definitions" if name == "tools" else "documents"
        raise UnsupportedFieldError(f"format {spec.name!r} does not write {what}, so they are refused rather "
                                    "than left out", field=name)
    return rest


def spans_namespace(base: "Dict[str, Any]", spans_fallback: "Callable[..., Any]", stop: "Any",
                    leading: "Any") -> "Dict[str, Any]":
    """The globals of ``render_spans``: ``render``'s, and what builds a ``Rendered`` (loaded only here)."""
    from .rendered import Rendered, trim_pieces

    return dict(base, _Rendered=Rendered.of_format(stop, leading), _spans_fallback=spans_fallback,
                _trim_pieces=trim_pieces)


def namespace(fallback: "Callable[..., Any]", options: "Callable[..., Any]",
              into: "Optional[Dict[str, Any]]" = None) -> "Dict[str, Any]":
    """The globals of one format's generated functions (see ``pygen.HELPERS``), added to ``into``
    (a precompiled module's own globals) when given."""
    found: "Dict[str, Any]" = {} if into is None else into

    def swap(name: str, module: str = "tools") -> "Callable[..., Any]":
        """``_runtime.MODULE.NAME``, imported when first called (json and marshal load only for tools,
        documents); that call puts the function itself in these globals, so later calls pay no extra
        layer. A copy of these globals (``render_spans``') keeps this stand-in, which then costs one call."""
        function: "Optional[Callable[..., Any]]" = None

        def first_call(*args: "Any") -> "Any":
            nonlocal function
            if function is None:
                import importlib

                function = found["_" + name] = getattr(importlib.import_module("." + module, __package__), name)
            return function(*args)

        return first_call

    # Light (errors and unhandled only), and _has_image runs on plain renders: bound here, not swapped.
    from . import parts

    found.update({
        # Builtins under names of their own, so that a variable called `len` shadows nothing.
        "_isinstance": isinstance, "_len": len, "_any": any, "_all": all, "_enumerate": enumerate, "_str": str,
        "_TypeError": TypeError, "_LookupError": LookupError, "_AttributeError": AttributeError,
        "_fallback": fallback,
        "_options": options,
        "_hand_on": hand_on,
        "_Unhandled": Unhandled,
        "_bad_variable": bad_variable,
        "_bad_switch": bad_switch,
        "_missing_variable": missing_variable,
        "_today": today,
        "_serialised": serialised,
        "_extra_fields": extra_fields,
        "_reasoning_of": reasoning_of,
        "_tools_text": swap("tools_text"),
        "_call_parts": swap("call_parts"),
        "_call_numbers": swap("call_numbers"),
        "_call_messages": swap("call_messages"),
        "_tojson": swap("tojson"),
        "_parts_text": parts.text,
        "_first_text": parts.first_text,
        "_has_image": parts.has_image,
        "_documents_text": swap("documents_text", "documents"),
        "_mapping_text": mapping_text,
        "_number": number,
        "_looked_up": looked_up,
        "_call_id": swap("call_id"),
        "_same_message": swap("same_message"),
    })
    return found
