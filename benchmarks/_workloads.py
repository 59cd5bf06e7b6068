"""Deterministic benchmark inputs, shared by ``run.py`` and every worker.

Standard library only: the engines' workers import this module, and it must
not pull promptcraft, Jinja or transformers into a process that is measuring
one of the others.

Message texts are English-like prose with occasional lists, code blocks and
non-ASCII words, at lengths drawn log-uniformly from ranges typical of chat
data (a user turn is usually a few sentences, an assistant turn a few
paragraphs). The same seed always gives the same conversations.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import pathlib
import random
from typing import Any, Dict, List, Optional, Tuple

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent

#: Characters per message, drawn log-uniformly between these bounds.
LENGTHS = {"system": (120, 600), "user": (20, 800), "assistant": (80, 2500)}
#: The "short" style: brief ASCII-only turns, like the baseline in notes/peers.md section 2c.
SHORT_LENGTHS = {"system": (30, 80), "user": (15, 80), "assistant": (30, 200)}
SHORT = "-short"

#: The workload key of the agent conversation (``agent``).
AGENT = "agent"

#: What formats that refuse a system message get instead of one (see ``shape``).
WITH_SYSTEM = "system"
NO_SYSTEM = "no-system"

_WORDS = (
    "the of and to in is that it for as with was on be by this are or from at an which not have but "
    "all can has more one there were their will would about if when so what out up into them these "
    "time only some could other than then its also two way may first new because any most over such "
    "make like use used between well should each how where after both through many those must while "
    "model token prompt answer question data value function list string number file table result "
    "error system user message format template render python server request response memory cache "
    "training dataset batch layer output input example step reason simple careful detail small large"
).split()
_ODD = ["café", "naïve", "über", "façade", "日本語", "données", "Zürich", "résumé", "🙂", "—", "“quoted”"]
_CODE = [
    "def add(a, b):\n    return a + b",
    "for item in items:\n    print(item)",
    "SELECT name, count(*) FROM users GROUP BY name;",
    "x = [i * i for i in range(10)]",
    "if (err != nil) {\n    return err\n}",
]


def corpus_dir() -> pathlib.Path:
    """The template corpus: ``$PROMPTCRAFT_CORPUS``, else ``../shared/chat-templates`` from the repository root."""
    return pathlib.Path(os.environ.get("PROMPTCRAFT_CORPUS", ROOT.parent / "shared" / "chat-templates"))


def corpus_index(corpus: Optional[pathlib.Path] = None) -> Dict[str, str]:
    """Model id -> corpus file stem; a model's default template wins over its named variants."""
    corpus = corpus or corpus_dir()
    index: Dict[str, str] = {}
    for path in sorted(corpus.glob("*.json")):
        model = json.loads(path.read_text(encoding="utf-8"))["model"]
        default = path.stem == model.replace("/", "--")
        if default or model not in index:
            index[model] = path.stem
    return index


def corpus_entry(stem: str, corpus: Optional[pathlib.Path] = None) -> dict:
    return json.loads(((corpus or corpus_dir()) / f"{stem}.json").read_text(encoding="utf-8"))


def digest(text: str) -> str:
    """A short fingerprint of a rendered prompt (for checking large batches across processes)."""
    return hashlib.blake2b(text.encode("utf-8"), digest_size=8).hexdigest()


def _sentence(rng: random.Random) -> str:
    words = [rng.choice(_WORDS) for _ in range(rng.randint(5, 18))]
    if rng.random() < 0.25:
        words[rng.randrange(len(words))] = rng.choice(_ODD)
    words[0] = words[0].capitalize()
    return " ".join(words) + rng.choice(".....?!")


def text(rng: random.Random, role: str, short: bool = False) -> str:
    """One message's content for ``role``, of a length typical for that role; ``short``:
    a brief ASCII-only message instead."""
    low, high = (SHORT_LENGTHS if short else LENGTHS)[role]
    target = int(math.exp(rng.uniform(math.log(low), math.log(high))))
    if short:
        words = []
        while sum(len(w) + 1 for w in words) < target:
            words.append(rng.choice(_WORDS))
        return " ".join(words).capitalize() + rng.choice(".?!")
    paragraphs: List[str] = []
    size = 0
    while size < target:
        roll = rng.random()
        if role == "assistant" and roll < 0.08:
            block = "```\n" + rng.choice(_CODE) + "\n```"
        elif role == "assistant" and roll < 0.16:
            block = "\n".join(f"- {_sentence(rng)}" for _ in range(rng.randint(2, 4)))
        else:
            block = " ".join(_sentence(rng) for _ in range(rng.randint(1, 4)))
        paragraphs.append(block)
        size += len(block) + 2
    content = "\n\n".join(paragraphs)
    if role == "assistant" and rng.random() < 0.1:
        content += "\n"  # trailing newlines do occur in real data; trimming formats strip them
    return content


def workload(key: str, shape: str) -> List[Dict[str, Any]]:
    """The conversation a workload key names: ``"11"`` (11 messages of realistic length),
    ``"11-short"`` (11 brief ASCII messages) or ``AGENT`` (the messages of ``agent()``, which
    has a system message whatever the shape: only formats that write tools get it)."""
    if key == AGENT:
        return agent()[0]
    if key.endswith(SHORT):
        return conversation(int(key[: -len(SHORT)]), shape, short=True)
    return conversation(int(key), shape)


def size_of(key: str) -> int:
    return int(key[: -len(SHORT)] if key.endswith(SHORT) else key)


def conversation(size: int, shape: str, seed: int = 0, short: bool = False) -> List[Dict[str, str]]:
    """``size`` messages: one user message when ``size`` is 1; otherwise a system message and
    alternating user/assistant turns (``shape == WITH_SYSTEM``), or alternating turns
    starting with the user (``NO_SYSTEM``, for formats that refuse a system message)."""
    rng = random.Random(f"conversation-{size}-{seed}{SHORT if short else ''}")
    if size == 1:
        return [{"role": "user", "content": text(rng, "user", short)}]
    # Both shapes are cut from one sequence (system, user, assistant, ..., user), so they share
    # their turns and a format without a system message is not measured on other text lengths.
    sequence = [{"role": "system", "content": text(rng, "system", short)}]
    for i in range(size):
        role = "user" if i % 2 == 0 else "assistant"
        sequence.append({"role": role, "content": text(rng, role, short)})
    return sequence[:size] if shape == WITH_SYSTEM else sequence[1:]


def dataset(count: int, shape: str, seed: int = 0) -> List[List[Dict[str, str]]]:
    """``count`` training-style conversations (1-4 user/assistant pairs, ending with the
    assistant; a system message in 70% of them when ``shape`` allows one).

    Texts come from a fixed pool, as repeated prompts do in real data; every
    conversation and message dict is its own object.
    """
    rng = random.Random(f"dataset-{seed}")
    pool = {role: [text(rng, role) for _ in range(n)]
            for role, n in (("system", 64), ("user", 3000), ("assistant", 3000))}
    out = []
    for _ in range(count):
        messages = []
        if shape == WITH_SYSTEM and rng.random() < 0.7:
            messages.append({"role": "system", "content": rng.choice(pool["system"])})
        for _ in range(rng.randint(1, 4)):
            messages.append({"role": "user", "content": rng.choice(pool["user"])})
            messages.append({"role": "assistant", "content": rng.choice(pool["assistant"])})
        out.append(messages)
    return out


def agent_tools() -> List[Dict[str, Any]]:
    """Four tool definitions as an agent framework sends them (OpenAI style): nested object and
    array schemas, enums, and descriptions with non-ASCII text, ``<``, ``&`` and both kinds of
    quotes, which a tool writer must neither escape nor transliterate."""
    def tool(name: str, description: str, properties: Dict[str, Any], required: List[str]) -> Dict[str, Any]:
        return {"type": "function", "function": {"name": name, "description": description, "parameters": {
            "type": "object", "properties": properties, "required": required}}}

    money = {"type": "object", "properties": {
        "amount": {"type": "number", "minimum": 0},
        "currency": {"type": "string", "pattern": "^[A-Z]{3}$", "description": "ISO 4217 code, e.g. \"EUR\""},
    }, "required": ["amount", "currency"]}
    return [
        tool("get_weather",
             "Current weather and a forecast of up to 7 days for a place. Temperatures are in °C unless `unit` "
             "says otherwise; a station that reports < 3 readings a day returns \"n/a\" for that day.",
             {"location": {"type": "object", "description": "Where: a city (and country) or coordinates.",
                           "properties": {
                               "city": {"type": "string", "description": "City name as written locally, e.g. "
                                                                         "'Zürich' or '東京'"},
                               "country": {"type": "string", "description": "ISO 3166-1 alpha-2 code"},
                               "coordinates": {"type": "object", "properties": {
                                   "lat": {"type": "number", "minimum": -90, "maximum": 90},
                                   "lon": {"type": "number", "minimum": -180, "maximum": 180}}},
                           }},
              "unit": {"type": "string", "enum": ["celsius", "fahrenheit"], "default": "celsius"},
              "days": {"type": "integer", "minimum": 1, "maximum": 7, "default": 3}},
             ["location"]),
        tool("search_flights",
             "Search direct & connecting flights between two airports. Results with a price < 1 000 € come first; "
             "dates are ISO 8601 (\"YYYY-MM-DD\") in the departure airport's time zone.",
             {"origin": {"type": "string", "description": "IATA code of the departure airport, e.g. \"ZRH\""},
              "destination": {"type": "string", "description": "IATA code of the arrival airport"},
              "departure_date": {"type": "string", "format": "date"},
              "return_date": {"type": "string", "format": "date", "description": "Omit for a one-way trip."},
              "passengers": {"type": "object", "properties": {
                  "adults": {"type": "integer", "minimum": 1, "default": 1},
                  "children": {"type": "integer", "minimum": 0, "description": "Aged 2–11"},
                  "infants": {"type": "integer", "minimum": 0, "description": "Under 2, on an adult's lap"}},
                  "required": ["adults"]},
              "cabin": {"type": "string", "enum": ["economy", "premium_economy", "business", "first"]},
              "filters": {"type": "object", "properties": {
                  "max_stops": {"type": "integer", "minimum": 0, "maximum": 3},
                  "airlines": {"type": "array", "items": {"type": "string"}, "description": "IATA airline codes"},
                  "max_price": money}}},
             ["origin", "destination", "departure_date"]),
        tool("convert_currency",
             "Convert an amount between currencies at today's mid-market rate — e.g. 100 CHF → ¥ (JPY). "
             "Rates are refreshed every 15 min; don't use it for amounts > 1 000 000.",
             {"amount": {"type": "number", "exclusiveMinimum": 0},
              "from": {"type": "string", "pattern": "^[A-Z]{3}$"},
              "to": {"type": "string", "pattern": "^[A-Z]{3}$"}},
             ["amount", "from", "to"]),
        tool("search_hotels",
             "Find hotels near a place: a landmark ('Tour Eiffel', 渋谷駅) or an address. Results are sorted by "
             "price & rating; use <price_range> to drop the ones you can't afford.",
             {"near": {"type": "string"},
              "check_in": {"type": "string", "format": "date"},
              "check_out": {"type": "string", "format": "date"},
              "rooms": {"type": "array", "minItems": 1, "items": {"type": "object", "properties": {
                  "type": {"type": "string", "enum": ["single", "double", "twin", "suite"]},
                  "guests": {"type": "integer", "minimum": 1, "maximum": 4}}, "required": ["type"]}},
              "amenities": {"type": "array", "items": {"type": "string", "enum": [
                  "wifi", "breakfast", "gym", "pool", "onsen", "parking"]}},
              "price_range": {"type": "object", "description": "Per night, taxes included.", "properties": {
                  "min": money, "max": money}}},
             ["near", "check_in", "check_out"]),
    ]


def agent() -> Tuple[List[Dict[str, Any]], List[Dict[str, Any]]]:
    """An agent turn: (messages, tools). A system message, a user question, an assistant turn
    that calls two tools at once (arguments as dicts, with ids, and ``""`` as content, as OpenAI
    clients send it), both results (role ``tool``, with ``tool_call_id`` and ``name``), the
    assistant's answer and the user's next question. New objects on every call."""
    weather = {"location": "Tokyo, JP", "current": {"temp_c": 31.4, "condition": "humid & sunny", "humidity": 0.78},
               "forecast": [{"date": "2024-08-14", "high_c": 33, "low_c": 26, "condition": "sunny"},
                            {"date": "2024-08-15", "high_c": 32, "low_c": 26, "condition": "cloudy"},
                            {"date": "2024-08-16", "high_c": 29, "low_c": 25, "condition": "thunderstorms"}]}
    rate = {"amount": 1200, "from": "CHF", "to": "JPY", "rate": 171.85, "result": 206220.0,
            "as_of": "2024-07-26T10:00:00Z"}
    messages: List[Dict[str, Any]] = [
        {"role": "system", "content": "You are Atlas, the travel assistant of Contoso Travel & Tours. Answer in the "
                                      "user's language, give prices in the currency they ask for, and call a tool "
                                      "whenever the answer depends on data that changes (weather, fares, rates). "
                                      "Never invent a booking reference."},
        {"role": "user", "content": "My partner and I fly from Zürich to Tokyo on 14 August. What will the weather "
                                    "be like for our first three days, and how much is 1 200 CHF in yen?"},
        {"role": "assistant", "content": "", "tool_calls": [
            {"type": "function", "id": "call_8f2a1c", "function": {"name": "get_weather", "arguments": {
                "location": {"city": "Tokyo", "country": "JP"}, "unit": "celsius", "days": 3}}},
            {"type": "function", "id": "call_3b7e90", "function": {"name": "convert_currency", "arguments": {
                "amount": 1200, "from": "CHF", "to": "JPY"}}},
        ]},
        {"role": "tool", "tool_call_id": "call_8f2a1c", "name": "get_weather",
         "content": json.dumps(weather, ensure_ascii=False)},
        {"role": "tool", "tool_call_id": "call_3b7e90", "name": "convert_currency",
         "content": json.dumps(rate, ensure_ascii=False)},
        {"role": "assistant", "content": "Expect hot, humid days in Tokyo: about 31 °C when you land on the 14th, "
                                         "33 °C at most, and thunderstorms are likely on the 16th, so pack an "
                                         "umbrella.\n\nAt today's mid-market rate (1 CHF = 171.85 JPY), 1 200 CHF "
                                         "is about ¥206,220; your bank's rate will be a little lower."},
        {"role": "user", "content": "Great — can you find us a double room near Shibuya for 14–18 August, "
                                    "under ¥25,000 a night with breakfast?"},
    ]
    return messages, agent_tools()


def first_difference(expected: str, got: str) -> str:
    """Where two renders part, with a little context on each side."""
    n = next((i for i, (a, b) in enumerate(zip(expected, got)) if a != b), min(len(expected), len(got)))
    return (
        f"first difference at offset {n} (lengths {len(expected)} vs {len(got)}): "
        f"transformers {expected[max(0, n - 30):n + 30]!r} vs {got[max(0, n - 30):n + 30]!r}"
    )
