"""Malformed format files: each gives a FormatError with file, line and key, as recorded."""

from __future__ import annotations

import pathlib

import pytest

import promptcraft
from promptcraft._spec.toml import MAX_FORMAT_BYTES

INVALID = pathlib.Path(__file__).parent / "data" / "invalid"
FILES = sorted(INVALID.glob("*.toml"))


def test_corpus_present():
    """The invalid-format corpus is there (an empty glob must not pass silently)."""
    assert len(FILES) >= 30


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_invalid_format_error_text(path, update_golden, monkeypatch):
    """Loading the file raises FormatError; its message equals the recorded one."""
    monkeypatch.chdir(INVALID)
    with pytest.raises(promptcraft.FormatError) as caught:
        promptcraft.load_format(path.name)
    error = caught.value
    assert error.path == path.name
    expected_file = path.with_suffix(".err")
    text = str(error) + "\n"
    if update_golden:
        expected_file.write_text(text, encoding="utf-8")
    assert expected_file.read_text(encoding="utf-8") == text
    assert isinstance(error, ValueError)


def test_error_carries_line_and_key():
    """Structured attributes, not just text: path, line and key."""
    text = 'name = "x"\n\n[roles.user]\nprefix = 12\n'
    with pytest.raises(promptcraft.FormatError) as caught:
        promptcraft.loads_format(text, path="formats/x.toml")
    error = caught.value
    assert (error.path, error.line, error.key) == ("formats/x.toml", 4, "roles.user.prefix")
    assert str(error) == "formats/x.toml:4: roles.user.prefix: expected a string, got an integer"


def test_unknown_key_suggests_the_right_one():
    """A misspelt key names the key it probably meant."""
    with pytest.raises(promptcraft.FormatError, match=r"did you mean 'suffix'"):
        promptcraft.loads_format('name = "x"\n[roles.user]\nsufix = "a"\n')


def test_oversized_file_is_refused(tmp_path):
    """Files over the documented size limit are refused before parsing."""
    path = tmp_path / "big.toml"
    path.write_text('name = "x"\n#' + "a" * MAX_FORMAT_BYTES + "\n")
    with pytest.raises(promptcraft.FormatError, match="limited to"):
        promptcraft.load_format(path)


def test_missing_file(tmp_path):
    """A path that does not exist is a FormatError naming it."""
    with pytest.raises(promptcraft.FormatError) as caught:
        promptcraft.load_format(tmp_path / "absent.toml")
    assert caught.value.path.endswith("absent.toml")


@pytest.mark.parametrize("syntax", [
    'description = "\\e"',                      # TOML 1.1 escape
    'tokens = { bos = "<s>", }',                # trailing comma in an inline table
    'tokens = { bos = "<s>",\n eos = "</s>" }',  # newline in an inline table
])
def test_toml_1_1_syntax_is_refused_on_every_python(syntax):
    """Format files are TOML 1.0 everywhere (tomli is pinned below 2.4, which reads TOML 1.1), so a
    file that loads on one Python loads on all."""
    text = f'name = "x"\n{syntax}\n[roles.user]\nprefix = "U: "\n'
    with pytest.raises(promptcraft.FormatError):
        promptcraft.loads_format(text)
