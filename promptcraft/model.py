"""The validated declaration of a chat format: plain, frozen data.

``load`` builds these from a TOML file after ``validate`` has checked every
key; ``codegen`` and ``reference`` read them. Nothing here executes anything
from a format file: strings stay strings, and placeholders are parsed into
``Slot`` markers, never evaluated.
"""

from __future__ import annotations

from typing import Optional, Tuple, Union

import attrs

TRIMS = ("none", "both", "left", "right")
PLACEMENTS = ("message", "block", "fold_first", "refuse")


@attrs.frozen
class Slot:
    """A named placeholder inside a format string, such as ``{role}``."""

    name: str


Piece = Union[str, Slot]


@attrs.frozen
class Text:
    """A format string split into literal pieces and placeholders.

    ``bos`` and ``eos`` are substituted when the format is loaded, so only
    per-render values (``role``, ``content``, ``system`` and declared
    variables) remain as slots.
    """

    pieces: Tuple[Piece, ...] = ()

    @property
    def names(self) -> Tuple[str, ...]:
        return tuple(p.name for p in self.pieces if isinstance(p, Slot))

    @property
    def literal(self) -> Optional[str]:
        """The whole text when it has no placeholders, else ``None``."""
        if all(isinstance(p, str) for p in self.pieces):
            return "".join(self.pieces)  # type: ignore[arg-type]
        return None

    def fill(self, values: dict) -> str:
        return "".join(p if isinstance(p, str) else values[p.name] for p in self.pieces)


EMPTY = Text(())


@attrs.frozen
class Role:
    """How messages of one role are written.

    ``name`` is the role, or ``"*"`` for the declaration that serves every
    role not listed (its strings may use ``{role}``). A ``refuse`` message
    makes the role an error; ``drop`` writes nothing for it (what the official
    template does); ``skip_empty`` writes nothing when the content is empty.
    """

    name: str
    prefix: Text = EMPTY
    suffix: Text = EMPTY
    trim: str = "none"
    skip_empty: bool = False
    drop: bool = False
    refuse: Optional[str] = None


@attrs.frozen
class System:
    """Where a leading system message goes.

    ``message``: it stays in the conversation and is written by its role.
    ``block``: it is taken out and written once, between ``prefix`` and
    ``suffix``, before the other messages. ``fold_first``: it is taken out and
    merged into the first remaining message through ``fold``. ``refuse``: it
    is an error, with ``refuse_message``. ``default`` is the text used when
    the conversation does not start with a system message (``None``: nothing).
    """

    placement: str = "message"
    default: Optional[str] = None
    prefix: Text = EMPTY
    suffix: Text = EMPTY
    trim: str = "none"
    fold: Optional[Text] = None
    refuse_message: Optional[str] = None


@attrs.frozen
class Alternation:
    """Counting the messages after a taken-out system message, the message
    at an even position must be ``user`` and one at an odd position must not."""

    message: str


@attrs.frozen
class Generation:
    """Text written after the messages: ``prompt`` with
    ``add_generation_prompt``, ``otherwise`` without it."""

    prompt: Text = EMPTY
    otherwise: Text = EMPTY


@attrs.frozen
class Variable:
    """A named value the caller may pass to ``render``.

    Without one, ``default`` is used, or today's local date formatted with
    ``strftime`` (what ``strftime_now`` does in transformers' templates).
    """

    name: str
    default: Optional[str] = None
    strftime: Optional[str] = None


@attrs.frozen
class Control:
    """The format's control strings (besides BOS and EOS) and how to escape them.

    ``escapes`` maps a token to its replacement; a token without one is
    escaped by inserting U+200B ZERO WIDTH SPACE after its first character,
    which keeps it readable and stops a tokenizer from matching it.
    """

    tokens: Tuple[str, ...] = ()
    escapes: Tuple[Tuple[str, str], ...] = ()


@attrs.frozen
class FormatSpec:
    """A whole validated format declaration."""

    name: str
    path: Optional[str] = None
    description: str = ""
    models: Tuple[str, ...] = ()
    stop: Tuple[str, ...] = ()
    bos: Optional[str] = None
    eos: Optional[str] = None
    start: Text = EMPTY
    system: System = System()
    roles: Tuple[Role, ...] = ()
    any_role: Optional[Role] = None
    alternation: Optional[Alternation] = None
    generation: Generation = Generation()
    variables: Tuple[Variable, ...] = ()
    control: Control = Control()

    @property
    def control_tokens(self) -> Tuple[str, ...]:
        """Every control string: BOS, EOS and the declared ones, without repeats."""
        found = [t for t in (self.bos, self.eos) if t] + list(self.control.tokens)
        return tuple(dict.fromkeys(found))

    def role(self, name: str) -> Optional[Role]:
        """The declaration that writes messages of role ``name``."""
        for role in self.roles:
            if role.name == name:
                return role
        return self.any_role
