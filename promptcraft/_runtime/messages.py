"""Checking a conversation before it is rendered.

Mirrors what transformers does before it renders: keys whose value is
``None`` are dropped (OpenAI-style ``content=None``), and then every message
must have a string ``role`` and a ``content``. Nothing is silently dropped:
any other field is refused unless the format lists it as one its template
leaves out (``[message] ignore``), and content given as a list of parts is
accepted only for the roles the format declares under ``[parts]``, with the
part kinds it declares (``_runtime.parts``). Each problem names the message
index, role and field.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Dict, List, NamedTuple, Optional, Tuple

from ..errors import ConversationError, InvalidMessageError, RefusedError, UnsupportedFieldError


class Message(NamedTuple):
    # The field shadows tuple.index(), which nothing calls on a Message; mypy reports any such shadowing.
    index: int  # type: ignore[assignment]
    role: str
    content: str
    #: The reasoning given in a field (``reasoning_content``, ``thinking``, ``reasoning``), as given,
    #: for a format that reads one; ``None`` otherwise. Its type is checked where it is written.
    reasoning: Any = None
    #: The message's tool calls as ``(name, arguments as written)``, for the role that writes them;
    #: ``None`` for none (an empty list is none, as in the templates).
    calls: Any = None
    #: Content given as a list of parts: its media parts' kinds, in order.
    media: Tuple[str, ...] = ()
    #: Content given as a list of parts with numbered labels: the content without them (what a
    #: reasoning display's query test reads); ``None`` otherwise.
    plain: Optional[str] = None
    #: The message's ``name``, where its role writes it (``{name}``); ``None`` otherwise.
    name: Optional[str] = None


#: The fields every format reads.
CORE_FIELDS = ("role", "content")


def _kind(value: Any) -> str:
    return "None" if value is None else type(value).__name__


def normalize(messages: Any, spec: Optional[Any] = None, labels: bool = False) -> List[Message]:
    """Return the conversation as checked ``Message`` tuples, or raise.

    Without ``spec`` only the shape is checked (role and content present, text
    or a list of text parts); with it, the format's field and part rules apply.
    ``labels``: the format's part labels are on (its ``[parts] labels`` switch).
    """
    if isinstance(messages, Mapping) or not isinstance(messages, (list, tuple)):
        raise InvalidMessageError(
            f"messages must be a list of {{'role': ..., 'content': ...}} mappings, got {_kind(messages)}"
        )
    if not messages:
        raise ConversationError("the conversation is empty: give at least one message")
    checked = []
    earlier_calls = False  # an earlier message had calls (see _spec.model.CALL_CONTENT, first_message)
    counts: Optional[Dict[str, int]] = {} if labels else None
    for index, message in enumerate(messages):
        if not isinstance(message, Mapping):
            raise InvalidMessageError(
                f"expected a mapping with 'role' and 'content', got {_kind(message)}", index=index
            )
        role = message.get("role")
        if role is None:
            raise InvalidMessageError("has no 'role'", index=index)
        if not isinstance(role, str):
            raise InvalidMessageError(f"'role' must be a string, got {_kind(role)}", index=index)
        if spec is not None:  # a field the format does not write is the first thing to say
            _check_fields(spec, message, index, role)
        content = message.get("content")
        if content is None and spec is not None and _content_optional(spec, message, role,
                                                                      index == len(messages) - 1, earlier_calls):
            content = ""
        given = content
        if content is None:
            raise InvalidMessageError("has no 'content'", index=index, role=role)
        media: Tuple[str, ...] = ()
        plain = None
        given_parts = isinstance(content, list)
        if given_parts:
            content, media, plain = _join_parts(spec, content, index, role, counts)
        elif not isinstance(content, str):
            raise InvalidMessageError(
                f"'content' must be a string or a list of parts, got {_kind(content)}", index=index, role=role,
            )
        elif spec is not None and spec.parts is not None and spec.parts.system == "first_text_list" and \
                _taken_out(spec, index, role):
            # Its template raises on a string (it indexes into the content): refused as it does.
            raise RefusedError(f"format {spec.name!r} refuses this system message: it must be a list of parts, "
                               "[{'type': 'text', 'text': ...}]", index=index, role=role, rule="system",
                               field="content")
        reasoning = _reasoning(spec, message, index, role) if spec is not None else None
        calls = _calls(spec, message, index, role, earlier_calls) if spec is not None and spec.calls is not None \
            else None
        if calls is not None:
            earlier_calls = True
            assert spec is not None
            if isinstance(given, list) and spec.calls.content_parts == "refuse":
                raise UnsupportedFieldError(f"format {spec.name!r} writes the content of a message with calls as "
                                            "text only: its template writes a list of parts as it is",
                                            index=index, role=role, field="content")
        name = _name(spec, message, index, role) if spec is not None else None
        checked.append(Message(index, role, content, reasoning, calls, media, plain, name))
    return checked


def labels_on(spec: Any, given: Any) -> bool:
    """Whether ``spec``'s part labels are on for the variables ``given`` to a render."""
    rules = spec.parts
    if rules is None or rules.labels is None:
        return False
    value = given.get(rules.labels)
    if value is None:
        return next(v.switch_default for v in spec.variables if v.name == rules.labels)
    return value is True


#: transformers' reasoning aliases (see _spec.model.REASONING_FIELDS; repeated to keep attrs out of here).
REASONING_FIELDS = ("reasoning_content", "thinking", "reasoning")


def reads_reasoning(spec: Any) -> bool:
    return spec.reasoning is not None and spec.reasoning.field is not None


def reasoning_order(field: str) -> tuple:
    """Where the template's field takes its value from: itself when given, then what transformers
    aliases into it, the first of ``REASONING_FIELDS`` given (a field it does not alias: itself only)."""
    if field not in REASONING_FIELDS:
        return (field,)
    return (field,) + tuple(name for name in REASONING_FIELDS if name != field)


def read_reasoning_fields(spec: Any, role: str) -> tuple:
    """The reasoning fields a message of ``role`` may carry: transformers' aliases on any message (the
    templates read them on their reasoning's role and leave them out elsewhere), a field it does not
    alias (``tool_plan``) on the reasoning's role only, as the template reads it nowhere else."""
    if not reads_reasoning(spec):
        return ()
    field = spec.reasoning.field
    if field in REASONING_FIELDS:
        return REASONING_FIELDS
    return (field,) if role == spec.reasoning.role else ()


def _reasoning(spec: Any, message: Mapping, index: int, role: str) -> Any:
    """The reasoning field's value as the template sees it (see ``reasoning_order``)."""
    if not reads_reasoning(spec):
        return None
    for name in reasoning_order(spec.reasoning.field):
        value = message.get(name)
        if value is not None:
            return value
    return None


def not_text_reasoning(spec: Any, message: "Message", given: Mapping) -> UnsupportedFieldError:
    """The error for a reasoning field that is not a string, where the format would write it."""
    name = next(n for n in reasoning_order(spec.reasoning.field) if given.get(n) is not None)
    return UnsupportedFieldError(f"format {spec.name!r} writes reasoning given as text only, got "
                                 f"{_kind(message.reasoning)}", index=message.index, role=message.role, field=name)


def _content_optional(spec: Any, message: Mapping, role: str, final: bool, earlier_calls: bool = False) -> bool:
    """A message with calls whose format writes it without content (``missing_content``), or does not
    read its content (``content = "first_message"``, after the first message with calls)."""
    rules = spec.calls
    return bool(rules is not None and (rules.missing_content == "empty" or (rules.missing_content == "final" and final)
                                       or (rules.content == "first_message" and earlier_calls))
                and role == rules.role and message.get("tool_calls"))


def _calls(spec: Any, message: Mapping, index: int, role: str, earlier_calls: bool = False) -> Any:
    """The message's calls, checked, where its role writes them; a call on another role is refused."""
    calls = message.get("tool_calls")
    rules = spec.calls
    if calls is None:
        return None
    if isinstance(calls, (list, tuple)) and not calls:
        if rules.empty == "refuse":
            raise UnsupportedFieldError(f"format {spec.name!r} refuses an empty 'tool_calls' list: its template tests "
                                        "whether the key is there, and then raises, leaves the message out or writes "
                                        "a calls block without calls in place of the content; give none (or None) "
                                        "for a message without calls", index=index, role=role, field="tool_calls")
        return None  # none, as the templates' `if message.tool_calls` reads an empty list
    if role != rules.role:
        raise UnsupportedFieldError(f"format {spec.name!r} writes tool calls for role {rules.role!r} only, so "
                                    "they are refused rather than left out", index=index, role=role,
                                    field="tool_calls")
    from .tools import call_texts

    texts = call_texts(calls, rules.form(), rules.ignore, index, role, rules.shape == "nested", rules.typed,
                       rules.extra())
    if rules.max and len(texts) > rules.max:
        if rules.max_message is None:
            # The template writes the first calls and silently leaves the others out.
            raise UnsupportedFieldError(f"format {spec.name!r} writes at most {rules.max} tool call(s) per message, "
                                        "as its template does (it leaves the others out): they are refused rather "
                                        "than dropped", index=index, role=role, field=f"tool_calls[{rules.max}]")
        text = rules.max_message
        raise RefusedError(f"format {spec.name!r} refuses this message: {text}", index=index, role=role,
                           rule="calls", template_message=text, field="tool_calls")
    content = message.get("content")
    if rules.refuse_content_starting is not None and isinstance(content, str) and content.startswith(
            rules.refuse_content_starting):
        raise UnsupportedFieldError(f"format {spec.name!r} leaves out the content of a message with tool calls when "
                                    f"it starts with {rules.refuse_content_starting!r}, as its template does: it is "
                                    "refused", index=index, role=role, field="content")
    if rules.content == "refuse" and message.get("content"):
        raise UnsupportedFieldError(f"format {spec.name!r} writes a message's tool calls in place of its content, so "
                                    "a content besides them would be left out: it is refused", index=index,
                                    role=role, field="content")
    if rules.content == "first_message" and earlier_calls and message.get("content"):
        raise UnsupportedFieldError(f"format {spec.name!r} writes the content of the conversation's first message "
                                    "with calls only (its template leaves it out of later ones), so a content "
                                    "here would be left out: it is refused", index=index, role=role,
                                    field="content")
    return texts


def writes_name(spec: Any, role: str) -> bool:
    """Whether messages of ``role`` have their ``name`` written (Jamba's ``(name)``)."""
    writer = spec.role(role)
    return writer is not None and writer.refuse is None and not writer.drop and writer.writes_name


def _name(spec: Any, message: Mapping, index: int, role: str) -> Optional[str]:
    name = message.get("name")
    if name is None or not writes_name(spec, role):
        return None
    if not isinstance(name, str):
        raise UnsupportedFieldError(f"format {spec.name!r} writes a name as text only, got {_kind(name)}",
                                    index=index, role=role, field="name")
    return name


def _check_fields(spec: Any, message: Mapping, index: int, role: str) -> None:
    ignored = spec.message.ignore + read_reasoning_fields(spec, role) + (
        ("tool_calls",) if spec.calls is not None else ()) + (
        ("tools",) if spec.tools is not None and spec.tools.placement == "message" else ())
    writer = spec.role(role)
    attached = writer.attach_field if writer is not None else None  # the field this role writes (attach)
    for key, value in message.items():
        if value is None or key in CORE_FIELDS or key in ignored or key == attached or (
                key == "name" and writes_name(spec, role)):
            continue
        raise UnsupportedFieldError(
            f"format {spec.name!r} does not write this field, so it is refused rather than left out "
            "(a format lists the fields its template leaves out under [message] ignore)",
            index=index, role=role, field=str(key),
        )


#: Text parts, as a conversation is checked without a format.
TEXT_FORM = ("none", (("text", ("text",), (), "", None),))


def _taken_out(spec: Any, index: int, role: str) -> bool:
    """Whether the message is a leading system message that ``[system]`` takes out of the conversation."""
    system = spec.system
    if role not in system.leading_roles or system.placement in ("message", "refuse"):
        return False
    return system.placement == "hoist" or index == 0


def _join_parts(spec: Optional[Any], parts: list, index: int, role: str,
                counts: Optional[Dict[str, int]]) -> Tuple[str, Tuple[str, ...], Optional[str]]:
    """The text of a content given as a list of parts, as the format writes it; its media kinds; and
    its text without labels where it has any."""
    from . import parts as written

    if spec is None:
        found = written.pieces(parts, TEXT_FORM, None, index, role)
        return "".join(text for _, _, text in found), (), None
    rules = spec.parts
    system = rules is not None and _taken_out(spec, index, role)
    mode = rules.system if system else "parts" if rules is not None and role in rules.roles else "refuse"
    if mode == "refuse":
        roles = rules.roles if rules is not None else ()
        taken = f" (it takes parts for {', '.join(map(repr, roles))})" if roles and not system else ""
        raise UnsupportedFieldError(
            f"format {spec.name!r} writes this {'system message' if system else 'role'}'s content as text only; "
            "a list of parts is refused" + taken, index=index, role=role, field="content",
        )
    if mode in ("first_text", "first_text_list"):
        return written.check_first_text(parts, index, role), (), None
    form = rules.form(text_only=mode == "text")
    found = written.pieces(parts, form, counts, index, role)
    content = "".join(label + text for _, label, text in found)
    media = tuple(kind for kind, _, _ in found if kind != "text")
    labelled = any(label for _, label, _ in found)
    return content, media, "".join(text for _, _, text in found) if labelled else None
