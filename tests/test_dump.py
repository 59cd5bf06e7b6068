"""Writing a declaration back as TOML (``Format.to_toml``, ``_spec.dump``): the text loads as the same
declaration and generates the same code, for every built-in format, random formats and hostile strings."""

from __future__ import annotations

import math
import sys

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from strategies import NASTY, _escape_braces, format_toml, toml_string

import promptcraft
from promptcraft._spec.dump import to_surface, write_toml
from promptcraft.errors import FormatError

if sys.version_info >= (3, 11):
    import tomllib
else:  # the reader promptcraft uses there (tomli below 2.4 reads TOML 1.0, as tomllib)
    import tomli as tomllib


def assert_round_trip(fmt) -> str:
    text = fmt.to_toml()
    # The path is load-time data (it labels errors and names the file in the generated code): the
    # same one is given, so the whole declaration, path included, must be equal.
    again = promptcraft.loads_format(text, path=fmt.path)
    assert again.spec == fmt.spec, text
    assert again.source == fmt.source
    assert tomllib.loads(text) == to_surface(fmt.spec)
    assert again.to_toml() == text  # written once, it is written the same way ever after
    return text


@pytest.mark.parametrize("name", promptcraft.list_formats())
def test_builtin_format_round_trips(name):
    """Every built-in format loads back from its dump as the same declaration and the same code."""
    assert_round_trip(promptcraft.get_format(name))


@settings(max_examples=300, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(text=format_toml())
def test_random_format_round_trips(text):
    """Random formats (every mechanism of the schema) load back from their dump unchanged."""
    assert_round_trip(promptcraft.loads_format(text))


#: Strings a writer gets wrong: TOML's quotes and escapes, control characters, invisible and
#: line-separating characters, literal braces and placeholders, TOML syntax, non-ASCII.
HOSTILE = ['"""', "'''", '"', "\\", "\\u0041", "\x00", "\x1b", "\x7f", "\b\f\r\n\t", "\u2028", "\u2029", "\u200b",
           "\ufeff", "\u00a0", "\U000e0001", "{{", "}}", "{", "}", "{bos}", "{{role}}", "é 日本 🙂", "#", "=",
           "[roles.x]", "]]", "a = 1", " padded "] + NASTY


def hostile_format(s: str) -> str:
    """A format holding ``s`` in each kind of string: texts (braces doubled), raw strings, refusals,
    keys (a role name, a mapping key tested by ``has``, a control token escaped), tokens."""
    body, role = _escape_braces(s), "r" + s + "r"
    token, other = "<" + s.replace("\u200b", "") + ">", "[" + s.replace("\u200b", "") + "]"
    return "\n".join([
        'name = "hostile"',
        f"description = {toml_string(s)}",
        f"stop = [{toml_string(s + '.')}]",
        f"start = {toml_string('{bos}' + body)}",
        "[tokens]", f"bos = {toml_string(token)}", f"eos = {toml_string(token + 'e')}",
        "[variables.flavour]", f"default = {toml_string(s)}",
        "[variables.controls]", f"when_given = {toml_string(body + '{json}' + body)}",
        "[system]", 'placement = "block"', f"prefix = {toml_string(body + _escape_braces(token))}",
        f"suffix = {toml_string(_escape_braces(token) + 'e' + body)}",
        f"[roles.{toml_string(role)}]",
        "prefix = [{ when = { previous = " + toml_string(role) + ", has = { controls = " + toml_string(s)
        + " } }, text = " + toml_string(body + "{role}") + " }, { text = " + toml_string("{flavour}" + body) + " }]",
        f"refuse_containing = [{toml_string(s + '!')}]", f"refuse_containing_message = {toml_string(s + '?')}",
        "[roles.assistant]", f"suffix = {toml_string(body + '{eos}')}",
        f"strip_reasoning = {{ marker = {toml_string(s + '/')}, lstrip = {toml_string(s)} }}",
        "[any_role]", f"refuse = {toml_string(s + '*')}",
        "[tools]", f"prefix = {toml_string(s)}", f"separator = {toml_string(s)}",
        "[calls]", f"call = {toml_string(body + '{name}' + body + '{arguments}')}",
        f"ignore = [\"id\", {toml_string(s + 'k')}]", f"prefix = {toml_string(s)}",
        "[generation]", f"prompt = {toml_string(body + '{controls}')}",
        "[control]", f"tokens = [{toml_string(other)}]",
        "[control.escape]", f"{toml_string(other)} = {toml_string(s)}", f"{toml_string(token)} = {toml_string(s)}",
        "[message]", f"ignore = [{toml_string(s + 'f')}]",
    ])


def hostile_round_trip(s: str, drawn: bool = False) -> None:
    try:
        fmt = promptcraft.loads_format(hostile_format(s))
    except FormatError:
        if not drawn:
            raise
        assume(False)  # rare: s holds a control token, which an escape's replacement may not
    text = assert_round_trip(fmt)
    assert fmt.spec.description == s
    # What does not print is written as an escape, so a reader of the file sees it.
    assert not any(ch in text for ch in "\u2028\u2029\u200b\ufeff\x00\x7f\r")


@pytest.mark.parametrize("s", HOSTILE)
def test_hostile_strings_round_trip(s):
    """Quotes, backslashes, control characters, U+2028, braces and TOML syntax in every kind of string."""
    hostile_round_trip(s)


@settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(s=st.text(min_size=1, max_size=12))
def test_any_string_round_trips(s):
    """Any text (all of Unicode but lone surrogates, which a format cannot hold) in every kind of string."""
    hostile_round_trip(s, drawn=True)


def test_long_strings_round_trip():
    """A string of 40,000 characters stays one line and loads back whole."""
    s = "ab{é\u2028" * 8_000
    text = assert_round_trip(promptcraft.loads_format("\n".join([
        'name = "long"', f"description = {toml_string(s)}",
        "[any_role]", f"prefix = {toml_string(_escape_braces(s))}"])))
    assert len(text.splitlines()) == 5  # name, description, a blank line, [any_role], prefix


def test_bos_and_eos_written_as_placeholders():
    """Texts holding a token are written with {bos} or {eos} (the longer one first, the literal when
    both are one string), and literal braces doubled."""
    text = promptcraft.loads_format("\n".join([
        'name = "t"', 'start = "{bos}"', "[tokens]", 'bos = "<s>"', 'eos = "<s></s>"',
        "[any_role]", 'prefix = "{{<s>}}{role}"', 'suffix = "<s></s>"'])).to_toml()
    assert 'start = "{bos}"' in text and 'prefix = "{{{bos}}}{role}"' in text and 'suffix = "{eos}"' in text
    same = promptcraft.loads_format("\n".join([
        'name = "t"', "[tokens]", 'bos = "<|e|>"', 'eos = "<|e|>"', "[any_role]", 'suffix = "{eos}"'])).to_toml()
    assert 'suffix = "<|e|>"' in same


def test_layout():
    """The layout of the files in formats/: plain keys first, a header per table and per role, variants
    one a line, short arrays on one line."""
    text = promptcraft.get_format("qwen3.5").to_toml()
    headers = [line for line in text.splitlines() if line.startswith("[")]
    assert headers[:5] == ["[tokens]", "[variables.add_vision_id]", "[variables.enable_thinking]", "[system]",
                           "[any_role]"]
    assert "[roles.tool]\nprefix = [\n    { when = { previous = \"tool\" }, text = " in text
    assert 'stop = ["<|im_end|>", "<|endoftext|>"]\n' in text
    assert "[parts.image]\n" in text and "[parts]\n" in text


# --- the TOML writer on its own ---------------------------------------------------------------------------------

_scalars = (st.text() | st.booleans() | st.integers(-2**63, 2**63 - 1)
            | st.floats(allow_nan=False) | st.sampled_from(HOSTILE))
_values = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=4)
                       | st.dictionaries(st.text(max_size=6) | st.sampled_from(HOSTILE), inner, max_size=4),
                       max_leaves=12)
_tables = st.dictionaries(st.sampled_from(["roles", "variables", "parts", "system", "control", "x"]) | st.text(),
                          _values, max_size=6)


@settings(max_examples=300, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(mapping=_tables)
def test_write_toml_is_valid_toml(mapping):
    """Any mapping of strings, numbers, booleans, lists and mappings reads back equal as TOML 1.0."""
    assert tomllib.loads(write_toml(mapping)) == mapping


def test_write_toml_floats_and_refusals():
    """Floats TOML spells its own way; values TOML cannot hold are errors, not wrong text."""
    read = tomllib.loads(write_toml({"a": [math.inf, -math.inf, 1e300, -0.0, 5e-324], "n": math.nan}))
    assert read["a"] == [math.inf, -math.inf, 1e300, -0.0, 5e-324] and math.isnan(read["n"])
    with pytest.raises(ValueError, match="surrogate"):
        write_toml({"a": "\ud800"})
    with pytest.raises(ValueError, match="64 bits"):
        write_toml({"a": 2**63})
    with pytest.raises(TypeError):
        write_toml({"a": None})
    with pytest.raises(TypeError):
        write_toml({1: "a"})
