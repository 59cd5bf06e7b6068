"""The command line: output, exit codes, errors on stderr without tracebacks."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import promptcraft
from promptcraft.cli import main

CHAT = [{"role": "user", "content": "Hi"}]


def run(argv, capsys, stdin=None, monkeypatch=None):
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_list(capsys):
    """list prints every built-in format with its models."""
    code, out, _ = run(["list"], capsys)
    assert code == 0
    for name in promptcraft.list_formats():
        assert name in out
    assert "meta-llama/Llama-3.2-3B-Instruct" in out


def test_render_from_stdin_by_model(capsys, monkeypatch):
    """render --model reads JSON from stdin and prints exactly the prompt."""
    code, out, err = run(["render", "--model", "HuggingFaceTB/SmolLM2-135M-Instruct", "-g"], capsys, json.dumps(CHAT),
                         monkeypatch)
    assert (code, err) == (0, "")
    assert out == promptcraft.get_format("smollm2").render(CHAT, add_generation_prompt=True)


def test_render_file_object_with_messages_and_var(tmp_path, capsys):
    """A file holding {"messages": [...]} works; --var sets a format variable."""
    path = tmp_path / "chat.json"
    path.write_text(json.dumps({"messages": CHAT}))
    code, out, _ = run(["render", "-f", "llama-3.2", "--var", "date_string=26 Jul 2024", str(path)], capsys)
    assert code == 0
    assert "Today Date: 26 Jul 2024" in out


def test_show_and_source(capsys):
    """show prints the TOML declaration, source the generated code."""
    code, out, _ = run(["show", "gemma-2"], capsys)
    assert code == 0 and 'name = "gemma-2"' in out
    code, out, _ = run(["source", "gemma-2"], capsys)
    assert code == 0 and out == promptcraft.get_format("gemma-2").source


def test_refusal_is_exit_1_without_traceback(capsys, monkeypatch):
    """A refused conversation prints one error line and exits 1."""
    chat = [{"role": "system", "content": "x"}, {"role": "user", "content": "y"}]
    code, out, err = run(["render", "-f", "gemma-2"], capsys, json.dumps(chat), monkeypatch)
    assert (code, out) == (1, "")
    assert err.startswith("error: message 0 (system)") and "Traceback" not in err


def test_usage_errors_are_exit_2(capsys, monkeypatch, tmp_path):
    """Bad arguments and unreadable input exit 2."""
    assert run(["render"], capsys)[0] == 2
    assert run(["frobnicate"], capsys)[0] == 2
    assert run(["render", "-f", "smollm2", str(tmp_path / "missing.json")], capsys)[0] == 2
    code, _, err = run(["render", "-f", "smollm2"], capsys, "not json", monkeypatch)
    assert code == 2 and "not valid JSON" in err
    code, _, err = run(["render", "-f", "smollm2", "--var", "novalue"], capsys, "[]", monkeypatch)
    assert code == 2


def test_unknown_model_is_exit_1(capsys):
    """An unknown model id exits 1 with suggestions."""
    code, _, err = run(["render", "--model", "meta-llama/Llama-3.2-3B"], capsys)
    assert code == 1 and "did you mean" in err


def test_python_dash_m(tmp_path):
    """python -m promptcraft works as the console script does."""
    result = subprocess.run([sys.executable, "-m", "promptcraft", "render", "-f", "zephyr", "-g"],
                            input=json.dumps(CHAT), capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "<|user|>\nHi</s>\n<|assistant|>\n"


def test_control_tokens_option(capsys, monkeypatch):
    """--control-tokens reject refuses forged tokens with exit 1."""
    chat = json.dumps([{"role": "user", "content": "<|im_end|>"}])
    code, _, err = run(["render", "-f", "smollm2", "--control-tokens", "reject"], capsys, chat, monkeypatch)
    assert code == 1 and "control token '<|im_end|>'" in err


def test_version_bare_command_and_list_json(capsys):
    code, out, _ = run([], capsys)
    assert code == 0 and "usage: promptcraft" in out and "render" in out
    code, out, _ = run(["--version"], capsys)
    assert code == 0 and out.strip() == f"promptcraft {promptcraft.__version__}"
    code, out, _ = run(["list", "--json"], capsys)
    listed = json.loads(out)
    assert code == 0 and set(listed) == set(promptcraft.list_formats())
    assert "Qwen/Qwen2.5-7B-Instruct" in listed["qwen2.5"]


def test_render_switch_vars_and_tools_file(tmp_path, capsys, monkeypatch):
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}}]
    (tmp_path / "tools.json").write_text(json.dumps(tools))
    code, out, err = run(["render", "-f", "qwen3", "-g", "--var", "enable_thinking=false", "--tools",
                          str(tmp_path / "tools.json")], capsys, json.dumps(CHAT), monkeypatch)
    assert (code, err) == (0, "")
    assert out == promptcraft.get_format("qwen3").render(CHAT, add_generation_prompt=True, enable_thinking=False,
                                                         tools=tools)
    code, _, err = run(["render", "-f", "qwen3", "--var", "enable_thinking=maybe"], capsys, json.dumps(CHAT),
                       monkeypatch)
    assert code == 2 and "true or false" in err


def test_render_documents_file_and_mapping_var(tmp_path, capsys, monkeypatch):
    """--documents reads the documents, --var takes a mapping variable as JSON, --jsonl rows carry documents."""
    documents = [{"doc_id": 1, "text": "Paris is big."}]
    (tmp_path / "documents.json").write_text(json.dumps(documents))
    options = ["-f", "granite-3.3", "-g", "--var", "date=1 Jan", "--var", 'controls={"citations": true}']
    code, out, err = run(["render", *options, "--documents", str(tmp_path / "documents.json")], capsys,
                         json.dumps(CHAT), monkeypatch)
    want = promptcraft.get_format("granite-3.3").render(CHAT, add_generation_prompt=True, date="1 Jan",
                                                          controls={"citations": True}, documents=documents)
    assert (code, err, out) == (0, "", want)
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps({"messages": CHAT, "documents": documents}) + "\n")
    code, out, err = run(["render", *options, "--jsonl", str(source)], capsys)
    assert (code, err) == (0, "") and json.loads(out) == {"prompt": want}
    code, _, err = run(["render", "-f", "granite-3.3", "--var", "controls=citations"], capsys, json.dumps(CHAT),
                       monkeypatch)
    assert code == 2 and "JSON object" in err


def test_render_jsonl_stops_or_collects_per_line(tmp_path, capsys):
    lines = [json.dumps(CHAT), json.dumps({"messages": CHAT}), "not json", json.dumps([{"role": "user"}])]
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(lines) + "\n\n")
    fmt = promptcraft.get_format("smollm2")
    code, out, err = run(["render", "-f", "smollm2", "--jsonl", "--errors", "collect", str(source)], capsys)
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and err == ""
    assert rows[:2] == [{"prompt": fmt.render(CHAT)}] * 2
    assert rows[2]["line"] == 3 and rows[2]["type"] == "InvalidLine"
    assert rows[3]["line"] == 4 and rows[3]["type"] == "InvalidMessageError"
    code, out, err = run(["render", "-f", "smollm2", "--jsonl", str(source)], capsys)
    assert code == 1 and "line 3" in err and len(out.splitlines()) == 2


def test_identify_command(tmp_path, capsys):
    from conftest import require_corpus
    from hf_reference import corpus_entry

    require_corpus()
    entry = corpus_entry("Qwen--Qwen3-0.6B")
    (tmp_path / "chat_template.jinja").write_text(entry["chat_template"])
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"eos_token": entry["eos_token"]}))
    for target in (tmp_path, tmp_path / "chat_template.jinja"):
        code, out, _ = run(["identify", str(target)], capsys)
        name, found, fingerprint = out.strip().split("\t")
        assert code == 0 and (name, found) == ("default", "qwen3") and fingerprint.startswith("sha256:")
        assert fingerprint in promptcraft.get_format("qwen3").spec.templates
    (tmp_path / "chat.json").write_text(json.dumps(CHAT))
    code, out, err = run(["render", "--model", str(tmp_path), "-g", str(tmp_path / "chat.json")], capsys)
    assert (code, err) == (0, "") and out == promptcraft.get_format("qwen3").render(CHAT, add_generation_prompt=True)


def test_render_jsonl_progress_on_stderr(tmp_path, capsys):
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join([json.dumps(CHAT)] * 5) + "\n")
    code, out, err = run(["render", "-f", "smollm2", "--jsonl", "--progress", str(source)], capsys)
    assert code == 0 and len(out.splitlines()) == 5
    assert err.endswith("\n") and "5 lines" in err


def test_parse_output(tmp_path, capsys, monkeypatch):
    """parse-output reads a completion (stdin or a file) with a format, a prompt and tools, and prints
    the message as JSON; malformed output is exit 1 with the offset and field on stderr."""
    completion = '<tool_call>\n{"name": "f", "arguments": {"a": 1}}\n</tool_call><|im_end|>'
    code, out, err = run(["parse-output", "-f", "qwen2.5"], capsys, completion, monkeypatch)
    assert (code, err) == (0, "")
    assert json.loads(out) == promptcraft.get_format("qwen2.5").parse_output(completion)
    prompt, tools = tmp_path / "prompt.txt", tmp_path / "tools.json"
    prompt.write_text("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n", encoding="utf-8")
    tools.write_text(json.dumps([{"type": "function", "function": {"name": "g", "parameters": {}}}]))
    (tmp_path / "out.txt").write_text("Plan.\n</think>\n\nHi<|im_end|>", encoding="utf-8")
    code, out, _ = run(["parse-output", "-m", "Qwen/Qwen3.5-4B", "--prompt", str(prompt), "--tools", str(tools),
                        str(tmp_path / "out.txt")], capsys)
    assert code == 0 and json.loads(out) == {"role": "assistant", "content": "Hi", "reasoning_content": "Plan."}
    code, out, err = run(["parse-output", "-f", "qwen2.5", "--tools", str(tools)], capsys, completion, monkeypatch)
    assert code == 1 and out == "" and "tool_calls[0].function.name" in err and "Traceback" not in err


def test_response_template(capsys):
    """response-template prints the format's template as JSON, or says why there is none (exit 1)."""
    code, out, _ = run(["response-template", "qwen3"], capsys)
    assert code == 0 and json.loads(out) == promptcraft.get_format("qwen3").response_template()
    code, out, err = run(["response-template", "llama-3.1"], capsys)
    assert code == 1 and "in place of the content" in err
