"""Reading completions back: parse_output's throughput (MB/s), one shot and streamed, against
transformers' parse_response with the same format's response_template.

    python benchmarks/parse_output.py             # about a minute
    python benchmarks/parse_output.py --size 0.1  # quicker (MB per workload)

Each workload is one completion of about ``--size`` MB, the way a model writes it for the format:
a long answer, a long reasoning block then an answer, many JSON tool calls, many calls with a
parameter per argument, and hostile text (a delimiter repeated). Every result is checked equal to
transformers' before anything is timed (where the format exports a response_template; text stripped
as transformers strips it). Streaming feeds pieces of 4 characters, about a token each. The best of
``--repeat`` runs is reported. Writes ``benchmarks/PARSE.md``.
"""

from __future__ import annotations

import argparse
import pathlib
import platform
import subprocess
import sys
import time
from functools import partial

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import promptcraft  # noqa: E402

#: The size at which transformers' parse_response is timed (its time grows faster than the text).
SMALL = 50_000
WORDS = "the model answers in plain words, with numbers 12.5 and quotes \"like this\" and some é ü 日本 text. "


def workloads(size: int):
    """``(label, format, completion, tools)`` of about ``size`` characters each."""
    words = (WORDS * (size // len(WORDS) + 1))[:size]
    yield "long answer", "qwen2.5", words + "<|im_end|>", None
    yield "reasoning, then an answer", "qwen3", "<think>\n" + words + "\n</think>\n\nDone.<|im_end|>", None
    call = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris", "days": [1, 2, 3], "unit": "c"}}' \
           '\n</tool_call>'
    count = size // (len(call) + 1)
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {
        "city": {"type": "string"}, "days": {"type": "array"}, "unit": {"type": "string"}}}}}]
    yield f"{count:,} JSON tool calls", "qwen2.5", "Checking.\n" + "\n".join([call] * count) + "<|im_end|>", tools
    param = ("<tool_call>\n<function=get_weather>\n<parameter=city>\nParis\n</parameter>\n<parameter=days>\n"
             "[1, 2, 3]\n</parameter>\n</function>\n</tool_call>")
    count = size // (len(param) + 1)
    yield f"{count:,} parameter calls", "qwen3.5", "</think>\n\n" + "\n".join([param] * count) + "<|im_end|>", tools
    yield "hostile: '</' repeated", "qwen3", "</" * (size // 2), None


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def one_shot(fmt, text, tools):
    try:
        return fmt.parse_output(text, tools=tools)
    except promptcraft.OutputError as error:
        return ("OutputError", error.reason)


def streamed(fmt, text, tools, piece=4):
    parser = fmt.output_parser(tools=tools)
    try:
        for at in range(0, len(text), piece):
            parser.feed(text[at:at + piece])
        return parser.close()
    except promptcraft.OutputError as error:
        return ("OutputError", error.reason)


def view(message):
    """A message as transformers' parse_response gives it (text stripped, empty fields left out)."""
    if isinstance(message, tuple):
        return message
    out = {"role": "assistant"}
    for key in ("reasoning_content", "content"):
        if message.get(key, "").strip():
            out[key] = message[key].strip()
    if message.get("tool_calls"):
        out["tool_calls"] = message["tool_calls"]
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=float, default=1.0, help="MB per workload (default 1)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-write", action="store_true", help="print the table only")
    args = parser.parse_args(argv)
    try:
        from transformers.utils.chat_parsing import parse_response
    except ImportError:
        parse_response = None
    size = int(args.size * 1_000_000)
    small = min(size, SMALL)
    rows = []
    for (label, name, text, tools), (_, _, little, _) in zip(workloads(size), workloads(small)):
        fmt = promptcraft.get_format(name)
        megabytes = len(text.encode("utf-8")) / 1e6
        got = one_shot(fmt, text, tools)
        assert streamed(fmt, text, tools) == got, label
        one = best(partial(one_shot, fmt, text, tools), args.repeat)
        many = best(partial(streamed, fmt, text, tools), args.repeat)
        # The same workload at the small size: reading is linear, so its rate is the large one's.
        small_mb = len(little.encode("utf-8")) / 1e6
        ours_small = small_mb / best(partial(one_shot, fmt, little, tools), args.repeat)
        theirs = "-"
        mine = one_shot(fmt, little, tools)
        if parse_response is not None and not isinstance(mine, tuple):
            template = fmt.response_template(tools=tools is not None)
            prompt = fmt.render([{"role": "user", "content": "Hi"}], add_generation_prompt=True)
            assert parse_response(little, template, prefix=prompt, tools=tools) == view(mine), label
            seconds = best(partial(parse_response, little, template, prefix=prompt, tools=tools), args.repeat)
            theirs = f"{small_mb / seconds:.2f}"
        outcome = "OutputError" if isinstance(got, tuple) else \
            f"{len(got.get('tool_calls', []))} calls" if got.get("tool_calls") else "message"
        rows.append(f"| {label} | `{name}` | {megabytes:.2f} | {outcome} | {megabytes / one:.1f} | "
                    f"{megabytes / many:.2f} | {ours_small:.1f} | {theirs} |")
        print(rows[-1], flush=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
                            ).stdout.strip()
    try:
        import transformers
        versions = f"transformers {transformers.__version__}"
    except ImportError:
        versions = "transformers not installed"
    text = "\n".join([
        "# parse_output throughput",
        "",
        f"`python benchmarks/parse_output.py --size {args.size:g}` on commit {commit}, Python "
        f"{platform.python_version()}, {versions}, best of {args.repeat} runs, on a shared 2-core machine. MB/s "
        "of UTF-8 completion text. Streamed: fed in pieces of 4 characters (about a token each), so its rate is "
        "mostly the cost of a call per piece. At 50 kB: the same workload cut to 50 kB, read one shot by "
        "promptcraft and by transformers' `parse_response` with the format's `response_template()` (whose time "
        "grows faster than the text, so it is not timed at full size), after checking both read the same message.",
        "",
        "| workload | format | MB | result | one shot MB/s | streamed MB/s | one shot MB/s at 50 kB | "
        "transformers MB/s at 50 kB |",
        "|---|---|---|---|---|---|---|---|",
        *rows, ""])
    if not args.no_write:
        (ROOT / "benchmarks" / "PARSE.md").write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
