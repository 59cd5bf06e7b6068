"""``import_template``: Jinja chat templates read into formats, then checked against transformers itself.

The importer checks its own candidates against the template in its sandbox; these tests check the
result again, independently, through transformers on conversations the importer never saw (another
seed), for every corpus template and for templates written here in styles no built-in format has.
"""

from __future__ import annotations

import functools
import json
import pathlib
import time
import warnings

import pytest
from conftest import require_corpus, require_transformers
from hf_reference import CORPUS, Refused, hf_render

import promptcraft
from promptcraft import TemplateImportError, UnknownFormatError
from promptcraft._interop.probe import structured_cases
from promptcraft._interop.verify import conversations
from promptcraft.cli import main

HERE = pathlib.Path(__file__).parent / "import_templates"
#: Templates whose output depends on what no format declares (here a turn counter): declined.
DECLINED = ("numbered-turns",)
STYLES = sorted(p for p in HERE.glob("*.jinja") if p.stem not in DECLINED)


def _transformers(template: str, messages, bos: str, eos: str, **options):
    import jinja2
    from transformers.utils.chat_template_utils import render_jinja_template

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return render_jinja_template(conversations=[messages], chat_template=template, bos_token=bos,
                                         eos_token=eos, **options)[0][0]
    except (jinja2.TemplateError, ValueError, TypeError):
        return None


def _render(fmt, messages, **options):
    try:
        return fmt.render(messages, **options)
    except promptcraft.PromptcraftError:
        return None


@functools.lru_cache(maxsize=None)
def corpus_imports():
    """Every corpus template imported once: stem -> Format or TemplateImportError."""
    results = {}
    for path in sorted(CORPUS.glob("*.json")):
        entry = json.loads(path.read_text(encoding="utf-8"))
        try:
            results[path.stem] = promptcraft.import_template(
                entry["chat_template"], bos_token=entry["bos_token"], eos_token=entry["eos_token"],
                name="imported", cases=150)
        except TemplateImportError as error:
            results[path.stem] = error
    return results


def test_corpus_templates_import_and_match_transformers_on_unseen_conversations():
    require_corpus()
    require_transformers()
    results = corpus_imports()
    imported = {stem: fmt for stem, fmt in results.items() if not isinstance(fmt, TemplateImportError)}
    declined = {stem: error for stem, error in results.items() if stem not in imported}
    # Every decline says why; none is a crash.
    assert all(error.reason for error in declined.values())
    assert len(imported) >= 70, sorted(declined)
    wrong = []
    for stem, fmt in imported.items():
        for messages, gen, cont in conversations(40, seed=11):
            try:
                want = hf_render(stem, messages, add_generation_prompt=gen, continue_final_message=cont)
            except Refused:
                want = None
            got = _render(fmt, messages, add_generation_prompt=gen, continue_final_message=cont,
                          **_pinned(fmt))
            if got is not None and got != want:
                wrong.append((stem, messages, gen, cont, want, got))
        if fmt.spec.tools is not None or fmt.spec.calls is not None:
            for messages, options in structured_cases(15, seed=5):
                try:
                    want = hf_render(stem, messages, **options)
                except Refused:
                    want = None
                got = _render(fmt, messages, **options, **_pinned(fmt))
                if got is not None and got != want:
                    wrong.append((stem, messages, options, want, got))
    # The one result that must not happen: an imported format writing a prompt the template does not.
    assert not wrong, wrong[:2]


def _pinned(fmt):
    """The format's date variables at today's date, as transformers' ``strftime_now`` reads the clock."""
    import datetime

    now = datetime.datetime.now()
    return {v.name: now.strftime(v.strftime) for v in fmt.spec.variables if v.strftime is not None}


@pytest.mark.parametrize("path", STYLES, ids=lambda p: p.stem)
def test_templates_in_unseen_styles_import_from_the_probes_alone(path):
    """No built-in format helps here (``builtins=False``): the format is read off the probes."""
    require_transformers()
    template = path.read_text(encoding="utf-8")
    started = time.perf_counter()
    fmt = promptcraft.import_template(template, bos_token="<s>", eos_token="</s>", name=path.stem,
                                      builtins=False)
    assert time.perf_counter() - started < 20
    assert fmt.origin.startswith("imported (inferred)")
    for messages, gen, cont in conversations(80, seed=23):
        want = _transformers(template, messages, "<s>", "</s>", add_generation_prompt=gen,
                             continue_final_message=cont)
        got = _render(fmt, messages, add_generation_prompt=gen, continue_final_message=cont, **_pinned(fmt))
        assert got is None or got == want, (messages, gen, cont)
    # The declaration is a file like any other: written out and loaded back, it renders the same.
    again = promptcraft.loads_format(fmt.to_toml())
    messages = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]
    assert again.render(messages, **_pinned(fmt)) == fmt.render(messages, **_pinned(fmt))


def test_a_fine_tune_with_its_own_default_system_text_keeps_its_family_tools():
    """The commonest fine-tune edit: the family's template with another default system prompt. The built-in
    format with the template's default is a candidate, so tools and calls come along, checked as the rest."""
    require_corpus()
    require_transformers()
    entry = json.loads((CORPUS / "Qwen--Qwen2.5-7B-Instruct.json").read_text(encoding="utf-8"))
    template = entry["chat_template"].replace(
        "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.", "You are Orbit, by Example Labs.")
    assert promptcraft.identify(template, eos_token=entry["eos_token"]) is None
    fmt = promptcraft.import_template(template, eos_token=entry["eos_token"], name="orbit")
    assert fmt.spec.tools is not None and fmt.spec.calls is not None, fmt.origin
    for messages, options in structured_cases(25, seed=8):
        want = _transformers(template, [{k: v for k, v in m.items() if v is not None} for m in messages], None,
                             entry["eos_token"], **options)
        got = _render(fmt, messages, **options)
        assert got is None or got == want, (messages, options)
        assert got is not None or want is None or _any_json_text_arguments(messages), (messages, options)


def _any_json_text_arguments(messages):
    return any(isinstance(c["function"]["arguments"], str) for m in messages for c in m.get("tool_calls") or ())


def test_a_template_counting_turns_is_declined_with_a_draft():
    require_transformers()
    template = (HERE / "numbered-turns.jinja").read_text(encoding="utf-8")
    with pytest.raises(TemplateImportError) as caught:
        promptcraft.import_template(template, builtins=False)
    error = caught.value
    assert "reproduces this template" in error.reason
    assert error.draft is not None and "[roles.assistant]" in error.draft
    assert error.failures and "first difference" in "\n".join(error.failures)


HOSTILE = {
    "attribute escape": "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "globals": "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "endless loop": "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
    "huge string": "{{ 'a' * 10**10 }}",
    "doubling": "{% set ns = namespace(s='ab') %}{% for i in range(60) %}{% set ns.s = ns.s ~ ns.s %}"
                "{% endfor %}{{ ns.s|length }}",
    "huge output": "{% for m in messages %}{% for i in range(100000) %}{{ 'x' * 1000 }}{% endfor %}{% endfor %}",
    "syntax": "{% for %}",
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_templates_end_in_an_import_error_in_bounded_time(name):
    require_transformers()
    started = time.perf_counter()
    with pytest.raises(TemplateImportError):
        promptcraft.import_template(HOSTILE[name])
    assert time.perf_counter() - started < 60


def test_a_huge_template_is_refused_before_it_runs():
    started = time.perf_counter()
    with pytest.raises(TemplateImportError, match="more than"):
        promptcraft.import_template("{{ 'x' }}" * 2_000_000)
    assert time.perf_counter() - started < 5


@functools.lru_cache(maxsize=None)
def exported_imports():
    """Every built-in format exported to Jinja, then imported back: name -> Format or TemplateImportError."""
    results = {}
    for name in promptcraft.list_formats():
        fmt = promptcraft.get_format(name)
        try:
            results[name] = promptcraft.import_template(fmt.to_jinja(), bos_token=fmt.spec.bos,
                                                        eos_token=fmt.spec.eos, name=name, cases=60)
        except TemplateImportError as error:
            results[name] = error
    return results


def test_exported_formats_import_back_and_render_the_same():
    """``import_template(fmt.to_jinja())`` imports back for every built-in format and renders as ``fmt`` does."""
    require_transformers()
    results = exported_imports()
    back = {name: imported for name, imported in results.items() if not isinstance(imported, TemplateImportError)}
    assert len(back) == len(results), sorted(set(results) - set(back))
    for name, imported in back.items():
        fmt = promptcraft.get_format(name)
        for messages, gen, cont in conversations(30, seed=31):
            want = _render(fmt, messages, add_generation_prompt=gen, continue_final_message=cont, **_pinned(fmt))
            got = _render(imported, messages, add_generation_prompt=gen, continue_final_message=cont,
                          **_pinned(imported))
            assert got is None or got == want, (name, messages, gen, cont)


def test_recursion_is_a_refusal_not_a_crash():
    require_transformers()
    template = "{% macro f(x) %}{{ f(x) }}{% endmacro %}{{ f(1) }}"
    with pytest.raises(TemplateImportError) as caught:
        promptcraft.import_template(template)
    assert "RecursionError" in str(caught.value)


def test_cli_imports_a_jinja_file_and_the_format_renders(tmp_path, capsys):
    require_transformers()
    source = HERE / "chatml-custom.jinja"
    out = tmp_path / "orbit.toml"
    assert main(["import", str(source), "--eos", "<|end|>", "-o", str(out), "--no-builtins"]) == 0
    assert "same as the template" in capsys.readouterr().out
    text = out.read_text(encoding="utf-8")
    assert 'name = "chatml-custom"' in text
    fmt = promptcraft.load_format(out)
    template = source.read_text(encoding="utf-8")
    messages = [{"role": "user", "content": " Hi "}, {"role": "assistant", "content": "Hello"},
                {"role": "user", "content": "Bye"}]
    assert fmt.render(messages, add_generation_prompt=True) == _transformers(
        template, messages, None, "<|end|>", add_generation_prompt=True)


def test_cli_partial_writes_the_draft_with_the_failing_cases(tmp_path, capsys):
    require_transformers()
    out = tmp_path / "draft.toml"
    assert main(["import", str(HERE / "numbered-turns.jinja"), "--no-builtins", "--partial", "-o", str(out)]) == 1
    assert "reproduces this template" in capsys.readouterr().err
    text = out.read_text(encoding="utf-8")
    assert text.startswith("# promptcraft import: NOT verified.") and "first difference" in text


def test_model_folder_imports_unless_told_not_to(tmp_path):
    require_transformers()
    template = (HERE / "vicuna.jinja").read_text(encoding="utf-8")
    folder = tmp_path / "My-Vicuna"
    folder.mkdir()
    (folder / "tokenizer_config.json").write_text(json.dumps(
        {"chat_template": template, "bos_token": "<s>", "eos_token": "</s>"}), encoding="utf-8")
    with pytest.raises(UnknownFormatError, match="does not guess"):
        promptcraft.from_pretrained(folder, allow_import=False)
    fmt = promptcraft.from_pretrained(folder)
    assert fmt.name == "my-vicuna" and "from the model folder" in fmt.origin
    assert promptcraft.for_model(str(folder)).render([{"role": "user", "content": "Hi"}]) == \
        fmt.render([{"role": "user", "content": "Hi"}])
    messages = [{"role": "user", "content": "Hi"}]
    assert fmt.render(messages, add_generation_prompt=True) == _transformers(
        template, messages, "<s>", "</s>", add_generation_prompt=True)


def test_cli_render_imports_a_model_folder_unless_told_not_to(tmp_path, capsys):
    require_transformers()
    folder = tmp_path / "orbit"
    folder.mkdir()
    template = (HERE / "chatml-custom.jinja").read_text(encoding="utf-8")
    (folder / "tokenizer_config.json").write_text(json.dumps({"chat_template": template, "eos_token": "<|end|>"}),
                                                  encoding="utf-8")
    conversation = tmp_path / "chat.json"
    conversation.write_text(json.dumps([{"role": "user", "content": "Hi"}]), encoding="utf-8")
    assert main(["render", "--model", str(folder), "--no-import", str(conversation)]) == 1
    assert "does not guess" in capsys.readouterr().err
    assert main(["render", "--model", str(folder), "-g", str(conversation)]) == 0
    assert capsys.readouterr().out == _transformers(template, [{"role": "user", "content": "Hi"}], None, "<|end|>",
                                                    add_generation_prompt=True)


def test_folder_stop_strings_come_from_generation_config(tmp_path):
    require_corpus()
    entry = json.loads((CORPUS / "meta-llama--Llama-3.1-8B-Instruct.json").read_text(encoding="utf-8"))
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({
        "chat_template": entry["chat_template"], "bos_token": entry["bos_token"], "eos_token": entry["eos_token"],
        "added_tokens_decoder": {"128001": {"content": "<|end_of_text|>"}, "128008": {"content": "<|eom_id|>"},
                                 "128009": {"content": "<|eot_id|>"}}}), encoding="utf-8")
    (tmp_path / "generation_config.json").write_text(json.dumps({"eos_token_id": [128001, 128008, 128009, 7]}),
                                                     encoding="utf-8")
    fmt = promptcraft.from_pretrained(tmp_path)
    assert fmt.name == "llama-3.1"
    assert set(fmt.stop) >= {"<|eot_id|>", "<|eom_id|>", "<|end_of_text|>"}
    assert "[7]" in fmt.origin  # an id no tokenizer file names is said, not dropped


def test_import_never_renders_in_the_calling_process(monkeypatch):
    """The template runs in the sandbox's child process only: jinja2 rendering is unavailable here."""
    require_transformers()
    import jinja2

    def refuse(*args, **kwargs):
        raise AssertionError("a template was rendered in the importing process")

    monkeypatch.setattr(jinja2.Template, "render", refuse)
    monkeypatch.setattr(jinja2.Template, "generate", refuse)
    fmt = promptcraft.import_template((HERE / "chatml-custom.jinja").read_text(encoding="utf-8"),
                                      builtins=False, cases=30)
    assert fmt.render([{"role": "user", "content": "Hi"}]).startswith("<|turn|>system")
