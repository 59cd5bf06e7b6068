"""Reading a rendered prompt back into the conversation it was rendered from (``Format.parse``).

The format's core representation (``_engine.ir``) says what text can surround a message's content:
every ``Choice`` case, whatever its condition, becomes a branch of one automaton whose edges are the
format's literals, its values (content, reasoning, the system text, a role name, a variable) as
*captures* of any text, and marks (a message of role R starts here; the generation prompt is
written; a switch has this value). Conditions are not evaluated: a reading is checked by rendering
it, which is what makes the result exact.

The automaton runs once over the prompt, in position order. A capture of content may end at every
occurrence of a literal that can follow it (content may hold any text, delimiters included), but
all the captures open in one automaton node share their exits, so the work is linear in the number
of delimiter occurrences. Among the readings the preferred one writes the fewest characters as
values and the most as scaffold: every delimiter the prompt holds is read as a delimiter unless no
reading renders back that way. A second reading that renders back to the same prompt and reads as a
delimiter some text the preferred one reads as content is an ambiguity (``AmbiguousPromptError``).
Names (roles, variables) end at the first literal that can follow them.
"""

from __future__ import annotations

import copy
import functools
import gc
import heapq
import os
from bisect import bisect_left
from contextlib import contextmanager
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

from .._engine import ir
from .._engine.ir import Choice, Lit, Slot
from ..errors import AmbiguousPromptError, PromptcraftError, PromptParseError

LIT, CAP, ACC = 0, 1, 2
#: Captures that take any text; the others (role names, variables) end at the first literal after them.
_LONG = ("content", "reasoning", "system", "call_arguments", "call_function")
#: Alternative readings checked for an ambiguity, and readings tried when the preferred one does not
#: render back, before giving up with an error.
#: How a call text's pieces are read (``ir.CallText``): the name, the arguments, its position in the
#: message, its type, its position in the conversation, its id, its function object's members.
_CALL_PIECES = {0: "call_name", 1: "call_arguments", 2: "call_position", 3: "call_type", 4: "call_number",
                5: "call_id", 6: "call_function"}
#: The argument forms read back: JSON, or the text as given.
_CALL_MODES = ("json", "json_or_text", "text", "parameters", "json_block")
_CHECKS = 24
_TRIES = 24
_INF = float("inf")


class ParsedPrompt:
    """The conversation a prompt was rendered from: ``render(messages,
    add_generation_prompt=add_generation_prompt, **variables)`` gives the prompt back."""

    __slots__ = ("messages", "add_generation_prompt", "variables", "tools")

    def __init__(self, messages: List[Dict[str, Any]], add_generation_prompt: bool, variables: Dict[str, Any],
                 tools: Optional[List[Any]] = None):
        self.messages = messages
        self.add_generation_prompt = add_generation_prompt
        self.variables = variables
        #: The tool definitions the prompt was rendered with (``render(..., tools=tools)``), or ``None``.
        self.tools = tools

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ParsedPrompt) and (
            self.messages, self.add_generation_prompt, self.variables, self.tools) == (
            other.messages, other.add_generation_prompt, other.variables, other.tools)

    def __repr__(self) -> str:
        return (f"ParsedPrompt(messages={self.messages!r}, add_generation_prompt={self.add_generation_prompt!r}, "
                f"variables={self.variables!r}, tools={self.tools!r})")


Marks = Tuple[Tuple[Any, ...], ...]
# An edge after closing over the unlabelled ones: (marks passed on the way, kind, literal text or
# capture name, target node).
# An edge after closing over the unlabelled ones: (marks passed on the way, kind, literal text or
# capture name, target node, weight: the messages it starts, see ``_Run``).
Edge = Tuple[Marks, int, str, int, int]


class _Builder:
    """The automaton of a program, built from its pieces (edges with marks, then closed over
    the unlabelled ones)."""

    def __init__(self, program: ir.Program) -> None:
        self.program = program
        self.raw: List[List[Tuple[Optional[Tuple[Any, ...]], Optional[Tuple[int, str]], int]]] = []
        self.variables = {v.name: v for v in program.variables}
        self.calls = {role.name: role.calls for role in program.roles if role.calls is not None}

    def node(self) -> int:
        self.raw.append([])
        return len(self.raw) - 1

    def eps(self, src: int, dst: int, mark: Optional[Tuple[Any, ...]] = None) -> None:
        self.raw[src].append((mark, None, dst))

    def step(self, src: int, kind: int, data: str) -> int:
        dst = self.node()
        self.raw[src].append((None, (kind, data), dst))
        return dst

    def seq(self, src: int, pieces: ir.Seq, role: Optional[str] = None, content: Optional[Callable[[int], int]] = None,
            system: Optional[Callable[[int], int]] = None) -> int:
        """Emit ``pieces`` from ``src``; the node they end at. ``content`` and ``system`` emit those
        slots (default: a capture)."""
        at = src
        for piece in pieces:
            if isinstance(piece, Lit):
                if piece.text:
                    at = self.step(at, LIT, piece.text)
            elif isinstance(piece, Choice):
                end = self.node()
                for case in piece.cases:
                    if case.when.named:
                        # A message's name is not read back (Jamba's "(name)" could as well be content).
                        continue
                    self.eps(self.seq(at, case.seq, role, content, system), end)
                at = end
            else:
                at = self.slot(at, piece, role, content, system)
        return at

    def slot(self, at: int, piece: Slot, role: Optional[str], content: Optional[Callable[[int], int]],
             system: Optional[Callable[[int], int]]) -> int:
        name = piece.name
        if name == "content":
            return content(at) if content is not None else self.step(at, CAP, "content")
        if name == "system":
            return system(at) if system is not None else self.step(at, CAP, "system")
        if name == "role":
            return self.step(at, LIT, role) if role else self.step(at, CAP, "role")
        if name in ("reasoning", "tool_call_id"):
            return self.step(at, CAP, name)
        if name == "calls":
            return self.calls_slot(at, self.calls.get(role) if role else None)
        if name == "tools":
            return at  # tool definitions are read from the text they are part of (``_tools``)
        if name == "attach":
            return at  # a field a prefix writes (GLM-4's metadata) is not read back
        if name in ir.MESSAGE_SLOTS and name not in self.variables:
            # What follows from other values (the name of the call a result answers, a call's number):
            # read as any text, the rendering checks it.
            return self.step(at, CAP, "derived:" + name)
        variable = self.variables.get(name)
        if variable is not None and variable.is_mapping:
            # Not given (or empty): no text; else its JSON between the two texts around it.
            end = self.node()
            self.eps(at, end)
            assert variable.when_given is not None
            before, after = variable.when_given
            mid = self.step(self.step(at, LIT, before) if before else at, CAP, "json:" + name)
            self.eps(self.step(mid, LIT, after) if after else mid, end)
            return end
        if variable is not None and variable.nonblank is not None:
            # Blank (or not given): no text; else the value between the two texts around it.
            end = self.node()
            self.eps(at, end)
            before, after = variable.nonblank
            mid = self.step(self.step(at, LIT, before) if before else at, CAP, "var:" + name)
            self.eps(self.step(mid, LIT, after) if after else mid, end)
            return end
        if variable is not None and variable.is_switch:
            end = self.node()
            for value, text in ((True, variable.when_true), (False, variable.when_false)):
                mid = self.node()
                self.eps(at, mid, ("switch", name, value))
                self.eps(self.step(mid, LIT, text) if text else mid, end)
            return end
        return self.step(at, CAP, "var:" + name)

    def calls_slot(self, at: int, calls: Optional[ir.Calls]) -> int:
        """No calls, or the calls' opening, one or more call texts (any of them: their conditions are
        checked by rendering), and their closing."""
        end = self.node()
        self.eps(at, end)
        if calls is None or calls.form[0] not in _CALL_MODES or (
                calls.form[0] == "parameters" and _parameter_shape(calls.form) is None):
            return end
        texts = [t.text for t in calls.texts if all(isinstance(p, str) or p in _CALL_PIECES for p in t.text)]
        if not texts:
            return end
        each = self.node()
        self.eps(self.step(at, LIT, calls.open) if calls.open else at, each)
        done = self.node()
        for text in texts:
            node = self.node()
            self.eps(each, node, ("call",))
            for piece in text:
                if isinstance(piece, str):
                    node = self.step(node, LIT, piece) if piece else node
                else:
                    node = self.step(node, CAP, _CALL_PIECES[piece])
            self.eps(node, done)
        self.eps(done, each)
        self.eps(self.step(done, LIT, calls.close) if calls.close else done, end)
        return end

    def build(self) -> "_Automaton":
        p = self.program
        start = self.node()
        at = self.seq(start, (p.start,))
        system = p.system
        after_system = self.node()
        self.eps(at, after_system)
        leading = system.leading[0] if system.leading else "system"
        wrap = (lambda node: self.seq(node, system.wrap or ())) if system.wrap is not None else None
        if system.placement == "message" and system.default_message is not None:
            self.eps(self.seq(at, system.default_message), after_system)
        elif system.placement in ("block", "hoist"):
            self.eps(self.seq(at, system.block, system=wrap or (self.hoisted if system.placement == "hoist"
                                                                else None)), after_system)
            if system.default is not None:
                self.eps(self.seq(at, system.block, system=lambda node: self.seq(node, system.default or ())),
                         after_system)
            if system.override is not None:
                self.eps(self.seq(at, system.override_block), after_system)
        loop = after_system
        fold = None
        if system.placement in ("fold_first", "fold_last") and system.fold is not None:
            fold = system.fold
        declared = {role.name for role in p.roles}
        for role in p.roles + ((p.any_role,) if p.any_role is not None else ()):
            if role.action != "write":
                continue  # dropped or refused: nothing of it is in a prompt
            for case in role.body.cases:
                if not case.seq:
                    continue  # a message written as nothing cannot be read back
                name = role.name
                if name is None and not _writes(case.seq, "role"):
                    if "assistant" in declared:
                        continue
                    # A catch-all that does not say which role it writes: read as the reply it stands for.
                    name = "assistant"
                contents: List[Optional[Callable[[int], int]]] = [None]
                # The first (or last) message's content holds the system text; the reasoning display
                # writes the content through its template.
                for written in (fold, p.display.template if role.display and p.display is not None else None):
                    if written is not None:
                        contents.append(functools.partial(self.seq, pieces=written))
                for content in contents:
                    begin = self.node()
                    self.eps(loop, begin, ("msg", name))
                    self.eps(self.seq(begin, case.seq, name, content), loop)
        accept = self.node()
        for case in p.end.cases:
            mark = self.node()
            self.eps(loop, mark, ("gen", case.when.gen is True))
            self.eps(self.seq(mark, case.seq), accept)
        del leading
        return _Automaton(_merged(self.close(accept), start), start, accept)

    def hoisted(self, at: int) -> int:
        """Hoisted system texts: one or more items, joined."""
        system = self.program.system
        first = self.seq(at, system.item_prefix)
        end = self.step(first, CAP, "system")
        self.eps(at, end)  # no system message: the block is written all the same
        if system.join or system.item_prefix:
            again = self.step(end, LIT, system.join) if system.join else end
            self.eps(self.seq(again, system.item_prefix), first)
        return end

    def close(self, accept: int) -> List[List[Edge]]:
        """Each node's edges that read text (or accept), with the marks on the way to them."""
        out: List[List[Edge]] = []
        for node in range(len(self.raw)):
            found: List[Edge] = []
            seen = set()
            stack: List[Tuple[int, Marks, frozenset]] = [(node, (), frozenset())]
            while stack:
                at, marks, visited = stack.pop()
                if at == accept:
                    found.append((marks, ACC, "", accept, _weight(marks, ACC, "")))
                for mark, label, dst in reversed(self.raw[at]):
                    if label is None:
                        if dst in visited:
                            continue  # a loop that reads nothing
                        stack.append((dst, marks + ((mark,) if mark else ()), visited | {at}))
                    elif (marks, label, dst) not in seen:
                        seen.add((marks, label, dst))
                        found.append((marks, label[0], label[1], dst, _weight(marks, *label)))
            out.append(found)
        return out


def _merged(edges: List[List[Edge]], start: int) -> List[List[Edge]]:
    """The automaton with the nodes that have the same edges made one (the ends of a role's variants,
    say), so that a position holds each state once."""
    dead: set = set()
    while True:
        # A capture's node keeps the capture's name: a name ends at its first delimiter, content does not.
        taken = {e[3]: e[2] for found in edges for e in found if e[1] == CAP}
        same: Dict[Tuple[Any, ...], int] = {}
        alias: Dict[int, int] = {}
        for node, found in enumerate(edges):
            if node in dead:
                continue
            key = (taken.get(node),) + tuple(found)
            if node != start and key in same:
                alias[node] = same[key]
            else:
                same.setdefault(key, node)
        if not alias:
            return edges
        dead.update(alias)
        edges = [[] if node in dead else [(m, k, d, alias.get(t, t), w) for m, k, d, t, w in _unique(found)]
                 for node, found in enumerate(edges)]


def _unique(found: List[Edge]) -> List[Edge]:
    seen: set = set()
    out = []
    for edge in found:
        if edge not in seen:
            seen.add(edge)
            out.append(edge)
    return out


def _weight(marks: Marks, kind: int, data: str) -> int:
    return sum(1 for mark in marks if mark[0] == "msg") + (kind == CAP and data == "system")


def _writes(pieces: ir.Seq, slot: str) -> bool:
    for piece in pieces:
        if isinstance(piece, Slot) and piece.name == slot:
            return True
        if isinstance(piece, Choice) and any(_writes(case.seq, slot) for case in piece.cases):
            return True
    return False


class _Automaton:
    def __init__(self, edges: List[List[Edge]], start: int, accept: int) -> None:
        self.edges = edges
        self.start = start
        self.accept = accept
        #: The capture edges' target nodes, and the literals that may end each capture there.
        self.captures: Dict[int, str] = {}
        for found in edges:
            for edge in found:
                if edge[1] == CAP:
                    self.captures[edge[3]] = edge[2]
        self.long = {node for node, name in self.captures.items() if name in _LONG}
        self.exits: Dict[int, List[Edge]] = {}
        for node in self.captures:
            # A capture right after another could split its text anywhere: only literals end one.
            self.exits[node] = [e for e in edges[node] if e[1] != CAP]
        # Each node's literal edges by their first character: one dictionary look-up per state.
        self.by_char: List[Dict[str, List[Edge]]] = []
        self.other: List[List[Edge]] = []
        for found in edges:
            index: Dict[str, List[Edge]] = {}
            for edge in found:
                if edge[1] == LIT:
                    index.setdefault(edge[2][0], []).append(edge)
            self.by_char.append(index)
            self.other.append([e for e in found if e[1] != LIT])
        self.literals = sorted({e[2] for found in edges for e in found if e[1] == LIT})


class _Run:
    """One pass of the automaton over a prompt, and the best reading through any state.

    A reading's cost is its characters of values times ``scale`` plus its messages (among readings
    with as much content, the one with fewer messages is preferred: an empty system message the
    format writes as nothing is no message)."""

    def __init__(self, auto: _Automaton, text: str) -> None:
        self.auto = auto
        self.text = text
        self.scale = len(text) + 1
        self.occurrences: Dict[str, List[int]] = {}
        # forward, by position: node -> [cost from the start, predecessor]
        self.reached: Dict[int, Dict[int, List[Any]]] = {}
        # captures opened, by position: capture node -> [cost before it, predecessor]
        self.entries: Dict[int, Dict[int, List[Any]]] = {}
        # exits taken: capture node -> [(end of capture, edge)], in order
        self.exit_list: Dict[int, List[Tuple[int, Edge]]] = {}
        self.accepted = False
        self.forward()
        self.positions = sorted(set(self.reached) | set(self.entries))

    def occurrences_of(self, literal: str) -> List[int]:
        found = self.occurrences.get(literal)
        if found is None:
            found = []
            text, at = self.text, self.text.find(literal)
            while at >= 0:
                found.append(at)
                at = text.find(literal, at + 1)
            self.occurrences[literal] = found
        return found

    def forward(self) -> None:
        auto, text, n, scale = self.auto, self.text, len(self.text), self.scale
        by_char, other, long = auto.by_char, auto.other, auto.long
        reached, entries = self.reached, self.entries
        heap: List[int] = [0]
        queued = {0}
        exits_at: Dict[int, List[Tuple[int, Edge, Optional[int]]]] = {}
        best: Dict[int, Tuple[int, int]] = {}  # long capture node -> (least cost - start * scale, start)
        opened: set = set()

        def reach(node: int, pos: int, cost: int, pred: Any) -> None:
            here = reached.get(pos)
            if here is None:
                here = reached[pos] = {}
                if pos not in queued:
                    queued.add(pos)
                    heapq.heappush(heap, pos)
            old = here.get(node)
            if old is None:
                here[node] = [cost, pred]
            elif cost < old[0]:
                old[0], old[1] = cost, pred

        def schedule(q: int, item: Tuple[int, Edge, Optional[int]]) -> None:
            exits_at.setdefault(q, []).append(item)
            if q not in queued:
                queued.add(q)
                heapq.heappush(heap, q)

        reach(auto.start, 0, 0, None)
        while heap:
            pos = heapq.heappop(heap)
            here = reached.get(pos, {})
            char = text[pos] if pos < n else ""
            opened_here: Dict[int, List[Any]] = {}
            for node, (cost, _) in list(here.items()):
                for edge in by_char[node].get(char, ()):
                    if text.startswith(edge[2], pos):
                        reach(edge[3], pos + len(edge[2]), cost + edge[4], (node, pos, edge))
                for edge in other[node]:
                    if edge[1] == ACC:
                        if pos == n:
                            self.accepted = True
                        continue
                    cost_in, dst = cost + edge[4], edge[3]
                    old = opened_here.get(dst)
                    if old is None:
                        opened_here[dst] = [cost_in, (node, pos, edge)]
                        if dst in long:
                            if dst in opened:
                                continue  # the exits of its first entry serve every later one
                            opened.add(dst)
                        self.open(dst, pos, schedule)
                    elif cost_in < old[0]:
                        old[0], old[1] = cost_in, (node, pos, edge)
            if opened_here:
                entries[pos] = opened_here
                # The captures opened here may end here too (empty), once every entry at pos is known.
                for dst, (cost, _) in opened_here.items():
                    if dst in long:
                        old_best = best.get(dst)
                        if old_best is None or cost - pos * scale < old_best[0]:
                            best[dst] = (cost - pos * scale, pos)
            for node, edge, start in exits_at.pop(pos, ()):
                if start is None:
                    offset, start = best[node]
                    cost = offset + pos * scale
                else:
                    cost = entries[start][node][0] + (pos - start) * scale
                if edge[1] == ACC:
                    self.exit_list.setdefault(node, []).append((pos, edge))
                    self.accepted = self.accepted or pos == n
                    continue
                # Most delimiters inside content lead nowhere: look one step ahead before keeping a state.
                target, after = edge[3], pos + len(edge[2])
                if not any(e[1] == CAP or after == n for e in other[target]):
                    ahead = text[after] if after < n else ""
                    if not any(text.startswith(e[2], after) for e in by_char[target].get(ahead, ())):
                        continue
                self.exit_list.setdefault(node, []).append((pos, edge))
                reach(target, after, cost + edge[4], ("exit", node, start, pos, edge))

    def open(self, node: int, pos: int, schedule: Callable[..., None]) -> None:
        """Schedule where the capture opened at ``node``, ``pos`` may end."""
        auto, n = self.auto, len(self.text)
        long = node in auto.long
        for edge in auto.exits[node]:
            if edge[1] == ACC:
                schedule(n, (node, edge, None if long else pos))
                continue
            found = self.occurrences_of(edge[2])
            first = bisect_left(found, pos)
            for q in (found[first:] if long else found[first:first + 1]):
                schedule(q, (node, edge, None if long else pos))

    # -- backward: the least cost from each state to the end, and the choice that gives it --

    def backward(self) -> None:
        auto, text, n, scale = self.auto, self.text, len(self.text), self.scale
        by_char, other = auto.by_char, auto.other
        dist: Dict[int, Dict[int, Tuple[float, Any]]] = {}
        entry_dist: Dict[int, Dict[int, Tuple[float, Any]]] = {}
        exits_sorted = {node: sorted(found, key=lambda e: e[0]) for node, found in self.exit_list.items()}
        pointer = {node: len(found) for node, found in exits_sorted.items()}
        running: Dict[int, Tuple[float, Any]] = {}
        nothing: Tuple[float, Any] = (_INF, None)

        def exit_cost(q: int, edge: Edge) -> float:
            if edge[1] == ACC:
                return edge[4] if q == n else _INF
            return edge[4] + dist.get(q + len(edge[2]), {}).get(edge[3], nothing)[0]

        for pos in reversed(self.positions):
            opened = self.entries.get(pos)
            if opened:
                found_here = entry_dist[pos] = {}
                for node in opened:
                    if node in auto.long:
                        found = exits_sorted.get(node, [])
                        k = pointer.get(node, 0)
                        best = running.get(node, nothing)
                        while k > 0 and found[k - 1][0] >= pos:
                            k -= 1
                            q, edge = found[k]
                            value = q * scale + exit_cost(q, edge)
                            if value <= best[0]:
                                best = (value, (q, edge))
                        pointer[node] = k
                        running[node] = best
                        found_here[node] = (best[0] - pos * scale, best[1])
                    else:
                        choice: Tuple[float, Any] = nothing
                        for edge in auto.exits[node]:
                            if edge[1] == ACC:
                                q = n
                            else:
                                found_at = self.occurrences_of(edge[2])
                                i = bisect_left(found_at, pos)
                                if i == len(found_at):
                                    continue
                                q = found_at[i]
                            value = (q - pos) * scale + exit_cost(q, edge)
                            if value < choice[0]:
                                choice = (value, (q, edge))
                        found_here[node] = choice
            here = self.reached.get(pos)
            if not here:
                continue
            char = text[pos] if pos < n else ""
            out = dist[pos] = {}
            entered = entry_dist.get(pos, {})
            for node in reversed(list(here)):
                choice = nothing
                for edge in by_char[node].get(char, ()):
                    if text.startswith(edge[2], pos):
                        value = edge[4] + dist.get(pos + len(edge[2]), {}).get(edge[3], nothing)[0]
                        if value < choice[0]:
                            choice = (value, edge)
                for edge in other[node]:
                    if edge[1] == ACC:
                        value = edge[4] if pos == n else _INF
                    else:
                        value = edge[4] + entered.get(edge[3], nothing)[0]
                    if value < choice[0]:
                        choice = (value, edge)
                out[node] = choice
        self.dist = dist
        self.entry_dist = entry_dist

    def cost(self, node: int, pos: int) -> float:
        return self.dist.get(pos, {}).get(node, (_INF, None))[0]

    def best_from(self, node: int, pos: int) -> List[Tuple[Edge, int, int]]:
        """The least-cost path from a state to the end: (edge, start, end) of each step."""
        path: List[Tuple[Edge, int, int]] = []
        while True:
            cost, edge = self.dist.get(pos, {}).get(node, (_INF, None))
            if edge is None:
                raise PromptParseError("internal: no path", offset=pos)
            kind, data = edge[1], edge[2]
            if kind == ACC:
                path.append((edge, pos, pos))
                return path
            if kind == LIT:
                path.append((edge, pos, pos + len(data)))
                node, pos = edge[3], pos + len(data)
                continue
            value, (q, exit_edge) = self.entry_dist[pos][edge[3]]
            path.append((edge, pos, q))
            if exit_edge[1] == ACC:
                path.append((exit_edge, q, q))
                return path
            path.append((exit_edge, q, q + len(exit_edge[2])))
            node, pos = exit_edge[3], q + len(exit_edge[2])

    def best_to(self, node: int, pos: int) -> List[Tuple[Edge, int, int]]:
        """The least-cost path from the start to a state (the forward predecessors)."""
        path: List[Tuple[Edge, int, int]] = []
        while True:
            cost, pred = self.reached[pos][node]
            if pred is None:
                path.reverse()
                return path
            if pred[0] == "exit":
                _, capture, start, q, edge = pred
                path.append((edge, q, pos))
                before_cost, (prev, prev_pos, cap_edge) = self.entries[start][capture]
                path.append((cap_edge, start, q))
                node, pos = prev, prev_pos
            else:
                prev, prev_pos, edge = pred
                path.append((edge, prev_pos, pos))
                node, pos = prev, prev_pos


class Reading:
    """Messages, generation flag and variables read along one path."""

    def __init__(self, messages: List[Dict[str, Any]], gen: Optional[bool], variables: Dict[str, Any],
                 switches: Dict[str, bool], offsets: List[int]) -> None:
        self.messages = messages
        #: where each message starts in the prompt
        self.offsets = offsets
        self.gen = gen
        self.variables = variables
        self.switches = switches
        #: Other readings of a call's parameters: (message, call, arguments, offset of the arguments).
        self.alternatives: List[Tuple[int, int, Dict[str, Any], int]] = []


def _reading(program: ir.Program, text: str, path: Sequence[Tuple[Edge, int, int]],
             schemas: Optional[Dict[str, Any]] = None) -> Reading:
    messages: List[Dict[str, Any]] = []
    systems: List[str] = []
    offsets: List[int] = []
    system_offsets: List[int] = []
    variables: Dict[str, Any] = {}
    switches: Dict[str, bool] = {}
    gen: Optional[bool] = None
    current: Optional[Dict[str, Any]] = None
    display = program.display
    calls_of = {role.name: role.calls for role in program.roles}
    json_roles = {role.name for role in program.roles if role.content_json}
    alternatives: List[Tuple[int, int, Dict[str, Any], int]] = []
    for (marks, kind, data, _, _), start, end in path:
        for mark in marks:
            if mark[0] == "msg":
                current = {"role": mark[1], "content": ""}
                messages.append(current)
                offsets.append(start)
            elif mark[0] == "call" and current is not None:
                current.setdefault("tool_calls", []).append({"type": "function", "function": {}})
            elif mark[0] == "gen":
                gen = mark[1]
            elif mark[0] == "switch":
                switches[mark[1]] = mark[2]
        if kind != CAP:
            continue
        value = text[start:end]
        if data == "system":
            systems.append(value)
            system_offsets.append(start)
        elif data.startswith("var:"):
            variables[data[4:]] = value
        elif data.startswith("json:"):
            import json

            try:
                variables[data[5:]] = json.loads(value)
            except ValueError:
                variables[data[5:]] = value  # not JSON: this reading does not render back
        elif data.startswith("derived:"):
            continue
        elif current is not None and data.startswith("call_"):
            found = _read_call(calls_of.get(current["role"]), current["tool_calls"][-1], data, value, schemas)
            if found is not None:
                # Another split of the parameters' text: checked for an ambiguity once this reading holds.
                alternatives.append((len(messages) - 1, len(current["tool_calls"]) - 1, found, start))
        elif current is not None:
            if data == "reasoning":
                current["\0reasoning"] = value
            elif data == "tool_call_id":
                if value:
                    current["tool_call_id"] = value
            else:
                current[data] = value
    for message in messages:
        if message["role"] in json_roles:
            message["content"] = _json_or(message["content"], str)  # the role writes its content as JSON
        reasoning = message.pop("\0reasoning", None)
        if reasoning and display is not None:
            if display.field:
                message["reasoning_content"] = reasoning
            else:
                message["content"] = display.open + reasoning + display.close + message["content"]
    leading = program.system.leading[0] if program.system.leading else "system"
    messages = [{"role": leading, "content": s} for s in systems] + messages
    reading = Reading(messages, gen, variables, switches, system_offsets + offsets)
    reading.alternatives = [(index + len(systems), call, found, at) for index, call, found, at in alternatives]
    return reading


def _read_call(calls: Optional[ir.Calls], call: Dict[str, Any], piece: str, value: str,
               schemas: Optional[Dict[str, Any]] = None) -> Optional[Dict[str, Any]]:
    """One piece of a call's text into the call (``{"type": "function", "function": {...}}``); a value
    that is not what the format writes stays text, and the reading does not render back. Parameters
    that split another way too give that other reading of the arguments."""
    function = call["function"]
    extra = calls.extra if calls is not None else None
    if piece == "call_name":
        function["name"] = _json_or(value) if extra is not None and extra[0] == "json" else value
    elif piece == "call_arguments":
        # Arguments the format writes as given (a string) are read as the string; else as the JSON they are,
        # unless the format writes a string as given and this is no mapping as it writes one.
        mode = calls.form[0] if calls is not None else "json"
        if mode == "parameters" and calls is not None:
            name = function.get("name")
            schema = schemas.get(name) if schemas and isinstance(name, str) else None
            first, other = _parameters(value, calls.form, schema)
            function["arguments"] = value if first is None else first
            return other
        if mode == "json_block":
            # Command R+'s tojson(indent=4)|indent(8): every line after the first indented by 8 more spaces.
            value = value.replace("\n" + " " * 8, "\n")
        found = value if mode == "text" else _json_or(value, dict)
        if mode == "json_or_text" and found is not value and _tojson(found) != value:
            found = value
        function["arguments"] = found
    elif piece == "call_id":
        call["id"] = _json_or(value) if extra is not None and extra[1] == "json" else value
    elif piece == "call_type":
        call["type"] = value
    elif piece == "call_function":
        members = _json_or("{" + value + "}", dict)
        call["function"] = members if isinstance(members, dict) else value
    # The call's positions (in the message, in the conversation) follow from the calls: rendering checks them.
    return None


#: Ways of splitting a parameters' text tried before giving up (each a parameter read).
_SPLITS = 64


def _parameter_shape(form: Tuple[Any, ...]) -> Optional[Tuple[str, str, str, str]]:
    """``(before the key, between key and value, after the value, between two)`` of a parameter text
    written key first, or ``None`` where the key or a value cannot be told apart from its neighbours."""
    pieces = list(form[1])
    before = pieces.pop(0) if pieces and isinstance(pieces[0], str) else ""
    after = pieces.pop() if pieces and isinstance(pieces[-1], str) else ""
    if len(pieces) != 3 or pieces[0] != 0 or pieces[2] != 1 or not isinstance(pieces[1], str) or not pieces[1]:
        return None
    if not (after or form[3] or before):
        return None
    return before, pieces[1], after, form[3]


def _parameters(text: str, form: Tuple[Any, ...], schema: Optional[Dict[str, Any]]) -> \
        Tuple[Optional[Dict[str, Any]], Optional[Dict[str, Any]]]:
    """The arguments a parameters' text spells, read with the fewest characters in values (every
    delimiter read as a delimiter), and a second reading where one splits the text otherwise (a value
    holding the text that ends a parameter); ``(None, None)`` where none does."""
    shape = _parameter_shape(form)
    if shape is None:
        return None, None
    before, mid, after, separator = shape
    write = form[2]
    # Each complete split: the raw values, and where its values end (the delimiters it reads).
    found: List[Tuple[Dict[str, str], frozenset]] = []
    budget = [_SPLITS]
    n = len(text)

    def ends(start: int) -> Iterator[Tuple[int, int]]:
        """Where a value opened at ``start`` may end, and where the text after it goes on."""
        if write == "json":
            import json

            try:
                _, end = json.JSONDecoder().raw_decode(text, start)
            except (ValueError, RecursionError):
                return
            if text.startswith(after, end):
                yield end, end + len(after)
            return
        if not after:
            # The value goes on up to a separator and the next parameter's opening, or to the end.
            marker = separator + before
            end = text.find(marker, start)
            while end >= 0:
                yield end, end
                end = text.find(marker, end + 1)
            yield n, n
            return
        end = text.find(after, start)
        while end >= 0:
            yield end, end + len(after)
            end = text.find(after, end + 1)

    def done() -> bool:
        # The preferred split, and one that reads a delimiter it does not: enough to know.
        return budget[0] <= 0 or (len(found) > 1 and not found[-1][1] <= found[0][1])

    def split(pos: int, read: Dict[str, str], cuts: frozenset) -> None:
        budget[0] -= 1
        if not text.startswith(before, pos):
            return
        key_at = pos + len(before)
        key_end = text.find(mid, key_at)
        if key_end < 0:
            return
        key = text[key_at:key_end]
        if key in read:
            return
        for end, nxt in ends(key_end + len(mid)):
            here = dict(read, **{key: text[key_end + len(mid):end]})
            if nxt == n:
                found.append((here, cuts))
            elif text.startswith(separator + before, nxt) and nxt + len(separator) < n:
                split(nxt + len(separator), here, cuts | {end})
            if done():
                return

    if text:
        split(0, {}, frozenset())
    else:
        found.append(({}, frozenset()))
    if not found:
        return None, None
    # Splits that read fewer delimiters than the preferred one (a value holding a whole parameter) are
    # no ambiguity: the delimiters are read as delimiters, as everywhere.
    readings = [found[0][0]] + [each for each, cuts in found[1:] if not cuts <= found[0][1]][:1]
    values = [{key: _parameter_value(raw, write, (schema or {}).get(key)) for key, raw in each.items()}
              for each in readings]
    return values[0], (values[1] if len(values) > 1 else None)


def _parameter_value(text: str, write: str, schema: Any) -> Any:
    """A value from its text: JSON where the format writes JSON; else, where the tool's schema gives its
    type, the value of that type the format writes as this text; else the text (``str`` writes ``1``
    and ``"1"`` alike: the type is lost)."""
    from .._runtime.tools import VALUE_FORMATS

    if write == "json":
        return _json_or(text)
    if schema is None:
        return text
    from .output import read_value, schema_types

    types = schema_types(schema)
    if not types:
        return text
    found = read_value(text, write, types)
    try:
        return found if VALUE_FORMATS[write](found) == text else text
    except ValueError:
        return text


def _tojson(value: Any) -> str:
    from .._runtime.tools import tojson

    try:
        return tojson(value)
    except ValueError:
        return ""


def _json_or(value: str, kind: type = object) -> Any:
    import json

    try:
        found = json.loads(value)
    except ValueError:
        return value
    return found if isinstance(found, kind) else value


class PromptParser:
    """Parses the prompts of one format (``Format.parse``)."""

    def __init__(self, program: ir.Program, render: Callable[..., str]) -> None:
        self.program = program
        self.render = render
        self.auto = _Builder(program).build()
        self.switches = [v for v in program.variables if v.is_switch]
        #: The layout of tool definitions written as JSON, led by the text a block is found by.
        self.tools = _json_tools_layout(program.tools)
        #: Tool name -> its parameters' properties, from the definitions read back (calls written as
        #: parameters read their values' types from them).
        self.schemas: Dict[str, Any] = {}

    def parse(self, prompt: str) -> ParsedPrompt:
        if not isinstance(prompt, str):
            raise TypeError(f"parse takes the prompt as a string, got {type(prompt).__name__}")
        with _collector_paused():
            return self._parse(prompt)

    def _parse(self, prompt: str) -> ParsedPrompt:
        if self.tools is not None and self.tools[0] in prompt:
            found = self.with_tools(prompt, self.tools)
            if found is not None:
                return found
        return self._parse_text(prompt)

    def with_tools(self, prompt: str, layout: Tuple[Any, ...]) -> Optional[ParsedPrompt]:
        """The reading with tool definitions: a block of them the format writes as JSON, taken out of
        the prompt (with the text that joins it to its neighbour, or not), the rest read as a prompt
        without tools, the whole checked by rendering it with them. The block is scaffold, as every
        delimiter is: a content that holds such a block is read as the definitions it spells."""
        anchor = layout[0]
        at, tries = prompt.find(anchor), 0
        while at >= 0 and tries < _TRIES:
            tries += 1  # each place tried counts: a prompt holding the prefix a million times stays bounded
            block = _tools_block(prompt, at, layout)
            if block is not None:
                end, tools = block
                join = self.program.tools.join if self.program.tools is not None else ""
                # The joining text read as scaffold first, as every delimiter is.
                cuts = ([(at - len(join), end), (at, end + len(join))] if join else []) + [(at, end)]
                for start, stop in cuts:
                    if start < 0 or prompt[start:at] + prompt[end:stop] not in ("", join):
                        continue
                    tries += 1
                    found = self.tools_reading(prompt, prompt[:start] + prompt[stop:], tools, prompt[start:stop])
                    if found is not None:
                        return found
                added = self.added_text(tools)
                where = prompt.find(added) if added else -1
                if where >= 0:
                    # The text the definitions add beyond their block (gpt-oss's developer turn around them):
                    # taken out whole, the rest is the prompt without tools.
                    found = self.tools_reading(prompt, prompt[:where] + prompt[where + len(added):], tools, added)
                    if found is not None:
                        return found
            at = prompt.find(anchor, at + 1)
        return None

    def added_text(self, tools: List[Any]) -> str:
        """What rendering a one-message conversation with ``tools`` adds to it rendered without them, where
        that is one stretch of text ("" where it cannot be told)."""
        probe = [{"role": "user", "content": "\x00"}]
        try:
            with_tools, without = self.render(probe, tools=tools), self.render(probe)
        except PromptcraftError:
            return ""
        head = len(os.path.commonprefix([with_tools, without]))
        tail = len(os.path.commonprefix([with_tools[head:][::-1], without[head:][::-1]]))
        return with_tools[head:len(with_tools) - tail] if head + tail == len(without) else ""

    def tools_reading(self, prompt: str, rest: str, tools: List[Any], cut: str) -> Optional[ParsedPrompt]:
        # The rest is read by a parser that checks each reading rendered with the definitions, the block
        # taken out again (a format's other text may change with tools: Llama's "Environment: ipython"),
        # then by one that checks it without them; the whole is checked at the end either way.
        with_tools = copy.copy(self)
        with_tools.render = functools.partial(_rendered_without, self.render, tools, cut)
        plain = self
        schemas = _schemas(tools)
        if schemas:
            with_tools.schemas = schemas
            plain = copy.copy(self)
            plain.schemas = schemas
        for parser in (with_tools, plain):
            found = parser.rest_reading(prompt, rest, tools, self)
            if found is not None:
                return found
        return None

    def rest_reading(self, prompt: str, rest: str, tools: List[Any], check: "PromptParser") -> Optional[ParsedPrompt]:
        try:
            text = self._parse_text(rest)
        except PromptParseError:
            return None
        messages = text.messages
        candidates = [messages]
        if messages and messages[0]["role"] in self.program.system.leading:
            # Without it first: the block was all the system message held, or the format writes this
            # system text itself when there are tools.
            candidates.insert(0, messages[1:])
        for candidate in candidates:
            for gen in (text.add_generation_prompt, not text.add_generation_prompt):
                if check.renders(prompt, candidate, gen, dict(text.variables, tools=tools)):
                    if not tools and check.renders(prompt, candidate, gen, text.variables):
                        return ParsedPrompt(candidate, gen, text.variables)  # no definitions write the same block
                    return ParsedPrompt(candidate, gen, text.variables, tools)
        return None

    def _parse_text(self, prompt: str) -> ParsedPrompt:
        run = _Run(self.auto, prompt)
        if not run.accepted:
            raise PromptParseError(f"format {self.program.name!r} cannot have written this prompt: "
                                   f"{_where(run, prompt)}", offset=_furthest(run))
        run.backward()
        if run.cost(self.auto.start, 0) == _INF:
            raise PromptParseError(f"format {self.program.name!r} cannot have written this prompt",
                                   offset=_furthest(run))
        path = run.best_from(self.auto.start, 0)
        result, why, fail = self.verify(prompt, self.reading(prompt, path))
        if result is None:
            repaired = self.repair(prompt, path, fail) or self.retry(run, prompt, path)
            if repaired is None:
                raise PromptParseError(f"no reading of this prompt renders it back in format "
                                       f"{self.program.name!r}: {why}", offset=_furthest(run))
            result, path = repaired
        self.check_ambiguity(run, prompt, path, result)
        if any(message.get("tool_calls") for message in result.messages):
            self.check_parameters(prompt, path, result)
        return result

    def reading(self, prompt: str, path: Sequence[Tuple[Edge, int, int]]) -> Reading:
        return _reading(self.program, prompt, path, self.schemas)

    def check_parameters(self, prompt: str, path: Sequence[Tuple[Edge, int, int]], result: ParsedPrompt) -> None:
        """Raise if a call's parameters split another way renders back too (a value holding the text that
        ends a parameter and opens the next)."""
        reading = self.reading(prompt, path)
        for index, position, arguments, offset in reading.alternatives[:_CHECKS]:
            messages = copy.deepcopy(reading.messages)
            messages[index]["tool_calls"][position]["function"]["arguments"] = arguments
            other = Reading(messages, reading.gen, reading.variables, reading.switches, reading.offsets)
            found, _, _ = self.verify(prompt, other)
            if found is not None and found.messages != result.messages:
                raise AmbiguousPromptError(
                    f"format {self.program.name!r}: this prompt has more than one reading; a call's parameters "
                    f"at offset {offset} split in more than one way", offset=offset,
                    readings=[result.messages, found.messages])

    def verify(self, prompt: str, reading: Reading) -> Tuple[Optional[ParsedPrompt], str, int]:
        """The reading as a ``ParsedPrompt`` if it renders back to ``prompt`` (trying the generation
        flag and the switches the text leaves open), else ``None``, why, and where in the prompt the
        first message at fault starts (or the rendering first differs)."""
        messages = reading.messages
        if not messages:
            return None, "no message", 0
        gens = [False, True] if reading.gen is None else [reading.gen, not reading.gen]
        open_switches = [v for v in self.switches if v.name not in reading.switches]
        combos: List[Dict[str, bool]] = [{}]
        for variable in open_switches[:3]:
            combos += [dict(c, **{variable.name: not variable.switch_default}) for c in combos]
        why, fail = "", -1
        for gen in gens:
            for combo in combos:
                values = dict(reading.variables, **reading.switches, **combo)
                try:
                    text = self.render(messages, add_generation_prompt=gen, **values)
                except PromptcraftError as error:
                    index = getattr(error, "index", None)
                    at = reading.offsets[index] if isinstance(index, int) and index < len(reading.offsets) else 0
                    if at > fail:
                        why, fail = f"rendering it raises {type(error).__name__}: {error}", at
                    continue
                if text == prompt:
                    if gen and self.renders(prompt, messages, False, values):
                        gen = False  # the generation prompt writes nothing here: the flag is not read
                    return ParsedPrompt(self.canonical(prompt, messages, gen, values), gen, values), "", len(prompt)
                at = _first_difference(text, prompt)
                if at > fail:
                    why, fail = f"it renders differently from character {at}", at
        return None, why, fail

    def renders(self, prompt: str, messages: List[Dict[str, Any]], gen: bool, values: Dict[str, Any]) -> bool:
        try:
            return self.render(messages, add_generation_prompt=gen, **values) == prompt
        except PromptcraftError:
            return False

    def canonical(self, prompt: str, messages: List[Dict[str, Any]], gen: bool,
                  values: Dict[str, Any]) -> List[Dict[str, Any]]:
        """Without a leading system message the format would write by itself."""
        system = self.program.system
        if (system.default is not None or system.default_message is not None) and len(messages) > 1 \
                and messages[0]["role"] in system.leading:
            if self.renders(prompt, messages[1:], gen, values):
                return messages[1:]
        return messages

    def repair(self, prompt: str, path: List[Tuple[Edge, int, int]], fail: int) -> \
            Optional[Tuple[ParsedPrompt, List[Tuple[Edge, int, int]]]]:
        """The path with steps that read the same text another way (another role written alike, say),
        nearest the failure first, kept while each moves the failure later."""
        tries = 0
        while tries < _TRIES:
            improved = False
            for i in range(len(path) - 1, -1, -1):
                edge, start, end = path[i]
                if start > fail:
                    continue
                source = self.auto.start if i == 0 else path[i - 1][0][3]
                for other in self.auto.edges[source]:
                    if other == edge or other[1:4] != edge[1:4]:
                        continue
                    candidate = path[:i] + [(other, start, end)] + path[i + 1:]
                    tries += 1
                    found, _, at = self.verify(prompt, self.reading(prompt, candidate))
                    if found is not None:
                        return found, candidate
                    if at > fail:
                        path, fail, improved = candidate, at, True
                        break
                    if tries >= _TRIES:
                        return None
                if improved:
                    break
            if not improved:
                return None
        return None

    def retry(self, run: _Run, prompt: str, path: List[Tuple[Edge, int, int]]) -> \
            Optional[Tuple[ParsedPrompt, List[Tuple[Edge, int, int]]]]:
        """The best reading through another state, when the preferred one does not render back."""
        on_path = {(e[3], end) for e, _, end in path}
        tried = 0
        for node, pos in self.alternatives(run, 0, len(prompt) + 1, on_path):
            other = run.best_to(node, pos) + run.best_from(node, pos)
            found, _, _ = self.verify(prompt, self.reading(prompt, other))
            if found is not None:
                return found, other
            tried += 1
            if tried >= _TRIES:
                return None
        return None

    def alternatives(self, run: _Run, low: int, high: int, exclude: set) -> List[Tuple[int, int]]:
        """States strictly after ``low`` and before ``high`` on some complete reading, by position."""
        found = []
        positions = run.positions
        for pos in positions[bisect_left(positions, low + 1):bisect_left(positions, high)]:
            for node in run.reached.get(pos, ()):
                if (node, pos) in exclude or run.cost(node, pos) == _INF:
                    continue
                found.append((node, pos))
        return found

    def check_ambiguity(self, run: _Run, prompt: str, path: List[Tuple[Edge, int, int]],
                        result: ParsedPrompt) -> None:
        """Raise if another reading that renders back reads a delimiter inside this one's content."""
        on_path = {(e[3], end) for e, _, end in path}
        checked = 0
        for (_, kind, data, _, _), start, end in path:
            if kind != CAP or data not in _LONG or end - start < 1:
                continue
            for node, pos in self.alternatives(run, start, end + 1, on_path):
                checked += 1
                other = run.best_to(node, pos) + run.best_from(node, pos)
                reading = self.reading(prompt, other)
                if reading.messages == result.messages:
                    continue
                found, _, _ = self.verify(prompt, reading)
                if found is not None and found.messages != result.messages:
                    raise AmbiguousPromptError(
                        f"format {self.program.name!r}: this prompt has more than one reading; the text at "
                        f"offset {start}..{end} is content in one and holds a delimiter in another",
                        offset=_delimiter_offset(other, start, end), readings=[result.messages, found.messages])
                if checked >= _CHECKS:
                    raise PromptParseError(f"format {self.program.name!r}: too many competing readings of this "
                                           "prompt to check (its content holds many of the format's delimiters)",
                                           offset=start)


def _schemas(tools: List[Any]) -> Dict[str, Any]:
    """Tool name -> its parameters' properties (what a call's values are read by)."""
    out: Dict[str, Any] = {}
    for tool in tools:
        function = tool.get("function", tool) if isinstance(tool, dict) else None
        if not isinstance(function, dict):
            continue
        parameters = function.get("parameters")
        properties = parameters.get("properties") if isinstance(parameters, dict) else None
        if isinstance(properties, dict) and isinstance(function.get("name"), str):
            out[function["name"]] = properties
    return out


def _rendered_without(render: Callable[..., str], tools: List[Any], cut: str, messages: Any, **options: Any) -> str:
    """The prompt rendered with ``tools``, the block ``cut`` (its first occurrence) taken out."""
    text = render(messages, tools=tools, **options)
    at = text.find(cut)
    return text[:at] + text[at + len(cut):] if at >= 0 else text + "\0"  # no block: never the rest


def _json_tools_layout(tools: Optional[ir.Tools]) -> Optional[Tuple[Any, ...]]:
    """``(anchor, prefix, item_prefix, item_suffix, separator, suffix, item, envelope)`` of definitions
    the ``json`` serialisers write, or ``None`` (the other serialisers are not read back)."""
    if tools is None or tools.placement == "none":
        return None
    layout = tools.layout
    item = layout[6] if len(layout) > 6 else "json"
    envelope = layout[7] if len(layout) > 7 else "whole"
    from .definitions import READERS

    if item not in ("json", "json_array") and item not in READERS or len(layout) > 8 and item not in READERS:
        return None
    if len(layout) > 9:
        return None  # built-in tools' fixed texts ([tools] builtin) are not read back
    prefix, item_prefix = layout[0], layout[1]
    anchor = prefix or item_prefix
    if not anchor:
        return None
    # The serialiser's own options (the schema keys it leaves out) follow: a reading is checked by them.
    return (anchor, prefix, item_prefix, layout[2], layout[3], layout[4], item, envelope, layout[8:])


def _tools_block(prompt: str, at: int, layout: Tuple[Any, ...]) -> Optional[Tuple[int, List[Any]]]:
    """The end of the block of definitions written at ``at``, and the definitions, or ``None``."""
    import json

    _, prefix, item_prefix, item_suffix, separator, suffix, item, envelope, options = layout
    decoder = json.JSONDecoder()
    if not prompt.startswith(prefix, at):
        return None
    pos = at + len(prefix)
    items: List[Any] = []
    if item == "json_array":
        found = _decoded(decoder, prompt, pos, "", "")
        if found is None or not isinstance(found[0], list):
            return None
        items, pos = found
    else:
        # The next definition, if one follows (after the separator from the second on); else the suffix.
        while True:
            found = (_decoded(decoder, prompt, pos, separator if items else "", item_prefix, item_suffix)
                     if item == "json" else
                     _serialised(prompt, pos, item, options, separator if items else "", item_prefix, item_suffix))
            if found is None:
                break
            items.append(found[0])
            pos = found[1]
    if not prompt.startswith(suffix, pos):
        return None
    if envelope != "whole" and item in ("json", "json_array"):
        # Written as the function objects: read back as definitions of type function.
        items = [{"type": "function", "function": found} for found in items]
    return pos + len(suffix), items


def _serialised(prompt: str, pos: int, item: str, options: Tuple[Any, ...], *around: str) -> Optional[Tuple[Any, int]]:
    """The definition a named serialiser wrote at ``pos`` after ``around[0]``, ``around[1]`` and before
    ``around[2]``, and the position after them, or ``None``: read by its reader, kept only where the
    serialiser writes the reading back as the same text."""
    from .._runtime.serialisers import ITEMS
    from .._runtime.tools import tojson
    from .definitions import READERS

    before = around[0] + around[1]
    if not prompt.startswith(before, pos):
        return None
    start = pos + len(before)
    found = READERS[item](prompt, start)
    if found is None or not prompt.startswith(around[2], found[1]):
        return None
    try:
        written = ITEMS[item](found[0], "tools[0]", tojson, *options)
    except (PromptcraftError, ValueError, TypeError, KeyError, AttributeError):
        return None
    return (found[0], found[1] + len(around[2])) if written == prompt[start:found[1]] else None


def _decoded(decoder: Any, prompt: str, pos: int, *around: str) -> Optional[Tuple[Any, int]]:
    """The JSON value written at ``pos`` after ``around[0]``, ``around[1]`` and before ``around[2]``, and
    the position after them, or ``None``."""
    before = around[0] + around[1]
    if not prompt.startswith(before, pos):
        return None
    try:
        value, pos = decoder.raw_decode(prompt, pos + len(before))
    except ValueError:
        return None
    after = around[2] if len(around) > 2 else ""
    return (value, pos + len(after)) if prompt.startswith(after, pos) else None


@contextmanager
def _collector_paused() -> Iterator[None]:
    """A run allocates a few small containers per delimiter and frees them all at the end: the
    cyclic collector, left on, rescans them over and over and makes long prompts superlinear."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _delimiter_offset(path: Sequence[Tuple[Edge, int, int]], start: int, end: int) -> int:
    for (_, kind, _, _, _), a, b in path:
        if kind == LIT and b > start and a < end:
            return a
    return start


def _first_difference(a: str, b: str) -> int:
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return min(len(a), len(b))


def _furthest(run: _Run) -> int:
    return run.positions[-1] if run.positions else 0


def _where(run: _Run, prompt: str) -> str:
    at = _furthest(run)
    return f"nothing the format writes matches after offset {at} ({prompt[at:at + 40]!r})"
