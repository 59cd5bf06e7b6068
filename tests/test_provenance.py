"""Spans and masks checked against transformers, independently of promptcraft's own reading.

For every corpus template a built-in format serves and every public case, each
message's content is replaced by a unique sentinel and rendered through
transformers: where the sentinel lands, the text before and after it must be
exactly the text before and after promptcraft's content span for that message
in the original render. And the assistant mask must equal the character spans
transformers returns for the templates with ``{% generation %}`` blocks.
"""

from __future__ import annotations

import json
import warnings

import pytest
from conftest import require_corpus, require_transformers
from hf_reference import PUBLIC_CASES, Refused, corpus_entry, hf_render
from test_equivalence import IDS, PAIRS, VARIABLES

import promptcraft

SENTINEL = "QZXSENTINEL"


def content_range(rendered, index):
    """The span of text written from message ``index``'s content (content and reasoning spans)."""
    spans = [s for s in rendered.spans if s.message == index and s.kind in ("content", "reasoning")]
    if not spans:
        return None
    return spans[0].start, spans[-1].end


@pytest.mark.parametrize("name,stem", PAIRS, ids=IDS)
def test_content_spans_match_template_sentinels(name, stem):
    """Content spans sit exactly where the template writes each message's content."""
    require_corpus()
    require_transformers()
    fmt = promptcraft.get_format(name)
    variables = {k: v for k, v in VARIABLES.items() if k in fmt.variables}
    counts = {"checked": 0, "no_content_span": 0, "sentinel_not_once": 0, "refused": 0}
    for case in json.loads(PUBLIC_CASES.read_text(encoding="utf-8")):
        messages = case["messages"]
        options = dict(add_generation_prompt=case["add_generation_prompt"],
                       continue_final_message=case["continue_final_message"], **variables)
        try:
            original = hf_render(stem, messages, **options)
            rendered = fmt.render_spans(messages, **options)
        except (Refused, promptcraft.PromptcraftError):
            counts["refused"] += 1
            continue
        assert rendered.text == original
        for index in range(len(messages)):
            where = content_range(rendered, index)
            if where is None:  # empty once written, or not written: nothing to locate
                counts["no_content_span"] += 1
                continue
            mutated = [dict(m) for m in messages]
            mutated[index]["content"] = SENTINEL
            try:
                marked = hf_render(stem, mutated, **options)
            except Refused:
                counts["refused"] += 1
                continue
            if marked.count(SENTINEL) != 1:  # written twice (or cut away) by the template
                counts["sentinel_not_once"] += 1
                continue
            at = marked.index(SENTINEL)
            start, end = where
            assert original[:start] == marked[:at], (stem, case["id"], index, "text before the content differs")
            assert original[end:] == marked[at + len(SENTINEL):], (stem, case["id"], index, "text after differs")
            counts["checked"] += 1
    print(f"\n[sentinel] {stem}: {counts}")
    assert counts["checked"] > 0


def transformers_generation_spans(stem, messages):
    from transformers.utils.chat_template_utils import render_jinja_template

    entry = corpus_entry(stem)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rendered, indices = render_jinja_template(
            [messages], chat_template=entry["chat_template"], return_assistant_tokens_mask=True,
            bos_token=entry["bos_token"], eos_token=entry["eos_token"])
    return rendered[0], [tuple(span) for span in indices[0]]


GENERATION_PAIRS = [(name, stem) for name, stem in PAIRS if "{% generation %}" in corpus_entry(stem)["chat_template"]]

#: Templates whose {% generation %} block is not the assistant's content and end-of-turn marker, with
#: what it covers instead (listed in COMPATIBILITY.md): promptcraft's default mask is the same policy
#: for every format, so on these it is a part of transformers' span, which this checks.
WHOLE_TURN_BLOCKS = {
    "HuggingFaceTB--SmolLM3-3B": "the whole assistant turn: its '<|im_start|>assistant\\n' header, the content, "
                                 "'<|im_end|>' and the newline after it",
}


@pytest.mark.parametrize("name,stem", GENERATION_PAIRS, ids=[s for _, s in GENERATION_PAIRS])
def test_assistant_mask_equals_generation_blocks(name, stem):
    """The default mask (assistant content and its end-of-turn marker) equals transformers'
    {% generation %} spans on every public case the template renders."""
    require_corpus()
    require_transformers()
    fmt = promptcraft.get_format(name)
    compared = 0
    for case in json.loads(PUBLIC_CASES.read_text(encoding="utf-8")):
        messages = case["messages"]
        try:
            text, spans = transformers_generation_spans(stem, messages)
        except Exception:  # the template refuses this conversation
            continue
        rendered = fmt.render_spans(messages)
        assert rendered.text == text
        want = [s for s in spans if s[0] != s[1]]
        if stem in WHOLE_TURN_BLOCKS:
            # transformers' span is the turn: exactly the assistant message's own text, all kinds
            turns = [(min(s.start for s in rendered.spans if s.message == i),
                      max(s.end for s in rendered.spans if s.message == i))
                     for i, m in enumerate(messages) if m["role"] == "assistant"]
            assert want == [t for t in turns if t[0] != t[1]], case["id"]
            assert all(any(a <= s and e <= b for a, b in want) for s, e in rendered.mask()), case["id"]
        else:
            assert rendered.mask() == want, case["id"]
        compared += 1
    assert compared > 50
