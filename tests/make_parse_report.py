"""The "Reading prompts back" table of COMPATIBILITY.md: per built-in format, what ``Format.parse``
gives on the public conversations, on random ones with awkward text (control tokens of many
families, edge whitespace) and on clean ones, and what the format loses, read from its declaration.

    python tests/make_parse_report.py > /tmp/table.md
"""

from __future__ import annotations

import pathlib
import random
import sys
from collections import Counter

sys.path[:0] = [str(pathlib.Path(__file__).resolve().parents[1]), str(pathlib.Path(__file__).parent)]

from conftest import sample_variables  # noqa: E402
from test_parse_prompt import NEEDS_TOOLS, chats, clean_text, nasty_text, public_chats  # noqa: E402

import promptcraft  # noqa: E402
from promptcraft.errors import AmbiguousPromptError, PromptcraftError, PromptParseError  # noqa: E402


def outcome(fmt, messages, gen, variables) -> str:
    try:
        prompt = fmt.render(messages, add_generation_prompt=gen, **variables)
    except PromptcraftError:
        return "refused"
    try:
        parsed = fmt.parse(prompt)
    except AmbiguousPromptError:
        return "ambiguous"
    except PromptParseError:
        return "unreadable"
    back = fmt.render(parsed.messages, add_generation_prompt=parsed.add_generation_prompt, **parsed.variables)
    assert back == prompt, (fmt.name, messages)
    return "same" if parsed.messages == messages else "canonical"


def losses(program) -> str:
    """What rendering drops, from the core representation."""
    found = []
    trims = sorted({r.name or "others" for r in program.roles + ((program.any_role,) if program.any_role else ())
                    if r.action == "write" and r.trim != "none"})
    if trims:
        found.append("edge whitespace of " + ", ".join(trims))
    system = program.system
    if system.default is not None or system.default_message is not None:
        found.append("a system message equal to the default")
    if system.placement in ("hoist", "fold_first"):
        found.append(f"where system messages stand ({system.placement})")
    if system.placement == "fold_last":
        found.append("where system messages stand (fold_last), and the system text when the last message is "
                     "not the user's")
    if system.trim != "none":
        found.append("edge whitespace of the system text")
    drops = [r.name or "other roles" for r in program.roles + ((program.any_role,) if program.any_role else ())
             if r.action == "drop"]
    if drops:
        declared = {r.name for r in program.roles}
        alone = "system" not in declared and system.placement == "message"
        found.append("messages of " + ", ".join(drops) + (" (system among them)" if alone else ""))
    if any(r.cut is not None for r in program.roles):
        found.append("reasoning cut from history")
    if program.display is not None:
        found.append("newlines around shown reasoning")
    if any(case.seq == () for r in program.roles for case in r.body.cases if r.action == "write"):
        found.append("empty messages written as nothing")
    catch_all = program.any_role
    if catch_all is not None and catch_all.action == "write" and not catch_all.writes_role and all(
            r.name != "assistant" for r in program.roles):
        found.append("the role of other messages (read as assistant)")
    return "; ".join(found) or "nothing on text turns"


def main() -> None:
    print("| format | public: same / canonical / ambiguous / unreadable | random awkward text: same / canonical "
          "/ ambiguous / unreadable | clean text: same / canonical | loses |")
    print("|---|---|---|---|---|")
    for name in promptcraft.list_formats():
        fmt = promptcraft.get_format(name)
        if name in NEEDS_TOOLS:
            print(f"| {name} | renders only with tools: not parsed | | | |")
            continue
        variables = sample_variables(fmt)
        rng = random.Random(name)
        cells = []
        for cases in (public_chats(), list(chats(rng, nasty_text, 200)), list(chats(rng, clean_text, 200, odd=False))):
            counts = Counter(outcome(fmt, m, g, variables) for m, g in cases)
            keys = ("same", "canonical", "ambiguous", "unreadable") if len(cells) < 2 else ("same", "canonical")
            cells.append(" / ".join(str(counts[k]) for k in keys))
        print(f"| {name} | {cells[0]} | {cells[1]} | {cells[2]} | {losses(fmt._built.program)} |")


if __name__ == "__main__":
    main()
