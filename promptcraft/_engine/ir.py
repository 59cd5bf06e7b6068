"""The core representation of a chat format: what every back end reads.

A format file says things in the words its authors know (``prefix_after``,
``final_suffix_with_prompt``, ``when_empty``, ``start_when_first``,
``otherwise_after``, ``require_body``...). ``lower`` translates those once into
this small closed vocabulary, and the code generator (and later the prompt
parser and the Jinja exporter) read only this:

- a **Seq** is a tuple of pieces, each a literal (``Lit``), a value (``Slot``:
  the message's role or content, the system text, reasoning, a declared
  variable) or a ``Choice``; every literal and value carries its **kind**
  (scaffold, content, reasoning, generation prompt), which is what spans report;
- a **Choice** picks the first ``Case`` whose ``When`` holds. ``When`` is a
  conjunction over a closed set of facts of the conversation: the generation
  flag, whether the message is the final one, whether its content is empty,
  the role written before it, the first message's role, whether any message
  remains after a taken-out system message, the thinking mode. There are no
  expressions: the facts are computed by the engine, never by the format;
- a **Role** is what happens to a message of one role: refused, dropped, or
  its content transformed (cut at a reasoning marker, trimmed, shown through
  the reasoning display) and written by its ``body`` choice;
- the **System** block says where a leading system message goes (placements
  ``message``, ``block``, ``fold_first``, ``fold_last``, ``hoist``, ``refuse``).

Everything here is plain frozen data, built from a validated ``FormatSpec``;
nothing in it comes from a format file except literal text and names that
validation has checked.
"""

from __future__ import annotations

from typing import Any, Optional, Tuple, Union

import attrs

from .._spec.model import Variable  # a declared variable needs no lowering

SCAFFOLD = "scaffold"
CONTENT = "content"
REASONING = "reasoning"
GENERATION_PROMPT = "generation_prompt"
TOOLS = "tools"
TOOL_CALLS = "tool_calls"
DOCUMENTS = "documents"
#: Every kind of text, in the order of their codes in generated span tags.
KINDS = (SCAFFOLD, CONTENT, REASONING, GENERATION_PROMPT, TOOLS, TOOL_CALLS, DOCUMENTS)

#: The slot names of message values; any other slot name is a declared variable.
MESSAGE_SLOTS = ("role", "content", "system", "reasoning", "calls", "tool_call_id", "call_number", "call_name",
                 "attach", "value", "name")


@attrs.frozen
class Lit:
    """Literal text from the format."""

    text: str
    kind: str = SCAFFOLD


@attrs.frozen
class Slot:
    """A value filled at render time: ``role``, ``content``, ``system``, ``reasoning``, ``calls``,
    ``tool_call_id`` or a variable."""

    name: str
    kind: str = SCAFFOLD


@attrs.frozen
class When:
    """A conjunction of facts; ``None`` leaves a fact open.

    ``prev_role``, ``next_role`` and ``first_role`` hold when the role written
    before this message (the next message's role, the first message's role) is
    one of the names given; no message before (or after) never matches.
    """

    gen: Optional[bool] = None
    first: Optional[bool] = None
    final: Optional[bool] = None
    empty: Optional[bool] = None
    prev_role: Optional[Tuple[str, ...]] = None
    next_role: Optional[Tuple[str, ...]] = None
    first_role: Optional[Tuple[str, ...]] = None
    body: Optional[bool] = None
    #: The message has tool calls.
    calls: Optional[bool] = None
    #: The content as given (before cuts and trims) is empty.
    given_empty: Optional[bool] = None
    #: Tool definitions were passed.
    tools: Optional[bool] = None
    #: A message of one of these roles was written before this one (not just before: anywhere).
    earlier: Optional[Tuple[str, ...]] = None
    #: A message written before this one had tool calls.
    earlier_calls: Optional[bool] = None
    #: The thinking mode is on (``Thinking``).
    thinking: Optional[bool] = None
    #: The conversation's message before this one (at the end: its last message) has one of these roles.
    prev_message: Optional[Tuple[str, ...]] = None
    #: Documents were passed.
    documents: Optional[bool] = None
    #: The message has a ``name``.
    named: Optional[bool] = None
    #: ``(variable, key)`` pairs: each mapping variable was given with that key.
    has: Optional[Tuple[Tuple[str, str], ...]] = None
    #: The message is the first after a leading system message (or the first, without one).
    opening: Optional[bool] = None
    #: The message shows reasoning given in its field (a role with ``given_reasoning``).
    reasoning: Optional[bool] = None
    #: ``(variable, number)`` pairs: each number variable's value equals that number.
    equals: Optional[Tuple[Tuple[str, Union[int, float]], ...]] = None

    @property
    def always(self) -> bool:
        return self == ALWAYS


ALWAYS = When()


@attrs.frozen
class Case:
    when: When
    seq: "Seq"


@attrs.frozen
class Choice:
    """The first case whose condition holds is written; the last case is unconditional."""

    cases: Tuple[Case, ...]


Piece = Union[Lit, Slot, Choice]
Seq = Tuple[Piece, ...]


@attrs.frozen
class Cut:
    """Keep only what follows ``marker`` (its last or first occurrence), then strip ``lstrip``
    characters; ``always``: strip even without the marker; ``history``: not in the final message;
    not right after a message of the ``skip_after`` roles, nor (``skip_calls``) in a message with calls."""

    marker: str
    keep: str
    lstrip: str
    history: bool
    always: bool
    skip_after: Tuple[str, ...] = ()
    skip_calls: bool = False


@attrs.frozen
class CallText:
    """One way of writing a call: literals, and ``0`` for the call's name, ``1`` for its arguments,
    ``2`` for its position in the message, ``3`` for its ``type``, ``4`` for its position among the
    conversation's calls, ``5`` for its id, ``6`` for its function object's members; used when the call
    is the message's ``first`` (or not), its ``last`` (or not), its answer is ``empty`` (or not) and an
    earlier message had calls (or not), ``None`` leaving each open."""

    first: Optional[bool]
    empty: Optional[bool]
    text: Tuple[Union[str, int], ...]
    earlier_calls: Optional[bool] = None
    #: The message is the conversation's last (``None``: either).
    final: Optional[bool] = None
    #: The call's function name is one of these (``None``: any).
    names: Optional[Tuple[str, ...]] = None
    last: Optional[bool] = None


@attrs.frozen
class Calls:
    """How a role writes its messages' ``tool_calls`` (see ``_spec.model.Calls``)."""

    texts: Tuple[CallText, ...]
    #: How the arguments are written: ``(mode, parameter text, value format, separator)``
    #: (``_spec.model.Calls.form``).
    form: Tuple[str, Tuple[Union[str, int], ...], str, str]
    ignore: Tuple[str, ...]
    #: A message with calls may leave out its content (it is then empty); ``"final"``: the final one only.
    content_optional: Union[bool, str] = False
    #: At most this many calls (0: any number), else refused.
    max: int = 0
    #: A message with calls must have empty content (the template writes the calls in its place).
    content_refused: bool = False
    #: Each call must have its ``function`` object.
    nested: bool = False
    #: An empty ``tool_calls`` list is refused (not taken as no calls).
    empty_refused: bool = False
    #: Each call must have a ``type`` string, which a call text writes.
    typed: bool = False
    #: The content is written in the conversation's first message with calls only; a later one's
    #: must be empty (or missing).
    content_first: bool = False
    #: The calls are refused where this holds (facts ``final`` and ``gen``): the template leaves them out.
    refused: Optional[When] = None
    #: The content of a message with calls is its reasoning, and it writes none (``[calls] content``).
    content_reasoning: bool = False
    #: Written before the message's first call and after its last.
    open: str = ""
    close: str = ""
    #: The content of a message with calls is trimmed so (``None``: by the role's trim).
    trim: Optional[str] = None
    #: The calls are written before the content (``Slot("calls")`` before ``Slot("content")``).
    before: bool = False
    #: A message with calls whose content starts with this text is refused (the template leaves it out).
    refuse_content_starting: Optional[str] = None
    #: ``_spec.model.Calls.extra``: the call texts' name form, id form and ``{function_members}``
    #: (pieces ``5`` and ``6`` of a ``CallText``), or ``None``.
    extra: Optional[Tuple[str, str, bool]] = None


@attrs.frozen
class Tools:
    """The tool definitions' text, and where it goes in the system message (``_spec.model.Tools``)."""

    placement: str
    join: str
    #: ``(prefix, item_prefix, item_suffix, separator, suffix, indent)``, what ``_runtime.tools.tools_text``
    #: takes (``indent``: ``-1`` for one line), then the serialiser's name where it is not ``json``, the
    #: envelope where it is not ``whole``, and the schema keys the serialiser leaves out where there are any.
    layout: Tuple[Any, ...]
    #: An empty list is written (a block without definitions), not taken as no tools.
    written_empty: bool = False
    #: ``system`` or ``text`` (see ``_spec.model.Tools.join_when``).
    join_when: str = "system"
    #: ``first_user``: the trim of the content the tools go in.
    trim: str = "none"
    #: A render without tools is refused.
    required: bool = False
    #: An empty list is refused (the template writes a broken block for it).
    refuse_empty: bool = False


@attrs.frozen
class Parts:
    """A role's content given as a list of parts (``_spec.model.Parts``)."""

    #: What ``_runtime.parts.text`` takes: ``(trim, kinds)``.
    form: Tuple[object, ...]
    #: For a catch-all role, the roles whose lists it takes; ``None``: the role's own.
    roles: Optional[Tuple[str, ...]] = None
    #: A message with tool calls may give its content as parts (``[calls] content_parts``).
    with_calls: bool = True


@attrs.frozen
class Documents:
    """The documents' text and where it goes (``_spec.model.Documents``): ``layout`` is what
    ``_runtime.documents.documents_text`` takes, texts as tuples of literals and ``(name,)`` slots."""

    placement: str
    layout: Tuple[Any, ...]
    #: The documents take a call number (``_spec.model.Documents.counts_as_call``).
    counts_as_call: bool = False


@attrs.frozen
class Role:
    """How a message of role ``name`` (``None``: any role not listed) is written."""

    name: Optional[str]
    action: str  # "write", "drop" or "refuse"
    body: Choice = Choice((Case(ALWAYS, ()),))
    trim: str = "none"
    cut: Optional[Cut] = None
    refuse_containing: Tuple[str, ...] = ()
    display: bool = False
    #: Whether ``body`` writes the role's name (a catch-all role that does not must check its type).
    writes_role: bool = False
    #: The role writes tool calls (``Slot("calls")`` in ``body``, after the content).
    calls: Optional[Calls] = None
    #: The content is written through ``tojson``.
    content_json: bool = False
    #: The tools go between this role's prefix and content in the first message (``Slot("tools")``).
    first_tools: bool = False
    #: Strings taken out of the content, in order, before the cut and the trim.
    remove: Tuple[str, ...] = ()
    #: ``body`` names the previous call (``Slot("call_name")``): refused where there is none.
    names_call: bool = False
    #: The message field this role writes (``Slot("attach")`` in ``body``: ``attach_text`` around its
    #: value, ``Slot("value")``), when the message has it.
    attach_field: Optional[str] = None
    attach_text: "Seq" = ()
    #: The content may be a list of parts.
    parts: Optional[Parts] = None
    #: ``body`` writes the message's ``name`` (``Slot("name")``, under ``When(named=True)``).
    writes_name: bool = False
    #: The role's texts write the reasoning given in the message's field (``Slot("reasoning")``),
    #: trimmed so (``both`` or ``newlines``); ``None``: they do not.
    given_reasoning: Optional[str] = None
    #: The field the reasoning is given in where transformers does not alias it (``tool_plan``): only this
    #: role reads it; ``None``: the aliased fields.
    given_field: Optional[str] = None
    #: The prefix's cases in order, each with whether it writes ``Slot("reasoning")``, where one a message
    #: with reasoning may reach does not: a non-empty reasoning there is refused (its template leaves it
    #: out, as Cohere's leave a plan out of a message without calls). Empty where every such case writes it.
    given_unwritten: Tuple[Tuple[When, bool], ...] = ()
    #: The tools go before this role's prefix in the last user message and those equal to it
    #: (``Slot("tools")`` first in ``body``).
    last_tools: bool = False
    #: How ``Slot("tool_call_id")`` is written where it is required (``_spec.model.ID_FORMS``); ``None``:
    #: the message's ``tool_call_id`` as given, empty without one.
    call_id: Optional[str] = None


@attrs.frozen
class System:
    """Where a leading system message goes, and what stands in for a missing one."""

    placement: str
    leading: Tuple[str, ...]
    trim: str = "none"
    #: ``block`` and ``hoist``: written around the system text (a ``Slot("system")`` inside).
    block: Seq = ()
    #: Surrounds the caller's system text (``{system}`` inside), not the default.
    wrap: Optional[Seq] = None
    default: Optional[Seq] = None
    default_when: str = "first_not_system"
    skip_empty: bool = False
    keep_empty: bool = False
    fold: Optional[Seq] = None
    fold_order: str = "fold_then_trim"
    select: str = "all"
    join: str = ""
    item_prefix: Seq = ()
    #: ``hoist``: written after each system text (a choice by ``tools``).
    item_suffix: Seq = ()
    #: ``message`` placement: the default system message as its role writes it.
    default_message: Optional[Seq] = None
    #: ``block``: strings taken out of the system text, in order, before the trim.
    remove: Tuple[str, ...] = ()
    #: ``block``: a system text holding this marker is written through ``override_block`` instead.
    override: Optional[str] = None
    override_block: Seq = ()
    #: ``block``: a conversation with nothing after its leading system message is refused.
    refuse_alone: bool = False
    #: ``block``: written after the block, whether or not one was written (a choice).
    after: Seq = ()

    #: How the system message taken out reads a list of parts (``_spec.model.SYSTEM_PARTS``), and
    #: the form for ``parts`` and ``text``.
    parts: str = "refuse"
    parts_form: Optional[Tuple[object, ...]] = None
    #: The default is left out when a message has an image part (of this form's kinds).
    unless_images: Optional[Tuple[object, ...]] = None


@attrs.frozen
class Thinking:
    """The thinking mode, a fact (``When.thinking``): see ``_spec.model.Thinking``."""

    variable: Optional[str]
    default: bool
    #: The flags, in the order a message is searched for them, each with the mode it sets.
    flags: Tuple[Tuple[str, bool], ...]
    roles: Tuple[str, ...]
    #: Only the conversation's first message is read (else every message of ``roles``, in order).
    first_only: bool


@attrs.frozen
class Display:
    """The reasoning display (Qwen3): see ``ReasoningDisplay`` in the spec model."""

    role: str
    open: str
    close: str
    template: Seq
    reasoning_trim: str
    always: bool
    query_exclude: Tuple[str, ...]
    query_trim: str
    refuse_without_query: bool
    #: The reasoning may come from a message field (see ``ReasoningDisplay.field``).
    field: bool = False
    #: The field the template reads, first among the aliases (``_spec.model.REASONING_FIELDS``).
    field_name: str = "reasoning_content"
    #: The template is written before the message (``placement = "before"``), not in place of its content.
    before: bool = False
    #: The content is split at ``close`` where no field is given.
    split: bool = True
    #: ``show = "until_answer"`` (see ``ReasoningDisplay``).
    until_answer: bool = False
    #: A reasoning field holding one of these is refused.
    refuse_containing: Tuple[str, ...] = ()
    #: A user message's list of parts, read for the query test without labels (the user role's form).
    query_parts: Optional[Tuple[object, ...]] = None


@attrs.frozen
class Program:
    """A whole format, lowered."""

    name: str
    path: Optional[str]
    fields: Tuple[str, ...]
    variables: Tuple[Variable, ...]
    start: Choice
    system: System
    roles: Tuple[Role, ...]
    any_role: Optional[Role]
    alternation: bool
    display: Optional[Display]
    end: Choice
    tools: Optional[Tools] = None
    thinking: Optional[Thinking] = None
    #: The switch that writes the labels of media parts, and its default.
    labels: Optional[Tuple[str, bool]] = None
    documents: Optional[Documents] = None
    #: Tool definitions given in a message's ``tools`` field, written before it (placement ``message``);
    #: ``tools`` is then ``None``, as the request's tools are refused.
    message_tools: Optional[Tools] = None
    #: Some role writes a message's ``name`` and the format does not ignore names: a message whose
    #: name is not written (its role writes none, or it is taken out) is refused.
    refuse_names: bool = False
    #: The alternation leaves out messages of these roles and, with ``alternation_skip_calls``,
    #: those whose ``tool_calls`` is given (``_spec.model.Alternation``).
    alternation_skip_roles: Tuple[str, ...] = ()
    alternation_skip_calls: bool = False

    def role(self, name: str) -> Optional[Role]:
        for role in self.roles:
            if role.name == name:
                return role
        return self.any_role
