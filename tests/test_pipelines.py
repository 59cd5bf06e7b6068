"""Data pipelines: a Format ships to worker processes by pickle and renders there, through a Hugging Face
``datasets`` map with two processes and through Dask (the ``dist`` extra) with its process scheduler."""

from __future__ import annotations

import json
import os

import pytest
from hf_reference import PUBLIC_CASES

import promptcraft

FORMAT = "qwen2.5"


def text_conversations():
    cases = json.loads(PUBLIC_CASES.read_text(encoding="utf-8")) if PUBLIC_CASES.exists() else []
    chats = [[{"role": m["role"], "content": m["content"]} for m in case["messages"]]
             for case in cases if all(isinstance(m.get("content"), str) and set(m) == {"role", "content"}
                                      for m in case["messages"])]
    # enough rows that both workers get some, each row a valid conversation for the format
    chats = [c for c in chats if c] * 4 or [[{"role": "user", "content": f"question {i}"}] for i in range(64)]
    return chats


def require(module):
    if os.environ.get("CI"):  # the dist extra is installed by the README's test command
        import importlib

        return importlib.import_module(module)
    return pytest.importorskip(module)


def render_rows(batch):
    fmt = promptcraft.get_format(FORMAT)
    results = fmt.render_many(batch["messages"], add_generation_prompt=True, errors="collect")
    return {"prompt": [r if isinstance(r, str) else None for r in results],
            "error": [None if isinstance(r, str) else str(r) for r in results]}


def test_datasets_map_batched_with_two_processes():
    datasets = require("datasets")
    chats = text_conversations()
    dataset = datasets.Dataset.from_dict({"messages": chats})
    mapped = dataset.map(render_rows, batched=True, batch_size=16, num_proc=2)
    fmt = promptcraft.get_format(FORMAT)
    want = fmt.render_many(chats, add_generation_prompt=True, errors="collect")
    assert mapped["prompt"] == [w if isinstance(w, str) else None for w in want]
    assert sum(p is not None for p in mapped["prompt"]) >= len(chats) // 2


def render_partition(fmt, chats):
    return fmt.render_many(list(chats), add_generation_prompt=True, errors="collect")


def test_dask_bag_with_the_process_scheduler():
    bag = require("dask.bag")
    chats = text_conversations()
    fmt = promptcraft.get_format(FORMAT)  # pickled to the workers with each task
    got = bag.from_sequence(chats, npartitions=4).map_partitions(
        lambda part: render_partition(fmt, part)).compute(scheduler="processes", num_workers=2)
    want = fmt.render_many(chats, add_generation_prompt=True, errors="collect")
    assert [g if isinstance(g, str) else str(g) for g in got] == [w if isinstance(w, str) else str(w) for w in want]


def test_a_user_format_ships_by_value():
    """A format loaded from TOML text pickles as its declaration: the worker needs no file."""
    import pickle

    fmt = promptcraft.loads_format('name = "tiny"\n[roles.user]\nprefix = "U: "\nsuffix = "\\n"\n')
    clone = pickle.loads(pickle.dumps(fmt))
    assert clone.render([{"role": "user", "content": "hi"}]) == "U: hi\n"
