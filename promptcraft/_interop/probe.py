"""``import_template``: a Jinja chat template read into a format declaration, then proved equal.

The template runs only in the bounded sandbox (``sandbox.py``). The importer
renders *probe* conversations whose contents are sentinels (``qzx0k``,
``qzx1k``...), cuts each render at the sentinels, and reads the declaration off
the pieces between them, the way one would by hand:

- what follows a role's content in every context it occurs in starts with
  that role's suffix (their longest common prefix, the end of a conversation
  included); what precedes it, once the previous suffix is taken off, is its
  prefix, a variant by the previous role where contexts differ, and what the
  first message carries before its prefix is ``start``;
- the tails of conversations ending on each role give ``[generation]``;
- whitespace around a sentinel gives each role's ``trim``; a role the
  template names verbatim gives ``[any_role]``;
- a system message written as its own turn, folded into the first user turn,
  or refused gives ``[system]``, and a conversation without one gives its
  default;
- a template that raises on broken alternation gives ``[alternation]``;
  message fields and keywords that leave every probe unchanged are ignored,
  and the ones that change it are refused (and reported), never dropped.

A second route adapts the built-in formats: one whose renders agree on the
probes, or do once its default system text is the template's, is a candidate
too, with its tools and calls. Every candidate is then rendered next to the
template on seeded conversations (text, and structured ones for the features
the candidate writes); one that writes a different string anywhere is
rejected. The first candidate with no difference is returned; a refusal where
the template writes is allowed only as a reported gap of a feature the
importer did not express.
"""

from __future__ import annotations

import datetime
import json
import random
from typing import Any, Dict, List, Optional, Sequence, Tuple

from .._format import Format
from .._spec.dump import dump, write_toml
from ..errors import FormatError, PromptcraftError, TemplateImportError
from .env import PINNED_NOW
from .sandbox import SandboxedTemplate

ROLES = ("user", "assistant")
#: Message fields a template may read; each one a probe finds unread is listed under [message] ignore.
FIELDS = {
    "name": "qzxnamek",
    "tool_call_id": "qzxidk",
    "reasoning_content": "qzxreasonk",
    "thinking": "qzxthinkk",
    "reasoning": "qzxreasoningk",
}
TOOL = {"type": "function", "function": {"name": "qzx_tool", "description": "qzxdescribek",
                                          "parameters": {"type": "object", "properties": {
                                              "city": {"type": "string", "description": "qzxcityk"}},
                                              "required": ["city"]}}}
CALL = {"id": "call_qzx1", "type": "function",
        "function": {"name": "qzx_tool", "arguments": {"city": "qzxparisk"}}}
CALL2 = {"id": "call_qzx2", "type": "function",
         "function": {"name": "qzx_other", "arguments": {"city": "qzxromek", "days": 3}}}
TOOL2 = {"type": "function", "function": {"name": "qzx_other", "description": "qzxotherk",
                                           "parameters": {"type": "object", "properties": {}}}}
CUSTOM_ROLE = "qzxrolek"
#: Markers after which templates keep only the answer of an assistant turn (``content.split(marker)[-1]``).
REASONING_MARKERS = ("</think>",)
#: A second clock: a template whose render moves with it writes today's date.
OTHER_NOW = datetime.datetime(2031, 11, 17, 8, 5)
#: strftime formats a template may write today's date in, tried in order.
DATE_FORMATS = ("%d %b %Y", "%d %B %Y", "%Y-%m-%d", "%B %d, %Y", "%b %d, %Y", "%A, %B %d, %Y", "%m/%d/%Y",
                "%d/%m/%Y", "%Y/%m/%d", "%B %d %Y", "%d.%m.%Y", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S", "%B %Y",
                "%Y")
PAD = " \n "


def sentinel(n: int) -> str:
    return f"qzx{n}k"


def _conversation(roles: Sequence[str], pad: str = "", **extra: Any) -> List[Dict[str, Any]]:
    return [{"role": role, "content": pad + sentinel(i) + pad, **extra} for i, role in enumerate(roles)]


def _cut(text: str, count: int) -> Optional[List[str]]:
    """``text`` cut at sentinels 0..count-1, each found exactly once and in order; None otherwise."""
    pieces, position = [], 0
    for n in range(count):
        mark = sentinel(n)
        found = text.find(mark, position)
        if found < 0 or text.find(mark, found + 1) >= 0:
            return None
        pieces.append(text[position:found])
        position = found + len(mark)
    pieces.append(text[position:])
    return pieces


def _common_prefix(texts: Sequence[str]) -> str:
    first = min(texts, key=len)
    for i, char in enumerate(first):
        if any(t[i] != char for t in texts):
            return first[:i]
    return first


def _common_suffix(texts: Sequence[str]) -> str:
    return _common_prefix([t[::-1] for t in texts])[::-1]


def _escape(text: str) -> str:
    """A literal for a format string: braces doubled (a format's only placeholders are ``{name}``)."""
    return text.replace("{", "{{").replace("}", "}}")


class Probes:
    """The template's answers to the probe conversations, by name."""

    def __init__(self, sandbox: SandboxedTemplate) -> None:
        plan: Dict[str, Tuple[List[Dict[str, Any]], Dict[str, Any]]] = {}

        def add(name: str, messages: List[Dict[str, Any]], **options: Any) -> None:
            plan[name] = (messages, options)

        shapes = {
            "u": ("user",), "ua": ("user", "assistant"), "uau": ("user", "assistant", "user"),
            "uaua": ("user", "assistant", "user", "assistant"), "a": ("assistant",), "au": ("assistant", "user"),
            "uu": ("user", "user"), "uaa": ("user", "assistant", "assistant"),
            "s": ("system",), "su": ("system", "user"), "sua": ("system", "user", "assistant"),
            "suau": ("system", "user", "assistant", "user"), "sa": ("system", "assistant"),
            "uas": ("user", "assistant", "system"), "uasu": ("user", "assistant", "system", "user"),
            "uaus": ("user", "assistant", "user", "system"),
            "uausa": ("user", "assistant", "user", "system", "assistant"),
            "ss": ("system", "system"),
        }
        for name, roles in shapes.items():
            add(name, _conversation(roles))
            add(name + "+g", _conversation(roles), add_generation_prompt=True)
        for name in ("uaua", "suau", "uaus"):
            add(name + "~", _conversation(shapes[name], PAD))
        add("newlines~", _conversation(shapes["uaua"], "\n\n"))
        add("x", _conversation(("user", "assistant", CUSTOM_ROLE, "user")))
        add("t", _conversation(("user", "assistant", "tool", "user")))
        add("u@", [{"role": "user", "content": ""}, {"role": "assistant", "content": sentinel(0)}])
        add("ua@", [{"role": "user", "content": sentinel(0)}, {"role": "assistant", "content": ""},
                    {"role": "user", "content": sentinel(1)}])
        add("s@", [{"role": "system", "content": ""}, {"role": "user", "content": sentinel(0)}])
        # Reasoning cut: the text before a marker left out of an assistant turn, in history and at the end.
        for marker in REASONING_MARKERS:
            for where, roles in (("history", ("user", "assistant", "user")), ("final", ("user", "assistant"))):
                messages = _conversation(roles)
                messages[1]["content"] = "qzxthinkk" + marker + "\n\n" + sentinel(1)
                add(f"cut:{marker}:{where}", messages)
        for field, value in FIELDS.items():
            messages = _conversation(("system", "user", "assistant", "user"))
            for message in messages:
                message[field] = value
            add("field:" + field, messages)
            messages = _conversation(("user", "assistant", "user"))
            for message in messages:
                message[field] = value
            add("field-u:" + field, messages)
        add("tools", _conversation(("user",)), tools=[TOOL])
        add("tools+s", _conversation(("system", "user")), tools=[TOOL])
        add("tools2+s", _conversation(("system", "user")), tools=[TOOL, TOOL2])
        add("tt", _conversation(("user", "assistant", "tool", "tool", "user")))
        add("uata", _conversation(("user", "assistant", "tool", "assistant")))
        add("tt+g", _conversation(("user", "assistant", "tool", "tool")), add_generation_prompt=True)
        calls = _conversation(("user", "assistant", "user"))
        calls[1]["tool_calls"] = [CALL]
        add("calls", calls)
        calls = _conversation(("user", "assistant", "user"))
        calls[1]["tool_calls"] = [CALL, CALL2]
        add("calls2", calls)
        calls = _conversation(("user", "assistant", "user"))
        calls[1].update(content="", tool_calls=[CALL])
        add("calls0", calls)
        add("documents", _conversation(("user",)), documents=[{"title": "qzxtitlek", "text": "qzxtextk"}])
        add("clock", _conversation(("user",)), add_generation_prompt=True, _clock=OTHER_NOW.isoformat())
        add("clock-s", _conversation(("system", "user")), add_generation_prompt=True, _clock=OTHER_NOW.isoformat())
        self.plan = plan
        answers = sandbox.render([plan[name] for name in plan])
        self.answers: Dict[str, Tuple[Any, ...]] = dict(zip(plan, answers))

    def text(self, name: str) -> Optional[str]:
        answer = self.answers[name]
        return answer[1] if answer[0] == "text" else None

    def raised(self, name: str) -> Optional[str]:
        answer = self.answers[name]
        return answer[2] if answer[0] == "raises" else None

    def pieces(self, name: str) -> Optional[List[str]]:
        text = self.text(name)
        if text is None:
            return None
        return _cut(text, len(self.plan[name][0]))

    def roles(self, name: str) -> List[str]:
        return [m["role"] for m in self.plan[name][0]]


class Draft:
    """What the probes say, gathered as a format declaration (the surface mapping ``validate`` reads)."""

    def __init__(self) -> None:
        self.behaviours: List[str] = []  # what the template writes that this draft refuses (gaps)
        self.notes: List[str] = []  # what the template leaves out that this draft refuses
        self.problems: List[str] = []  # what could not be read off the probes at all


#: Probes that are not plain conversations of the shapes: read by their own inference steps.
SPECIAL = frozenset({"x", "tools", "tools+s", "tools2+s", "calls", "calls2", "calls0", "documents", "clock",
                     "clock-s"})


def _shape_names(probes: Probes) -> List[str]:
    return [name for name in probes.plan if ":" not in name and name not in SPECIAL and not name.endswith("@")]


def observe(probes: Probes, fold: bool, final: bool, eos: Optional[str] = None, hoist: bool = False) -> "_Observed":
    """What the probes say about roles, suffixes and the generation prompt; with ``fold``, a leading
    system message is read as folded into the next turn, so conversations opening with one are left out;
    with ``final``, a conversation's last message may end otherwise than the others (``final_suffix``);
    with ``eos``, a suffix ends right after that token and the newlines after it, where every text
    following the role has it (ChatML's ``<|im_end|>\n<|im_start|>``: which side ``<|im_start|>`` is
    on is otherwise a guess)."""
    draft = Draft()
    follow: Dict[str, List[str]] = {}  # role -> texts after its content (up to the next content or the end)
    precede: Dict[Tuple[str, Optional[str]], List[str]] = {}  # (role, previous role) -> texts before
    tails: Dict[Tuple[str, bool], List[str]] = {}  # (last role, generation prompt) -> tails
    heads: Dict[str, List[str]] = {}  # first role -> texts before the first content
    plain = [n for n in _shape_names(probes) if not n.endswith("~") and not (fold and n.startswith("s"))
             and not (hoist and "system" in probes.roles(n))]
    for probe in plain:
        pieces = probes.pieces(probe)
        if pieces is None:
            continue
        roles = probes.roles(probe)
        generation = probe.endswith("+g")
        heads.setdefault(roles[0], []).append(pieces[0])
        for i, role in enumerate(roles):
            follow.setdefault(role, []).append(pieces[i + 1])
            if i:
                precede.setdefault((role, roles[i - 1]), []).append(pieces[i])
        tails.setdefault((roles[-1], generation), []).append(pieces[-1])
        if final:
            follow[roles[-1]].pop()
            if generation:
                follow.setdefault(roles[-1] + "+g", []).append(pieces[-1])
    if "user" not in follow:
        raise TemplateImportError("the template writes no conversation the importer can read: a single user "
                                  "message does not come out with its content intact",
                                  behaviours=[_why(probes, "u")])
    for (role, _), texts in tails.items():
        if len(set(texts)) > 1:
            draft.problems.append(f"the text after a final {role} message depends on more than the role")
    if final:  # the generation prompt's tails join the others: a prompt still follows the usual suffix
        for role in list(follow):
            if role.endswith("+g"):
                follow.setdefault(role[:-2], []).extend(follow.pop(role))
    suffix = {role: _common_prefix(texts) for role, texts in follow.items() if texts}
    if eos:
        for role, text in suffix.items():
            at = text.rfind(eos)
            if at >= 0:
                end = at + len(eos)
                while end < len(text) and text[end] == "\n":
                    end += 1
                suffix[role] = text[:end]
    finals: Dict[str, str] = {}
    otherwise: Dict[str, str] = {}
    prompt: Dict[str, str] = {}
    for (role, generation), texts in tails.items():
        if role not in suffix:
            suffix[role] = _common_prefix(texts)
        tail = texts[0]
        if not tail.startswith(suffix[role]):
            if generation:
                draft.problems.append(f"the generation prompt after a {role} message does not follow its suffix")
                continue
            finals[role], tail = tail, suffix[role]
        (prompt if generation else otherwise)[role] = tail[len(suffix[role]):]
    prefix: Dict[str, Dict[Optional[str], str]] = {}
    for (role, previous), texts in precede.items():
        before = suffix[previous or ""]
        cut = [t[len(before):] for t in texts if t.startswith(before)]
        if len(cut) != len(texts) or len(set(cut)) != 1:
            draft.problems.append(f"the text between a {previous} and a {role} message is not one suffix and "
                                  f"one prefix")
            continue
        prefix.setdefault(role, {})[previous] = cut[0]
    return _Observed(follow, precede, tails, heads, suffix, otherwise, prompt, prefix, draft, finals)


class _Observed:
    def __init__(self, follow: Any, precede: Any, tails: Any, heads: Any, suffix: Dict[str, str],
                 otherwise: Dict[str, str], prompt: Dict[str, str], prefix: Dict[str, Dict[Optional[str], str]],
                 draft: Draft, finals: Dict[str, str]) -> None:
        self.follow, self.precede, self.tails, self.heads = follow, precede, tails, heads
        self.finals = finals
        self.suffix, self.otherwise, self.prompt, self.prefix, self.draft = suffix, otherwise, prompt, prefix, draft


def starts(probes: Probes, seen: _Observed, bos: Optional[str]) -> List[str]:
    """The texts that may be ``start``, most likely first: what a first message carries before the
    prefix it has elsewhere, the BOS token, nothing."""
    heads = [texts[0] for texts in seen.heads.values()]
    system = probes.pieces("su")
    if system is not None:
        heads.append(system[0])
    options = []
    for role, texts in seen.heads.items():
        usual = _usual(seen.prefix.get(role, {}))
        if usual is not None and texts[0].endswith(usual):
            options.append(texts[0][:len(texts[0]) - len(usual)])
    if bos:
        options.append(bos)
    options.append(_common_prefix(heads) if heads else "")
    options.append("")
    ordered: List[str] = []
    for option in options:
        if option not in ordered and all(head.startswith(option) for head in heads):
            ordered.append(option)
    return ordered


def draft_for(probes: Probes, seen: _Observed, start: str, placement: str, name: str, bos: Optional[str],
              eos: Optional[str]) -> Tuple[Dict[str, Any], Draft]:
    """The declaration the probes imply with this ``start``, a leading system message folded or not."""
    draft = Draft()
    draft.problems = list(seen.draft.problems)
    suffix, otherwise, prompt = seen.suffix, seen.otherwise, seen.prompt
    prefix = {role: dict(by) for role, by in seen.prefix.items()}
    for role, texts in seen.heads.items():
        prefix.setdefault(role, {})[None] = texts[0][len(start):]
    surface: Dict[str, Any] = {"name": name, "description": "imported from a Jinja chat template"}
    if start:
        surface["start"] = _escape(start)
    tokens = {k: v for k, v in (("bos", bos), ("eos", eos)) if v}
    if tokens:
        surface["tokens"] = tokens
    roles_table: Dict[str, Dict[str, Any]] = {}
    # A leading system message taken out (block, fold) is trimmed as the block says, not as its role.
    trims = _trims(probes) if placement == "message" else _trims(probes, ("uaua", "uaus"))
    for role in suffix:
        table: Dict[str, Any] = {}
        table["prefix"] = _variants(prefix.get(role, {}))
        table["suffix"] = _escape(suffix[role])
        if role in seen.finals:
            table["final_suffix"] = _escape(seen.finals[role])
        if trims.get(role, "none") != "none":
            table["trim"] = trims[role]
        roles_table[role] = table
    # Generation: a prompt (and an end) per last role where they differ.
    generation: Dict[str, Any] = {}
    for key, values in (("prompt", prompt), ("otherwise", otherwise)):
        distinct = set(values.values())
        if not distinct:
            continue
        usual = _most_common(list(values.values()))
        if usual:
            generation[key] = _escape(usual)
        after = {role: _escape(v) for role, v in values.items() if v != usual}
        if after:
            generation[key + "_after"] = after
    if generation:
        surface["generation"] = generation
    surface["roles"] = roles_table
    _system(probes, surface, roles_table, start, prefix, suffix, placement, draft)
    if placement != "message" and isinstance(surface.get("system"), dict) and \
            surface["system"].get("placement") in ("block", "fold_first", "fold_last"):
        leading = _trims(probes, ("suau",)).get("system", "none")
        if leading != "none":
            surface["system"]["trim"] = leading
    _skip_empty(probes, surface, roles_table)
    _reasoning_cut(probes, roles_table)
    _unknown_roles(probes, surface, roles_table)
    _alternation(probes, surface)
    _fields(probes, surface, draft)
    _date(probes, surface, draft)
    return surface, draft


def _why(probes: Probes, name: str) -> str:
    answer = probes.answers[name]
    if answer[0] == "raises":
        return f"it raises {answer[1]}: {answer[2]}"
    return "its content is rewritten (the sentinel does not come out once, unchanged)"


def _usual(by_previous: Dict[Optional[str], str]) -> Optional[str]:
    values = [v for k, v in by_previous.items() if k is not None]
    return _most_common(values) if values else None


def _most_common(values: List[str]) -> str:
    return max(values, key=lambda v: (values.count(v), -values.index(v)))


def _variants(by_previous: Dict[Optional[str], str]) -> Any:
    usual = _usual(by_previous)
    if usual is None:
        usual = by_previous.get(None, "")
    variants: List[Dict[str, Any]] = []
    first = by_previous.get(None)
    if first is not None and first != usual:
        variants.append({"when": {"first": True}, "text": _escape(first)})
    groups: Dict[str, List[str]] = {}
    for previous, text in by_previous.items():
        if previous is not None and text != usual:
            groups.setdefault(text, []).append(previous)
    for text, roles in groups.items():
        variants.append({"when": {"previous": roles[0] if len(roles) == 1 else roles},
                         "text": _escape(text)})
    if not variants:
        return _escape(usual)
    return variants + [{"text": _escape(usual)}]


def _trims(probes: Probes, names: Sequence[str] = ("uaua", "suau", "uaus")) -> Dict[str, str]:
    """Each role's trim, from the probes whose contents are padded with whitespace (the first probe in
    ``names`` where a role occurs says it)."""
    trims: Dict[str, str] = {}
    for padded, plain in ((name + "~", name) for name in names):
        text, base = probes.text(padded), probes.pieces(plain)
        if text is None or base is None:
            continue
        roles = probes.roles(plain)
        for i, role in enumerate(roles):
            mark = sentinel(i)
            at = text.find(mark)
            if at < 0:
                continue
            left = text[max(0, at - len(PAD)):at] == PAD and base[i] + PAD in text
            right = text[at + len(mark):at + len(mark) + len(PAD)] == PAD
            trim = {(True, True): "none", (False, False): "both", (False, True): "left",
                    (True, False): "right"}[(left, right)]
            trims.setdefault(role, trim)
    # Newlines alone taken off the left (``content.lstrip('\n')``) where spaces were kept.
    text = probes.text("newlines~")
    if text is not None:
        for i, role in enumerate(probes.roles("uaua")):
            at = text.find(sentinel(i))
            if trims.get(role) == "none" and at >= 2 and text[at - 2:at] != "\n\n" and \
                    text[at + len(sentinel(i)):at + len(sentinel(i)) + 2] == "\n\n":
                trims[role] = "left_newlines"
    return trims


def _system(probes: Probes, surface: Dict[str, Any], roles: Dict[str, Dict[str, Any]], start: str,
            prefix: Dict[str, Dict[Optional[str], str]], suffix: Dict[str, str], placement: str,
            draft: Draft) -> None:
    """``[system]``: a leading system message as its own turn (``message``), a block of its own written
    otherwise than later system messages (``block``), folded into the first user turn (``fold``), or
    refused."""
    fold = placement in ("fold", "fold_last", "fold:trim_then_fold")
    if placement == "hoist":
        _hoisted(probes, surface, roles, start, prefix, draft)
        return
    refused = probes.raised("su")
    if refused is not None:
        surface["system"] = {"placement": "refuse", "message": refused}
        return
    pieces = probes.pieces("su")
    if pieces is None:
        draft.problems.append("a system message's content does not come out once, unchanged")
        return
    head, between, _ = pieces
    if not head.startswith(start):
        draft.problems.append("a conversation opening with a system message does not start with the start text")
        return
    head = head[len(start):]
    user_first = prefix.get("user", {}).get(None, "")
    if fold:
        # Folded: the system text sits inside the first user turn, before that turn's content.
        if not head.startswith(user_first):
            draft.problems.append("a leading system message is not inside the first user turn")
            return
        system: Dict[str, Any] = {"placement": "fold_last" if placement == "fold_last" else "fold_first",
                                  **({"fold_order": "trim_then_fold"} if placement.endswith("trim_then_fold") else {}),
                                  "fold": _escape(head[len(user_first):]) + "{system}" + _escape(between) + "{content}"}
        opening, closing = head, between
    elif placement == "block":
        usual = _usual(prefix.get("user", {}))
        after = usual if usual is not None and between.endswith(usual) else user_first
        if not between.endswith(after):
            draft.problems.append("the text after a leading system message does not end with a user prefix")
            return
        block_suffix = between[:len(between) - len(after)]
        system = {"placement": "block", "prefix": _escape(head), "suffix": _escape(block_suffix)}
        opening, closing = head, between
        block_opening = (head, block_suffix)
        if probes.raised("uas") is not None:
            roles.pop("system", None)  # a later system message: refused, as the template raises
    else:
        if "system" not in roles:
            draft.problems.append("a system message is not written as a turn of its own")
            return
        system = {"placement": "message"}
        opening = prefix.get("system", {}).get(None, "")
        closing = suffix.get("system", "") + prefix.get("user", {}).get("system", "")
    default = _default(probes, start + opening, closing)
    if placement == "block":
        # The first message after the block (or the first one, without a system message) opens with the
        # prefix it has after the block: the text a first message carries, the default block taken off.
        block = block_opening[0] + (default or "") + block_opening[1] if default is not None else ""
        for role, table in roles.items():
            first = prefix.get(role, {}).get(None)
            if first is None or not isinstance(table["prefix"], list):
                continue
            if not first.startswith(block):
                draft.problems.append(f"a first {role} message does not follow the default system block")
                continue
            rest = [v for v in table["prefix"] if v.get("when") != {"first": True}]
            table["prefix"] = [{"when": {"opening": True}, "text": _escape(first[len(block):])}] + rest
    if default is not None:
        system["default"] = _escape(default)
        for role in ("user", "assistant"):  # after the default system turn, no message is the first one
            entry = roles.get(role)
            if entry is not None and isinstance(entry["prefix"], list) and placement == "message":
                entry["prefix"] = [v for v in entry["prefix"] if v.get("when") != {"first": True}] or \
                    entry["prefix"]
    surface["system"] = system


def _inserted(given: Optional[str], plain: Optional[str], at: int) -> Optional[str]:
    """The text ``given`` has at position ``at`` of ``plain`` and ``plain`` has not, when that is all
    they differ by."""
    if given is None or plain is None or given == plain or not 0 <= at <= len(plain):
        return None
    if given.startswith(plain[:at]) and given.endswith(plain[at:]) and len(given) > len(plain):
        return given[at:len(given) - (len(plain) - at)]
    return None


def tools_table(probes: Probes) -> Optional[Dict[str, Any]]:
    """``[tools]`` when the template writes each definition as JSON (``tojson``, maybe indented) in one
    block right after or before the system text; None when it writes them otherwise."""
    plain = probes.text("su")
    if plain is None:
        return None
    mark = plain.find(sentinel(0))
    for placement, at in (("system_after", mark + len(sentinel(0))), ("system_before", mark)):
        block, both = _inserted(probes.text("tools+s"), plain, at), _inserted(probes.text("tools2+s"), plain, at)
        if block is None or both is None:
            continue
        for indent in (None, 4):
            one, two = (json.dumps(t, ensure_ascii=False, indent=indent) for t in (TOOL, TOOL2))
            first = block.find(one)
            if first < 0 or both.find(one) != first:
                continue
            second = both.find(two, first + len(one))
            if second < 0 or both[second + len(two):] != block[first + len(one):]:
                continue
            table: Dict[str, Any] = {"placement": placement, "prefix": block[:first],
                                     "separator": both[first + len(one):second], "suffix": block[first + len(one):]}
            if indent:
                table["indent"] = indent
            return {k: v for k, v in table.items() if v != ""}
    return None


def calls_table(probes: Probes) -> Optional[Dict[str, Any]]:
    """``[calls]`` when the template writes an assistant message's calls after its content, each the same
    text around the function name and its arguments as JSON."""
    plain = probes.text("uau")
    if plain is None:
        return None
    at = plain.find(sentinel(1)) + len(sentinel(1))
    one = _inserted(probes.text("calls"), plain, at)
    two = _inserted(probes.text("calls2"), plain, at)
    if one is None or two is None:
        return None
    texts = []
    rest = two[len(one):] if two.startswith(one) else ""
    for function, block in ((CALL["function"], one), (CALL2["function"], rest)):
        assert isinstance(function, dict)
        arguments = json.dumps(function["arguments"], ensure_ascii=False)
        name = function["name"]
        if block.count(arguments) != 1 or block.count(name) != 1:
            return None
        texts.append(_escape(block).replace(_escape(arguments), "{arguments}").replace(name, "{name}"))
    if texts[0] != texts[1]:
        return None
    return {"arguments": "json", "missing_content": "empty", "call": texts[0]}


def _empty_call_prefix(probes: Probes, surface: Dict[str, Any]) -> None:
    """An assistant turn of calls only may open otherwise than one with an answer (Qwen's
    ``<|im_start|>assistant`` without its newline): a variant for that, read off the probe."""
    assistant = surface.get("roles", {}).get("assistant")
    given, calls = probes.text("calls0"), surface.get("calls")
    one = probes.text("calls")
    if assistant is None or given is None or calls is None or one is None:
        return
    start, end = given.find(sentinel(0)) + len(sentinel(0)), given.find("qzx_tool")
    plain = one.find(sentinel(1))
    if start < len(sentinel(0)) or end < 0 or plain < 0:
        return
    # The text from the user's content to the call's name, with and without an answer before the calls.
    with_answer = one[one.find(sentinel(0)) + len(sentinel(0)):plain]
    call_head = one[plain + len(sentinel(1)):one.find("qzx_tool")]
    without = given[start:end]
    if not without.endswith(call_head) or without == with_answer + call_head:
        return
    opening = without[:len(without) - len(call_head)]
    suffix = surface["roles"].get("user", {}).get("suffix", "")
    before = suffix.replace("{{", "{").replace("}}", "}")  # the user's suffix as written, braces single
    if not opening.startswith(before):
        return
    text = _escape(opening[len(before):])
    prefix = assistant["prefix"] if isinstance(assistant["prefix"], list) else [{"text": assistant["prefix"]}]
    assistant["prefix"] = [{"when": {"calls": True, "empty": True}, "text": text}] + prefix


def _tool_variants(probes: Probes) -> List[Dict[str, Any]]:
    """Tables to try on top of a text draft: tools and calls, tools alone."""
    tools = tools_table(probes)
    if tools is None:
        return []
    calls = calls_table(probes)
    return ([{"tools": tools, "calls": calls}] if calls is not None else []) + [{"tools": tools}]


def _written(extra: Dict[str, Any]) -> List[str]:
    return [{"tools": "tool definitions", "calls": "tool calls"}[key] for key in extra]


def _hoists(probes: Probes) -> bool:
    """Whether a system message after other turns is written before them (gathered at the start)."""
    text = probes.text("uas")
    return text is not None and 0 <= text.find(sentinel(2)) < text.find(sentinel(0))


def _hoisted(probes: Probes, surface: Dict[str, Any], roles: Dict[str, Dict[str, Any]], start: str,
             prefix: Dict[str, Dict[Optional[str], str]], draft: Draft) -> None:
    """Every system message gathered after ``start``: their texts joined, between a prefix and a suffix."""
    pieces, both = probes.pieces("su"), probes.pieces("ss")
    if pieces is None or not pieces[0].startswith(start):
        draft.problems.append("a leading system message is not written after the start text")
        return
    head, between = pieces[0][len(start):], pieces[1]
    after = _usual(prefix.get("user", {})) or prefix.get("user", {}).get(None, "")
    if not between.endswith(after):
        draft.problems.append("the text after the gathered system messages does not end with a user prefix")
        return
    system: Dict[str, Any] = {"placement": "hoist", "prefix": _escape(head),
                              "suffix": _escape(between[:len(between) - len(after)])}
    if both is not None:
        system["join"] = _escape(both[1])
    elif probes.text("ss") is not None:
        system["select"] = "last"
    trim = _trims(probes, ("suau",)).get("system", "none")
    if trim != "none":
        system["trim"] = trim
    surface["system"] = system
    roles.pop("system", None)


def _skip_empty(probes: Probes, surface: Dict[str, Any], roles: Dict[str, Dict[str, Any]]) -> None:
    """A role whose empty message comes out as nothing at all (``{% if message.content %}``)."""
    for role, empty, without in (("assistant", "ua@", "uu"), ("user", "u@", "a"), ("system", "s@", "u")):
        text = probes.text(empty)
        if text is None or text != probes.text(without):
            continue
        system = surface.get("system", {})
        if role == "system" and "default" in system:
            continue  # without a system message the template writes its default: not told apart from skipping
        if role == "system" and system.get("placement") in ("block", "fold_first", "fold_last"):
            system["skip_empty"] = True
        elif role in roles:
            roles[role]["skip_empty"] = True


def _reasoning_cut(probes: Probes, roles: Dict[str, Dict[str, Any]]) -> None:
    """An assistant turn written from after a reasoning marker: in earlier turns only, or in all."""
    assistant = roles.get("assistant")
    if assistant is None:
        return
    for marker in REASONING_MARKERS:
        cut = {}
        for where, plain in (("history", "uau"), ("final", "ua")):
            text, base = probes.text(f"cut:{marker}:{where}"), probes.text(plain)
            if text is None or base is None or "qzxthinkk" in text:
                continue
            mark = sentinel(1)
            kept = text[text.find(mark) - 2:text.find(mark)] == "\n\n"
            if text.replace("\n\n" + mark, mark) == base or text == base:
                cut[where] = "" if kept else "\n"
        if "history" in cut:
            rule: Dict[str, Any] = {"marker": marker, "keep": "after_last",
                                    "scope": "all" if "final" in cut else "history"}
            if cut["history"]:
                rule["lstrip"] = cut["history"]
                # ``content.split(marker)[-1].lstrip('\n')`` strips a turn without the marker too.
                text = probes.text("newlines~")
                if text is not None and f"\n\n{sentinel(1)}" not in text and sentinel(1) in text:
                    rule["always"] = True
            assistant["strip_reasoning"] = rule
            return


def _default(probes: Probes, opening: str, between: str) -> Optional[str]:
    """The system text a conversation without one gets: the no-system render, read as the system one."""
    alone = probes.pieces("u")
    if alone is None:
        return None
    before = alone[0]
    if before.startswith(opening) and before.endswith(between) and len(before) >= len(opening) + len(between):
        return before[len(opening):len(before) - len(between)]
    return None


def _unknown_roles(probes: Probes, surface: Dict[str, Any], roles: Dict[str, Dict[str, Any]]) -> None:
    """A role the template writes by name (``<|im_start|>{{ message.role }}``) gives ``[any_role]``."""
    text = probes.text("x")
    if text is None or CUSTOM_ROLE not in text:
        return
    user = roles.get("user", {})
    as_role = {k: (v.replace("user", "{role}") if isinstance(v, str) else v) for k, v in user.items()}
    pieces = probes.pieces("x")
    if pieces is None or not isinstance(as_role.get("prefix"), str):
        return
    if _escape_role(pieces[2], CUSTOM_ROLE).endswith(as_role["prefix"]):
        surface["any_role"] = as_role


def _escape_role(text: str, role: str) -> str:
    return _escape(text).replace(role, "{role}")


def _alternation(probes: Probes, surface: Dict[str, Any]) -> None:
    messages = {probes.raised(n) for n in ("uu", "uaa", "a")}
    if None in messages or len(messages) != 1:
        return
    message = messages.pop()
    if message:
        surface["alternation"] = {"message": message}


def _date(probes: Probes, surface: Dict[str, Any], draft: Draft) -> None:
    """A template that writes today's date gets a date variable in the format where its text was."""
    moved = [(probes.text(a), probes.text(b)) for a, b in (("u+g", "clock"), ("su+g", "clock-s"))]
    pairs = [(a, b) for a, b in moved if a is not None and b is not None and a != b]
    if not pairs:
        return
    for form in DATE_FORMATS:
        pinned, other = PINNED_NOW.strftime(form), OTHER_NOW.strftime(form)
        if all(a.replace(pinned, "\0") == b.replace(other, "\0") for a, b in pairs):
            break
    else:
        draft.problems.append("the template writes the time (strftime_now) in a form the importer does not know")
        return
    mark = _escape(pinned)
    surface["variables"] = {"today": {"strftime": form}}
    _replace_strings(surface, mark, "{today}")


def _replace_strings(value: Any, old: str, new: str) -> Any:
    if isinstance(value, dict):
        for key in value:
            if key not in ("name", "description", "tokens", "variables", "message"):
                value[key] = _replace_strings(value[key], old, new)
        return value
    if isinstance(value, list):
        return [_replace_strings(v, old, new) for v in value]
    return value.replace(old, new) if isinstance(value, str) else value


def _fields(probes: Probes, surface: Dict[str, Any], draft: Draft) -> None:
    """Fields and keywords the template leaves out are ignored (fields) or refused (keywords, as a format
    without tools refuses them); the ones it writes are refused and reported; where it raises, so does the
    format."""
    base = probes.text("suau")
    probe = "field:"
    if base is None:  # a template refusing system messages: the fields are probed without one
        base, probe = probes.text("uau"), "field-u:"
    ignore = []
    for field in FIELDS:
        given = probes.text(probe + field)
        if given is not None and given == base:
            ignore.append(field)
        elif given is not None and base is not None:
            draft.behaviours.append(f"messages' {field!r} field: the template writes it; the format refuses it")
    if ignore:
        surface["message"] = {"ignore": ignore}
    for name, what, without in (("tools", "tool definitions", "u"), ("calls", "tool calls", "uau"),
                                ("documents", "documents", "u")):
        given, plain = probes.text(name), probes.text(without)
        if given is None or plain is None:
            continue
        if given == plain:
            draft.notes.append(f"{what}: the template leaves them out without a word; the format refuses them")
        else:
            draft.behaviours.append(f"{what}: the template writes them; the format refuses them")


# ----------------------------------------------------------------------------------------- checking


def _cases(count: int, seed: int) -> List[Tuple[List[Dict[str, Any]], Dict[str, Any]]]:
    """Seeded conversations, and the edge cases random ones may miss: each message of the probe shapes
    empty, whitespace only, or holding a reasoning marker, with and without the generation prompt."""
    from .verify import conversations

    cases = [(messages, {"add_generation_prompt": gen, "continue_final_message": cont})
             for messages, gen, cont in conversations(count, seed)]
    for roles in (("user", "assistant", "user", "assistant"), ("system", "user", "assistant", "user"),
                  ("user", "assistant", "user", "system", "assistant")):
        for position in range(len(roles)):
            for text in ("", " \n", "a</think>\n\nb"):
                messages = [{"role": role, "content": f"m{i}"} for i, role in enumerate(roles)]
                messages[position]["content"] = text
                for gen in (False, True):
                    cases.append((messages, {"add_generation_prompt": gen, "continue_final_message": False}))
    return cases


class Check:
    """A candidate's comparison with the template over a set of cases."""

    def __init__(self) -> None:
        self.same = 0
        self.both_refuse = 0
        self.gaps: List[str] = []
        self.gap_cases: List[Tuple[int, Any]] = []  # (case number, the refusal) for each gap
        self.dropped: Dict[str, int] = {}  # role -> refusals of messages the template leaves out unwritten
        self.different: List[str] = []

    @property
    def passed(self) -> bool:
        return not self.different and not self.gaps

    @property
    def misses(self) -> int:
        return len(self.different) + len(self.gaps)


def _pinned(fmt: Format) -> Dict[str, str]:
    """The format's date variables at the sandbox's clock, so that a template's ``strftime_now`` agrees."""
    return {v.name: PINNED_NOW.strftime(v.strftime) for v in fmt.spec.variables if v.strftime is not None}


def _compare(fmt: Format, cases: Sequence[Tuple[Any, Dict[str, Any]]], answers: Sequence[Tuple[Any, ...]],
             variables: Dict[str, Any]) -> Check:
    check = Check()
    pinned = _pinned(fmt)
    for number, ((messages, options), answer) in enumerate(zip(cases, answers)):
        refusal: Optional[PromptcraftError] = None
        try:
            got: Optional[str] = fmt.render(messages, **{**options, **variables, **pinned})
            why = ""
        except PromptcraftError as error:
            got, why, refusal = None, f"{type(error).__name__}: {error}", error
        want = answer[1] if answer[0] == "text" else None
        label = json.dumps([messages, options], ensure_ascii=False)[:300]
        if want is None and got is None:
            check.both_refuse += 1
        elif want == got:
            check.same += 1
        elif got is None:
            check.gaps.append(f"{label}\n    the format refuses ({why}) where the template writes")
            check.gap_cases.append((number, refusal))
        elif want is None:
            check.different.append(f"{label}\n    the template raises ({answer[1]}: {answer[2]}), "
                                   f"the format writes {got[:120]!r}")
        else:
            from .verify import first_difference

            check.different.append(f"{label}\n    {first_difference(want, got)}")
    return check


def _classify_gaps(check: Check, sandbox: SandboxedTemplate, cases: Sequence[Tuple[Any, Dict[str, Any]]],
                   answers: Sequence[Tuple[Any, ...]]) -> None:
    """A refusal of a message the template leaves out without a word is what promptcraft must do (nothing
    is silently dropped): it is counted apart, and reported, not held against the format. The message is
    left out if changing its content leaves the template's render unchanged."""
    changed, which = [], []
    for number, refusal in check.gap_cases:
        index = getattr(refusal, "index", None)
        messages, options = cases[number]
        if index is None or not isinstance(messages[index].get("content"), str):
            continue
        other = [dict(m) for m in messages]
        other[index]["content"] = "qzxdropk" + other[index]["content"]
        changed.append((other, options))
        which.append((number, messages[index]["role"]))
    kept = []
    renders = sandbox.render(changed)
    left_out = {n for (n, _), answer in zip(which, renders) if answer == answers[n]}
    for (number, refusal), text in zip(check.gap_cases, check.gaps):
        if number in left_out:
            role = cases[number][0][getattr(refusal, "index", 0)]["role"]
            check.dropped[role] = check.dropped.get(role, 0) + 1
        else:
            kept.append(text)
    check.gaps = kept


def import_template(chat_template: str, *, bos_token: Optional[str] = None, eos_token: Optional[str] = None,
                    name: Optional[str] = None, count: int = 300, seed: int = 0,
                    builtins: bool = True) -> Format:
    """A verified format for ``chat_template`` (see the module's docstring); ``TemplateImportError``
    when no candidate reproduces it."""
    from .._load import loads_format

    name = name or "imported"
    with SandboxedTemplate(chat_template, bos_token, eos_token) as sandbox:
        probes = Probes(sandbox)
        candidates: List[Tuple[str, str, Draft]] = []
        defaults: List[str] = []
        unreadable: Optional[TemplateImportError] = None
        placements = ["message", "block", "fold", "fold:trim_then_fold", "fold_last"] + \
            (["hoist"] if _hoists(probes) else [])
        for placement in placements:
            for final, eos in ((False, None), (True, None), (True, eos_token), (False, eos_token)):
                try:
                    seen = observe(probes, placement != "message", final, eos, hoist=placement == "hoist")
                except TemplateImportError as error:  # a built-in may still agree (a template needing tools)
                    unreadable = error
                    break
                for start in starts(probes, seen, bos_token):
                    surface, draft = draft_for(probes, seen, start, placement, name, bos_token, eos_token)
                    for extra in _tool_variants(probes):
                        with_tools = json.loads(json.dumps({**surface, **extra}))
                        _empty_call_prefix(probes, with_tools)
                        kept = Draft()
                        kept.problems = list(draft.problems)
                        kept.notes = list(draft.notes)
                        kept.behaviours = [b for b in draft.behaviours
                                           if not any(b.startswith(w) for w in _written(extra))]
                        candidates.append(("inferred, with tools", write_toml(with_tools), kept))
                    default = surface.get("system", {}).get("default")
                    if isinstance(default, str) and default not in defaults:
                        defaults.append(default)
                    candidates.append(("inferred", write_toml(surface), draft))
        if builtins:
            candidates.extend(_adapted(probes, name, bos_token, eos_token, defaults))
        # The probes join the suite, but for tool results, which the structured cases check with their ids.
        cases = _cases(count, seed) + [probes.plan[n] for n in _shape_names(probes) if "tool" not in probes.roles(n)]
        answers = sandbox.render(cases)
        structured: List[Any] = []
        structured_answers: List[Any] = []
        best: Optional[Tuple[Check, str, str, Draft]] = None
        for label, text, draft in candidates:
            try:
                fmt = loads_format(text, path=f"<{label}>")
            except FormatError as error:
                draft.problems.append(f"the draft is not a valid format: {error}")
                continue
            check = _compare(fmt, cases, answers, {})
            if check.gaps and not check.different:
                _classify_gaps(check, sandbox, cases, answers)
            if check.passed and (fmt.spec.tools or fmt.spec.calls or fmt.spec.documents):
                if not structured:
                    structured = structured_cases(max(40, count // 3), seed)
                    structured_answers = sandbox.render(structured)
                more = _compare(fmt, structured, structured_answers, {})
                check.same += more.same
                check.both_refuse += more.both_refuse
                check.different += more.different
                # a refusal where the template writes is a gap only for what the format does not write
                check.different += [g for g in more.gaps if "tool" not in g.split("\n")[1]]
            # A passing candidate that writes what the template writes (tools, calls) beats one refusing it.
            rank = (not check.passed, len(draft.behaviours), check.misses)
            if best is None or rank < (not best[0].passed, len(best[3].behaviours), best[0].misses):
                best = (check, label, text, draft)
            if check.passed and not draft.behaviours:
                break
        if best is None and unreadable is not None:
            raise unreadable
        if best is None or not best[0].passed:
            failing = best[0] if best is not None else Check()
            problems = best[3] if best is not None else Draft()
            raise TemplateImportError(
                "no format declaration the importer can write reproduces this template",
                behaviours=problems.problems + problems.behaviours,
                failures=(failing.different + failing.gaps)[:10], draft=best[2] if best is not None else None)
        check, label, text, draft = best
    fmt = loads_format(text, path=f"<imported {name}>")
    notes = [f"refuses {count} {role} message(s) the template leaves out without a word"
             for role, count in check.dropped.items()] + draft.behaviours + draft.notes
    gaps = f"; {'; '.join(notes)}" if notes else ""
    return Format.with_origin(fmt, f"imported ({label}): same as the template on {check.same} conversations, "
                                   f"both refuse {check.both_refuse}{gaps}")


def _adapted(probes: Probes, name: str, bos: Optional[str], eos: Optional[str],
             defaults: Sequence[str] = ()) -> List[Tuple[str, str, Draft]]:
    """Built-in formats that agree with the template on every probe, renamed; their tools, calls and
    documents come along and are checked like the rest. A fine-tune often changes its family's default
    system text only: a built-in with a plain default is tried with each default read off the probes."""
    from .. import _registry
    from .._load import loads_format
    from .._spec.dump import to_surface

    found = []
    for builtin in _registry.names():
        fmt = _registry.get_format(builtin)
        if (fmt.spec.bos or None) != (bos or None) and "{bos}" in fmt.toml:
            continue
        tries: List[Tuple[str, Format, Optional[str]]] = [(f"adapted from {builtin}", fmt, None)]
        if fmt.spec.tool_use is not None:  # one template imported: without the tool_use format it hands tools to
            text = _renamed(fmt, name)
            tries = [(f"adapted from {builtin}, without its tool_use format", loads_format(text), text)]
        surface = to_surface(fmt.spec)
        if isinstance(surface.get("system", {}).get("default"), str):
            for default in defaults:
                if default == surface["system"]["default"]:
                    continue
                changed = {**surface, "name": name, "system": {**surface["system"], "default": default}}
                for key in ("models", "templates", "tool_use", "tool_use_of"):
                    changed.pop(key, None)
                text = write_toml(changed)
                try:
                    tries.append((f"adapted from {builtin} with the template's default system text",
                                  loads_format(text), text))
                except FormatError:
                    continue
        for label, candidate, declared in tries:
            if all(_agrees(candidate, probes, probe) for probe in probes.plan if not probe.startswith("clock")):
                draft = Draft()
                draft.behaviours = _refused_writes(candidate, probes)
                found.append((label, declared if declared is not None else _renamed(fmt, name), draft))
    return found


def _agrees(fmt: Format, probes: Probes, probe: str) -> bool:
    messages, options = probes.plan[probe]
    answer = probes.answers[probe]
    want = answer[1] if answer[0] == "text" else None
    try:
        got: Optional[str] = fmt.render(messages, **{**options, **_pinned(fmt)})
    except PromptcraftError:
        # A built-in refuses what its template drops without a word (an unknown role, documents, a
        # field): the safe side, allowed off the plain text probes.
        return want is None or probe not in _shape_names(probes) or "tool" in probes.roles(probe)
    return got == want


def _renamed(fmt: Format, name: str) -> str:
    """A built-in format's declaration under a new name, without the models and templates it names, nor
    a ``tool_use`` format of its own (the template imported is one template)."""
    import attrs

    return dump(attrs.evolve(fmt.spec, name=name, models=(), templates=(), tool_use=None, tool_use_of=(),
                             tool_use_spec=None, description=f"{fmt.spec.description} (as {fmt.name})"))


def _refused_writes(fmt: Format, probes: Probes) -> List[str]:
    """What the template writes (a field, tools, calls, documents) that ``fmt`` refuses."""
    base = "suau" if probes.text("suau") is not None else "uau"
    checks = [("field:" if base == "suau" else "field-u:") + f for f in FIELDS]
    refused = []
    for probe, without in [(c, base) for c in checks] + [("tools", "u"), ("calls", "uau"), ("documents", "u")]:
        given = probes.text(probe)
        if given is None or given == probes.text(without):
            continue
        messages, options = probes.plan[probe]
        try:
            fmt.render(messages, **{**options, **_pinned(fmt)})
        except PromptcraftError:
            refused.append(f"{probe.split(':')[-1]}: the template writes it; the format refuses it")
    return refused


def structured_cases(count: int, seed: int) -> List[Tuple[List[Dict[str, Any]], Dict[str, Any]]]:
    """Seeded conversations with tool definitions, calls and results, for formats that write them."""
    rng = random.Random(seed)
    words = ["Paris", "", " x ", "日本", "a\nb", "{\"k\": 1}", "'q'", "CONTINUE"]
    cases = []
    for _ in range(count):
        tools = [{"type": "function", "function": {
            "name": rng.choice(["get_weather", "search", "f"]), "description": rng.choice(["Get it.", "Find", "d"]),
            "parameters": {"type": "object", "properties": {
                "city": {"type": "string", "description": "The city"},
                "days": {"type": "integer", "description": "How many"}}, "required": ["city"]}}}
            for _ in range(rng.randint(0, 2))]
        messages: List[Dict[str, Any]] = []
        if rng.random() < 0.4:
            messages.append({"role": "system", "content": rng.choice(words)})
        messages.append({"role": "user", "content": rng.choice(words)})
        for turn in range(rng.randint(0, 2)):
            calls = [{"id": f"call_{turn}{k}", "type": "function",
                      "function": {"name": "get_weather", "arguments": {"city": rng.choice(words)}}}
                     for k in range(rng.randint(1, 2))]
            messages.append({"role": "assistant", "content": rng.choice(["", None, "Let me check."]),
                             "tool_calls": calls})
            for call in calls:
                messages.append({"role": "tool", "content": rng.choice(words), "tool_call_id": call["id"]})
            messages.append({"role": "assistant", "content": rng.choice(words)})
            messages.append({"role": "user", "content": rng.choice(words)})
        options: Dict[str, Any] = {"add_generation_prompt": rng.random() < 0.5}
        if tools or rng.random() < 0.5:
            options["tools"] = tools
        cases.append((messages, options))
    return cases
