"""Parse throughput: ``Format.parse`` on big prompts, in MB/s of prompt text (UTF-8 bytes).

    python benchmarks/parse.py [FORMAT ...]

Two shapes per format: 100,000 short messages (about 8 to 11 MB of prompt: the parser's work is
per delimiter, so this is its slow case) and one 10 MB message (the work is per occurrence of the
format's delimiters, which the content does not hold). Each parse is checked: the messages come back
as given. Render times of the same prompts are shown for scale.
"""

from __future__ import annotations

import pathlib
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import promptcraft  # noqa: E402

FORMATS = ["qwen2.5", "llama-3.1", "gemma-2", "mistral-v0.3", "phi-4", "deepseek-v3"]


def measure(fmt, messages, variables):
    start = time.perf_counter()
    prompt = fmt.render(messages, **variables)
    rendered = time.perf_counter() - start
    start = time.perf_counter()
    parsed = fmt.parse(prompt)
    took = time.perf_counter() - start
    assert parsed.messages == messages, fmt.name
    size = len(prompt.encode("utf-8")) / 1e6
    return size, took, rendered


def main(names):
    print("| format | prompt | size | parse | parse MB/s | render |")
    print("|---|---|---|---|---|---|")
    for name in names:
        fmt = promptcraft.get_format(name)
        variables = {"date_string": "26 Jul 2024"} if "date_string" in fmt.variables else {}
        many = [{"role": ("user", "assistant")[i % 2], "content": f"Message {i}: a short turn.\nWith two lines."}
                for i in range(100_000)]
        one = [{"role": "user", "content": ("lorem ipsum dolor sit amet, " * 36 + "\n") * 9_700 + "end."}]
        for label, messages in (("100,000 messages", many), ("1 message", one)):
            size, took, rendered = measure(fmt, messages, variables)
            print(f"| {name} | {label} | {size:.1f} MB | {took:.2f} s | {size / took:.1f} | {rendered * 1000:.0f} ms |")


if __name__ == "__main__":
    main(sys.argv[1:] or FORMATS)
