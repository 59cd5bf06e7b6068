"""Types of the public API, for type checkers and readers (imported only when asked for: ``typing``
stays out of ``import promptcraft``)."""

from __future__ import annotations

from typing import Any, List, Mapping, Sequence, TypedDict, Union


class Function(TypedDict, total=False):
    """A tool call's function: ``arguments`` a mapping, or its JSON text where the format takes one."""

    name: str
    arguments: Union[Mapping[str, Any], str]


class ToolCall(TypedDict, total=False):
    """An assistant message's tool call, OpenAI style (``{"type": "function", "function": {...}}``)."""

    id: str
    type: str
    function: Function


class ContentPart(TypedDict, total=False):
    """A typed content part: ``{"type": "text", "text": ...}``, ``{"type": "image", ...}``, ..."""

    type: str
    text: str


class _Role(TypedDict):
    role: str


class Message(_Role, total=False):
    """A message as ``render`` and transformers' ``apply_chat_template`` take it: ``role`` and the keys
    the format writes (any other key is refused, unless the format lists it as one its template ignores)."""

    content: Union[str, Sequence[ContentPart], None]
    name: str
    tool_calls: List[ToolCall]
    tool_call_id: str
    reasoning_content: str
    thinking: str
    reasoning: str


#: What ``render`` takes: a list of messages (any mapping with the message's keys works too).
Messages = Sequence[Union[Message, Mapping[str, Any]]]

#: A tool definition: an OpenAI-style mapping, or a Python function (converted to its JSON schema).
Tool = Union[Mapping[str, Any], Any]
