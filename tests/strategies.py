"""Hypothesis strategies: conversations, and whole random formats."""

from __future__ import annotations

import string
from typing import Dict, List

from hypothesis import strategies as st

#: Texts that break naive renderers: whitespace at the edges, template syntax,
#: quotes, backslashes, control tokens of many families, the continuation sentinel.
NASTY = [
    "", " ", "  ", "\n", "\n\n", "\t", " \n ", "\r\n", "Hi", "  leading", "trailing  ", "\nnewlines\n",
    "{{ x }}", "{% if %}", "{role}", "{content}", "{{", "}}", "'single'", '"double"', "\\", "\\n", "a\\b",
    "<|im_start|>", "<|im_end|>", "[INST]", "[/INST]", "<s>", "</s>", "<<SYS>>", "<|eot_id|>",
    "<start_of_turn>", "<|user|>", "<|assistant|>", "<think>x</think>y", "café naïve", "日本語", "🙂",
    "<think>\nplan\n</think>\n\nanswer", "</think>", "a</think>b</think>c", "<r>x</r>",
    "\u2028", "\x00", "CONTINUE_FINAL_MESSAGE_TAG",
    # Flags some templates read in a message's text, switch on and take out (SmolLM3, Nemotron Nano v2).
    "/think", "/no_think", "Be brief /no_think", "/think hard ", "/system_override", " /system_override x /think",
]

content = st.one_of(
    st.sampled_from(NASTY),
    st.text(max_size=40),
    st.lists(st.sampled_from(NASTY) | st.text(max_size=8), min_size=2, max_size=4).map("".join),
)


@st.composite
def conversations(draw, roles=("system", "user", "assistant"), odd=True) -> List[Dict[str, str]]:
    """Mostly well-formed chats (optional system, then alternating user/assistant),
    and, when ``odd``, any sequence of the given roles."""
    if odd and draw(st.integers(0, 3)) == 0:
        sequence = draw(st.lists(st.sampled_from(roles), min_size=1, max_size=7))
    else:
        turns = draw(st.integers(1, 7))
        sequence = (["system"] if draw(st.booleans()) else []) + [
            "user" if i % 2 == 0 else "assistant" for i in range(turns)
        ]
    return [{"role": role, "content": draw(content)} for role in sequence]


flags = st.sampled_from([(False, False), (True, False), (False, True)])

#: A mapping variable's value (Granite's ``controls``): keys that conditions test, JSON values.
mapping_values = st.dictionaries(st.sampled_from(["citations", "hallucinations", "length", "k", "é"]),
                                 st.sampled_from([True, False, "short", 1, None, "<&>"]), max_size=3)


def variable_values(fmt):
    """Values for some of a format's variables: booleans for switches, mappings for mapping
    variables, numbers for number variables, short texts for the others."""
    return st.fixed_dictionaries({}, optional={
        v.name: st.booleans() if v.is_switch else mapping_values if v.is_mapping else number_values
        if v.is_number else st.text(max_size=5)
        for v in fmt.spec.variables})


#: A number variable's value (Seed-OSS's thinking_budget): ints about the random gears and the
#: conditions' numbers, floats (2.0 is written 2.0, and equals 2), bools (True == 1), now and then a
#: string, which is refused.
number_values = st.one_of(st.integers(-2, 3), st.sampled_from([0.0, 2.0, -1.5, True, False, 10**20, "1"]),
                          st.floats(allow_nan=True, allow_infinity=True))

#: Message fields that applications send besides role and content (OpenAI, transformers, training tools).
EXTRA_FIELDS = ["name", "tool_call_id", "tool_calls", "reasoning_content", "thinking", "reasoning", "tools", "weight"]
_CALLS = [{"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]
_field_value = st.sampled_from(["ZQXFIELD", "", _CALLS, {"k": "ZQXFIELD"}, None])

#: Image and video parts in the forms applications send them: a type alone, a type and the media's
#: own key, OpenAI's image_url, the key alone (which only templates testing keys read).
MEDIA_PARTS = [
    {"type": "image"}, {"type": "image", "image": "https://example.com/a.png"},
    {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}, {"image": "a.png"},
    {"type": "video"}, {"type": "video", "video": "https://example.com/v.mp4"}, {"video": "v.mp4"},
]
media_parts = st.sampled_from(MEDIA_PARTS[:1] + MEDIA_PARTS[4:5]) | st.sampled_from(MEDIA_PARTS)
text_parts = content.map(lambda text: {"type": "text", "text": text})
#: A content part: text, an image or a video, now and then one no template reads the same way (a text
#: without a type, a text holding a media key, an unknown type).
_part = st.one_of(text_parts, text_parts, media_parts, st.sampled_from([
    {"text": "no type"}, {"type": "text", "text": "x", "image": None}, {"type": "input_audio", "data": "x"}]))
#: A content given as a list of parts: text and media.
content_parts = st.lists(media_parts | text_parts, min_size=1, max_size=3)


@st.composite
def with_extras(draw, messages: List[Dict]) -> List[Dict]:
    """``messages`` with extra fields on some messages and some contents given as lists of parts."""
    out = []
    for message in messages:
        message = dict(message)
        if draw(st.integers(0, 3)) == 0:
            message[draw(st.sampled_from(EXTRA_FIELDS))] = draw(_field_value)
        if draw(st.integers(0, 3)) == 0:
            if draw(st.integers(0, 2)) == 0:
                message["content"] = draw(st.lists(_part, min_size=1, max_size=3))
            else:
                message["content"] = [{"type": "text", "text": message["content"]}] + draw(
                    st.lists(text_parts, max_size=2))
        out.append(message)
    return out


extra_conversations = conversations().flatmap(with_extras)


@st.composite
def with_parts(draw, messages: List[Dict]) -> List[Dict]:
    """``messages`` with about half of the contents given as lists of text, image and video parts."""
    return [dict(m, content=draw(content_parts)) if draw(st.booleans()) else m for m in messages]

# ---------------------------------------------------------------------------
# Structured conversations: tool definitions, tool calls, tool results, reasoning fields.

#: Strings that JSON and templates treat specially: escapes, HTML-significant characters, unicode.
JSON_TEXT = ["", "Paris", 'a"b', "a\\b", "</tool_call>", "<b>&amp;</b>", "é ü 日本", "🙂", "line\nbreak", "/path",
             "{\"k\": 1}", "\u2028", "tab\t"]

_scalar = st.one_of(st.sampled_from(JSON_TEXT), st.text(max_size=8), st.integers(-10**6, 10**6),
                    st.floats(allow_nan=False, allow_infinity=False, width=32), st.booleans(), st.none())
_key = st.sampled_from(["city", "days", "unit", "z", "a", "é", "<k>", "nested", "list"]) | st.text(max_size=6)
#: JSON values, nested a few levels, keys in any order (insertion order must be kept).
json_values = st.recursive(_scalar, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(_key, inner, max_size=3), max_leaves=8)
json_objects = st.dictionaries(_key, json_values, max_size=4)


_TYPES = ["string", "integer", "number", "boolean", "object", "array"]
#: A property's type: mostly one name, sometimes a list of names (a union), a nullable one, or none.
_type = st.sampled_from(_TYPES) | st.lists(st.sampled_from(_TYPES + ["null"]), min_size=1, max_size=2, unique=True)


@st.composite
def tool_definitions(draw) -> dict:
    """An OpenAI-style tool definition with a nested JSON schema: optional parameters, unions, enums,
    nested objects, maps, defaults, missing descriptions, sometimes a return schema."""
    # Half the time every parameter is documented with a plain type (what most callers send, and what
    # the templates that read each description unguarded need); otherwise anything optional goes.
    documented = st.fixed_dictionaries({"type": st.sampled_from(["string", "integer", "number", "boolean"]),
                                        "description": st.sampled_from(JSON_TEXT) | st.text(max_size=10)})
    properties = draw(st.dictionaries(_key, documented if draw(st.booleans()) else st.fixed_dictionaries(
        {}, optional={"type": _type,
                      "description": st.sampled_from(JSON_TEXT) | st.text(max_size=10),
                      "enum": st.lists(st.sampled_from(JSON_TEXT), max_size=3),
                      "items": st.just({"type": "string"}),
                      "additionalProperties": st.sampled_from([{"type": "number"}, {"type": "array"}, True]),
                      "properties": st.just({"inner": {"type": "string", "description": "nested"}}),
                      "default": _scalar}),
        max_size=3))
    function = {"name": draw(st.sampled_from(["get_weather", "search", "f", "lookup_é"])),
                "description": draw(st.sampled_from(JSON_TEXT) | st.text(max_size=20)),
                "parameters": {"type": "object", "properties": properties,
                               "required": draw(st.lists(st.sampled_from(sorted(properties) or ["x"]), max_size=2,
                                                         unique=True))}}
    if draw(st.integers(0, 6)) == 0:
        del function["description"]
    if draw(st.integers(0, 6)) == 0:
        function["return"] = draw(st.fixed_dictionaries({"type": st.sampled_from(_TYPES)},
                                                        optional={"description": st.sampled_from(JSON_TEXT)}))
    if draw(st.integers(0, 4)) == 0:
        function = dict(reversed(list(function.items())))  # unsorted keys stay unsorted
    return {"type": "function", "function": function}


#: Built-in tools (GLM-4's python, simple_browser and cogview): a type alone, one of a type no format
#: declares, and one with a key besides its type (which the template would leave out).
BUILTIN_TOOLS = [{"type": "python"}, {"type": "python"}, {"type": "cogview"}, {"type": "other"},
                 {"type": "python", "extra": 1}]

tools_lists = st.one_of(st.none(), st.just([]), st.lists(tool_definitions(), min_size=1, max_size=4),
                        st.lists(tool_definitions() | st.sampled_from(BUILTIN_TOOLS), min_size=1, max_size=3))


#: A document key's value: mostly text, sometimes what a template writes as |string (numbers,
#: booleans) or would write as Python's repr (None, a list, a mapping).
_document_value = st.one_of(st.sampled_from(JSON_TEXT), content, st.integers(-1000, 1000), st.booleans(),
                            st.floats(allow_nan=False, allow_infinity=False, width=32), st.none(),
                            st.just(["a", 1]), st.just({"k": "v"}))


@st.composite
def documents(draw) -> dict:
    """A document as transformers passes it: mostly ``text`` with a ``doc_id`` and a ``title`` or
    not, in any order; one time in three any of those keys and others (``source``, ``page-no``...),
    each of any type, or missing."""
    if draw(st.integers(0, 2)):
        document = {"text": draw(content)}
        if draw(st.integers(0, 3)):
            document["doc_id"] = draw(st.sampled_from(["0", "doc-7", 3]))
        if draw(st.booleans()):
            document["title"] = draw(st.sampled_from(JSON_TEXT) | content)
        return dict(draw(st.permutations(list(document.items()))))
    document = {}
    keys = ["text"] if draw(st.integers(0, 12)) else []
    keys += draw(st.lists(st.sampled_from(["title", "doc_id", "source", "page-no", "url", "doc id"]), unique=True,
                          max_size=3))
    for key in draw(st.permutations(keys)):
        if key == "text":
            document[key] = draw(content) if draw(st.integers(0, 10)) else draw(_document_value)
        elif key == "doc_id":
            document[key] = draw(st.sampled_from(["0", "doc-7", "", 3, 12.5, None]))
        else:
            document[key] = draw(st.sampled_from(JSON_TEXT) | content) if draw(st.integers(0, 3)) else \
                draw(_document_value)
    return document


documents_lists = st.one_of(st.none(), st.just([]), st.lists(documents(), min_size=1, max_size=3))


@st.composite
def tool_calls(draw) -> list:
    """One to three calls, OpenAI-style (sometimes flat), arguments as a dict or a JSON string."""
    import json

    calls = []
    for _ in range(draw(st.integers(1, 3))):
        arguments = draw(json_objects)
        if draw(st.integers(0, 3)) == 0:
            arguments = json.dumps(arguments, ensure_ascii=draw(st.booleans()))
        function = {"name": draw(st.sampled_from(["get_weather", "search", "f"])), "arguments": arguments}
        if draw(st.integers(0, 6)) == 0:
            calls.append(function)
        else:
            call = {"type": "function", "function": function}
            if draw(st.integers(0, 3)):
                # Mistral's templates require 9 characters; the last two are refused or raise there.
                call["id"] = draw(st.sampled_from(["abc123XYZ", "abc123XYZ", "call_1", "0", 'a"b\\c1234', 7]))
            calls.append(call)
    return calls


@st.composite
def agent_conversations(draw) -> list:
    """An agent's conversation: optional system, user turns, assistant turns that call tools (content
    empty, missing, None or text; reasoning in a field or in the content), runs of tool results (with
    the tool's name or not). One in three gives some contents as lists of text, image and video parts."""
    parts = draw(st.integers(0, 2)) == 0

    def text(share: int = 3):
        """A content: in a conversation with parts, a list of parts one time in ``share``."""
        return draw(content_parts if parts and draw(st.integers(1, share)) == 1 else content)

    messages = []
    if draw(st.booleans()):
        messages.append({"role": "system", "content": text(4)})
    for _ in range(draw(st.integers(1, 3))):
        messages.append({"role": "user", "content": text(2)})
        for _ in range(draw(st.integers(0, 2))):
            # Now and then an empty list, which templates read as no calls or (testing the key) refuse.
            call = {"role": "assistant", "tool_calls": draw(tool_calls()) if draw(st.integers(0, 11)) else []}
            # A message without calls needs a content (templates read a missing one as empty, promptcraft refuses).
            shape = draw(st.sampled_from(["text", "empty", "none", "missing", "think"] if call["tool_calls"] else
                                         ["text", "empty", "think"]))
            if shape != "missing":
                call["content"] = {"text": text(), "empty": "", "none": None,
                                   "think": "<think>\nplan\n</think>\n\n" + draw(content)}[shape]
            if draw(st.integers(0, 3)) == 0:
                call[draw(st.sampled_from(["reasoning_content", "thinking", "reasoning", "tool_plan"]))] = draw(content)
            messages.append(call)
            for _ in range(draw(st.integers(1, 3))):
                result = {"role": "tool",
                          "content": draw(st.sampled_from(['{"temp": 20}', "12:00", ""]) | content) if not parts
                          or draw(st.integers(0, 3)) else draw(content_parts)}
                if draw(st.booleans()):
                    # Often the id of a call just made (Command R7B writes the number of the call it answers),
                    # or one of 9 characters (Mistral Nemo requires them; the last is refused there as junk).
                    ids = [c["id"] for c in call["tool_calls"] if "id" in c]
                    result["tool_call_id"] = draw(st.sampled_from(ids + ["call_1", "abc123XYZ", "tab\tX1234"]))
                if draw(st.integers(0, 2)) == 0:
                    result["name"] = draw(st.sampled_from(["get_weather", "search", ""]))
                messages.append(result)
        if draw(st.booleans()):
            answer = {"role": "assistant", "content": text()}
            if draw(st.integers(0, 3)) == 0:
                answer[draw(st.sampled_from(["reasoning_content", "reasoning_content", "tool_plan"]))] = draw(content)
            messages.append(answer)
    return messages

# ---------------------------------------------------------------------------
# Random formats, written as TOML text, for compiled-vs-reference properties.

_fragment = st.one_of(
    st.sampled_from(["<|x|>", "[A]", " ", "\n", "::", "'", '"', "\\", '"""', "'''", "\x00", "\u2028", "#", "=", "]]"]),
    st.text(alphabet=string.printable + "é🙂\u2029", max_size=6),
)


#: A special token: control tokens are at least two characters without U+200B (validate.py).
_token = _fragment.filter(lambda t: len(t) >= 2 and "\u200b" not in t)


def toml_string(value: str) -> str:
    """A TOML basic string for any Python string (control characters escaped)."""
    out = []
    for ch in value:
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append("\\u%04x" % ord(ch))
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _escape_braces(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


@st.composite
def template_text(draw, slots=()):
    """A format string: literal fragments with some of ``slots`` as placeholders."""
    placeholders = st.sampled_from([f"{{{s}}}" for s in slots] or [""])
    pieces = draw(st.lists(_fragment.map(_escape_braces) | placeholders, max_size=4))
    return "".join(pieces)


@st.composite
def format_toml(draw) -> str:
    """A random but valid format declaration, using every mechanism of the schema."""
    has_bos = draw(st.booleans())
    has_eos = draw(st.booleans())
    tokens = (["bos"] if has_bos else []) + (["eos"] if has_eos else [])
    variables = draw(
        st.lists(st.sampled_from(["date_string", "today", "flavour", "thinking", "needed", "controls", "budget"]),
                 unique=True, max_size=3)
    )
    mappings = ("controls",) if "controls" in variables else ()
    numbers = ("budget",) if "budget" in variables else ()
    # A number variable's lookup slot, written in texts as any variable is.
    gears = draw(st.lists(st.integers(-2, 4), min_size=1, max_size=3, unique=True).map(sorted)) \
        if numbers and draw(st.booleans()) else []
    base = tuple(tokens) + tuple(variables) + (("gear",) if gears else ())
    used: set = set()

    def text(slots=()):
        value = draw(template_text(base + tuple(slots)))
        used.update(n for n in variables + ["tool_call_id", "call_number"] if "{" + n + "}" in value)
        if "{gear}" in value:
            used.add("budget")
        return value

    def line(key, value):
        return f"{key} = {toml_string(value)}"

    # The thinking mode: a fact variants test, set by a switch (or a default) and flags in messages.
    thinking_table = []
    if draw(st.integers(0, 3)) == 0:
        flags = draw(st.lists(st.sampled_from(["/think", "/no_think", "a", "\n", "<|x|>"]), min_size=2, max_size=2,
                              unique=True))
        readers = draw(st.lists(st.sampled_from(ROLE_NAMES), min_size=1, max_size=3, unique=True))
        thinking_table = ["[thinking]", line("on", flags[0]), line("off", flags[1]), f"roles = {json_list(readers)}",
                          f'scope = "{draw(st.sampled_from(["first", "all"]))}"',
                          f'precedence = "{draw(st.sampled_from(["on", "off"]))}"']
        switch = draw(st.sampled_from(["mode"] + (["thinking"] if "thinking" in variables else []) + ["none"]))
        if switch == "none":
            thinking_table.append(f"default = {str(draw(st.booleans())).lower()}")
        else:
            thinking_table.append(line("variable", switch))
            used.add(switch)
            if switch == "mode":
                variables = variables + ["mode"]
    has_thinking = bool(thinking_table)

    start_text = text()
    if draw(st.integers(0, 4)) == 0:
        start_text = "[{when = {tools = true}, text = " + toml_string(text() + "TOOLS") + "}, {text = " + \
            toml_string(start_text) + "}]"
        lines = ['name = "random"', "start = " + start_text]
    else:
        lines = ['name = "random"', line("start", start_text)]
    if draw(st.integers(0, 4)) == 0:
        first = draw(st.lists(st.sampled_from(ROLE_NAMES), min_size=1, max_size=2, unique=True))
        lines.append(f"start_when_first = {json_list(first)}")
    tables = []
    if tokens:
        tables.append("[tokens]")
        if has_bos:
            tables.append(line("bos", draw(_token)))
        if has_eos:
            tables.append(line("eos", draw(_token)))

    placement = draw(st.sampled_from(["message", "block", "fold_first", "fold_last", "hoist", "refuse"]))
    trims = ["none", "both", "left", "right", "left_newlines"]
    system = ["[system]", f'placement = "{placement}"']
    leading = ["system"]
    if draw(st.integers(0, 4)) == 0:
        leading = ["system", "developer"]
        system.append('leading_roles = ["system", "developer"]')
    default = draw(st.none() | st.sampled_from(["", " sys ", "Be nice.", "{{braces}}"]))
    if placement not in ("message", "block", "fold_first", "fold_last"):
        default = None
    if default is not None and variables and draw(st.booleans()):
        default += "{" + variables[0] + "}"
        used.add(variables[0])
    in_parts = placement == "block" and default is not None and draw(st.integers(0, 3)) == 0
    if default is not None:
        if in_parts:
            # A default in parts, chosen by the request's facts (Granite's tools, documents, controls).
            parts = [toml_string(default)] + [variants(draw, draw(st.sampled_from(["", "[plain]"])), text,
                                                       REQUEST_FACTS, has_thinking, (), mappings, used, numbers)
                                              for _ in range(draw(st.integers(1, 2)))]
            system.append("default = [" + ", ".join(parts) + "]")
        else:
            system.append(line("default", default))
        system.append(f'default_when = "{draw(st.sampled_from(["first_not_system", "no_system"]))}"')
    if placement in ("block", "hoist"):
        system.append(line("prefix", text()))
        system.append(line("suffix", text()))
    if placement in ("block", "fold_first", "fold_last", "hoist"):
        system.append(f'trim = "{draw(st.sampled_from(trims))}"')
    if placement in ("block", "fold_first", "fold_last"):
        empty = draw(st.sampled_from([None, "skip_empty", "keep_empty"]))
        if empty:
            system.append(f"{empty} = true")
        if draw(st.booleans()):
            system.append(line("wrap", text() + "{system}" + text()))
    if placement == "block":
        if draw(st.integers(0, 3)) == 0:
            system.append(f"remove = {json_list(draw(removed))}")
        if draw(st.integers(0, 3)) == 0:
            system.append("override = {" + line("marker", draw(st.sampled_from(["/system_override", "x", "\n"])))
                          + ", " + line("prefix", text()) + ", " + line("suffix", text()) + "}")
        if draw(st.integers(0, 4)) == 0:
            system.append('refuse_alone = "nothing after the system message"')
        if default is not None and not in_parts and draw(st.integers(0, 2)) == 0:
            at = next(k for k, entry in enumerate(system) if entry.startswith("default = "))
            system[at] = "default = " + variants(draw, default, text, REQUEST_FACTS, has_thinking, (), mappings, used,
                                                 numbers)
        if draw(st.integers(0, 3)) == 0:
            # A turn after the block, written with or without one (Seed-OSS's thinking budget).
            system.append("after = " + variants(draw, text(), text, REQUEST_FACTS, has_thinking, (), mappings, used,
                                                numbers))
        if default is not None and not empty and draw(st.booleans()):
            at = next(k for k, entry in enumerate(system) if entry.startswith("default_when = "))
            system[at] = 'default_when = "no_text"'

    if placement in ("fold_first", "fold_last"):
        parts = [text(), "{system}", text(), "{content}", text()]
        if draw(st.booleans()):
            parts[1], parts[3] = parts[3], parts[1]
        system.append(line("fold", "".join(parts)))
        system.append(f'fold_order = "{draw(st.sampled_from(["fold_then_trim", "trim_then_fold"]))}"')
    if placement == "hoist":
        system.append(f'select = "{draw(st.sampled_from(["all", "last"]))}"')
        system.append(line("join", draw(st.sampled_from(JOINS))))
        system.append(line("item_prefix", text()))
        if draw(st.booleans()):
            ending = toml_string(text())
            if draw(st.booleans()):  # another ending when tools follow the system texts
                ending = "[{when = {tools = true}, text = " + toml_string(text() + "\n") + "}, {text = " + ending + "}]"
            system.append("item_suffix = " + ending)
    if placement == "refuse":
        system.append('message = "no system"')
    system.append("")

    role_tables = []
    declared = draw(st.lists(st.sampled_from(ROLE_NAMES), unique=True, max_size=3))
    any_role = draw(st.booleans()) or not declared
    needs_writer = placement == "message" and default is not None
    if needs_writer and leading[0] not in declared and not any_role:
        declared.append(leading[0])
    for role in declared + (["*"] if any_role else []):
        header = "[any_role]" if role == "*" else f"[roles.{role}]"
        mode = draw(st.sampled_from(["write"] * 6 + ["drop", "refuse"]))
        if needs_writer and (role == leading[0] or (role == "*" and leading[0] not in declared)):
            mode = "write"
        if mode == "drop":
            role_tables += [header, "drop = true"]
            continue
        if mode == "refuse":
            role_tables += [header, 'refuse = "not this role"']
            continue
        # Some roles write the id of the call a message answers (then listed under [message] ignore).
        slots = draw(st.sampled_from([("role", "tool_call_id"), ("role", "call_number")])) \
            if draw(st.integers(0, 3)) == 0 else ("role",)
        prefix_text, suffix_text = text(slots), text(slots)
        body = [header, line("prefix", prefix_text), line("suffix", suffix_text),
                f'trim = "{draw(st.sampled_from(trims))}"']
        if draw(st.integers(0, 5)) == 0:
            body.append('content = "json"')
        empty = draw(st.sampled_from([None, None, "skip", "when"]))
        if empty == "skip":
            body.append("skip_empty = true")
        elif empty == "when":
            body.append(line("when_empty", text(("role",))))
        if draw(st.integers(0, 4)) == 0:
            body.append(f"remove = {json_list(draw(removed))}")
        # (more often on the assistant's writer: a call it names is read back, [output] call_name)
        if empty != "when" and (placement == "message" or (role != "*" and role not in leading)) and \
                draw(st.integers(0, 2 if role in ("assistant", "*") else 4)) == 0:
            # A message field this role writes after its content (Phi-4-mini's system tools), or in its
            # prefix (GLM-4's metadata, placed below); a skipped empty message refuses it.
            body.append("attach = {field = " + toml_string(draw(st.sampled_from(["tools", "name", "weight"])))
                        + ", text = " + toml_string(draw(_fragment.map(_escape_braces)) + "{value}") + "}")
        if draw(st.integers(0, 3)) == 0:
            body[2] = "suffix = " + variants(draw, suffix_text, text, thinking=has_thinking, mappings=mappings,
                                             used=used, numbers=numbers)
        else:
            for key in ("final_suffix", "final_suffix_with_prompt"):
                if draw(st.integers(0, 3)) == 0:
                    body.append(line(key, text(("role",))))
        if draw(st.integers(0, 3)) == 0:
            body[1] = "prefix = " + variants(draw, prefix_text, text, thinking=has_thinking, mappings=mappings,
                                             used=used, numbers=numbers)
        elif draw(st.integers(0, 3)) == 0:
            after = draw(st.lists(st.sampled_from(ROLE_NAMES), min_size=1, max_size=2, unique=True))
            body.append("prefix_after = {" + ", ".join(f"{r} = {toml_string(text(('role',)))}" for r in after) + "}")
        if draw(st.integers(0, 3)) == 0:
            rule = [f'marker = {toml_string(draw(st.sampled_from(["</think>", "|", "ab"])))}',
                    f'keep = "{draw(st.sampled_from(["after_last", "after_first", "second_piece"]))}"',
                    f'scope = "{draw(st.sampled_from(["history", "all"]))}"',
                    "lstrip = " + toml_string(draw(st.sampled_from(LSTRIPS))),
                    f"always = {str(draw(st.booleans())).lower()}"]
            if draw(st.booleans()):
                after = draw(st.lists(st.sampled_from(ROLE_NAMES + ["tool"]), min_size=1, max_size=2, unique=True))
                rule += [f"skip_after = {json_list(after)}", f"skip_calls = {str(draw(st.booleans())).lower()}"]
            body.append("strip_reasoning = {" + ", ".join(rule) + "}")
        if draw(st.integers(0, 4)) == 0:
            needles = draw(st.lists(st.sampled_from(["<|x|>", "forbidden", "!"]), min_size=1, max_size=2, unique=True))
            body.append(f"refuse_containing = {json_list(needles)}")
        role_tables += body
    if draw(st.booleans()):
        tables += ["[alternation]", 'message = "roles must alternate"']
        if draw(st.booleans()):
            skipped = draw(st.lists(st.sampled_from(["tool", "developer", "x"]), min_size=1, max_size=2, unique=True))
            tables.append(f"skip_roles = {json_list(skipped)}")
        if draw(st.booleans()):
            tables.append("skip_calls = true")
    # A tool result's id in its role's texts (the tool role, when declared, is declared here).
    result_id = draw(st.sampled_from(["json", "string", "string9"])) if draw(st.integers(0, 3)) == 0 else None
    if result_id is not None and "tool" not in declared:
        pieces = [text(("role",)), '"{tool_call_id}"' if result_id != "json" else "{tool_call_id}", text(("role",))]
        role_tables += ["[roles.tool]", line("prefix", "".join(pieces[:2])), line("suffix", pieces[2]),
                        f'tool_call_id = "{result_id}"']
        used.add("tool_call_id")
    folded = placement in ("fold_first", "fold_last")
    reasoning_role = draw(st.sampled_from(declared)) if declared and not folded else None
    reasoning_field = False
    if reasoning_role is not None and draw(st.integers(0, 2)) == 0:
        header = f"[roles.{reasoning_role}]"
        at = role_tables.index(header)
        end = next((k for k in range(at + 1, len(role_tables)) if role_tables[k].startswith("[")), len(role_tables))
        block = role_tables[at:end]
        if "drop = true" not in block and not any(entry.startswith("refuse =") for entry in block):
            role_tables[at:end] = [entry for entry in block if not entry.startswith(("strip_reasoning", "attach"))]
        writes = "drop = true" not in block and not any(entry.startswith("refuse =") for entry in block)
        if writes and not any(e.startswith("prefix_after") for e in block) and draw(st.integers(0, 2)) == 0:
            # The role's own prefix writes the reasoning given in the field.
            at = next(k for k in range(at, len(role_tables)) if role_tables[k].startswith("prefix = "))
            original = role_tables[at][len("prefix = "):]
            # Sometimes only where another fact holds (Cohere's plan before calls): elsewhere it is refused.
            fact = draw(st.sampled_from(["", "", "calls = true, ", "final = false, "]))
            shown = "{when = {" + fact + "reasoning = true}, text = " + toml_string(
                "<R>" + text(("role",)) + "{reasoning}</R>")
            role_tables[at] = "prefix = [" + shown + "}, " + (original[1:] if original.startswith("[") else
                                                           "{text = " + original + "}]")
            field = draw(st.sampled_from(["reasoning_content", "reasoning_content", "tool_plan"]))
            tables += ["[reasoning]", f'role = "{reasoning_role}"', 'show = "given"', f'field = "{field}"',
                       f'reasoning_trim = "{draw(st.sampled_from(["newlines", "both", "none"]))}"']
        elif writes:
            before = draw(st.booleans())
            show = draw(st.sampled_from(["final_or_present", "always", "until_answer"]))
            tables += ["[reasoning]", f'role = "{reasoning_role}"',
                       line("template", text() + "{reasoning}" + text() + ("" if before else "{content}")),
                       f'reasoning_trim = "{draw(st.sampled_from(["newlines", "both", "none"]))}"',
                       f'show = "{show}"', f'placement = "{"before" if before else "content"}"']
            if show != "until_answer" and draw(st.booleans()):
                tables.append('query_exclude = ["<r>", "</r>"]')
            if show != "until_answer" and draw(st.booleans()):
                tables += ['no_query = "refuse"', 'no_query_message = "No user query found in messages."']
            if show == "until_answer" or draw(st.booleans()):
                reasoning_field = True
                tables.append(f'field = "{draw(st.sampled_from(["reasoning_content", "thinking"]))}"')
                if show == "until_answer" or draw(st.integers(0, 3)) == 0:
                    tables.append("split = false")
                if draw(st.integers(0, 3)) == 0:
                    tables.append('refuse_containing = ["<|x|>", "!"]')
    prompt = text()
    gen = ["[generation]", line("prompt", prompt), line("otherwise", text())]
    if draw(st.integers(0, 3)) == 0:
        gen[1] = "prompt = " + variants(draw, prompt, text, ("previous", "previous_message"), has_thinking, (),
                                        used=used, numbers=numbers)
    for key in ("prompt_after", "otherwise_after"):
        if key == "prompt_after" and gen[1].startswith("prompt = ["):
            continue  # variants of the prompt say it instead
        if draw(st.integers(0, 3)) == 0:
            after = draw(st.lists(st.sampled_from(ROLE_NAMES), min_size=1, max_size=2, unique=True))
            gen.append(f"{key} = {{" + ", ".join(f"{r} = {toml_string(text())}" for r in after) + "}")
    if draw(st.integers(0, 3)) == 0:
        gen.append("require_body = true")
    reads_id = "tool_call_id" in used or "call_number" in used
    if draw(st.booleans()) or reads_id:
        attached = [entry.split('"')[1] for entry in role_tables if entry.startswith("attach = ")]
        ignored = draw(st.lists(st.sampled_from([f for f in EXTRA_FIELDS if f not in attached]), unique=True,
                                max_size=3))
        if reads_id and "tool_call_id" not in ignored:
            ignored.append("tool_call_id")  # a role writes it: the others leave it out
        tables += ["[message]", f"ignore = {json_list(ignored)}"]
    kinds: List[str] = []
    switch_tables: List[str] = []
    if draw(st.booleans()):
        part_roles = draw(st.lists(st.sampled_from(ROLE_NAMES), min_size=2, max_size=4, unique=True))
        if "user" not in part_roles and draw(st.integers(0, 3)):
            part_roles.append("user")
        tables += ["[parts]", f"roles = {json_list(part_roles)}", f'trim = "{draw(st.sampled_from(trims))}"']
        takes_system = placement in ("block", "fold_first", "fold_last", "hoist") and "keep_empty = true" not in system
        if takes_system and draw(st.integers(0, 2)):
            modes = ["refuse", "parts", "text", "first_text"] + (["first_text_list"] if placement != "hoist" else [])
            tables.append(f'system = "{draw(st.sampled_from(modes))}"')
        labelled = False
        for kind, types, keys in (("image", ["picture"], ["image", "image_url"]), ("video", [], ["video"]),
                                  ("text", [], ["text"])):
            if not draw(st.integers(0, 3) if kind != "text" else st.booleans()):
                continue
            kinds.append(kind)
            # Mostly the type the generated parts carry, and the keys some templates test.
            chosen = ([kind] if draw(st.integers(0, 3)) else []) + (
                draw(st.lists(st.sampled_from(types), unique=True)) if types else []), \
                draw(st.lists(st.sampled_from(keys), unique=True))
            if not chosen[0] and not chosen[1]:
                chosen = ([kind], [])
            tables += [f"[parts.{kind}]", f"types = {json_list(chosen[0])}", f"keys = {json_list(chosen[1])}"]
            if kind != "text":
                tables.append(line("text", draw(_fragment.filter(bool))))
                if draw(st.booleans()):
                    labelled = True
                    tables.append(line("label", draw(_fragment.map(_escape_braces)) + "{n}"
                                       + draw(_fragment.map(_escape_braces))))
        if labelled:
            # The labels' switch writes no text: [parts] labels reads it.
            tables.insert(tables.index("[parts]") + 1, 'labels = "numbered"')
            switch_tables += ["[variables.numbered]", f"default = {str(draw(st.booleans())).lower()}"]
    def written(header):
        return header in role_tables and role_tables[role_tables.index(header) + 1] not in (
            "drop = true", 'refuse = "not this role"')

    writers = [r for r in declared if written(f"[roles.{r}]")]
    system_writer = leading[0] in writers if leading[0] in declared else written("[any_role]")
    plain_block = placement == "block"
    user_table = role_tables[role_tables.index("[roles.user]"):] if "[roles.user]" in role_tables else []
    user_table = user_table[:next((k for k in range(1, len(user_table)) if user_table[k].startswith("[")),
                                  len(user_table))]
    user_ok = written("[roles.user]") and not any(entry.startswith(("skip_empty", "when_empty"))
                                                  for entry in user_table)
    first_user_ok = plain_block and user_ok
    # A kept empty system message stays in the conversation: the tools go with the default then; a
    # skipped one is left out, and the tools get a block of their own.
    with_system = (placement == "message" and system_writer) or plain_block or placement == "hoist"
    # Tools with the system text where the placement allows it, before the last user message where a user
    # role is written, else (sometimes) a turn of their own at the start or after the system block.
    if ((with_system or user_ok) and draw(st.booleans())) or draw(st.integers(0, 3)) == 0:
        turns = ["start"] + (["turn_after_system"] if placement == "block" else [])
        # Tools a message carries (GLM-4): every message written where it stands, the field read.
        carried = placement == "message" and "drop = true" not in role_tables and not any(
            entry.startswith(("attach = {field = \"tools\"", "ignore = ")) and '"tools"' in entry
            for entry in role_tables + tables)
        where = (["system_after", "system_before"] if with_system else []) + (
            ["first_user"] if first_user_ok else []) + (["last_user"] * 2 if user_ok else []) + turns + (
            ["message"] * 2 if carried else [])
        chosen = draw(st.sampled_from(where))
        serialisers = ["hermes", "python_repr", "command_r7b", "typescript", "python_signature", "xml_schema",
                       "python_docstring", "pydantic_signature", "json_spliced", "json_spliced", "named_json"]
        item = draw(st.sampled_from(["json", "json", "json_array"]) | st.sampled_from(serialisers))
        joins = [f'join_when = "{draw(st.sampled_from(["system", "text"]))}"',
                 line("join", draw(st.sampled_from(JOINS)))] if chosen not in turns + ["message"] else []
        items = [line("item_prefix", draw(st.sampled_from(["", "\n"]))),
                 line("separator", draw(_fragment))] if item != "json_array" else []
        tables += ["[tools]", f'placement = "{chosen}"'] + joins + [line("prefix", draw(_fragment))] + items + [
                   line("suffix", draw(_fragment)), f'empty = "{draw(st.sampled_from(["none", "written", "refuse"]))}"',
                   f'item = "{item}"',
                   f'envelope = "{draw(st.sampled_from(["whole", "function", "by_type", "function_only"]))}"']
        if chosen != "message" and draw(st.integers(0, 3)) == 0:
            tables.append("required = true")
        if item in ("json", "json_array", "named_json") and draw(st.booleans()):
            tables.append(f"indent = {draw(st.sampled_from([0, 2, 4]))}")
        if chosen == "first_user" and draw(st.booleans()):
            tables.append(f'trim = "{draw(st.sampled_from(trims))}"')
        if item in ("python_docstring", "pydantic_signature") and draw(st.booleans()):
            ignored = draw(st.lists(st.sampled_from(SCHEMA_KEYS), min_size=1, unique=True))
            tables.append(f"ignore = {json_list(ignored)}")
        if item != "json_array" and draw(st.integers(0, 2)) == 0:
            # Built-in tools written as fixed texts (GLM-4's python, simple_browser, cogview).
            kinds = draw(st.lists(st.sampled_from(["python", "cogview", "simple_browser"]), min_size=1, unique=True))
            tables.append("builtin = {" + ", ".join(f"{kind} = {toml_string(draw(_fragment))}" for kind in kinds)
                          + "}")
        at = next((k for k, entry in enumerate(system) if entry.startswith("default_when = ")), None)
        if at is not None and chosen in ("system_after", "system_before") and draw(st.integers(0, 2)) == 0:
            system[at] = 'default_when = "tools"'  # the default only with the tools
        if plain_block and chosen != "start" and draw(st.booleans()):
            # The prefix becomes its default variant, with another text when tools are given.
            at = next(k for k, entry in enumerate(system) if entry.startswith("prefix = "))
            original = system[at][len("prefix = "):]
            fact = draw(st.sampled_from(["tools", "documents"]))
            system[at] = f"prefix = [{{when = {{{fact} = true}}, text = " + toml_string(text() + "ENV") + "}, " \
                "{text = " + original + "}]"
    elif draw(st.integers(0, 5)) == 0:
        lines.append('tool_use = "hermes-3-tool-use"')  # renders with tools go to that built-in format
    if plain_block and has_thinking and draw(st.booleans()) and any(e.startswith('prefix = "') for e in system):
        # The block's prefix chosen by the thinking mode.
        at = next(k for k, entry in enumerate(system) if entry.startswith("prefix = "))
        original = system[at][len("prefix = "):]
        system[at] = "prefix = [{when = {thinking = false}, text = " + toml_string(text() + "NO") + "}, " \
            "{text = " + original + "}]"
    in_system = any(entry in ('placement = "system_after"', 'placement = "system_before"') for entry in tables)
    if plain_block and "image" in kinds and not in_system and draw(st.integers(0, 2)):
        # Llama 3.2 Vision: the default system block is left out when a message has an image.
        if default is None:
            system.insert(len(system) - 1, line("default", draw(st.sampled_from(["", "Be nice."]))))
        system.insert(len(system) - 1, 'default_unless = "images"')
    callers = [r for r in writers if placement == "message" or r not in leading]
    if callers and draw(st.booleans()):
        arguments = draw(st.sampled_from(["json", "json_or_text", "parameters", "text", "json_block"]))
        shape = draw(st.sampled_from(["either", "nested"]))
        id_form = draw(st.sampled_from([None, None, "json", "string", "string9"]))
        members = arguments == "json" and shape == "nested" and draw(st.integers(0, 2)) != 0
        extra = draw(st.sampled_from(["", "", "{index}", "{type}", "{type}:{index}", "{number}"]))
        call_text = draw(_fragment.map(_escape_braces)) + "{name}" + extra + draw(_fragment.map(_escape_braces)) + \
            "{arguments}" + draw(_fragment.map(_escape_braces)) + ("{id}" if id_form else "") + (
                "{function_members}" if members else "")
        items = []
        by_name = False  # some variant is chosen by the call's name
        for _ in range(draw(st.integers(0, 2))):
            facts = draw(st.dictionaries(st.sampled_from(["first", "empty", "earlier_calls", "final", "last"]),
                                         st.booleans(),
                                         min_size=1))
            conditions = [f"{k} = {str(v).lower()}" for k, v in facts.items()]
            variant = "<" + call_text + ">"
            if draw(st.integers(0, 2)) == 0:
                # A variant for some function names, which need not write {name}.
                conditions.append("name = " + json_list(draw(st.lists(st.sampled_from(["get_weather", "search", "f"]),
                                                                      min_size=1, max_size=2, unique=True))))
                variant = variant.replace("{name}", "")
                by_name = True
            items.append("{when = {" + ", ".join(conditions) + "}, text = " + toml_string(variant) + "}")
        call = "[" + ", ".join(items + ["{text = " + toml_string(call_text) + "}"]) + "]" if items else \
            toml_string(call_text)
        call_role = draw(st.sampled_from(callers))
        tables += ["[calls]", f'role = "{call_role}"', f'arguments = "{arguments}"',
                   f'name = "{"text" if by_name else draw(st.sampled_from(["text", "json"]))}"', f'shape = "{shape}"']
        if id_form:
            # The id is read; the type too where a call text writes it.
            tables += [f'id = "{id_form}"', 'ignore = []' if "{type}" in extra else 'ignore = ["type"]']
        if arguments == "parameters":
            tables += [line("parameter", "<{key}>" + draw(_fragment.map(_escape_braces)) + "{value}\n"),
                       f'value = "{draw(st.sampled_from(["json_or_str", "str", "json"]))}"',
                       line("separator", draw(st.sampled_from(["", ",", " | "])))]
        if draw(st.integers(0, 2)) == 0:
            tables.append('position = "before_content"')
        if draw(st.integers(0, 3)) == 0:
            tables.append(line("refuse_content_starting", draw(st.sampled_from(["<|x|>", "a", "\n"]))))
        tables += [f'missing_content = "{draw(st.sampled_from(["refuse", "empty", "final"]))}"', f"call = {call}",
                   f'empty = "{draw(st.sampled_from(["none", "refuse"]))}"']
        as_reasoning = ["reasoning"] if reasoning_field and call_role == reasoning_role and \
            "[reasoning]" in tables else []
        if draw(st.integers(0, 2)) == 0:
            tables.append(f'trim = "{draw(st.sampled_from(trims))}"')
        if draw(st.booleans()):
            tables += [f"max = {draw(st.integers(0, 2))}",
                       f'content = "{draw(st.sampled_from(["write", "refuse", "first_message"] + as_reasoning))}"',
                       f'content_parts = "{draw(st.sampled_from(["join", "refuse"]))}"']
            if draw(st.booleans()):
                tables.append('max_message = "one call at a time"')
        # A role that names the previous call: not the calls' role, nor a leading system role.
        namers = [r for r in writers if r != call_role and r not in leading]
        if namers and draw(st.integers(0, 2)) == 0:
            at = role_tables.index(f"[roles.{draw(st.sampled_from(namers))}]") + 1
            assert role_tables[at].startswith("prefix = ")
            cut = -3 if role_tables[at].endswith('"}]') else -1
            role_tables[at] = role_tables[at][:cut] + "{call_name}" + role_tables[at][cut:]
            if draw(st.booleans()):
                tables.append('no_call_message = "no call before this result"')
        if draw(st.integers(0, 3)) == 0:
            facts = draw(st.dictionaries(st.sampled_from(["final", "generation_prompt"]), st.booleans(), min_size=1))
            tables.append("refuse_when = {" + ", ".join(f"{k} = {str(v).lower()}" for k, v in facts.items()) + "}")
        if draw(st.booleans()):
            tables += [line("prefix", draw(_fragment)), line("suffix", draw(_fragment))]
    for at, entry in enumerate(role_tables):
        # A role writing its attached field in its one prefix text ({attach}, GLM-4's metadata).
        block_end = next((k for k in range(at + 1, len(role_tables)) if role_tables[k].startswith("[")),
                         len(role_tables))
        block = role_tables[at:block_end]
        if entry.startswith("[") and any(e.startswith("attach = ") for e in block) and \
                not any(e.startswith("prefix_after") for e in block) and draw(st.integers(0, 1)) == 0:
            k = next(k for k, e in enumerate(block) if e.startswith("prefix = "))
            if block[k].startswith('prefix = "'):
                role_tables[at + k] = 'prefix = "' + ("{attach}" + block[k][10:] if draw(st.booleans())
                                                      else block[k][10:-1] + '{attach}"')
    user_written = written("[roles.user]") if "[roles.user]" in role_tables else written("[any_role]")
    documents_at = (["turn_after_system"] if placement == "block" else []) + (
        ["before_last_user", "after_first_user"] if user_written and placement != "hoist" else [])
    if documents_at and draw(st.booleans()):
        tables += ["[documents]", f'placement = "{draw(st.sampled_from(documents_at))}"',
                   line("prefix", draw(_fragment)), line("separator", draw(_fragment)), line("suffix", draw(_fragment))]
        if draw(st.integers(0, 2)) == 0:
            tables.append("counts_as_call = true")  # calls after the documents numbered one more (Command A)
        frag = _fragment.map(_escape_braces)
        if draw(st.integers(0, 3)) == 0:
            tables.append(line("item", draw(frag) + "{index}" + draw(frag) + "{json}"))
        else:
            keys = {"text": draw(st.sampled_from(["text", "scalar"]))}
            if draw(st.booleans()):
                keys["doc_id"] = "scalar"
            slots = list(keys) + draw(st.sampled_from([[], ["index"], ["title"], ["title", "index"]]))
            others = draw(st.booleans())
            if others:
                slots.append("others")
            item = "".join(draw(frag) + "{" + slot + "}" for slot in draw(st.permutations(slots))) + draw(frag)
            tables += [line("item", item),
                       "keys = {" + ", ".join(f'{k} = "{v}"' for k, v in keys.items()) + "}"]
            if "title" in slots:
                tables.append("optional = {title = " + toml_string(draw(frag) + "{value}") + "}")
            if others:
                tables += [line("others", draw(frag) + "{key}" + draw(frag) + "{value}"),
                           f'others_key = "{draw(st.sampled_from(["as_is", "title"]))}"']
            else:
                ignored = [k for k in draw(st.lists(st.sampled_from(["title", "doc_id", "source", "url"]), unique=True,
                                                    max_size=3)) if k not in slots]
                tables.append(f"ignore = {json_list(ignored)}")
    # A call named by the assistant's attached field, where its prefix writes one (GLM-4's metadata).
    header = "[roles.assistant]" if "[roles.assistant]" in role_tables else "[any_role]"
    block = role_tables[role_tables.index(header):] if header in role_tables else []
    block = block[:next((k for k in range(1, len(block)) if block[k].startswith("[")), len(block))]
    attached_call = any(e.startswith("prefix = ") and "{attach}" in e for e in block)
    if draw(st.integers(0, 3)) == 0:
        # How a completion differs from history (read by parse_output only).
        output = ["[output]"]
        keys = draw(st.lists(st.sampled_from(["prefix", "reasoning", "call_id", "content", "call"]), min_size=1,
                             unique=True))
        if "call_id" in keys and "[calls]" not in tables and "call" not in keys:
            keys.remove("call_id")
        if "prefix" in keys or not keys:
            output.append(line("prefix", draw(_fragment.map(_escape_braces)) + draw(st.sampled_from(["", "{role}"]))))
        if "reasoning" in keys:
            output.append(line("reasoning", "<" + draw(_fragment.map(_escape_braces)) + "{reasoning}>"
                               + draw(_fragment.map(_escape_braces)) + "{content}"))
        if "content" in keys:
            output.append(line("content", "<" + draw(_fragment.map(_escape_braces)) + ">{content}"))
        if "call" in keys:
            texts = [toml_string("<" + draw(_fragment.map(_escape_braces)) + "{name}"
                                 + draw(st.sampled_from(["|", "("])) + "{arguments}"
                                 + draw(_fragment.map(_escape_braces))) for _ in range(draw(st.integers(1, 2)))]
            output.append("call = [" + ", ".join(texts) + "]")
        if "call_id" in keys:
            output.append(line("call_id", draw(st.sampled_from(["{name}", "call_{index}", "{name}:{index}"]))))
        if attached_call and draw(st.booleans()):
            output.append('call_name = "attach"')
        tables += output
    elif attached_call and draw(st.booleans()):
        tables += ["[output]", 'call_name = "attach"']
    var_tables = []
    for name in variables:
        if name not in used:
            continue
        if name == "today":
            var_tables += [f"[variables.{name}]", 'strftime = "%Y-%m-%d"']
        elif name == "thinking":
            var_tables += [f"[variables.{name}]", f"default = {str(draw(st.booleans())).lower()}",
                           line("when_true", draw(_fragment)), line("when_false", draw(_fragment))]
        elif name == "needed":
            var_tables += [f"[variables.{name}]", "required = true"]
            if draw(st.booleans()):
                var_tables.append('serialiser = "json_dumps"')
        elif name == "mode":
            var_tables += [f"[variables.{name}]", f"default = {str(draw(st.booleans())).lower()}"]
        elif name == "budget":
            var_tables += [f"[variables.{name}]", f"number = {draw(st.sampled_from(['-1', '0', '2', '1.5']))}"]
            if gears:
                pairs = ", ".join(f"[{bound}, {toml_string(draw(_fragment.map(_escape_braces)))}]" for bound in gears)
                var_tables.append('lookup = {slot = "gear", at_most = [' + pairs + "]}")
        elif name == "controls":
            var_tables += [f"[variables.{name}]", line("when_given", draw(_fragment.map(_escape_braces)) + "{json}"
                                                       + draw(_fragment.map(_escape_braces)))]
        else:
            var_tables += [f"[variables.{name}]", f"default = {toml_string(draw(_fragment))}"]
            # Jamba's role_to_predict (an empty string is the default) and generation_preamble (written
            # around a value that is not blank).
            if draw(st.integers(0, 2)) == 0:
                var_tables.append('empty = "default"')
            if draw(st.integers(0, 2)) == 0:
                var_tables.append(line("nonblank", draw(_fragment.map(_escape_braces)) + "{value}"
                                       + draw(_fragment.map(_escape_braces))))
    return "\n".join(lines + tables + thinking_table + var_tables + switch_tables + system + role_tables + gen) + "\n"


ROLE_NAMES = ["system", "user", "assistant", "developer"]


MESSAGE_FACTS = ("previous", "next", "first", "final", "generation_prompt", "empty", "given_empty", "calls", "earlier",
                 "earlier_calls", "previous_message", "named", "opening", "reasoning")
REQUEST_FACTS = ("tools", "documents")


def variants(draw, default: str, text, facts_=MESSAGE_FACTS + REQUEST_FACTS, thinking: bool = False,
             slots=("role",), mappings=(), used=None, numbers=()) -> str:
    """A text key as an array of variants chosen by conditions (among ``facts_``, ``thinking`` when the
    format declares [thinking], ``has`` on the mapping variables ``mappings`` and ``equals`` on the number
    variables ``numbers``, which are then added to ``used``), the last one unconditional; ``{name}`` only
    under ``named = true``."""
    items = []
    for _ in range(draw(st.integers(1, 3))):
        conditions = draw(st.dictionaries(st.sampled_from(list(facts_) + (["thinking"] if thinking else [])
                                                          + (["has"] if mappings else [])
                                                          + (["equals"] if numbers else [])),
                                          st.just(None), min_size=1, max_size=2))
        written = []
        named = False
        for fact in conditions:
            if fact in ("previous", "next", "earlier", "previous_message"):
                roles = draw(st.lists(st.sampled_from(ROLE_NAMES + ["tool"]), min_size=1, max_size=2, unique=True))
                written.append(f"{fact} = {json_list(roles)}")
            elif fact == "has":
                keys = draw(st.lists(st.sampled_from(["citations", "hallucinations", "k"]), min_size=1, max_size=2,
                                     unique=True))
                written.append(f"has = {{{mappings[0]} = {json_list(keys)}}}")
                if used is not None:
                    used.add(mappings[0])
            elif fact == "equals":
                written.append(f"equals = {{{numbers[0]} = {draw(st.sampled_from(['-1', '0', '1', '2.0']))}}}")
                if used is not None:
                    used.add(numbers[0])
            else:
                value = draw(st.booleans())
                named = named or (fact == "named" and value)
                written.append(f"{fact} = {str(value).lower()}")
        written_text = text(slots + (("name",) if named else ()))
        if named and draw(st.booleans()):
            written_text += "({name})"
        items.append("{when = {" + ", ".join(written) + "}, text = " + toml_string(written_text) + "}")
    items.append("{text = " + toml_string(default) + "}")
    return "[" + ", ".join(items) + "]"


LSTRIPS = ["", "\n", " \n"]
#: Strings a format takes out of a text (``remove``), some of them made again by taking out another.
removed = st.lists(st.sampled_from(["/think", "/no_think", "a", "\n", "x"]), min_size=1, max_size=2, unique=True)
#: Keys of a parameter's schema that a serialiser may leave out (``[tools] ignore``).
SCHEMA_KEYS = ["enum", "items", "description", "default", "properties"]
JOINS = ["", "\n\n", " | "]


def json_list(values) -> str:
    return "[" + ", ".join(toml_string(v) for v in values) + "]"


def carried(data, fmt, messages, tools):
    """``(messages, tools)``: for a format whose tools travel in a message's ``tools`` field (GLM-4),
    most of the time the tools are given on one of the messages instead of to render."""
    rules = fmt.spec.tools
    if rules is None or rules.placement != "message" or tools is None or not messages or \
            not data.draw(st.integers(0, 3)):
        return messages, tools
    at = data.draw(st.integers(0, len(messages) - 1))
    return [dict(m, tools=tools) if k == at and isinstance(m, dict) else m for k, m in enumerate(messages)], None
