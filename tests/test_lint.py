"""The code is clean under ruff and mypy, with the settings in pyproject.toml ([tool.ruff], [tool.mypy])."""

from __future__ import annotations

import importlib.util
import pathlib
import subprocess
import sys

from conftest import require

ROOT = pathlib.Path(__file__).resolve().parents[1]


def run_tool(module: str, *args: str) -> None:
    """Run ``python -m module args`` at the project root; a non-zero exit fails with the tool's output."""
    require(importlib.util.find_spec(module) is not None,
            f"{module} is not installed (pip install -e '.[test]')")
    command = [sys.executable, "-m", module, *args]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    code, output = result.returncode, result.stdout + result.stderr
    assert code == 0, f"`{' '.join(command[1:])}` exited with {code}; its output:\n{output}"


def test_ruff_check():
    """`ruff check .`: style, import order and likely bugs (rules E, F, W, B, I)."""
    run_tool("ruff", "check", ".")


def test_mypy():
    """`mypy`: the package type-checks (files and options from [tool.mypy])."""
    run_tool("mypy")
