"""Write COMPATIBILITY.md: every corpus model, its format, and the differential result.

    python tests/make_compatibility.py [--random N] [--structured N]
    python tests/make_compatibility.py --show-case calls-017

Renders each corpus template through transformers and through promptcraft on the
public cases and on N seeded random conversations (the same generator family as the
test suite's), and records passes and first differences. Then, per served template and
per structured feature (tool definitions, tool calls, tool results, a reasoning field,
content parts, documents), renders seeded conversations exercising that feature both ways, and the
public structured cases, and records what happens: written (and how often both agree),
refused (and why), or not read by the template. Needs the test extra.
"""

from __future__ import annotations

import argparse
import copy
import json
import pathlib
import random
import re
import sys
import textwrap
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

ROOT = pathlib.Path(__file__).resolve().parents[1]
# This checkout's promptcraft (not another checkout installed in editable mode): the file written is this one's.
sys.path[:0] = [str(ROOT), str(pathlib.Path(__file__).parent)]

from hf_reference import CORPUS, PUBLIC_CASES, Refused, hf_render  # noqa: E402
from strategies import JSON_TEXT, NASTY  # noqa: E402

import promptcraft  # noqa: E402

DATE = "05 Mar 2025"
#: Values given to both sides for the variables a format declares (dates pinned).
GIVEN = {"date_string": DATE, "functions": '[{"name": "get_weather", "parameters": {}}]',
         "datetime": "2025-03-05 10:00"}
STRUCTURED_CASES = PUBLIC_CASES.parent / "structured-public.json"

#: Corpus files that only render with tools, or need mechanisms promptcraft lacks so far.
PENDING_REASON = {
    "tool_use": "a named template transformers uses only when tools are passed; its tool definitions are "
                "rewritten in ways no format declares yet",
}
#: A model's default template (corpus stem) -> its named tool_use template's stem, where its format names
#: a tool_use format: transformers holds both and picks by whether tools are given (see hf_reference).
NAMED: Dict[str, str] = {}
#: tool_use templates, which transformers renders only when tools are given: every conversation is
#: rendered with tools, an empty list where a case has none.
WITH_TOOLS: set = set()


def given_tools(stem: str, tools):
    return [] if tools is None and stem in WITH_TOOLS else tools


def random_text(rng: random.Random) -> str:
    if rng.random() < 0.5:
        return rng.choice(NASTY)
    return "".join(rng.choice(NASTY + ["word", "Hello there", "  x  "]) for _ in range(rng.randint(1, 3)))


def random_conversation(rng: random.Random):
    if rng.random() < 0.25:
        roles = [rng.choice(["system", "user", "assistant"]) for _ in range(rng.randint(1, 7))]
    else:
        roles = (["system"] if rng.random() < 0.5 else []) + [
            "user" if i % 2 == 0 else "assistant" for i in range(rng.randint(1, 7))]
    flags = rng.choice([(False, False), (True, False), (False, True)])
    return [{"role": r, "content": random_text(rng)} for r in roles], flags


def outcome(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except (Refused, promptcraft.PromptcraftError):
        return None


# ---------------------------------------------------------------------------
# Structured conversations, one generator per feature, seeded by the feature's name: case
# ``calls-017`` is the same conversation for every template (and for --show-case).

FEATURES = ("tools", "calls", "results", "reasoning", "parts", "documents", "plan", "builtin")
TITLES = {"tools": "tools", "calls": "tool calls", "results": "tool results", "reasoning": "reasoning field",
          "parts": "content parts", "documents": "documents", "plan": "tool plan", "builtin": "built-in tools"}
REASONING_FIELDS = ("reasoning_content", "thinking", "reasoning")
#: What a "junk" refusal means, per plain equivalent (see ``Case.plain``).
JUNK = {
    "empty list": "the template writes a tools block for an empty list (where `None` writes none)",
    "string arguments": "the template writes arguments given as a JSON string differently from the same "
                        "arguments given as a mapping (it encodes the string a second time)",
    "parts": "the template writes a list of text parts differently from the same text given as a string "
             "(as a Python or JSON repr, its first part only, or nothing)",
    "calls after the first": "the template writes a message's first call only, and silently leaves the others out",
    "part left out": "the template writes the conversation as if this part (or this field of it) were not "
                     "there: a type it does not test for (`image_url` where only `type == 'image'` is read, a "
                     "video where only images are), or a text given with an image",
    "media left out": "the template writes the conversation as if its image and video parts were not there",
    "HTML-escaped": "the template writes the tool definitions HTML-escaped (`&#34;`, `&lt;`, `&amp;`), as Jinja "
                    "escapes text added to a `|safe` string",
    "document value": "the template writes a document's value as Python's `str()` of `None`, a list or a "
                      "mapping (`None`, `['a', 1]`), or a key it reads but the document lacks as empty text",
    "answers no call": "the template writes a result under the number of the call it answers, found by its "
                       "`tool_call_id` among the conversation's calls, and an empty number for a result that "
                       "answers none",
    "schema": "the template writes part of a tool definition as junk (`Union[]` for an array without typed items "
              "or an object without properties, a Python `None` for a description, a list letter by letter); "
              "promptcraft's error says which is junk",
    "unescaped strings": "the template splices a tool definition's string values between quotes without "
                         "escaping them, so a quote, a backslash or a control character makes its JSON invalid",
    "tool left out": "the template writes the tools as if this definition (a built-in tool of a type it does "
                     "not know) or this key of a built-in tool were not there",
}
#: The named serialisers of tool definitions (``[tools] item``), as the prose describes them.
SERIALISERS = {"hermes": "as Hermes' tool_use template rebuilds them", "python_repr": "as Python's repr",
               "command_r7b": "as Command R7B's tool_use template rebuilds them",
               "typescript": "as gpt-oss's TypeScript namespace entries",
               "python_signature": "as Python stubs with docstrings, as Command R+'s tool_use template writes them",
               "functionary": "as Functionary v3.2's TypeScript namespace entries",
               "xml_schema": "as XML tags, every key of a parameter's schema in a tag",
               "python_docstring": "as a Python signature and a docstring listing the parameters",
               "pydantic_signature": "as Python code with Enum and pydantic BaseModel classes and fields",
               "json_spliced": "as JSON the template builds by hand (see below)"}
_KEYS = ["city", "days", "unit", "z", "a", "é", "<k>", "nested", "list", "", "a b", 'q"k', "\u2028"]


@dataclass
class Case:
    """One generated conversation. ``without`` is the same conversation without the feature
    (``None`` where that has no meaning: content parts); ``plain`` is an equivalent plain form where
    there is one (a JSON string's mapping, the parts' text), with its ``JUNK`` key."""

    id: str
    messages: list
    tools: Optional[list]
    generation_prompt: bool
    without: Optional[Tuple[list, Optional[list]]] = None
    plain: Optional[Tuple[list, Optional[list], str]] = None
    #: ``render(..., documents=...)``; ``without`` then means without them.
    documents: Optional[list] = None

    def as_json(self) -> dict:
        found = {"id": self.id, "messages": self.messages, "tools": self.tools,
                 "add_generation_prompt": self.generation_prompt}
        return found if self.documents is None else dict(found, documents=self.documents)

    def given(self) -> dict:
        """The documents as a keyword, when there are any."""
        return {} if self.documents is None else {"documents": copy.deepcopy(self.documents)}


def json_scalar(rng: random.Random) -> Any:
    kind = rng.randrange(6)
    if kind == 0:
        return rng.choice(JSON_TEXT + ["Paris", "🙂", "\x00", "True"])
    if kind == 1:
        return rng.randint(-10**6, 10**6)
    if kind == 2:
        return rng.choice([0.0, 1.0, -2.5, 1e20, 3.14159, 0.1, 1e-7, round(rng.uniform(-1e3, 1e3), rng.randint(0, 4))])
    if kind == 3:
        return rng.random() < 0.5
    if kind == 4:
        return None
    return rng.choice(NASTY)


def json_value(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.random()
    if depth < 2 and roll < 0.15:
        return [json_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    if depth < 2 and roll < 0.3:
        return json_object(rng, depth + 1)
    return json_scalar(rng)


def json_object(rng: random.Random, depth: int = 0) -> dict:
    return {rng.choice(_KEYS): json_value(rng, depth) for _ in range(rng.randint(0, 4))}


def tool_definition(rng: random.Random) -> dict:
    """An OpenAI-style tool definition with a nested JSON schema (descriptions with quotes, <, &, unicode)."""
    properties = {}
    for _ in range(rng.randint(0, 3)):
        prop: Dict[str, Any] = {"type": rng.choice(["string", "integer", "number", "boolean", "object", "array"])}
        if rng.random() < 0.5:
            prop["description"] = rng.choice(JSON_TEXT + ["Weather <b>&", "e.g. 2*(3+4)"])
        if rng.random() < 0.3:
            prop["enum"] = rng.sample(JSON_TEXT, rng.randint(0, 3))
        if rng.random() < 0.2:
            prop["items"] = {"type": "string"}
        properties[rng.choice(_KEYS)] = prop
    function: Dict[str, Any] = {"name": rng.choice(["get_weather", "search", "f", "lookup_é"])}
    if rng.random() < 0.85:
        function["description"] = rng.choice(JSON_TEXT + [random_text(rng), "Get the weather <b>&amp;</b>"])
    if rng.random() < 0.9:
        names = sorted(properties) or ["x"]
        function["parameters"] = {"type": "object", "properties": properties,
                                  "required": rng.sample(names, rng.randint(0, min(2, len(names))))}
    if rng.random() < 0.2:
        function = dict(reversed(list(function.items())))  # unsorted keys stay unsorted
    return {"type": "function", "function": function}


def tool_calls(rng: random.Random) -> list:
    """One to three calls, OpenAI-style (sometimes the inner object alone), arguments as a mapping or
    (one in four) a JSON string."""
    calls = []
    for _ in range(rng.randint(1, 3)):
        arguments: Any = json_object(rng)
        if rng.random() < 0.25:
            arguments = json.dumps(arguments, ensure_ascii=rng.random() < 0.5)
        function = {"name": rng.choice(["get_weather", "search", "f"]), "arguments": arguments}
        if rng.random() < 1 / 7:
            calls.append(function)
            continue
        call: Dict[str, Any] = {"type": "function", "function": function}
        if rng.random() < 0.5:
            call["id"] = rng.choice(["call00001", "abc123XYZ", "call_1"])
        calls.append(call)
    return calls


def chat(rng: random.Random, system: float = 0.4, most: int = 5) -> list:
    """An optional system message, then alternating user and assistant messages."""
    messages = [{"role": "system", "content": random_text(rng)}] if rng.random() < system else []
    for i in range(rng.randint(1, most)):
        messages.append({"role": "user" if i % 2 == 0 else "assistant", "content": random_text(rng)})
    return messages


def case_tools(rng: random.Random, case_id: str) -> Case:
    messages = chat(rng)
    tools = [] if rng.random() < 0.1 else [tool_definition(rng) for _ in range(rng.randint(1, 4))]
    plain = (messages, None, "empty list") if not tools else None
    return Case(case_id, messages, tools, rng.random() < 0.5, without=(messages, None), plain=plain)


def case_calls(rng: random.Random, case_id: str) -> Case:
    messages = [{"role": "system", "content": random_text(rng)}] if rng.random() < 0.3 else []
    rounds = rng.randint(1, 3)
    forced = rng.randrange(rounds)
    for k in range(rounds):
        messages.append({"role": "user", "content": random_text(rng)})
        if k != forced and rng.random() < 0.5:
            messages.append({"role": "assistant", "content": random_text(rng)})
            continue
        call: Dict[str, Any] = {"role": "assistant"}
        shape = rng.choice(["text", "text", "empty", "empty", "none", "missing", "think"])
        if shape != "missing":
            call["content"] = {"text": random_text(rng), "empty": "", "none": None,
                               "think": "<think>\nplan\n</think>\n\n" + random_text(rng)}[shape]
        call["tool_calls"] = tool_calls(rng)
        messages.append(call)
    if rng.random() < 0.5:
        messages.append({"role": "user", "content": random_text(rng)})
    without = [{k: v for k, v in m.items() if k != "tool_calls"} for m in messages]
    plain = None
    if any(isinstance(c.get("function", c)["arguments"], str) for m in messages for c in m.get("tool_calls", ())):
        plain = (as_mappings(messages), None, "string arguments")
    return Case(case_id, messages, None, rng.random() < 0.5, without=(without, None), plain=plain)


def as_mappings(messages: list) -> list:
    """``messages`` with every call's arguments given as a JSON string parsed into a mapping."""
    out = copy.deepcopy(messages)
    for message in out:
        for call in message.get("tool_calls", ()):
            function = call.get("function", call)
            if isinstance(function["arguments"], str):
                function["arguments"] = json.loads(function["arguments"])
    return out


def case_results(rng: random.Random, case_id: str) -> Case:
    messages = [{"role": "system", "content": random_text(rng)}] if rng.random() < 0.3 else []
    odd = rng.random() < 0.15
    for k in range(rng.randint(1, 2)):
        if not (odd and k == 0 and rng.random() < 0.5):
            messages.append({"role": "user", "content": random_text(rng)})
            if not (odd and k == 0):
                messages.append({"role": "assistant", "content": random_text(rng)})
        for _ in range(rng.randint(1, 3)):
            content = rng.choice(['{"temp": 20}', "12:00", "", '{"price": 12.5, "currency": "EUR"}',
                                  random_text(rng)])
            result: Dict[str, Any] = {"role": "tool", "content": content}
            if rng.random() < 0.5:
                result["tool_call_id"] = rng.choice(["call00001", "abc123XYZ"])
            if rng.random() < 0.3:
                result["name"] = rng.choice(["get_weather", "search"])
            messages.append(result)
        if rng.random() < 0.6:
            messages.append({"role": "assistant", "content": random_text(rng)})
    if rng.random() < 0.4:
        messages.append({"role": "user", "content": random_text(rng)})
    without = [m for m in messages if m["role"] != "tool"]
    return Case(case_id, messages, None, rng.random() < 0.5, without=(without, None))


def case_reasoning(rng: random.Random, case_id: str) -> Case:
    messages = chat(rng, most=6)
    if not any(m["role"] == "assistant" for m in messages):
        messages.append({"role": "assistant", "content": random_text(rng)})
    answers = [m for m in messages if m["role"] == "assistant"]
    given = [m for m in answers if rng.random() < 0.6] or [rng.choice(answers)]
    for message in answers:
        if rng.random() < 0.2:
            message["content"] = "<think>\n" + random_text(rng) + "\n</think>\n\n" + message["content"]
    for message in given:
        name = rng.choice(REASONING_FIELDS) if rng.random() < 0.4 else "reasoning_content"
        message[name] = random_text(rng) if rng.random() < 0.7 else rng.choice(["plan", "Let me think.\n\nOK."])
    without = [{k: v for k, v in m.items() if k not in REASONING_FIELDS} for m in messages]
    return Case(case_id, messages, None, rng.random() < 0.5, without=(without, None))


def case_plan(rng: random.Random, case_id: str) -> Case:
    """Assistant messages with calls (arguments as mappings, content empty, None or missing) and a
    ``tool_plan`` (text, empty or None; now and then missing), one in six on an answer without calls."""
    messages = [{"role": "system", "content": random_text(rng)}] if rng.random() < 0.3 else []
    for _ in range(rng.randint(1, 2)):
        messages.append({"role": "user", "content": random_text(rng)})
        message: Dict[str, Any] = {"role": "assistant"}
        if rng.random() < 1 / 6:
            message["content"] = random_text(rng)
        else:
            shape = rng.choice(["empty", "none", "missing"])
            if shape != "missing":
                message["content"] = "" if shape == "empty" else None
            # In the envelope every template reads, arguments as mappings: the plan is this feature.
            calls = as_mappings([{"tool_calls": tool_calls(rng)}])[0]["tool_calls"]
            message["tool_calls"] = [c if "function" in c else {"type": "function", "function": c} for c in calls]
        if rng.random() < 0.9:
            message["tool_plan"] = rng.choice([random_text(rng), random_text(rng), "I will look it up.", "", None])
        messages.append(message)
    if rng.random() < 0.5:
        messages.append({"role": "user", "content": random_text(rng)})
    without = [{k: v for k, v in m.items() if k != "tool_plan"} for m in messages]
    return Case(case_id, messages, None, rng.random() < 0.5, without=(without, None))


#: Built-in tools as applications send them to GLM-4: a type alone (one of its three, or another).
BUILTIN = [{"type": "python"}, {"type": "simple_browser"}, {"type": "cogview"}]


def case_builtin(rng: random.Random, case_id: str) -> Case:
    """One to three built-in tools (``{"type": "python"}``, one in ten of a type no template knows, one
    in ten with another key), with generated definitions among them half the time, on a text chat."""
    messages = chat(rng)
    tools = []
    for _ in range(rng.randint(1, 3)):
        tool = dict(rng.choice(BUILTIN))
        if rng.random() < 0.1:
            tool = {"type": "web_search"}
        elif rng.random() < 0.1:
            tool["description"] = random_text(rng)
        tools.append(tool)
    if rng.random() < 0.5:
        tools.insert(rng.randint(0, len(tools)), tool_definition(rng))
    return Case(case_id, messages, tools, rng.random() < 0.5, without=(messages, None))


#: Image and video parts in the forms applications send them (tests/strategies.py's MEDIA_PARTS).
MEDIA = [
    {"type": "image"}, {"type": "image", "image": "https://example.com/a.png"},
    {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}, {"image": "a.png"},
    {"type": "video"}, {"type": "video", "video": "https://example.com/v.mp4"}, {"video": "v.mp4"},
]


def case_parts(rng: random.Random, case_id: str) -> Case:
    """Some contents as lists of one to three text parts, and one or two image or video parts in one
    of them at least (rarely in a system message); an image given by its type alone (the form every
    template reads) two times in five, any form otherwise."""
    messages = chat(rng)
    chosen = [m for m in messages if rng.random() < 0.4]
    if not any(m["role"] != "system" for m in chosen):
        chosen.append(rng.choice([m for m in messages if m["role"] != "system"]))
    with_media = rng.choice([m for m in chosen if m["role"] != "system"])
    for message in chosen:
        parts = [message["content"]] + [random_text(rng) for _ in range(rng.randint(0, 2))]
        message["content"] = [{"type": "text", "text": text} for text in parts]
        if message is with_media or rng.random() < (0.1 if message["role"] == "system" else 0.5):
            for _ in range(rng.randint(1, 2)):
                media = {"type": "image"} if rng.random() < 0.4 else copy.deepcopy(rng.choice(MEDIA))
                message["content"].insert(rng.randint(0, len(message["content"])), media)
    return Case(case_id, messages, None, rng.random() < 0.5, plain=(as_strings(messages), None, "parts"))


def text_parts_only(messages: list) -> list:
    """``messages`` with the media parts taken out of every list (the lists kept)."""
    return [{**m, "content": [p for p in m["content"] if "text" in p]} if isinstance(m["content"], list) else m
            for m in messages]


def as_strings(messages: list) -> list:
    """``messages`` with every list of parts given as the string of its text parts."""
    return [{**m, "content": "".join(p["text"] for p in m["content"] if "text" in p)}
            if isinstance(m["content"], list) else m for m in messages]


def document(rng: random.Random) -> dict:
    """A document: mostly text with a doc_id (a string or a number) and a title or not, keys in any order;
    sometimes another key (a source, a page number), a missing doc_id or a value that is not text."""
    found: Dict[str, Any] = {"text": random_text(rng)}
    if rng.random() < 0.85:
        found["doc_id"] = rng.choice(["0", "doc-7", 3, "", "é"])
    if rng.random() < 0.5:
        found["title"] = rng.choice(JSON_TEXT + ["Paris", random_text(rng)])
    roll = rng.random()
    if roll < 0.15:
        found[rng.choice(["source", "page-no", "url"])] = rng.choice(["web", 3, 2.5, True, "https://example.com/a"])
    elif roll < 0.2:
        found[rng.choice(["source", "text"])] = rng.choice([None, ["a", 1], {"k": "v"}, 5])
    items = list(found.items())
    rng.shuffle(items)
    return dict(items)


def case_documents(rng: random.Random, case_id: str) -> Case:
    messages = chat(rng)
    tools = [tool_definition(rng) for _ in range(rng.randint(1, 2))] if rng.random() < 0.2 else None
    documents = [document(rng) for _ in range(rng.randint(1, 3))]
    return Case(case_id, messages, tools, rng.random() < 0.5, without=(messages, tools), documents=documents)


GENERATORS = {"tools": case_tools, "calls": case_calls, "results": case_results, "reasoning": case_reasoning,
              "parts": case_parts, "documents": case_documents, "plan": case_plan, "builtin": case_builtin}


def structured_cases(feature: str, count: int) -> List[Case]:
    rng = random.Random(f"promptcraft-structured/{feature}")
    return [GENERATORS[feature](rng, f"{feature}-{i:03d}") for i in range(count)]


# ---------------------------------------------------------------------------
# What a format declares, from its spec.

def writes_tools(spec) -> bool:
    return spec.tools is not None and spec.tools.placement != "none"


def writes_results(spec) -> bool:
    role = spec.role("tool")
    return role is not None and role.name == "tool" and not role.drop and role.refuse is None


def declares(spec, feature: str) -> bool:
    return {"tools": writes_tools(spec), "calls": spec.calls is not None, "results": writes_results(spec),
            "reasoning": spec.reasoning is not None and spec.reasoning.field in REASONING_FIELDS,
            "parts": spec.parts is not None, "documents": spec.documents is not None,
            "plan": spec.reasoning is not None and spec.reasoning.field == "tool_plan",
            "builtin": spec.tools is not None and bool(spec.tools.builtin)}[feature]


#: What a mapping variable (Granite's ``controls``) gets, chosen per case.
MAPPINGS = [None, {"citations": True}, {"citations": True, "hallucinations": True, "length": "short"}, {}]


def switches(fmt, case_id: str) -> Dict[str, Any]:
    """Each switch of the format (Qwen3's ``enable_thinking``) either way, and each mapping variable
    given or not (Granite's ``controls``), fixed per case."""
    found: Dict[str, Any] = {}
    for v in fmt.spec.variables:
        rng = random.Random(f"{case_id}/{v.name}")
        if v.is_switch:
            found[v.name] = rng.random() < 0.5
        elif v.is_mapping and (value := rng.choice(MAPPINGS)) is not None:
            found[v.name] = value
    return found


REFUSED = ("refused",)


def reference(stem: str, messages: list, tools, kwargs: dict):
    try:
        return hf_render(stem, copy.deepcopy(messages), tools=copy.deepcopy(given_tools(stem, tools)),
                         tool_use=NAMED.get(stem), **kwargs)
    except Refused:
        return REFUSED


@dataclass
class Cell:
    """The outcomes of one feature's cases on one template."""

    total: int = 0
    written: int = 0        # the same string as transformers, which wrote the feature
    ignored: int = 0        # the same string, transformers rendering the same without the feature
    both_refuse: int = 0
    refused: Counter = field(default_factory=Counter)       # UnsupportedFieldError, by reason
    other_refusals: List[Tuple[str, str]] = field(default_factory=list)  # (case id, error) where transformers renders
    different: List[str] = field(default_factory=list)      # case ids: promptcraft rendered something else
    read: int = 0           # cases where transformers renders differently with the feature than without it
    role_refusals: int = 0  # refusals (counted in ``refused``) of a role the format refuses (RefusedError)
    any_role: bool = False  # tool results written by the format's [any_role], as the template writes any role
    on_message: bool = False  # tool definitions given in the first message's tools field (GLM-4), not to render


def escaped_by_json(tools) -> bool:
    """Whether a definition's ``function`` has a string key or value that JSON escapes (which a template
    splicing it between quotes writes as invalid JSON)."""
    def escapes(text) -> bool:
        return isinstance(text, str) and json.dumps(text, ensure_ascii=False) != f'"{text}"'

    return any(escapes(key) or escapes(value) for tool in tools or () if isinstance(tool.get("function"), dict)
               for key, value in tool["function"].items())


def answer_left_out(stem: str, case: Case, want, kwargs: dict) -> bool:
    """Whether the template renders the case as if each message with calls had no content."""
    emptied = [dict(m, content="") if m.get("tool_calls") and m.get("content") else m for m in case.messages]
    return emptied != case.messages and want == reference(stem, emptied, case.tools, kwargs)


def reason(stem: str, case: Case, want, kwargs: dict, declared: bool,
           error: Optional[Exception] = None, spec=None) -> str:
    """Why promptcraft's refusal is right: the template raises, does not read the feature, would write
    junk (not what it writes for the plain equivalent), leaves the answer beside calls out, or writes it
    and the format does not declare it; for a document's key, whether the template reads it at all."""
    if want == REFUSED:
        return "template raises"
    if case.without is not None and want == reference(stem, *case.without, kwargs):
        return "not read"
    if case.plain is not None and case.plain[2] == "parts":
        return parts_reason(stem, case, want, kwargs, declared, error)
    found = re.fullmatch(r"documents\[(\d+)\]\.(.+)", getattr(error, "field", None) or "")
    if case.documents is not None and getattr(error, "field", None) == "tools" and want == reference(
            stem, case.messages, None, {**kwargs, **case.given()}):
        return "tools not read"
    if case.documents is not None and found:
        documents = copy.deepcopy(case.documents)
        position, key = int(found.group(1)), found.group(2)
        if key in documents[position]:
            del documents[position][key]
            if want == reference(stem, case.messages, case.tools, {**kwargs, "documents": documents}):
                return "key not read"
        return "junk: document value"
    found = re.fullmatch(r"tools\[(\d+)\]\.([^.\[]+)", getattr(error, "field", None) or "")
    carried = case.messages[0].get("tools") if case.messages and isinstance(case.messages[0], dict) else None
    if found and (case.tools or carried):
        messages, tools = copy.deepcopy(case.messages), copy.deepcopy(case.tools)
        listed = tools if case.tools else messages[0]["tools"]
        position, key = int(found.group(1)), found.group(2)
        if position < len(listed) and isinstance(listed[position], dict) and key in listed[position]:
            if key == "type":
                del listed[position]
            else:
                del listed[position][key]
            if want == reference(stem, messages, tools, kwargs):
                return "junk: tool left out"
    if case.plain is not None:
        plain = reference(stem, case.plain[0], case.plain[1], kwargs)
        if plain != REFUSED and plain != want:
            return "junk: " + case.plain[2]
    if case.tools:
        import markupsafe

        texts = [json.dumps(tool.get("function", tool), ensure_ascii=False) for tool in case.tools]
        if any(str(markupsafe.escape(text)) != text and str(markupsafe.escape(text)) in want for text in texts):
            return "junk: HTML-escaped"
    if declared and getattr(error, "field", None) == "tool_call_id" and error.index is not None and not any(
            isinstance(c, dict) and c.get("id") == case.messages[error.index].get("tool_call_id")
            for m in case.messages for c in m.get("tool_calls") or ()):
        return "junk: answers no call"
    if any(isinstance(m.get("tool_calls"), list) and len(m["tool_calls"]) > 1 for m in case.messages):
        first_only = [dict(m, tool_calls=m["tool_calls"][:1]) if m.get("tool_calls") else m for m in case.messages]
        if reference(stem, first_only, case.tools, kwargs) == want:
            return "junk: calls after the first"
    if spec is not None and spec.tools is not None and spec.tools.item == "json_spliced" and escaped_by_json(
            case.tools) and "unescaped" in str(error):
        return "junk: unescaped strings"
    if spec is not None and spec.calls is not None and spec.calls.content == "refuse" and answer_left_out(
            stem, case, want, kwargs):
        return "answer beside calls left out"
    index, name = getattr(error, "index", None), getattr(error, "field", None)
    if index is not None and name in (case.messages[index] if index < len(case.messages) else {}) and want == \
            reference(stem, [{k: v for k, v in m.items() if k != name} if k == index else m
                             for k, m in enumerate(case.messages)], case.tools, kwargs):
        return "not read on this message"
    return "not declared yet" if not declared else "this form not declared yet"


def parts_reason(stem: str, case: Case, want, kwargs: dict, declared: bool, error: Optional[Exception]) -> str:
    """A refused part: the template writes nothing for it (or for the field refused), writes the
    message's list differently from its text as a string, or leaves every media part out."""
    field_path = getattr(error, "field", None) or ""
    if field_path.startswith("content[") and error is not None and error.index is not None:
        position = int(field_path[len("content["):field_path.index("]")])
        key = field_path.partition("].")[2]
        without = copy.deepcopy(case.messages)
        parts = without[error.index]["content"]
        if key == "type":
            del parts[position]
        else:
            del parts[position][key]
        if reference(stem, without, None, kwargs) == want:
            return "junk: part left out"
    if field_path == "content" and error is not None and error.index is not None and \
            isinstance(case.messages[error.index]["content"], list):
        # A template that reads the first part only (Gemma 3's and Llama 4's system message).
        first = copy.deepcopy(case.messages)
        first[error.index]["content"] = first[error.index]["content"][:1]
        if len(case.messages[error.index]["content"]) > 1 and reference(stem, first, None, kwargs) == want:
            return "junk: parts"
    text_only = reference(stem, text_parts_only(case.messages), None, kwargs)
    strings = reference(stem, as_strings(case.messages), None, kwargs)
    if text_only != REFUSED and text_only != strings:
        return "junk: parts"
    if want == strings and text_only != want:
        return "junk: media left out"
    return "not declared yet" if not declared else "this form not declared yet"


def role_refusal(error: Exception) -> bool:
    """The format refuses the message's role (``[roles.tool] refuse = ...``, or a role it does not know)."""
    return isinstance(error, promptcraft.RefusedError) and error.rule in ("role", "unknown_role")


def on_message(case: Case) -> Case:
    """A tools case for a template that reads the tools a message carries (GLM-4's ``item['tools']``), not
    the request's: the same definitions given in the first message's ``tools`` field, on both sides."""
    if case.tools is None:
        return case
    messages = [dict(case.messages[0], tools=case.tools)] + case.messages[1:]
    plain = (case.messages, None, "empty list") if not case.tools else None
    return Case(case.id, messages, None, case.generation_prompt, without=(case.messages, None), plain=plain)


def judge(fmt, stem: str, feature: str, cases: List[Case], variables: dict, examples: Dict) -> Cell:
    cell = Cell()
    declared = declares(fmt.spec, feature)
    tool_role = fmt.spec.role("tool")
    cell.any_role = feature == "results" and tool_role is not None and tool_role.name == "*"
    cell.on_message = feature in ("tools", "builtin") and fmt.spec.tools is not None and \
        fmt.spec.tools.placement == "message"
    if cell.on_message:
        cases = [on_message(case) for case in cases]
    for case in cases:
        cell.total += 1
        kwargs = dict(add_generation_prompt=case.generation_prompt, **variables, **switches(fmt, case.id))
        want = reference(stem, case.messages, case.tools, {**kwargs, **case.given()})
        reads = case.without is None or want != reference(stem, *case.without, kwargs)
        cell.read += reads
        try:
            got = fmt.render(copy.deepcopy(case.messages), tools=copy.deepcopy(given_tools(stem, case.tools)),
                             **case.given(), **kwargs)
        except promptcraft.UnsupportedFieldError as error:
            junk = want != REFUSED and "which is junk" in str(error)  # a serialiser's own word (definitions.py)
            cell.refused["junk: schema" if junk else reason(stem, case, want, kwargs, declared, error, fmt.spec)] += 1
            continue
        except promptcraft.PromptcraftError as error:
            if want == REFUSED:
                cell.both_refuse += 1
            elif role_refusal(error):
                cell.refused[reason(stem, case, want, kwargs, declared, spec=fmt.spec)] += 1
                cell.role_refusals += 1
            else:
                cell.other_refusals.append((case.id, type(error).__name__))
            continue
        if got == want:
            if reads:
                cell.written += 1
            else:
                cell.ignored += 1
        else:
            cell.different.append(case.id)
            examples.setdefault((stem, feature), (case, want, got))
    return cell


def breakdown(counter: Counter) -> str:
    return ", ".join(f"{name} {n}" for name, n in counter.most_common())


def state(cell: Cell) -> str:
    """``written`` (promptcraft wrote the feature, as transformers did, at least once), ``not read``
    (transformers renders every case as without the feature), or ``refused``."""
    if cell.written:
        return "written"
    if not cell.read:
        return "not read"
    return "refused"


def describe(cell: Cell) -> str:
    alarm = []
    if cell.different:
        alarm.append(f"**{len(cell.different)} DIFFERENT (first: `{cell.different[0]}`)**")
    if cell.other_refusals:
        first, error = cell.other_refusals[0]
        alarm.append(f"**{len(cell.other_refusals)} refused with {error} where transformers renders "
                     f"(first: `{first}`)**")
    agree = cell.written + cell.ignored + cell.both_refuse
    refused = sum(cell.refused.values())
    kind = state(cell)
    if kind == "written":
        text = f"written: {agree}/{cell.total}" + (" (as any role)" if cell.any_role else "") + (
            " (on a message)" if cell.on_message else "")
        if refused:
            text += f"; refused {refused} ({breakdown(cell.refused)})"
    elif kind == "not read":
        how = +Counter({"ignored": cell.ignored, "both refuse": cell.both_refuse, "refused": refused})
        text = "not read by the template (" + (next(iter(how)) if len(how) == 1 else breakdown(how)) + ")"
    else:
        # transformers refusing is one reason, whichever error promptcraft refuses with.
        reasons = +Counter(cell.refused) + Counter({"template raises": cell.both_refuse,
                                                     "not read, ignored": cell.ignored})
        text = "refused: " + (next(iter(reasons)) if len(reasons) == 1 else breakdown(reasons))
    if cell.role_refusals:
        text += f" (the role refused: {cell.role_refusals})"
    return "; ".join(alarm + [text])


def public_structured(fmt, stem: str, cases: list, variables: dict, examples: Dict) -> str:
    """The public structured cases: same string / both refuse / refused (UnsupportedFieldError), and
    any case where promptcraft renders something else or refuses otherwise where transformers renders."""
    counts: Counter = Counter()
    different: List[str] = []
    other: List[str] = []
    for case in cases:
        mine = dict(variables)
        mine.update({k: v for k, v in case["kwargs"].items() if k in fmt.variables})
        kwargs = dict(add_generation_prompt=case["add_generation_prompt"],
                      continue_final_message=case["continue_final_message"], **mine)
        messages, given = case["messages"], case["tools"] or None
        if fmt.spec.tools is not None and fmt.spec.tools.placement == "message" and given and messages:
            # Given where the template reads them (GLM-4): the first message's tools field.
            messages, given = [dict(messages[0], tools=given)] + messages[1:], None
        # transformers gets every template variable of the case (it ignores those a template does not read).
        want = reference(stem, messages, given, {**kwargs, **case["kwargs"]})
        try:
            tools = given_tools(stem, copy.deepcopy(given))
            got = fmt.render(copy.deepcopy(messages), tools=tools, **kwargs)
        except promptcraft.UnsupportedFieldError:
            counts["refused"] += 1
            continue
        except promptcraft.PromptcraftError as error:
            if want == REFUSED:
                counts["both refuse"] += 1
            elif role_refusal(error):
                counts["refused"] += 1
            else:
                other.append(case["id"])
            continue
        if got == want:
            counts["same"] += 1
        else:
            different.append(case["id"])
            examples.setdefault((stem, "public structured"), (case, want, got))
    alarm = []
    if different:
        alarm.append(f"**{len(different)} DIFFERENT (first: `{different[0]}`)**")
    if other:
        alarm.append(f"**{len(other)} refused where transformers renders (first: `{other[0]}`)**")
    return "; ".join(alarm + [f"{counts['same']} / {counts['both refuse']} / {counts['refused']}"])


def first_difference(want, got) -> str:
    if want == REFUSED:
        return f"transformers refuses; promptcraft renders {got[:200]!r}"
    at = next((i for i, (a, b) in enumerate(zip(want, got)) if a != b), min(len(want), len(got)))
    return (f"at character {at}: transformers {want[max(0, at - 40):at + 80]!r}, "
            f"promptcraft {got[max(0, at - 40):at + 80]!r}")


def wrap(paragraphs: List[str]) -> str:
    """Markdown paragraphs or bullets (``- ``, or ``  - `` nested), each wrapped at 115 columns."""
    def indent(text: str) -> str:
        return " " * (len(text) - len(text.lstrip(" ")) + 2) if text.lstrip(" ").startswith("- ") else ""

    return "\n".join(textwrap.fill(p, width=115, subsequent_indent=indent(p), break_long_words=False,
                                   break_on_hyphens=False) for p in paragraphs)


def written_prose(names: List[str], served: Dict[str, str], cells: Dict[Tuple[str, str], Cell]) -> str:
    """What the formats write and refuse, every list computed from the specs and from the table's cells."""
    def where(test) -> List[str]:
        return [n for n in names if test(promptcraft.get_format(n).spec)]

    def cells_of(name: str, feature: str) -> List[Cell]:
        return [cell for (stem, f), cell in cells.items() if f == feature and served[stem] == name]

    def listed(found: List[str]) -> str:
        return ", ".join(f"`{n}`" for n in found) if found else "none"

    def calls_are(how: str):
        return lambda s: s.calls is not None and s.calls.arguments == how

    def missing(how: str):
        return lambda s: s.calls is not None and s.calls.missing_content == how

    junk_strings = [n for n in where(calls_are("json"))
                    if any(c.refused.get("junk: string arguments") for c in cells_of(n, "calls"))]
    parameters = where(calls_are("parameters"))
    as_text = where(calls_are("json_or_text"))
    strings_only = where(calls_are("text"))
    undeclared_calls = [n for n in names if any(c.refused.get("not declared yet") for c in cells_of(n, "calls"))]
    raising = [n for n in parameters if all(set(c.refused) <= {"template raises"} for c in cells_of(n, "calls"))]
    refusing = where(missing("refuse"))
    rendered_after_all = [n for n in refusing if any(c.other_refusals for c in cells_of(n, "calls"))]
    role_refused = [n for n in names if any(c.role_refusals for c in cells_of(n, "results"))]
    any_role = [n for n in names if any(c.any_role and state(c) == "written" for c in cells_of(n, "results"))]
    junk_parts = [n for n in names if any(c.refused.get("junk: parts") for c in cells_of(n, "parts"))]
    exception = (f" (except where the template renders it after all, listed above as a refusal outside the "
                 f"contract: {listed(rendered_after_all)})" if rendered_after_all else "")
    spliced = where(lambda s: s.tools is not None and s.tools.item == "json_spliced")
    last_user = where(lambda s: s.tools is not None and s.tools.placement == "last_user")
    call_ids = where(lambda s: s.calls is not None and s.calls.id is not None)
    nine = where(lambda s: s.calls is not None and s.calls.id == "string9")
    result_ids = where(lambda s: s.role("tool") is not None and s.role("tool").tool_call_id is not None)
    empty_calls = where(lambda s: s.calls is not None and s.calls.empty == "refuse")
    answer_refused = [n for n in names
                      if any(c.refused.get("answer beside calls left out") for c in cells_of(n, "calls"))]
    return wrap([
        "- **Tool definitions** are passed as `render(messages, tools=[...])`: OpenAI-style definitions, or Python "
        "functions (converted to their JSON schema as transformers' `get_json_schema` does). "
        "`promptcraft.prepare_tools(tools)` checks and serialises a list once (a copy: editing the list afterwards "
        "changes nothing) for reuse across renders. Formats that write them: "
        f"{listed(where(writes_tools))}. Each definition is written as transformers' `tojson` writes it, except "
        "by the named serialisers: " + "; ".join(
            f"{SERIALISERS[item]} (`item = \"{item}\"`): {listed(found)}" for item in SERIALISERS
            if (found := where(lambda s, item=item: writes_tools(s) and s.tools.item == item))) + ". "
        "Keys of a parameter's schema that a serialiser does not write are left out only where the format lists "
        "them as its template leaves them out (`[tools] ignore`), and refused otherwise; what the template would "
        "write as junk is refused (*junk: schema*).",
        "- **Formats that write no tools refuse `tools=`** with `UnsupportedFieldError` (field `tools`), except "
        "`None` and an empty list where the template treats an empty list as none. Those whose template writes a "
        "tools block even for an empty list refuse it too: "
        f"{listed(where(lambda s: s.tools is not None and s.tools.placement == 'none' and s.tools.empty == 'refuse'))}"
        "; so do formats that write tools where the template writes a broken block for an empty list (*junk: empty "
        f"list*): {listed(where(lambda s: writes_tools(s) and s.tools.empty == 'refuse'))}.",
        "- **Documents** are passed as `render(messages, documents=[...])`, each a mapping (transformers' "
        "`documents`), and written by "
        f"{listed(where(lambda s: s.documents is not None))}, each as its template writes it (a key the "
        "template reads and the document lacks, or a value it would write as Python's `str()` of `None`, a "
        "list or a mapping, is refused naming `documents[i].key`; keys the template leaves out are accepted "
        "where the format lists them under `[documents] ignore`, refused otherwise). Templates that read "
        "documents whose formats do not declare them: "
        f"{listed([n for n in names if any(c.refused.get('not declared yet') for c in cells_of(n, 'documents'))])}"
        "; every other format refuses them, as it refuses tools it does not write.",
        f"- **Tool calls** (`tool_calls` on an assistant message) are written by "
        f"{listed(where(lambda s: s.calls is not None))}. Calls on a role that writes none (a user message with "
        "`tool_calls`) are refused, and so are calls in every format that does not declare them. A call's keys "
        "that the format neither writes nor lists as left out (`[calls] ignore`: `id` and `type`) are refused. "
        f"Templates that write calls whose formats do not declare them yet: {listed(undeclared_calls)}.",
        "- **More calls than the template writes**: formats whose template writes only a message's first call "
        "and silently leaves the others out refuse the others (`UnsupportedFieldError` naming `tool_calls[1]`): "
        f"{listed(where(lambda s: s.calls is not None and s.calls.max > 0 and s.calls.max_message is None))}; "
        "those whose template raises refuse such a message as it does: "
        f"{listed(where(lambda s: s.calls is not None and s.calls.max > 0 and s.calls.max_message is not None))}.",
        "- **Arguments given as a JSON string** are refused where the template would encode the string a second "
        f"time (junk): {listed(junk_strings)}; pass a mapping (`json.loads` it). They are written as they are "
        f"where the template writes a string as it is (an `is string` test): {listed(as_text)}. "
        f"Formats whose templates take a JSON string only (added to the text as it is; a mapping makes them "
        f"raise) refuse a mapping, with the fix in the error (`json.dumps` it): {listed(strings_only)}. "
        f"Formats that write each argument as a parameter need a mapping: {listed(parameters)}"
        + ("" if not raising else " (the template raises on a string too)" if raising == parameters
           else f" (the templates of {listed(raising)} raise on a string too)") + ".",
        f"- **Tool definitions rebuilt by hand** ({listed(spliced)}): the templates build the JSON themselves, "
        "splicing each string value of a definition's `function` between quotes without escaping it. A "
        "definition with a string (or a key) that JSON escapes (a quote, a backslash, a control character) is "
        "refused with `UnsupportedFieldError` naming it (`tools[1].function.description`): the template's JSON "
        "would be invalid. So is a definition key the template leaves out (anything but `type` and `function`) and "
        "a definition without `function`; the key `return` is left out, as the templates leave it out. The tools "
        "go before the last user message and before every user message equal to it, as the templates compare "
        f"messages ({listed(last_user)}); without a user message they are refused (the template would leave them "
        "out).",
        f"- **Call ids** are written by {listed(call_ids)}, and required where the template raises without one "
        "(`InvalidMessageError`); an id that is not a string of 9 characters is refused with `RefusedError` where "
        f"the template raises on it ({listed(nine)}), and one the template would splice into its JSON unescaped "
        "with `UnsupportedFieldError`. A tool result's `tool_call_id` is written and required, with the same rules, "
        f"by {listed(result_ids)}, whose templates also splice the result's content into a JSON object as it is "
        "(`{\"content\": 12:00, ...}` for the text `12:00`): pass a result as JSON text (`json.dumps(result)`) to "
        "get JSON. An empty list of calls is refused where the template tests the key and then raises, leaves "
        f"the message out or writes a broken call block (Mistral Nemo's is unclosed): {listed(empty_calls)}. The "
        f"text of a message with calls is refused where the template writes the calls alone: "
        f"{listed(answer_refused)}.",
        "- **A message with calls and no content** (`content` missing or `None`, as OpenAI clients send it) is "
        f"written as empty by {listed(where(missing('empty')))}, and refused (`InvalidMessageError`) by "
        f"{listed(refusing)}, as their templates refuse it{exception}. Where the template writes the content of "
        "the conversation's first message with calls only and leaves it out of later ones "
        f"({listed(where(lambda s: s.calls is not None and s.calls.content == 'first_message'))}), a later "
        "message's content may be missing, and a non-empty one is refused (`UnsupportedFieldError`). An empty "
        "`tool_calls` list is no calls, except where the template tests the key (and raises, leaves the message "
        "out or writes a calls block without calls in place of the content), which refuse it: "
        f"{listed(where(lambda s: s.calls is not None and s.calls.empty == 'refuse'))}.",
        f"- **Tool results** (role `tool`) are written by {listed(where(writes_results))}, which declare the role, "
        "consecutive ones grouped in one turn where the template groups them; and by "
        f"{len(any_role)} more formats through their `[any_role]`, as their templates write any role. "
        f"The formats that refuse the role itself (a `RefusedError`, as they declare): {listed(role_refused)}.",
        "- **Reasoning given in a field** (`reasoning_content`, or `thinking`, `reasoning`, aliased as transformers "
        "aliases them) is written by "
        f"{listed(where(lambda s: s.reasoning is not None and s.reasoning.field in REASONING_FIELDS))}; a value "
        "that is not a string is refused. Templates that read the field but whose formats do not declare it yet: "
        f"{listed([n for n in names if any(c.refused.get('not declared yet') for c in cells_of(n, 'reasoning'))])}.",
        "- **A tool plan** (`tool_plan`, a field transformers does not alias) is written before a message's calls "
        f"by {listed(where(lambda s: s.reasoning is not None and s.reasoning.field == 'tool_plan'))} "
        "(`[reasoning] field = \"tool_plan\"`); a non-empty one where the template leaves it out (a message "
        "without calls) is refused. **Built-in tools** (`{\"type\": \"python\"}`, no function) are written as "
        "the template's fixed text for their type by "
        f"{listed(where(lambda s: s.tools is not None and bool(s.tools.builtin)))} (`[tools] builtin`); every other "
        "format refuses them (`tools[i].type`), as does a built-in tool of a type or with a key the format does not "
        "write.",
        "- **Content as a list of parts** is written by "
        f"{listed(where(lambda s: s.parts is not None))}, for the roles each declares, each part by its kind: "
        + "; ".join(f"`{n}`: {kinds_of(promptcraft.get_format(n).spec)}" for n in where(lambda s: s.parts is not None))
        + ". Media are numbered (`Picture 1: `) where the format's switch says so: "
        f"{listed(where(lambda s: s.parts is not None and s.parts.labels is not None))} (`add_vision_id`). "
        "A part of a kind a format does not write (a video for Gemma 3, an `image_url` where the template tests "
        "`type == 'image'` only) or with a field it would leave out is refused, naming "
        "`messages[i].content[j].type` (or the field). A system message given as a list is read as its first "
        "part's text where the template does (one text part taken: "
        f"{listed(where(lambda s: s.parts is not None and s.parts.system.startswith('first_text')))}), as text "
        f"parts only ({listed(where(lambda s: s.parts is not None and s.parts.system == 'text'))}), or refused. "
        "Templates that write some lists of parts as junk (every list, or a system message's), which their "
        "formats refuse: "
        f"{listed(junk_parts)}.",
    ])


def output_prose() -> str:
    """What ``parse_output`` reads back for each built-in format, from the forms it derives."""
    def code(text: str) -> str:
        return "`" + text.replace("\n", "\\n").replace("|", "\\|") + "`"

    rows = []
    for name in promptcraft.list_formats():
        fmt = promptcraft.get_format(name)
        form = fmt._built.output_form()
        output = fmt.spec.output
        declared = ", ".join(f"`{key}`" for key in ("prefix", "reasoning", "content", "call", "call_id", "call_name")
                             if output is not None and getattr(output, key) not in (None, ())) or "-"
        if isinstance(form, Exception):
            rows.append(f"| `{name}` | refused: {form.reason} | | | {declared} |")
            continue
        reasoning = "-"
        if form.reasoning is not None:
            reasoning = f"{code(form.reasoning.open.text.strip())} ... {code(form.reasoning.close.text.strip())}"
        if form.plan is not None:
            opening, closing = form.plan.text[:form.plan.at], form.plan.text[form.plan.at:]
            reasoning = f"`{form.plan.field}`: {code(opening.strip())} ... {code(closing.strip())}"
        calls = "-"
        if form.unread_calls:
            calls = ("not read yet, refused where " + " or ".join(code(t) for t in form.unread_calls) + " appears: "
                     + form.unread_reason)
        if form.attach is not None:
            calls = (f"the name as the turn's `{form.attach.field}` before {code(form.attach.close)}, JSON arguments "
                     "as the content (the message as written)")
        if form.calls is not None:
            calls = {"json": "JSON arguments", "json_or_text": "JSON arguments", "text": "JSON arguments (written as "
                     "a string)", "parameters": "a parameter per argument", "json_block": "JSON arguments (indented)"
                     }[form.calls.arguments]
            if form.calls.before_content:
                calls += ", before the content"
            if form.calls.max:
                calls += f", at most {form.calls.max}"
            if form.calls.replace_content:
                calls += ", in place of the content"
            if form.calls.call_id is not None:
                calls += ", ids " + code("".join(p if isinstance(p, str) else "{" + p.name + "}"
                                                 for p in form.calls.call_id.pieces))
        ends = ", ".join(dict.fromkeys(code(e.search) for e in form.ends)) or "the end of the text"
        try:
            fmt.response_template()
            exported = "yes"
        except promptcraft.OutputError as error:
            exported = "no: " + error.reason.split(": ", 1)[-1]
        rows.append(f"| `{name}` | {reasoning} | {calls} | {ends} | {declared} | {exported} |")
    return "\n".join(["| format | reasoning block | tool calls | end of turn | `[output]` | `response_template` |",
                      "|---|---|---|---|---|---|"] + rows)


def kinds_of(spec) -> str:
    """How a format writes each kind of part, for the prose."""
    out = []
    for kind in spec.parts.kinds:
        tests = [f"type {t!r}" for t in kind.types] + [f"key {k!r}" for k in kind.keys]
        written = "its text" if kind.name == "text" else f"`{kind.text!r}`"
        out.append(f"{kind.name} ({' or '.join(tests)}) as {written}")
    return ", ".join(out)


def show_case(parser, case_id: str, stem: Optional[str]) -> None:
    """Print a structured case and, for ``stem``, what transformers and promptcraft render for it."""
    feature, _, number = case_id.rpartition("-")
    public = ({c["id"]: c for c in json.loads(STRUCTURED_CASES.read_text(encoding="utf-8"))}
              if STRUCTURED_CASES.is_file() else {})
    if case_id in public:
        case = public[case_id]
        messages, tools, kwargs = case["messages"], case["tools"] or None, dict(case["kwargs"])
        kwargs.update(add_generation_prompt=case["add_generation_prompt"],
                      continue_final_message=case["continue_final_message"])
        print(json.dumps(case, indent=2, ensure_ascii=False))
    elif feature in GENERATORS and number.isdigit():
        generated = structured_cases(feature, int(number) + 1)[-1]
        messages, tools = generated.messages, generated.tools
        kwargs = dict(add_generation_prompt=generated.generation_prompt, **generated.given())
        print(json.dumps(generated.as_json(), indent=2, ensure_ascii=False))
    else:
        parser.error(f"no case {case_id!r}: ids are <feature>-<number> (features {', '.join(FEATURES)}) "
                     "or the id of a public structured case")
    if stem is None:
        return
    model = json.loads((CORPUS / f"{stem}.json").read_text(encoding="utf-8"))["model"]
    index, tool_use_index = indexes()
    name = (tool_use_index if "--tool_use" in stem else index).get(model)
    if name is None:
        parser.error(f"{stem} is not served by a built-in format")
    fmt = promptcraft.get_format(name)
    if case_id not in public:
        kwargs.update(switches(fmt, case_id))
    mine = {k: v for k, v in {**GIVEN, **kwargs}.items()
            if k in fmt.variables or k in ("add_generation_prompt", "continue_final_message", "documents")}
    # transformers gets every template variable of a public case (it ignores those a template does not read).
    theirs = {**mine, **kwargs}
    want = reference(stem, messages, tools, theirs)
    print(f"\n--- transformers ({stem}, {theirs}):\n" + (want if want != REFUSED else "refuses"))
    try:
        got = fmt.render(copy.deepcopy(messages), tools=copy.deepcopy(given_tools(stem, tools)), **mine)
    except promptcraft.PromptcraftError as error:
        got = f"refuses: {type(error).__name__}: {error}"
    print(f"\n--- promptcraft ({fmt.name}, {mine}):\n{got}")
    print("\n--- the same string" if got == want else "\n--- not the same string")


def indexes() -> Tuple[Dict[str, str], Dict[str, str]]:
    """Model id -> the format serving its default template, and -> the one serving its tool_use template;
    ``NAMED`` and ``WITH_TOOLS`` filled from them."""
    index = {m: n for n in promptcraft.list_formats() for m in promptcraft.get_format(n).models}
    tool_use_index = {m: n for n in promptcraft.list_formats() for m in promptcraft.get_format(n).spec.tool_use_of}
    stems = {}
    for path in sorted(CORPUS.glob("*.json")):
        model = json.loads(path.read_text(encoding="utf-8"))["model"]
        if "--tool_use" in path.stem and model in tool_use_index:
            WITH_TOOLS.add(path.stem)
            stems.setdefault(tool_use_index[model], path.stem)
        elif "--tool_use" not in path.stem and model in index:
            target = promptcraft.get_format(index[model]).spec.tool_use
            if target is not None:
                NAMED[path.stem] = target
    NAMED.update({stem: stems[target] for stem, target in NAMED.items()})
    return index, tool_use_index


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--random", type=int, default=300, help="random text conversations per template")
    parser.add_argument("--structured", type=int, default=300,
                        help="generated structured conversations per feature per template")
    parser.add_argument("--output", default=str(ROOT / "COMPATIBILITY.md"))
    parser.add_argument("--show-case", metavar="ID",
                        help="print one structured case (calls-017, or a public one: public-structured-003)")
    parser.add_argument("--stem", help="with --show-case: render it with this corpus file and its format, both ways")
    args = parser.parse_args(argv)
    if args.show_case:
        show_case(parser, args.show_case, args.stem)
        return

    started = time.perf_counter()
    cases = json.loads(PUBLIC_CASES.read_text(encoding="utf-8"))
    public_structured_cases = (json.loads(STRUCTURED_CASES.read_text(encoding="utf-8"))
                               if STRUCTURED_CASES.is_file() else [])
    generated = {feature: structured_cases(feature, args.structured) for feature in FEATURES}
    index, tool_use_index = indexes()
    rows = []
    structured_rows = []
    states: Dict[str, Counter] = {feature: Counter() for feature in FEATURES}
    any_role: Counter = Counter()
    cells: Dict[Tuple[str, str], Cell] = {}
    examples: Dict = {}
    served: Dict[str, str] = {}  # corpus stem -> format name
    covered = 0
    for path in sorted(CORPUS.glob("*.json")):
        entry = json.loads(path.read_text(encoding="utf-8"))
        model = entry["model"]
        name = (tool_use_index if "--tool_use" in path.stem else index).get(model)
        if name is None:
            reason_text = (PENDING_REASON["tool_use"] if "--tool_use" in path.stem
                           else "not expressible as data: see below")
            rows.append(f"| {model}{' (tool_use)' if '--tool_use' in path.stem else ''} | - | - | - | {reason_text} |")
            continue
        fmt = promptcraft.get_format(name)
        variables = {k: v for k, v in GIVEN.items() if k in fmt.variables}
        rng = random.Random(path.stem)
        runs = [(c["messages"], (c["add_generation_prompt"], c["continue_final_message"])) for c in cases]
        public = len(runs)
        runs += [random_conversation(rng) for _ in range(args.random)]
        passed_public = passed_random = 0
        first_diff = ""
        for number, (messages, (gen, cont)) in enumerate(runs):
            opts = dict(add_generation_prompt=gen, continue_final_message=cont)
            tools = given_tools(path.stem, None)  # a tool_use template: the conversation with no tools ([])
            want = outcome(hf_render, path.stem, messages, tools=tools, tool_use=NAMED.get(path.stem), **opts,
                           **variables)
            got = outcome(fmt.render, messages, tools=tools, **opts, **variables)
            if want == got:
                if number < public:
                    passed_public += 1
                else:
                    passed_random += 1
            elif not first_diff:
                first_diff = f"first difference: {json.dumps(messages)[:120]}"
        covered += 1
        served[path.stem] = name
        note = first_diff or "none"
        label = f"{model} (tool_use, with tools=[])" if path.stem in WITH_TOOLS else model
        rows.append(f"| {label} | `{name}` | {passed_public}/{public} | {passed_random}/{args.random} | {note} |")

        texts = []
        for feature in FEATURES:
            cell = judge(fmt, path.stem, feature, generated[feature], variables, examples)
            cells[(path.stem, feature)] = cell
            states[feature][state(cell)] += 1
            any_role[feature] += state(cell) == "written" and cell.any_role
            texts.append(describe(cell))
        texts.append(public_structured(fmt, path.stem, public_structured_cases, variables, examples)
                     if public_structured_cases else "-")
        label = f"{model} (tool_use)" if path.stem in WITH_TOOLS else model
        structured_rows.append(f"| {label} | `{name}` | " + " | ".join(texts) + " |")

    problems = [(stem, feature, cell) for (stem, feature), cell in cells.items()
                if cell.different or cell.other_refusals]
    disagreements = []
    for (stem, feature), (case, want, got) in examples.items():
        case_id = case.id if isinstance(case, Case) else case["id"]
        disagreements.append(f"- **{stem}**, {TITLES.get(feature, feature)}, case `{case_id}`: a different string, "
                             f"{first_difference(want, got)}")
    refusals = []
    for stem, feature, cell in problems:
        if cell.other_refusals:
            first, error = cell.other_refusals[0]
            refusals.append(f"- **{stem}**, {TITLES[feature]}: {len(cell.other_refusals)} case(s), first `{first}`: "
                            f"promptcraft refuses with `{error}`, transformers renders it")
    show = "`python tests/make_compatibility.py --show-case ID --stem STEM` renders a case both ways"
    if disagreements:
        found = wrap(["**Disagreements found**: promptcraft renders a string other than transformers' (a bug; "
                      f"{show}):"])
        found += "\n\n" + wrap(disagreements)
    else:
        found = wrap(["**No disagreement**: on no generated or public structured case does promptcraft render a "
                      "string other than transformers'."])
    if refusals:
        found += "\n\n" + wrap(["**Refusals outside the contract**: promptcraft refuses with an error other than "
                                 "`UnsupportedFieldError` (and not by refusing the role) a conversation transformers "
                                 f"renders. Not a wrong prompt, but not the documented refusal either ({show}):"])
        found += "\n\n" + wrap(refusals)
    summary = wrap([
        f"- **{TITLES[feature]}**: written by {states[feature]['written']} of {covered} templates"
        + (f" ({any_role[feature]} of them through the format's `[any_role]`, as the template writes any role)"
           if any_role[feature] else "")
        + f", refused by {states[feature]['refused']}, not read by {states[feature]['not read']}."
        for feature in FEATURES])
    names = sorted(set(served.values()), key=list(served.values()).index)
    written_here = written_prose(names, served, cells)
    output_here = output_prose()
    elapsed = time.perf_counter() - started

    text = f"""# Compatibility with the official chat templates

Generated by `python tests/make_compatibility.py --random {args.random} --structured {args.structured}` (needs the
test extra and `../shared`). For each corpus model: the built-in format serving it, the public cases and seeded
random conversations (system, user and assistant roles in any order; whitespace, braces, quotes, backslashes,
control tokens; every flag combination) on which promptcraft and transformers' `apply_chat_template`
agree (the same string, or both refuse), and every known divergence. Dates are pinned on both sides where the
template reads a date variable; where it reads only the clock (`strftime_now`), both write today's date.
The test suite (`tests/test_equivalence.py`) checks the same pairs with hypothesis on every run.

**{covered} of {len(rows)} corpus files are served by a built-in format.**

| model | format | public cases | random cases | known divergences |
|---|---|---|---|---|
""" + "\n".join(rows) + f"""

## Structured input

Per served corpus file and per feature, {args.structured} seeded conversations exercising that feature (the same
conversations for every template; `python tests/make_compatibility.py --show-case calls-017` prints one),
rendered by transformers and by promptcraft, with and without a generation prompt and every switch either way:

- **tools**: `render(messages, tools=[...])` with one to four generated definitions (nested schemas, quotes, `<`,
  `&`, unicode, unsorted keys), an empty list one time in ten, on a text conversation.
- **tool calls**: assistant messages with one to three `tool_calls` (arguments as a mapping or, one in four, a JSON
  string; content text, empty, `None`, missing or with a think block; ids or not; the inner object alone).
- **tool results**: `tool` messages, one to three in a row, after an assistant answer (sometimes first or after a
  user message), with and without `tool_call_id` and `name`.
- **reasoning field**: assistant messages with `reasoning_content` (or `thinking`, `reasoning`) as text.
- **content parts**: contents given as lists of one to three text parts, with one or two image or video parts
  in one of them at least (rarely in a system message), in the forms applications send (`{{"type": "image"}}`, with
  an `image` key, OpenAI's `image_url`, a key without a type, and the same for videos); `add_vision_id` either way
  where a format numbers them.
- **documents**: `render(messages, documents=[...])` with one to three documents (text, mostly a `doc_id` and
  sometimes a `title`, keys in any order; one in seven with another key, one in twenty with a value that is
  not text), sometimes with tools, on a text conversation.
- **tool plan**: assistant messages with calls (in their `function` envelope, arguments as mappings) and a
  `tool_plan` (text, empty or `None`, now and then missing), one in six on an answer without calls.
- **built-in tools**: one to three built-in tools (`{{"type": "python"}}`, `simple_browser`, `cogview`; one in ten
  of a type no template knows, one in ten with another key), with a generated definition among them half the
  time, given as the tools column gives them.

Every switch is given either way and every mapping variable (Granite's `controls`) given or not, per case.

What each cell says, judged case by case:

- **written: A/N**: promptcraft writes the feature; on A of N cases it wrote the same string as transformers
  or both refused. The other cases follow, each refused by promptcraft with `UnsupportedFieldError`, with its
  reason. *(as any role)*: tool results written by the format's `[any_role]`, as the template writes any role.
  *(on a message)*: tool definitions given in the first message's `tools` field, where the template reads
  them there and not from `render(..., tools=...)` (GLM-4).
- **refused: reasons**: transformers writes the feature (on some case it renders something other than the same
  conversation without the feature) and promptcraft never does: it refuses with `UnsupportedFieldError` (or
  refuses the role). The reasons, with their counts:
  - *not declared yet*: the template writes it, and the format does not declare the feature;
  - *this form not declared yet*: the format declares the feature, but not for this role or form;
  - *junk: ...*: the template writes it in a way no format copies (below);
  - *answer beside calls left out*: the template writes a message with calls as the calls alone, leaving its
    text content out (the same string as with that content empty), so the format refuses the content;
  - *template raises*: transformers refuses the conversation too;
  - *not read on this message*: transformers renders the same without this field on this message, though it
    reads it on others (Command R7B's `tool_plan`, read before calls only; calls a template leaves out of the
    final message);
  - *not read*: on this case transformers renders the same as without the feature (*not read, ignored*: and
    promptcraft ignores it, as its `[message] ignore` says or as an empty tools list);
  - *key not read*: a document's key that the template leaves out (it renders the same without it) and that
    the format does not list under `[documents] ignore`;
  - *tools not read*: a documents case's tools, which the template does not read (Command A sets them
    aside), refused as tools.
  - *(the role refused: K)*: K of those refusals are the format refusing the role itself (`RefusedError`, as
    `[roles.tool] refuse` declares) rather than a field.
- **not read by the template**: transformers renders every case exactly as the same conversation without the
  feature; promptcraft then ignores it (its `[message] ignore` lists the field) or refuses it rather than drop it.
- Junk, where the template writes the feature differently from its plain equivalent:
""" + wrap([f"  - *junk: {key}*: {meaning}." for key, meaning in JUNK.items()]) + f"""
- **N DIFFERENT** (in bold, with the first case id, and listed below the table): promptcraft rendered a string
  other than transformers'. That is a bug and is never folded into another count. A refusal where transformers
  renders, with an error other than `UnsupportedFieldError` or a refused role, is in bold and listed too: it is
  outside the contract of the structured tests (`tests/test_structured.py`).

The last column counts the {len(public_structured_cases)} public structured cases (`structured-public.json`,
each with its own tools and template variables): the same string / both refuse / refused by promptcraft with
`UnsupportedFieldError` (or a refused role).

| model | format | {" | ".join(TITLES[f] for f in FEATURES)} | public structured (same / both refuse / refused) |
|---|---|{"---|" * len(FEATURES)}---|
""" + "\n".join(structured_rows) + f"""

{summary}

{found}

## Structured input: what is written

{written_here}

## Reading completions back

`Format.parse_output(text, prompt=..., tools=...)` reads what a model wrote after the prompt back into the
assistant message it stands for, and `Format.output_parser()` does it incrementally. Both read with the markers
each format declares: its assistant role's prefix (variants included: what the prompt has not written yet),
its reasoning display, its `[calls]` texts with their variants and slots, its suffix and stop strings. Where the
model writes its turn otherwise than the template writes history, the format declares it under `[output]`.
`tests/test_parse_output.py` renders generated assistant messages (content, reasoning where the format writes
it, one to three calls with generated arguments), takes the text the format writes for the message after the
generation prompt, and checks that it reads back to the message, one shot and streamed at random cuts, and that
transformers' `parse_response` with the format's `Format.response_template()` reads the same message (text
stripped, as transformers strips it). With `tools`, a format naming a `tool_use` format reads as that one, which
renders then (Hermes 3 reads its `<tool_call>` calls with tools, and such text as content without):

{output_here}

What does not read back, and why:

- **Reasoning the template cuts from history.** DeepSeek R1 (in answers; a message with calls keeps it), R1-Distill
  and V3.1 write no reasoning in an assistant turn of history, so there is none to read back from it; a
  completion's reasoning is read as their `[output] reasoning` declares. R1-Distill's generation prompt opens
  a `<think>` block its history turns never close: no history turn is a completion, and the tests read
  completions written as `[output]` declares instead. Where the prompt closed the block (Qwen3 without thinking,
  V3.1's non-thinking prompt), a `<think>` in the completion is content.
- **Parameter values** (`qwen3.5`; `qwen3-coder` and `seed-oss`, whose mappings and lists are Python's `str()`,
  `{{'k': [1]}}`) are written as text (`True`, `None`, `1.0`, JSON for mappings and lists): given the `tools`, each
  is read by its schema type; without them a text that reads as a Python constant, a number or a mapping or list
  is taken as one, so a string `"1"` comes back as the number 1. Qwen3-Coder's content is trimmed where calls
  follow it only (`[calls] trim`): streamed, a content that opens with whitespace is given when it ends.
- **Bare JSON calls** (Llama 3.x): a completion that starts with the call text (`{{"name": "`...`"parameters": `)
  is a call, since the template writes calls in place of the content; content that merely looks like it (JSON
  with other keys) stays content.
- **Arguments written as JSON strings** (DeepSeek R1, V3.1) come back as mappings (`json.dumps` them to render).
- **Call ids** come back only where the format writes one: as written where it writes the id given (Mistral v0.3's
  any JSON value, Nemo's 9 characters), Kimi K2's `functions.NAME:INDEX`, which its template makes up whatever id
  it was given. Elsewhere a call has no `id`.
- **A list of calls** (Mistral's `[TOOL_CALLS] [...]`, Jamba's `<tool_calls>[...]</tool_calls>`): what the
  `[calls] prefix` and `suffix` write around them is read once, each call in the list, and a Mistral call (a JSON
  object holding its name, arguments and id) is read as JSON whole, its members in any order. A Mistral call
  after text is refused: the format writes calls in place of any text.
- **Trimmed content**: where a format trims the content it writes, it reads back trimmed.
- **Formats that declare no calls** read every completion as content: a tool call their model might write in a
  syntax the format does not declare yet (Granite's) is not recognised.
- **Every built-in format reads its calls.** A format whose calls the reader could not read would still read a
  completion without calls, and refuse one holding the text its calls open with (`OutputError`, field
  `tool_calls[0]`), never reading a call as content.
- **Functionary v3.2**: the generation prompt writes the `>>>` a call opens with, so a completion opening with a
  name and a newline is a call (`all\\n` opens the answer); each call's arguments run to the next `>>>` or the end
  of the turn. **Functionary v3.1**: a call to `python` is `<|python_tag|>` and its code, read back as the text
  written (`arguments` a string) up to the next call or the end of the turn, so code holding `<function=` or
  `<|python_tag|>` is cut there; other calls are `<function=NAME>JSON</function>`.
- **GLM-4** writes a call as an assistant message whose `metadata` names the function, written after the role
  marker, and whose content is the arguments' JSON on the next line; an answer has no metadata, so after the
  generation prompt `<|assistant|>` it opens with the newline. `[output] call_name = "attach"` says so (the name
  is the role's attached field, written in its prefix), and `parse_output` gives the message as the format writes
  it, `{{"role": "assistant", "metadata": NAME, "content": ARGUMENTS}}`, so `render(history + [message])` writes
  the completion back byte for byte; no `tool_calls` (the template never reads them: the format refuses them)
  and no parsed view: the arguments stay the text written (checked to be a JSON object, `json.loads` them),
  since any other key is refused by the format and a mapping dumped again need not be the model's text (spacing,
  key order, escapes). The name runs to the first newline (a name holding one cannot be written unambiguously);
  with `tools` it must be one of them. A completion without the newline (`Sunny.`) is neither and is refused
  (field `metadata`), as are arguments that are not a JSON object (field `content`). Arguments holding a stop
  string (`<|user|>`, `<|observation|>`) end there, as the model's stop does, and are then refused (not JSON).
  `response_template` exports it: `metadata` is the field no marker opens, the content opens at the newline.
- **MiniCPM3** writes its calls before the content, as Python calls in one block (`f(k=JSON,...)`): values are
  read as JSON, the content after `<|tool_call_end|>`. A key holding `=` is written ambiguously by the template
  (`f(a=b=1)`) and is refused when read back (its value is not JSON), never read as another key; so is a key
  opening with `)` (`f()=1)` reads as a call without arguments, then refuses what follows it).
- **Command R+ tool_use**: the plan, then `Action:` and the calls as an indented JSON list, read whatever the
  indent.
- **Reasoning written by the prefix** (Seed-OSS, `[reasoning] show = "given"`): the block the prefix variants write
  around `{{reasoning}}` is read as the reasoning block.
- **A tool plan** (Command A, Command R7B's tool_use, `[reasoning] field = "tool_plan"`): the prefix variant
  `A{{reasoning}}B` (`<|START_THINKING|>{{reasoning}}<|END_THINKING|><|START_ACTION|>[`) whose variant without a plan
  is the text `A + B` is read with the plan between `A` and `B`, as written, under `tool_plan` (streamed deltas
  `{{"tool_plan": ...}}`); the message renders back to the completion byte for byte, and an empty plan is no field.
  A plan holding its closing text (`<|END_THINKING|><|START_ACTION|>[` and a newline) is cut there and the
  completion refused (`OutputError`). `response_template` does not export it (a plan between two markers of the
  turn's opening; these formats' calls, in place of the content, are not exportable either).
- **gpt-oss** writes Harmony channels that its template writes otherwise in history: `[output]` declares the
  analysis channel's reasoning, the final channel's answer and a call on the commentary channel (addressed after
  the channel, as the model writes it, or before, as the template writes history). Only one analysis block before
  the answer or call is read; a commentary preamble (text on the commentary channel) is not declared.
- **`response_template`** cannot say calls that stand in place of the content with no marker before them (Llama
  3.x, Hermes' tool_use format) nor arguments ended by a bare bracket (Llama 4): transformers ends a region at the
  first match of its close pattern, so these formats refuse the export with the reason. For the same reason
  transformers cuts an argument that holds the close marker (`"</tool_call>"` in a string) where `parse_output`
  reads the JSON to its end; the tests count those cases apart. Without `tools`, transformers keeps parameter values
  as text.

## Differences by design

- **Training masks on SmolLM3.** Its template's `{{% generation %}}` block covers the whole assistant turn
  (header, content, `<|im_end|>` and the newline after it), so transformers' `return_assistant_tokens_mask`
  marks the header too. promptcraft's `mask()` (and `apply_chat_template(..., return_assistant_tokens_mask=True)`)
  keeps one policy for every format, the content and its end-of-turn marker, a part of that span.
- **Unknown roles.** Where a template silently leaves out a role it does not know, the format declares
  `[any_role] drop = true` and does the same. Where a template writes a role in a way the format does not
  declare yet (tool results, in the formats listed above), the format refuses that role instead of guessing.
- **Malformed messages.** A message without `content`, or with non-string content, is an
  `InvalidMessageError` in every format (except an assistant message with calls, as above). Some templates
  render a missing content as an empty string (Jinja's undefined); promptcraft does not guess.
- **Tool calls on templates that leave them out.** Granite, DeepSeek V3 and the text-only templates render an
  assistant message with `tool_calls` as if it had none ("not read by the template" in the table). DeepSeek V3's
  template writes calls only for a message whose content is `None`, which it never sees: transformers drops keys
  whose value is `None`, and the template then fails on the missing content; with any content it leaves the calls
  out. promptcraft refuses `tool_calls` in every format that does not declare them: a call turn written as an
  empty answer is a wrong prompt.
- **DeepSeek and Kimi K2 tool turns.** Their templates' state is declared, not refused: DeepSeek V3 and R1 open
  the tool-outputs block at the conversation's first tool result only (they never reset the flag; later results,
  even after another user turn, are written into it) and close it before the next answer or at the end, never
  before a user turn (condition `earlier = "tool"`, `prompt_after`/`otherwise_after`); R1 opens a calls block and
  writes the content in the conversation's first message with calls only, and a later one's calls follow with
  neither (`earlier_calls`, `[calls] content = "first_message"`); R1 and V3.1 keep the content of a message with
  calls, and of an answer right after tool results, whole (`strip_reasoning` `skip_calls`, `skip_after`); Kimi K2
  makes up each call's id as `functions.NAME:INDEX` (`{{index}}`) whatever id it was given, and heads a result with
  the `tool_call_id` it was given (`{{tool_call_id}}`; missing, it is empty, as the template writes it), followed by
  a backslash and an `n` (the template's `\\n` is outside `{{{{ }}}}`). Refused instead, with
  `UnsupportedFieldError`: arguments given as a mapping in DeepSeek R1 and V3.1 (their templates add the value to
  the text and raise; pass `json.dumps(arguments)`: the string is written as it is) and as a JSON string in Kimi K2
  (encoded twice); in R1, a non-empty content in a message with calls after the first such message (the template
  leaves it out); in R1 and V3.1, an empty `tool_calls` list (the template writes the end of a calls block in
  place of the content); in Kimi K2, a list of parts as the content of a message with calls, or a `tool_call_id`
  that is not a string, on a tool result (the template prints them as Python writes them). The DeepSeek templates
  write no tool definitions (the caller is expected to describe the tools in the system text), so `tools=` is
  refused by their formats rather than dropped.
- **Content as a list of parts.** Where a template writes such a list as its Python or JSON repr
  (Llama 3.x text models, Command A, GLM-4, CodeLlama, Jamba, Gemma 2, firefunction, a system message of
  Llama 3.2 Vision or DeepSeek-R1-Distill), keeps only its first part (a system message of several parts for
  Gemma 3 and Llama 4), or writes it as if the content were empty (Qwen3-Next, Seed-OSS), promptcraft refuses it
  with `UnsupportedFieldError` rather than copy the junk ("junk: parts" in the table). Where the template raises
  (most others), both refuse.
- **Parts a template leaves out.** Image and video parts are written as each template writes them: Qwen2.5-VL
  and Qwen3.5 `<|vision_start|><|image_pad|><|vision_end|>` (`<|video_pad|>` for videos, `Picture N: ` and
  `Video N: ` before them with `add_vision_id`), Gemma 3 `<start_of_image>`, Llama 3.2 Vision and Llama 4
  `<|image|>`, Kimi K2 its media placeholder and a line break. Llama 3.2 Vision leaves its dated system block
  out when a message has an image and there is no system message (`[system] default_unless = "images"`). A part
  the template writes nothing for is refused instead ("junk: part left out"): an `image_url` part or a part
  without a `type` for Gemma 3 and the Llama models (they test `type == 'image'`), a video for Gemma 3, the
  Llama models and Kimi K2, a `text` inside an image part, an unknown type. Qwen3.5 raises on media in a system
  message; promptcraft refuses it too.
- **Unknown variables.** Passing a keyword a format does not declare is an `OptionsError`;
  transformers ignores unknown template kwargs. (`tools` and `documents` are not variables: see above.)

## SmolLM3 and Nemotron Nano v2: what is declared, and what is refused

Both templates carry logic that reads message text: flags that switch reasoning on or off, text taken out
of messages, a last message written in another place. Each is declared as closed vocabulary, not as code:

- **The thinking mode** (`[thinking]`) is a fact variants test (`when = {{thinking = false}}`). SmolLM3 starts it
  from `enable_thinking` (a switch, default true) and lets the first message, when it is the system message,
  turn it off with `/no_think` or on with `/think` (looked for in that order); Nemotron Nano v2 starts it on and
  lets every user and system message switch it, in order, the last flag winning (`/think` looked for first);
  it reads no `enable_thinking`, so passing one is an `OptionsError` (transformers ignores it). The flags are
  taken out of the texts the templates take them out of (`remove`, in the templates' order: the order changes
  the result when taking one out makes the other).
- **SmolLM3's system turn**: the metadata block with today's date (`date`, `strftime_now("%d %B %Y")` as the
  template calls it; pass `date` to pin it) and the reasoning mode; the system text right-trimmed, or, when
  nothing is left (`default_when = "no_text"`), the default instructions of the mode. Without tools the turn is
  never closed, as in the template. A system text holding `/system_override` is written alone and closed
  (`[system.override]`); tool definitions are refused then, because the template leaves them out.
- **SmolLM3's tool definitions** are written as Python writes the dict (`item = "python_repr"`: single quotes,
  `True`, `None`, non-ASCII kept), one per line. Tool calls are never written by its template, so
  `tool_calls` is refused (`UnsupportedFieldError`), as in every format that does not declare them; tool
  results are user turns. The template variables `xml_tools` (which `tools` replaces) and `python_tools` are
  not declared: passing them is an `OptionsError`, never a silently different prompt.
- **Nemotron Nano v2**: an answer keeps what its first `</think>` closes up to the next one
  (`keep = "second_piece"`, the template's `split('</think>')[1]`); the last message, when it is the
  assistant's, is written whole after the reasoning marker, its calls in a turn of their own, and under a
  generation prompt it is the prompt's prefill, with no second prompt after it (`previous_message`); its
  calls are then refused (`[calls] refuse_when`), because the template leaves them out. Tool definitions are
  the unwrapped function objects in one list (`envelope = "function"`), calls one list after the answer,
  consecutive tool results one list written as given, grouped by the previous *message* whatever was written
  for it (a system message between two results, which the template does not write, still splits them). A
  conversation that is only a system message is refused, as the template fails on it (`refuse_alone`).
- **Content given as a list of parts** is refused by both: SmolLM3's template writes it as an empty string
  (junk), Nemotron's raises.

## Named tool_use templates

A model may ship several named templates; transformers renders its `tool_use` one whenever `tools` is not
`None` (an empty list too) and its `default` one otherwise. A format says so with `tool_use = "NAME"`, naming
the built-in format that serves the `tool_use` template (which lists the models in `tool_use_of`): `render`,
`render_spans` and `render_many` of the default format then hand every render given tools to it, and
`for_model` serves both. Its rows above (marked `tool_use`) render every case with tools, an empty list where a
case has none; the default format's rows are rendered by transformers holding both named templates.

- **Hermes 2 Pro / Hermes 3** (`hermes-3` names `hermes-3-tool-use`). The corpus holds the 70B's default
  template and the 8B's `tool_use` template (byte-identical to Hermes 2 Pro's); that the 70B ships the same
  `tool_use` template is an assumption (one tokenizer configuration across the Hermes 3 sizes), not checked
  here. The template writes each definition through its own rewrite (the `hermes` serialiser): the envelope
  built by hand and never closed, the description replaced by a Python docstring whose argument lines follow
  each other without a newline, an array typed `list[Union[]]`, a schema without a type `Union[]`, `{{}}` as
  the parameters of a tool without any. promptcraft writes all of that as the template does, and refuses
  (`UnsupportedFieldError` naming the field) a definition without a description or `parameters` (the
  template raises), with a type it does not know (`"null"` included, as in `["string", "null"]`: its type
  macro calls itself without end), or with a description that is not text. Refused as well: the content of
  a message with calls (the template leaves it out), an empty `tool_calls` list (the template writes a call
  turn without calls and without the content), roles other than system, user, assistant and tool (the
  template leaves them out but then reopens a tool turn after them), and a render without tools (the
  template raises).
- **Command R7B** (`command-r7b` names `command-r7b-tool-use`). Written: the always-present system turn
  (fixed system preamble, the tool-use instructions and definitions when the list is not empty, the default
  preamble, a non-empty leading system message as developer preamble; an empty one stays a SYSTEM turn),
  each definition through the `command_r7b` serialiser (`"responses": null` added, name and description
  spliced unescaped, a missing description empty), calls as an action turn numbered across the whole
  conversation (`{{number}}`: `"tool_call_id": "0"`, `"1"`, ...), consecutive results in one SYSTEM turn, each
  under the number of the first call whose `id` equals its `tool_call_id` (`{{call_number}}`), its content
  through `tojson`. A message's `tool_plan` is written as it is between `<|START_THINKING|>` and
  `<|END_THINKING|>` before its calls (`[reasoning] field = "tool_plan"`, `show = "given"`, span kind
  `reasoning`; missing, `None` or empty: an empty plan, as the template writes it; transformers does not alias
  `reasoning_content`, `thinking` or `reasoning` into it, and the format ignores those). Refused: a definition
  without its `function` envelope or `parameters` (the template raises), the content of a message with calls
  (left out by the template), a non-empty `tool_plan` on a message without calls or on another role (the
  template leaves it out there: *not read on this message* in the table) or that is not a string (the
  template writes `str()` of it), arguments given as a JSON string (encoded twice), calls without their
  `function` envelope (the template raises), a result without a `tool_call_id` or answering no call (the
  template writes an empty number) or answering a call another result answered (the template leaves one out),
  and roles the template matches case-insensitively (`User`) or leaves out. `enable_citations` and
  `documents` are not declared (an unknown variable, refused).
- **Command A** (`command-a`) has one template: Command R7B's tool_use template with the tools it is given
  set aside (`{{% set tools = [] %}}`), so its format refuses tools as not read and writes calls and results
  as the `command-r7b-tool-use` format does, with the same refusals (a result answering no call is
  *junk: answers no call* in the table: the template writes it under an empty number). With documents, the
  template writes them as call `"0"` and numbers the calls after them from `"1"` (`[documents]
  counts_as_call`), but numbers a result without them: the result of a call made after the documents would
  be written under the number of the call before it, so it is refused (`UnsupportedFieldError` naming its
  `tool_call_id`).
- **Command R+** (`command-r-plus` names `command-r-plus-tool-use`; Command R+ now has a format of its own, which
  writes what `command-r` writes without tools, because Command R 08-2024 and Aya Expanse do not share its
  `tool_use` template). Written: the system turn with the leading system message (or the default task
  description) as user preamble and the tools as fenced Python stubs (the `python_signature` serialiser:
  parameters not `required` as `Optional[T] = None`, the template's type names, `List[Union[]]` for any array),
  written even for an empty list; calls as an `Action:` JSON list after the trimmed content, their parameters
  as `tojson(indent=4)|indent(8)` writes them (`json_block`), with no end of turn after them, as the template
  writes it; results in `<results>` SYSTEM turns; the closing instruction turn. Refused: a render without tools
  (the template raises), a parameter without a description or an object without `additionalProperties` (the
  template raises), an unknown type (it loops), old-style `parameter_definitions` (another layout), arguments
  given as a JSON string (encoded twice), a value holding U+2028 (its `|indent` breaks the line there), an
  empty `tool_calls` list (an empty Action). Every public structured case has a parameter without a
  description, on which the template raises: both refuse them.

## Not served, and why

Every corpus file is served by a built-in format (the named `tool_use` templates through the formats that
name them); see the tables above for what each writes and refuses.

## Known gaps within served formats

- Message fields other than `role` and `content`: each format lists under `[message] ignore` the
  common fields (`name`, `tool_call_id`, `reasoning_content`, `thinking`, `reasoning`, `tools`) that its
  template provably leaves out (probed through transformers, and checked by
  `test_extra_fields_and_parts` on generated conversations); any other field is an
  `UnsupportedFieldError` naming the message and field. So the formats listed above whose templates write
  `tool_calls` or a reasoning field they do not declare yet refuse them. GLM-4 writes a message's `tools`
  and `metadata`, Phi-4-mini a system message's `tools` text, as their templates do. Jamba writes `name`
  as `(name)` after the role, as its template does, except on a leading system message, whose name its
  template leaves out: refused there.
- **GLM-4** reads tool definitions from a message's own `tools` field (`item['tools']`), never from
  `render(tools=...)`: the format writes them as the template does (`[tools] placement = "message"`: a system
  turn introducing the assistant, each function under `## name` as `tojson(indent=4)` (`item =
  "named_json"`) followed by the instruction to call it in JSON, just before the message that carries them,
  even where an empty content leaves that message out), and refuses tools given to `render` (the template
  leaves them out; the table's tools column gives them on the first message instead, *(on a message)*).
  A call is an assistant message whose `metadata` names the function (written after the role marker,
  `prefix = "<|{{role}}|>{{attach}}\\n"`) and whose content is the arguments; results are `observation` (or
  `tool`) messages, written as any role. Built-in tools (`{{"type": "python"}}`, `"simple_browser"`,
  `"cogview"`) are written as the template's fixed Chinese text for each, in their place among the
  definitions (`[tools] builtin`). Refused: an empty `tools` list (the template writes the heading alone), a
  definition whose type is none of these four or that has none (the template writes nothing for it), a
  built-in tool with another key (the template leaves it out: *junk: tool left out* in the table, as for an
  unknown type), a `metadata` that is not a
  string, or on a message with empty content (the template leaves the message out, metadata and all), and
  OpenAI-style `tool_calls` (the template never reads them: *not read* in the table). `parse_output` reads a
  call back as that metadata message ([Reading completions back](#reading-completions-back)).
- A reasoning value that is not a string is refused where a format writes the field: Qwen3's template raises on
  it, Qwen3-Next's and Qwen3.5's fall back to splitting the content.
- Tool results are checked on generated conversations with tool messages in any position (`test_tool_results`)
  besides the cases above; Qwen3.5 opens no turn for a tool message that comes first, as its template does.
- Tool definitions written by a named serialiser (Qwen3-Coder's XML, Seed-OSS's Python signatures, MiniCPM3's
  pydantic-style code) are refused where the template would write junk: a description that is not a string (its
  Python `None`), an `enum` or `required` that is not a list (written letter by letter, or not at all), and in
  MiniCPM3's code `Union[]` for an array without typed `items` or an object without properties (so most
  `object` and `array` parameters without them), or a class name the template never defines (an enum inside
  `items`). Definition keys the template does not read are refused unless the format lists them under
  `[tools] ignore` (Seed-OSS and MiniCPM3 list the common JSON schema keywords); a definition the template leaves
  out (a type other than `function`, Seed-OSS's and MiniCPM3's `return`, a `strict` flag) is refused.
- Qwen3-Coder and Seed-OSS write a call's values as Python's `str()` writes them (`True`, `None`,
  `{{'k': [1, 2]}}`), as their templates do and the models were trained on; MiniCPM3 writes them as JSON.
- MiniCPM3's template writes a `thought` field before the calls; the format does not declare it (it is not one
  of the fields transformers aliases for reasoning), so it is refused. The template leaves out the content of a
  message with calls when it starts with `<|tool_call_start|>`: such a content is refused.
- Mistral v0.3 and Nemo: a tool result's content is spliced into the template's JSON as it is, so only JSON text
  gives JSON (the formats copy that, as it is what the templates write; mistral-common quotes a plain string
  instead). Nemo's template says ids must be "alphanumeric strings with length 9" but checks only the length: so
  does the format (an id such as `call_0001` is written). Tool definitions whose descriptions span lines are
  refused by both formats (the templates would write a raw newline inside a JSON string). The Mistral Small 2501,
  Large 2411 and Mixtral 8x22B templates read no tools and no calls, and raise on tool messages.
- firefunction's `functions` (a template variable its template concatenates) is declared with a serialiser:
  JSON text is written as given, a list of definitions as `json.dumps` writes it (the model card passes
  `functions=json.dumps(functions)`; the test suite checks both forms against transformers given that text);
  a string that is not JSON, a mapping or any other value is an `OptionsError` (the template would write junk or
  fail). Its template also writes tool calls, which the format does not declare yet (refused).
- Template variables that select other text are declared where a format needs them (`enable_thinking`
  for Qwen3, Qwen3.5 and SmolLM3, `thinking` for DeepSeek V3.1 and Granite 3.2/3.3, `date_string`, gpt-oss's
  `model_identity` and `reasoning_effort`, Granite 3.2/3.3's `controls`, a mapping written as JSON in the
  generation prompt whose `citations` and `hallucinations` keys add to the default system prompt with
  documents); the equivalence tests give every switch both values on both sides. Command A's and Command
  R7B's `enable_citations` and Granite 3.3's `available_tools` (its template fills it from `tools`, which the
  format writes) are not declared, and passing one is an `OptionsError` rather than a silently different prompt.
- Jamba 1.6's `role_to_predict` (the role the generation prompt opens; an empty string is `assistant`, as the
  template's `or` has it) and `generation_preamble` (written after the prompt, after a space, unless blank:
  the template tests `strip() != ""`) are declared. A value that is not a string is an `OptionsError`: the
  template raises on one in the generation prompt, but without the prompt it never reads them, and it takes
  a falsy one (0) as the default; promptcraft refuses those rather than guess. Tested in
  `tests/test_variables_structured.py` (13 values, each with and without a system message, tools and the
  prompt): 120 prompts equal, 12 refused by both, 24 refused by promptcraft alone (5 and 0, as said).
  Not declared (an `OptionsError`): `knobs` (its "active output modes" block joins the documents in one
  system turn before the last user message, written also without documents, and its `citation_mode` and
  `response_format` are tested by value: documents and that turn are one mechanism today, which this needs
  split into parts of a turn chosen by a mapping's values, not built yet); a message's `citations`
  (written only with `knobs`, as a Python list repr of the `document_id`s); `default_system_message` (its
  text is written exactly as a leading system message's, so `Format.parse` could not tell the two apart:
  declared, it read a given system message back as the variable and dropped the message); `bom_str` and
  `eom_str` (they replace the turn markers in every turn, which the format declares as its control tokens
  and stop string: escaping, stop strings and parsing would all need the markers to be variables).
- Seed-OSS's `thinking_budget` is a number variable (`number = -1`): -1 (the default) adds nothing, 0 adds a
  fixed system turn after the system block (or first) and closes an empty reasoning block after the generation
  prompt, any other number a system turn writing the number twice and a reflection interval (`lookup`: the
  first of the gears 0, 512, ... 16384 the budget is at most; above 16384 or NaN, the last). The number is
  written as Jinja prints it, Python's `str()`: `512.0` stays `512.0`, `True` (which is 1 in the template's
  comparisons) is written `True`, `nan` and `inf` as such; `-0.0`, `0.0` and `False` equal 0, `-1.0` equals -1.
  A string, a list or any other value is an `OptionsError`, where the template's `thinking_budget <= k`
  raises (both refuse). One difference: `thinking_budget=None` is the default to promptcraft (None is "not
  given" for every variable), while the template compares None with a number and raises. Tested against
  transformers in `tests/test_variables_structured.py` over 28 numbers (every gear bound and its neighbours,
  floats, bools, NaN, infinities) and 7 junk values, each with and without a system message, tools and the
  generation prompt: 336 prompts equal (render, spans and the reference interpreter), 84 refused by both.
  Its `use_json_tooldef` (the tools as one JSON list after a fixed text) is not declared: passing it is an
  `OptionsError`.
- Documents: Command R7B's default template, given documents, renders a different template altogether (its
  retrieval flow: a system preamble of its own with tool-use instructions, untrimmed content, no alternation
  check, the documents as a tool result after the first user message); its format does not declare that
  and refuses documents. Command A writes them (a tool call and result after the first user message), and
  it sets any tools it is given aside, so its format refuses tools as not read. Granite 3.0, Command R and
  Aya do not read documents: refused. Where a template writes the documents with a user message and the
  conversation has none (Jamba, Command A), it leaves them out; promptcraft refuses them.
- Granite 3.0 writes tool results only under its own role name `tool_response` and leaves out a message of
  role `tool`, as any role it does not know; the format does the same (`[any_role] drop`).
- Content parts are taken for the roles each format lists under `[parts] roles`: the Gemma 3 and Llama vision
  templates write a list for any role they write (a later system message, a developer message), which their
  formats refuse as a list until those roles are listed. A part without a `type` that holds only a `text` is
  written by the templates that test the key (Qwen2.5-VL, Qwen3.5, Kimi K2) and refused by the others, which
  leave it out. Audio parts are read by no corpus template and refused everywhere.
- Command A and Command R7B lower-case role names in their templates, so they also accept `"User"`;
  the formats declare the lower-case roles only and refuse other spellings.
"""
    text += parse_section(pathlib.Path(args.output)) + exported_section(pathlib.Path(args.output))
    pathlib.Path(args.output).write_text(text, encoding="utf-8")
    different = sum(1 for _, _, cell in problems if cell.different) + sum(
        1 for (_, feature) in examples if feature == "public structured")
    outside = sum(1 for _, _, cell in problems if cell.other_refusals)
    print(f"promptcraft from {pathlib.Path(promptcraft.__file__).parent}")
    print(f"wrote {args.output}: {covered} of {len(rows)} corpus files served; {args.structured} structured cases "
          f"per feature per template; cells with a different string: {different}; with a refusal outside the "
          f"contract: {outside}; {elapsed:.0f} s")
    for line in disagreements + refusals:
        print(line)


def parse_section(path: pathlib.Path) -> str:
    """The "Reading prompts back" section, kept as it is: tests/make_parse_report.py writes it."""
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    at = old.find("\n## Reading prompts back")
    if at < 0:
        return ""
    end = old.find("\n## ", at + 1)
    return old[at:end] if end >= 0 else old[at:]


def exported_section(path: pathlib.Path) -> str:
    """The "Export to Jinja" section, kept as it is: tests/make_export_report.py writes its counts."""
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    at = old.find("\n## Export to Jinja")
    return old[at:] if at >= 0 else ""


if __name__ == "__main__":
    main()
