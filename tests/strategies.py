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
    "\u2028", "\x00", "CONTINUE_FINAL_MESSAGE_TAG",
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

# ---------------------------------------------------------------------------
# Random formats, written as TOML text, for compiled-vs-reference properties.

_fragment = st.one_of(
    st.sampled_from(["<|x|>", "[A]", " ", "\n", "::", "'", '"', "\\", '"""', "'''", "\x00", "\u2028", "#", "=", "]]"]),
    st.text(alphabet=string.printable + "é🙂\u2029", max_size=6),
)


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
    pieces = draw(st.lists(_fragment.map(_escape_braces) | st.sampled_from([f"{{{s}}}" for s in slots] or [""]), max_size=4))
    return "".join(pieces)


@st.composite
def format_toml(draw) -> str:
    """A random but valid format declaration."""
    lines = ['name = "random"']
    has_bos = draw(st.booleans())
    has_eos = draw(st.booleans())
    tokens = (["bos"] if has_bos else []) + (["eos"] if has_eos else [])
    variables = draw(st.lists(st.sampled_from(["date_string", "today", "flavour"]), unique=True, max_size=2))
    base = tuple(tokens) + tuple(variables)
    start = draw(template_text(base))
    lines.append(f"start = {toml_string(start)}")
    used = set(n for n in variables if "{" + n + "}" in start)
    tables = []
    if tokens:
        tables.append("[tokens]")
        if has_bos:
            tables.append(f"bos = {toml_string(draw(_fragment.filter(bool)))}")
        if has_eos:
            tables.append(f"eos = {toml_string(draw(_fragment.filter(bool)))}")

    placement = draw(st.sampled_from(["message", "block", "fold_first", "refuse"]))
    system = ["[system]", f'placement = "{placement}"']
    trims = ["none", "both", "left", "right"]
    default = draw(st.none() | st.sampled_from(["", " sys ", "Be nice.", "{braces}"]))
    if placement == "block":
        for key in ("prefix", "suffix"):
            text = draw(template_text(base))
            used.update(n for n in variables if "{" + n + "}" in text)
            system.append(f"{key} = {toml_string(text)}")
        system.append(f'trim = "{draw(st.sampled_from(trims))}"')
        if default is not None:
            system.append(f"default = {toml_string(default)}")
    elif placement == "fold_first":
        fold = draw(template_text(base)) + "{system}" + draw(template_text(base)) + "{content}" + draw(template_text(base))
        if draw(st.booleans()):
            fold = draw(template_text(base)) + "{content}" + draw(template_text(base)) + "{system}"
        used.update(n for n in variables if "{" + n + "}" in fold)
        system.append(f"fold = {toml_string(fold)}")
        system.append(f'trim = "{draw(st.sampled_from(trims))}"')
        if default is not None:
            system.append(f"default = {toml_string(default)}")
    elif placement == "refuse":
        system.append('message = "no system"')

    role_tables = []
    declared = draw(st.lists(st.sampled_from(["system", "user", "assistant"]), unique=True, max_size=3))
    any_role = draw(st.booleans()) or not declared
    if placement == "message" and default is not None and "system" not in declared and not any_role:
        declared.append("system")
    for role in declared + (["*"] if any_role else []):
        header = "[any_role]" if role == "*" else f"[roles.{role}]"
        mode = draw(st.sampled_from(["write"] * 6 + ["drop", "refuse"]))
        if placement == "message" and default is not None and role in ("system", "*"):
            mode = "write"
        if mode == "drop":
            role_tables += [header, "drop = true"]
            continue
        if mode == "refuse":
            role_tables += [header, 'refuse = "not this role"']
            continue
        body = [header]
        for key in ("prefix", "suffix"):
            text = draw(template_text(base + ("role",)))
            used.update(n for n in variables if "{" + n + "}" in text)
            body.append(f"{key} = {toml_string(text)}")
        body.append(f'trim = "{draw(st.sampled_from(trims))}"')
        if draw(st.booleans()):
            body.append("skip_empty = true")
        role_tables += body
    if placement == "message" and default is not None:
        # the default is written by the system role; make sure it can be
        role_tables = [l for l in role_tables]
    system.append("")
    if draw(st.booleans()):
        tables += ["[alternation]", 'message = "roles must alternate"']
    gen = ["[generation]"]
    for key in ("prompt", "otherwise"):
        text = draw(template_text(base))
        used.update(n for n in variables if "{" + n + "}" in text)
        gen.append(f"{key} = {toml_string(text)}")
    var_tables = []
    for name in variables:
        if name not in used:
            continue
        if name == "today":
            var_tables += [f"[variables.{name}]", 'strftime = "%Y-%m-%d"']
        else:
            var_tables += [f"[variables.{name}]", f"default = {toml_string(draw(_fragment))}"]
    return "\n".join(lines + tables + var_tables + system + role_tables + gen) + "\n"
