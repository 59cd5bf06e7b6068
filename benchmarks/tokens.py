"""Token ids: a chat session replayed request by request, and a dataset batch, against transformers.

    python benchmarks/tokens.py                # about a minute
    python benchmarks/tokens.py --sessions 3   # quicker

A server re-tokenises the whole history on every request. This replays sessions of 20 turns (each request:
the history so far and the new user message, with the generation prompt) through
``tokenizer.apply_chat_template(..., tokenize=True)`` and through ``promptcraft.apply_chat_template(...,
tokenizer=tokenizer, tokenize=True)``, whose run cache tokenises only the text between special tokens it has
not seen. Every request's ids are checked equal before anything is timed. Each session has text of its own
(nothing is shared between sessions but the format's fixed text), and the cache is emptied before each timed
replay, so a replay pays for its new text as a server would.

The tokenizer is a byte-level BPE trained here on the public conversations (the format's special tokens
added), wrapped as a transformers ``PreTrainedTokenizerFast`` with the model's official chat template; both
sides run the same Rust tokenizer. Writes ``benchmarks/results/tokens-<date>-<commit>.json`` and
``benchmarks/TOKENS.md``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import pathlib
import random
import statistics
import subprocess
import sys
import time
import warnings

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import promptcraft  # noqa: E402
from promptcraft._dropin import encoder_for  # noqa: E402

CORPUS = ROOT.parent / "shared" / "chat-templates"
CASES = ROOT.parent / "shared" / "conversations" / "public.json"
STEMS = {"qwen2.5": "Qwen--Qwen2.5-7B-Instruct", "llama-3.1": "meta-llama--Llama-3.1-8B-Instruct"}
WORDS = ("the model reads one string and the server builds it from the messages of a conversation with "
         "tools calls results reasoning and parts while the tokenizer splits it into ids at every request "
         "der die das und ist nicht café naïve 東京 数据 ünïcödé 42 3.14 {json: [1, 2]} <b>&amp;</b>").split()


def tokenizer_for(stem: str, fmt):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    entry = json.loads((CORPUS / f"{stem}.json").read_text(encoding="utf-8"))
    texts = [m["content"] for case in json.loads(CASES.read_text(encoding="utf-8"))
             for m in case["messages"] if isinstance(m.get("content"), str)]
    special = list(dict.fromkeys(["<unk>"] + [t for t in (entry["bos_token"], entry["eos_token"]) if t]
                                 + list(fmt.control_tokens)))
    raw = Tokenizer(models.BPE())
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    raw.decoder = decoders.ByteLevel()
    raw.train_from_iterator(texts * 4 + [" ".join(WORDS)] * 50, trainer=trainers.BpeTrainer(
        vocab_size=8000, special_tokens=special, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return PreTrainedTokenizerFast(tokenizer_object=raw, chat_template=entry["chat_template"],
                                       **{k: entry[k] for k in ("bos_token", "eos_token") if entry[k]})


def session(seed: int, turns: int = 20):
    rng = random.Random(seed)

    def text(low: int, high: int) -> str:
        return " ".join(rng.choice(WORDS) for _ in range(rng.randint(low, high))) + f" #{rng.random()}"

    messages = [{"role": "system", "content": text(20, 40)}]
    for _ in range(turns):
        messages.append({"role": "user", "content": text(20, 80)})
        messages.append({"role": "assistant", "content": text(40, 160)})
    # request k: the history and the k-th user message, awaiting the answer
    return [messages[:2 + 2 * k] for k in range(turns)]


def replay_hf(tokenizer, requests, variables):
    return [tokenizer.apply_chat_template(r, tokenize=True, return_dict=False, add_generation_prompt=True,
                                          **variables) for r in requests]


def replay_ours(fmt, tokenizer, requests, variables):
    return [promptcraft.apply_chat_template(r, fmt, tokenizer=tokenizer, tokenize=True, add_generation_prompt=True,
                                            **variables) for r in requests]


def timed(function, *args) -> float:
    start = time.perf_counter()
    function(*args)
    return time.perf_counter() - start


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=8)
    parser.add_argument("--batch", type=int, default=2000, help="conversations in the dataset batch")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    results = {}
    for name, stem in STEMS.items():
        fmt = promptcraft.get_format(name)
        tokenizer = tokenizer_for(stem, fmt)
        encoder = encoder_for(tokenizer)
        variables = {"date_string": "26 Jul 2024"} if "date_string" in fmt.variables else {}
        ratios, hf_times, our_times, tokens = [], [], [], 0
        for seed in range(args.sessions):
            requests = session(seed)
            want = replay_hf(tokenizer, requests, variables)
            encoder._runs.clear()
            assert replay_ours(fmt, tokenizer, requests, variables) == want, f"{name}: ids differ (session {seed})"
            tokens += sum(len(ids) for ids in want)
            encoder._runs.clear()
            ours = timed(replay_ours, fmt, tokenizer, requests, variables)
            theirs = timed(replay_hf, tokenizer, requests, variables)
            ratios.append(theirs / ours)
            hf_times.append(theirs)
            our_times.append(ours)
        # a dataset batch: many short conversations, each seen once (no run is reused but the format's)
        batch = [session(10_000 + i, turns=2)[-1] for i in range(args.batch)]
        encoder._runs.clear()
        texts = fmt.render_many(batch, add_generation_prompt=True, **variables)
        start = time.perf_counter()
        ours_ids = encoder.encode_batch(fmt.render_many(batch, add_generation_prompt=True, **variables))
        batch_ours = time.perf_counter() - start
        start = time.perf_counter()
        hf_ids = tokenizer.apply_chat_template(batch, tokenize=True, return_dict=False, add_generation_prompt=True,
                                               **variables)
        batch_hf = time.perf_counter() - start
        assert ours_ids == hf_ids, f"{name}: batch ids differ"
        results[name] = {
            "session_ratio_median": statistics.median(ratios),
            "session_ms_promptcraft": statistics.median(our_times) * 1e3,
            "session_ms_transformers": statistics.median(hf_times) * 1e3,
            "tokens_per_session": tokens // args.sessions,
            "batch_conversations": args.batch,
            "batch_chars": sum(map(len, texts)),
            "batch_conversations_per_s_promptcraft": args.batch / batch_ours,
            "batch_conversations_per_s_transformers": args.batch / batch_hf,
            "verified": True,
        }
        print(name, json.dumps(results[name], indent=1))
    commit = subprocess.run(["git", "rev-parse", "--short=8", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    day = datetime.date.today().isoformat()
    out = ROOT / "benchmarks" / "results" / f"tokens-{day}-{commit}.json"
    out.write_text(json.dumps({"commit": commit, "date": day, "sessions": args.sessions, "results": results},
                              indent=1) + "\n")
    lines = ["# Token ids: session replay and dataset batch", "",
             f"Run on {day} at commit `{commit}` by `python benchmarks/tokens.py` (see its docstring for the method;"
             " every request's ids checked equal to transformers' before timing).", "",
             "| format | 20-turn session replay, transformers | promptcraft | ratio (median of "
             f"{args.sessions}) | tokens per session | dataset batch, conversations/s: transformers | promptcraft |",
             "|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        lines.append(f"| `{name}` | {r['session_ms_transformers']:.1f} ms | {r['session_ms_promptcraft']:.1f} ms | "
                     f"{r['session_ratio_median']:.1f}x | {r['tokens_per_session']} | "
                     f"{r['batch_conversations_per_s_transformers']:.0f} | "
                     f"{r['batch_conversations_per_s_promptcraft']:.0f} |")
    (ROOT / "benchmarks" / "TOKENS.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
