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
from typing import Dict, List, Optional

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent

#: Characters per message, drawn log-uniformly between these bounds.
LENGTHS = {"system": (120, 600), "user": (20, 800), "assistant": (80, 2500)}
#: The "short" style: brief ASCII-only turns, like the baseline in notes/peers.md section 2c.
SHORT_LENGTHS = {"system": (30, 80), "user": (15, 80), "assistant": (30, 200)}
SHORT = "-short"

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


def workload(key: str, shape: str) -> List[Dict[str, str]]:
    """The conversation a workload key names: ``"11"`` (11 messages of realistic length) or
    ``"11-short"`` (11 brief ASCII messages)."""
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


def first_difference(expected: str, got: str) -> str:
    """Where two renders part, with a little context on each side."""
    n = next((i for i, (a, b) in enumerate(zip(expected, got)) if a != b), min(len(expected), len(got)))
    return (
        f"first difference at offset {n} (lengths {len(expected)} vs {len(got)}): "
        f"transformers {expected[max(0, n - 30):n + 30]!r} vs {got[max(0, n - 30):n + 30]!r}"
    )
