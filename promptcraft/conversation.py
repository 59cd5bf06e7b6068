"""Checking a conversation before it is rendered.

Mirrors what transformers does before it renders: keys whose value is
``None`` are dropped (OpenAI-style ``content=None``), and then every message
must have a string ``role`` and a string ``content``. Each problem names the
message index and role.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, List, NamedTuple

from .errors import ConversationError, InvalidMessageError


class Message(NamedTuple):
    index: int
    role: str
    content: str


def _kind(value: Any) -> str:
    return "None" if value is None else type(value).__name__


def normalize(messages: Any) -> List[Message]:
    """Return the conversation as checked ``Message`` tuples, or raise."""
    if isinstance(messages, Mapping) or not isinstance(messages, (list, tuple)):
        raise InvalidMessageError(
            f"messages must be a list of {{'role': ..., 'content': ...}} mappings, got {_kind(messages)}"
        )
    if not messages:
        raise ConversationError("the conversation is empty: give at least one message")
    checked = []
    for index, message in enumerate(messages):
        if not isinstance(message, Mapping):
            raise InvalidMessageError(f"expected a mapping with 'role' and 'content', got {_kind(message)}", index=index)
        role = message.get("role")
        if role is None:
            raise InvalidMessageError("has no 'role'", index=index)
        if not isinstance(role, str):
            raise InvalidMessageError(f"'role' must be a string, got {_kind(role)}", index=index)
        content = message.get("content")
        if content is None:
            raise InvalidMessageError("has no 'content'", index=index, role=role)
        if not isinstance(content, str):
            raise InvalidMessageError(
                f"'content' must be a string, got {_kind(content)}; this format renders text content only",
                index=index, role=role,
            )
        checked.append(Message(index, role, content))
    return checked
