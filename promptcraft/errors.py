"""Every error promptcraft raises, in one hierarchy.

The attributes are the API; the message text is for people and may be reworded.
All errors pickle (they cross process pools), which is why each keeps its
constructor arguments in ``args`` order through ``__reduce__``.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs milliseconds at import; annotations are strings here
    from typing import Any, Optional, Sequence

__all__ = [
    "PromptcraftError",
    "FormatError",
    "UnknownFormatError",
    "OptionsError",
    "ConversationError",
    "InvalidMessageError",
    "RefusedError",
    "ContinuationError",
    "ControlTokenError",
    "UnsupportedFieldError",
    "VerifyError",
    "OutputError",
    "PromptParseError",
    "AmbiguousPromptError",
]


class PromptcraftError(Exception):
    """Base class of every error promptcraft raises."""


class FormatError(PromptcraftError, ValueError):
    """A format file cannot be read, parsed or validated.

    ``path`` is the file, ``line`` the 1-based line where the problem was found
    (``None`` when it cannot be located), ``key`` the dotted key path (``None``
    for syntax errors) and ``reason`` what is wrong.
    """

    def __init__(
        self,
        reason: str,
        *,
        path: Optional[str] = None,
        line: Optional[int] = None,
        key: Optional[str] = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.path = path
        self.line = line
        self.key = key

    def __str__(self) -> str:
        where = self.path or "<format>"
        if self.line is not None:
            where = f"{where}:{self.line}"
        if self.key:
            return f"{where}: {self.key}: {self.reason}"
        return f"{where}: {self.reason}"

    def __reduce__(self) -> Any:
        return (_rebuild, (type(self), (self.reason,), self.__dict__))


class UnknownFormatError(PromptcraftError, LookupError):
    """No built-in format has this name, declares this model id, or serves this model folder.

    ``detail`` (model folders) says why: what was read and what did not match."""

    def __init__(self, what: str, name: str, suggestions: Sequence[str] = (), detail: Optional[str] = None) -> None:
        super().__init__(what, name)
        self.what = what
        self.name = name
        self.suggestions = tuple(suggestions)
        self.detail = detail

    def __str__(self) -> str:
        text = f"no built-in format {self.what} {self.name!r}"
        if self.suggestions:
            text += "; did you mean " + " or ".join(repr(s) for s in self.suggestions) + "?"
        if self.detail:
            text += f": {self.detail}"
        return text

    def __reduce__(self) -> Any:
        return (type(self), (self.what, self.name, self.suggestions, self.detail))


class OptionsError(PromptcraftError, ValueError):
    """The render options are wrong: conflicting flags, unknown or mistyped variables."""


class ConversationError(PromptcraftError, ValueError):
    """The conversation cannot be rendered in this format.

    ``index`` is the position of the offending message in the list given to
    ``render`` (``None`` when the problem is the list itself), ``role`` its
    role when it has one, and ``field`` the path inside the message when one
    field is at fault (``"tool_calls"``, ``"content[1].type"``); ``path`` joins
    them (``"messages[3].content[1].type"``). From ``render_many``,
    ``conversation`` is the position of the offending conversation in the batch.
    """

    conversation: Optional[int] = None

    def __init__(self, reason: str, *, index: Optional[int] = None, role: Optional[str] = None,
                 field: Optional[str] = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.index = index
        self.role = role
        self.field = field

    @property
    def path(self) -> Optional[str]:
        """Where the problem is, as ``messages[INDEX].FIELD`` (or ``tools[INDEX]...`` for a problem in
        the tool definitions); ``None`` for the list itself."""
        if self.index is None:
            return self.field
        where = f"messages[{self.index}]"
        if self.field is None:
            return where
        return where + (self.field if self.field.startswith("[") else "." + self.field)

    def __str__(self) -> str:
        reason = self.reason if self.field is None else f"{self.field}: {self.reason}"
        if self.index is None:
            text = reason
        elif self.role is None:
            text = f"message {self.index}: {reason}"
        else:
            text = f"message {self.index} ({self.role}): {reason}"
        return text if self.conversation is None else f"conversation {self.conversation}, {text}"

    def __reduce__(self) -> Any:
        return (_rebuild, (type(self), (self.reason,), self.__dict__))


class InvalidMessageError(ConversationError, TypeError):
    """A message is malformed: not a mapping, a missing or mistyped role or content."""


class RefusedError(ConversationError):
    """The format refuses this conversation, as its official template does.

    ``rule`` names the declared rule (``alternation``, ``system``, ``role``),
    ``template_message`` is the text the official template raises with.
    """

    def __init__(
        self,
        reason: str,
        *,
        index: Optional[int] = None,
        role: Optional[str] = None,
        rule: str = "",
        template_message: str = "",
        field: Optional[str] = None,
    ) -> None:
        super().__init__(reason, index=index, role=role, field=field)
        self.rule = rule
        self.template_message = template_message


class UnsupportedFieldError(ConversationError):
    """A message carries a field (or a content part) that this format does not write.

    Nothing is silently dropped: a field that would change the official
    template's output, or that the format does not declare as ignored, is an
    error naming the message (``index``, ``role``) and the ``field``.
    """


class ContinuationError(ConversationError):
    """``continue_final_message`` cannot be honoured for this conversation."""


class ControlTokenError(ConversationError):
    """A message carries one of the format's control tokens and the policy is ``reject``.

    ``token`` is the control string found in the message's content.
    """

    def __init__(self, reason: str, *, index: Optional[int] = None, role: Optional[str] = None,
                 token: str = "", field: Optional[str] = None) -> None:
        super().__init__(reason, index=index, role=role, field=field)
        self.token = token


class VerifyError(PromptcraftError):
    """A chat template cannot be used for verification: unreadable, not JSON, no template of that name."""


class TemplateImportError(PromptcraftError, ValueError):
    """A Jinja chat template could not be imported as a verified format (``import_template``).

    ``reason`` says what the importer could not do; ``behaviours`` lists what the template does that no
    format declaration it tried reproduces (e.g. ``"assistant content: rewritten"``); ``failures`` holds
    up to ten conversations where the best draft and the template differ; ``draft`` is that draft's TOML
    text (``None`` when there is none), for a person to finish.
    """

    def __init__(self, reason: str, *, behaviours: Sequence[str] = (), failures: Sequence[str] = (),
                 draft: Optional[str] = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.behaviours = list(behaviours)
        self.failures = list(failures)
        self.draft = draft

    def __str__(self) -> str:
        if not self.behaviours:
            return self.reason
        return self.reason + "".join(f"\n  - {b}" for b in self.behaviours)

    def __reduce__(self) -> Any:
        return (_rebuild, (type(self), (self.reason,), self.__dict__))


class OutputError(PromptcraftError, ValueError):
    """A completion cannot be read back into an assistant message (``Format.parse_output``).

    ``offset`` is the position in the completion where the problem is (``None`` when it is the
    format itself: one whose output promptcraft cannot read), ``field`` the path in the message
    (``"tool_calls[1].function.arguments"``) when one field is at fault, and ``partial`` the
    message read up to the problem (a dict, or ``None``), for callers that keep what was read.
    """

    def __init__(self, reason: str, *, offset: Optional[int] = None, field: Optional[str] = None,
                 partial: Optional[dict] = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.offset = offset
        self.field = field
        self.partial = partial

    def __str__(self) -> str:
        where = [] if self.offset is None else [f"at offset {self.offset}"]
        if self.field:
            where.append(self.field)
        return f"{', '.join(where)}: {self.reason}" if where else self.reason

    def __reduce__(self) -> Any:
        return (_rebuild, (type(self), (self.reason,), self.__dict__))


class PromptParseError(PromptcraftError, ValueError):
    """A prompt cannot be read back into a conversation (``Format.parse``): the format cannot have
    written it. ``offset`` is the position in the prompt where reading stopped (``None`` when unknown)."""

    def __init__(self, reason: str, *, offset: Optional[int] = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.offset = offset

    def __str__(self) -> str:
        return self.reason if self.offset is None else f"at offset {self.offset}: {self.reason}"

    def __reduce__(self) -> Any:
        return (_rebuild, (type(self), (self.reason,), self.__dict__))


class AmbiguousPromptError(PromptParseError):
    """A prompt has more than one reading: some text is content in one and a delimiter of the format
    in another (a message holding ``<|im_end|>``, say). ``offset`` is where the competing delimiter
    starts, ``readings`` the competing lists of messages (the preferred one first)."""

    def __init__(self, reason: str, *, offset: Optional[int] = None, readings: Sequence[Any] = ()) -> None:
        super().__init__(reason, offset=offset)
        self.readings = list(readings)


def _rebuild(cls: type[PromptcraftError], args: tuple, state: dict) -> PromptcraftError:
    error = cls.__new__(cls)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    return error
