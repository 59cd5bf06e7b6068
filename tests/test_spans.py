"""render_spans: the prompt with the kind and message of every character, and the masks from it.

The generated ``render_spans`` is held to the reference interpreter's segments
(random formats and every built-in one), its text to ``render``'s, and its
spans must partition the text.
"""

from __future__ import annotations

from functools import partial

from conftest import sample_variables, switches_drawn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import (
    agent_conversations,
    carried,
    conversations,
    documents_lists,
    format_toml,
    tools_lists,
    with_extras,
    with_parts,
)

import promptcraft
from promptcraft._engine import reference
from promptcraft._runtime.rendered import KINDS, Rendered

ROLES = ("system", "user", "assistant", "developer", "x")


def outcome(fn):
    try:
        return fn()
    except promptcraft.PromptcraftError as error:
        return (type(error).__name__, str(error))


def check_partition(rendered, messages):
    spans = rendered.spans
    position = 0
    for k, span in enumerate(spans):
        assert span.start == position and span.end > span.start, spans
        assert span.kind in KINDS
        if span.message is None:
            assert span.role is None
        else:
            assert span.role == messages[span.message]["role"]
        if k:
            assert (spans[k - 1].kind, spans[k - 1].message) != (span.kind, span.message), "adjacent spans not merged"
        position = span.end
    assert position == len(rendered.text)


def check(fmt, messages, gen, variables, tools=None, documents=None):
    options = dict(variables, tools=tools) if tools is not None else dict(variables)
    if documents is not None:
        options["documents"] = documents
    got = outcome(lambda: fmt.render_spans(messages, add_generation_prompt=gen, **options))
    text = outcome(lambda: fmt.render(messages, add_generation_prompt=gen, **options))
    # The reference's segments, as a Rendered.
    want = outcome(lambda: Rendered.from_segments(reference.segments(fmt.spec, messages, gen, variables, tools,
                                                                     documents), messages))
    if isinstance(got, tuple) or isinstance(want, tuple):
        assert got == want == text
        return
    assert got.text == want.text == text
    assert got.spans == want.spans
    check_partition(got, messages)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=format_toml(), data=st.data())
def test_spans_equal_reference_on_random_formats(text, data):
    """For random formats and conversations, the generated render_spans gives the reference's segments
    (or its error), its text is render's, and its spans partition the text."""
    fmt = promptcraft.loads_format(text)
    for _ in range(3):
        messages = data.draw(conversations(roles=ROLES).flatmap(with_extras) | conversations(roles=ROLES)
                             | conversations(roles=ROLES).flatmap(with_parts))
        gen = data.draw(st.booleans())
        variables = switches_drawn(data, fmt)
        check(fmt, messages, gen, variables)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(text=format_toml().filter(lambda t: "[calls]" in t or "[tools]" in t or "[documents]" in t), data=st.data())
def test_structured_spans_equal_reference(text, data):
    """Tool definitions, calls and documents have spans of their own kinds, and equal the reference's."""
    fmt = promptcraft.loads_format(text)
    for _ in range(3):
        variables = switches_drawn(data, fmt)
        messages, tools = carried(data, fmt, data.draw(agent_conversations() | conversations(roles=ROLES)),
                                  data.draw(tools_lists))
        check(fmt, messages, data.draw(st.booleans()), variables, tools, data.draw(documents_lists))


@settings(max_examples=150, deadline=None)
@given(messages=conversations(roles=ROLES), gen=st.booleans())
def test_builtin_spans_equal_reference(messages, gen):
    """Every built-in format's render_spans equals its reference reading."""
    for name in promptcraft.list_formats():
        fmt = promptcraft.get_format(name)
        check(fmt, messages, gen, sample_variables(fmt))


@settings(max_examples=60, deadline=None)
@given(messages=conversations(roles=("system", "user", "assistant")), policy=st.sampled_from(["keep", "escape"]))
def test_spans_with_options(messages, policy):
    """continue_final_message and the control-token policy: the text is render's, the spans partition it."""
    for name in promptcraft.list_formats():
        fmt = promptcraft.get_format(name)
        variables = sample_variables(fmt)
        options = dict(continue_final_message=True, control_tokens=policy, **variables)
        got = outcome(partial(fmt.render_spans, messages, **options))
        text = outcome(partial(fmt.render, messages, **options))
        if isinstance(text, tuple):
            assert got == text
            continue
        assert got.text == text
        check_partition(got, messages)


CHAT = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"}, {"role": "user", "content": "Bye"}]


def test_chatml_spans_and_mask():
    """A ChatML prompt: markers are scaffold, contents are content, the prompt is generation_prompt;
    the assistant mask is its content and <|im_end|>, not the newline after it."""
    fmt = promptcraft.get_format("qwen2.5")
    rendered = fmt.render_spans(CHAT, add_generation_prompt=True)
    assert rendered.text == fmt.render(CHAT, add_generation_prompt=True)
    content = [(s.message, rendered.text[s.start:s.end]) for s in rendered.spans if s.kind == "content"]
    assert content == [(0, "Be brief."), (1, "Hi"), (2, "Hello!"), (3, "Bye")]
    last = rendered.spans[-1]
    assert (last.kind, last.message, rendered.text[last.start:]) == (
        "generation_prompt", None, "<|im_start|>assistant\n"
    )
    [(start, end)] = rendered.mask()
    assert rendered.text[start:end] == "Hello!<|im_end|>"
    [(start, end)] = rendered.mask(end_of_turn=False)
    assert rendered.text[start:end] == "Hello!"
    both = rendered.mask(roles=("user", "assistant"), end_of_turn=False)
    assert [rendered.text[a:b] for a, b in both] == ["Hi", "Hello!", "Bye"]
    flags = rendered.char_mask()
    assert len(flags) == len(rendered.text) and sum(flags) == len("Hello!<|im_end|>")


def test_default_system_text_is_scaffold_without_a_message():
    """A default system message the format writes itself belongs to no message."""
    fmt = promptcraft.get_format("qwen2.5")
    rendered = fmt.render_spans(CHAT[1:])
    first = rendered.spans[0]
    assert (first.kind, first.message) == ("scaffold", None)
    assert "You are Qwen" in rendered.text[first.start:first.end]


def test_folded_system_message_keeps_its_owner():
    """Llama 2 folds the system message into the first user turn: each part keeps its message."""
    fmt = promptcraft.get_format("llama-2")
    rendered = fmt.render_spans(CHAT)
    owners = [(s.kind, s.message, rendered.text[s.start:s.end]) for s in rendered.spans if s.kind == "content"]
    assert owners[:2] == [("content", 0, "Be brief."), ("content", 1, "Hi")]
    assert rendered.text.startswith("<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST]")


def test_reasoning_display_spans():
    """Qwen3 shows the final turn's reasoning in a think block: reasoning is its own kind."""
    fmt = promptcraft.get_format("qwen3")
    chat = [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "<think>add</think>4"}]
    rendered = fmt.render_spans(chat)
    kinds = {rendered.text[s.start:s.end]: s.kind for s in rendered.spans if s.message == 1}
    assert kinds["add"] == "reasoning" and kinds["4"] == "content"
    masked = [rendered.text[a:b] for a, b in rendered.mask(kinds=("content", "reasoning"))]
    assert masked == ["add", "4<|im_end|>"]


def test_end_of_turn_is_the_formats_marker_not_eos():
    """Gemma's turn ends with <end_of_turn>, not its EOS; Llama 3's with <|eot_id|>."""
    chat = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo"}, {"role": "user", "content": "x"}]
    for name, marker in (("gemma-2", "<end_of_turn>"), ("llama-3", "<|eot_id|>"), ("mistral-v0.3", "</s>")):
        rendered = promptcraft.get_format(name).render_spans(chat)
        [(start, end)] = rendered.mask()
        assert rendered.text[start:end].startswith("Yo") and rendered.text[start:end].endswith(marker), name
        assert not rendered.text[start:end].endswith("\n")


def test_render_spans_is_compiled_source():
    """Format.source shows render_spans too, registered with linecache."""
    import inspect

    fmt = promptcraft.get_format("smollm2")
    fmt.render_spans([{"role": "user", "content": "x"}])
    assert inspect.getsource(fmt._spans) in fmt.source


def test_default_written_with_tools_only_stays_out_beside_a_kept_empty_system_message():
    """A random format found it: the reference wrote a `default_when = "tools"` default next to a kept empty
    system message when no tools were given, where the generated code (rightly) writes none."""
    fmt = promptcraft.loads_format(
        'name = "kept"\n[system]\nplacement = "block"\nkeep_empty = true\ndefault = "DEFAULT"\ndefault_when = "tools"\n'
        'prefix = "<s>"\nsuffix = "</s>"\n[roles.system]\nprefix = "S:"\nsuffix = "\\n"\n[roles.user]\nprefix = "U:"\n'
        'suffix = "\\n"\n[tools]\nplacement = "system_after"\nprefix = "T:"\n')
    for tools in (None, []):
        check(fmt, [{"role": "system", "content": ""}, {"role": "user", "content": "hi"}], False, {}, tools, None)
    check(fmt, [{"role": "user", "content": "hi"}], False, {}, [{"type": "function", "function": {"name": "f"}}], None)
