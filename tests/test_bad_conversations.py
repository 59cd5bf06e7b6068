"""Malformed conversations on every built-in format: a PromptcraftError that names the message, nothing else.

Fixed cases check the error class and its ``index`` and ``role`` attributes;
a hypothesis fuzz throws arbitrary JSON-like values at ``Format.render`` with
every flag combination and control-token policy, and checks that only
PromptcraftError comes out and that the compiled renderer agrees with the
reference interpreter. Counts are printed at the end (``[conversations] ...``).
"""

from __future__ import annotations

import functools
import inspect
import os
from functools import partial
from typing import Any, Dict, List

import pytest
from hostile_support import COUNTS, IN_CI, count_report, outcome, pinned_values, reference_outcome
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import promptcraft
from promptcraft._engine import reference

_counts = count_report("conversations")

NAMES = promptcraft.list_formats()
FLAGS = [(False, False), (True, False), (False, True)]
POLICIES = ("keep", "reject", "escape")


def fmt_and_vars(name: str):
    fmt = promptcraft.get_format(name)
    return fmt, pinned_values(fmt, "01 Jan 2025")


def all_options():
    for gen, cont in FLAGS:
        for policy in POLICIES:
            yield dict(add_generation_prompt=gen, continue_final_message=cont, control_tokens=policy)


def raises(fmt, messages, variables, error=promptcraft.PromptcraftError, **options):
    with pytest.raises(error) as caught:
        fmt.render(messages, **options, **variables)
    return caught.value


def each_format(test):
    """Run ``test(name, ...)`` for every built-in format inside one test item (thousands of items cost time)."""

    @functools.wraps(test)
    def run(*args, **kwargs):
        for name in NAMES:
            COUNTS["conversations.fixed_case_format_checks"] += 1
            try:
                test(name, *args, **kwargs)
            except AssertionError as error:
                raise AssertionError(f"format {name!r}: {error}") from error

    signature = inspect.signature(test)
    run.__signature__ = signature.replace(parameters=[p for p in signature.parameters.values() if p.name != "name"])
    del run.__wrapped__
    return run


# ---------------------------------------------------------------------------
# Fixed cases


@pytest.mark.parametrize("messages", [
    {"role": "user", "content": "x"}, "user: hi", b"[]", None, 5, 1.5, True, {"messages": []},
    {0: {"role": "user", "content": "x"}}, {"role", "content"}, iter([{"role": "user", "content": "x"}]),
], ids=lambda m: type(m).__name__)
@each_format
def test_not_a_list(name, messages):
    """A conversation that is not a list (or tuple) is an InvalidMessageError about the list itself (index None)."""
    fmt, variables = fmt_and_vars(name)
    for options in all_options():
        error = raises(fmt, messages, variables, promptcraft.PromptcraftError, **options)
        if isinstance(error, promptcraft.OptionsError):
            continue  # both flags set: refused before the messages are read
        assert isinstance(error, promptcraft.InvalidMessageError)
        assert isinstance(error, TypeError)
        assert (error.index, error.role) == (None, None)


@pytest.mark.parametrize("bad", ["hi", None, 5, ["user", "hi"], ("user", "hi"), b"user", 2.5, True],
                         ids=lambda b: type(b).__name__)
@pytest.mark.parametrize("position", [0, 1, 3])
@each_format
def test_message_not_a_mapping(name, bad, position):
    """A message that is not a mapping is an InvalidMessageError with its index and no role."""
    fmt, variables = fmt_and_vars(name)
    messages: List[Any] = [{"role": "user", "content": "u"}, {"role": "assistant", "content": "a"},
                           {"role": "user", "content": "u2"}, {"role": "assistant", "content": "a2"}]
    messages[position] = bad
    for options in all_options():
        error = raises(fmt, messages, variables, **options)
        if isinstance(error, promptcraft.OptionsError):
            continue
        assert isinstance(error, promptcraft.InvalidMessageError), error
        assert (error.index, error.role) == (position, None)


CHAT = [{"role": "user", "content": "u"}, {"role": "assistant", "content": "a"}, {"role": "user", "content": "u2"}]


def with_message(position: int, message: Dict[str, Any]) -> List[Dict[str, Any]]:
    messages = [dict(m) for m in CHAT]
    messages[position] = message
    return messages


@pytest.mark.parametrize("position", [0, 2])
@pytest.mark.parametrize("message,role", [
    ({"content": "x"}, None),
    ({"role": "user"}, "user"),
    ({"role": "user", "content": None}, "user"),
    ({"role": "user", "content": 5}, "user"),
    ({"role": "user", "content": {"text": "x"}}, "user"),
    ({"role": "user", "content": b"x"}, "user"),
    ({"role": "user", "content": 1.5}, "user"),
    ({"role": "user", "content": False}, "user"),
    ({}, None),
], ids=lambda v: repr(v)[:40])
@each_format
def test_missing_or_mistyped_role_or_content(name, position, message, role):
    """Missing or non-string role/content (None counts as missing) is InvalidMessageError naming index and role."""
    fmt, variables = fmt_and_vars(name)
    for options in all_options():
        error = raises(fmt, with_message(position, message), variables, **options)
        if isinstance(error, promptcraft.OptionsError):
            continue
        assert isinstance(error, promptcraft.InvalidMessageError), error
        assert (error.index, error.role) == (position, role), str(error)
        assert str(error).startswith(f"message {position}")


@pytest.mark.parametrize("position", [0, 2])
@pytest.mark.parametrize("content", [["x"], [{"type": "text", "text": "x"}], [{"type": "image"}],
                                     [{"type": "text", "text": 5}], [{"type": "text", "text": "x", "cache": "yes"}]],
                         ids=lambda v: repr(v)[:40])
@each_format
def test_content_as_parts(name, position, content):
    """A list of parts renders only for roles the format declares under [parts], and only the part
    kinds it declares (an image as its placeholder); anything else is an error naming the message and
    the field (never a silent drop)."""
    fmt, variables = fmt_and_vars(name)
    message = {"role": "user", "content": content}
    parts = fmt.spec.parts
    accepted = parts is not None and "user" in parts.roles
    if accepted and content == [{"type": "text", "text": "x"}]:
        as_text = with_message(position, {"role": "user", "content": "x"})
        assert fmt.render(with_message(position, message), **variables) == fmt.render(as_text, **variables)
        return
    image = parts.kind("image") if parts is not None else None
    if accepted and image is not None and content == [{"type": "image"}]:
        assert image.text in fmt.render(with_message(position, message), **variables)
        return
    error = raises(fmt, with_message(position, message), variables)
    assert isinstance(error, (promptcraft.InvalidMessageError, promptcraft.UnsupportedFieldError)), error
    assert (error.index, error.role) == (position, "user"), str(error)
    assert error.field is not None and error.field.startswith("content"), str(error)
    assert error.path.startswith(f"messages[{position}].content")


@pytest.mark.parametrize("field,value", [
    # An id of 9 characters: the Mistral formats write it (and refuse a call without one, as their templates do).
    ("tool_calls", [{"type": "function", "id": "abc123XYZ", "function": {"name": "f", "arguments": {}}}]),
    ("weight", 0.0), ("reasoning_content", "thought"), ("name", "bob"),
])
@each_format
def test_extra_fields_are_written_ignored_or_refused(name, field, value):
    """A field besides role and content is refused with UnsupportedFieldError naming the message and
    field, unless the format lists it under [message] ignore (its template writes nothing for it)."""
    fmt, variables = fmt_and_vars(name)
    plain = [{"role": "user", "content": "u"}, {"role": "assistant", "content": "a"}]
    messages = [plain[0], {**plain[1], field: value}]
    if field in fmt.spec.message.ignore:
        assert fmt.render(messages, **variables) == fmt.render(plain, **variables)
        return
    reasoning = fmt.spec.reasoning
    if reasoning is not None and reasoning.field and field in ("reasoning_content", "thinking", "reasoning"):
        assert value in fmt.render(messages, **variables)  # written: the final turn shows its reasoning
        return
    calls = fmt.spec.calls
    if field == "tool_calls" and calls is not None and calls.role == "assistant" and calls.content == "refuse":
        # The template writes the call in place of the answer: the answer would be left out.
        error = raises(fmt, messages, variables)
        assert isinstance(error, promptcraft.UnsupportedFieldError) and error.path == "messages[1].content", error
        return
    if field == "tool_calls" and calls is not None and calls.role == "assistant" and calls.arguments == "text":
        # The template splices the arguments into the text: a mapping is refused, its JSON string written.
        error = raises(fmt, messages, variables)
        assert isinstance(error, promptcraft.UnsupportedFieldError), error
        assert error.path == "messages[1].tool_calls[0].function.arguments", error
        messages = [plain[0], {**plain[1], field: [{**value[0], "function": {"name": "f", "arguments": "{}"}}]}]
    if field == "tool_calls" and calls is not None and calls.role == "assistant":
        written = fmt.render(messages, **variables)
        assert written != fmt.render(plain, **variables) and "f" in written.replace(fmt.render(plain, **variables), "")
        return
    writer = fmt.spec.role("assistant")
    if field == "name" and writer is not None and writer.writes_name:
        # The role writes a message's name (Jamba's "(name)").
        written = fmt.render(messages, **variables)
        assert written != fmt.render(plain, **variables) and value in written
        return
    error = raises(fmt, messages, variables)
    assert isinstance(error, promptcraft.UnsupportedFieldError), error
    assert (error.index, error.role, error.field, error.path) == (1, "assistant", field, f"messages[1].{field}")
    assert field in str(error)


@pytest.mark.parametrize("bad_role", [None, 5, ["assistant"], b"user"], ids=repr)
@each_format
def test_non_string_role_at_every_position(name, bad_role):
    """A non-string or None role is InvalidMessageError with its index, at any position and with any options."""
    # Regression: until a503e2b, formats whose [any_role] drops (llama-2, deepseek-llm...) or writes without
    # {role} rendered such a message (dropped it) instead of refusing it; this suite found it independently.
    fmt, variables = fmt_and_vars(name)
    for position in range(4):
        messages = [{"role": "user", "content": "u"}, {"role": "assistant", "content": "a"},
                    {"role": "user", "content": "u2"}, {"role": "assistant", "content": "a2"}]
        messages[position] = {"role": bad_role, "content": "x"}
        if bad_role is None:
            messages.append({"role": "user", "content": "u3", "name": None})  # None-valued keys are fine
        for options in all_options():
            error = raises(fmt, messages, variables, **options)
            if isinstance(error, promptcraft.OptionsError):
                continue
            assert isinstance(error, promptcraft.InvalidMessageError), error
            assert (error.index, error.role) == (position, None)


def skips_unchecked_roles(name: str) -> bool:
    """Formats hit by the bug below: an [any_role] with skip_empty that writes the role."""
    any_role = promptcraft.get_format(name).spec.any_role
    return any_role is not None and any_role.skip_empty and not any_role.drop and any_role.refuse is None




@pytest.mark.parametrize("name", [n
                                  for n in NAMES])
def test_non_string_role_with_empty_content(name):
    """A None or non-string role is refused even when the content is empty (skip_empty formats)."""
    fmt, variables = fmt_and_vars(name)
    for bad_role in (None, 5):
        for position in range(3):
            messages = [dict(m) for m in CHAT]
            messages[position] = {"role": bad_role, "content": ""}
            error = raises(fmt, messages, variables)
            assert isinstance(error, promptcraft.InvalidMessageError), error
            assert (error.index, error.role) == (position, None)


def test_skip_empty_any_role_checks_role_type():
    """[any_role] with skip_empty refuses a None role whose content is empty, as the reference does."""
    fmt = promptcraft.loads_format('name = "x"\n[any_role]\nprefix = "<{role}>"\nskip_empty = true\n')
    messages = [{"role": None, "content": ""}]
    with pytest.raises(promptcraft.InvalidMessageError):
        reference.render(fmt.spec, messages)
    with pytest.raises(promptcraft.InvalidMessageError):
        fmt.render(messages)


def hoists_last_only(name: str) -> bool:
    """Formats hit by the bug below: [system] placement = "hoist" with select = "last"."""
    system = promptcraft.get_format(name).spec.system
    return system.placement == "hoist" and getattr(system, "select", "all") == "last"




@pytest.mark.parametrize("name", [n
                                  for n in NAMES])
def test_bad_content_in_an_earlier_system_message(name):
    """A None or non-string content in any system message is refused with its index, even if a later one wins."""
    fmt, variables = fmt_and_vars(name)
    for bad in (None, 5, ["x"]):
        messages = [{"role": "system", "content": bad}, {"role": "system", "content": "S"},
                    {"role": "user", "content": "u"}]
        error = raises(fmt, messages, variables)
        assert isinstance(error, (promptcraft.InvalidMessageError, promptcraft.UnsupportedFieldError)), error
        assert (error.index, error.role) == (0, "system")


def test_hoist_last_checks_every_system_content():
    """placement = "hoist", select = "last": a None content in the first system message is InvalidMessageError."""
    fmt = promptcraft.loads_format('name = "x"\n[system]\nplacement = "hoist"\nselect = "last"\n[any_role]\n')
    messages = [{"role": "system", "content": None}, {"role": "system", "content": "S"},
                {"role": "user", "content": "u"}]
    with pytest.raises(promptcraft.InvalidMessageError):
        reference.render(fmt.spec, messages)
    with pytest.raises(promptcraft.InvalidMessageError):
        fmt.render(messages)


@each_format
def test_none_valued_extra_keys_are_dropped(name):
    """Keys whose value is None are ignored, as transformers drops them: the prompt is unchanged."""
    fmt, variables = fmt_and_vars(name)
    noisy = [dict(m, name=None, tool_calls=None, reasoning_content=None) for m in CHAT]
    for options in all_options():
        assert outcome(partial(fmt.render, noisy, **options, **variables)) == \
            outcome(partial(fmt.render, CHAT, **options, **variables))


@pytest.mark.parametrize("stranger", ["stranger", "tool", "ipython", "function", "developer", "", " ", "USER",
                                      "user ", "\x00", "<|im_end|>"])
@each_format
def test_unknown_roles(name, stranger):
    """A role the format does not declare is refused (RefusedError with index and role) unless [any_role] takes it."""
    fmt, variables = fmt_and_vars(name)
    messages = [{"role": "user", "content": "u"}, {"role": stranger, "content": "s"}]
    declaration = fmt.spec.role(stranger)
    for options in all_options():
        if options["add_generation_prompt"] and options["continue_final_message"]:
            continue
        result = outcome(partial(fmt.render, messages, **options, **variables))
        if declaration is None or declaration.refuse is not None:
            assert result[0] == "RefusedError", result
            error = raises(fmt, messages, variables, promptcraft.RefusedError, **options)
            assert (error.index, error.role) == (1, stranger)
            assert error.rule in ("role", "unknown_role")
        elif fmt.spec.alternation is not None and stranger == "user":
            assert result[0] == "RefusedError"
        elif _writes_call_number(declaration):
            # a result written under the number of the call it answers needs that call's id (Command R7B)
            assert result[:2] == ("UnsupportedFieldError", result[1]) and "tool_call_id:" in result[1], result
        elif reference.names_call(declaration):
            # A role that names the previous call (gpt-oss's tool results) needs a call before it.
            error = raises(fmt, messages, variables, promptcraft.RefusedError, **options)
            assert (error.index, error.role, error.rule) == (1, stranger, "calls")
        elif declaration.tool_call_id is not None:
            # The role writes the message's tool_call_id, which this one lacks: its template raises too.
            assert result[0] == "InvalidMessageError" and "tool_call_id" in result[1], result
        else:
            # written by [any_role] or dropped; a continuation of a dropped message has nothing to continue
            assert isinstance(result, str) or result[0] == "ContinuationError", result


def _writes_call_number(role) -> bool:
    texts = [role.prefix, role.suffix] + [t for _, t in role.prefix_when] + [t for _, t in role.suffix_when]
    return any("call_number" in t.names for t in texts)


@each_format
def test_refused_roles_name_the_message(name):
    """A declared-refused role (tool, ipython...) or undeclared one is RefusedError at its index, with its role."""
    fmt, variables = fmt_and_vars(name)
    for role in ["tool", "ipython", "nobody"]:
        decl = fmt.spec.role(role)
        if decl is not None and decl.refuse is None:
            continue
        messages = [{"role": "user", "content": "u"}, {"role": role, "content": "r"}]
        error = raises(fmt, messages, variables, promptcraft.RefusedError)
        assert (error.index, error.role) == (1, role)
        assert isinstance(error, promptcraft.ConversationError)


@each_format
def test_empty_conversation(name):
    """An empty list is a ConversationError about the list (index None), with every option."""
    fmt, variables = fmt_and_vars(name)
    for messages in ([], ()):
        for options in all_options():
            error = raises(fmt, messages, variables, promptcraft.ConversationError, **options)
            assert (error.index, error.role) == (None, None)
            assert not isinstance(error, promptcraft.InvalidMessageError)


@pytest.mark.parametrize("final", [{"role": "assistant"}, {"role": "assistant", "content": None},
                                   {"role": "assistant", "content": 5}, {"role": "assistant", "content": ["x"]}],
                         ids=repr)
@each_format
def test_continue_final_message_without_content(name, final):
    """continue_final_message on a final message with no (string) content names that message."""
    fmt, variables = fmt_and_vars(name)
    messages = [{"role": "user", "content": "u"}, final]
    for policy in POLICIES:
        error = raises(fmt, messages, variables, promptcraft.ConversationError,
                       continue_final_message=True, control_tokens=policy)
        assert isinstance(error, (promptcraft.InvalidMessageError, promptcraft.UnsupportedFieldError)), error
        assert (error.index, error.role) == (1, "assistant")


@each_format
def test_continue_final_message_on_empty_conversation(name):
    """continue_final_message with no messages is a ConversationError, not an IndexError."""
    fmt, variables = fmt_and_vars(name)
    for policy in POLICIES:
        error = raises(fmt, [], variables, promptcraft.ConversationError, continue_final_message=True,
                       control_tokens=policy)
        assert error.index is None


@each_format
def test_continue_final_message_of_a_message_the_format_drops(name):
    """Continuing a message the format does not write is a ContinuationError naming it, or a RefusedError."""
    fmt, variables = fmt_and_vars(name)
    for final in ({"role": "assistant", "content": ""}, {"role": "weird", "content": "w"}):
        messages = [{"role": "user", "content": "u"}, final]
        result = outcome(partial(fmt.render, messages, continue_final_message=True, **variables))
        if isinstance(result, tuple):
            assert result[0] in ("ContinuationError", "RefusedError")
            assert (result[2], result[3]) == (1, final["role"])


@each_format
def test_both_flags(name):
    """add_generation_prompt with continue_final_message is an OptionsError (no message to name), any messages."""
    fmt, variables = fmt_and_vars(name)
    for messages in (CHAT, [{"role": "user", "content": "u"}]):
        for policy in POLICIES:
            error = raises(fmt, messages, variables, promptcraft.OptionsError, add_generation_prompt=True,
                           continue_final_message=True, control_tokens=policy)
            assert "cannot both be set" in str(error)
            assert not isinstance(error, promptcraft.ConversationError)


@each_format
def test_bad_options(name):
    """An unknown policy, an unknown variable or a variable of the wrong type (a number where a string or a
    switch is wanted, a string where a number is) is an OptionsError."""
    fmt, variables = fmt_and_vars(name)
    for options in ({"control_tokens": "strip"}, {"control_tokens": None}, {"nope": "x"}, {"nope": None}):
        with pytest.raises(promptcraft.OptionsError):
            fmt.render(CHAT, **{**variables, **options})
    numbers = {v.name for v in fmt.spec.variables if v.is_number}
    for var in fmt.variables:
        with pytest.raises(promptcraft.OptionsError):
            fmt.render(CHAT, **{var: "5" if var in numbers else 5})


@each_format
def test_errors_pickle_with_their_attributes(name):
    """Conversation errors keep index and role through pickle (they cross process pools)."""
    import pickle

    fmt, variables = fmt_and_vars(name)
    error = raises(fmt, with_message(2, {"role": "user", "content": 5}), variables, promptcraft.InvalidMessageError)
    again = pickle.loads(pickle.dumps(error))
    assert (type(again), again.index, again.role, str(again)) == (type(error), error.index, error.role, str(error))


# ---------------------------------------------------------------------------
# Fuzz: arbitrary JSON-like values as messages

json_scalar = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8)
json_value = st.recursive(json_scalar, lambda inner: st.lists(inner, max_size=3)
                          | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=8)
role_value = st.sampled_from(["system", "user", "assistant", "tool", "ipython", "model", "stranger", ""]) | json_value
content_value = st.sampled_from(["", " x ", "<|im_end|>", "[INST]", "<s>", "<|eot_id|>", "<end_of_turn>"]) \
    | st.text(max_size=10) | json_value
message = st.one_of(
    st.fixed_dictionaries({"role": role_value, "content": content_value},
                          optional={"name": json_value, "tool_calls": json_value}),
    st.fixed_dictionaries({"role": st.sampled_from(["user", "assistant", "system"]),
                           "content": st.text(max_size=10)}),
    st.dictionaries(st.sampled_from(["role", "content", "name", "Role", "contents"]) | st.text(max_size=5),
                    json_value, max_size=4),
    json_value,
)
messages_value = st.one_of(st.lists(message, max_size=6), st.lists(message, max_size=4).map(tuple), json_value)


def known_bug(fmt: Any, fast: Any, slow: Any, messages: Any) -> "str | None":
    """Which pinned bug (xfail tests above) explains a compiled render where the reference refuses a message."""
    if not (isinstance(fast, str) and isinstance(slow, tuple) and slow[0] == "InvalidMessageError"):
        return None
    message = messages[slow[2]]
    if not isinstance(message, dict):
        return None
    if ("has no 'role'" in slow[1] or "'role' must be a string" in slow[1]) and skips_unchecked_roles(fmt.name) \
            and message.get("content") == "":
        return "skip_empty_role_unchecked"
    if ("has no 'content'" in slow[1] or "'content' must be a string" in slow[1]) and hoists_last_only(fmt.name) \
            and message.get("role") in fmt.spec.system.leading_roles:
        return "hoist_last_content_unchecked"
    return None


@settings(max_examples=int(os.environ.get("PROMPTCRAFT_CONVERSATION_EXAMPLES", "100")), deadline=None,
          derandomize=IN_CI, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(messages=messages_value)
def test_fuzzed_messages_raise_only_promptcraft_errors(messages):
    """Any JSON-like value as messages gives a prompt or a PromptcraftError, as the reference does, on every format."""
    COUNTS["conversations.fuzzed_message_lists"] += 1
    for name in NAMES:
        fmt, variables = fmt_and_vars(name)
        for gen, cont in FLAGS + [(True, True)]:
            for policy in POLICIES:
                COUNTS["conversations.renders"] += 1
                fast = outcome(partial(fmt.render, messages, add_generation_prompt=gen, continue_final_message=cont,
                                       control_tokens=policy, **variables))
                slow = reference_outcome(fmt, messages, gen, cont, policy, variables)
                bug = known_bug(fmt, fast, slow, messages) if fast != slow else None
                if bug:
                    COUNTS[f"conversations.known_bug_{bug}_{name}"] += 1
                    continue
                assert fast == slow, (name, gen, cont, policy)
                if isinstance(fast, tuple) and fast[0] != "OptionsError":
                    COUNTS["conversations.errors"] += 1
                    index = fast[2]
                    if index is not None:
                        assert isinstance(messages, (list, tuple)) and 0 <= index < len(messages)
