"""What a format's prompts cannot say unambiguously, read from the format alone (``promptcraft lint``).

``Format.parse`` reads every delimiter the prompt holds as a delimiter when some reading allows it.
A value (a message's content, the system text, a role name) that itself holds one of the texts
below can therefore be read back split, merged or as another role: these are the texts content must
not contain for ``parse`` to give back exactly what was rendered (the ``control_tokens="reject"``
policy refuses the format's control tokens, which covers most of them). Each is derived from the
parser's automaton: a literal that may end the value followed by a literal that may come next, a
longer variant of the text before the value, or a proper prefix of the end literal that completes
it (a value ending with ``\\n`` before a ``\\n\\n`` delimiter).
"""

from __future__ import annotations

from typing import Dict, List, Set

from .._engine import ir
from .prompt import _LONG, ACC, CAP, LIT, _Automaton, _Builder

#: At most this many continuations are listed per end literal (each is a separate text).
_MOST = 12


def _owners(auto: _Automaton) -> Dict[int, Set[str]]:
    """For each capture node, the roles (or ``system``, ``reasoning``...) whose values it takes."""
    owners: Dict[int, Set[str]] = {}
    for edges in auto.edges:
        for marks, kind, data, dst, _ in edges:
            roles = [m[1] or "any other role" for m in marks if m[0] == "msg"]
            if not roles:
                continue
            stack = [(kind, data, dst)]
            seen = set()
            while stack:
                kind_, data_, node = stack.pop()
                if kind_ == CAP:
                    name = roles[-1] if data_ == "content" else "role names" if data_ == "role" else \
                        f"{roles[-1]} {data_}"
                    owners.setdefault(node, set()).add(name)
                    if data_ in _LONG or node in seen:
                        continue
                    seen.add(node)  # a role name or a variable: the content comes after it
                    stack.extend((e[1], e[2], e[3]) for e in auto.exits[node])
                    continue
                if kind_ != LIT or node in seen:
                    continue
                seen.add(node)
                stack.extend((e[1], e[2], e[3]) for e in auto.edges[node])
    for node, name in auto.captures.items():
        if name != "content" and node not in owners:
            owners[node] = {name.replace("var:", "variable ")}
    return owners


def lint(program: ir.Program) -> Dict[str, Dict[str, List[str]]]:
    """``{value: {"contains": [...], "starts_with": [...], "ends_with": [...]}}`` for each value the
    format writes (``user``, ``assistant``, ``system``, ``assistant reasoning``, ``any role role``...)."""
    auto = _Builder(program).build()
    owners = _owners(auto)
    found: Dict[str, Dict[str, Set[str]]] = {}

    def add(node: int, how: str, text: str) -> None:
        for owner in owners.get(node, {auto.captures[node]}):
            found.setdefault(owner, {}).setdefault(how, set()).add(text)

    for node in auto.captures:
        for _, kind, text, target, _ in auto.exits[node]:
            if kind != LIT:
                continue
            nexts = [e for e in auto.edges[target]]
            if any(e[1] == CAP for e in nexts) or not nexts:
                add(node, "contains", text)
            else:
                follow = sorted({e[2] for e in nexts if e[1] == LIT})
                if any(e[1] == ACC for e in nexts) and not follow:
                    continue  # the value is the prompt's last: its end literal is not inside it
                if len(follow) > _MOST or any(e[1] == ACC for e in nexts):
                    add(node, "contains", text)
                else:
                    for more in follow:
                        add(node, "contains", text + more)
            for k in range(1, len(text)):
                # A value ending with the first k characters of a delimiter that repeats itself
                # (``\n`` before ``\n\n``) moves the delimiter k characters earlier.
                if (text[:k] + text).startswith(text):
                    add(node, "ends_with", text[:k])
    # A longer variant of the text before a value: the value must not start with what it adds.
    for edges in auto.edges:
        lits = [e for e in edges if e[1] == LIT]
        for marks, _, short, after, _ in lits:
            roles = [m[1] or "any other role" for m in marks if m[0] == "msg"]
            for cap in (e for e in auto.edges[after] if e[1] == CAP and e[2] in _LONG):
                if not roles and cap[2] == "content":
                    continue  # a step inside a message's text, not its start
                owner = (roles[-1] if cap[2] == "content" else f"{roles[-1]} {cap[2]}") if roles else cap[2]
                for long in {e[2] for e in lits}:
                    if long != short and long.startswith(short):
                        found.setdefault(owner, {}).setdefault("starts_with", set()).add(long[len(short):])
    return {owner: {how: sorted(texts) for how, texts in sorted(hows.items())} for owner, hows in sorted(found.items())}
