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


def test_public_api_is_typed_for_users(tmp_path):
    """mypy sees render's parameters and the Message TypedDict in a user's code."""
    require(importlib.util.find_spec("mypy") is not None, "mypy is not installed (pip install -e '.[test]')")
    user = tmp_path / "user_code.py"
    user.write_text(
        "import promptcraft\n\n"
        "fmt = promptcraft.get_format('qwen2.5')\n"
        "chat: list[promptcraft.Message] = [{'role': 'user', 'content': 'Hi'}]\n"
        "prompt: str = fmt.render(chat, add_generation_prompt=True, tools=None, enable_thinking=False)\n"
        "fmt.render(chat, add_generation_prompt='yes')\n"
        "bad: promptcraft.Message = {'content': 'no role'}\n"
    )
    result = subprocess.run([sys.executable, "-m", "mypy", "--python-version", "3.10", "--no-incremental",
                             "--follow-imports", "silent", str(user)], cwd=ROOT, capture_output=True, text=True)
    errors = [line for line in result.stdout.splitlines() if ": error:" in line]
    assert len(errors) == 2, result.stdout
    assert ":6:" in errors[0] and "add_generation_prompt" in errors[0]
    assert ":7:" in errors[1] and "role" in errors[1]
