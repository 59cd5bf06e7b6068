"""The reference interpreter: a slow, plain reading of a ``FormatSpec``.

It is the definition of what a format means. The compiled renderers are
property-tested against it, and they hand any input their fast path cannot
take (a malformed message, a tuple of messages) to it, so that errors are
reported in one place and one way.
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional

from .conversation import Message, normalize
from .errors import RefusedError
from .model import FormatSpec, Role, Text
from .variables import resolve


def trim(text: str, how: str) -> str:
    if how == "both":
        return text.strip()
    if how == "left":
        return text.lstrip()
    if how == "right":
        return text.rstrip()
    return text


def refuse_system(spec: FormatSpec, message: Message) -> RefusedError:
    text = spec.system.refuse_message or ""
    return RefusedError(
        f"format {spec.name!r} refuses a system message: {text}",
        index=message.index, role=message.role, rule="system", template_message=text,
    )


def refuse_alternation(spec: FormatSpec, message: Message, position: int) -> RefusedError:
    text = spec.alternation.message if spec.alternation else ""
    want = "a user message" if position % 2 == 0 else "not a user message"
    return RefusedError(
        f"format {spec.name!r} expects {want} here: {text}",
        index=message.index, role=message.role, rule="alternation", template_message=text,
    )


def refuse_role(spec: FormatSpec, message: Message, role: Optional[Role]) -> RefusedError:
    if role is not None and role.refuse is not None:
        return RefusedError(
            f"format {spec.name!r} refuses role {message.role!r}: {role.refuse}",
            index=message.index, role=message.role, rule="role", template_message=role.refuse,
        )
    declared = ", ".join(repr(r.name) for r in spec.roles)
    return RefusedError(
        f"format {spec.name!r} has no role {message.role!r} (it declares {declared})",
        index=message.index, role=message.role, rule="unknown_role",
    )


def render(
    spec: FormatSpec,
    messages: Any,
    add_generation_prompt: bool = False,
    variables: Optional[Mapping[str, Any]] = None,
) -> str:
    """Render ``messages`` as ``spec`` declares, one rule at a time."""
    conversation = normalize(messages)
    values: Dict[str, Any] = resolve(spec, variables or {})
    system = spec.system
    out: List[str] = [spec.start.fill(values)]

    rest = conversation
    system_text: Optional[str] = None
    first = conversation[0]
    if first.role == "system" and system.placement != "message":
        if system.placement == "refuse":
            raise refuse_system(spec, first)
        system_text = trim(first.content, system.trim)
        rest = conversation[1:]
    elif first.role != "system":
        system_text = system.default

    if system_text is not None:
        if system.placement == "block":
            out.append(system.prefix.fill(values) + system_text + system.suffix.fill(values))
        elif system.placement == "message":
            out.append(_write(spec.role("system"), "system", system_text, values))

    for position, message in enumerate(rest):
        if spec.alternation is not None and (message.role == "user") != (position % 2 == 0):
            raise refuse_alternation(spec, message, position)
        role = spec.role(message.role)
        if role is None or role.refuse is not None:
            raise refuse_role(spec, message, role)
        if role.drop:
            continue
        content = message.content
        if position == 0 and system.placement == "fold_first" and system_text is not None:
            assert system.fold is not None
            content = system.fold.fill({**values, "system": system_text, "content": content})
        out.append(_write(role, message.role, content, values))

    generation = spec.generation.prompt if add_generation_prompt else spec.generation.otherwise
    out.append(generation.fill(values))
    return "".join(out)


def _write(role: Optional[Role], name: str, content: str, values: Dict[str, Any]) -> str:
    assert role is not None
    if role.skip_empty and content == "":
        return ""
    scope = {**values, "role": name}
    return role.prefix.fill(scope) + trim(content, role.trim) + role.suffix.fill(scope)


def fill(text: Text, values: Dict[str, Any]) -> str:
    return text.fill(values)
