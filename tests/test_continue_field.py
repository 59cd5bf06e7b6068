"""``continue_final_message`` naming a field: the final message's reasoning (under any of transformers'
aliases) or content left open, against transformers on every corpus template.

transformers copies the reasoning to ``thinking`` and ``reasoning_content``, tags every copy that holds
the continued text, renders and cuts at the tag; promptcraft does the same on its own renderers, so a
format writes exactly the open prompt, or both refuse (the format does not write that field).
"""

from __future__ import annotations

import itertools

import pytest
from conftest import require_corpus, require_transformers
from hf_reference import hf_render
from test_equivalence import PAIRS, VARIABLES, outcome

import promptcraft
from promptcraft.errors import ContinuationError

FIELDS = ("reasoning_content", "thinking", "reasoning", "content")

#: Final assistant messages: reasoning under each alias (alone, two at once that agree or disagree,
#: with whitespace the formats trim), with and without an answer.
FINALS = [
    {"role": "assistant", "content": "", "reasoning_content": "Let me think"},
    {"role": "assistant", "content": "The answer", "reasoning_content": "First, 2+2."},
    {"role": "assistant", "content": "", "thinking": "  Weighing it up\n"},
    {"role": "assistant", "content": "Paris.", "reasoning": "Capital of France"},
    {"role": "assistant", "content": "ok", "reasoning_content": "same", "thinking": "same"},
    {"role": "assistant", "content": "ok", "reasoning_content": "mine", "thinking": "theirs"},
    {"role": "assistant", "content": "Just an answer"},
]
HISTORIES = [
    [{"role": "user", "content": "What is 2+2?"}],
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
     {"role": "assistant", "content": "Hello", "reasoning_content": "greeting"},
     {"role": "user", "content": "Capital?"}],
]


def cases():
    for history, final, field in itertools.product(HISTORIES, FINALS, FIELDS):
        yield history + [final], field


@pytest.mark.parametrize("name,stem", PAIRS, ids=[stem for _, stem in PAIRS])
def test_continue_a_field_matches_transformers(name, stem):
    require_corpus()
    require_transformers()
    fmt = promptcraft.get_format(name)
    variables = {k: v for k, v in VARIABLES.items() if k in fmt.variables}
    written = 0
    for messages, field in cases():
        want = outcome(hf_render, stem, messages, continue_final_message=field, **variables)
        got = outcome(fmt.render, messages, continue_final_message=field, **variables)
        if isinstance(want, tuple) or isinstance(got, tuple):
            assert isinstance(want, tuple) and isinstance(got, tuple), (
                f"{stem}: one side refused: transformers={want!r} promptcraft={got!r} for {messages!r} {field}")
        else:
            assert got == want, f"{stem}: {messages!r} continue_final_message={field!r}"
            written += field != "content"
    if fmt.spec.reasoning is not None and fmt.spec.reasoning.field in FIELDS:
        # A format that writes one of these reasoning fields continues it (in the final turn at least); a
        # tool_plan (Command A) is a field of its own, which transformers does not alias.
        assert written, f"{stem}: no reasoning continuation was written"


def test_continue_reasoning_leaves_the_reasoning_open():
    fmt = promptcraft.get_format("qwen3")
    messages = [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "", "thinking": "Adding"}]
    text = fmt.render(messages, continue_final_message="reasoning_content")
    assert text.endswith("<|im_start|>assistant\n<think>\nAdding")
    # render_spans is cut the same way: its text is the prompt.
    assert fmt.render_spans(messages, continue_final_message="thinking").text == text


def test_continue_reasoning_where_the_format_writes_none_is_refused_naming_the_field():
    fmt = promptcraft.get_format("llama-3.1")
    messages = [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4", "reasoning_content": "x"}]
    with pytest.raises(ContinuationError) as caught:
        fmt.render(messages, continue_final_message="reasoning_content")
    assert (caught.value.index, caught.value.role, caught.value.field) == (1, "assistant", "reasoning_content")


def test_continue_a_field_the_final_message_lacks_is_refused():
    fmt = promptcraft.get_format("qwen3")
    with pytest.raises(ContinuationError, match="no 'reasoning_content'"):
        fmt.render([{"role": "user", "content": "hi"}, {"role": "assistant", "content": "x"}],
                   continue_final_message="reasoning_content")
    with pytest.raises(promptcraft.OptionsError):
        fmt.render([{"role": "user", "content": "hi"}], continue_final_message=3)


@pytest.mark.parametrize("name,stem,tool_use", [
    ("command-r7b", "CohereForAI--c4ai-command-r7b-12-2024", "CohereForAI--c4ai-command-r7b-12-2024--tool_use"),
    ("command-a", "CohereLabs--c4ai-command-a-03-2025", None),
])
def test_continue_the_tool_plan_matches_transformers(name, stem, tool_use):
    """A field of the format's own (Command's ``tool_plan``, not a reasoning alias) is continued as transformers
    continues any named field: the prompt ends inside the plan, before the calls."""
    require_corpus()
    require_transformers()
    fmt = promptcraft.get_format(name)
    tools = [{"type": "function", "function": {"name": "f", "description": "d", "parameters": {
        "type": "object", "properties": {"a": {"type": "integer", "description": "x"}}}}}]
    given = {"tools": tools} if tool_use else {}
    hf_given = {"tools": tools, "tool_use": tool_use} if tool_use else {}
    call = {"type": "function", "id": "0", "function": {"name": "f", "arguments": {"a": 1}}}
    plans = ["I will call f.", "  spaced  ", "x"]
    for plan in plans:
        messages = [{"role": "user", "content": "q"},
                    {"role": "assistant", "content": "", "tool_plan": plan, "tool_calls": [call]}]
        want = hf_render(stem, messages, continue_final_message="tool_plan", **hf_given)
        got = fmt.render(messages, continue_final_message="tool_plan", **given)
        assert got == want and got.rstrip().endswith(plan.rstrip())
    # Without a plan there is nothing to continue: transformers raises, promptcraft says which field.
    messages = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "", "tool_calls": [call]}]
    with pytest.raises(ContinuationError, match="no 'tool_plan'"):
        fmt.render(messages, continue_final_message="tool_plan", **given)
    assert isinstance(outcome(hf_render, stem, messages, continue_final_message="tool_plan", **hf_given), tuple)
