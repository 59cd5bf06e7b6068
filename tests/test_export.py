"""``Format.to_jinja()``: the exported template, rendered by transformers, is the format.

For every built-in format, generated conversations (derandomised, a few per format) and the public
ones render through the export exactly as through the format, or both refuse, or the template
refuses them as not exported (a gap, counted in COMPATIBILITY.md by tests/make_export_report.py);
never a different string. Random formats and hostile literals too.
"""

from __future__ import annotations

import json

import pytest
import strategies as S
from export_check import count, exported, generated_cases, jinja_render, outcome, public_cases
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import promptcraft
from promptcraft.cli import run

#: Generated cases per format and kind (text, structured); the report script draws more.
EXAMPLES = 12


def _show(feature, messages, options, ours, theirs):
    raise AssertionError(f"{feature}: {messages!r} {options!r}\n  promptcraft: {ours!r}\n  exported:    {theirs!r}")


_PUBLIC = public_cases()


@pytest.mark.parametrize("name", promptcraft.list_formats())
def test_builtin_format_exports_and_renders_the_same(name):
    """The export of each built-in format (both named templates for one naming a tool_use format) agrees
    with it on generated and public conversations."""
    fmt = promptcraft.get_format(name)
    counts = count(fmt, exported(fmt), generated_cases(fmt, EXAMPLES) + _PUBLIC, on_differ=_show)
    assert sum(sum(c.values()) for c in counts.values()) >= 2 * EXAMPLES + len(_PUBLIC)


def test_refusals_say_what_promptcraft_says():
    """Where promptcraft refuses, the template raises with the same meaning: index, role, field."""
    fmt = promptcraft.get_format("llama-2")
    template = fmt.to_jinja()
    cases = [
        ([{"role": "user", "content": "a"}, {"role": "user", "content": "b"}], "messages[1] (role user)"),
        ([{"role": "user", "content": "a", "weight": 1}], "messages[0].weight (role user)"),
        ([{"role": "user", "content": 3}], "messages[0].content (role user)"),
        ([{"role": "user"}], "messages[0].content (role user): has no content"),
    ]
    for messages, where in cases:
        result, ours, theirs = outcome(fmt, template, messages)
        assert result == "both_refuse", (messages, ours, theirs)
        assert where in str(theirs)
    nemo = promptcraft.get_format("mistral-nemo")
    result, _, theirs = outcome(nemo, nemo.to_jinja(), [{"role": "user", "content": "a"},
                                                    {"role": "developer", "content": "x"}])
    assert result == "both_refuse" and "refuses this role" in str(theirs)
    # A tool result's id, required and checked as the role's rule says (Mistral's templates raise without one).
    mistral = promptcraft.get_format("mistral-v0.3")
    result, _, theirs = outcome(mistral, mistral.to_jinja(), [{"role": "tool", "content": "x"}])
    assert result == "both_refuse" and "messages[0].tool_call_id (role tool)" in str(theirs)
    for call_id, form in (("a\"b", "mistral-v0.3"), ("abc", "mistral-nemo"), ("abc123XY\\", "mistral-nemo")):
        fmt9 = promptcraft.get_format(form)
        chat = [{"role": "user", "content": "a"}, {"role": "tool", "content": "x", "tool_call_id": call_id}]
        result, _, theirs = outcome(fmt9, fmt9.to_jinja(), chat)
        assert result == "both_refuse" and "messages[1].tool_call_id (role tool)" in str(theirs), (call_id, theirs)
    # Mistral Nemo's alternation does not count tool results: written between turns, refused as a turn.
    chat = [{"role": "user", "content": "a"}, {"role": "tool", "content": '{"t": 1}', "tool_call_id": "abc123XYZ"},
            {"role": "assistant", "content": "b"}, {"role": "user", "content": "c"}]
    assert outcome(nemo, nemo.to_jinja(), chat)[0] == "equal"
    result, _, theirs = outcome(nemo, nemo.to_jinja(), chat[:2] + chat[3:])
    assert result == "both_refuse" and "messages[2] (role user)" in str(theirs)
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    result, _, theirs = outcome(fmt, template, [{"role": "user", "content": "a"}], tools=tools)
    assert result == "both_refuse" and "does not write tool definitions" in str(theirs)


def test_apply_chat_template_renders_the_export():
    """The export in a tokenizer, through apply_chat_template itself (None-valued keys dropped)."""
    import warnings

    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast

    fmt = promptcraft.get_format("llama-3")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tokenizer = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.WordLevel({"<unk>": 0}, "<unk>")),
                                            chat_template=fmt.to_jinja())
    messages = [{"role": "system", "content": "Be brief.", "name": None}, {"role": "user", "content": " Hi "}]
    for gen in (False, True):
        assert tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=gen) == \
            fmt.render(messages, add_generation_prompt=gen)


@settings(max_examples=30, derandomize=True, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
@given(S.format_toml(), st.data())
def test_random_formats(text, data):
    """Random valid formats (every mechanism of the schema, hostile literals) export, or say which
    construct is not exported; an export agrees with the format on random conversations, text ones and
    an agent's (with tools and documents)."""
    fmt = promptcraft.loads_format(text, path="random.toml")
    try:
        template = fmt.to_jinja()
    except promptcraft.FormatError as error:
        assert "is not exported" in str(error)
        return
    roles = tuple(r.name for r in fmt.spec.roles) + ("user", "assistant", "system")
    for k in range(4):
        # The last one an agent's conversation: tools, calls, results.
        messages = data.draw(S.conversations(roles=roles) if k < 3 else S.agent_conversations())
        options = {"add_generation_prompt": data.draw(st.booleans()), **data.draw(S.variable_values(fmt))}
        if k == 3:
            options["tools"] = data.draw(S.tools_lists)
            options["documents"] = data.draw(S.documents_lists)
        result, ours, theirs = outcome(fmt, template, messages, **options)
        assert result != "differ", (text, messages, options, ours, theirs)


HOSTILE = ["{{ 7*7 }}", "{% raw %}", "{%- endraw %}", "#}", "{#", "}}", "%}", "'", '"', "\\", "\\n", "\n", "\r\n",
           "\t", "\x00", "\u2028", "{{- raise_exception('x') }}", "{% for x in range(9**9) %}", "-%}", "''", "é"]


def test_hostile_literals_come_out_as_literals():
    """Jinja syntax, quotes, backslashes and control characters in a format's texts are written as they are."""
    for payload in HOSTILE:
        toml_text = json.dumps(payload.replace("{", "{{").replace("}", "}}"))
        text = (f'name = "hostile"\nstart = {toml_text}\n[roles.user]\nprefix = {toml_text}\nsuffix = "|"\n'
                f'[roles.assistant]\nprefix = "A:"\nsuffix = {toml_text}\n'
                f'[generation]\nprompt = {toml_text}\n')
        fmt = promptcraft.loads_format(text, path="hostile.toml")
        template = fmt.to_jinja()
        messages = [{"role": "user", "content": payload}, {"role": "assistant", "content": "ok"}]
        for gen in (False, True):
            assert jinja_render(template, messages, add_generation_prompt=gen) == \
                fmt.render(messages, add_generation_prompt=gen), payload


def test_cli_export(tmp_path):
    """``promptcraft export NAME`` prints the template; ``-o`` writes it; ``--json`` wraps it for tokenizer_config."""
    template = promptcraft.get_format("zephyr").to_jinja()
    assert run(["export", "zephyr"]) == template
    target = tmp_path / "chat_template.jinja"
    assert run(["export", "zephyr", "-o", str(target)]) == ""
    assert target.read_text(encoding="utf-8") == template
    assert json.loads(run(["export", "zephyr", "--json"])) == {"chat_template": template}


def test_mistral_calls_and_tools_before_the_last_user_message():
    """Mistral v0.3's and Nemo's calls (with their ids, the name as JSON or the function's members) and
    tools (before every user message equal to the last one, rebuilt JSON) agree with the format; what
    their templates would splice unescaped is refused, naming the field."""
    tools = [{"type": "function", "function": {"name": "get", "description": "Get it.",
                                               "parameters": {"type": "object", "properties": {}}}}]
    calls = [{"type": "function", "id": "abc123XYZ", "function": {"name": "get", "arguments": {"q": "é\"x"}}},
             {"type": "function", "id": "abc123XY2", "function": {"name": "get", "arguments": {}}}]
    chat = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "", "tool_calls": calls},
            {"role": "tool", "content": "1", "tool_call_id": "abc123XYZ"},
            {"role": "tool", "content": "2", "tool_call_id": "abc123XY2"},
            {"role": "assistant", "content": "done"}, {"role": "user", "content": "hi"}]
    for name in ("mistral-v0.3", "mistral-nemo"):
        fmt = promptcraft.get_format(name)
        template = fmt.to_jinja()
        for gen in (False, True):
            result, ours, theirs = outcome(fmt, template, chat, tools=tools, add_generation_prompt=gen)
            assert result == "equal", (name, ours, theirs)
        bad_id = [dict(chat[1], tool_calls=[dict(calls[0], id="abc")])]
        bad_tool = [{"type": "function", "function": dict(tools[0]["function"], description='a "b"')}]
        for messages, options, field in (
                (chat[:1] + bad_id, {}, "messages[1].tool_calls[0].id"),
                (chat, {"tools": bad_tool}, "tools[0].function.description"),
                ([{"role": "assistant", "content": "x"}], {"tools": tools}, "before the last user message")):
            result, ours, theirs = outcome(fmt, template, messages, **options)
            if name == "mistral-v0.3" and field.endswith(".id"):
                assert result == "equal", (name, ours, theirs)  # any JSON id
                continue
            assert result == "both_refuse" and field in str(theirs), (name, field, ours, theirs)


def test_parts_and_documents():
    """Lists of parts (labels numbered across the conversation, a default system text left out with an
    image) and documents (in each placement, Command A's numbered as a call) agree with the format."""
    image, video = {"type": "image"}, {"type": "video", "video": "v.mp4"}
    chat = [{"role": "user", "content": [image, {"type": "text", "text": " What? "}, video]},
            {"role": "assistant", "content": [{"type": "text", "text": "A cat."}]},
            {"role": "user", "content": [{"image": "b.png"}, {"type": "text", "text": "And?"}]}]
    for name, options in (("qwen2.5-vl", {"add_vision_id": True}), ("qwen3.5", {"add_vision_id": True}),
                          ("qwen2.5-vl", {})):
        fmt = promptcraft.get_format(name)
        result, ours, theirs = outcome(fmt, fmt.to_jinja(), chat, add_generation_prompt=True, **options)
        assert result == "equal" and "Picture 2: " in ours if options else result == "equal", (name, ours, theirs)
    vision = promptcraft.get_format("llama-3.2-vision")
    for messages in ([{"role": "user", "content": [image, {"type": "text", "text": "x?"}]}],
                     [{"role": "user", "content": "x"}]):
        result, ours, theirs = outcome(vision, vision.to_jinja(), messages)
        assert result == "equal" and ("Cutting Knowledge" in ours) == (messages[0]["content"] == "x"), (ours, theirs)
    bad = [{"role": "user", "content": [{"type": "image", "text": "x"}]}]
    result, _, theirs = outcome(vision, vision.to_jinja(), bad)
    assert result == "both_refuse" and "messages[0].content[0].text (role user)" in str(theirs)
    documents = [{"text": "One.", "title": "T", "doc_id": "d1", "source-url": "u"}, {"text": "Two.", "doc_id": 2}]
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": {}}}
    conversation = [{"role": "system", "content": "S"}, {"role": "user", "content": "Q"},
                    {"role": "assistant", "content": "A"}, {"role": "user", "content": "Q2"}]
    agent = [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "", "tool_calls": [call]},
             {"role": "tool", "content": "r", "tool_call_id": "c1"}]
    for name in ("granite-3.2", "granite-3.3", "jamba-1.6", "command-a"):
        fmt = promptcraft.get_format(name)
        template = fmt.to_jinja()
        docs = [{k: v for k, v in d.items() if k != "source-url" or name == "jamba-1.6"} for d in documents]
        if name == "granite-3.2":
            docs = [{"text": d["text"]} for d in docs]
        result, ours, theirs = outcome(fmt, template, conversation, documents=docs, add_generation_prompt=True)
        assert result == "equal" and "Two." in ours, (name, ours, theirs)
        if name == "command-a":
            # The documents are call 0 after the first user message: the call after them is numbered 1,
            # and its result, which the template would number 0, is refused.
            result, ours, theirs = outcome(fmt, template, agent[:2], documents=docs)
            assert result == "equal", (ours, theirs)
            result, ours, theirs = outcome(fmt, template, agent, documents=docs)
            assert result == "both_refuse" and "messages[2].tool_call_id (role tool)" in str(theirs), (ours, theirs)
        if name != "command-a":  # it writes any document through tojson
            result, ours, theirs = outcome(fmt, template, conversation, documents=[{"text": 3, "doc_id": "d"}])
            assert result == "both_refuse" and "documents[0].text" in str(theirs), (name, ours, theirs)


@pytest.mark.parametrize("name", [n for n in promptcraft.list_formats() if promptcraft.get_format(n).spec.tool_use])
def test_named_tool_use_templates(name, tmp_path):
    """``export --json`` of a format naming a tool_use format writes tokenizer_config.json's list of both
    named templates; a tokenizer loaded from it renders as the format, with tools (the tool_use one) and
    without, through apply_chat_template itself."""
    import warnings

    import jinja2
    from tokenizers import Tokenizer, models
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    config = json.loads(run(["export", name, "--json"]))
    assert [t["name"] for t in config["chat_template"]] == ["default", "tool_use"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.WordLevel({"<unk>": 0}, "<unk>"))).save_pretrained(
            tmp_path)
        saved = json.loads((tmp_path / "tokenizer_config.json").read_text(encoding="utf-8"))
        (tmp_path / "tokenizer_config.json").write_text(json.dumps({**saved, **config}), encoding="utf-8")
        tokenizer = AutoTokenizer.from_pretrained(tmp_path)
    fmt = promptcraft.get_format(name)
    tools = [{"type": "function", "function": {"name": "f", "description": "Find it.", "parameters": {
        "type": "object", "properties": {"q": {"type": "string", "description": "what"}}, "required": ["q"]}}}]
    chat = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    cases = [case for case in generated_cases(fmt, 6) + _PUBLIC if case[0] != "public text"] + [
        ("fixed", chat[k:], {"tools": tools, "add_generation_prompt": gen}) for k in (0, 1) for gen in (False, True)]
    written = {True: 0, False: 0}
    for _, messages, options in cases:
        for tools in ((options.get("tools"), None) if options.get("tools") is not None else (None,)):
            given = {**options, "tools": tools}
            try:
                ours = fmt.render(messages, **given)
            except promptcraft.PromptcraftError:
                ours = None
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    theirs = tokenizer.apply_chat_template(
                        [{k: v for k, v in m.items() if v is not None} for m in messages], tokenize=False, **given)
            except (jinja2.TemplateError, ValueError, TypeError) as error:
                theirs = None
                # Where promptcraft writes it, the template says the feature is not exported.
                assert ours is None or "is not exported" in str(error), (messages, given, ours, error)
            assert ours == theirs or theirs is None, (messages, given, ours, theirs)
            written[tools is not None] += ours is not None and ours == theirs
    assert written[True] and written[False], written


_SERIALISED = ("qwen3-coder", "seed-oss", "mistral-v0.3", "hermes-3-tool-use", "command-r-plus-tool-use",
               "command-r7b-tool-use", "smollm3", "functionary-v3.2", "minicpm3", "gpt-oss")


@st.composite
def _odd_definitions(draw):
    """A generated definition, sometimes bent where the serialisers refuse: unwrapped, extra keys, a
    'required' that is not a list, no parameters, a description that is not text, returns."""
    tool = draw(S.tool_definitions())
    function = tool["function"]
    bend = draw(st.integers(0, 8))
    if bend == 1:
        tool = dict(function)
    elif bend == 2:
        function["strict"] = True
    elif bend == 3:
        function["parameters"]["required"] = "city"
    elif bend == 4:
        del function["parameters"]
    elif bend == 5:
        function["description"] = 3
    elif bend == 6:
        function["returns"] = {"type": "object", "properties": {"r": {"type": "string", "description": "x"}}}
    elif bend == 7 and function["parameters"]["properties"]:
        next(iter(function["parameters"]["properties"].values()))[draw(st.sampled_from(["format", "x-y $"]))] = \
            draw(S.json_values)
    return tool


@settings(max_examples=60, derandomize=True, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
@given(st.lists(_odd_definitions(), min_size=1, max_size=2))
def test_serialiser_macros(tools):
    """The serialisers' Jinja macros write each definition as the format does, and refuse it where
    the format does, naming the same field."""
    for name in _SERIALISED:
        fmt = promptcraft.get_format(name)
        result, ours, theirs = outcome(fmt, _TEMPLATES.setdefault(name, fmt.to_jinja()),
                                       [{"role": "user", "content": "x"}], tools=tools, add_generation_prompt=True)
        assert result in ("equal", "both_refuse"), (name, tools, ours, theirs)
        if result == "both_refuse" and getattr(ours, "field", None):
            assert ours.field in str(theirs), (name, tools, ours, theirs)


_TEMPLATES: dict = {}
