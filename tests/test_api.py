"""The public surface: lookup, render options, errors, introspection, pickling."""

from __future__ import annotations

import inspect
import linecache
import pathlib
import pickle
import traceback

import pytest
from conftest import sample_variables

import promptcraft
from promptcraft._engine import reference

CHAT = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Hi"},
    {"role": "assistant", "content": "Hello."},
    {"role": "user", "content": "Bye"},
]


def test_for_model_resolves_declared_ids():
    """A model id declared by a format resolves to it; case differences are tolerated."""
    assert promptcraft.for_model("meta-llama/Llama-3.2-3B-Instruct").name == "llama-3.2"
    assert promptcraft.for_model("huggingfacetb/smollm2-135m-instruct").name == "smollm2"


def test_for_model_unknown_suggests():
    """An unknown id is a LookupError of promptcraft's own, with close matches."""
    with pytest.raises(promptcraft.UnknownFormatError) as caught:
        promptcraft.for_model("meta-llama/Llama-3.2-3B-Instruckt")
    assert isinstance(caught.value, LookupError)
    assert "meta-llama/Llama-3.2-3B-Instruct" in caught.value.suggestions
    assert "did you mean" in str(caught.value)


def test_get_format_unknown():
    """An unknown format name names the closest built-in one."""
    with pytest.raises(promptcraft.UnknownFormatError, match="llama-3.2"):
        promptcraft.get_format("llama-32")


def test_render_accepts_name_path_and_format(tmp_path):
    """render() takes a built-in name, a TOML path or a Format, with the same result."""
    fmt = promptcraft.get_format("smollm2")
    by_name = promptcraft.render(CHAT, "smollm2", add_generation_prompt=True)
    by_format = promptcraft.render(CHAT, fmt, add_generation_prompt=True)
    path = tmp_path / "mine.toml"
    path.write_bytes(pathlib.Path(fmt.path).read_bytes())
    by_path = promptcraft.render(CHAT, str(path), add_generation_prompt=True)
    assert by_name == by_format == by_path
    assert by_name.endswith("<|im_start|>assistant\n")


def test_both_flags_is_an_error():
    """add_generation_prompt with continue_final_message is refused, as in transformers."""
    with pytest.raises(promptcraft.OptionsError, match="cannot both be set"):
        promptcraft.get_format("smollm2").render(CHAT, add_generation_prompt=True, continue_final_message=True)


def test_continue_final_message_leaves_turn_open():
    """The final message is written without its closing text."""
    chat = CHAT[:3]
    out = promptcraft.get_format("smollm2").render(chat, continue_final_message=True)
    assert out.endswith("<|im_start|>assistant\nHello.")


def test_variables_pin_and_validate():
    """A declared variable pins the output; unknown or mistyped ones are errors."""
    fmt = promptcraft.get_format("llama-3.2")
    out = fmt.render(CHAT, date_string="01 Jan 2030")
    assert "Today Date: 01 Jan 2030\n\nBe brief.<|eot_id|>" in out
    assert fmt.render(CHAT, date_string="01 Jan 2030") == out
    with pytest.raises(promptcraft.OptionsError, match="did you mean 'date_string'"):
        fmt.render(CHAT, date_strin="x")
    with pytest.raises(promptcraft.OptionsError, match="must be a string"):
        fmt.render(CHAT, date_string=20300101)
    with pytest.raises(promptcraft.OptionsError, match="declares none"):
        promptcraft.get_format("smollm2").render(CHAT, date_string="x")


def test_default_date_is_today():
    """Without date_string, llama-3.2 writes today's local date, as strftime_now does."""
    import datetime

    out = promptcraft.get_format("llama-3.2").render(CHAT)
    assert f"Today Date: {datetime.datetime.now().strftime('%d %b %Y')}\n" in out


@pytest.mark.parametrize(
    "messages,index,role,kind",
    [
        ([{"role": "user"}], 0, "user", promptcraft.InvalidMessageError),
        ([{"role": "user", "content": "a"}, "oops"], 1, None, promptcraft.InvalidMessageError),
        ([{"content": "a"}], 0, None, promptcraft.InvalidMessageError),
        ([{"role": "user", "content": ["a"]}], 0, "user", promptcraft.ConversationError),
        ([{"role": "user", "content": None}], 0, "user", promptcraft.InvalidMessageError),
        ([{"role": 3, "content": "a"}], 0, None, promptcraft.InvalidMessageError),
        ([], None, None, promptcraft.ConversationError),
    ],
)
def test_bad_conversations_name_the_message(messages, index, role, kind):
    """Malformed conversations raise promptcraft errors naming the message index and role."""
    for name in promptcraft.list_formats():
        fmt = promptcraft.get_format(name)
        with pytest.raises(kind) as caught:
            fmt.render(messages, **sample_variables(fmt))
        assert caught.value.index == index
        assert caught.value.role == role
        if index is not None:
            assert f"message {index}" in str(caught.value)


def test_messages_must_be_a_list():
    """A mapping or a string is not a conversation."""
    for bad in ({"messages": []}, "hello", None, 3):
        with pytest.raises(promptcraft.InvalidMessageError, match="list"):
            promptcraft.get_format("smollm2").render(bad)


def test_none_valued_keys_are_dropped():
    """Keys whose value is None are ignored, as transformers drops them."""
    chat = [{"role": "user", "content": "Hi", "name": None, "tool_calls": None}]
    assert promptcraft.render(chat, "smollm2") == promptcraft.render([{"role": "user", "content": "Hi"}], "smollm2")


def test_refusals_say_which_rule():
    """Template refusals carry the rule, the index, the role and the template's text."""
    with pytest.raises(promptcraft.RefusedError) as caught:
        promptcraft.render([{"role": "system", "content": "x"}, {"role": "user", "content": "y"}], "gemma-2")
    assert (caught.value.index, caught.value.role, caught.value.rule) == (0, "system", "system")
    assert caught.value.template_message == "System role not supported"
    with pytest.raises(promptcraft.RefusedError) as caught:
        promptcraft.render([{"role": "user", "content": "a"}, {"role": "user", "content": "b"}], "mixtral")
    assert (caught.value.index, caught.value.role, caught.value.rule) == (1, "user", "alternation")
    with pytest.raises(promptcraft.RefusedError) as caught:
        promptcraft.render([{"role": "user", "content": "a"}, {"role": "tool", "content": "b"}], "mixtral")
    assert caught.value.rule == "role"
    assert "Only user and assistant roles are supported!" in str(caught.value)


def test_tuple_of_messages_is_accepted():
    """A tuple works like a list."""
    assert promptcraft.render(tuple(CHAT), "llama-2") == promptcraft.render(CHAT, "llama-2")


def test_source_is_inspectable(tmp_path):
    """Generated code is registered with linecache: inspect and tracebacks show it."""
    path = tmp_path / "mine.toml"
    path.write_bytes(pathlib.Path(promptcraft.get_format("llama-2").path).read_bytes())
    fmt = promptcraft.load_format(path)
    assert inspect.getsource(fmt.render) in fmt.source
    filename = fmt.render.__code__.co_filename
    assert filename.startswith("<promptcraft format llama-2")
    assert "".join(linecache.getlines(filename)) in fmt.source
    assert "'<<SYS>>\\n'" in fmt.source
    fmt.render_many([CHAT[1:]])  # compiles the batch function, registered the same way
    many = fmt._many
    assert many.__code__.co_filename.startswith("<promptcraft format llama-2 render_many")
    assert inspect.getsource(many) in fmt.source
    builtin = promptcraft.get_format("llama-2")
    assert inspect.getsource(builtin.render) in builtin.source
    assert inspect.getsource(builtin._many) in builtin.source
    assert builtin.source.split("\n", 1)[1] == fmt.source.split("\n", 1)[1]


def test_traceback_shows_generated_line():
    """An error inside a renderer shows the generated source line in the traceback (a refusal leaves
    the fast path for the reference interpreter, whose line follows it)."""
    for fmt in (promptcraft.get_format("mixtral"), promptcraft.loads_format(
            pathlib.Path(promptcraft.get_format("mixtral").path).read_text(encoding="utf-8"))):
        text = ""
        try:
            fmt.render([{"role": "assistant", "content": "x"}])
        except promptcraft.RefusedError:
            text = traceback.format_exc()
        assert "return _fallback(messages, add_generation_prompt, {})" in text
        assert "raise refuse_alternation(" in text
    assert 'File "<promptcraft format mixtral' in text  # the compiled one: its source is in linecache


def test_format_attributes():
    """stop, models and variables come from the declaration."""
    fmt = promptcraft.get_format("llama-3.1")
    assert "<|eot_id|>" in fmt.stop
    assert "meta-llama/Llama-3.3-70B-Instruct" in fmt.models
    assert fmt.variables == {"date_string": "26 Jul 2024"}


def test_formats_pickle_and_render(tmp_path):
    """Built-in and file formats survive pickling and render the same."""
    builtin = promptcraft.get_format("gemma-2")
    assert pickle.loads(pickle.dumps(builtin)) is builtin
    path = tmp_path / "f.toml"
    path.write_text('name = "mine"\n[any_role]\nprefix = "<{role}>"\nsuffix = "</{role}>"\n')
    mine = promptcraft.load_format(path)
    again = pickle.loads(pickle.dumps(mine))
    assert again.render(CHAT) == mine.render(CHAT) == (
        "<system>Be brief.</system><user>Hi</user><assistant>Hello.</assistant><user>Bye</user>"
    )


def test_errors_pickle():
    """Errors keep their attributes across processes."""
    error = promptcraft.RefusedError("r", index=2, role="user", rule="alternation", template_message="t")
    back = pickle.loads(pickle.dumps(error))
    assert (back.index, back.role, back.rule, back.template_message, str(back)) == (
        2, "user", "alternation", "t", str(error)
    )
    ferr = promptcraft.FormatError("bad", path="f.toml", line=3, key="a.b")
    assert str(pickle.loads(pickle.dumps(ferr))) == "f.toml:3: a.b: bad"


def test_render_many_equals_loop():
    """render_many gives what a loop of render gives."""
    fmt = promptcraft.get_format("qwen2.5")
    batch = [CHAT, CHAT[:2], CHAT[1:2]]
    assert fmt.render_many(batch, add_generation_prompt=True) == [
        fmt.render(c, add_generation_prompt=True) for c in batch
    ]


def test_reference_agrees_on_builtins():
    """The reference interpreter and the compiled renderer agree on a plain chat."""
    for name in promptcraft.list_formats():
        fmt = promptcraft.get_format(name)
        variables = sample_variables(fmt, "x")
        try:
            fast = fmt.render(CHAT[1:], add_generation_prompt=True, **variables)
        except promptcraft.PromptcraftError:
            continue
        assert fast == reference.render(fmt.spec, CHAT[1:], True, variables)


def test_every_builtin_name_matches_its_file():
    """A built-in format's declared name is its file name."""
    import os

    for name in promptcraft.list_formats():
        fmt = promptcraft.get_format(name)
        assert os.path.basename(fmt.path) == f"{name}.toml"


def test_date_directives_that_stay_fixed_all_day():
    """Only a text that depends on the date alone is reused until midnight."""
    from promptcraft._runtime.variables import _date_only

    for text in ("%d %b %Y", "%Y-%m-%d", "%B %-d, %Y", "100%% on %A", "%%H"):
        assert _date_only(text), text
    for text in ("%H:%M", "%d %b %Y %I%p", "%s", "%c", "%Z", "trailing %"):
        assert not _date_only(text), text


def test_today_follows_a_time_zone_change(monkeypatch):
    """The date a render writes is the local date of the time zone in force at that moment, even
    when the zone changes within the process (UTC-12 and UTC+14 never share a date)."""
    import datetime
    import time

    from promptcraft._runtime.variables import today

    if not hasattr(time, "tzset"):
        pytest.skip("time.tzset is Unix-only")
    fmt = promptcraft.get_format("llama-3.2")
    seen = []
    try:
        for zone in ("Etc/GMT+12", "Etc/GMT-14", "Etc/GMT+12"):
            monkeypatch.setenv("TZ", zone)
            time.tzset()
            expected = datetime.datetime.now().strftime("%d %b %Y")
            assert today("%d %b %Y") == expected
            assert f"Today Date: {expected}\n" in fmt.render([{"role": "user", "content": "hi"}])
            seen.append(expected)
    finally:
        monkeypatch.undo()
        time.tzset()
    assert seen[0] != seen[1]


@pytest.mark.parametrize("options", [{}, {"control_tokens": "escape"}, {"continue_final_message": True}])
def test_render_many_error_names_the_conversation(options):
    """A data pipeline learns which conversation failed: its position, then the message's."""
    fmt = promptcraft.get_format("gemma-2")
    good = [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]
    bad = [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]
    with pytest.raises(promptcraft.RefusedError) as caught:
        fmt.render_many([good, good, bad, good], **options)
    error = caught.value
    assert (error.conversation, error.index, error.role, error.rule) == (2, 1, "user", "alternation")
    assert str(error).startswith("conversation 2, message 1 (user): format 'gemma-2' expects a non-user message")
    assert pickle.loads(pickle.dumps(error)).conversation == 2
    with pytest.raises(promptcraft.RefusedError) as single:  # render itself names no conversation
        fmt.render(bad, **options)
    assert single.value.conversation is None and str(single.value).startswith("message 1 (user)")


def test_render_many_collects_errors_per_conversation():
    fmt = promptcraft.get_format("qwen2.5")
    good, bad = [{"role": "user", "content": "Hi"}], [{"role": "user"}]
    results = fmt.render_many([good, bad, good, 7], errors="collect", add_generation_prompt=True)
    assert results[0] == results[2] == fmt.render(good, add_generation_prompt=True)
    assert isinstance(results[1], promptcraft.InvalidMessageError) and results[1].conversation == 1
    assert isinstance(results[3], promptcraft.ConversationError) and results[3].conversation == 3
    assert fmt.render_many([good], errors="collect") == [fmt.render(good)]
    with pytest.raises(promptcraft.OptionsError):  # an option is no conversation's fault
        fmt.render_many([good, bad], errors="collect", no_such_variable=1)
    with pytest.raises(promptcraft.OptionsError, match="collect"):
        fmt.render_many([good], errors="ignore")
    with pytest.raises(promptcraft.InvalidMessageError):
        fmt.render_many([good, bad])
