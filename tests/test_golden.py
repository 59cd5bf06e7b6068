"""Golden files: the prompt of every built-in format on fixed cases, and its generated source.

A change in output or in generated code shows as a diff of these files.
Regenerate with ``pytest tests/test_golden.py --update-golden`` and review the diff.
"""

from __future__ import annotations

import json
import pathlib

import pytest

import promptcraft
from conftest import sample_variables

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


def test_precompiled_modules_are_current(update_golden):
    """promptcraft/_precompiled holds exactly what codegen writes today, for every built-in format.

    They are the reviewable snapshots of the generated code, and what built-in formats run.
    Regenerate with `python tools/precompile.py` (or pytest --update-golden).
    """
    import importlib.util

    where = pathlib.Path(__file__).resolve().parents[1] / "tools" / "precompile.py"
    loader = importlib.util.spec_from_file_location("precompile", where)
    precompile = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(precompile)

    expected = precompile.expected_files()
    target = pathlib.Path(precompile.target_dir())
    if update_golden:
        precompile.main()
    actual = {p.name: p.read_text(encoding="utf-8") for p in target.glob("*.py")}
    assert set(actual) == set(expected)
    for name, text in expected.items():
        assert actual[name] == text, f"{name} is stale: run python tools/precompile.py"


@pytest.mark.parametrize("name", promptcraft.list_formats())
def test_builtin_runs_precompiled_code(name):
    """A built-in format renders with its precompiled module, identical to compiling its file."""
    from promptcraft import loads_format

    fmt = promptcraft.get_format(name)
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


