"""Mutation fuzzing of the built-in format files: only FormatError may come out of loads_format.

Each example takes the text of a built-in ``formats/*.toml`` and applies a few
random mutations (delete, duplicate or swap lines, flip characters, insert
random characters, quotes and brackets, change a value's type, turn a table
into a scalar or an array of tables, nest deeply, truncate). Loading the
result must give a ``Format`` or a ``FormatError`` with a path and a reason;
any other exception fails. A mutant that loads must also render.

The number of mutants tried is printed at the end of the module (``[fuzz] ...``).
"""

from __future__ import annotations

import os
import pathlib
import random
from typing import Callable, List

import pytest
from hostile_support import COUNTS, IN_CI, count_report, pinned_values
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import promptcraft

_counts = count_report("fuzz")

FORMATS = pathlib.Path(__file__).resolve().parent.parent / "formats"
SOURCES = {path.name: path.read_text(encoding="utf-8") for path in sorted(FORMATS.glob("*.toml"))}
MUTANTS_PER_EXAMPLE = 12
EXAMPLES = int(os.environ.get("PROMPTCRAFT_FUZZ_EXAMPLES", "160"))

JUNK = ['"', "'", '"""', "'''", "[", "]", "[[", "]]", "{", "}", "{{", "}}", "=", ".", ",", "#", "\\", "\\u", "\n",
        "\r", "\r\n", "\t", "\x00", "\x01", "\x7f", "\ufeff", "\u2028", "\ud800", "🙂", " ", "= =", "[roles]",
        "[[roles.user]]", "[any_role]", "name = \"y\"", "{role}", "{content}", "{system}", "{bos}", "{nope}",
        "inf", "nan", "1979-05-27", "true", "0x1F", "1e400", "-0"]
VALUES = ["5", "-1", "0", "1.5", "inf", "nan", "true", "false", "1979-05-27", "07:32:00", "1979-05-27T07:32:00Z",
          "[]", "[1, 2]", '["a", 1]', '[""]', "{}", '{a = "b"}', '{prefix = 5}', '""', '"x"', "'lit'",
          '"""multi\nline"""', '"{undeclared}"', '"{"', '"}"', '"%"', '"' + "x" * 3000 + '"',
          "[" * 60 + "]" * 60, "{a = " * 40 + "1" + "}" * 40]


#: One value of each TOML type (and a few bad strings) for the exhaustive retyping sweep.
SWEEP_VALUES = ["5", "1.5", "true", "1979-05-27", "07:32:00", "[1, 2]", '{a = "b"}', '"{undeclared}"', '""']


def _lines(text: str) -> List[str]:
    return text.split("\n")


def delete_line(rng: random.Random, text: str) -> str:
    lines = _lines(text)
    del lines[rng.randrange(len(lines))]
    return "\n".join(lines)


def duplicate_line(rng: random.Random, text: str) -> str:
    lines = _lines(text)
    i = rng.randrange(len(lines))
    lines.insert(rng.randrange(len(lines) + 1), lines[i])
    return "\n".join(lines)


def swap_lines(rng: random.Random, text: str) -> str:
    lines = _lines(text)
    i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
    lines[i], lines[j] = lines[j], lines[i]
    return "\n".join(lines)


def flip_char(rng: random.Random, text: str) -> str:
    if not text:
        return text
    i = rng.randrange(len(text))
    replacement = rng.choice([chr(rng.randrange(0x20, 0x7F)), chr(rng.randrange(0, 0x20)),
                              chr(rng.randrange(0x80, 0x3000)), text[i].swapcase()])
    return text[:i] + replacement + text[i + 1:]


def delete_chars(rng: random.Random, text: str) -> str:
    if not text:
        return text
    i = rng.randrange(len(text))
    return text[:i] + text[i + rng.randint(1, 8):]


def insert_junk(rng: random.Random, text: str) -> str:
    i = rng.randrange(len(text) + 1)
    junk = rng.choice(JUNK + ["".join(chr(rng.randrange(0, 0x110000)) for _ in range(rng.randint(1, 4)))])
    return text[:i] + junk + text[i:]


def insert_random_bytes(rng: random.Random, text: str) -> str:
    """Bytes decoded the way a careless tool might: latin-1, so every byte becomes a character."""
    i = rng.randrange(len(text) + 1)
    data = bytes(rng.randrange(256) for _ in range(rng.randint(1, 6)))
    return text[:i] + data.decode("latin-1") + text[i:]


def change_value(rng: random.Random, text: str) -> str:
    lines = _lines(text)
    candidates = [i for i, line in enumerate(lines) if "=" in line and not line.lstrip().startswith("#")]
    if not candidates:
        return text
    i = rng.choice(candidates)
    key = lines[i].split("=", 1)[0]
    lines[i] = f"{key}= {rng.choice(VALUES)}"
    return "\n".join(lines)


def retype_table(rng: random.Random, text: str) -> str:
    """A [table] header becomes a scalar, an array of tables, an inline table or a deeper table."""
    lines = _lines(text)
    headers = [i for i, line in enumerate(lines) if line.startswith("[")]
    if not headers:
        return text
    i = rng.choice(headers)
    name = lines[i].strip("[] ")
    lines[i] = rng.choice([
        f"[[{name}]]", f"[{name}.extra]", f"[{name}.deeper.still]", f"[{name}]\n[{name}]",
        f"{name.split('.')[0]} = {rng.choice(VALUES)}", f"{name} = {{}}", f"[{name}.{name}]",
        f'["{name}"]', f"[ {name} ]", f"[{name}",
    ])
    return "\n".join(lines)


def truncate(rng: random.Random, text: str) -> str:
    return text[: rng.randrange(len(text) + 1)]


def nest_deeply(rng: random.Random, text: str) -> str:
    depth = rng.choice([10, 100, 1000, 5000])
    return text + f"\nnested = {'[' * depth}{']' * depth}\n"


MUTATIONS: List[Callable[[random.Random, str], str]] = [
    delete_line, duplicate_line, swap_lines, flip_char, flip_char, delete_chars, insert_junk, insert_junk,
    insert_random_bytes, change_value, change_value, retype_table, truncate, nest_deeply,
]
CHAT = [{"role": "system", "content": "S"}, {"role": "user", "content": "U"}, {"role": "assistant", "content": "A"}]


def mutate(rng: random.Random, text: str) -> str:
    for _ in range(rng.choice([1, 1, 1, 2, 2, 3, 4])):
        text = rng.choice(MUTATIONS)(rng, text)
    return text


def check_mutant(text: str, name: str) -> None:
    """Load one mutant: a Format that renders, or a FormatError; anything else fails with the text."""
    COUNTS["fuzz.mutants_tried"] += 1
    try:
        fmt = promptcraft.loads_format(text, path=f"formats/{name}")
    except promptcraft.FormatError as error:
        COUNTS["fuzz.mutants_refused_with_FormatError"] += 1
        assert error.path == f"formats/{name}"
        assert error.reason
        assert error.line is None or 1 <= error.line <= text.count("\n") + 2
        str(error)
        return
    except Exception as error:
        COUNTS["fuzz.exceptions_escaped"] += 1
        raise AssertionError(f"{type(error).__name__} escaped loads_format for this mutant:\n{text}") from error
    COUNTS["fuzz.mutants_loaded"] += 1
    variables = pinned_values(fmt)
    for gen in (False, True):
        try:
            assert isinstance(fmt.render(CHAT, add_generation_prompt=gen, **variables), str)
        except promptcraft.PromptcraftError:
            pass


@settings(max_examples=EXAMPLES, deadline=None, derandomize=IN_CI,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(name=st.sampled_from(sorted(SOURCES)), rng=st.randoms(use_true_random=False))
def test_mutated_builtin_formats_raise_only_format_error(name, rng):
    """Randomly mutated built-in format files load, or raise FormatError and nothing else."""
    for _ in range(MUTANTS_PER_EXAMPLE):
        check_mutant(mutate(rng, SOURCES[name]), name)


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_every_line_deleted_and_every_prefix(name):
    """Deleting any one line, and truncating at every line end, gives a Format or a FormatError."""
    text = SOURCES[name]
    lines = text.split("\n")
    for i in range(len(lines)):
        check_mutant("\n".join(lines[:i] + lines[i + 1:]), name)
        check_mutant("\n".join(lines[:i]), name)


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_every_value_retyped(name):
    """Every `key = value` line with its value replaced by each other TOML type gives a Format or a FormatError."""
    lines = SOURCES[name].split("\n")
    for i, line in enumerate(lines):
        if "=" not in line or line.lstrip().startswith("#") or line.startswith(" "):
            continue
        key = line.split("=", 1)[0]
        for value in SWEEP_VALUES:
            check_mutant("\n".join(lines[:i] + [f"{key}= {value}"] + lines[i + 1:]), name)


@pytest.mark.parametrize("table", ["roles", "variables"])
@pytest.mark.parametrize("value", ["5", "true", "1.5", "1979-05-27", "07:32:00"])
def test_scalar_where_a_table_is_expected(table, value):
    """`roles = 5` or `variables = true` is a FormatError naming the key and line, like `roles = "user"`."""
    # Regression: this suite found these raising TypeError ('int' object is not iterable); fixed in f5f7469.
    text = f'name = "x"\n{table} = {value}\n[any_role]\nprefix = "x"\n'
    with pytest.raises(promptcraft.FormatError) as caught:
        promptcraft.loads_format(text, path="x.toml")
    assert (caught.value.key, caught.value.line) == (table, 2)


def test_string_and_array_where_a_table_is_expected():
    """The same mistake with a string or an array is already a clear FormatError."""
    for value, kind in (('"user"', "a string"), ("[1]", "an array"), ('[{prefix = "x"}]', "an array")):
        for table in ("roles", "variables"):
            with pytest.raises(promptcraft.FormatError, match=f"expected a table, got {kind}") as caught:
                promptcraft.loads_format(f'name = "x"\n{table} = {value}\n[any_role]\nprefix = "x"\n')
            assert caught.value.key == table


def test_dates_and_times_are_named_in_errors():
    """A TOML date where a string is expected is a FormatError (message names its type)."""
    with pytest.raises(promptcraft.FormatError) as caught:
        promptcraft.loads_format('name = "x"\n[roles.user]\nprefix = 1979-05-27\n')
    assert caught.value.key == "roles.user.prefix"
