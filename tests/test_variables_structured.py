"""Number variables against transformers: Seed-OSS's ``thinking_budget`` (a turn after the system block,
a reflection interval looked up in a table of gears, a closed reasoning block after the prompt at 0),
given as ints, floats, bools and junk, with and without a system message, tools and the generation prompt."""

from __future__ import annotations

import math

import pytest
from conftest import require_corpus, require_transformers
from hf_reference import Refused, hf_render

import promptcraft
from promptcraft._engine import reference

SEED = "ByteDance-Seed--Seed-OSS-36B-Instruct"
TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Weather of a city.", "parameters": {
    "type": "object", "properties": {"city": {"type": "string", "description": "The city."}}, "required": ["city"]}}}]
CONVERSATIONS = [
    [{"role": "user", "content": "Hi"}],
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
     {"role": "assistant", "content": "Hello.", "reasoning_content": "Greet."}, {"role": "user", "content": "Bye"}],
    [{"role": "system", "content": ""}, {"role": "user", "content": "Hi"}],
]
#: Every gear's bound and the numbers about them, 0 and -1 (which the template tests) in all their
#: forms, floats Jinja prints with their point, bools (True == 1, False == 0), NaN and infinities.
NUMBERS = [0, -1, 1, -7, 511, 512, 513, 1024, 1025, 2048, 4096, 4097, 8192, 16384, 16385, 10**30, True, False, 0.0,
           -0.0, -1.0, 512.0, 512.5, 16384.5, -1.5, math.nan, math.inf, -math.inf]
#: Values the template compares with numbers, which Jinja refuses (so does promptcraft).
JUNK = ["512", "", "-1", [512], {"budget": 0}, b"0", 1j]


def outcome(render, *args, **kwargs):
    try:
        return render(*args, **kwargs)
    except (Refused, promptcraft.PromptcraftError) as error:
        return ("refused", type(error).__name__)


def test_thinking_budget_matches_transformers():
    """Every value, every conversation, with and without tools and the prompt: the same prompt as
    transformers from the fast path, its spans and the reference interpreter, or both refuse."""
    require_corpus()
    require_transformers()
    fmt = promptcraft.get_format("seed-oss")
    same = refused = 0
    for value in NUMBERS + JUNK:
        for messages in CONVERSATIONS:
            for tools in (None, TOOLS):
                for gen in (False, True):
                    want = outcome(hf_render, SEED, messages, add_generation_prompt=gen, tools=tools,
                                   thinking_budget=value)
                    got = outcome(fmt.render, messages, add_generation_prompt=gen, tools=tools, thinking_budget=value)
                    spans = outcome(lambda m, **kw: fmt.render_spans(m, **kw).text, messages, add_generation_prompt=gen,
                                    tools=tools, thinking_budget=value)
                    slow = outcome(reference.render, fmt.spec, messages, gen, {"thinking_budget": value}, tools)
                    case = f"thinking_budget={value!r} tools={tools is not None} gen={gen} {messages!r}"
                    if isinstance(want, tuple):
                        assert got == spans == slow == ("refused", "OptionsError"), case
                        refused += 1
                    else:
                        assert got == spans == slow == want, case
                        same += 1
    assert (same, refused) == (len(NUMBERS) * 12, len(JUNK) * 12)


def test_thinking_budget_none_is_not_given():
    """None is the default (-1), as for every promptcraft variable: transformers' template compares
    None with a number and raises (documented in COMPATIBILITY.md)."""
    require_corpus()
    require_transformers()
    fmt = promptcraft.get_format("seed-oss")
    messages = CONVERSATIONS[0]
    assert fmt.render(messages, add_generation_prompt=True, thinking_budget=None) == hf_render(
        SEED, messages, add_generation_prompt=True)
    with pytest.raises(Refused):
        hf_render(SEED, messages, thinking_budget=None)


@pytest.mark.parametrize("value", JUNK)
def test_thinking_budget_junk_is_an_options_error(value):
    fmt = promptcraft.get_format("seed-oss")
    with pytest.raises(promptcraft.OptionsError, match=r"variable 'thinking_budget' must be a number \(an int or a "
                                                       r"float\), got " + type(value).__name__):
        fmt.render([{"role": "user", "content": "Hi"}], thinking_budget=value)


def test_thinking_budget_exported():
    """The exported template writes what promptcraft writes, and refuses what it refuses."""
    require_transformers()
    from transformers.utils.chat_template_utils import _compile_jinja_template

    fmt = promptcraft.get_format("seed-oss")
    template = _compile_jinja_template(fmt.to_jinja())
    tokens = {"bos_token": fmt.spec.bos, "eos_token": fmt.spec.eos}
    for value in NUMBERS + ["512", None]:
        for messages in CONVERSATIONS:
            for gen in (False, True):
                got = outcome(fmt.render, messages, add_generation_prompt=gen, thinking_budget=value)
                try:
                    exported = template.render(messages=messages, add_generation_prompt=gen, thinking_budget=value,
                                               **tokens)
                except Exception:
                    exported = ("refused", "OptionsError")
                assert exported == got, (value, messages, gen)


def test_equals_and_lookup_on_a_format_of_its_own():
    """A number variable read by a role's prefix variant, a lookup slot in the prompt: fast path and
    reference agree on conditions outside the system block too."""
    fmt = promptcraft.loads_format(
        'name = "budgeted"\n'
        '[variables.level]\nnumber = 1\nlookup = {slot = "tier", at_most = [[1, "low"], [5, 2.5]]}\n'
        '[roles.user]\nprefix = [{when = {equals = {level = 3}}, text = "[3] "}, {text = "[{level}] "}]\n'
        'suffix = "\\n"\n'
        '[generation]\nprompt = "<{tier}>"\n')
    messages = [{"role": "user", "content": "x"}]
    for value, want in [(None, "[1] x\n<low>"), (3, "[3] x\n<2.5>"), (3.0, "[3] x\n<2.5>"), (True, "[True] x\n<low>"),
                        (5.5, "[5.5] x\n<2.5>"), (-2, "[-2] x\n<low>")]:
        assert fmt.render(messages, add_generation_prompt=True, level=value) == want
        assert "".join(t for t, _, _ in reference.segments(fmt.spec, messages, True, {"level": value})) == want


JAMBA = "ai21labs--AI21-Jamba-Large-1.6"
#: Jamba's variables and values: an empty string is the default where the template writes `x or "..."`, a
#: blank preamble is left out (it tests strip() != ""), and a value that is not a string is refused (the
#: template raises on most; where it writes one, an int as text or a falsy value as the default, promptcraft
#: refuses rather than guess).
JAMBA_VALUES = {"role_to_predict": ["user", "", "x y", "<|tool|>", 5, 0],
                "generation_preamble": ["Sure", " x ", "", " ", "\n\t", "\u2028", 5]}


def test_jamba_variables_match_transformers():
    require_corpus()
    require_transformers()
    fmt = promptcraft.get_format("jamba-1.6")
    same = refused = ours = 0
    for name, values in JAMBA_VALUES.items():
        for value in values:
            for messages in CONVERSATIONS:
                for tools in (None, TOOLS):
                    for gen in (False, True):
                        want = outcome(hf_render, JAMBA, messages, add_generation_prompt=gen, tools=tools,
                                       **{name: value})
                        got = outcome(fmt.render, messages, add_generation_prompt=gen, tools=tools, **{name: value})
                        spans = outcome(lambda m, **kw: fmt.render_spans(m, **kw).text, messages,
                                        add_generation_prompt=gen, tools=tools, **{name: value})
                        slow = outcome(reference.render, fmt.spec, messages, gen, {name: value}, tools)
                        case = f"{name}={value!r} tools={tools is not None} gen={gen} {messages!r}"
                        assert got == spans == slow, case
                        if isinstance(got, tuple):
                            assert got == ("refused", "OptionsError") and not isinstance(value, str), case
                            if isinstance(want, tuple):
                                refused += 1
                            else:
                                ours += 1
                        else:
                            assert got == want, case
                            same += 1
    # The template reads both only for the generation prompt: without it, it writes a conversation given 5
    # (which promptcraft refuses wherever it is given), and 0 is its default.
    assert (same, refused, ours) == (10 * 12, 2 * 6, 2 * 6 + 12)
