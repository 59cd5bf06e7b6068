"""Format.parse_output and Format.output_parser: a completion read back into the assistant message.

For every built-in format, the text the format writes for an assistant message (after the
generation prompt, up to the end of its turn) is parsed back and must give that message: its
content, its reasoning where the format writes it, its calls with their arguments as mappings.
Streaming the same text cut at random places must give the same message, and deltas that add up
to it. Malformed and hostile completions end in ``OutputError`` (where and why) in bounded time.
"""

from __future__ import annotations

import json
import os
import string
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import agent_conversations, format_toml, json_objects
from test_equivalence import VARIABLES

import promptcraft
from promptcraft import OutputError
from promptcraft._spec.model import OWN_REASONING_FIELDS, Slot

#: Generated messages per format: a few seconds for all of them.
EXAMPLES = int(os.environ.get("PROMPTCRAFT_PARSE_EXAMPLES", "25"))

#: Formats whose output parse_output refuses, and why (the form says so; this pins the list).
REFUSED: dict = {}

#: Formats whose completions without calls are read, and whose calls are not yet: a completion holding the
#: text their calls open with is refused there (never read as content). Why, as the form says it.
CALLS_UNREAD: dict = {
}

#: Results per format, printed at the end (the report's counts).
COUNTS: dict = {}

# Text without whitespace at its ends and without markup, so a format's trims leave it whole.
_SAFE = string.ascii_letters + string.digits + " .,;:!?'\"-_()/=+*#@%&é日🙂\n"
plain = st.text(alphabet=_SAFE, min_size=1, max_size=30).map(str.strip).filter(bool)
maybe_plain = st.one_of(st.just(""), plain)


def _type(value):
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if value is None:
        return "null"
    return "object" if isinstance(value, dict) else "array"


def tools_for(calls):
    """Tool definitions whose schemas type every argument the calls pass."""
    tools = {}
    for call in calls:
        function = call["function"]
        arguments = function["arguments"]
        if isinstance(arguments, str):
            arguments = json.loads(arguments)
        properties = tools.setdefault(function["name"], {})
        for key, value in arguments.items():
            # (described: Command R+'s template reads each parameter's description unguarded)
            properties.setdefault(key, {"type": _type(value), "description": "d"})
    return [{"type": "function", "function": {"name": name, "description": "d",
                                              "parameters": {"type": "object", "properties": props}}}
            for name, props in tools.items()]


def histories(fmt):
    """Conversations the format renders, to end with the generated message."""
    return ([{"role": "user", "content": "What now?"}],
            [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What now?"}])


def written(fmt, history, message, tools, variables):
    """``(prompt, completion)``: the prompt with its generation prompt, and what the format writes
    for ``message`` after it, up to the end of its turn; ``None`` when the format writes it otherwise
    (or refuses it)."""
    try:
        prompt = fmt.render(history, add_generation_prompt=True, tools=tools, **variables)
        whole = fmt.render_spans(history + [message], tools=tools, **variables)
    except promptcraft.PromptcraftError:
        return "refused"
    index = len(history)
    spans = [span for span in whole.spans if span.message == index]
    if not spans:
        return "not written"
    end = spans[-1].end
    if whole.text.startswith(prompt) and end >= len(prompt):
        return prompt, whole.text[len(prompt):end]
    output = fmt.spec.output
    heads = [] if output is None or output.prefix is None else [
        text.fill({"role": "assistant"}) for text in [output.prefix] + [t for _, t in output.prefix_when]]
    if any(head.strip() and prompt.endswith(head) for head in heads):
        # The model answers after a header that history turns write otherwise ([output] prefix):
        # what it writes is the turn without its written header.
        body = next((s.start for s in spans if s.kind != "scaffold"), end)
        return prompt, whole.text[body:end]
    role = fmt.spec.role("assistant")
    opening = role.prefix.fill({"role": "assistant"}) if role is not None and not role.prefix_when else ""
    start = spans[0].start
    if opening.strip() and prompt.endswith(opening) and whole.text.startswith(opening, start):
        # The prompt opens the turn after text no history turn has (Command R+'s instruction turn):
        # the model writes what follows the turn's opening.
        return prompt, whole.text[start + len(opening):end]
    return "not after the prompt"


def form_of(fmt):
    return fmt._built.output_form()


def embedded(fmt):
    """Whether the format reads reasoning from the content, written as its [output] declares."""
    return fmt.spec.output is not None and fmt.spec.output.reasoning is not None


def reasoning_message(fmt, reasoning, content):
    """The message fields that carry ``reasoning`` before ``content`` in this format, or ``None``."""
    spec = fmt.spec
    if spec.output is not None and spec.output.reasoning is not None:
        return {"content": spec.output.reasoning.fill({"reasoning": reasoning, "content": content})}
    if spec.reasoning is not None:
        if spec.reasoning.field:
            return {"content": content, spec.reasoning.field: reasoning}
        return {"content": spec.reasoning.template.fill({"reasoning": reasoning, "content": content})}
    return None


@st.composite
def messages_for(draw, fmt):
    """An assistant message this format writes: content, reasoning where it reads one, calls where
    it writes them; and what parse_output must give back (reasoning given, calls as mappings)."""
    spec = fmt.spec
    calls_spec = spec.calls
    if spec.output is not None and spec.output.call_name == "attach" and draw(st.booleans()):
        # A call written as the message the format writes (GLM-4's): the attached field names it, the
        # content is its arguments' JSON as given, read back as written.
        field = spec.role("assistant").attach_field
        name = draw(st.text(alphabet=_SAFE.replace("\n", ""), min_size=1, max_size=12))
        arguments = json.dumps(draw(json_objects), indent=draw(st.sampled_from([None, 2, 4])),
                               ensure_ascii=draw(st.booleans()))
        return {"role": "assistant", field: name, "content": arguments}, arguments, None, []
    reasoning = draw(st.one_of(st.none(), plain)) if reasoning_message(fmt, "r", "c") is not None else None
    calls = []
    if calls_spec is not None and draw(st.booleans()):
        most = calls_spec.max or 3
        names = draw(st.lists(st.sampled_from(["get_weather", "search", "f", "lookup"]), min_size=1, max_size=most,
                              unique=True))
        for name in names:
            arguments = draw(json_objects)
            if calls_spec.arguments == "parameters":
                # (a key holding the literal that ends it, "=" or ">", is written ambiguously: no key; nor
                # one opening with what closes the arguments where a parameter opens with its key: MiniCPM3's
                # `f()=1)` reads as a call without arguments)
                pieces = calls_spec.parameter.pieces
                ending = pieces[pieces.index(Slot("key")) + 1].strip()[:1]
                call = calls_spec.call.pieces
                opens = [p for p in pieces if p != ""][0] == Slot("key") and Slot("arguments") in call
                closing = call[call.index(Slot("arguments")) + 1][:1] if opens else None
                arguments = {k: v for k, v in arguments.items() if k and k == k.strip() and ending not in k
                             and "\n" not in k and not (closing and k.startswith(closing))}
            calls.append({"name": name, "arguments": arguments})
    if reasoning is not None and not calls and spec.reasoning is not None \
            and spec.reasoning.field in OWN_REASONING_FIELDS:
        reasoning = None  # (a plan is written before calls only: refused on an answer, test_structured says)
    # Where the format writes ids (Mistral's, required there), each call has one: 9 letters and digits,
    # the strictest form (ID_FORMS) any format takes.
    ids = [draw(st.text(string.ascii_letters + string.digits, min_size=9, max_size=9)) for _ in calls] \
        if calls_spec is not None and calls_spec.id is not None else []
    # Where the calls take the content's place, or its text is their reasoning (Harmony), it is empty.
    content = "" if calls and calls_spec.content in ("refuse", "reasoning") else draw(maybe_plain if calls else plain)
    message = {"role": "assistant", "content": content}
    if reasoning is not None:
        message.update(reasoning_message(fmt, reasoning, content))
    if calls:
        text = calls_spec.arguments == "text"
        message["tool_calls"] = [{"type": "function", "function": {
            "name": c["name"], "arguments": json.dumps(c["arguments"]) if text else c["arguments"]}} for c in calls]
        for call, given in zip(message["tool_calls"], ids):
            call["id"] = given
    return message, content, reasoning, calls


def chunked(text, cuts):
    points = sorted({min(c, len(text)) for c in cuts})
    out, last = [], 0
    for point in points + [len(text)]:
        out.append(text[last:point])
        last = point
    return out


def stream(fmt, completion, cuts, **options):
    """The deltas and the message from streaming ``completion`` cut at ``cuts``."""
    parser = fmt.output_parser(**options)
    deltas = []
    for piece in chunked(completion, cuts):
        deltas += parser.feed(piece)
    message = parser.close()
    return deltas + parser.pending, message


def joined(deltas):
    out = {"content": "", "reasoning_content": "", "tool_calls": []}
    for delta in deltas:
        for key, value in delta.items():
            if key == "tool_calls":
                for call in value:
                    call = dict(call)
                    assert call.pop("index") == len(out["tool_calls"])
                    out["tool_calls"].append(call)
            else:
                out[key] = out.get(key, "") + value  # (a call's name as the attached field: GLM-4's metadata)
    return out


def response_templates(fmt):
    """The format's response_template without and with tools, where it has one, when transformers
    (whose parse_response reads them) is installed."""
    try:
        from transformers.utils.chat_parsing import parse_response  # noqa: F401
    except ImportError:
        return {}
    found = {}
    for tools in (False, True):
        try:
            found[tools] = fmt.response_template(tools=tools)
        except OutputError:
            pass
    return found


def parse_response(completion, template, prefix, tools):
    from transformers.utils.chat_parsing import parse_response as parse

    return parse(completion, template, prefix=prefix, tools=tools)


def strings(value):
    """Every string inside ``value`` (keys too)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from strings(key)
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def transformers_view(message, calls=True):
    """``message`` as transformers' parse_response gives it: text fields stripped, empty ones left out."""
    out = {"role": "assistant"}
    for key in ("reasoning_content", "content"):
        if message.get(key, "").strip():
            out[key] = message[key].strip()
    if calls and message.get("tool_calls"):
        out["tool_calls"] = message["tool_calls"]
    for key, value in message.items():  # a call's name as the attached field (GLM-4's metadata)
        if key not in ("role", "content", "reasoning_content", "tool_calls") and isinstance(value, str) \
                and value.strip():
            out[key] = value.strip()
    return out


@pytest.mark.parametrize("name", promptcraft.list_formats())
def test_parse_output_round_trips(name):
    """The text a format writes for a generated assistant message parses back to it, one shot and
    streamed with random cuts, and transformers' parse_response with the format's response_template
    reads the same message; the format either reads its output or says why it cannot."""
    fmt = promptcraft.get_format(name)
    form = form_of(fmt)
    if isinstance(form, OutputError):
        assert name in REFUSED and REFUSED[name] in str(form), f"{name}: {form}"
        with pytest.raises(OutputError, match="cannot read"):
            fmt.parse_output("Hi")
        COUNTS[name] = {"refused": str(form)}
        return
    assert name not in REFUSED
    assert (name in CALLS_UNREAD) == bool(form.unread_calls), form.unread_reason
    if form.unread_calls:
        assert CALLS_UNREAD[name] in form.unread_reason, form.unread_reason
    variables = {k: v for k, v in VARIABLES.items() if k in fmt.variables}
    switches = [v.name for v in fmt.spec.variables if v.is_switch]
    templates = response_templates(fmt)
    counts = {"cases": 0, "reasoning": 0, "reasoning_lost": 0, "calls": 0, "call_count": 0}

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=bool(os.environ.get("CI")),
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])
    @given(case=messages_for(fmt), which=st.integers(0, 1),
           flags=st.fixed_dictionaries({n: st.booleans() for n in switches}),
           cuts=st.lists(st.integers(0, 400), max_size=8), give_tools=st.booleans())
    def run(case, which, flags, cuts, give_tools):
        message, content, reasoning, calls = case
        history = histories(fmt)[which]
        named = [{"function": {"name": message[form.attach.field], "arguments": content}}] \
            if form.attach is not None and form.attach.field in message else []  # (GLM-4's metadata)
        tools = tools_for(message.get("tool_calls", named)) if give_tools or fmt.spec.calls is not None else None
        options = dict(variables, **flags)
        found = written(fmt, history, message, tools, options)
        if found == "refused" and tools is not None:
            tools = None
            found = written(fmt, history, message, None, options)
        if isinstance(found, str):
            counts[found] = counts.get(found, 0) + 1
            return
        prompt, completion = found
        if embedded(fmt) and reasoning is not None and completion.lstrip().startswith(form.reasoning.open.tokens[0]) \
                and prompt.rstrip().endswith(form.reasoning.open.tokens[0]):
            # The turn's written prefix opens the block itself (Nemotron Nano v2's final answer): the
            # content holds the reasoning from there on, as the model writes it after the prompt.
            opening = fmt.spec.output.reasoning.pieces[0]
            message = dict(message, content=message["content"][len(opening):])
            found = written(fmt, history, message, tools, options)
            if isinstance(found, str):
                counts[found] = counts.get(found, 0) + 1
                return
            prompt, completion = found
        # A template that cuts reasoning out of this turn (DeepSeek R1's answers) leaves no block to read.
        unclosed = form.reasoning is not None and form.reasoning.close.tokens[0] not in completion
        lost = reasoning is not None and unclosed
        if (unclosed and prompt.rstrip().endswith(form.reasoning.open.tokens[0])) or (
                reasoning is not None and form.reasoning is not None
                and prompt.rstrip().endswith(form.reasoning.close.tokens[0])):
            # The prompt opens a block this history turn never closes, or closes one this turn then
            # writes (DeepSeek V3.1 keeps a calls turn whole): not something a model completes.
            counts["history turn"] = counts.get("history turn", 0) + 1
            return
        if calls and form.calls is None:
            # Calls the reader cannot read yet: refused where they start, one shot and streamed.
            for read in (lambda: fmt.parse_output(completion, prompt=prompt, tools=tools),
                         lambda: stream(fmt, completion, cuts, prompt=prompt, tools=tools)):
                with pytest.raises(OutputError, match="cannot read this format's calls yet") as caught:
                    read()
                assert caught.value.field == "tool_calls[0]"
                at = caught.value.offset
                # (where the prompt wrote the start of the call's opening, from the completion's start)
                assert any(completion.startswith(token, at) or (at == 0 and (prompt + completion).find(
                    token, len(prompt) - len(token)) >= 0) for token in form.unread_calls)
            counts["calls unread"] = counts.get("calls unread", 0) + 1
            return
        got = fmt.parse_output(completion, prompt=prompt, tools=tools)
        counts["cases"] += 1
        # (reasoning read where a prefix variant writes it is read into the format's own field: a plan)
        field = form.plan.field if form.plan is not None else "reasoning_content"
        assert got["role"] == "assistant"
        if lost:
            # What the cut leaves of "...</think>\n\nANSWER" is the answer after newlines.
            assert got["content"].lstrip("\n") == content, (completion, got)
            assert not got.get(field), (completion, got)
            counts["reasoning_lost"] += 1
        else:
            assert got["content"] == content, (completion, got)
            assert got.get(field) == (reasoning or None), (completion, got)
            counts["reasoning"] += reasoning is not None
        want_calls = [{"type": "function", "function": c} for c in calls]
        got_calls = [{k: v for k, v in c.items() if k != "id"} for c in got.get("tool_calls", [])]
        assert got_calls == want_calls, (completion, got)
        if form.attach is not None:
            # A call named by the attached field is the message as written, and renders back to the text.
            field = form.attach.field
            assert got.get(field) == message.get(field), (completion, got)
            assert fmt.render(history + [got], tools=tools, **options) == prompt + completion
            counts["attached calls"] = counts.get("attached calls", 0) + (field in got)
        if calls:
            counts["calls"] += 1
            counts["call_count"] += len(calls)
            call_id = form.calls.call_id
            for position, call in enumerate(got["tool_calls"]):
                if fmt.spec.calls.id is not None:  # the id given, written by the format
                    assert call["id"] == message["tool_calls"][position]["id"], (completion, got)
                elif call_id is None:
                    assert "id" not in call
                else:
                    assert call["id"] == call_id.fill({"name": call["function"]["name"], "index": str(position),
                                                       "number": str(position)})
        template = templates.get(tools is not None)
        if template is not None:
            try:
                theirs = parse_response(completion, template, prefix=prompt, tools=tools)
            except ValueError:
                theirs = None
            # Without a schema transformers keeps parameter values as text; parse_output reads them.
            typed = tools is not None or form.calls is None or form.calls.arguments != "parameters"
            if theirs is not None and not typed:
                theirs.pop("tool_calls", None)
            if theirs == transformers_view(got, typed):
                counts["response_template"] = counts.get("response_template", 0) + 1
            else:
                # transformers ends a region at the first close marker: an argument holding markup
                # ("</tool_call>") is cut there, where parse_output reads the JSON to its end.
                assert any("<" in text for text in strings(calls)), (completion, theirs, got)
                counts["response_template markup"] = counts.get("response_template markup", 0) + 1
        deltas, streamed = stream(fmt, completion, cuts, prompt=prompt, tools=tools)
        assert streamed == got, (completion, cuts)
        total = joined(deltas)
        assert total["content"] == got["content"]
        assert total.get(field, "") == got.get(field, "")
        assert total["tool_calls"] == got.get("tool_calls", [])
        if form.attach is not None:
            assert total.get(form.attach.field) == got.get(form.attach.field)
        if form.plan is not None:
            # The message read writes the completion back byte for byte, its plan included.
            assert written(fmt, history, got, tools, options) == (prompt, completion), (completion, got)
            counts["plans"] = counts.get("plans", 0) + bool(got.get(field))

    run()
    COUNTS[name] = counts
    print(f"\n[parse_output] {name}: {counts}")
    assert (counts["cases"] > 0) != (name in HISTORY_NEVER_A_COMPLETION), counts


#: Formats whose history turns are never a completion of their prompt (the prompt opens a reasoning
#: block their template cuts from every turn): read through their [output] declaration instead.
HISTORY_NEVER_A_COMPLETION = {"deepseek-r1-distill"}


def test_functionary_v32_call_named_like_the_answer():
    """Functionary v3.2's prompt ends with ">>>": "all\\n" opens the answer, any other name a call, even one
    starting with "all"."""
    fmt = promptcraft.get_format("functionary-v3.2")
    prompt = fmt.render([{"role": "user", "content": "List."}], add_generation_prompt=True)
    call = {"type": "function", "function": {"name": "all_items", "arguments": {"a": 1}}}
    cases = [('all_items\n{"a": 1}<|eot_id|>', {"role": "assistant", "content": "", "tool_calls": [call]}),
             ("all\nHi<|eot_id|>", {"role": "assistant", "content": "Hi"})]
    for text, want in cases:
        assert fmt.parse_output(text, prompt=prompt) == want
        assert stream(fmt, text, list(range(len(text))), prompt=prompt)[1] == want


def test_functionary_python_calls():
    """Functionary v3.1 writes a call to python as <|python_tag|> and its code (no name: the variant is
    chosen for it), other calls as <function=NAME>JSON</function>: the code reads back as written, up to
    the next call or the end of the turn, one shot and streamed."""
    fmt = promptcraft.get_format("functionary-v3.1")
    history = [{"role": "user", "content": "Run it."}]
    message = {"role": "assistant", "content": "Sure.", "tool_calls": [
        {"type": "function", "function": {"name": "python", "arguments": 'print("<b>")\nx = {1: [2]}'}},
        {"type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}},
        {"type": "function", "function": {"name": "python", "arguments": "1 + 1"}}]}
    prompt = fmt.render(history, add_generation_prompt=True)
    completion = fmt.render(history + [message])[len(prompt):]
    want = json.loads(json.dumps(message))
    want["tool_calls"][1]["function"]["arguments"] = {"a": 1}
    assert fmt.parse_output(completion, prompt=prompt) == want
    for cuts in ([5], list(range(len(completion)))):
        assert stream(fmt, completion, cuts, prompt=prompt)[1] == want


def test_command_r_plus_calls_after_its_instruction_turn():
    """Command R+'s tool_use prompt ends with an instruction turn and the answer's opening: a completion
    is the plan, then the actions as an indented JSON list, or an answer alone."""
    fmt = promptcraft.get_format("command-r-plus-tool-use")
    assert fmt.parse_output("The answer.<|END_OF_TURN_TOKEN|>") == {"role": "assistant", "content": "The answer."}
    text = ('Plan.\nAction:\n```json\n[\n    {\n        "tool_name": "f",\n        "parameters": {\n'
            '            "a": [\n                1\n            ]\n        }\n    }\n]```\n')
    want = {"role": "assistant", "content": "Plan.", "tool_calls": [
        {"type": "function", "function": {"name": "f", "arguments": {"a": [1]}}}]}
    for cuts in ([], [3, 9, 14, 60]):
        assert stream(fmt, text, cuts)[1] == want


@pytest.mark.parametrize("name", [n for n in promptcraft.list_formats()
                                  if (promptcraft.get_format(n).spec.output or None) is not None
                                  and promptcraft.get_format(n).spec.output.reasoning is not None])
@settings(max_examples=20, deadline=None, derandomize=bool(os.environ.get("CI")))
@given(reasoning=plain, content=plain, switch=st.booleans(), cuts=st.lists(st.integers(0, 200), max_size=6))
def test_output_reasoning_completions(name, reasoning, content, switch, cuts):
    """A completion written as the format's [output] reasoning declares (after what the prompt already
    wrote of it, ended by its stop string) reads back to its reasoning and answer, streamed too."""
    fmt = promptcraft.get_format(name)
    switches = {v.name: switch for v in fmt.spec.variables if v.is_switch}
    prompt = fmt.render([{"role": "user", "content": "What now?"}], add_generation_prompt=True, **switches)
    answer = fmt.spec.output.content.fill({"content": content}) if fmt.spec.output.content else content
    full = fmt.spec.output.reasoning.fill({"reasoning": reasoning, "content": answer})
    overlap = max((k for k in range(len(full), 0, -1) if prompt.endswith(full[:k])), default=0)
    form = form_of(fmt)
    if prompt.rstrip().endswith(form.reasoning.close.tokens[0]):
        full, overlap = answer, 0  # the prompt closed the block: the model answers
        reasoning = None
    completion = full[overlap:] + fmt.stop[0]
    got = fmt.parse_output(completion, prompt=prompt)
    assert got == dict({"role": "assistant", "content": content},
                       **({"reasoning_content": reasoning} if reasoning else {})), completion
    deltas, streamed = stream(fmt, completion, cuts, prompt=prompt)
    assert streamed == got
    assert joined(deltas)["reasoning_content"] == (reasoning or "")


# ---------------------------------------------------------------------------
# Malformed output: an OutputError that says what and where, with what was read before it.

def error_of(name, text, **options):
    with pytest.raises(OutputError) as caught:
        promptcraft.get_format(name).parse_output(text, **options)
    return caught.value


def test_unclosed_reasoning_is_reported_with_what_was_read():
    """A reasoning block cut short: the error names the field and where it opened; partial keeps it."""
    error = error_of("qwen3", "<think>\nStep one, step two")
    assert error.field == "reasoning_content" and error.offset == len("<think>\n")
    assert error.partial == {"role": "assistant", "content": "", "reasoning_content": "Step one, step two"}
    error = error_of("qwen3.5", "Step one<|im_end|>")  # the generation prompt opened the block
    assert error.field == "reasoning_content" and "ends inside" in error.reason


def test_invalid_json_arguments_are_located():
    """Arguments that are not JSON: the error points into them and names the call's field."""
    text = '<tool_call>\n{"name": "f", "arguments": {"a": }}\n</tool_call><|im_end|>'
    error = error_of("qwen2.5", text)
    assert error.field == "tool_calls[0].function.arguments"
    assert text[error.offset] == "}" and "not valid JSON" in error.reason
    error = error_of("qwen2.5", '<tool_call>\n{"name": "f", "arguments": [1]}\n</tool_call>')
    assert "not a JSON object" in error.reason
    error = error_of("qwen2.5", 'Sure.\n<tool_call>\n{"name": "f", "arguments": {"a": "b')
    assert error.field == "tool_calls[0].function.arguments" and "not closed" in error.reason
    assert error.partial["content"] == "Sure."


def test_unknown_tool_name_when_tools_are_given():
    """With tools, a call naming another tool is an error naming the call; without them it is read."""
    text = '<tool_call>\n{"name": "delete_all", "arguments": {}}\n</tool_call><|im_end|>'
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {}}}]
    error = error_of("qwen2.5", text, tools=tools)
    assert error.field == "tool_calls[0].function.name" and "'get_weather'" in error.reason
    assert text[error.offset:].startswith("delete_all")
    assert promptcraft.get_format("qwen2.5").parse_output(text)["tool_calls"][0]["function"]["name"] == "delete_all"


def test_malformed_turns():
    """Text after the end of the turn, more calls than the format writes, a call turn without a call."""
    assert "after the end of the turn" in error_of("qwen2.5", "Hi<|im_end|>\n<|im_start|>user\nmore").reason
    call = '{"name": "f", "parameters": {}}'
    error = error_of("llama-3.1", call + call + "<|eot_id|>")
    assert error.field == "tool_calls[1]" and "at most 1" in error.reason
    assert "tool calls, and has none" in error_of("llama-4", "<|python_start|>Hi<|eot|>").reason
    error = error_of("qwen2.5", "Sure. <tool_call>\n{\"nom\": \"f\"}\n</tool_call>")
    assert "not as the format writes one" in error.reason and error.offset == 6 and error.partial["content"] == "Sure. "
    assert "after the tool calls" in error_of(
        "qwen2.5", '<tool_call>\n{"name": "f", "arguments": {}}\n</tool_call> and more').reason


def test_parameters_read_by_the_tool_schema():
    """Parameter values are text: the tool's schema types them; without one, Python's constants,
    numbers and JSON mappings and lists are read as such and anything else stays text."""
    fmt = promptcraft.get_format("qwen3.5")
    text = ("</think>\n\n<tool_call>\n<function=f>\n<parameter=n>\n1\n</parameter>\n<parameter=s>\n1\n</parameter>\n"
            "<parameter=b>\nTrue\n</parameter>\n<parameter=o>\n{\"k\": [1, 2]}\n</parameter>\n"
            "<parameter=x>\nNone\n</parameter>\n</function>\n</tool_call><|im_end|>")
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {
        "n": {"type": "integer"}, "s": {"type": "string"}, "b": {"type": "boolean"}, "o": {"type": "object"},
        "x": {"type": ["string", "null"]}}}}}]
    assert fmt.parse_output(text, tools=tools)["tool_calls"][0]["function"]["arguments"] == {
        "n": 1, "s": "1", "b": True, "o": {"k": [1, 2]}, "x": "None"}
    assert fmt.parse_output(text)["tool_calls"][0]["function"]["arguments"] == {
        "n": 1, "s": 1, "b": True, "o": {"k": [1, 2]}, "x": None}


def test_stop_string_optional_and_prompt_optional():
    """The stop string may be left out (servers strip it); without a prompt, the format's own
    generation prompt (default variables) says where the completion starts."""
    fmt = promptcraft.get_format("qwen3")
    want = {"role": "assistant", "content": "A", "reasoning_content": "R"}
    assert fmt.parse_output("<think>\nR\n</think>\n\nA") == want
    assert fmt.parse_output("<think>\nR\n</think>\n\nA<|im_end|>\n") == want
    assert fmt.parse_output("A", prompt="<|im_start|>assistant\n<think>\n\n</think>\n\n") == {
        "role": "assistant", "content": "A"}
    deepseek = promptcraft.get_format("deepseek-r1-distill")
    assert deepseek.parse_output("R\n</think>\n\nA") == {"role": "assistant", "content": "A",
                                                         "reasoning_content": "R"}


def test_a_format_whose_output_cannot_be_read_says_so():
    """A declaration the reader does not know (here a reasoning cut without [output]) is refused
    with the reason, never read as plain content."""
    toml = promptcraft.get_format("deepseek-r1-distill").toml
    fmt = promptcraft.loads_format(toml[:toml.index("\n[output]")])
    with pytest.raises(OutputError, match=r"cannot read .* \(\[output\] reasoning\)"):
        fmt.parse_output("Hi")
    with pytest.raises(OutputError, match="cannot read"):
        fmt.output_parser()


def test_streaming_one_character_at_a_time():
    """Fed a character at a time, the parser gives text as soon as no marker can start there, a call
    when it is complete, and the same message."""
    fmt = promptcraft.get_format("qwen3")
    text = ("<think>\nI should call.\n</think>\n\nChecking.\n<tool_call>\n{\"name\": \"f\", \"arguments\": "
            "{\"a\": 1}}\n</tool_call><|im_end|>")
    parser = fmt.output_parser()
    deltas = []
    for char in text:
        deltas += parser.feed(char)
    assert parser.close() == fmt.parse_output(text)
    kinds = [next(iter(d)) for d in deltas]
    assert kinds.index("content") > kinds.index("reasoning_content") and kinds[-1] == "tool_calls"
    assert "".join(d.get("content", "") for d in deltas) == "Checking."


# ---------------------------------------------------------------------------
# Hostile output: an error or a result, in bounded (linear) time.

HOSTILE = [
    ("qwen2.5", "<tool_call>" * 50_000),
    ("qwen2.5", '<tool_call>\n{"name": "f", "arguments": ' + "{" * 200_000),
    ("qwen2.5", '<tool_call>\n{"name": "f", "arguments": ' + "[" * 100_000 + "]" * 100_000 + "}"),
    ("qwen2.5", '<tool_call>\n{"name": "' + "x" * 1_000_000),
    ("qwen3", "<think>" * 50_000),
    ("qwen3", "</think>" * 50_000),
    ("qwen3.5", "</think>\n\n<tool_call>\n<function=f>\n" + "<parameter=a>\n</parameter>\n" * 10_000),
    ("qwen3.5", "</think><tool_call><function=f>" + "<parameter=" * 50_000),
    ("kimi-k2", "<|tool_calls_section_begin|><|tool_call_begin|>functions." * 10_000),
    ("llama-3.1", '{"name": "' * 50_000),
    ("deepseek-r1", "<think>\n" + "a" * 300_000),
    ("zephyr", "</s" * 100_000),
    ("mistral-v0.3", "[TOOL_CALLS] [" + "{" * 200_000),
    ("mistral-nemo", "[TOOL_CALLS][" + '{"name": "f", "arguments": {}, "id": "abcdefghi"}, ' * 20_000),
    ("jamba-1.6", "<tool_calls>[\n" + '    {"name": "' * 50_000),
]


@pytest.mark.parametrize("name,text", HOSTILE, ids=[f"{n}-{i}" for i, (n, _) in enumerate(HOSTILE)])
def test_hostile_output_ends_in_bounded_time(name, text):
    """Unterminated markers, a million delimiters, deep nesting: a result or an OutputError, fast,
    in one piece and streamed in chunks of 7 characters."""
    fmt = promptcraft.get_format(name)
    for chunk in (len(text), 7):
        started = time.perf_counter()
        parser = fmt.output_parser()
        try:
            for at in range(0, len(text), chunk):
                parser.feed(text[at:at + chunk])
            parser.close()
        except OutputError as error:
            assert error.reason
        assert time.perf_counter() - started < 10, (name, chunk)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=format_toml(), data=st.data())
def test_random_formats_read_or_refuse(text, data):
    """For random formats (every key, [output] included), reading a rendered conversation's end, or
    any text, cut anywhere, gives a message or an OutputError (never another exception), and the
    stream gives the one-shot result."""
    fmt = promptcraft.loads_format(text)
    variables = {n: (False if v.is_switch else "v") for n, v in zip(fmt.variables, fmt.spec.variables)}
    try:
        rendered = fmt.render(data.draw(agent_conversations()), **variables)
    except promptcraft.PromptcraftError:
        rendered = ""
    start = data.draw(st.integers(0, len(rendered)))
    completion = rendered[start:] + data.draw(st.sampled_from(["", "<think>", "{", "</s>", "\n"]))
    cuts = data.draw(st.lists(st.integers(0, len(completion)), max_size=5))
    try:
        got = fmt.parse_output(completion, prompt=rendered[:start])
    except OutputError as error:
        got = ("error", error.reason)
    try:
        _, streamed = stream(fmt, completion, cuts, prompt=rendered[:start])
    except OutputError as error:
        streamed = ("error", error.reason)
    assert streamed == got


def test_tools_read_as_the_tool_use_format():
    """With tools, a format naming a tool_use format (which then renders) reads its calls; without
    them its own declaration, which writes none, reads the same text as content."""
    fmt = promptcraft.get_format("hermes-3")
    text = '<tool_call>\n{"name": "f", "arguments": {"a": 1}}\n</tool_call><|im_end|>'
    tools = [{"type": "function", "function": {"name": "f", "parameters": {}}}]
    assert fmt.parse_output(text, tools=tools)["tool_calls"] == [
        {"type": "function", "function": {"name": "f", "arguments": {"a": 1}}}]
    assert fmt.parse_output(text) == {"role": "assistant", "content": text[:-len("<|im_end|>")]}


def test_calls_in_one_json_list():
    """Mistral's calls: one JSON list after [TOOL_CALLS], each call a JSON object read whole (its members
    in any order, an id holding the list's punctuation), the id given back as written; a call after text,
    where the format writes calls in place of any, and an unclosed list are errors."""
    v03, nemo = promptcraft.get_format("mistral-v0.3"), promptcraft.get_format("mistral-nemo")
    text = ('[TOOL_CALLS] [{"name": "f", "arguments": {"a": [1]}, "id": "x}, ]"}, '
            '{"id": 7, "arguments": {}, "name": "g"}]')
    want = [{"id": "x}, ]", "type": "function", "function": {"name": "f", "arguments": {"a": [1]}}},
            {"id": 7, "type": "function", "function": {"name": "g", "arguments": {}}}]
    for cuts in ([], [2, 15, 40, 41, 77]):
        assert stream(v03, text + " </s>", cuts)[1] == {"role": "assistant", "content": "", "tool_calls": want}
    got = nemo.parse_output('[TOOL_CALLS][{"arguments": {}, "name": "f", "id": "abcdefghi"}]</s>')
    assert got["tool_calls"] == [{"id": "abcdefghi", "type": "function", "function": {"name": "f", "arguments": {}}}]
    error = error_of("mistral-v0.3", "Sure. " + text)
    assert error.field == "tool_calls[0]" and "in place of any text" in error.reason and error.offset == 6
    error = error_of("mistral-nemo", '[TOOL_CALLS][{"name": "f", "arguments": {}, "id": "abcdefghi"}')
    assert "ends inside the tool calls" in error.reason
    error = error_of("mistral-nemo", '[TOOL_CALLS][{"name": "f", "arguments": {}}]')
    assert "where the format writes ['arguments', 'id', 'name']" in error.reason and error.field == "tool_calls[0]"


def test_content_trimmed_beside_calls_and_python_values():
    """Qwen3-Coder trims a content only where calls follow it ([calls] trim): its leading whitespace is
    kept or not by what follows, streamed too; parameter values are Python's str() ({'k': [1]}, True)."""
    fmt = promptcraft.get_format("qwen3-coder")
    call = ("\n\n<tool_call>\n<function=f>\n<parameter=o>\n{'k': [1, 'a']}\n</parameter>\n<parameter=b>\nTrue\n"
            "</parameter>\n</function>\n</tool_call><|im_end|>")
    cases = [(" Hi <|im_end|>", {"role": "assistant", "content": " Hi "}),
             (" Hi " + call, {"role": "assistant", "content": "Hi", "tool_calls": [
                 {"type": "function", "function": {"name": "f", "arguments": {"o": {"k": [1, "a"]}, "b": True}}}]})]
    for text, want in cases:
        assert fmt.parse_output(text) == want
        for cuts in ([], list(range(len(text)))):
            deltas, got = stream(fmt, text, cuts)
            assert got == want and joined(deltas)["content"] == want["content"]


#: Formats whose output transformers' response_template vocabulary cannot say, and why.
NO_RESPONSE_TEMPLATE = {
    "llama-3.1": "they stand in place of the content",
    "llama-3.2": "they stand in place of the content",
    "llama-3.2-vision": "they stand in place of the content",
    "hermes-3-tool-use": "they stand in place of the content",
    "llama-4": "nothing but a bracket ends the arguments",
    "nemotron-nano-v2": "nothing but a bracket ends the arguments",
    # Functionary v3.2's arguments run to the next ">>>" or the end of the turn; Command R+'s to "\n    }".
    "command-r-plus-tool-use": "nothing but a bracket ends the arguments",
    "functionary-v3.2": "nothing but a bracket ends the arguments",
    "gpt-oss": "their texts differ after a slot",
    # A call to python is its code alone; the others are closed by </function>.
    "functionary-v3.1": "their texts end differently",
    "command-r7b-tool-use": "they stand in place of the content",
    "command-a": "they stand in place of the content",
    # Formats whose calls parse_output does not read yet (CALLS_UNREAD) export no response_template either.
    **{name: "cannot read them yet" for name in CALLS_UNREAD},
    # One list of calls between the [calls] prefix and suffix (Jamba's <tool_calls>[ ... ]</tool_calls>,
    # Mistral's [TOOL_CALLS] [...] of objects with ids): a region per call in transformers' vocabulary.
    "jamba-1.6": "inside one opening and closing", "mistral-v0.3": "inside one opening and closing",
    "mistral-nemo": "inside one opening and closing",
    # MiniCPM3's calls in one Python block between <|tool_call_start|> and <|tool_call_end|>.
    "minicpm3": "inside one opening and closing",
    # Parameter values as Python's str() writes them ({'k': [1]}): transformers reads them as JSON or text.
    "qwen3-coder": "as Python's str", "seed-oss": "as Python's str",
}


@pytest.mark.parametrize("name", promptcraft.list_formats())
def test_response_template_exported_or_refused(name):
    """Every format exports a response_template transformers loads, or says why it cannot."""
    fmt = promptcraft.get_format(name)
    if name in NO_RESPONSE_TEMPLATE:
        with pytest.raises(OutputError, match=NO_RESPONSE_TEMPLATE[name]):
            fmt.response_template()
        return
    template = fmt.response_template()
    assert template["version"] == 1 and template["defaults"] == {"role": "assistant"}
    assert fmt.response_template() == template and fmt.response_template() is not template
    try:
        from transformers.utils.chat_parsing.response_templates import load_response_template
    except ImportError:
        return
    load_response_template(template)


def test_harmony_output_channels():
    """gpt-oss writes Harmony channels, declared under [output]: reasoning on the analysis channel, the
    answer on the final channel, a call on the commentary channel (addressed before or after it); the
    stop string <|call|> may be left out, as servers leave stop strings out."""
    fmt = promptcraft.get_format("gpt-oss")
    prompt = fmt.render([{"role": "user", "content": "Weather in Paris?"}], add_generation_prompt=True,
                        date="2025-01-01")
    call = {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}
    cases = [
        ("<|channel|>analysis<|message|>Think.<|end|><|start|>assistant<|channel|>final<|message|>Sunny.<|return|>",
         {"role": "assistant", "content": "Sunny.", "reasoning_content": "Think."}),
        ("<|channel|>analysis<|message|>Look it up.<|end|><|start|>assistant<|channel|>commentary "
         'to=functions.get_weather <|constrain|>json<|message|>{"city": "Paris"}<|call|>',
         {"role": "assistant", "content": "", "reasoning_content": "Look it up.", "tool_calls": [call]}),
        (' to=functions.get_weather<|channel|>commentary json<|message|>{"city": "Paris"}',
         {"role": "assistant", "content": "", "tool_calls": [call]}),
    ]
    for text, want in cases:
        assert fmt.parse_output(text, prompt=prompt) == want
        assert stream(fmt, text, [3, 17, 40], prompt=prompt)[1] == want
    error = error_of("gpt-oss", "<|channel|>analysis<|message|>cut short")
    assert error.field == "reasoning_content" and error.partial["reasoning_content"] == "cut short"


def test_a_field_written_in_the_turn_prefix_is_refused_not_read_as_content():
    """Without [output] call_name, a field the turn's prefix writes (GLM-4's metadata, a call's name, before
    its newline) is not read: a completion holding one is refused where it opens, a plain answer still read."""
    toml = promptcraft.get_format("glm-4").toml
    fmt = promptcraft.loads_format(toml[:toml.index("\n[output]")] + toml[toml.index("\n[control]"):])
    assert fmt.spec.output is None
    assert fmt.parse_output("\nHello there") == {"role": "assistant", "content": "Hello there"}
    for completion in ('get_weather\n{"city": "Paris"}', "Hello"):
        with pytest.raises(promptcraft.OutputError) as caught:
            fmt.parse_output(completion)
        assert caught.value.offset == 0 and caught.value.field == "metadata"
        parser = fmt.output_parser()
        with pytest.raises(promptcraft.OutputError):
            for piece in (completion[:3], completion[3:]):
                parser.feed(piece)
            parser.close()


def test_call_named_by_the_turn_metadata():
    """GLM-4 writes a call as the assistant message whose metadata (after the role marker) names the function,
    its content the arguments' JSON on the next line; an answer opens with the newline. parse_output gives the
    message the format writes, which renders back to the text, one shot and streamed a character at a time;
    the name is checked against the tools given, the arguments are a JSON object, kept as written."""
    fmt = promptcraft.get_format("glm-4")
    history = [{"role": "user", "content": "Weather in Paris?"}]
    prompt = fmt.render(history, add_generation_prompt=True)
    arguments = '{"city": "Paris",\n "days": [1, 2]}'
    cases = [('get_weather\n' + arguments + "<|observation|>",
              {"role": "assistant", "metadata": "get_weather", "content": arguments}),
             ('get_weather\n' + arguments, {"role": "assistant", "metadata": "get_weather", "content": arguments}),
             ("\nSunny.\n\nWarm.<|user|>", {"role": "assistant", "content": "Sunny.\n\nWarm."}),
             ("\n\nget_weather\n{}", {"role": "assistant", "content": "\nget_weather\n{}"})]
    for text, want in cases:
        assert fmt.parse_output(text, prompt=prompt) == want
        assert fmt.parse_output(text) == want
        deltas, got = stream(fmt, text, list(range(len(text))), prompt=prompt)
        assert got == want and joined(deltas).get("metadata") == want.get("metadata")
        assert joined(deltas)["content"] == want["content"]
        written = fmt.render(history + [got])
        assert written == prompt + text[:len(written) - len(prompt)]
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {}}}]
    assert fmt.parse_output(cases[0][0], tools=tools) == cases[0][1]
    error = error_of("glm-4", "delete_all\n{}", tools=tools)
    assert error.field == "metadata" and error.offset == 0 and "'get_weather'" in error.reason
    error = error_of("glm-4", 'get_weather\n{"city": }<|observation|>')
    assert error.field == "content" and "not valid JSON" in error.reason
    assert error.offset == len('get_weather\n{"city": ')
    assert error.partial == {"role": "assistant", "metadata": "get_weather", "content": '{"city": }'}
    for text in ("get_weather\n[1]", "get_weather\n", "get_weather\nIt is sunny."):
        assert error_of("glm-4", text).field == "content"
    error = error_of("glm-4", "Sunny.")  # no newline: neither an answer nor a name ended by one
    assert error.field == "metadata" and "not ended by" in error.reason
    assert fmt.parse_output("") == {"role": "assistant", "content": ""}


_MARKUP = st.text(alphabet="<>|#[]= \n", max_size=4)


@settings(max_examples=40, deadline=None, derandomize=bool(os.environ.get("CI")),
          suppress_health_check=[HealthCheck.too_slow])
@given(pre=_MARKUP, opening=_MARKUP, closing=_MARKUP, after=_MARKUP, call=st.booleans(),
       name=st.text(alphabet=string.ascii_letters + string.digits + "_.", min_size=1, max_size=10),
       arguments=json_objects, answer=plain, cuts=st.lists(st.integers(0, 200), max_size=6))
def test_call_named_by_an_attached_field_around_any_text(pre, opening, closing, after, call, name, arguments, answer,
                                                         cuts):
    """``[output] call_name = "attach"`` is read from the format's texts, not GLM-4's: with any text around the
    attached field and after it in the prefix, a call (the field and its JSON arguments) or an answer reads back to
    the message, one shot and streamed, and renders back; texts that cannot tell a call from an answer (nothing
    after the field, or an attach text opening like the answer) make parse_output refuse the format."""
    head = "<" + pre + "{role}>"
    toml = "\n".join([
        'name = "attached"', 'stop = ["<|end|>"]', "[any_role]",
        "prefix = " + json.dumps(head + "{attach}" + after), "skip_empty = true",
        'attach = { field = "metadata", text = ' + json.dumps(opening + "{value}" + closing) + " }",
        "[generation]", "prompt = " + json.dumps(head.replace("{role}", "assistant")),
        "[output]", 'call_name = "attach"', ""])
    fmt = promptcraft.loads_format(toml)
    if not after or (opening and (opening.startswith(after) or after.startswith(opening))):
        with pytest.raises(OutputError, match="cannot be told"):
            fmt.parse_output(after + answer)
        return
    history = [{"role": "user", "content": "What now?"}]
    message = {"role": "assistant", "metadata": name, "content": json.dumps(arguments)} if call else \
        {"role": "assistant", "content": answer}
    prompt = fmt.render(history, add_generation_prompt=True)
    whole = fmt.render(history + [message])
    assert whole.startswith(prompt)
    completion = whole[len(prompt):] + "<|end|>"
    assert fmt.parse_output(completion, prompt=prompt) == message
    deltas, streamed = stream(fmt, completion, cuts, prompt=prompt)
    assert streamed == message and joined(deltas).get("metadata") == message.get("metadata")
    assert fmt.render(history + [streamed]) == whole
