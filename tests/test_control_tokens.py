"""The control-token policy on every built-in format: keep, reject, escape."""

from __future__ import annotations

import pytest
from conftest import sample_variables
from hostile_support import needed_tools
from hypothesis import given, settings
from hypothesis import strategies as st

import promptcraft

NAMES = promptcraft.list_formats()


def chat_with(text: str):
    return [{"role": "user", "content": "ask"}, {"role": "assistant", "content": "ok"},
            {"role": "user", "content": text}]


def variables(fmt):
    return {**sample_variables(fmt), **needed_tools(fmt)}


@pytest.mark.parametrize("name", NAMES)
def test_every_format_declares_control_tokens(name):
    """Each built-in format knows its own control strings, BOS and EOS included."""
    fmt = promptcraft.get_format(name)
    assert fmt.control_tokens
    for token in (fmt.spec.bos, fmt.spec.eos):
        if token:
            assert token in fmt.control_tokens


@pytest.mark.parametrize("name", NAMES)
def test_keep_is_the_default_and_writes_content_as_given(name):
    """keep writes forged tokens verbatim, exactly like the default."""
    fmt = promptcraft.get_format(name)
    user = fmt.spec.role("user")
    for token in fmt.control_tokens:
        chat = chat_with(f"x{token}y")
        assert fmt.render(chat, control_tokens="keep", **variables(fmt)) == fmt.render(chat, **variables(fmt))
        if any(text in f"x{token}y" for text in user.remove):
            continue  # the format takes that text out of a user's content, as its template does ("</think>")
        assert f"x{token}y" in fmt.render(chat, **variables(fmt))


@pytest.mark.parametrize("name", NAMES)
def test_reject_names_message_and_token(name):
    """reject raises ControlTokenError with the message index, role and the token found."""
    fmt = promptcraft.get_format(name)
    for token in fmt.control_tokens:
        with pytest.raises(promptcraft.ControlTokenError) as caught:
            fmt.render(chat_with(f"x{token}y"), control_tokens="reject", **variables(fmt))
        assert (caught.value.index, caught.value.role) == (2, "user")
        assert token in caught.value.token or caught.value.token in token
        assert isinstance(caught.value, promptcraft.ConversationError)
    assert fmt.render(chat_with("clean"), control_tokens="reject", **variables(fmt)) == fmt.render(
        chat_with("clean"), **variables(fmt)
    )


@pytest.mark.parametrize("name", NAMES)
def test_escape_leaves_no_token_from_content(name):
    """escape: the prompt holds exactly as many control tokens as with clean content."""
    fmt = promptcraft.get_format(name)
    clean = fmt.render(chat_with("xy"), **variables(fmt))
    for token in fmt.control_tokens:
        escaped = fmt.render(chat_with(f"x{token}y"), control_tokens="escape", **variables(fmt))
        for other in fmt.control_tokens:
            assert escaped.count(other) == clean.count(other), (token, other)


def test_escape_default_and_declared():
    """The default escape inserts U+200B after the first character; a declared one replaces the token."""
    fmt = promptcraft.get_format("smollm2")
    out = fmt.render([{"role": "user", "content": "<|im_end|>"}], control_tokens="escape")
    assert "<\u200b|im_end|>" in out
    custom = promptcraft.loads_format(
        'name = "c"\n[any_role]\nprefix = "<{role}>"\n'
        '[control]\ntokens = ["<user>"]\n[control.escape]\n"<user>" = "&lt;user>"\n'
    )
    assert custom.render([{"role": "user", "content": "<user>"}], control_tokens="escape") == "<user>&lt;user>"


def test_escape_must_not_contain_a_token():
    """A declared escape that still holds a control token is a FormatError."""
    with pytest.raises(promptcraft.FormatError, match="still contains"):
        promptcraft.loads_format(
            'name = "c"\n[any_role]\n[control]\ntokens = ["<u>"]\n[control.escape]\n"<u>" = "<<u>>"\n'
        )


def test_unknown_policy():
    """An unknown policy is an OptionsError."""
    with pytest.raises(promptcraft.OptionsError, match="control_tokens"):
        promptcraft.get_format("gemma-2").render(chat_with("x"), control_tokens="strip")


@settings(max_examples=300, deadline=None)
@given(pieces=st.lists(
    st.sampled_from(["<|im_start|>", "<|im_end|>", "<|", "|>", "im_", "<", "|", "a", "\u200b"]), max_size=12
))
def test_escape_is_complete(pieces):
    """Whatever the content, escaped content holds no control token."""
    fmt = promptcraft.get_format("smollm2")
    text = "".join(pieces)
    out = fmt.render([{"role": "system", "content": "s"}, {"role": "user", "content": text}], control_tokens="escape")
    body = out[len("<|im_start|>system\ns<|im_end|>\n<|im_start|>user\n"):-len("<|im_end|>\n")]
    assert "<|im_start|>" not in body and "<|im_end|>" not in body


PARTS_NAMES = [n for n in NAMES if (p := promptcraft.get_format(n).spec.parts) is not None and p.kind("image")]


@pytest.mark.parametrize("name", PARTS_NAMES)
def test_policies_read_the_text_parts_not_the_placeholders(name):
    """Content given as parts: the policies read the caller's text parts; a media placeholder is the
    format's own and is neither rejected nor escaped."""
    fmt = promptcraft.get_format(name)
    image = {"type": "image"}

    def chat(text):
        return [{"role": "user", "content": [image, {"type": "text", "text": text}]}]

    placeholder = fmt.spec.parts.kind("image").text
    clean = fmt.render(chat("xy"), **variables(fmt))
    assert fmt.render(chat("xy"), control_tokens="reject", **variables(fmt)) == clean
    assert fmt.render(chat("xy"), control_tokens="escape", **variables(fmt)) == clean
    assert placeholder in clean
    for token in fmt.control_tokens:
        with pytest.raises(promptcraft.ControlTokenError) as caught:
            fmt.render(chat(f"x{token}y"), control_tokens="reject", **variables(fmt))
        assert caught.value.index == 0 and "content[1]" in str(caught.value)
        escaped = fmt.render(chat(f"x{token}y"), control_tokens="escape", **variables(fmt))
        for other in fmt.control_tokens:
            assert escaped.count(other) == clean.count(other), (token, other)
