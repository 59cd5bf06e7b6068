"""The validated declaration of a chat format: plain, frozen data.

``load`` builds these from a TOML file after ``validate`` has checked every
key; ``codegen`` and ``reference`` read them. Nothing here executes anything
from a format file: strings stay strings, and placeholders are parsed into
``Slot`` markers, never evaluated.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Tuple, Union

import attrs

#: Whitespace taken off a text: ``str.strip`` and friends; ``left_newlines``: ``str.lstrip("\n")`` (newlines only,
#: as SmolLM3's template trims an answer).
TRIMS = ("none", "both", "left", "right", "left_newlines")
PLACEMENTS = ("message", "block", "fold_first", "fold_last", "hoist", "refuse")
#: When the default system text is written: the first message is not a system message; no message
#: is; ``no_text``: the first is not, or its text is empty once ``remove`` and ``trim`` are applied;
#: ``tools``: the first message is not a system message and tool definitions are passed (a default
#: that a template writes only to go with its tools).
DEFAULT_WHEN = ("first_not_system", "no_system", "no_text", "tools")
FOLD_ORDERS = ("fold_then_trim", "trim_then_fold")
#: What a reasoning cut keeps: the text after the marker's last (first) occurrence, or ``second_piece``: the text
#: between its first and second occurrences (what ``content.split(marker)[1]`` keeps, Nemotron Nano v2).
KEEPS = ("after_last", "after_first", "second_piece")
SCOPES = ("history", "all")


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
class Condition:
    """When a text variant applies: every fact given must hold (``None`` leaves it open).

    ``previous``: the role written just before this message is one of these
    (never at the start); ``next``: the next message in the conversation has
    one of these roles (never at the end); ``first`` and ``final``: this is the
    conversation's first (last) message; ``generation_prompt``: the flag's value; ``empty``: the
    content is ``""`` once trimmed.
    """

    previous: Optional[Tuple[str, ...]] = None
    next: Optional[Tuple[str, ...]] = None
    final: Optional[bool] = None
    generation_prompt: Optional[bool] = None
    empty: Optional[bool] = None
    first: Optional[bool] = None
    #: The message has tool calls (a non-empty ``tool_calls``).
    calls: Optional[bool] = None
    #: Of a call among its message's calls: it is the last one (``[calls] call`` variants only).
    last: Optional[bool] = None
    #: The content as given is empty (before a reasoning cut or a trim; missing content is empty).
    given_empty: Optional[bool] = None
    #: Tool definitions were passed (and the format writes them).
    tools: Optional[bool] = None
    #: A message of one of these roles was written earlier in the conversation (DeepSeek V3 opens its
    #: tool outputs block at the conversation's first tool message only).
    earlier: Optional[Tuple[str, ...]] = None
    #: An earlier message of the conversation had tool calls (DeepSeek R1 never resets its flag).
    earlier_calls: Optional[bool] = None
    #: The thinking mode (``[thinking]``) is on.
    thinking: Optional[bool] = None
    #: The conversation's message just before this one has one of these roles, whether or not it was
    #: written (never at the start); at the end, the conversation's last message.
    previous_message: Optional[Tuple[str, ...]] = None
    #: A call text's variant: the call's function name is one of these (Functionary v3.1 writes a
    #: call to ``python`` as code).
    call_name: Optional[Tuple[str, ...]] = None
    #: Documents were passed (and the format writes them).
    documents: Optional[bool] = None
    #: The message has a ``name`` (a text of the variant may then write it as ``{name}``).
    named: Optional[bool] = None
    #: ``(variable, key)`` pairs: the mapping variable was given with that key (Granite's
    #: ``'citations' in controls``).
    has: Optional[Tuple[Tuple[str, str], ...]] = None
    #: The message opens the conversation's loop: it is the first message after a leading system
    #: message, or the first message when there is none (Jinja's ``loop.previtem`` is undefined).
    opening: Optional[bool] = None
    #: The message shows reasoning given in its field (``[reasoning] show = "given"``).
    reasoning: Optional[bool] = None
    #: ``(variable, number)`` pairs: the number variable's value equals that number, as Python's (and
    #: Jinja's) ``==`` has it (``False == 0``, ``0.0 == 0``): Seed-OSS's ``thinking_budget == 0``.
    equals: Optional[Tuple[Tuple[str, Union[int, float]], ...]] = None

    def holds(self, previous: Optional[str], next: Optional[str], final: bool, generation_prompt: bool,
              empty: bool, first: bool, calls: bool = False, given_empty: Optional[bool] = None,
              tools: bool = False, earlier: "frozenset[str]" = frozenset(), earlier_calls: bool = False,
              thinking: bool = False, previous_message: Optional[str] = None, documents: bool = False,
              named: bool = False, keys: Tuple[Tuple[str, str], ...] = (), opening: bool = False,
              reasoning: bool = False, numbers: Optional[Dict[str, Any]] = None) -> bool:
        given_empty = empty if given_empty is None else given_empty
        return ((self.calls is None or self.calls == calls)
                and (self.equals is None or all((numbers or {}).get(name) == value for name, value in self.equals))
                and (self.earlier is None or not earlier.isdisjoint(self.earlier))
                and (self.earlier_calls is None or self.earlier_calls == earlier_calls)
                and (self.thinking is None or self.thinking == thinking)
                and (self.previous_message is None or previous_message in self.previous_message)
                and (self.opening is None or self.opening == opening)
                and (self.reasoning is None or self.reasoning == reasoning)
                and (self.tools is None or self.tools == tools)
                and (self.documents is None or self.documents == documents)
                and (self.named is None or self.named == named)
                and (self.has is None or all(pair in keys for pair in self.has))
                and (self.given_empty is None or self.given_empty == given_empty)
                and (self.previous is None or previous in self.previous)
                and (self.next is None or next in self.next)
                and (self.first is None or self.first == first)
                and (self.final is None or self.final == final)
                and (self.generation_prompt is None or self.generation_prompt == generation_prompt)
                and (self.empty is None or self.empty == empty))


#: A text used when its condition holds.
Variant = Tuple[Condition, "Text"]


@attrs.frozen
class Reasoning:
    """Cutting reasoning out of a role's content, as reasoning models' templates do.

    Where ``marker`` occurs (or always, with ``always``), the content becomes the
    text after its last occurrence (``keep = "after_last"``) or after its first
    (``"after_first"``), then loses leading ``lstrip`` characters. ``scope``:
    ``history`` applies to every message but the conversation's final one,
    ``all`` to every message. A message written right after one of the
    ``skip_after`` roles, and with ``skip_calls`` a message with tool calls,
    keeps its content whole (DeepSeek R1 and V3.1 cut only answers that follow
    no tool result and carry no calls).
    """

    marker: str = "</think>"
    keep: str = "after_last"
    lstrip: str = ""
    scope: str = "history"
    always: bool = False
    skip_after: Tuple[str, ...] = ()
    skip_calls: bool = False


@attrs.frozen
class Role:
    """How messages of one role are written.

    ``name`` is the role, or ``"*"`` for the declaration that serves every
    role not listed (its strings may use ``{role}``). A ``refuse`` message
    makes the role an error; ``drop`` writes nothing for it (what the official
    template does); ``skip_empty`` writes nothing when the content is empty and
    ``when_empty`` writes that text instead of the whole message. The final
    message of the conversation ends with ``final_suffix`` (without a
    generation prompt) or ``final_suffix_with_prompt`` (with one) when they are
    declared; ``prefix_after`` picks the prefix by the role written just
    before; ``refuse_containing`` refuses content holding any of its strings.
    ``prefix_when`` and ``suffix_when`` are variants chosen by conditions
    (``Condition``), tried first. Besides ``{role}``, the texts may write
    ``{tool_call_id}``: the message's ``tool_call_id`` as given, empty when it
    has none (Kimi K2 names the call a tool result answers).
    """

    name: str
    prefix: Text = EMPTY
    suffix: Text = EMPTY
    trim: str = "none"
    skip_empty: bool = False
    drop: bool = False
    refuse: Optional[str] = None
    when_empty: Optional[Text] = None
    final_suffix: Optional[Text] = None
    final_suffix_with_prompt: Optional[Text] = None
    prefix_after: Tuple[Tuple[str, Text], ...] = ()
    strip_reasoning: Optional[Reasoning] = None
    refuse_containing: Tuple[str, ...] = ()
    refuse_containing_message: Optional[str] = None
    #: ``prefix = [{when = {...}, text = "..."}, ..., {text = "..."}]``: the variants tried in order
    #: before ``prefix`` (the list's last, unconditional text); likewise for ``suffix``.
    prefix_when: Tuple[Variant, ...] = ()
    suffix_when: Tuple[Variant, ...] = ()
    #: ``text``: the content as given; ``json``: the content through ``tojson`` (a string quoted),
    #: as templates that write tool results with ``tojson`` do.
    content: str = "text"
    #: Strings taken out of the content, one after the other (``str.replace(s, "")`` in this order),
    #: before the reasoning cut and the trim (Nemotron Nano v2 takes ``/think`` out of user messages).
    remove: Tuple[str, ...] = ()
    #: ``attach = {field = "tools", text = "<|tool|>{value}<|/tool|>"}``: a message of this role that has
    #: this field (not ``None``) writes ``attach_text`` with its value (text only) after its content and
    #: calls, before the suffix (Phi-4-mini's tool definitions given on the system message). Other roles
    #: refuse the field, as any field they do not write. A prefix writing ``{attach}`` places it there
    #: instead (GLM-4's ``metadata`` after the role); an empty message the role skips is refused with it.
    attach_field: Optional[str] = None
    attach_text: Optional["Text"] = None
    #: How ``{tool_call_id}`` is written where the template requires the id and splices it into JSON
    #: (see ``ID_FORMS``); ``None``: as given, empty without one.
    tool_call_id: Optional[str] = None

    @property
    def attach_in_prefix(self) -> bool:
        """Whether the prefix writes the attached field (``{attach}``: GLM-4's metadata after the role)
        rather than the field following the content."""
        return "attach" in self.prefix.names

    @property
    def writes_name(self) -> bool:
        """Whether a variant writes the message's ``name`` (``{name}``, under ``when = {named = true}``)."""
        texts = [text for _, text in self.prefix_when + self.suffix_when]
        return any("name" in text.names for text in texts)


@attrs.frozen
class System:
    """Where a leading system message goes.

    ``message``: it stays in the conversation and is written by its role.
    ``block``: it is taken out and written once, between ``prefix`` and
    ``suffix``, before the other messages. ``fold_first`` / ``fold_last``: it is
    taken out and merged through ``fold`` into the first remaining message, or
    into the final one when that is a user message (else it is discarded, as
    the templates do). ``hoist``: every system message, wherever it is, is
    taken out; the ``select``-ed ones, trimmed and each after ``item_prefix``,
    are joined with ``join`` and written between ``prefix`` and ``suffix``.
    ``refuse``: it is an error, with ``refuse_message``. ``default`` is the
    text used when ``default_when`` says the conversation has no system
    message. ``leading_roles`` are the roles that count as a leading system
    message; ``skip_empty`` takes out an empty one without writing anything;
    ``keep_empty`` leaves an empty one in the conversation instead; ``wrap``
    surrounds the caller's text (not the default).
    """

    placement: str = "message"
    default: Optional[Text] = None
    default_when: str = "first_not_system"
    prefix: Text = EMPTY
    suffix: Text = EMPTY
    trim: str = "none"
    fold: Optional[Text] = None
    fold_order: str = "fold_then_trim"
    refuse_message: Optional[str] = None
    leading_roles: Tuple[str, ...] = ("system",)
    skip_empty: bool = False
    keep_empty: bool = False
    wrap: Optional[Text] = None
    select: str = "all"
    join: str = ""
    item_prefix: Text = EMPTY
    #: ``placement = "hoist"``: written after each system text, or the first of ``item_suffix_when``
    #: (condition ``tools``) whose condition holds.
    item_suffix: Text = EMPTY
    item_suffix_when: Tuple[Variant, ...] = ()
    #: ``placement = "block"``: variants of ``prefix`` (the conditions ``tools``, ``thinking``, ``documents``
    #: and ``has``).
    prefix_when: Tuple[Variant, ...] = ()
    #: ``placement = "block"``: variants of ``default`` (the same conditions).
    default_variants: Tuple[Variant, ...] = ()
    #: ``default`` given as a sequence: its parts one after another, each the first of its variants
    #: whose condition holds (a plain text is a part of one variant); ``default`` is then the text
    #: written when no condition holds.
    default_parts: Tuple[Tuple[Variant, ...], ...] = ()
    #: ``placement = "block"``: strings taken out of the system text, in order, before the trim.
    remove: Tuple[str, ...] = ()
    #: ``placement = "block"``: a system text containing a marker is written another way.
    override: Optional["Override"] = None
    #: ``placement = "block"``: a conversation with no message after the leading system message is
    #: refused with this text (the template indexes the messages after it and raises).
    refuse_alone: Optional[str] = None
    #: ``images``: the default is left out when a message has an image part (Llama 3.2 Vision).
    default_unless: Optional[str] = None
    #: ``placement = "block"``: variants written after the block, whether or not one was written, before
    #: the other messages (conditions ``tools``, ``documents``, ``has``, ``equals``): Seed-OSS's thinking
    #: budget turn.
    after: Tuple[Variant, ...] = ()


@attrs.frozen
class Override:
    """A leading system text that contains ``marker`` (as given) is written as ``prefix``, the text
    (after ``remove`` and the trim, the marker taken out, trimmed again) and ``suffix``, instead of
    the block: no ``wrap``, no default, and no tool definitions with it, which such a template leaves
    out (they are refused). SmolLM3's ``/system_override``."""

    marker: str
    prefix: Text = EMPTY
    suffix: Text = EMPTY


@attrs.frozen
class Alternation:
    """Counting the messages after a taken-out system message, the message
    at an even position must be ``user`` and one at an odd position must not.
    Messages of the ``skip_roles`` are not counted, nor with ``skip_calls`` a
    message whose ``tool_calls`` is given (even empty), as Mistral Nemo's
    template counts them."""

    message: str
    skip_roles: Tuple[str, ...] = ()
    skip_calls: bool = False


@attrs.frozen
class Generation:
    """Text written after the messages: ``prompt`` with
    ``add_generation_prompt``, ``otherwise`` without it; ``prompt_after`` and
    ``otherwise_after`` replace them by the role of the last message written.
    With ``require_body``, no prompt when no message was left to write."""

    prompt: Text = EMPTY
    otherwise: Text = EMPTY
    prompt_after: Tuple[Tuple[str, Text], ...] = ()
    otherwise_after: Tuple[Tuple[str, Text], ...] = ()
    require_body: bool = False
    #: Variants of ``prompt`` (conditions ``previous``, ``previous_message``, ``thinking``, ``equals``), tried first.
    prompt_when: Tuple[Variant, ...] = ()

    def text(self, add_generation_prompt: bool, last_role: Optional[str], body: bool,
             last_message: Optional[str] = None, thinking: bool = False,
             numbers: Optional[Dict[str, Any]] = None) -> Text:
        """What to write at the end, given the flag, the last written role, whether any message remained,
        the conversation's last message's role and the thinking mode."""
        if add_generation_prompt:
            if self.require_body and not body:
                return EMPTY
            for condition, text in self.prompt_when:
                if (condition.previous is None or last_role in condition.previous) and (
                        condition.previous_message is None or last_message in condition.previous_message) and (
                        condition.thinking is None or condition.thinking == thinking) and (
                        condition.equals is None or all((numbers or {}).get(name) == value
                                                        for name, value in condition.equals)):
                    return text
            return dict(self.prompt_after).get(last_role, self.prompt) if last_role is not None else self.prompt
        return dict(self.otherwise_after).get(last_role, self.otherwise) if last_role is not None else self.otherwise


@attrs.frozen
class Variable:
    """A named value the caller may pass to ``render``.

    A text variable takes a string: without one, ``default`` is used, or
    today's local date formatted with ``strftime`` (what ``strftime_now``
    does in transformers' templates); a ``required`` one must be given. A
    switch (``when_true`` and ``when_false`` declared) takes ``True`` or
    ``False`` (``default`` when not given) and stands for one of the two texts.
    A mapping variable (``when_given``) takes a mapping or nothing; conditions
    can test its keys (``has``).
    """

    name: str
    default: Optional[str] = None
    strftime: Optional[str] = None
    required: bool = False
    when_true: Optional[str] = None
    when_false: Optional[str] = None
    switch_default: bool = False
    #: A text variable that may also be given as a list, written by this serialiser (``SERIALISERS``);
    #: a string must then be what the serialiser writes (JSON text).
    serialiser: Optional[str] = None
    #: A mapping variable (``when_given = " {json}"``): the texts before and after its JSON, written
    #: when a non-empty mapping is given; ``""`` stands for it otherwise (Granite's ``controls``).
    when_given: Optional[Tuple[str, str]] = None
    #: A number variable (``number = DEFAULT``): it takes an int or a float (a bool is an int, as in
    #: Jinja), written as Python's ``str()`` writes it (``512.0``), which is what Jinja prints.
    number: Optional[Union[int, float]] = None
    #: A number variable's derived text (``lookup = {slot = ..., at_most = [[bound, value], ...]}``):
    #: ``{slot}`` stands for the value of the first bound, in increasing order, that the number is at
    #: most; above the last bound (or NaN), the last value.
    lookup_slot: Optional[str] = None
    lookup: Tuple[Tuple[Union[int, float], str], ...] = ()
    #: A text variable given ``""`` takes its default (``empty = "default"``: the template's ``x or "..."``).
    empty_default: bool = False
    #: A text variable written between these texts when its value is not blank (``str.strip()`` leaves
    #: something), ``""`` otherwise (``nonblank = " {value}"``: Jamba's ``generation_preamble``).
    nonblank: Optional[Tuple[str, str]] = None

    @property
    def is_number(self) -> bool:
        return self.number is not None

    @property
    def is_switch(self) -> bool:
        return self.when_true is not None

    @property
    def is_mapping(self) -> bool:
        return self.when_given is not None


#: How a variable given as a list is written: ``json_dumps``, Python's ``json.dumps`` with its defaults
#: (ASCII, ``", "`` and ``": "``), as firefunction's model card passes ``functions=json.dumps(functions)``.
SERIALISERS = ("json_dumps",)


@attrs.frozen
class Thinking:
    """The thinking mode, a fact variants test (``when = {thinking = true}``).

    It starts as the switch ``variable`` (or ``default`` without one); then each message whose role
    is in ``roles`` (only the conversation's first message with ``scope = "first"``, every one in
    order with ``"all"``, the last flag winning) turns it off when its content contains ``off`` and on
    when it contains ``on``, testing ``precedence`` first, as the templates' ``if``/``elif`` do.
    """

    variable: Optional[str] = None
    default: bool = True
    on: str = "/think"
    off: str = "/no_think"
    roles: Tuple[str, ...] = ("system",)
    scope: str = "first"
    precedence: str = "off"


@attrs.frozen
class ReasoningDisplay:
    """How reasoning in ``role``'s content is shown after the last user query.

    The content splits at ``close``: the reasoning is what lies between the
    last ``open`` before it and ``close`` (newlines stripped at both ends, or
    all whitespace with ``reasoning_trim = "both"``), the answer what follows
    the last ``close``. After the last query (the last user message that is
    not wrapped in the two ``query_exclude`` strings), a message that is the
    final one or has reasoning (``show = "final_or_present"``), or every
    message (``show = "always"``), is written as ``template`` with
    ``{reasoning}`` and ``{content}``; others are written as the answer alone.
    Without any query, ``no_query = "refuse"`` refuses with
    ``no_query_message``. ``show = "until_answer"`` (Harmony) ignores the query: a message with
    tool calls shows its reasoning, when not empty, until a later message of ``role`` without calls
    (an answer) follows it; an answer shows it only as the conversation's final message without a
    generation prompt, whenever the field is given (even empty).

    ``show = "given"`` is another way of writing it: the reasoning comes from the
    message's field only (the content is never split), trimmed by ``reasoning_trim``,
    and wherever it is not empty the role's ``prefix`` writes it as ``{reasoning}``
    (its variants' condition ``reasoning``); there is no template and no query.
    """

    role: str = "assistant"
    open: str = "<think>"
    close: str = "</think>"
    template: Text = EMPTY
    reasoning_trim: str = "newlines"
    show: str = "final_or_present"
    query_exclude: Tuple[str, ...] = ()
    no_query: str = "last"
    no_query_message: Optional[str] = None
    #: ``"reasoning_content"``: a message's reasoning field, when it is a string, is the reasoning
    #: (the content is then not split); transformers fills it from any of ``REASONING_FIELDS``, the
    #: field the template reads first (``"thinking"`` for gpt-oss), then the others in their order.
    field: Optional[str] = None
    #: ``content``: ``template`` is written in place of the content; ``before``: ``template`` (with
    #: ``{reasoning}`` only) is written before the message, a turn of its own (Harmony's analysis
    #: channel), and the message as it would be without reasoning.
    placement: str = "content"
    #: Without it, the content is never split at ``close``: the reasoning comes from the field only.
    split: bool = True
    #: A reasoning field holding one of these strings is refused with ``refuse_containing_message``.
    refuse_containing: Tuple[str, ...] = ()
    refuse_containing_message: Optional[str] = None


#: The message fields transformers reads reasoning from, first given first (its ``_alias_reasoning_fields``).
REASONING_FIELDS = ("reasoning_content", "thinking", "reasoning")
#: Fields a template reads a message's reasoning from that transformers does not alias (``show = "given"``
#: only): ``tool_plan``, the plan Cohere's templates write before a message's calls. Only the reasoning's
#: role reads it; any other message refuses it.
OWN_REASONING_FIELDS = ("tool_plan",)


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
class MessageRules:
    """Which message fields besides ``role`` and ``content`` the format accepts.

    ``ignore`` lists the fields the format leaves out, as its official template
    does (it writes nothing for them); any other field is refused.
    """

    ignore: Tuple[str, ...] = ()


#: The kinds of content parts, in the order a part is tested for them (every corpus template tests
#: images first, then videos, then text).
PART_KINDS = ("image", "video", "text")
#: The keys a media part may hold besides ``type``: where a processor finds the media its placeholder
#: stands for (the kind's own key, OpenAI's ``image_url``, transformers' ``url``, ``path``, ``base64``).
#: A media part with any other key (a ``text``) is refused: the template would leave it out.
PART_SOURCES = {"image": ("image", "image_url", "url", "path", "base64"), "video": ("video", "url", "path", "base64")}
#: How the leading system message taken out by ``[system]`` reads a list of parts: ``refuse``;
#: ``parts`` (every kind declared); ``text`` (text parts only); ``first_text`` (the template reads
#: the first part's text: a list of one text part is taken, as it is); ``first_text_list`` (the same,
#: and a string is refused, as the template indexes into it).
SYSTEM_PARTS = ("refuse", "parts", "text", "first_text", "first_text_list")


@attrs.frozen
class PartKind:
    """One kind of content part. A part is of this kind when its ``type`` is one of ``types`` or it
    holds one of ``keys`` (the templates' ``type == 'image'`` and ``'image' in item`` tests); a
    ``type`` given must then be one of either. A media kind writes ``text`` (its placeholder), after
    ``label`` (``{n}``: its number among the conversation's parts of this kind) when labels are on;
    the text kind writes the part's ``text``."""

    name: str
    types: Tuple[str, ...] = ()
    keys: Tuple[str, ...] = ()
    text: str = ""
    label: Optional[Text] = None


#: Text parts as every format with ``[parts]`` reads them unless it says otherwise.
TEXT_PART = PartKind("text", types=("text",))


@attrs.frozen
class Parts:
    """Content given as a list of typed parts, for the ``roles`` listed: each part written as its
    kind says (``kinds``, in ``PART_KINDS`` order), one after another, text parts each trimmed by
    ``trim``; a part of no declared kind is refused. ``system``: how a leading system message taken
    out of the conversation reads a list (``SYSTEM_PARTS``). ``labels``: the switch variable that
    writes each media part's ``label``. A message with tool calls takes a list as ``[calls] content_parts``
    says."""

    roles: Tuple[str, ...] = ()
    trim: str = "none"
    kinds: Tuple[PartKind, ...] = (TEXT_PART,)
    system: str = "refuse"
    labels: Optional[str] = None

    def kind(self, name: str) -> Optional[PartKind]:
        return next((k for k in self.kinds if k.name == name), None)

    def form(self, text_only: bool = False) -> Tuple[str, Tuple[Tuple[object, ...], ...]]:
        """What ``_runtime.parts`` takes (its text parts alone, with ``text_only``)."""
        kinds = tuple(
            (k.name, k.types, k.keys, k.text,
             None if k.label is None else tuple(p if isinstance(p, str) else 0 for p in k.label.pieces))
            for k in self.kinds if not (text_only and k.name != "text"))
        return (self.trim, kinds)


#: Where tool definitions go: after (or before) the system text, in the system message;
#: ``first_user``: in the first message after the system message, which must be the user's, between
#: its prefix and its content; ``start``: right after the format's start text, before the system
#: message and everything else (a turn of their own, as Kimi K2 and Granite 3.0 write them);
#: ``turn_after_system``: a turn of their own right after the system block (Granite 3.2, 3.3);
#: ``last_user``: before the prefix of the conversation's last user message, and of every user message
#: equal to it (the Mistral templates test ``message == user_messages[-1]``);
#: ``message``: given in a message's own ``tools`` field, not to ``render(tools=...)`` (which is refused,
#: as the template reads ``item['tools']`` only), and written just before that message, whatever its role,
#: even where an empty content leaves the message itself out (GLM-4);
#: ``none``: the format writes none (tools are refused), declared for what it does with an empty list.
TOOL_PLACEMENTS = ("system_after", "system_before", "first_user", "start", "turn_after_system", "last_user",
                   "message", "none")
#: Tool placements that are turns of their own (``prefix`` and ``suffix`` write them).
TOOL_TURNS = ("start", "turn_after_system")
#: An empty list of tools: like none (``if tools`` in a template), written as a block without
#: definitions (``if tools is not none``), or refused (a format that writes no tools, whose template
#: writes something for an empty list, or one whose template writes a broken block for it).
TOOL_EMPTY = ("none", "written", "refuse")
#: How one tool definition is written: ``json`` is transformers' ``tojson`` (``ensure_ascii=False``,
#: separators ``", "`` and ``": "``, keys in the order given); ``hermes``: the envelope Hermes 2 Pro /
#: Hermes 3's tool_use template rebuilds, its description rewritten as a Python docstring
#: (``_runtime.serialisers.hermes``); ``python_repr``: Python's ``repr`` of the definition as plain data,
#: as Jinja's ``|string`` writes a dict (SmolLM3: ``{'type': 'function', ...}``); ``command_r7b``: Command
#: R7B's rebuilt object with ``"responses": null`` (``_runtime.serialisers.command_r7b``); ``typescript``:
#: gpt-oss's comment and ``type name = (_: {...}) => any;`` entry of a TypeScript namespace
#: (``_runtime.typescript``); ``python_signature``: Command R+'s Python function stub with a docstring
#: (``serialisers.python_signature``); ``functionary``: Functionary v3.2's TypeScript namespace entry, one
#: commented line per parameter (``_runtime.functionary``); ``xml_schema`` (XML tags, every schema key
#: written), ``python_docstring`` (a ``def`` with a docstring listing the parameters with required
#: markers), ``pydantic_signature`` (Enum and BaseModel classes, then a ``def`` with pydantic-style
#: fields): ``_runtime.definitions``.
#: ``json_array``: the whole list as one JSON array (``tools|tojson``, Granite 3.2/3.3), without item texts.
#: ``json_spliced``: the envelope ``{"type": "function", "function": {...}}`` rebuilt around the
#: ``function`` object as the Mistral templates rebuild it: its keys in the order given but ``return``,
#: which is left out, string values spliced between quotes unescaped and the others through ``tojson``;
#: so a string (or key) that JSON would escape is refused, and so is a key of the definition besides
#: ``type`` and ``function``.
#: ``named_json``: the definition's name, a blank line, then the definition through ``tojson`` (with
#: ``indent``), as GLM-4 writes each function under a ``## name`` heading (``item_prefix``).
TOOL_ITEMS = ("json", "hermes", "python_repr", "command_r7b", "typescript", "python_signature", "functionary",
              "json_array", "xml_schema", "python_docstring", "pydantic_signature", "json_spliced", "named_json")
#: The serialisers that leave some keys of a parameter's schema out (``[tools] ignore``).
TOOL_ITEMS_LEAVING_OUT = ("python_docstring", "pydantic_signature")
#: What of a definition is written: ``whole``, the definition as given; ``function``, its ``function``
#: object alone when it has one (``tool.function if tool.function is defined else tool``); ``by_type``:
#: the ``function`` object of a definition whose ``type`` is ``function``, a definition without ``type``
#: whole, any other refused (Jamba's template raises on another type); ``function_only``: the
#: ``function`` object of a definition whose ``type`` is ``function``, any other (or one without a type)
#: refused, as the template writes nothing for it (GLM-4 tests ``type == 'function'``).
TOOL_ENVELOPES = ("whole", "function", "by_type", "function_only")
#: How a call's id (``{id}`` in ``[calls] call``) or a tool result's ``tool_call_id`` (``{tool_call_id}``
#: in a role's texts, with the role's ``tool_call_id`` key) is written; the value is then required, as the
#: templates raise without it.
#: ``json``: any JSON value, through ``tojson``; ``string``: a string, as it is (the format writes the
#: quotes around it; one that JSON would escape is refused); ``string9``: the same, exactly 9
#: characters long, as Mistral Nemo's template requires (it raises otherwise).
ID_FORMS = ("json", "string", "string9")
#: How ``{name}`` writes a call's name: ``text`` as it is, ``json`` through ``tojson`` (quoted).
NAME_FORMS = ("text", "json")
#: How a call's arguments are written: ``json``: a mapping, through ``tojson`` (a string is refused:
#: the templates that write this way would encode it a second time); ``json_or_text``: a string as it
#: is (it is already JSON), anything else through ``tojson``; ``parameters``: a mapping, each of its
#: items written as ``parameter`` with ``{key}`` and ``{value}`` (formatted by ``VALUE_FORMATS``);
#: ``text``: a string only, as it is (the DeepSeek templates splice the value into the text and raise
#: on a mapping, so a mapping is refused: pass ``json.dumps(arguments)``); ``json_block``: a mapping through
#: ``tojson(indent=4)``, each line after the first indented by 8 more spaces (Command R+'s ``|indent(8)``).
ARGUMENTS = ("json", "json_or_text", "parameters", "text", "json_block")
#: What a message with calls does with its content: ``write`` it before the calls; ``refuse`` a
#: non-empty one (the calls are written in its place); ``first_message``: write it in the
#: conversation's first message with calls only, whose template never writes it in a later one
#: (DeepSeek R1), where a non-empty content is refused and a missing one taken as empty; ``reasoning``:
#: the content is the message's reasoning (Harmony's analysis channel), written by ``[reasoning]``,
#: and no content is written (a reasoning field beside a non-empty content is refused).
CALL_CONTENT = ("write", "refuse", "first_message", "reasoning")
#: A parameter's value: ``json_or_str`` a mapping or list through ``tojson``, anything else as
#: Python's ``str()`` (Jinja's ``|string``: ``True``, ``None``, ``1.0``); ``str``: every value as
#: ``str()`` (a dict as ``{'k': [1, 2]}``), a string as it is; ``json``: every value through
#: ``tojson`` (a string quoted, ``true``, ``null``).
VALUE_FORMATS = ("json_or_str", "str", "json")


@attrs.frozen
class Tools:
    """The tool definitions passed to ``render(..., tools=...)``, as one text.

    The text is ``prefix``, then each definition written by the serialiser
    ``item`` between ``item_prefix`` and ``item_suffix`` (``separator`` between
    two), then ``suffix``. With ``placement = "system_after"`` it follows the
    system text inside the system message (``join`` between the two when the
    conversation has a system text of its own or a default one); with
    ``"system_before"`` it comes first and ``join`` follows it when there is a
    system text. Without a system message, one is written for the tools. These
    texts take no placeholders: braces are literal.
    """

    placement: str = "system_after"
    join: str = ""
    prefix: str = ""
    item: str = "json"
    item_prefix: str = ""
    item_suffix: str = ""
    separator: str = ""
    suffix: str = ""
    empty: str = "none"
    #: ``system``: ``join`` whenever there is a system text; ``text``: only when it is not empty.
    join_when: str = "system"
    #: ``item = "json"`` with this indent (``tojson(indent=4)``), or on one line.
    indent: Optional[int] = None
    #: ``placement = "first_user"``: how that message's content is trimmed when the tools are written
    #: in it (Llama's templates take it through ``|trim`` then, and as it is otherwise).
    trim: str = "none"
    #: A render without tools (``tools=None``) is refused: the template iterates them unguarded.
    required: bool = False
    #: See ``TOOL_ENVELOPES``.
    envelope: str = "whole"
    #: Keys of a parameter's schema that the serialiser ``item`` does not write and the template
    #: leaves out; any other key it does not write is refused.
    ignore: Tuple[str, ...] = ()
    #: ``(type, text)``: a built-in tool, a definition of this type without a function or a name
    #: (``{"type": "python"}``), is written as this fixed text in place of ``item_prefix``, the item and
    #: ``item_suffix`` (GLM-4's python, simple_browser and cogview); one of another type is refused.
    builtin: Tuple[Tuple[str, str], ...] = ()


@attrs.frozen
class Calls:
    """A message's ``tool_calls``, written after its content.

    Each call is ``call`` (or the first of ``call_when`` whose condition holds:
    ``first`` (``last``), the message's first (last) call; ``empty``, the message's
    answer is empty; ``earlier_calls``, an earlier message had calls; ``final``, the message
    is the conversation's last), with ``{name}`` (see ``name``) and
    ``{arguments}`` (see ``ARGUMENTS``), and optionally ``{index}`` (the call's
    position in its message, from 0: Kimi K2 writes it into the id it makes up),
    ``{type}`` (the call's ``type``, a string the call must have), ``{id}``
    (see ``id``) and ``{function_members}``: the members of the call's
    ``function`` object as ``tojson`` writes them, in the order given, without
    the braces (Mistral Nemo's template writes the object with ``tojson`` and
    cuts its closing brace to add the id). A call is
    ``{"type": "function", "function": {"name", "arguments"}}`` or the inner
    object alone; its keys listed in ``ignore`` are left out, as the templates
    leave them out, and any other key is refused.
    """

    role: str = "assistant"
    arguments: str = "json"
    call: Text = EMPTY
    call_when: Tuple[Variant, ...] = ()
    ignore: Tuple[str, ...] = ("id", "type")
    #: A message with calls and no content (``content`` missing or ``None``, as OpenAI clients send
    #: it): ``"refuse"``, as templates that read the content unguarded do, ``"empty"``, or ``"final"``:
    #: empty in the conversation's final message only (QwQ's template reads it elsewhere to cut reasoning).
    missing_content: str = "refuse"
    #: ``arguments = "parameters"``: one argument's text (``{key}``, ``{value}``) and its value's format.
    parameter: Text = EMPTY
    value: str = "json_or_str"
    #: At most this many calls per message; 0: no limit. More are refused with ``max_message``, the
    #: template's own refusal, or, without it (a template that leaves the others out), as unsupported.
    max: int = 0
    max_message: Optional[str] = None
    #: See ``CALL_CONTENT``; ``refuse``: a template that writes the calls in place of the content
    #: (Llama 3.x) would leave a non-empty content out, so it is refused.
    content: str = "write"
    #: The refusal text for a message whose role's texts name the previous call (``{call_name}``: the
    #: last call written since the last message of ``role`` without calls) when there is none.
    no_call_message: Optional[str] = None
    #: ``nested``: each call must be ``{"function": {...}}`` as the template reads it; ``either``:
    #: the inner object alone is taken too.
    shape: str = "either"
    #: An empty ``tool_calls`` list: ``none``, no calls (templates testing ``if message.tool_calls``);
    #: ``refuse``, for templates that test whether the key is there (``'tool_calls' in message``) and
    #: then raise, leave the whole message out or write a calls block without calls in
    #: place of the content (DeepSeek R1 and V3.1; Mistral Nemo writes an unclosed call block).
    empty: str = "none"
    #: A message's calls are refused where this holds (facts ``final`` and ``generation_prompt``): the
    #: template leaves them out there (Nemotron Nano v2, a final message's calls under a generation prompt).
    refuse_when: Optional[Condition] = None
    #: A message with calls whose content is a list of parts: ``join`` the parts as ``[parts]``
    #: declares, or ``refuse`` it where the template prints the list as it is (Kimi K2).
    content_parts: str = "join"
    #: How ``{name}`` is written (``NAME_FORMS``).
    name: str = "text"
    #: How ``{id}``, the call's ``id``, is written (``ID_FORMS``); ``None``: the call texts do not use it.
    id: Optional[str] = None

    #: The content of a message with calls is trimmed so, instead of by its role's ``trim``.
    trim: Optional[str] = None
    #: ``arguments = "parameters"``: the text between two parameters.
    separator: str = ""
    #: ``after_content`` (as most templates) or ``before_content``: where the calls are written.
    position: str = "after_content"
    #: A content starting with this text is left out by the template when the message has calls
    #: (MiniCPM3's): such a content is refused.
    refuse_content_starting: Optional[str] = None

    @property
    def typed(self) -> bool:
        """Whether a call text writes the call's ``type`` (which each call must then have)."""
        return any("type" in text.names for text in (self.call, *(t for _, t in self.call_when)))
    #: Written before the first call and after the last of a message (Jamba's ``<tool_calls>[``, ``]``).
    prefix: str = ""
    suffix: str = ""

    def extra(self) -> Optional[Tuple[str, str, bool]]:
        """What the call texts need besides the name, arguments and type as ``_runtime.tools.call_texts``
        takes it: ``(name form, id form or "", whether {function_members} is used)``, or ``None``."""
        texts = [self.call] + [text for _, text in self.call_when]
        members = any("function_members" in text.names for text in texts)
        if self.name == "text" and self.id is None and not members:
            return None
        return (self.name, self.id or "", members)

    def form(self) -> Tuple[str, Tuple[Union[str, int], ...], str, str]:
        """How the arguments are written, as ``_runtime.tools.write_arguments`` takes it."""
        pieces = tuple(p if isinstance(p, str) else (0 if p.name == "key" else 1) for p in self.parameter.pieces)
        return (self.arguments, pieces, self.value, self.separator)


#: Where documents go: ``turn_after_system``, right after the system block (and a tools turn there),
#: Granite; ``before_last_user``, before the last user message, or before the first message after the
#: system block when none is the user's (Jamba); ``after_first_user``, after the first user message
#: (Command A).
DOCUMENT_PLACEMENTS = ("turn_after_system", "before_last_user", "after_first_user")
#: A document key's value: ``text``, a string written as it is; ``scalar``, a string, a number or a
#: boolean, written as Python's ``str()`` (Jinja's ``|string``); anything else is refused.
DOCUMENT_VALUES = ("text", "scalar")
#: How ``others`` writes a key's name: as it is, or through Jinja's ``title`` filter (``page-no`` ->
#: ``Page-No``).
DOCUMENT_KEY_CASES = ("as_is", "title")
#: The slots of a document's text besides its keys: its position, the whole document through
#: ``tojson``, and the keys not named (``others``).
DOCUMENT_SLOTS = ("index", "json", "others")


@attrs.frozen
class Documents:
    """The documents passed to ``render(..., documents=[...])``, as one text.

    The text is ``prefix``, then each document written as ``item`` (``separator``
    between two), then ``suffix``. ``item``'s slots: ``{index}`` (the document's
    position), ``{json}`` (the whole document through ``tojson``), a key of
    ``keys`` (its value, which every document must have, of the kind given, see
    ``DOCUMENT_VALUES``), a key of ``optional`` (its text, with ``{value}``,
    when the document has the key, else nothing; the value must be a string),
    and ``{others}`` (every other key, in the document's order, as ``others``
    with ``{key}`` and ``{value}``, a scalar). A key the format does not write
    is refused unless ``ignore`` lists it (the template leaves it out).
    """

    placement: str
    prefix: str = ""
    item: Text = EMPTY
    separator: str = ""
    suffix: str = ""
    keys: Tuple[Tuple[str, str], ...] = ()
    optional: Tuple[Tuple[str, Text], ...] = ()
    others: Optional[Text] = None
    others_key: str = "as_is"
    ignore: Tuple[str, ...] = ()
    #: The documents are written as a call of the template's own (Command A's document-injection tool):
    #: they take a call number (``{number}``), so the calls written after them are numbered one more. A
    #: result answering such a call is refused: the template numbers results without that call, so the
    #: number it would write names another call.
    counts_as_call: bool = False


@attrs.frozen
class Output:
    """How the model writes an assistant turn, where that differs from how the format writes one in
    history (``Format.parse_output`` reads completions with it; rendering never does).

    ``prefix`` replaces the assistant role's prefix as the opening the model continues after the
    generation prompt (DeepSeek V3.1 writes ``</think>`` into history turns' prefix, while its
    generation prompt opens or closes a reasoning block). ``reasoning`` is how a completion writes
    its reasoning before the answer, ``{reasoning}`` then ``{content}`` (DeepSeek R1 and QwQ write
    ``<think>`` blocks that their templates cut from history). ``call_id`` is the id a call's text
    stands for, from its ``{name}``, ``{index}`` and ``{number}`` (Kimi K2's ``functions.{name}:{index}``,
    Command R7B's ``{number}``). ``call_name = "attach"``: a call is the message whose attached field
    names the function (GLM-4's ``metadata``).
    """

    prefix: Optional[Text] = None
    reasoning: Optional[Text] = None
    call_id: Optional[Text] = None
    #: ``prefix = [{when = {...}, text = "..."}, ..., {text = "..."}]``: the variants before ``prefix``.
    prefix_when: Tuple[Variant, ...] = ()
    #: ``OPEN{content}``: the text the model writes before its answer (gpt-oss's final channel).
    content: Optional[Text] = None
    #: The texts a model writes a call as (any of them), with ``{name}`` and ``{arguments}``, where
    #: they differ from ``[calls] call`` (gpt-oss's commentary channel, recipient first or last).
    call: Tuple[Text, ...] = ()
    #: ``"attach"``: a call is an assistant message whose attached field, written in the role's prefix
    #: (``{attach}``), names the function, its content the arguments as a JSON object (GLM-4's
    #: ``metadata``); ``parse_output`` gives that message back as the format writes it.
    call_name: Optional[str] = None


#: What ``[output] call_name`` may say the call's name is.
CALL_NAMES = ("attach",)


@attrs.frozen
class FormatSpec:
    """A whole validated format declaration."""

    name: str
    path: Optional[str] = None
    description: str = ""
    models: Tuple[str, ...] = ()
    #: fingerprints of the official templates this format reproduces (``promptcraft.identify``)
    templates: Tuple[str, ...] = ()
    stop: Tuple[str, ...] = ()
    bos: Optional[str] = None
    eos: Optional[str] = None
    start: Text = EMPTY
    start_when_first: Tuple[str, ...] = ()
    #: ``start = [{when = {tools = true}, text = ...}, {text = ...}]``: the variants tried before ``start``.
    start_when: Tuple[Variant, ...] = ()
    system: System = System()
    roles: Tuple[Role, ...] = ()
    any_role: Optional[Role] = None
    alternation: Optional[Alternation] = None
    generation: Generation = Generation()
    variables: Tuple[Variable, ...] = ()
    control: Control = Control()
    reasoning: Optional[ReasoningDisplay] = None
    message: MessageRules = MessageRules()
    parts: Optional[Parts] = None
    tools: Optional[Tools] = None
    calls: Optional[Calls] = None
    #: The built-in format that renders whenever ``tools`` is given (not ``None``), as transformers
    #: picks a model's named ``tool_use`` template then.
    tool_use: Optional[str] = None
    #: This format is the named ``tool_use`` template of these models (whose default template
    #: another format serves, naming this one in ``tool_use``).
    tool_use_of: Tuple[str, ...] = ()
    #: The declaration of ``tool_use``, resolved through the registry by the loader.
    tool_use_spec: Optional["FormatSpec"] = None
    thinking: Optional[Thinking] = None
    output: Optional[Output] = None
    documents: Optional[Documents] = None

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
