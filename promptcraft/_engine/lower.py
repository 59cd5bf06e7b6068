"""Lowering: a validated ``FormatSpec`` -> the core ``Program`` (see ``ir``).

The one place where the surface language's conveniences are expanded. Eight
keys of the format file are one mechanism here, a ``Choice`` over facts of the
conversation:

=============================  ==============================================
format file                    core representation
=============================  ==============================================
``prefix_after``               prefix cases ``When(prev_role=...)``
``final_suffix``               suffix case ``When(final=True, gen=False)``
``final_suffix_with_prompt``   suffix case ``When(final=True, gen=True)``
``when_empty``, ``skip_empty``  body case ``When(empty=True)``
``start_when_first``           start case ``When(first_role=...)``
``prompt_after``               end case ``When(gen=True, prev_role=...)``
``otherwise_after``            end case ``When(prev_role=...)``
``require_body``               end case ``When(gen=True, body=False)``
=============================  ==============================================

Constant parts are folded here too: a default system message made of literals
becomes one literal, as its role writes it.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Tuple, Union

from .._spec import model
from . import ir
from .ir import (
    ALWAYS,
    CONTENT,
    GENERATION_PROMPT,
    REASONING,
    SCAFFOLD,
    TOOL_CALLS,
    TOOLS,
    Case,
    Choice,
    Lit,
    Slot,
    When,
)

_SLOT_KINDS = {"content": CONTENT, "system": CONTENT, "reasoning": REASONING, "attach": TOOLS}


def seq(text: model.Text, kind: str = SCAFFOLD) -> ir.Seq:
    """A format string as pieces of ``kind``; message values keep their own kind."""
    pieces: List[ir.Piece] = []
    for piece in text.pieces:
        if isinstance(piece, str):
            pieces.append(Lit(piece, kind))
        else:
            pieces.append(Slot(piece.name, _SLOT_KINDS.get(piece.name, kind)))
    return tuple(pieces)


def choice(cases: List[Case]) -> ir.Seq:
    """A choice, or its only case's pieces when it has no condition."""
    if len(cases) == 1 and cases[0].when.always:
        return cases[0].seq
    return (Choice(tuple(cases)),)


def _role(spec: model.FormatSpec, role: model.Role, catch_all: bool = False) -> ir.Role:
    name = None if catch_all else role.name
    if role.refuse is not None:
        return ir.Role(name, "refuse")
    if role.drop:
        # A dropped message's parts are still checked, and its media counted.
        return ir.Role(name, "drop", parts=_parts(spec, name))
    prefix = [Case(_when(condition), seq(text)) for condition, text in role.prefix_when]
    prefix += [Case(When(prev_role=(after,)), seq(text)) for after, text in role.prefix_after]
    prefix.append(Case(ALWAYS, seq(role.prefix)))
    suffix = [Case(_when(condition), seq(text)) for condition, text in role.suffix_when]
    if role.final_suffix_with_prompt is not None:
        suffix.append(Case(When(final=True, gen=True), seq(role.final_suffix_with_prompt)))
    if role.final_suffix is not None:
        suffix.append(Case(When(final=True, gen=False), seq(role.final_suffix)))
    suffix.append(Case(ALWAYS, seq(role.suffix)))
    calls = _calls(spec.calls) if spec.calls is not None and spec.calls.role == name else None
    # The calls follow the content, as most corpus templates that write them in the message write them.
    first_tools = spec.tools is not None and spec.tools.placement == "first_user" and name == "user"
    last_tools = spec.tools is not None and spec.tools.placement == "last_user" and name == "user"
    called = (Slot("calls", TOOL_CALLS),) if calls else ()
    content: ir.Seq = (Slot("content", CONTENT),)
    content = called + content if calls is not None and calls.before else content + called
    written = ((Slot("tools", TOOLS),) if last_tools else ()) + choice(prefix) \
        + ((Slot("tools", TOOLS),) if first_tools else ()) + content \
        + ((Slot("attach", TOOLS),) if role.attach_field is not None and not role.attach_in_prefix else ()) \
        + choice(suffix)
    cases = []
    shown = spec.reasoning
    # The trim of the reasoning this role's texts write from the message's field (show = "given").
    given = shown.reasoning_trim if shown is not None and shown.show == "given" and shown.role == name else None
    # An empty message is left out (or replaced) only when it has no calls (nor reasoning) to write.
    empty = When(empty=True, calls=False if calls else None, reasoning=False if given else None)
    if role.skip_empty:
        cases.append(Case(empty, ()))
    elif role.when_empty is not None:
        cases.append(Case(empty, seq(role.when_empty)))
    cases.append(Case(ALWAYS, written))
    body = Choice(tuple(cases))
    cut = None
    if role.strip_reasoning is not None:
        rule = role.strip_reasoning
        cut = ir.Cut(rule.marker, rule.keep, rule.lstrip, rule.scope == "history", rule.always, rule.skip_after,
                     rule.skip_calls)
    display = shown is not None and shown.role == name and given is None
    given_field = shown.field if given is not None and shown is not None and \
        shown.field not in model.REASONING_FIELDS else None
    return ir.Role(name, "write", body, role.trim, cut, role.refuse_containing, display,
                   writes_role=writes(body.cases, "role"), calls=calls, content_json=role.content == "json",
                   first_tools=first_tools, remove=role.remove, names_call=uses((body,), "call_name"),
                   parts=_parts(spec, name), attach_field=role.attach_field,
                   attach_text=seq(role.attach_text, SCAFFOLD) if role.attach_text is not None else (),
                   writes_name=role.writes_name, given_reasoning=given, last_tools=last_tools,
                   given_field=given_field, given_unwritten=_unwritten(prefix) if given is not None else (),
                   call_id=role.tool_call_id)


def _unwritten(prefix: List[Case]) -> Tuple[Tuple[When, bool], ...]:
    """``ir.Role.given_unwritten`` of a role's prefix cases."""
    for case in prefix:
        if case.when.reasoning is False:
            continue  # no message with reasoning reaches it
        if Slot("reasoning", REASONING) not in case.seq:
            return tuple((c.when, Slot("reasoning", REASONING) in c.seq) for c in prefix)
        if case.when in (ALWAYS, When(reasoning=True)):
            break  # every message with reasoning stops here or before
    return ()


def _parts(spec: model.FormatSpec, name: Optional[str]) -> Optional[ir.Parts]:
    """The lists of parts a role takes (``name`` ``None``: the catch-all, for the roles not declared)."""
    rules = spec.parts
    if rules is None:
        return None
    with_calls = spec.calls is None or spec.calls.content_parts == "join"
    if name is not None:
        return ir.Parts(rules.form(), None, with_calls) if name in rules.roles else None
    covered = tuple(r for r in rules.roles if all(declared.name != r for declared in spec.roles))
    return ir.Parts(rules.form(), covered, with_calls) if covered else None


def _when(condition: model.Condition) -> When:
    return When(gen=condition.generation_prompt, first=condition.first, final=condition.final,
                empty=condition.empty, prev_role=condition.previous, next_role=condition.next,
                calls=condition.calls, given_empty=condition.given_empty, tools=condition.tools,
                earlier=condition.earlier, earlier_calls=condition.earlier_calls,
                thinking=condition.thinking, prev_message=condition.previous_message, documents=condition.documents,
                named=condition.named, has=condition.has, opening=condition.opening, reasoning=condition.reasoning,
                equals=condition.equals)


#: A call text's slots, as ``ir.CallText`` numbers them.
_CALL_SLOTS = {"name": 0, "arguments": 1, "index": 2, "type": 3, "number": 4, "id": 5, "function_members": 6}


def _call_text(text: model.Text) -> Tuple[Union[str, int], ...]:
    return tuple(piece if isinstance(piece, str) else _CALL_SLOTS[piece.name] for piece in text.pieces)


def _calls(calls: model.Calls) -> ir.Calls:
    texts = [ir.CallText(c.first, c.empty, _call_text(text), c.earlier_calls, c.final, c.call_name, c.last)
             for c, text in calls.call_when]
    texts.append(ir.CallText(None, None, _call_text(calls.call)))
    optional: Union[bool, str] = {"refuse": False, "empty": True}.get(calls.missing_content, "final")
    refused = calls.refuse_when
    return ir.Calls(tuple(texts), calls.form(), calls.ignore, optional, calls.max,
                    calls.content == "refuse", calls.shape == "nested", calls.empty == "refuse", calls.typed,
                    calls.content == "first_message",
                    When(final=refused.final, gen=refused.generation_prompt) if refused is not None else None,
                    content_reasoning=calls.content == "reasoning", open=calls.prefix, close=calls.suffix,
                    trim=calls.trim, before=calls.position == "before_content",
                    refuse_content_starting=calls.refuse_content_starting, extra=calls.extra())


def _tools(tools: model.Tools) -> ir.Tools:
    return ir.Tools(tools.placement, tools.join, layout(tools), tools.empty == "written", tools.join_when,
                    tools.trim, tools.required, tools.empty == "refuse")


def layout(tools: model.Tools) -> Tuple[Any, ...]:
    """What ``_runtime.tools.join_tools`` takes: the texts, the indent, and a named serialiser, an
    envelope, the schema keys the serialiser leaves out and the built-in tools' texts where they are not the
    default ones."""
    texts = (tools.prefix, tools.item_prefix, tools.item_suffix, tools.separator, tools.suffix,
             -1 if tools.indent is None else tools.indent)
    if tools.builtin:
        return texts + (tools.item, tools.envelope, tools.ignore, tools.builtin)
    if tools.ignore:
        return texts + (tools.item, tools.envelope, tools.ignore)
    if tools.envelope != "whole":
        return texts + (tools.item, tools.envelope)
    return texts if tools.item == "json" else texts + (tools.item,)


def _pieces(text: model.Text) -> Tuple[object, ...]:
    """A text as ``_runtime.documents`` takes it: literals, and ``(name,)`` for a slot."""
    return tuple(p if isinstance(p, str) else (p.name,) for p in text.pieces)


def documents_layout(documents: model.Documents) -> Tuple[object, ...]:
    """What ``_runtime.documents.write_documents`` takes for ``documents``."""
    return (documents.prefix, _pieces(documents.item), documents.separator, documents.suffix, documents.keys,
            tuple((name, _pieces(text)) for name, text in documents.optional),
            _pieces(documents.others) if documents.others is not None else None, documents.others_key,
            documents.ignore)


def writes(cases: Tuple[Case, ...], slot: str) -> bool:
    """Whether every case writes the value ``slot``."""
    return all(_seq_writes(case.seq, slot) for case in cases)


def uses(pieces: ir.Seq, slot: str) -> bool:
    """Whether any piece, in any case of any choice, is the value ``slot``."""
    for piece in pieces:
        if isinstance(piece, Slot) and piece.name == slot:
            return True
        if isinstance(piece, Choice) and any(uses(case.seq, slot) for case in piece.cases):
            return True
    return False


def _seq_writes(pieces: ir.Seq, slot: str) -> bool:
    for piece in pieces:
        if isinstance(piece, Slot) and piece.name == slot:
            return True
        if isinstance(piece, Choice) and writes(piece.cases, slot):
            return True
    return False


def specialize(pieces: ir.Seq, facts: Dict[str, object]) -> ir.Seq:
    """``pieces`` with every choice decided where ``facts`` decide it (``fact -> value``)."""
    out: List[ir.Piece] = []
    for piece in pieces:
        if not isinstance(piece, Choice):
            out.append(piece)
            continue
        cases: List[Case] = []
        for case in piece.cases:
            holds = _holds(case.when, facts)
            if holds is False:
                continue
            rest = _rest(case.when, facts)
            if any(earlier.when == rest for earlier in cases):
                continue  # an earlier case with the same condition hides it
            cases.append(Case(rest, specialize(case.seq, facts)))
            if holds is True and cases[-1].when.always:
                break
        out.extend(choice(cases))
    return tuple(out)


def _holds(when: When, facts: Dict[str, object]) -> Optional[bool]:
    """True or False where ``facts`` decide ``when``, ``None`` where they leave it open."""
    open_ = False
    for fact in ("gen", "first", "final", "empty", "prev_role", "next_role", "first_role", "body", "calls",
                 "given_empty", "tools", "earlier", "earlier_calls", "thinking", "prev_message", "documents",
                 "named", "has", "opening", "reasoning", "equals"):
        wanted = getattr(when, fact)
        if wanted is None:
            continue
        if fact not in facts:
            open_ = True
            continue
        value = facts[fact]
        if fact == "earlier":
            ok = not value.isdisjoint(wanted)  # type: ignore[attr-defined]
        elif fact in ("has", "equals"):
            ok = all(pair in value for pair in wanted)  # type: ignore[operator]
        else:
            ok = (value in wanted) if fact in ("prev_role", "next_role", "first_role", "prev_message") else (
                value == wanted)
        if not ok:
            return False
    return None if open_ else True


def _rest(when: When, facts: Dict[str, object]) -> When:
    import attrs

    return attrs.evolve(when, **{fact: None for fact in facts if hasattr(when, fact)})


def fold(pieces: ir.Seq) -> ir.Seq:
    """Adjacent literals of one kind as one literal."""
    out: List[ir.Piece] = []
    for piece in pieces:
        if isinstance(piece, Lit) and not piece.text:
            continue
        if isinstance(piece, Lit) and out and isinstance(out[-1], Lit) and out[-1].kind == piece.kind:
            out[-1] = Lit(out[-1].text + piece.text, piece.kind)
        else:
            out.append(piece)
    return tuple(out)


_TRIMS: Dict[str, Callable[[str], str]] = {"none": lambda s: s, "both": str.strip, "left": str.lstrip,
                                           "right": str.rstrip, "left_newlines": lambda s: s.lstrip("\n")}


def _default_message(spec: model.FormatSpec, writer: ir.Role) -> Optional[ir.Seq]:
    """The constant default system message as its role writes it, when it is constant."""
    system = spec.system
    if system.placement != "message" or system.default is None or system.default.literal is None:
        return None
    text = _TRIMS[writer.trim](system.default.literal)
    facts: Dict[str, object] = {"prev_role": None, "first": False, "final": False, "empty": text == "",
                                "given_empty": text == "", "calls": False, "earlier": frozenset(),
                                "earlier_calls": False, "prev_message": None, "named": False, "opening": False,
                                "reasoning": False}
    written = specialize((writer.body,), facts)
    name = system.leading_roles[0]
    pieces = []
    for piece in written:
        if isinstance(piece, Choice):
            return None  # a condition no constant decides: written at render time
        if isinstance(piece, Slot):
            if piece.name == "content":
                pieces.append(Lit(text, SCAFFOLD))
            elif piece.name == "role":
                pieces.append(Lit(name, SCAFFOLD))
            elif piece.name in ("tool_call_id", "call_number"):
                continue  # a message the format writes answers no call
            else:
                return None  # a variable: written at render time
        else:
            pieces.append(Lit(piece.text, SCAFFOLD))
    return fold(tuple(pieces))


def _system(spec: model.FormatSpec, roles: Dict[Optional[str], ir.Role]) -> ir.System:
    system = spec.system
    prefix = [Case(_when(condition), seq(text)) for condition, text in system.prefix_when]
    block = choice(prefix + [Case(ALWAYS, seq(system.prefix))]) + (Slot("system", CONTENT),) + seq(system.suffix)
    default = None
    if system.default_parts:
        default = fold(tuple(piece for part in system.default_parts
                             for piece in choice([Case(_when(condition), seq(text)) for condition, text in part])))
    elif system.default is not None:
        default = choice([Case(_when(condition), seq(text)) for condition, text in system.default_variants]
                         + [Case(ALWAYS, seq(system.default))])
    override = system.override
    lowered = ir.System(
        placement=system.placement, leading=system.leading_roles, trim=system.trim,
        block=block if system.placement in ("block", "hoist") else (),
        wrap=seq(system.wrap) if system.wrap is not None else None,
        default=default,
        remove=system.remove, refuse_alone=system.refuse_alone is not None,
        override=override.marker if override is not None else None,
        override_block=seq(override.prefix) + (Slot("system", CONTENT),) + seq(override.suffix)
        if override is not None else (),
        after=choice([Case(_when(condition), seq(text)) for condition, text in system.after]) if system.after else (),
        default_when=system.default_when, skip_empty=system.skip_empty, keep_empty=system.keep_empty,
        fold=seq(system.fold) if system.fold is not None else None, fold_order=system.fold_order,
        select=system.select, join=system.join, item_prefix=seq(system.item_prefix),
        item_suffix=choice([Case(_when(c), seq(t)) for c, t in system.item_suffix_when]
                           + [Case(ALWAYS, seq(system.item_suffix))]),
    )
    rules = spec.parts
    if rules is not None:
        import attrs

        lowered = attrs.evolve(
            lowered, parts=rules.system,
            parts_form=rules.form(text_only=rules.system == "text") if rules.system in ("parts", "text") else None,
            unless_images=rules.form() if system.default_unless == "images" else None)
    if system.placement == "message" and system.default is not None:
        writer = roles.get(system.leading_roles[0], roles.get(None))
        assert writer is not None
        import attrs

        lowered = attrs.evolve(lowered, default_message=_default_message(spec, writer))
    return lowered


def _end(generation: model.Generation) -> Choice:
    cases = []
    if generation.require_body:
        cases.append(Case(When(gen=True, body=False), ()))
    cases += [Case(When(gen=True, prev_role=condition.previous, prev_message=condition.previous_message,
                        thinking=condition.thinking, equals=condition.equals), seq(text, GENERATION_PROMPT))
              for condition, text in generation.prompt_when]
    cases += [Case(When(gen=True, prev_role=(role,)), seq(text, GENERATION_PROMPT))
              for role, text in generation.prompt_after]
    cases.append(Case(When(gen=True), seq(generation.prompt, GENERATION_PROMPT)))
    cases += [Case(When(prev_role=(role,)), seq(text)) for role, text in generation.otherwise_after]
    cases.append(Case(ALWAYS, seq(generation.otherwise)))
    return Choice(tuple(cases))


def lower(spec: model.FormatSpec) -> ir.Program:
    """The core program of ``spec``."""
    roles = [_role(spec, role) for role in spec.roles]
    any_role = _role(spec, spec.any_role, catch_all=True) if spec.any_role is not None else None
    by_name: Dict[Optional[str], ir.Role] = {r.name: r for r in roles}
    if any_role is not None:
        by_name[None] = any_role
    opening = choice([Case(_when(condition), seq(text)) for condition, text in spec.start_when]
                     + [Case(ALWAYS, seq(spec.start))])
    start = [Case(ALWAYS, opening)]
    if spec.start_when_first:
        start = [Case(When(first_role=spec.start_when_first), opening), Case(ALWAYS, ())]
    display = None
    if spec.reasoning is not None and spec.reasoning.show != "given":
        shown = spec.reasoning
        user = spec.role("user")
        display = ir.Display(
            role=shown.role, open=shown.open, close=shown.close, template=seq(shown.template),
            reasoning_trim=shown.reasoning_trim, always=shown.show == "always",
            query_exclude=shown.query_exclude, query_trim=user.trim if user is not None else "none",
            refuse_without_query=shown.no_query == "refuse", field=shown.field is not None,
            field_name=shown.field or "reasoning_content", before=shown.placement == "before", split=shown.split,
            until_answer=shown.show == "until_answer", refuse_containing=shown.refuse_containing,
            query_parts=spec.parts.form() if spec.parts is not None and "user" in spec.parts.roles else None,
        )
    variables = spec.variables
    refuse_names = "name" not in spec.message.ignore and any(
        r.writes_name for r in spec.roles + ((spec.any_role,) if spec.any_role else ()))
    return ir.Program(
        name=spec.name, path=spec.path, variables=variables,
        fields=("role", "content") + spec.message.ignore + (
            (model.REASONING_FIELDS if spec.reasoning.field in model.REASONING_FIELDS else (spec.reasoning.field,))
            if spec.reasoning is not None and spec.reasoning.field else ()) + (
            ("tool_calls",) if spec.calls is not None else ()) + tuple(dict.fromkeys(
            r.attach_field for r in spec.roles + ((spec.any_role,) if spec.any_role else ()) if r.attach_field))
        + (("name",) if refuse_names else ())
        + (("tools",) if spec.tools is not None and spec.tools.placement == "message" else ()),
        refuse_names=refuse_names,
        start=Choice(tuple(start)), system=_system(spec, by_name), roles=tuple(roles), any_role=any_role,
        alternation=spec.alternation is not None, display=display, end=_end(spec.generation),
        tools=_tools(spec.tools) if spec.tools is not None and spec.tools.placement not in ("none", "message")
        else None,
        message_tools=_tools(spec.tools) if spec.tools is not None and spec.tools.placement == "message" else None,
        thinking=_thinking(spec.thinking) if spec.thinking is not None else None,
        labels=_labels(spec),
        documents=(ir.Documents(spec.documents.placement, documents_layout(spec.documents),
                                spec.documents.counts_as_call)
                   if spec.documents is not None else None),
        alternation_skip_roles=spec.alternation.skip_roles if spec.alternation is not None else (),
        alternation_skip_calls=spec.alternation is not None and spec.alternation.skip_calls,
    )


def _thinking(thinking: model.Thinking) -> ir.Thinking:
    flags = ((thinking.off, False), (thinking.on, True))
    return ir.Thinking(thinking.variable, thinking.default, flags if thinking.precedence == "off" else flags[::-1],
                       thinking.roles, thinking.scope == "first")


def _labels(spec: model.FormatSpec) -> Optional[Tuple[str, bool]]:
    if spec.parts is None or spec.parts.labels is None:
        return None
    switch = next(v for v in spec.variables if v.name == spec.parts.labels)
    return (switch.name, switch.switch_default)
