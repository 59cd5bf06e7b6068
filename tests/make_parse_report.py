"""The "Reading prompts back" section of COMPATIBILITY.md: per built-in format, what ``Format.parse``
gives on the public conversations, on random ones with awkward text (control tokens of many
families, edge whitespace) and on clean ones, and what the format loses, read from its declaration;
then, for the formats that write tools or calls, what it gives on generated agent conversations.

    python tests/make_parse_report.py [--write COMPATIBILITY.md]

``--write`` puts the section in place (tests/make_compatibility.py keeps it as it is); without it,
the section is printed.
"""

from __future__ import annotations

import json
import pathlib
import random
import sys
from collections import Counter

sys.path[:0] = [str(pathlib.Path(__file__).resolve().parents[1]), str(pathlib.Path(__file__).parent)]

from conftest import sample_variables  # noqa: E402
from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from strategies import agent_conversations, tools_lists  # noqa: E402
from test_parse_prompt import (  # noqa: E402
    NEEDS_TOOLS,
    PUBLIC,
    STRUCTURED_FORMATS,
    chats,
    clean_text,
    nasty_text,
    public_chats,
    structured_outcome,
)

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


HEADING = "\n## Reading prompts back (`Format.parse`)\n"
PROSE = """`Format.parse` reads a rendered prompt back into messages, the generation flag and the variables,
and checks every reading by rendering it, so what it returns always renders back to the prompt
byte for byte (the round trip `render(parse(render(m))) == render(m)`; `tests/test_parse_prompt.py`
asserts it on every format below). The table, made by `python tests/make_parse_report.py`, counts
per format, over the public conversations, 200 random conversations of awkward text (control
tokens of many families, edge whitespace, any role order) and 200 clean ones (plain words, a
system message and alternating turns): **same** (`parse(render(m)) == m`), **canonical** (other
messages that render to the same prompt: what the format loses, last column), **ambiguous**
(`AmbiguousPromptError`: another conversation renders to the same prompt and disagrees on a
delimiter) and **unreadable** (`PromptParseError`: the format wrote none of the messages, a lone
system message it leaves out, or a prompt the parser's readings could not render back). Refused
conversations are not counted. On clean text every format reads back the conversation exactly,
except where the format itself drops the system message (Mistral v0.3, Phi-3-medium,
Phi-4-reasoning write no system message; Mistral NeMo and Mixtral 8x22B only in a final user turn).

Where parsing can be ambiguous, and on which delimiter (found on the awkward conversations; `promptcraft
lint FORMAT` lists every text each value must not hold): DeepSeek Coder on `\\n` (a system message is
written bare, so any line can be one), DeepSeek LLM, R1, V3 and V3.1 on `\\n\\n` (hoisted system
messages are joined with it), EXAONE 3.5 and Nemotron Mini on `\\n` (system items), Gemma 3 270M on
`\\n\\n` (the folded system text) and `<end_of_turn>\\n`, Llama 2, Mistral v0.1/v0.2/v0.3, Mixtral and
Mixtral 8x22B on ` [/INST]` or `[/INST]`, Mistral v0.2, NeMo and Mixtral 8x22B also on `\\n\\n` (the
folded system text), Mistral Small 2501 on `[INST]`, `[/INST]` and `</s>`, Mistral v0.3 on ` </s>`,
Phi-4 on `<|im_end|>` and Solar on `\\n\\n`. In ChatML and Llama 3 formats a delimiter inside content
never makes two incomparable readings: a content holding a whole forged turn reads back as that turn
(the two render identically), which the lint reports.

"""
STRUCTURED_PROSE = """
Structured prompts: for each format that writes tool definitions, calls or results, the public structured
cases (`structured-public.json`, without those that continue a final message) and %d generated agent
conversations (parallel calls, arguments as mappings or JSON strings, runs of tool results with ids or
not, reasoning fields, content None; generated definitions with nested schemas, or none, or `[]`), with
and without a generation prompt. **rendered** counts those the format renders (the others it refuses);
of those, **calls** are read back with every call as a call, **tools** with the definitions as definitions
(as given, or canonical where the serialiser loses something: see below),
**text** as a conversation that renders the same prompt but holds the calls or definitions as text (the
format's calls or serialiser are not read back: see below), **ambiguous** and **unreadable** as above.
Every reading renders back to the prompt, with the definitions it read (`test_structured_round_trip`).

Read back: calls written as a text of literals around the name, the arguments as JSON (or as given),
an id, positions or the function object's members; calls written one parameter at a time (Qwen3-Coder,
Qwen3.5, Seed-OSS, MiniCPM3: the text split at the parameter's literals, the fewest characters in values;
where two splits read delimiters neither of the other's, `AmbiguousPromptError`); tool results as a role
(with `tool_call_id` where written); definitions written by the `json` serialisers (`ParsedPrompt.tools`).
A parameter's value is read back by inverting the format's value formatter: `json` (MiniCPM3) by JSON,
exactly; `str` (Qwen3-Coder, Seed-OSS) and `json_or_str` (Qwen3.5) write `1` and `"1"`, `True` and
`"True"` alike, so these formats **lose the types of argument values**: with the tool definitions read
back, each value is read as the type its schema gives (`integer`, `number`, `boolean`, `null`, `object`,
`array`: `str` writes a mapping as Python's `str()` does, read back by `ast.literal_eval`) where the
format writes that value as this text, and as the text otherwise; without them, every value is read as
its text (a string), a canonical reading that renders the same prompt.

Definitions written by the named serialisers are read back too, each reading kept only where the
serialiser writes it back as the same text (`promptcraft/_parse/definitions.py`); where a serialiser
loses something the reading is the canonical definition, and the table counts it under **tools**:
- `xml_schema` (Qwen3-Coder) writes all of a definition but the parameters' `type` (read back as
  `object`); descriptions are trimmed; another key of a parameter's schema is written as JSON (a mapping)
  or `str()`, read back as the Python literal it spells (`1` and `"1"` alike), its name as the tag
  writes it (`-` and spaces as `_`, `$` left out).
- `python_docstring` (Seed-OSS) loses the keys its `[tools] ignore` lists (`enum`, `items`, `default`,
  `format`, `minimum`...), `number` (written `int`, read back as `integer`) and every type it writes as
  `Any` (`object`, `null`, unions, none: read back without a type); descriptions are trimmed, and
  `required` is read back as a list (`[]` where none is). A definition with `returns` is not read back.
- `hermes` (Hermes 3) writes all of a definition: read back exactly, but parameters without properties
  (written `{}`, read back as `{}`); a definition with `return` is not read back.
- `typescript` (gpt-oss) is read for parameters of the simple types (`string`, `number`, `boolean`,
  `object`, arrays of these, string enums, nullable strings, with descriptions and defaults): it loses
  `integer` (read back as `number`), an `object`'s or array item's other keys, and `required` where none
  is (read back as `[]`); other schemas are not read back. Where the format writes the definitions in
  a turn of their own (gpt-oss's developer turn, without a developer message), the text they add to a
  conversation (found by rendering a one-message conversation with and without them) is taken out
  whole.
- `python_signature` (Command R+) is read from its `Args:` lines: it loses every key of a parameter's
  schema but its type and description (`enum`, `default`...), an array's `items` (every array is written
  `List[Union[]]`) and the parameters' `type` (read back as `object`); `required` is read back as a list.
- `functionary` (Functionary v3.2) is read for parameters of flat types (not `object` or `array`) whose
  comment is their description alone: a description is written with a period at its end (read back with
  it), `integer` as `number`, an enum without its type (read back as `string`); a `default`, `format`,
  bounds or examples in the comment are not read back.

- `json_spliced` (Mistral v0.3, NeMo), `command_r7b` (Command R7B) and `python_repr` (SmolLM3) are
  read as the JSON or Python literal they are: exactly (Command R7B's a missing description as `""`).

- `pydantic_signature` (MiniCPM3) is read for parameters of the basic types, lists, maps and unions of
  them and enums (an `Enum` class): it loses an enum's type (read back as `string` where every value is
  a string), a default of `None` (read back as none), the keys its `[tools] ignore` lists, and `required`
  where none is (read back as `[]`); a parameter written as a `BaseModel` class (an object with
  properties) is not read back.

Calls written as a JSON block (Command R+: `tojson(indent=4)` indented by 8 more spaces) are read back
as the mapping. Not read back: `continue_final_message` prompts (an open final turn).
Granite 3.2/3.3 write a default system text of their own with tools that holds the date: it comes
back as a system message. The unreadable structured prompts: one of gpt-oss's (several turns with
calls and reasoning); Mistral v0.3's and NeMo's public conversations with several user turns and
calls, whose definitions are written before the last user turn (no reading of the rest found renders
back: not read yet); Nemotron Nano v2's are assistant turns
whose reasoning (`<think>` in the content) the format cuts before calls, which no reading restores.
The generated conversations are mostly refused by the formats with narrow call rules (one call per
message, ids of 9 characters, arguments as strings...), so for those the generated column counts text
turns alone.

"""
COUNTS = "rendered / calls / tools / text / ambiguous / unreadable"
STRUCTURED_HEADER = f"| format | public structured cases: {COUNTS} | generated: {COUNTS} |\n|---|---|---|\n"
EXAMPLES = 100


def structured_cases():
    """The public structured cases (tools, calls, results), but open final turns."""
    path = PUBLIC.parent / "structured-public.json"
    if not path.exists():
        return []
    return [c for c in json.loads(path.read_text(encoding="utf-8")) if not c.get("continue_final_message")]


def tally(counts: Counter, label: str, messages, tools) -> None:
    if label == "refused":
        return
    counts["rendered"] += 1
    if label in ("ambiguous", "unreadable"):
        counts[label] += 1
        return
    counts["calls"] += "+calls" in label
    counts["tools"] += "+tools" in label
    has_calls = any(m.get("tool_calls") for m in messages)
    counts["text"] += (has_calls and "+calls" not in label) or (bool(tools) and "+tools" not in label)


def structured_row(name: str) -> str:
    fmt = promptcraft.get_format(name)
    variables = sample_variables(fmt)
    public: Counter = Counter()
    for case in structured_cases():
        values = dict(variables, **{k: v for k, v in case["kwargs"].items() if k in fmt.variables})
        tally(public, structured_outcome(fmt, case["messages"], case["tools"] or None, case["add_generation_prompt"],
                                         values), case["messages"], case["tools"])
    generated: Counter = Counter()

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(messages=agent_conversations(), tools=tools_lists, gen=st.booleans())
    def run(messages, tools, gen):
        tally(generated, structured_outcome(fmt, messages, tools, gen, variables), messages, tools)

    run()
    keys = ("rendered", "calls", "tools", "text", "ambiguous", "unreadable")
    return f"| {name} | " + " | ".join(" / ".join(str(c[k]) for k in keys) for c in (public, generated)) + " |"


def section() -> str:
    lines = [HEADING, PROSE, "| format | public: same / canonical / ambiguous / unreadable | random awkward text: "
             "same / canonical / ambiguous / unreadable | clean text: same / canonical | loses |",
             "|---|---|---|---|---|"]
    for name in promptcraft.list_formats():
        fmt = promptcraft.get_format(name)
        if name in NEEDS_TOOLS:
            lines.append(f"| {name} | renders only with tools: see the structured table | | | |")
            continue
        variables = sample_variables(fmt)
        rng = random.Random(name)
        cells = []
        for cases in (public_chats(), list(chats(rng, nasty_text, 200)), list(chats(rng, clean_text, 200, odd=False))):
            counts = Counter(outcome(fmt, m, g, variables) for m, g in cases)
            keys = ("same", "canonical", "ambiguous", "unreadable") if len(cells) < 2 else ("same", "canonical")
            cells.append(" / ".join(str(counts[k]) for k in keys))
        lines.append(f"| {name} | {cells[0]} | {cells[1]} | {cells[2]} | {losses(fmt._built.program)} |")
    rows = "\n".join(structured_row(name) for name in STRUCTURED_FORMATS)
    lines.append(STRUCTURED_PROSE % EXAMPLES + STRUCTURED_HEADER + rows)
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    args = sys.argv[1:] if argv is None else argv
    text = section()
    if args[:1] != ["--write"]:
        print(text)
        return
    path = pathlib.Path(args[1])
    old = path.read_text(encoding="utf-8")
    at = old.find(HEADING)
    if at >= 0:
        end = old.find("\n## ", at + len(HEADING))
        old = old[:at] + (old[end:] if end >= 0 else "")
    export = old.find("\n## Export to Jinja")
    export = export if export >= 0 else len(old)
    path.write_text(old[:export].rstrip("\n") + "\n" + text + old[export:], encoding="utf-8")


if __name__ == "__main__":
    main()
