"""Golden files: the prompt of every built-in format on fixed cases, and its generated source.

A change in output or in generated code shows as a diff of these files.
Regenerate with ``pytest tests/test_golden.py --update-golden`` and review the diff.
"""

from __future__ import annotations

import json
import pathlib

import pytest
from conftest import sample_variables

import promptcraft

HERE = pathlib.Path(__file__).parent
GOLDEN = HERE / "golden"
CASES = json.loads((GOLDEN / "cases.json").read_text(encoding="utf-8"))
DATE = "26 Jul 2024"


def render_cases(fmt) -> str:
    blocks = []
    for case in CASES:
        variables = sample_variables(fmt, DATE)
        try:
            prompt = fmt.render(
                case["messages"],
                add_generation_prompt=case.get("add_generation_prompt", False),
                continue_final_message=case.get("continue_final_message", False),
                **variables,
            )
            body = prompt
        except promptcraft.PromptcraftError as error:
            body = f"!! {type(error).__name__}: {error}"
        blocks.append(f"===== {case['id']} =====\n{body}\n")
    return "".join(blocks)


def compare(path: pathlib.Path, actual: str, update: bool) -> None:
    if update:
        path.write_text(actual, encoding="utf-8", newline="")
        return
    assert path.exists(), f"missing golden file {path}; run pytest --update-golden"
    assert path.read_text(encoding="utf-8") == actual, f"{path} differs; review with --update-golden and git diff"


def test_every_format_has_golden_files():
    """No built-in format goes without golden files, and no golden file outlives its format."""
    names = set(promptcraft.list_formats())
    assert names, "no built-in formats found"
    rendered = {p.stem for p in (GOLDEN / "render").glob("*.txt")}
    assert rendered == names
    sources = {p.stem for p in (GOLDEN / "source").glob("*.py")}
    assert sources == names


@pytest.mark.parametrize("name", promptcraft.list_formats())
def test_generated_source(name, update_golden):
    """Review snapshot of the generated code: render and render_spans of every built-in format, as
    the code generator writes them today (a change in the generator shows as a diff here)."""
    fmt = promptcraft.get_format(name)
    compare(GOLDEN / "source" / f"{name}.py", fmt._built.source("render") + "\n\n" + fmt._built.source("render_spans"),
            update_golden)


def load_precompile_tool():
    import importlib.util

    where = pathlib.Path(__file__).resolve().parents[1] / "tools" / "precompile.py"
    loader = importlib.util.spec_from_file_location("precompile", where)
    precompile = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(precompile)
    return precompile


def test_precompiled_modules_are_build_output():
    """promptcraft/_precompiled (written by the build hook, ignored by git) holds what the code
    generator writes today, and its index names this generator's fingerprint."""
    precompile = load_precompile_tool()
    target = pathlib.Path(precompile.target_dir())
    if not target.is_dir():
        pytest.skip("no precompiled modules in this tree (install it: pip install -e .)")
    expected = precompile.expected_files()
    actual = {p.name: p.read_text(encoding="utf-8") for p in target.glob("*.py")}
    assert set(actual) == set(expected)
    for name, text in expected.items():
        assert actual[name] == text, f"{name} is stale: pip install -e . (or python tools/precompile.py)"


def test_stale_precompiled_modules_are_not_used(tmp_path, monkeypatch):
    """A precompiled index made by another code generator is ignored: formats compile from their files."""
    from promptcraft import _registry

    monkeypatch.setattr(_registry, "_engine_fingerprint", -1)
    assert _registry._precompiled_index() is None
    monkeypatch.setattr(_registry, "_formats", {})
    fmt = _registry.get_format("smollm2")
    assert not fmt.render.__module__.startswith("promptcraft._precompiled")


@pytest.mark.parametrize("name", promptcraft.list_formats())
def test_builtin_runs_precompiled_code(name):
    """A built-in format renders with its precompiled module, identical to compiling its file."""
    from promptcraft import loads_format

    fmt = promptcraft.get_format(name)
    if not pathlib.Path(load_precompile_tool().target_dir()).is_dir():
        pytest.skip("no precompiled modules in this tree (install it: pip install -e .)")
    assert fmt.render.__module__.startswith("promptcraft._precompiled.")
    compiled = loads_format(pathlib.Path(fmt.path).read_text(encoding="utf-8"), path=fmt.path)
    assert compiled.source == fmt.source
    for case in CASES:
        variables = sample_variables(fmt, DATE)
        options = dict(add_generation_prompt=case.get("add_generation_prompt", False),
                       continue_final_message=case.get("continue_final_message", False), **variables)
        try:
            want = compiled.render(case["messages"], **options)
        except promptcraft.PromptcraftError as error:
            want = repr(error)
        try:
            got = fmt.render(case["messages"], **options)
        except promptcraft.PromptcraftError as error:
            got = repr(error)
        assert got == want


@pytest.mark.parametrize("name", promptcraft.list_formats())
def test_rendered_prompts(name, update_golden):
    """The fixed cases render exactly as recorded."""
    compare(GOLDEN / "render" / f"{name}.txt", render_cases(promptcraft.get_format(name)), update_golden)


