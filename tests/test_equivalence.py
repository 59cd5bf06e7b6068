"""Byte-for-byte equivalence with transformers' apply_chat_template, per corpus model.

Every corpus template whose model a built-in format declares is checked on the
public cases and on hypothesis-generated conversations. Equivalent means the
same string, or both sides refuse.
"""

from __future__ import annotations

import json
import os

import pytest
from conftest import require_corpus, require_transformers
from hf_reference import CORPUS, PUBLIC_CASES, Refused, hf_render
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import conversations, extra_conversations, flags

import promptcraft

EXAMPLES = int(os.environ.get("PROMPTCRAFT_EXAMPLES", "500"))
PINNED_DATE = "05 Mar 2025"
#: Values given to both sides for the variables a format declares (dates pinned).
VARIABLES = {"date_string": PINNED_DATE, "functions": '[{"name": "get_weather", "parameters": {}}]',
             "datetime": "2025-03-05 10:00"}

#: Known, documented divergences: (corpus stem, case id) -> reason. Listed in COMPATIBILITY.md.
KNOWN_DIVERGENCES: dict = {}


def corpus_pairs():
    """(format name, corpus stem) for every corpus model served by a built-in format."""
    if not CORPUS.is_dir():
        return []
    index = {}
    for name in promptcraft.list_formats():
        for model in promptcraft.get_format(name).models:
            index[model] = name
    pairs = []
    for path in sorted(CORPUS.glob("*.json")):
        model = json.loads(path.read_text(encoding="utf-8"))["model"]
        if model in index and "--tool_use" not in path.stem:
            pairs.append((index[model], path.stem))
    return pairs


PAIRS = corpus_pairs()
IDS = [stem for _, stem in PAIRS]


def tool_use_pairs():
    """(format name, corpus stem) for every named ``tool_use`` template a built-in format serves
    (``tool_use_of``), one stem per distinct template."""
    if not CORPUS.is_dir():
        return []
    index = {}
    for name in promptcraft.list_formats():
        for model in promptcraft.get_format(name).spec.tool_use_of:
            index[model] = name
    pairs, seen = [], set()
    for path in sorted(CORPUS.glob("*--tool_use.json")):
        entry = json.loads(path.read_text(encoding="utf-8"))
        if entry["model"] in index and entry["chat_template"] not in seen:
            seen.add(entry["chat_template"])
            pairs.append((index[entry["model"]], path.stem))
    return pairs


#: Named tool_use templates: transformers renders them only when tools are given (test_structured).
TOOL_USE_PAIRS = tool_use_pairs()


def outcome(render, *args, **kwargs):
    try:
        return render(*args, **kwargs)
    except (Refused, promptcraft.PromptcraftError) as error:
        return ("refused", type(error).__name__)


def check(name, stem, messages, add_generation_prompt, continue_final_message, switches=None):
    fmt = promptcraft.get_format(name)
    variables = {k: v for k, v in VARIABLES.items() if k in fmt.variables}
    variables.update(switches or {})
    opts = dict(add_generation_prompt=add_generation_prompt, continue_final_message=continue_final_message)
    want = outcome(hf_render, stem, messages, **opts, **variables)
    got = outcome(fmt.render, messages, **opts, **variables)
    if isinstance(want, tuple) or isinstance(got, tuple):
        assert isinstance(want, tuple) and isinstance(got, tuple), (
            f"{stem}: one side refused: transformers={want!r} promptcraft={got!r} for {messages!r} {opts}"
        )
    else:
        assert got == want, f"{stem}: {messages!r} {opts} {switches or ''}"


def test_corpus_pairs_found():
    """The corpus is present and the built-in formats cover the core models."""
    require_corpus()
    stems = {stem for _, stem in PAIRS}
    for needed in ("HuggingFaceTB--SmolLM2-135M-Instruct", "meta-llama--Llama-3.2-3B-Instruct",
                   "google--gemma-2-2b-it", "mistralai--Mixtral-8x7B-Instruct-v0.1"):
        assert needed in stems


@pytest.mark.parametrize("name,stem", PAIRS, ids=IDS)
def test_public_cases(name, stem):
    """Every public case renders (or is refused) exactly as transformers does."""
    require_corpus()
    require_transformers()
    cases = json.loads(PUBLIC_CASES.read_text(encoding="utf-8"))
    assert cases, "no public cases"
    for case in cases:
        if (stem, case["id"]) in KNOWN_DIVERGENCES:
            continue
        check(name, stem, case["messages"], case["add_generation_prompt"], case["continue_final_message"])


@pytest.mark.parametrize("name,stem", PAIRS, ids=IDS)
def test_generated_conversations(name, stem):
    """Hypothesis conversations (odd orders, whitespace, control tokens) match transformers."""
    require_corpus()
    require_transformers()

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=bool(os.environ.get("CI")),
              suppress_health_check=[HealthCheck.too_slow])
    @given(messages=conversations(), opts=flags)
    def run(messages, opts):
        check(name, stem, messages, *opts)

    run()


@pytest.mark.parametrize("name,stem", PAIRS, ids=IDS)
def test_extra_fields_and_parts(name, stem):
    """Messages with extra fields (name, tool_calls, reasoning_content, ...) and contents given as
    lists of parts. Nothing is dropped silently: promptcraft writes exactly what transformers
    writes, or refuses with UnsupportedFieldError naming the field (a field the format does not
    declare as ignored, a part it does not write), or both refuse."""
    require_corpus()
    require_transformers()
    counts = {"same": 0, "both_refused": 0, "unsupported": 0}

    @settings(max_examples=max(EXAMPLES // 2, 50), deadline=None, derandomize=bool(os.environ.get("CI")),
              suppress_health_check=[HealthCheck.too_slow])
    @given(messages=extra_conversations, opts=flags)
    def run(messages, opts):
        fmt = promptcraft.get_format(name)
        variables = {k: v for k, v in VARIABLES.items() if k in fmt.variables}
        kwargs = dict(add_generation_prompt=opts[0], continue_final_message=opts[1], **variables)
        try:
            got = fmt.render(messages, **kwargs)
        except promptcraft.UnsupportedFieldError as error:
            assert error.index is not None and error.field, error
            counts["unsupported"] += 1
            return
        except promptcraft.PromptcraftError:
            got = None
        want = outcome(hf_render, stem, messages, **kwargs)
        if got is None:
            assert isinstance(want, tuple), (
                f"{stem}: promptcraft refused, transformers rendered, for {messages!r} {opts}"
            )
            counts["both_refused"] += 1
        else:
            assert got == want, f"{stem}: {messages!r} {opts}"
            counts["same"] += 1

    run()
    print(f"\n[fields] {stem}: {counts}")


def writes_tool_results(name):
    role = promptcraft.get_format(name).spec.role("tool")
    return role is not None and role.name == "tool" and not role.drop and role.refuse is None


TOOL_PAIRS = [p for p in PAIRS if writes_tool_results(p[0])]


@pytest.mark.parametrize("name,stem", TOOL_PAIRS, ids=[stem for _, stem in TOOL_PAIRS])
def test_tool_results(name, stem):
    """Formats that declare the tool role write tool results (grouped as the template groups them)
    exactly as transformers does, in any order of roles."""
    require_corpus()
    require_transformers()

    fmt = promptcraft.get_format(name)
    # A format that writes a result under the number of the call it answers refuses one answering no
    # call, where its template writes an empty number (junk): these conversations have no calls.
    numbered = "call_number" in fmt.spec.role("tool").prefix.names + tuple(
        n for _, text in fmt.spec.role("tool").prefix_when for n in text.names)

    @settings(max_examples=max(EXAMPLES // 2, 50), deadline=None, derandomize=bool(os.environ.get("CI")),
              suppress_health_check=[HealthCheck.too_slow])
    @given(messages=conversations(roles=("system", "user", "assistant", "tool")), opts=flags)
    def run(messages, opts):
        if numbered:
            try:
                fmt.render(messages, add_generation_prompt=opts[0], continue_final_message=opts[1])
            except promptcraft.UnsupportedFieldError as error:
                assert error.field == "tool_call_id" and messages[error.index]["role"] == "tool", error
                return
        check(name, stem, messages, *opts)

    run()


def switches_of(name):
    return [v.name for v in promptcraft.get_format(name).spec.variables if v.is_switch]


SWITCH_PAIRS = [p for p in PAIRS if switches_of(p[0])]


@pytest.mark.parametrize("name,stem", SWITCH_PAIRS, ids=[stem for _, stem in SWITCH_PAIRS])
def test_switch_variables(name, stem):
    """A format's switches (Qwen3's enable_thinking) given either way match the same template
    variable given to transformers."""
    require_corpus()
    require_transformers()
    values = st.fixed_dictionaries({switch: st.booleans() for switch in switches_of(name)})

    @settings(max_examples=max(EXAMPLES // 2, 50), deadline=None, derandomize=bool(os.environ.get("CI")),
              suppress_health_check=[HealthCheck.too_slow])
    @given(messages=conversations(), opts=flags, switches=values)
    def run(messages, opts, switches):
        check(name, stem, messages, *opts, switches=switches)

    run()
    for case in json.loads(PUBLIC_CASES.read_text(encoding="utf-8")):
        for value in (True, False):
            check(name, stem, case["messages"], case["add_generation_prompt"], case["continue_final_message"],
                  switches={switch: value for switch in switches_of(name)})


@pytest.mark.parametrize("name,stem", [p for p in PAIRS if p[0] in ("llama-3.2",)], ids=lambda p: str(p))
def test_unpinned_date_matches_today(name, stem):
    """Without date_string, the date is today's local date, as strftime_now gives it."""
    require_corpus()
    require_transformers()
    messages = [{"role": "user", "content": "What day is it?"}]
    assert promptcraft.get_format(name).render(messages) == hf_render(stem, messages)
