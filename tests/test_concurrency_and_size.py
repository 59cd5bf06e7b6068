"""Concurrency and size: threads, process pools, pinned dates, huge conversations.

- 8 threads rendering (and compiling) at once give exactly the serial results;
- a pickled ``Format`` renders identically in spawn and fork process pools,
  and errors come back with their attributes;
- pinning a date variable makes renders identical across calls;
- a 100,000-message conversation and a single 10 MB message render without
  RecursionError, with the expected structure, in roughly linear time.
"""

from __future__ import annotations

import datetime
import multiprocessing
import pickle
import random
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, Dict, List

import pytest
from hostile_support import COUNTS, NASTY_CONTENT, count_report, outcome, pinned_values
from mp_render_worker import render_batch

import promptcraft
from promptcraft._engine import reference

_counts = count_report("concurrency")

NAMES = promptcraft.list_formats()
ROLES = ["system", "user", "assistant", "user", "assistant", "tool", "stranger"]


def pinned(fmt: Any) -> Dict[str, Any]:
    return pinned_values(fmt)


def random_conversations(seed: int, count: int) -> List[Any]:
    rng = random.Random(seed)
    conversations: List[Any] = []
    for _ in range(count):
        if rng.random() < 0.6:
            sequence = (["system"] if rng.random() < 0.5 else []) + [
                "user" if i % 2 == 0 else "assistant" for i in range(rng.randint(1, 6))]
        else:
            sequence = [rng.choice(ROLES) for _ in range(rng.randint(0, 5))]
        conversation: List[Any] = [{"role": r, "content": rng.choice(NASTY_CONTENT)} for r in sequence]
        if conversation and rng.random() < 0.05:
            conversation[rng.randrange(len(conversation))] = {"role": "user", "content": 5}
        conversations.append(conversation)
    return conversations


OPTIONS = [dict(add_generation_prompt=False), dict(add_generation_prompt=True), dict(continue_final_message=True),
           dict(add_generation_prompt=True, control_tokens="escape"), dict(control_tokens="reject")]


def serial(fmt: Any, conversations: List[Any], options: Dict[str, Any]) -> List[Any]:
    return [outcome(partial(fmt.render, c, **options, **pinned(fmt))) for c in conversations]


def test_threads_render_like_serial():
    """ThreadPoolExecutor(8) rendering every format at once gives exactly the serial results."""
    conversations = random_conversations(1, 60)
    jobs = [(name, i) for name in NAMES for i in range(len(OPTIONS))]
    expected = {(name, i): serial(promptcraft.get_format(name), conversations, OPTIONS[i]) for name, i in jobs}

    def work(job):
        name, i = job
        return job, serial(promptcraft.get_format(name), conversations, OPTIONS[i])

    with ThreadPoolExecutor(8) as pool:
        for _ in range(2):
            results = dict(pool.map(work, jobs * 2))
            assert results == expected
    COUNTS["concurrency.threaded_renders"] += 4 * len(jobs) * len(conversations)


def test_threads_compile_and_render_fresh_formats():
    """Eight threads loading and compiling the same and different format texts at once all get working renderers."""
    texts = [
        f'name = "t{i % 4}"\n[any_role]\nprefix = "<{i % 4}|{{role}}>"\nsuffix = "</>"\n[generation]\nprompt = "go"\n'
        for i in range(64)
    ]
    chat = [{"role": "user", "content": "hi"}]

    def work(text):
        fmt = promptcraft.loads_format(text)
        return fmt.name, fmt.render(chat, add_generation_prompt=True), fmt.source

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(work, texts))
    for text, (name, prompt, source) in zip(texts, results):
        tag = name[1:]
        assert prompt == f"<{tag}|user>hi</>go"
        assert source == promptcraft.loads_format(text).source


def test_builtin_registry_is_thread_safe():
    """Many threads asking for formats and models at once get the same objects."""
    with ThreadPoolExecutor(8) as pool:
        found = list(pool.map(promptcraft.get_format, NAMES * 8))
    assert [f.name for f in found] == NAMES * 8
    assert all(f is promptcraft.get_format(f.name) for f in found)


CUSTOM = ('name = "custom"\n[system]\nplacement = "fold_first"\nfold = "[{system}] {content}"\n'
          '[alternation]\nmessage = "alternate"\n[roles.user]\nprefix = "U:"\nsuffix = "\\n"\ntrim = "both"\n'
          '[any_role]\nprefix = "{role}:"\nsuffix = "\\n"\n[generation]\nprompt = "assistant:"\n')


@pytest.mark.parametrize("context", ["spawn", "fork"])
def test_process_pool_with_pickled_formats(context):
    """A pickled Format (built-in or loaded from text) renders in a Pool(2) exactly as here; errors come back whole."""
    if context not in multiprocessing.get_all_start_methods():
        pytest.skip(f"{context} is not available on {sys.platform}")
    formats = [promptcraft.get_format(n) for n in NAMES] + [promptcraft.loads_format(CUSTOM, path="custom.toml")]
    for fmt in formats:
        again = pickle.loads(pickle.dumps(fmt))
        assert again == fmt and again.source == fmt.source
    conversations = random_conversations(2, 25)
    jobs = [(fmt, conversations, {**options, **pinned(fmt)}) for fmt in formats for options in OPTIONS[:3]]
    with multiprocessing.get_context(context).Pool(2) as pool:
        results = pool.map(render_batch, jobs, chunksize=8)
    for (fmt, conversations, options), got in zip(jobs, results):
        want = render_batch((fmt, conversations, options))
        for a, b in zip(got, want):
            if isinstance(b, Exception):
                assert type(a) is type(b) and str(a) == str(b)
                assert getattr(a, "index", None) == getattr(b, "index", None)
                assert getattr(a, "role", None) == getattr(b, "role", None)
            else:
                assert a == b
        COUNTS["concurrency.process_pool_renders"] += len(got)


@pytest.mark.parametrize("name", [n for n in NAMES if promptcraft.get_format(n).variables] or ["llama-3.2"])
def test_pinned_date_is_deterministic(name):
    """With date variables pinned, every call gives the same prompt; unpinned, today's date as strftime gives it."""
    fmt = promptcraft.get_format(name)
    chat = [{"role": "system", "content": "S"}, {"role": "user", "content": "U"}]
    first = fmt.render(chat, add_generation_prompt=True, **pinned(fmt))
    assert all(fmt.render(chat, add_generation_prompt=True, **pinned(fmt)) == first for _ in range(50))
    assert fmt.render_many([chat] * 20, add_generation_prompt=True, **pinned(fmt)) == [first] * 20
    required = {v.name: '"R"' if v.serialiser else "R" for v in fmt.spec.variables if getattr(v, "required", False)}
    for _ in range(2):  # the date may change between two calls at midnight: then once more
        today = {v.name: datetime.datetime.now().strftime(v.strftime) for v in fmt.spec.variables if v.strftime}
        unpinned = fmt.render(chat, add_generation_prompt=True, **required)
        if unpinned == fmt.render(chat, add_generation_prompt=True, **required, **today):
            break
    else:
        pytest.fail("an unpinned render differs from the render pinned to today's date")


def long_chat(n: int) -> List[Dict[str, str]]:
    return [{"role": "user" if i % 2 == 0 else "assistant", "content": f"<{i}>"} for i in range(n)]


def in_order(text: str, pieces: List[str]) -> bool:
    position = 0
    for piece in pieces:
        position = text.find(piece, position)
        if position < 0:
            return False
        position += len(piece)
    return True


@pytest.mark.parametrize("name", NAMES)
def test_hundred_thousand_messages(name):
    """100,000 alternating messages render (no RecursionError) with every message's content, in order."""
    fmt = promptcraft.get_format(name)
    chat = long_chat(100_000)
    result = outcome(lambda: fmt.render(chat, add_generation_prompt=True, **pinned(fmt)))
    COUNTS["concurrency.huge_renders"] += 1
    if isinstance(result, tuple):
        # a format may refuse the conversation (it must say which message), but never crash on its size
        assert result[0] in ("RefusedError",), result
        assert result[2] is not None and 0 <= result[2] < len(chat)
        return
    assert in_order(result, [m["content"] for m in chat])
    short = fmt.render(chat[:2], add_generation_prompt=True, **pinned(fmt))
    assert result.startswith(short[: short.index("<0>")])


@pytest.mark.parametrize("name", ["llama-2", "smollm2", "llama-3.1"])
def test_hundred_thousand_messages_slow_paths(name):
    """The reference fallback and continue_final_message also take 100,000 messages, and name the bad one."""
    fmt = promptcraft.get_format(name)
    chat = long_chat(100_000)
    chat[-2] = {"role": "user", "content": None}
    with pytest.raises(promptcraft.InvalidMessageError) as caught:
        fmt.render(chat, **pinned(fmt))
    assert (caught.value.index, caught.value.role) == (99_998, "user")
    chat = long_chat(100_000)
    continued = outcome(lambda: fmt.render(chat, continue_final_message=True, **pinned(fmt)))
    if isinstance(continued, str):
        assert continued.rstrip().endswith("<99999>")
    values = pinned(fmt)
    tools = values.pop("tools", None)
    assert outcome(lambda: reference.render(fmt.spec, chat, False, values, tools)) == \
        outcome(lambda: fmt.render(chat, **pinned(fmt)))


BIG = "0123456789abcdef" * 655_360
POLICY_FORMATS = {"smollm2", "llama-2", "llama-3.1", "gemma-2", "mistral-v0.1"}


@pytest.mark.parametrize("name", NAMES)
def test_ten_megabyte_message(name):
    """A single 10 MB message renders whole (with every control-token policy on a few formats)."""
    fmt = promptcraft.get_format(name)
    big = BIG
    assert len(big) >= 10_000_000
    chat = [{"role": "user", "content": big}]
    for policy in ("keep", "reject", "escape") if name in POLICY_FORMATS else ("keep",):
        result = outcome(partial(fmt.render, chat, add_generation_prompt=True, control_tokens=policy, **pinned(fmt)))
        assert isinstance(result, str), result
        assert big in result
        assert len(result) - len(big) < 10_000
    tokens = [t for t in fmt.control_tokens if len(t) > 1]
    if tokens and name in POLICY_FORMATS:
        dirty = [{"role": "user", "content": big + tokens[0] + big[:1000]}]
        escaped = fmt.render(dirty, control_tokens="escape", **pinned(fmt))
        assert big in escaped and len(escaped) >= len(dirty[0]["content"])
        with pytest.raises(promptcraft.ControlTokenError) as caught:
            fmt.render(dirty, control_tokens="reject", **pinned(fmt))
        assert caught.value.index == 0


def best_time(fn, repeat=3) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def test_time_grows_roughly_linearly():
    """Sanity bound only: 200k messages take less than 15x the time of 40k (linear is 5x, quadratic 25x).
    Both sizes are past the CPU caches (10k messages fit in them and render disproportionately fast)."""
    fmt = promptcraft.get_format("llama-3.1")
    small, large = long_chat(40_000), long_chat(200_000)
    t_small = max(best_time(lambda: fmt.render(small, **pinned(fmt))), 1e-3)
    t_large = best_time(lambda: fmt.render(large, **pinned(fmt)))
    assert t_large / t_small < 15, (t_small, t_large)
