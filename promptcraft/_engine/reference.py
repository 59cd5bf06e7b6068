"""The reference interpreter: a slow, plain reading of a ``FormatSpec``.

It is the definition of what a format means. The compiled renderers are
property-tested against it, and they hand any input their fast path cannot
take (a malformed message, a tuple of messages) to it, so that errors are
reported in one place and one way.
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import attrs

from .._runtime.messages import Message, labels_on, normalize, not_text_reasoning, reasoning_order
from .._runtime.variables import given_keys, resolve
from .._runtime.variables import numbers as number_values
from .._spec.model import Calls, Condition, FormatSpec, Reasoning, ReasoningDisplay, Role, Text, Tools
from ..errors import ConversationError, RefusedError, UnsupportedFieldError


def trim(text: str, how: str) -> str:
    if how == "both":
        return text.strip()
    if how == "left":
        return text.lstrip()
    if how == "left_newlines":
        return text.lstrip("\n")
    if how == "right":
        return text.rstrip()
    return text


def trim_reasoning(text: str, how: str) -> str:
    """Reasoning trimmed as ``[reasoning] reasoning_trim`` says: ``newlines``, ``both`` or ``none``."""
    return text.strip("\n") if how == "newlines" else text.strip() if how == "both" else text


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


def refuse_reasoning(spec: FormatSpec, message: Message, found: str) -> RefusedError:
    assert spec.reasoning is not None
    text = spec.reasoning.refuse_containing_message or f"reasoning must not contain {found!r}"
    return RefusedError(f"format {spec.name!r} refuses this reasoning: {text}", index=message.index,
                        role=message.role, rule="reasoning", template_message=text)


def refuse_no_call(spec: FormatSpec, message: Message) -> RefusedError:
    text = (spec.calls.no_call_message if spec.calls is not None else None) or "no call precedes this message"
    return RefusedError(f"format {spec.name!r} refuses this message, which names the previous call: {text}",
                        index=message.index, role=message.role, rule="calls", template_message=text)


def names_call(role: Role) -> bool:
    """Whether the role's texts name the previous call (``{call_name}``)."""
    from .._spec.validate import names_of

    return "call_name" in names_of(role)
def taken_out_name(spec: FormatSpec, message: Message) -> UnsupportedFieldError:
    """A name on a system message taken out of the conversation, where the format writes names of
    messages of its role but the system text has none."""
    return UnsupportedFieldError(f"format {spec.name!r} writes a name for messages of this role, but not for a "
                                 "system message it takes out of the conversation", index=message.index,
                                 role=message.role, field="name")


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
        elif rule.keep == "second_piece":
            content = content.split(rule.marker)[1]
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
        # Parts are tested without their labels (what the fast path reads before counting them).
        text = trim(message.content if message.plain is None else message.plain,
                    user.trim if user is not None else "none")
        excluded = display.query_exclude
        if excluded and text.startswith(excluded[0]) and text.endswith(excluded[1]):
            continue
        return message.index
    if display.no_query == "refuse":
        text = display.no_query_message or ""
        raise RefusedError(f"format {spec.name!r} needs a user query: {text}", rule="reasoning", template_message=text)
    return len(conversation) - 1


Segment = Tuple[str, str, Optional[int]]

SCAFFOLD, CONTENT, REASONING, GENERATION_PROMPT = "scaffold", "content", "reasoning", "generation_prompt"
TOOLS, TOOL_CALLS, DOCUMENTS = "tools", "tool_calls", "documents"


class Request:
    """Facts of the request, the same for every message: tools and documents passed (and written),
    the keys of the mapping variables given and the values of the number variables."""

    def __init__(self, tools: bool, documents: bool, keys: Tuple[Tuple[str, str], ...], thinking: bool,
                 numbers: Optional[Dict[str, Any]] = None) -> None:
        self.tools = tools
        self.documents = documents
        self.keys = keys
        self.thinking = thinking
        self.numbers = numbers or {}

    def holds(self, condition: Condition) -> bool:
        """Whether a condition over request facts only (a system text's variants) holds."""
        return condition.holds(None, None, False, False, False, False, tools=self.tools, thinking=self.thinking,
                               documents=self.documents, keys=self.keys, numbers=self.numbers)


def documents_segments(spec: FormatSpec, documents: Any) -> Optional[List[Segment]]:
    """The documents' text as one segment (``None`` without documents: a false value, as the templates'
    ``if documents`` reads it), or the precise error."""
    if not documents:
        return None
    rules = spec.documents
    if rules is None:
        raise UnsupportedFieldError(f"format {spec.name!r} does not write documents, so they are refused rather "
                                    "than left out", field="documents")
    from .._runtime.documents import write_documents
    from .lower import documents_layout

    return [(write_documents(documents, documents_layout(rules)), DOCUMENTS, None)]


def system_default(spec: FormatSpec, values: Dict[str, Any], request: Request) -> List[Segment]:
    """The default system text: the first of its variants whose condition holds, or each of its parts'."""
    system = spec.system
    assert system.default is not None
    if not system.default_parts:
        return fill(next((text for condition, text in system.default_variants if request.holds(condition)),
                         system.default), values)
    out: List[Segment] = []
    for part in system.default_parts:
        out += fill(next(text for condition, text in part if request.holds(condition)), values)
    return out


def tools_segments(spec: FormatSpec, tools: Any) -> Optional[List[Segment]]:
    """The tool definitions' text as one segment (``None`` without tools), or the precise error."""
    rules = spec.tools
    empty = not isinstance(tools, (str, bytes, Mapping)) and hasattr(tools, "__len__") and len(tools) == 0
    if tools is None or (empty and (rules is None or rules.empty == "none" or rules.placement == "message")):
        return None  # what the templates' `if tools` skips (a message's own tools: any other is refused first)
    if rules is None or rules.placement == "none":
        raise UnsupportedFieldError(f"format {spec.name!r} does not write tool definitions, so they are refused "
                                    "rather than left out", field="tools")
    if empty and rules.empty == "refuse":
        raise UnsupportedFieldError(f"format {spec.name!r} refuses an empty list of tools: its template writes a "
                                    "broken tools block for it (pass None for no tools)", field="tools")
    from .._runtime.tools import builtin_types, checked_tools, join_tools
    from .lower import layout

    texts = layout(rules)
    return [(join_tools(checked_tools(tools, builtin_types(texts)), texts), TOOLS, None)]  # PreparedTools: its own copy


def carried_tools(spec: FormatSpec, message: Message, given: Mapping) -> List[Segment]:
    """The tool definitions a message carries in its ``tools`` field (placement ``message``), written
    before it; nothing without them. Errors name the message and the definition's field."""
    rules = spec.tools
    tools = given.get("tools")
    if rules is None or rules.placement != "message" or tools is None:
        return []
    from .._runtime.tools import builtin_types, checked_tools, join_tools
    from .lower import layout

    texts = layout(rules)
    try:
        empty = isinstance(tools, (list, tuple)) and not tools
        if empty and rules.empty == "none":
            return []
        if empty and rules.empty == "refuse":
            raise UnsupportedFieldError(f"format {spec.name!r} refuses an empty list of tools: its template writes a "
                                        "tools block without definitions for it (leave the field out for none)",
                                        field="tools")
        return [(join_tools(checked_tools(tools, builtin_types(texts)), texts), TOOLS, message.index)]
    except ConversationError as error:
        # Unsupported rather than invalid: the template takes any value here and writes junk for it (a
        # string letter by letter, a definition without a name under an empty heading).
        raise UnsupportedFieldError(error.reason, index=message.index, role=message.role,
                                    field=error.field) from None


def tools_before(spec: FormatSpec, messages: Any, conversation: List[Message]) -> Tuple[int, ...]:
    """``placement = "last_user"``: the indices of the user messages the tools go before, the last one
    and every one the template sees as equal to it; refused when there is none (the template would
    leave the tools out)."""
    users = [m.index for m in conversation if m.role == "user"]
    if not users:
        raise UnsupportedFieldError(f"format {spec.name!r} writes the tools before the last user message, and there "
                                    "is none: its template would leave them out, so they are refused", field="tools")
    from .._runtime.tools import same_message
    from .._runtime.unhandled import Unhandled

    last = messages[users[-1]]
    try:
        return tuple(i for i in users if i == users[-1] or same_message(messages[i], last))
    except Unhandled:
        raise UnsupportedFieldError("a user message's fields are nested too deeply to compare with the last one",
                                    index=users[-1], role="user") from None


def alternates(spec: FormatSpec, messages: Any, message: Message) -> bool:
    """Whether ``message`` counts in the alternation (``[alternation] skip_roles``, ``skip_calls``)."""
    rules = spec.alternation
    assert rules is not None
    if message.role in rules.skip_roles:
        return False
    return not (rules.skip_calls and messages[message.index].get("tool_calls") is not None)


def with_tools(rules: Tools, text: List[Segment], tools: List[Segment], has_text: bool,
               owner: Optional[int]) -> List[Segment]:
    """A system text and the tools' text, in the declared order, ``join`` between them when the
    conversation has a system text (``join_when = "text"``: one that is not empty)."""
    if rules.join_when == "text" and not "".join(t for t, _, _ in text):
        has_text = False
    join = [(rules.join, SCAFFOLD, owner)] if has_text else []
    if rules.placement == "system_before":
        return tools + join + text
    return text + join + tools


def answer(display: ReasoningDisplay, content: str, given: Optional[str]) -> str:
    """The answer a reasoning display writes after the reasoning (before its leading newlines go)."""
    if given is not None or not display.split or display.close not in content:
        return content
    return content.split(display.close)[-1].lstrip("\n")


def call_segments(rules: Calls, calls: List[Tuple[str, ...]], empty: bool, index: Optional[int],
                  earlier_calls: bool = False, final: bool = False, first_number: int = 0) -> List[Segment]:
    """A message's calls: each through the first call text whose condition holds, between the calls'
    prefix and suffix; ``first_number`` is the number of calls written before this message (``{number}``)."""
    out: List[Segment] = [(rules.prefix, TOOL_CALLS, index)] if rules.prefix else []
    typed, extra = rules.typed, rules.extra() is not None
    for position, call in enumerate(calls):
        facts = dict(first=position == 0, empty=empty, earlier_calls=earlier_calls, final=final,
                     last=position == len(calls) - 1)
        text = next((t for c, t in rules.call_when if all(getattr(c, k) in (None, v) for k, v in facts.items())
                     and (c.call_name is None or call[0] in c.call_name)), rules.call)
        # A call is (name, arguments), then its type where the format writes it, then its id and members.
        values = {"name": call[0], "arguments": call[1], "index": str(position), "number": str(first_number + position),
                  "type": call[2] if typed else None}
        if extra:
            values.update(id=call[-2], function_members=call[-1])
        out += fill(text, values, TOOL_CALLS, index)
    return out + ([(rules.suffix, TOOL_CALLS, index)] if rules.suffix else [])


def thinking_mode(spec: FormatSpec, conversation: List[Message], given: Mapping[str, Any]) -> bool:
    """The thinking mode: the switch's value (or the default), then each flag read in order."""
    rules = spec.thinking
    if rules is None:
        return False
    mode = rules.default
    if rules.variable is not None:
        switch = next(v for v in spec.variables if v.name == rules.variable)
        mode = switch.switch_default if given.get(rules.variable) is None else given[rules.variable]
    flags = ((rules.off, False), (rules.on, True))
    for message in conversation[:1] if rules.scope == "first" else conversation:
        if message.role in rules.roles:
            for flag, value in flags if rules.precedence == "off" else flags[::-1]:
                if flag in message.content:
                    mode = value
                    break
    return mode


def removed(text: str, strings: Tuple[str, ...]) -> str:
    """``text`` with each of ``strings`` taken out, one after the other."""
    for string in strings:
        text = text.replace(string, "")
    return text


def fill(text: Text, values: Dict[str, Any], kind: str = SCAFFOLD, index: Optional[int] = None,
         fields: Optional[Dict[str, List[Segment]]] = None) -> List[Segment]:
    """``text`` as segments: literals and variables of ``kind`` owned by ``index``; ``fields`` gives
    the segments of message values (``content``, ``system``, ``reasoning``) with their own kind and owner."""
    out: List[Segment] = []
    for piece in text.pieces:
        if isinstance(piece, str):
            out.append((piece, kind, index))
        elif fields is not None and piece.name in fields:
            out += fields[piece.name]
        else:
            out.append((values[piece.name], kind, index))
    return out


def trim_segments(segments: List[Segment], how: str) -> List[Segment]:
    """``segments`` whose joined text is trimmed as ``trim(text, how)`` would trim it."""
    text = "".join(t for t, _, _ in segments)
    kept = trim(text, how)
    if kept == text:
        return segments
    head = len(text) - len(text.lstrip("\n" if how == "left_newlines" else None)) if how in (
        "both", "left", "left_newlines") else 0
    tail = len(text) - len(text.rstrip()) if how in ("both", "right") else 0
    if head + tail >= len(text):
        return []
    out: List[Segment] = []
    position = 0
    for piece, kind, index in segments:
        start, end = position, position + len(piece)
        position = end
        cut_start, cut_end = max(start, head), min(end, len(text) - tail)
        if cut_start < cut_end:
            out.append((piece[cut_start - start:cut_end - start], kind, index))
    return out


def show_reasoning(display: ReasoningDisplay, content: str, after_query: bool, final: bool,
                   values: Optional[Dict[str, Any]] = None, index: Optional[int] = None,
                   given: Optional[str] = None, visible: Optional[bool] = None) -> Tuple[List[Segment], List[Segment]]:
    """What the message writes before itself, and its content: the answer alone, or reasoning and
    answer through the template (in place of the content, or before the message). ``given``: the
    reasoning from the message's field, which the template then takes as it is, leaving the content
    whole; ``visible``: whether the reasoning is shown, where ``show = "until_answer"`` decided it."""
    if given is not None:
        reasoning, answer = given, content
    elif display.split and display.close in content:
        reasoning = content.split(display.close)[0].rstrip("\n").split(display.open)[-1].lstrip("\n")
        answer = content.split(display.close)[-1].lstrip("\n")
    else:
        reasoning, answer = "", content
    # Whether a turn shows its reasoning depends on the reasoning before it is trimmed, as in the templates.
    present = bool(reasoning)
    if display.reasoning_trim != "none":
        reasoning = reasoning.strip("\n") if display.reasoning_trim == "newlines" else reasoning.strip()
    if visible is None:
        visible = after_query and (display.show == "always" or final or present)
    if not visible:
        return [], [(answer, CONTENT, index)]
    shown = {"reasoning": [(reasoning, REASONING, index)]}
    if display.placement == "before":
        return fill(display.template, values or {}, SCAFFOLD, index, shown), [(answer, CONTENT, index)]
    return [], fill(display.template, values or {}, SCAFFOLD, index,
                    dict(shown, content=[(answer.lstrip("\n"), CONTENT, index)]))


def render(
    spec: FormatSpec,
    messages: Any,
    add_generation_prompt: bool = False,
    variables: Optional[Mapping[str, Any]] = None,
    tools: Any = None,
    documents: Any = None,
) -> str:
    """Render ``messages`` as ``spec`` declares, one rule at a time."""
    return "".join(text for text, _, _ in segments(spec, messages, add_generation_prompt, variables, tools,
                                                   documents))


def segments(
    spec: FormatSpec,
    messages: Any,
    add_generation_prompt: bool = False,
    variables: Optional[Mapping[str, Any]] = None,
    tools: Any = None,
    documents: Any = None,
) -> List[Segment]:
    """The prompt as ``(text, kind, message index)`` segments, in order; the index is ``None`` for
    text the format writes on its own (the start, a default system message, the generation prompt,
    the tool definitions, the documents)."""
    if spec.tool_use is not None and tools is not None:
        # transformers renders with the model's `tool_use` template whenever tools are given.
        target = spec.tool_use_spec
        assert target is not None, "the loader resolves tool_use"
        resolve(target, variables or {})  # the variables given are the target's, checked first as it does
        return segments(target, messages, add_generation_prompt, variables, tools, documents)
    # In the fast path's order: the variables, tools and documents the format does not write (refused
    # before the render starts), the request's tools and documents, then its messages.
    values: Dict[str, Any] = resolve(spec, variables or {})
    undeclared = {name: value for name, value, writes in (
        ("tools", tools, spec.tools is not None and spec.tools.placement not in ("none", "message")),
        ("documents", documents, spec.documents is not None)) if value is not None and not writes}
    if undeclared:
        from .._runtime.helpers import _render_inputs

        _render_inputs(spec, undeclared)
    tooling = tools_segments(spec, tools)
    docs = documents_segments(spec, documents)
    conversation = normalize(messages, spec, labels_on(spec, variables or {}))
    if tools is None and spec.tools is not None and spec.tools.required:
        # After the messages: a malformed conversation is named as such first.
        raise RefusedError(f"format {spec.name!r} needs tools (its template iterates them unguarded and raises "
                           "without): pass tools=[...], or render with the format serving the model's default "
                           "template", rule="tools", field="tools",
                           template_message="'NoneType' object is not iterable")
    thinking = thinking_mode(spec, conversation, variables or {})
    request = Request(tooling is not None, docs is not None, given_keys(spec, variables or {}), thinking,
                      number_values(spec, variables or {}))
    system = spec.system
    first = conversation[0]
    final_index = len(conversation) - 1
    tools_turn = spec.tools.placement if tooling is not None and spec.tools is not None else None

    out: List[Segment] = []
    if not spec.start_when_first or first.role in spec.start_when_first:
        opening = next((text for condition, text in spec.start_when if condition.tools == (tooling is not None)),
                       spec.start)
        out += fill(opening, values)
    if tools_turn == "start":
        assert tooling is not None
        out += tooling

    body = conversation
    # The system text as segments, and the message it came from (None: the format's default).
    system_text: Optional[List[Segment]] = None
    owner: Optional[int] = None
    overridden = False  # the system text holds [system.override]'s marker
    if system.placement == "hoist":
        found = [m for m in conversation if m.role in system.leading_roles]
        named = next((m for m in found if m.name is not None), None)
        if named is not None and "name" not in spec.message.ignore:
            raise taken_out_name(spec, named)
        if system.select == "last":
            found = found[-1:]
        body = [m for m in conversation if m.role not in system.leading_roles]
        items: List[Segment] = []
        for position, message in enumerate(found):
            if position:
                items.append((system.join, SCAFFOLD, None))
            items += fill(system.item_prefix, values, SCAFFOLD, message.index)
            items.append((trim(message.content, system.trim), CONTENT, message.index))
            ending = next((text for condition, text in system.item_suffix_when
                           if condition.tools == (tooling is not None)), system.item_suffix)
            items += fill(ending, values, SCAFFOLD, message.index)
        if tooling is not None and spec.tools is not None and spec.tools.placement in ("system_after", "system_before"):
            items = with_tools(spec.tools, items, tooling, bool(found), None)
        out += fill(system.prefix, values) + items + fill(system.suffix, values)
    elif first.role in system.leading_roles and system.placement != "message":
        if system.placement == "refuse":
            raise refuse_system(spec, first)
        if system.keep_empty and first.content == "":
            # An empty leading system message is not taken out: its role writes it where it is.
            # A default written only with tools (default_when = "tools") still needs them, as the generated code has it.
            system_text = system_default(spec, values, request) if system.default is not None and not (
                system.default_unless == "images" and any("image" in m.media for m in conversation)) and (
                system.default_when != "tools" or tooling is not None) else None
        else:
            if first.name is not None and "name" not in spec.message.ignore:
                raise taken_out_name(spec, first)
            body = conversation[1:]
            if system.refuse_alone is not None and not body:
                text = system.refuse_alone
                raise RefusedError(f"format {spec.name!r} needs a message after the system message: {text}",
                                   index=first.index, role=first.role, rule="system", template_message=text)
            if not (system.skip_empty and first.content == ""):
                owner = first.index
                text = trim(removed(first.content, system.remove), system.trim)
                if system.override is not None and system.override.marker in first.content:
                    overridden = True
                    text = trim(text.replace(system.override.marker, ""), system.trim)
                if system.default_when == "no_text" and text == "" and not overridden:
                    assert system.default is not None
                    system_text = system_default(spec, values, request)
                else:
                    system_text = [(text, CONTENT, owner)]
                    if system.wrap is not None and not overridden:
                        system_text = fill(system.wrap, values, SCAFFOLD, owner, {"system": system_text})
    elif system.default is not None:
        if system.default_when == "no_system":
            missing = all(m.role not in system.leading_roles for m in conversation)
        else:
            missing = first.role not in system.leading_roles
        if missing and system.default_unless == "images":
            missing = not any("image" in m.media for m in conversation)
        if system.default_when == "tools":
            missing = missing and tooling is not None
        if missing:
            system_text = system_default(spec, values, request)

    in_system = spec.tools is not None and spec.tools.placement in ("system_after", "system_before")
    if overridden and tooling is not None and in_system:
        assert system.override is not None
        raise UnsupportedFieldError(f"format {spec.name!r} writes no tool definitions with a system text holding "
                                    f"{system.override.marker!r} (its template leaves them out), so they are "
                                    "refused rather than left out", field="tools")
    if tooling is not None and in_system and system.placement == "block":
        assert spec.tools is not None
        system_text = with_tools(spec.tools, system_text or [], tooling, system_text is not None, owner)
    if tooling is not None and in_system and system.placement == "message" and first.role not in system.leading_roles:
        # A system message is written for the tools.
        assert spec.tools is not None
        block = with_tools(spec.tools, system_text or [], tooling, system_text is not None, None)
        name = system.leading_roles[0]
        out += [(t, k if k == TOOLS else SCAFFOLD, None) for t, k, _ in
                write(spec.role(name), name, block, values, False, add_generation_prompt, None, None, first.role,
                      tools=True, thinking=thinking, request=request)]
    elif system_text is not None:
        if overridden:
            assert system.override is not None
            out += fill(system.override.prefix, values, SCAFFOLD, owner) + system_text + fill(
                system.override.suffix, values, SCAFFOLD, owner)
        elif system.placement == "block":
            prefix = fill(next((text for condition, text in system.prefix_when if request.holds(condition)),
                               system.prefix), values, SCAFFOLD, owner)
            out += prefix + system_text + fill(system.suffix, values, SCAFFOLD, owner)
        elif system.placement == "message":
            writer = spec.role(system.leading_roles[0])
            text = "".join(t for t, _, _ in system_text)
            out += [(t, SCAFFOLD, None) for t, _, _ in
                    write(writer, system.leading_roles[0], [(text, SCAFFOLD, None)], values, False,
                          add_generation_prompt, None, None, first.role, tools=request.tools, thinking=thinking,
                          request=request)]

    if tools_turn == "turn_after_system":
        assert tooling is not None
        out += tooling
    placement = spec.documents.placement if docs is not None and spec.documents is not None else None
    if placement == "turn_after_system":
        assert docs is not None
        out += docs
    if system.after:
        out += fill(next(text for condition, text in system.after if request.holds(condition)), values)
    # The message the documents go before (after), or the refusal when the template would leave them out.
    docs_at = -1
    if placement == "before_last_user":
        docs_at = next((m.index for m in reversed(body) if m.role == "user"), body[0].index if body else -1)
    elif placement == "after_first_user":
        docs_at = next((m.index for m in body if m.role == "user"), -1)
    if placement in ("before_last_user", "after_first_user") and docs_at < 0:
        where = "before the last user message" if placement == "before_last_user" else "after the first user message"
        raise UnsupportedFieldError(f"format {spec.name!r} writes the documents {where}, and there is none to "
                                    "write them at", field="documents")

    fold_target = None
    if system_text is not None and body:
        if system.placement == "fold_first":
            fold_target = body[0].index
        elif system.placement == "fold_last" and body[-1].role == "user":
            fold_target = body[-1].index

    tools_at: Tuple[int, ...] = ()  # the user messages the tools go before (last_user)
    if tooling is not None and spec.tools is not None and spec.tools.placement == "last_user":
        tools_at = tools_before(spec, messages, conversation)
    first_user = tooling is not None and spec.tools is not None and spec.tools.placement == "first_user"
    if first_user:
        if not body:
            raise RefusedError(f"format {spec.name!r} writes the tools in the first user message, and there is none",
                               rule="tools", field="tools")
        if body[0].role != "user":
            raise UnsupportedFieldError(f"format {spec.name!r} writes the tools in the first message after the system "
                                        "message, as a user message: this one is not the user's, so it is refused",
                                        index=body[0].index, role=body[0].role, field="role")
    until_answer = spec.reasoning is not None and spec.reasoning.show == "until_answer"
    # show = "given": the role's prefix writes the reasoning field; no query, no display.
    displayed = spec.reasoning is not None and spec.reasoning.show != "given"
    query = last_query(spec, conversation) if displayed and not until_answer else -1
    # The last message of the reasoning's role without calls (an answer): calls before it hide their reasoning.
    last_answer = max((m.index for m in conversation if spec.reasoning is not None and m.role == spec.reasoning.role
                       and m.calls is None), default=-1)
    # The name of the last call written since the last answer, for roles that name it ({call_name}).
    call_name: Optional[str] = None
    # The message that opens the loop: the first after a leading system message, or the first.
    opens = 1 if first.role in system.leading_roles else 0
    previous: Optional[str] = None
    written: set = set()  # the roles written so far, and whether a message had calls
    earlier_calls = False
    calls_before = 0  # the calls of the messages written so far ({number})
    # Documents written as a call take a number: those written before the loop, then those after a message.
    numbered_docs = docs is not None and spec.documents is not None and spec.documents.counts_as_call
    if numbered_docs and placement == "turn_after_system":
        calls_before = 1
    numbers: Optional[Dict[str, str]] = None  # call id -> its number, read when a role writes {call_number}
    answered: Dict[str, bool] = {}
    counted = 0  # the messages the alternation counts so far
    for position, message in enumerate(body):
        if spec.alternation is not None and alternates(spec, messages, message):
            if (message.role == "user") != (counted % 2 == 0):
                raise refuse_alternation(spec, message, counted)
            counted += 1
        role = spec.role(message.role)
        if role is None or role.refuse is not None:
            raise refuse_role(spec, message, role)
        if message.index == docs_at and placement == "before_last_user":
            assert docs is not None
            out += docs
            calls_before += numbered_docs
        if role.drop:
            continue
        if message.calls is not None and spec.calls is not None and spec.calls.trim is not None:
            role = attrs.evolve(role, trim=spec.calls.trim)  # a message with calls is trimmed so
        content = message.content
        if role.content == "json":
            from .._runtime.tools import tojson

            content = tojson(content)
        for needle in role.refuse_containing:
            if needle in content:
                raise refuse_containing(spec, message, role, needle)
        content = removed(content, role.remove)
        final = message.index == final_index
        rule = role.strip_reasoning
        if rule is not None and (rule.scope == "all" or not final) and previous not in rule.skip_after and not (
                rule.skip_calls and message.calls is not None):
            content = strip_reasoning(content, rule)
        if first_user and position == 0:
            assert spec.tools is not None
            if isinstance(messages[message.index].get("content"), list):
                # The templates take this content through |trim: a list of parts would be its repr.
                raise UnsupportedFieldError(f"format {spec.name!r} writes the tools in this message, whose content "
                                            "its template takes as text: a list of parts is refused",
                                            index=message.index, role=message.role, field="content")
            content = trim(content, spec.tools.trim)
        pieces: List[Segment] = [(content, CONTENT, message.index)]
        if message.index == fold_target:
            assert system.fold is not None and system_text is not None
            if system.fold_order == "trim_then_fold":
                pieces = [(trim(content, role.trim), CONTENT, message.index)]
                role = attrs.evolve(role, trim="none")
            pieces = fill(system.fold, values, SCAFFOLD, message.index, {"content": pieces, "system": system_text})
        answer_empty = None
        turn: List[Segment] = []
        prefixed = None  # the reasoning the role's prefix writes (show = "given")
        prefixed_field = None  # the field it was given in
        if spec.reasoning is not None and message.role == spec.reasoning.role and not displayed:
            if message.reasoning is not None and not isinstance(message.reasoning, str):
                raise not_text_reasoning(spec, message, messages[message.index])
            prefixed = trim_reasoning(message.reasoning or "", spec.reasoning.reasoning_trim)
            assert spec.reasoning.field is not None
            prefixed_field = next((n for n in reasoning_order(spec.reasoning.field)
                                   if messages[message.index].get(n) is not None), spec.reasoning.field)
        elif spec.reasoning is not None and message.role == spec.reasoning.role:
            display = spec.reasoning
            given = message.reasoning
            if given is not None and not isinstance(given, str):
                raise not_text_reasoning(spec, message, messages[message.index])
            hits = [needle for needle in display.refuse_containing if given is not None and needle in given]
            if hits:
                raise refuse_reasoning(spec, message, hits[0])
            shown = trim(content, role.trim)
            if message.calls is not None and spec.calls is not None and spec.calls.content == "reasoning":
                if shown and given:
                    raise UnsupportedFieldError(
                        f"format {spec.name!r} writes the content of a message with calls as its reasoning: a "
                        "reasoning field besides a content is refused", index=message.index, role=message.role,
                        field=next(n for n in reasoning_order(display.field or "") if messages[message.index].get(n)
                                   is not None))
                given, shown = (shown if shown else given), ""
            visible = None
            if display.show == "until_answer":
                if message.calls is not None:
                    visible = bool(given) and message.index > last_answer
                else:
                    visible = final and not add_generation_prompt and given is not None
            answer_empty = answer(display, shown, given) == ""
            turn, pieces = show_reasoning(display, shown, message.index > query, final, values, message.index,
                                          given, visible)
            role = attrs.evolve(role, trim="none")
        if tooling is not None and in_system and message.index == 0 and message.role in system.leading_roles \
                and system.placement == "message":  # a block's kept empty system message: the block has them
            assert spec.tools is not None
            pieces = with_tools(spec.tools, pieces, tooling, True, message.index)
        calls = None
        if message.calls is not None:
            assert spec.calls is not None
            refused = spec.calls.refuse_when
            if refused is not None and refused.holds(None, None, final, add_generation_prompt, False, False):
                where = " and ".join(text for fact, text in (
                    (refused.final, "the final message" if refused.final else "a message before the last"),
                    (refused.generation_prompt, "with a generation prompt" if refused.generation_prompt
                     else "without a generation prompt")) if fact is not None)
                raise UnsupportedFieldError(f"format {spec.name!r} writes no tool calls in {where} (its template "
                                            "leaves them out), so they are refused rather than left out",
                                            index=message.index, role=message.role, field="tool_calls")
            calls = (spec.calls, message.calls, answer_empty)
        following = conversation[message.index + 1].role if message.index < final_index else None
        lead = tooling if first_user and position == 0 else None
        scope = dict(values, tool_call_id=call_id(spec, message, messages[message.index]))
        if names_call(role):
            if call_name is None:
                raise refuse_no_call(spec, message)
            scope["call_name"] = call_name
        before = conversation[message.index - 1].role if message.index else None
        if _writes_slot(role, "call_number"):
            if numbers is None:
                from .._runtime.tools import call_numbers

                numbers = call_numbers(messages)
            scope["call_number"] = call_number(spec, message, messages[message.index], numbers, answered)
            if numbered_docs:
                refuse_after_documents(spec, message, messages, placement, docs_at)
        out += carried_tools(spec, message, messages[message.index]) + turn
        out += write(role, message.role, pieces, scope, final, add_generation_prompt, previous,
                     message.index, following, message.index == 0, calls, message.content == "",
                     tooling is not None, lead, frozenset(written), earlier_calls, thinking, before,
                     calls_before, attachment(spec, role, message, messages[message.index]), request,
                     message.name, opening=message.index == opens, reasoning=prefixed,
                     reasoning_field=prefixed_field,
                     ahead=tooling if message.index in tools_at else None)
        if message.index == docs_at and placement == "after_first_user":
            assert docs is not None
            out += docs
            calls_before += numbered_docs
        if spec.calls is not None and message.role == spec.calls.role:
            call_name = message.calls[-1][0] if message.calls else None
        previous = message.role
        written.add(message.role)
        earlier_calls = earlier_calls or message.calls is not None
        calls_before += len(message.calls or ())

    end = spec.generation.text(add_generation_prompt, previous, bool(body), conversation[-1].role, thinking,
                               request.numbers)
    out += fill(end, values, GENERATION_PROMPT if add_generation_prompt else SCAFFOLD)
    return out


def attachment(spec: FormatSpec, role: Role, message: Message, given: Mapping) -> Optional[List[Segment]]:
    """The role's attached field as segments (``None`` where the message does not have it)."""
    if role.attach_field is None or given.get(role.attach_field) is None:
        return None
    value = given[role.attach_field]
    if not isinstance(value, str):
        raise UnsupportedFieldError(f"format {spec.name!r} writes this field given as text only, got "
                                    f"{type(value).__name__}", index=message.index, role=message.role,
                                    field=role.attach_field)
    assert role.attach_text is not None
    return fill(role.attach_text, {}, SCAFFOLD, message.index, {"value": [(value, TOOLS, message.index)]})


def call_id(spec: FormatSpec, message: Message, given: Mapping) -> str:
    """A message's ``tool_call_id`` as text (empty without one), for the role texts that write it; or
    as the role's ``tool_call_id`` rule requires it."""
    value = given.get("tool_call_id")
    role = spec.role(message.role)
    if role is not None and role.tool_call_id is not None:
        from .._runtime.tools import id_text

        return id_text(value, role.tool_call_id, "tool_call_id", message.index, message.role, value is not None)
    if value is None:
        return ""
    if not isinstance(value, str):
        if not _writes_call_id(spec.role(message.role)):
            return ""  # not written: the field is left out, as the format declares
        raise UnsupportedFieldError(f"format {spec.name!r} writes a tool_call_id given as text only, got "
                                    f"{type(value).__name__}", index=message.index, role=message.role,
                                    field="tool_call_id")
    return value


def _writes_call_id(role: Optional[Role]) -> bool:
    return _writes_slot(role, "tool_call_id")


def _writes_slot(role: Optional[Role], slot: str) -> bool:
    if role is None:
        return False
    texts = [role.prefix, role.suffix, role.when_empty, role.final_suffix, role.final_suffix_with_prompt]
    texts += [t for _, t in role.prefix_after] + [t for _, t in role.prefix_when] + [t for _, t in role.suffix_when]
    return any(t is not None and slot in t.names for t in texts)


def call_number(spec: FormatSpec, message: Message, given: Mapping, numbers: Dict[str, str],
                answered: Dict[str, bool]) -> str:
    """The number of the call a result answers (``{call_number}``): the position, among all the
    conversation's calls, of the first one whose ``id`` is the result's ``tool_call_id``. A result
    without such a call, or answering a call another result answered, is refused: the template would
    write an empty number, or leave one of the two results out."""
    value = given.get("tool_call_id")

    def refuse(reason: str) -> UnsupportedFieldError:
        return UnsupportedFieldError(reason, index=message.index, role=message.role, field="tool_call_id")

    if not isinstance(value, str):
        raise refuse(f"format {spec.name!r} writes a result under the number of the call it answers, found by its "
                     "tool_call_id: give the id of one of the conversation's calls")
    if value not in numbers:
        raise refuse(f"no call of the conversation has the id {value!r}: format {spec.name!r}'s template would write "
                     "the result under an empty number")
    if value in answered:
        raise refuse(f"another result answers the call {value!r}: format {spec.name!r}'s template would leave one "
                     "of them out")
    answered[value] = True
    return numbers[value]


def refuse_after_documents(spec: FormatSpec, message: Message, messages: Sequence[Mapping], placement: Optional[str],
                           docs_at: int) -> None:
    """Refuse a result answering a call written after documents that take a call number: the template
    numbers that call one more than the result it writes for it (``[documents] counts_as_call``)."""
    from .._runtime.tools import call_messages

    index = call_messages(messages)[messages[message.index]["tool_call_id"]]
    if placement == "turn_after_system" or (placement == "before_last_user" and index >= docs_at) or (
            placement == "after_first_user" and index > docs_at):
        raise UnsupportedFieldError(
            f"format {spec.name!r} writes the documents as a call of their own and numbers the calls after them "
            "one more, but numbers their results without it: the number written for this result would name "
            "another call, so it is refused", index=message.index, role=message.role, field="tool_call_id")


def write(role: Optional[Role], name: str, content: List[Segment], values: Dict[str, Any], final: bool,
          add_generation_prompt: bool, previous: Optional[str], index: Optional[int],
          following: Optional[str] = None, first: bool = False,
          calls: Optional[Tuple[Calls, List[Tuple[str, ...]], Optional[bool]]] = None,
          given_empty: Optional[bool] = None, tools: bool = False,
          lead: Optional[List[Segment]] = None, earlier: "frozenset[str]" = frozenset(),
          earlier_calls: bool = False, thinking: bool = False,
          previous_message: Optional[str] = None, calls_before: int = 0,
          attached: Optional[List[Segment]] = None, request: Optional[Request] = None,
          message_name: Optional[str] = None, opening: bool = False, reasoning: Optional[str] = None,
          ahead: Optional[List[Segment]] = None, reasoning_field: Optional[str] = None) -> List[Segment]:
    """One message as segments: ``content`` (already transformed) trimmed, between prefix and suffix,
    and its tool calls after it (``calls``: the rules, the calls, and whether the answer is empty when
    a reasoning display decided it); ``following`` is the role of the next message in the conversation;
    ``given_empty``: the message's content as given was empty (``None``: a text the format writes);
    ``tools``: tool definitions were passed; ``lead``: written between the prefix and the content;
    ``earlier``: the roles written before, ``earlier_calls``: whether a message before had calls;
    ``thinking``: the thinking mode; ``previous_message``: the role of the conversation's message before;
    ``calls_before``: how many calls the messages before had; ``attached``: the role's attached field,
    written after the content and calls; ``request``: the request's facts (documents, mapping keys);
    ``message_name``: its ``name``, where its role writes it; ``opening``: the message opens the loop
    (see ``Condition.opening``); ``reasoning``: the reasoning the role's prefix writes as
    ``{reasoning}`` (``show = "given"``; shown when not empty), given in ``reasoning_field``; ``ahead``:
    written before the prefix."""
    assert role is not None
    scope = {"tool_call_id": "", "call_number": "", **values, "role": name, "name": message_name}
    fields = {"reasoning": [(reasoning or "", REASONING, index)]}
    if role.attach_in_prefix:
        fields["attach"], attached = attached or [], None
    content = trim_segments(content, role.trim)
    empty = not "".join(t for t, _, _ in content)
    if empty and calls is None and lead is None and not reasoning and ahead is None:
        if role.skip_empty:
            if fields.get("attach") or attached:
                raise UnsupportedFieldError("the template leaves out an empty message, and this field with it: "
                                            "it is refused rather than left out", index=index, role=name,
                                            field=role.attach_field)
            return []
        if role.when_empty is not None:
            return fill(role.when_empty, scope, SCAFFOLD, index)
    if calls is not None:
        rules, given, answer_empty = calls
        called = call_segments(rules, given, empty if answer_empty is None else answer_empty, index,
                               earlier_calls, final, calls_before)
        content = called + content if rules.position == "before_content" else content + called
    facts = (previous, following, final, add_generation_prompt, empty, first, calls is not None, given_empty, tools,
             earlier, earlier_calls, thinking, previous_message,
             request.documents if request is not None else False, message_name is not None,
             request.keys if request is not None else (), opening, bool(reasoning),
             request.numbers if request is not None else None)
    prefix = next((text for condition, text in role.prefix_when if condition.holds(*facts)), None)
    if prefix is None:
        prefix = dict(role.prefix_after).get(previous, role.prefix) if previous is not None else role.prefix
    if reasoning and "reasoning" not in prefix.names:
        raise UnsupportedFieldError("the template writes this field in other messages only (a plan before "
                                    "calls, say) and leaves it out of this one, so it is refused rather than "
                                    "left out", index=index, role=name,
                                    field=reasoning_field or "reasoning_content")
    suffix = next((text for condition, text in role.suffix_when if condition.holds(*facts)), role.suffix)
    if final and not role.suffix_when:
        chosen = role.final_suffix_with_prompt if add_generation_prompt else role.final_suffix
        if chosen is not None:
            suffix = chosen
    return (ahead or []) + fill(prefix, scope, SCAFFOLD, index, fields) + (lead or []) + content + \
        (attached or []) + fill(suffix, scope, SCAFFOLD, index)
