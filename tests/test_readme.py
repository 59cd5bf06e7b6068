"""The README stays true: its format example loads, and its first command prints what it shows."""

from __future__ import annotations

import json
import os
import pathlib
import re

import promptcraft
from promptcraft.cli import run

README = (pathlib.Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def test_annotated_example_is_the_shipped_format():
    """The annotated TOML in the README is valid and renders as the shipped llama-3.2 does."""
    block = re.search(r"```toml\n(.*?)```", README, re.S).group(1)
    example = promptcraft.loads_format(block, path="README.md")
    shipped = promptcraft.get_format("llama-3.2")
    chats = [
        [{"role": "system", "content": " Be brief. "}, {"role": "user", "content": "Hi"}],
        [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo"}],
    ]
    call = {"type": "function", "function": {"name": "f", "arguments": {"x": 1}}}
    agent = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": None, "tool_calls": [call]},
             {"role": "tool", "content": "ok"}, {"role": "ipython", "content": "ok"}]
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    for chat in chats + [agent]:
        for flag in (False, True):
            for given in (None, [], tools):
                assert example.render(chat, add_generation_prompt=flag, date_string="1 Jan", tools=given) == \
                    shipped.render(chat, add_generation_prompt=flag, date_string="1 Jan", tools=given)
    assert example.stop == shipped.stop and example.control_tokens == shipped.control_tokens
    assert example.spec.tools == shipped.spec.tools and example.spec.calls == shipped.spec.calls
    assert example.spec.message == shipped.spec.message


def test_python_snippets_run(tmp_path, monkeypatch):
    """Every ```python block of the README runs as written, as a script of its own."""
    import subprocess
    import sys

    blocks = re.findall(r"```python\n(.*?)```", README, re.S)
    assert len(blocks) >= 3
    monkeypatch.chdir(tmp_path)
    for number, block in enumerate(blocks):
        script = tmp_path / f"snippet_{number}.py"
        script.write_text(block, encoding="utf-8")
        # This checkout's promptcraft, not another one installed in editable mode.
        env = dict(os.environ, PYTHONPATH=str(pathlib.Path(__file__).resolve().parents[1]))
        done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, env=env)
        assert done.returncode == 0, f"README python block {number} failed:\n{block}\n{done.stderr}"


def test_quick_start_command_output():
    """The console example's output is what `promptcraft render` prints."""
    block = re.search(r"```console\n\$ echo '(.*?)' \| promptcraft (render [^\n]*)\n(.*?)```", README, re.S)
    messages, command, shown = block.group(1), block.group(2), block.group(3)
    argv = command.split() + ["/dev/stdin"]
    import io
    import sys

    old = sys.stdin
    sys.stdin = io.StringIO(messages)
    try:
        out = run(argv[:-1] + ["-"])
    finally:
        sys.stdin = old
    assert out == shown
    assert json.loads(messages)
