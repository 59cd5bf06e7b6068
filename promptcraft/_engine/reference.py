"""The reference interpreter: a slow, plain reading of a ``FormatSpec``.

It is the definition of what a format means. The compiled renderers are
property-tested against it, and they hand any input their fast path cannot
take (a malformed message, a tuple of messages) to it, so that errors are
reported in one place and one way.
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional

from ..errors import RefusedError
from .._runtime.messages import Message, normalize
import attrs

from .._spec.model import FormatSpec, Reasoning, ReasoningDisplay, Role, Text
from .._runtime.variables import resolve


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
    want = "a user message" if position % 2 == 0 else "a non-user message"
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


def refuse_containing(spec: FormatSpec, message: Message, role: Role, found: str) -> RefusedError:
    text = role.refuse_containing_message or f"content must not contain {found!r}"
    return RefusedError(
        f"format {spec.name!r} refuses this content: {text}",
        index=message.index, role=message.role, rule="content", template_message=text,
    )


def strip_reasoning(content: str, rule: Reasoning) -> str:
    """The part of ``content`` that ``rule`` keeps (see ``Reasoning``)."""
    if rule.marker in content:
        if rule.keep == "after_first":
            content = content.split(rule.marker, 1)[1]
        else:
            content = content.split(rule.marker)[-1]
    elif not rule.always:
        return content
    return content.lstrip(rule.lstrip) if rule.lstrip else content


def last_query(spec: FormatSpec, conversation: List[Message]) -> int:
    """Index of the last user message that is a query (see ``ReasoningDisplay``)."""
    display = spec.reasoning
    assert display is not None
    user = spec.role("user")
    for message in reversed(conversation):
        if message.role != "user":
            continue
        text = trim(message.content, user.trim if user is not None else "none")
        if display.query_exclude and text.startswith(display.query_exclude[0]) and text.endswith(display.query_exclude[1]):
            continue
        return message.index
    if display.no_query == "refuse":
        text = display.no_query_message or ""
        raise RefusedError(f"format {spec.name!r} needs a user query: {text}", rule="reasoning", template_message=text)
    return len(conversation) - 1


def show_reasoning(display: ReasoningDisplay, content: str, after_query: bool, final: bool,
                   values: Optional[Dict[str, Any]] = None) -> str:
    """The content as written: the answer alone, or reasoning and answer through the template."""
    if display.close in content:
        reasoning = content.split(display.close)[0].rstrip("\n").split(display.open)[-1].lstrip("\n")
        answer = content.split(display.close)[-1].lstrip("\n")
    else:
        reasoning, answer = "", content
    reasoning = reasoning.strip("\n") if display.reasoning_trim == "newlines" else reasoning.strip()
    if after_query and (display.show == "always" or final or reasoning):
        return display.template.fill({**(values or {}), "reasoning": reasoning, "content": answer.lstrip("\n")})
    return answer


def render(
    spec: FormatSpec,
    messages: Any,
    add_generation_prompt: bool = False,
    variables: Optional[Mapping[str, Any]] = None,
) -> str:
    """Render ``messages`` as ``spec`` declares, one rule at a time."""
    conversation = normalize(messages, spec)
    values: Dict[str, Any] = resolve(spec, variables or {})
    system = spec.system
    first = conversation[0]
    final_index = len(conversation) - 1

    out: List[str] = []
    if not spec.start_when_first or first.role in spec.start_when_first:
        out.append(spec.start.fill(values))

    body = conversation
    system_text: Optional[str] = None
    if system.placement == "hoist":
        found = [trim(m.content, system.trim) for m in conversation if m.role in system.leading_roles]
        if system.select == "last":
            found = found[-1:]
        body = [m for m in conversation if m.role not in system.leading_roles]
        item = system.item_prefix.fill(values)
        out.append(system.prefix.fill(values) + system.join.join(item + text for text in found)
                   + system.suffix.fill(values))
    elif first.role in system.leading_roles and system.placement != "message":
        if system.placement == "refuse":
            raise refuse_system(spec, first)
        if system.keep_empty and first.content == "":
            # An empty leading system message is not taken out: its role writes it where it is.
            system_text = system.default.fill(values) if system.default is not None else None
        else:
            body = conversation[1:]
            if not (system.skip_empty and first.content == ""):
                system_text = trim(first.content, system.trim)
                if system.wrap is not None:
                    system_text = system.wrap.fill({**values, "system": system_text})
    elif system.default is not None:
        if system.default_when == "no_system":
            missing = all(m.role not in system.leading_roles for m in conversation)
        else:
            missing = first.role not in system.leading_roles
        if missing:
            system_text = system.default.fill(values)

    if system_text is not None:
        if system.placement == "block":
            out.append(system.prefix.fill(values) + system_text + system.suffix.fill(values))
        elif system.placement == "message":
            writer = spec.role(system.leading_roles[0])
            out.append(write(writer, system.leading_roles[0], system_text, values, False, add_generation_prompt, None))

    fold_target = None
    if system_text is not None and body:
        if system.placement == "fold_first":
            fold_target = body[0].index
        elif system.placement == "fold_last" and body[-1].role == "user":
            fold_target = body[-1].index

    query = last_query(spec, conversation) if spec.reasoning is not None else -1
    previous: Optional[str] = None
    for position, message in enumerate(body):
        if spec.alternation is not None and (message.role == "user") != (position % 2 == 0):
            raise refuse_alternation(spec, message, position)
        role = spec.role(message.role)
        if role is None or role.refuse is not None:
            raise refuse_role(spec, message, role)
        if role.drop:
            continue
        content = message.content
        for needle in role.refuse_containing:
            if needle in content:
                raise refuse_containing(spec, message, role, needle)
        final = message.index == final_index
        if role.strip_reasoning is not None and (role.strip_reasoning.scope == "all" or not final):
            content = strip_reasoning(content, role.strip_reasoning)
        if message.index == fold_target:
            assert system.fold is not None and system_text is not None
            if system.fold_order == "trim_then_fold":
                content = trim(content, role.trim)
                role = attrs.evolve(role, trim="none")
            content = system.fold.fill({**values, "system": system_text, "content": content})
        if spec.reasoning is not None and message.role == spec.reasoning.role:
            content = show_reasoning(spec.reasoning, trim(content, role.trim), message.index > query, final, values)
            role = attrs.evolve(role, trim="none")
        written = write(role, message.role, content, values, final, add_generation_prompt, previous)
        out.append(written)
        previous = message.role

    out.append(spec.generation.text(add_generation_prompt, previous, bool(body)).fill(values))
    return "".join(out)


def write(role: Optional[Role], name: str, content: str, values: Dict[str, Any], final: bool,
           add_generation_prompt: bool, previous: Optional[str]) -> str:
    assert role is not None
    scope = {**values, "role": name}
    content = trim(content, role.trim)
    if content == "":
        if role.skip_empty:
            return ""
        if role.when_empty is not None:
            return role.when_empty.fill(scope)
    prefix = dict(role.prefix_after).get(previous, role.prefix) if previous is not None else role.prefix
    suffix = role.suffix
    if final:
        chosen = role.final_suffix_with_prompt if add_generation_prompt else role.final_suffix
        if chosen is not None:
            suffix = chosen
    return prefix.fill(scope) + content + suffix.fill(scope)
