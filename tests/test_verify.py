"""`promptcraft verify`: the differential check against a user's Jinja template."""

from __future__ import annotations

import json
import pathlib
import sys

from conftest import require_corpus, require_transformers
from hf_reference import CORPUS

from promptcraft.cli import main


def corpus_file(stem: str) -> str:
    require_corpus()
    require_transformers()
    return str(CORPUS / f"{stem}.json")


def test_corpus_file_passes(capsys):
    """A format verified against its own model's corpus template reports no difference."""
    template = corpus_file("meta-llama--Llama-3.2-3B-Instruct")
    code = main(["verify", "llama-3.2", "--template", template, "--cases", "120"])
    out = capsys.readouterr().out
    assert code == 0
    assert out.strip().endswith("120 passed, 0 failed")


def test_tokenizer_config_with_named_templates(tmp_path, capsys):
    """A tokenizer_config.json with token dicts and named templates is read like transformers reads it."""
    entry = json.loads(pathlib.Path(corpus_file("mistralai--Mixtral-8x7B-Instruct-v0.1")).read_text(encoding="utf-8"))
    config = {
        "bos_token": {"content": entry["bos_token"], "lstrip": False},
        "eos_token": entry["eos_token"],
        "chat_template": [{"name": "default", "template": entry["chat_template"]},
                          {"name": "tool_use", "template": "{{ raise_exception('tools') }}"}],
    }
    path = tmp_path / "tokenizer_config.json"
    path.write_text(json.dumps(config), encoding="utf-8")
    assert main(["verify", "mixtral", "--template", str(path), "--cases", "80"]) == 0
    assert capsys.readouterr().out.strip().endswith("80 passed, 0 failed")
    assert main(["verify", "mixtral", "--template", str(path), "--template-name", "nope"]) == 1
    assert "no template named 'nope'" in capsys.readouterr().err


def test_jinja_file_with_tokens(tmp_path, capsys):
    """A bare .jinja file takes its special tokens from --bos and --eos."""
    entry = json.loads(pathlib.Path(corpus_file("google--gemma-2-2b-it")).read_text(encoding="utf-8"))
    path = tmp_path / "chat_template.jinja"
    path.write_text(entry["chat_template"], encoding="utf-8")
    code = main(["verify", "gemma-2", "--template", str(path), "--bos", "<bos>", "--eos", "<eos>", "--cases", "60"])
    assert code == 0, capsys.readouterr().out


def test_differences_are_reported_with_visible_whitespace(capsys):
    """A wrong pairing fails with the first differing position, whitespace made visible, and a summary."""
    template = corpus_file("meta-llama--Meta-Llama-3-8B-Instruct")
    code = main(["verify", "llama-3.2", "--template", template, "--cases", "20"])
    out = capsys.readouterr().out
    assert code == 1
    assert "first difference at character" in out and "⏎" in out
    assert out.strip().splitlines()[-1].endswith("0 passed, 20 failed")


def test_public_cases_file(tmp_path, capsys):
    """--conversations runs the given cases instead of generated ones."""
    require_corpus()
    from hf_reference import PUBLIC_CASES

    code = main(["verify", "smollm2", "--template", corpus_file("HuggingFaceTB--SmolLM2-135M-Instruct"),
                 "--conversations", str(PUBLIC_CASES)])
    assert code == 0
    assert capsys.readouterr().out.strip().endswith("116 passed, 0 failed")


def test_missing_jinja_names_the_extra(monkeypatch, capsys):
    """Without jinja2, verify says which extra to install, with no traceback."""
    path = corpus_file("HuggingFaceTB--SmolLM2-135M-Instruct")
    monkeypatch.setitem(sys.modules, "jinja2", None)
    monkeypatch.setitem(sys.modules, "jinja2.ext", None)
    monkeypatch.setitem(sys.modules, "jinja2.sandbox", None)
    assert main(["verify", "smollm2", "--template", path]) == 1
    err = capsys.readouterr().err
    assert "promptcraft-chat[verify]" in err and "Traceback" not in err


def test_unreadable_template(tmp_path, capsys):
    """A template file that is missing or has no chat_template is a clear error."""
    assert main(["verify", "smollm2", "--template", str(tmp_path / "none.json")]) == 1
    (tmp_path / "x.json").write_text("{}")
    assert main(["verify", "smollm2", "--template", str(tmp_path / "x.json")]) == 1
    assert "no 'chat_template'" in capsys.readouterr().err
