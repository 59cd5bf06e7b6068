"""Benchmark promptcraft against transformers, raw Jinja, minijinja and a hand-written floor.

    python benchmarks/run.py                 # the full run (about 10 minutes on 2 cores, 41 formats)
    python benchmarks/run.py --quick         # seconds: small sizes, one repeat, two formats
    python benchmarks/run.py --formats smollm2,qwen2.5 --sizes 11,101 --repeat 3
    python benchmarks/run.py --from-json benchmarks/results/X.json   # only rewrite RESULTS.md
    python benchmarks/run.py --formats smollm2,llama-2,qwen3,deepseek-r1 --sizes 11 --dataset 0 \
        --import-runs 0 --cold-runs 1 --json /tmp/spans.json --markdown /tmp/spans.md   # render_spans overhead only

Every engine runs in a fresh interpreter (``_worker.py``), so one engine's
imports and caches never touch another's numbers. transformers runs first and
writes the expected output of every workload; every other engine checks its
output against it before it is timed, and promptcraft's numbers are recorded
only when the check passes (``verified: true``). A promptcraft difference is
an error: it is reported, that format gets no numbers, and the run exits 1.

promptcraft's worker also times ``render_spans`` and ``render_spans(...).mask()`` on the
headline conversations, in step with ``render`` on the same conversation (``_worker.Schedule``),
so the overhead ratio is taken over the same moments of the machine.

The agent phase (on unless ``--no-agent``) times ``apply_chat_template(..., tools=tools)`` and
``fmt.render(..., tools=tools)`` on one agent conversation (``_workloads.agent``: tool definitions,
parallel tool calls, tool results) for every benchmarked format that writes tool definitions and
tool calls; promptcraft's output is checked against transformers' first, as for the text workloads.

Results go to ``benchmarks/results/<date>-<commit>.json`` and, in a full run,
``benchmarks/RESULTS.md``; ``plot.py`` draws the chart from the JSON. Give a partial run
``--json`` (and ``--markdown``) outside ``benchmarks/``: on the commit and day of a full run it
would otherwise replace that run's results file.

The template corpus is read from ``../shared/chat-templates`` (relative to the
repository root) or ``$PROMPTCRAFT_CORPUS``; nothing from it is copied here.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import pathlib
import platform
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any, Callable, Dict, List, Optional

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(1, str(ROOT))  # the checkout's promptcraft, as the workers get through PYTHONPATH

import _workloads as W  # noqa: E402

#: Dates must be pinned on both sides: templates that print one read the local clock.
PINNED_DATE = "26 Jul 2024"
#: Values given to both sides for the variables a format declares (as the equivalence tests do).
#: Variables not listed keep their defaults (a switch's default, or today's date on both sides).
VARIABLES = {"date_string": PINNED_DATE, "functions": '[{"name": "get_weather", "parameters": {}}]',
             "datetime": "2024-07-26 10:00"}
HEADLINE = 11
#: The requirement on ``render_spans``: at most this many times ``render``'s time, for every format.
SPANS_GOAL = 1.5
#: The agent conversation: promptcraft at least this many times faster than transformers (median).
AGENT_GOAL = 30

FULL = {
    "sizes": [1, 3, 11, 101, 1001],
    "repeat": 10,
    "rounds": 2,
    "min_time": 0.02,
    "dataset": 100_000,
    "hf_batch_sample": 10_000,
    "dataset_runs": 3,
    "chunk": 2_000,
    "cold_runs": 25,
    "import_runs": 41,
    "importtime_runs": 21,
    "chunk_formats": 8,
    "agent": True,
    "formats": None,
}
QUICK = {
    "sizes": [1, 3, 11],
    "repeat": 1,
    "rounds": 1,
    "min_time": 0.002,
    "dataset": 1_000,
    "hf_batch_sample": 200,
    "dataset_runs": 1,
    "chunk": 250,
    "cold_runs": 3,
    "import_runs": 3,
    "importtime_runs": 3,
    "chunk_formats": 0,
    "agent": True,
    "formats": ["smollm2", "llama-3.1"],
}
#: The hand-written floor (smollm2 only) is not among them: it and promptcraft's smollm2 are timed
#: as a pair after every chunk (see ``floor_pair``).
WARM_ENGINES = ("promptcraft", "jinja", "minijinja")
ENGINE_LABELS = {
    "promptcraft": "promptcraft",
    "hf": "transformers apply_chat_template",
    "jinja": "raw Jinja (transformers' env)",
    "minijinja": "minijinja",
    "chatml": "hand-written ChatML",
}
FIRST_RENDER = "import promptcraft; promptcraft.get_format('smollm2').render([{'role': 'user', 'content': 'Hi'}])"


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- environment


def git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return ""


def uncommitted() -> List[str]:
    """Files that differ from the commit, outside the benchmark's own files: the numbers are
    for the working tree, so the report says when that is not the commit."""
    paths = [line[3:] for line in git("status", "--porcelain").splitlines() if len(line) > 3]
    return [p for p in paths if not p.startswith("benchmarks/") and p != "tests/test_benchmark_smoke.py"]


def tree_state() -> Dict[str, str]:
    """A digest of every file of the code and formats being measured (``promptcraft/`` and
    ``formats/``, committed or not), taken at the start and the end of a run: if someone edits
    them meanwhile, the engines may have measured different code, and the report says which files."""
    import hashlib

    state = {}
    for folder in ("promptcraft", "formats"):
        for path in sorted((ROOT / folder).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                state[str(path.relative_to(ROOT))] = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    return state


def fingerprint(state: Optional[Dict[str, str]] = None) -> str:
    import hashlib

    state = tree_state() if state is None else state
    return hashlib.sha256(json.dumps(state, sort_keys=True).encode()).hexdigest()[:16]


def versions() -> Dict[str, Optional[str]]:
    from importlib import metadata

    found: Dict[str, Optional[str]] = {"python": platform.python_version(),
                                       "implementation": platform.python_implementation()}
    for dist in ("transformers", "tokenizers", "jinja2", "minijinja", "attrs", "regex", "markupsafe"):
        try:
            found[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            found[dist] = None
    return found


def machine() -> Dict[str, Any]:
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            cpu = next((line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")), cpu)
    except OSError:
        pass
    return {"platform": platform.platform(), "machine": platform.machine(), "cpu": cpu, "cpu_count": os.cpu_count(),
            "load_average_at_start": load_average()}


def load_average() -> Optional[List[float]]:
    """1, 5 and 15-minute load averages: other work on the machine shows in the numbers."""
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except (AttributeError, OSError):
        return None


#: Where the interpreters the benchmark starts keep their bytecode (set by ``main``). With
#: ``PYTHONDONTWRITEBYTECODE`` set, as it is on some CI machines, every import would compile
#: from source and import times would mean nothing; a private prefix gives cached bytecode
#: without writing ``__pycache__`` folders into the checkout.
PYCACHE: Optional[str] = None


def worker_env() -> Dict[str, str]:
    env = dict(os.environ)
    if PYCACHE is not None:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = PYCACHE
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    env.setdefault("PYTHONHASHSEED", "0")
    env["TRANSFORMERS_VERBOSITY"] = "error"
    env["TOKENIZERS_PARALLELISM"] = "false"
    env["TRANSFORMERS_NO_ADVISORY_WARNINGS"] = "1"
    return env


def display_path(path: pathlib.Path) -> str:
    """``path`` relative to the repository root when it is inside it."""
    path = path.resolve()
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


def run_worker(engine: str, task_path: pathlib.Path) -> Dict[str, Any]:
    """Run one engine in a fresh interpreter; its JSON, or ``{"crashed": ...}``."""
    started = time.perf_counter()
    log(f"  {engine} ...")
    proc = subprocess.run(
        [sys.executable, str(HERE / "_worker.py"), engine, str(task_path)],
        cwd=ROOT, env=worker_env(), capture_output=True, text=True,
    )
    took = time.perf_counter() - started
    if proc.returncode != 0 or not proc.stdout.strip():
        lines = proc.stderr.strip().splitlines()
        log(f"  {engine} FAILED after {took:.1f} s:\n" + "\n".join(lines[-15:]))
        # Only the exception line goes into the results: a traceback through a template can quote it.
        return {"crashed": f"exit status {proc.returncode}", "stderr": (lines[-1] if lines else "")[:300]}
    log(f"  {engine} done in {took:.1f} s")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["wall_seconds"] = took
    return result


# --------------------------------------------------------------------------- plan


def plan(names: Optional[List[str]]) -> Dict[str, Any]:
    """Built-in formats whose models are in the corpus, each mapped to one corpus file."""
    import promptcraft

    corpus = W.corpus_dir()
    if not corpus.is_dir():
        raise SystemExit(f"template corpus not found at {corpus} (set PROMPTCRAFT_CORPUS)")
    index = W.corpus_index(corpus)
    available = promptcraft.list_formats()
    unknown = [n for n in (names or []) if n not in available]
    if unknown:
        raise SystemExit(f"unknown format(s): {', '.join(unknown)}; built-in formats: {', '.join(available)}")
    chosen, skipped = [], {}
    for name in names or available:
        fmt = promptcraft.get_format(name)
        model = next((m for m in fmt.models if m in index), None)
        if model is None:
            skipped[name] = "none of its models is in the template corpus"
            continue
        variables = {k: v for k, v in VARIABLES.items() if k in fmt.variables}
        chosen.append({"name": name, "model": model, "stem": index[model], "variables": variables, "toml": fmt.path})
    return {"formats": chosen, "skipped": skipped, "promptcraft": promptcraft.__version__}


def writes_agent(name: str) -> bool:
    """Whether a format writes tool definitions and tool calls, both of which the agent
    conversation has (a format writing only one would refuse it), and two calls in one message
    (Llama 3.x's templates take one call per message: they refuse this conversation), with arguments
    given as mappings, as the agent conversation gives them (DeepSeek's and Functionary's templates take
    only JSON text and raise on a mapping)."""
    import promptcraft

    fmt = promptcraft.get_format(name)
    spec = fmt.spec
    if not (spec.tools is not None and spec.tools.placement != "none" and spec.calls is not None
            and spec.calls.max != 1 and spec.calls.content != "refuse" and spec.calls.arguments != "text"):
        return False
    # And it must take this conversation's tools: a serialiser whose template leaves a schema key out
    # (MiniCPM3's and Seed-OSS's `exclusiveMinimum`) refuses it rather than drop it.
    messages, tools = W.agent()
    try:
        fmt.render(messages, tools=tools, add_generation_prompt=True)
    except promptcraft.PromptcraftError:
        return False
    return True


def agent_plan(formats: List[Dict[str, Any]], chosen: bool) -> List[Dict[str, Any]]:
    """The benchmarked formats that write tools and calls. When none does and the formats were not
    chosen with ``--formats`` (``--quick``'s two), the first format that does, so that a quick run
    still goes through the agent phase."""
    writers = [f for f in formats if writes_agent(f["name"])]
    if writers or chosen:
        return writers
    return [f for f in plan(None)["formats"] if writes_agent(f["name"])][:1]


def measure_agent(task: Dict[str, Any], formats: List[Dict[str, Any]], scratch_dir: pathlib.Path,
                  errors: Dict[str, str]) -> Dict[str, Any]:
    """transformers, then promptcraft, each in a fresh interpreter, on the agent conversation: per
    format the timing of each engine; promptcraft's only where its output equals transformers'."""
    agent: Dict[str, Any] = {"formats": [f["name"] for f in formats], "hf": {}, "promptcraft": {}}
    if not formats:
        return agent
    path = scratch_dir / "agent.json"
    path.write_text(json.dumps(dict(task, formats=formats, workloads=[W.AGENT], spans=[W.AGENT],
                                    expected=str(scratch_dir / "agent-expected.json"))), encoding="utf-8")
    for engine in ("hf", "promptcraft"):
        out = run_worker(f"agent-{engine}", path)
        if "crashed" in out:
            errors[f"agent-{engine}"] = f"worker crashed: {out['crashed']}: {out['stderr']}"
            break  # without transformers' outputs there is nothing to check promptcraft against
        for name, problem in out.get("errors", {}).items():
            errors[f"agent-{engine}/{name}"] = problem
        agent[engine] = {name: timings[W.AGENT] for name, timings in out["results"].items() if W.AGENT in timings}
        if engine == "promptcraft":
            agent["prepared"] = {name: per_key[W.AGENT]["prepared"] for name, per_key in out.get("variants", {}).items()
                                 if "prepared" in per_key.get(W.AGENT, {})}
    return agent


# --------------------------------------------------------------------------- import time

_IMPORTTIME = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \| ( *)(\S+)")


def _importtime(code: str) -> Dict[str, int]:
    """Top-level imports of ``python -X importtime -c code``: module -> cumulative microseconds."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", code], cwd=ROOT, env=worker_env(),
                          capture_output=True, text=True, check=True)
    out = {}
    for line in proc.stderr.splitlines():
        match = _IMPORTTIME.match(line)
        if match and not match.group(3):
            out[match.group(4)] = int(match.group(2))
    return out


def measure_import(runs: int, importtime_runs: int) -> Dict[str, Any]:
    """Medians of many fresh interpreters: ``-X importtime`` for ``import promptcraft``, and wall
    time of import + first render minus ``python -c pass``."""
    commands = {
        "bare": [sys.executable, "-c", "pass"],
        "import": [sys.executable, "-c", "import promptcraft"],
        "import_and_first_render": [sys.executable, "-c", FIRST_RENDER],
    }
    env = worker_env()
    for command in commands.values():  # warm the OS cache and write bytecode before timing
        for _ in range(2):
            subprocess.run(command, cwd=ROOT, env=env, check=True)
    walls: Dict[str, List[float]] = {k: [] for k in commands}
    for _ in range(runs):  # interleaved, so drift affects every command alike
        for key, command in commands.items():
            t0 = time.perf_counter()
            subprocess.run(command, cwd=ROOT, env=env, check=True)
            walls[key].append(time.perf_counter() - t0)
    medians = {k: statistics.median(v) for k, v in walls.items()}

    bare = _importtime("pass")
    cumulative, lazy = [], {}
    for _ in range(importtime_runs):
        cumulative.append(_importtime("import promptcraft").get("promptcraft", 0))
        after = _importtime(FIRST_RENDER)
        for module, micros in after.items():
            if module not in bare:
                lazy.setdefault(module, []).append(micros)
    modules = sorted(((m, statistics.median(v)) for m, v in lazy.items()), key=lambda mv: -mv[1])
    return {
        "runs": runs,
        "importtime_runs": importtime_runs,
        "importtime_promptcraft_us": statistics.median(cumulative),
        "wall_median_seconds": medians,
        "import_above_bare_seconds": medians["import"] - medians["bare"],
        "first_render_above_bare_seconds": medians["import_and_first_render"] - medians["bare"],
        "first_render_command": FIRST_RENDER,
        "top_level_imports_during_first_render_us": [[m, t] for m, t in modules[:25]],
    }


# --------------------------------------------------------------------------- summary


def _ratio(a: Optional[float], b: Optional[float]) -> Optional[float]:
    return a / b if a and b else None


def best_of(runs: List[Dict[str, Any]]) -> Dict[str, Any]:
    """Per workload, the fastest of several workers' timings (each already a minimum of repeats)."""
    best: Dict[str, Any] = {}
    for run in runs:
        for key, timing in run.items():
            if key not in best or timing["seconds"] < best[key]["seconds"]:
                best[key] = dict(timing, workers=len(runs))
    return best


def headline_key(sizes: List[int]) -> str:
    """The workload the headline numbers (and render_spans' overhead) are taken on."""
    return str(HEADLINE if HEADLINE in sizes else sizes[-1])


def span_overhead(results: Dict[str, Any], head: str) -> Dict[str, Any]:
    """Per format, ``render_spans`` and ``render_spans(...).mask()`` against ``render`` on the
    headline conversation: ratios of the minimums, as everywhere else, with the median of the
    paired repetitions' ratios as a cross-check; the median and worst across formats."""
    render_times = results.get("warm", {}).get("promptcraft", {})
    rows = []
    for name in results["formats"]:
        render = render_times.get(name, {}).get(head, {}).get("seconds")
        measured = results.get("render_spans", {}).get(name, {}).get(head, {})
        spans, masked = measured.get("render_spans", {}), measured.get("render_spans_mask", {})
        rows.append({
            "format": name, "render": render, "render_spans": spans.get("seconds"),
            "render_spans_mask": masked.get("seconds"),
            "ratio": _ratio(spans.get("seconds"), render), "mask_ratio": _ratio(masked.get("seconds"), render),
            "paired_ratio": spans.get("paired_ratio"), "paired_mask_ratio": masked.get("paired_ratio"),
            "masked_chars": masked.get("masked_chars"),
        })
    rows.sort(key=lambda r: -(r["ratio"] or 0))

    def spread(key: str) -> Dict[str, Any]:
        measured = [r for r in rows if r[key]]
        if not measured:
            return {"median": None, "worst": None, "worst_format": None}
        worst = max(measured, key=lambda r: r[key])
        return {"median": statistics.median(r[key] for r in measured), "worst": worst[key],
                "worst_format": worst["format"]}

    return {
        "workload": head, "goal": SPANS_GOAL, "rows": rows,
        "render_spans": spread("ratio"), "render_spans_mask": spread("mask_ratio"),
        "over_goal": [r["format"] for r in rows if r["ratio"] and r["ratio"] > SPANS_GOAL],
        # Rendered but without a render_spans number (its check failed: see the errors), so the worst
        # ratio above does not speak for them.
        "not_measured": [r["format"] for r in rows if r["render"] and not r["ratio"]],
    }


def agent_summary(results: Dict[str, Any]) -> Dict[str, Any]:
    """Per format of the agent phase, both engines' times and transformers' / promptcraft's; the
    median and lowest ratio over the formats measured."""
    agent = results.get("agent") or {}
    hf, pc, prepared = agent.get("hf", {}), agent.get("promptcraft", {}), agent.get("prepared", {})
    rows = []
    for name in agent.get("formats", []):
        h, p = hf.get(name, {}).get("seconds"), pc.get(name, {}).get("seconds")
        q = prepared.get(name, {}).get("seconds") if prepared.get(name, {}).get("verified") else None
        rows.append({"format": name, "hf": h, "promptcraft": p, "ratio": _ratio(h, p), "prepared": q,
                     "prepared_ratio": _ratio(h, q),
                     "verified": bool(pc.get(name, {}).get("verified")), "chars": hf.get(name, {}).get("chars")})
    measured = [r for r in rows if r["ratio"]]
    with_prepared = [r for r in rows if r["prepared_ratio"]]
    lowest = min(measured, key=lambda r: r["ratio"]) if measured else None
    return {
        "goal": AGENT_GOAL, "rows": rows,
        "median": statistics.median(r["ratio"] for r in measured) if measured else None,
        "median_prepared": statistics.median(r["prepared_ratio"] for r in with_prepared) if with_prepared else None,
        "lowest": lowest["ratio"] if lowest else None, "lowest_format": lowest["format"] if lowest else None,
    }


def summarize(results: Dict[str, Any]) -> Dict[str, Any]:
    """Ratios, scaling and the targets, from the raw numbers."""
    warm = results.get("warm", {})
    sizes = results["settings"]["sizes"]
    head = headline_key(sizes)

    def t(engine: str, name: str, size: str) -> Optional[float]:
        entry = warm.get(engine, {}).get(name, {}).get(size)
        return entry["seconds"] if entry else None

    short = head + "-short"
    rows = []
    for name in results["formats"]:
        pc = t("promptcraft", name, head)
        pcs = t("promptcraft", name, short)
        rows.append({
            "format": name, "promptcraft": pc, "hf": t("hf", name, head), "jinja": t("jinja", name, head),
            "minijinja": t("minijinja", name, head),
            "vs_hf": _ratio(t("hf", name, head), pc), "vs_jinja": _ratio(t("jinja", name, head), pc),
            "vs_minijinja": _ratio(t("minijinja", name, head), pc),
            "short_promptcraft": pcs, "short_hf": t("hf", name, short),
            "short_vs_hf": _ratio(t("hf", name, short), pcs), "short_vs_jinja": _ratio(t("jinja", name, short), pcs),
        })

    def med(key: str) -> Optional[float]:
        values = [r[key] for r in rows if r[key]]
        return statistics.median(values) if values else None

    def low(key: str) -> Optional[float]:
        values = [r[key] for r in rows if r[key]]
        return min(values) if values else None

    scaling = {}
    for name in results["formats"]:
        per = {}
        for engine in ("promptcraft", "hf"):
            per_message = {s: t(engine, name, str(s)) / s for s in sizes if t(engine, name, str(s))}
            base = per_message.get(int(head))
            per[engine] = {
                "per_message": {str(s): v for s, v in per_message.items()},
                "ratio_to_headline": {str(s): v / base for s, v in per_message.items() if base and s > int(head)},
            }
        # The same per output character (transformers records each prompt's length): separates work
        # that grows with the conversation from conversations whose turns are simply longer.
        chars = {s: warm.get("hf", {}).get(name, {}).get(str(s), {}).get("chars") for s in sizes}
        per_char = {s: t("promptcraft", name, str(s)) / chars[s]
                    for s in sizes if t("promptcraft", name, str(s)) and chars[s]}
        base = per_char.get(int(head))
        per["promptcraft"]["char_ratio_to_headline"] = {str(s): v / base for s, v in per_char.items()
                                                        if base and s > int(head)}
        scaling[name] = per
    worst_scaling = max((r for s in scaling.values() for r in s["promptcraft"]["ratio_to_headline"].values()),
                        default=None)
    worst_char_scaling = max((r for s in scaling.values() for r in s["promptcraft"]["char_ratio_to_headline"].values()),
                             default=None)

    pair = results.get("floor") or {"promptcraft": warm.get("promptcraft", {}).get("smollm2", {}),
                                     "chatml": warm.get("chatml", {}).get("smollm2", {})}

    def p(engine: str, key: str) -> Optional[float]:
        entry = pair.get(engine, {}).get(key)
        return entry["seconds"] if entry else None

    floor = {str(s): _ratio(p("promptcraft", str(s)), p("chatml", str(s))) for s in sizes}
    floor = {k: r for k, r in floor.items() if r}

    cold = results.get("cold", {}).get("promptcraft", {}).get("results", {})
    cold_jinja = results.get("cold", {}).get("jinja", {}).get("results", {})
    cold_rows = [{"format": n, "promptcraft": cold.get(n, {}).get("seconds"),
                  "jinja": cold_jinja.get(n, {}).get("seconds"),
                  "load": cold.get(n, {}).get("load"), "render": cold.get(n, {}).get("render"),
                  "jinja_compile": cold_jinja.get(n, {}).get("load"),
                  "jinja_render": cold_jinja.get(n, {}).get("render")}
                 for n in results["formats"]]
    cold_values = [r["promptcraft"] for r in cold_rows if r["promptcraft"]]
    imp = results.get("import", {})
    spans = span_overhead(results, head)
    agent = agent_summary(results)

    def target(name: str, measured: Optional[float], goal: float, higher: bool, unit: str) -> Dict[str, Any]:
        met = None if measured is None else (measured >= goal if higher else measured <= goal)
        return {"target": name, "measured": measured, "goal": goal, "higher_is_better": higher, "unit": unit,
                "met": met}

    targets = [
        target(f"warm render at {head} messages vs transformers, median across formats", med("vs_hf"), 50, True, "x"),
        target(f"warm render at {head} messages vs raw Jinja, median across formats", med("vs_jinja"), 30, True, "x"),
        target("no format under 10x vs transformers", low("vs_hf"), 10, True, "x"),
        target("no format under 10x vs raw Jinja", low("vs_jinja"), 10, True, "x"),
        target(f"smollm2 vs hand-written ChatML at {head} messages", floor.get(head), 1.25, False, "x"),
        target("smollm2 vs hand-written ChatML, worst size", max(floor.values()) if floor else None, 1.25, False, "x"),
        target(f"per-message cost at larger sizes / at {head}, worst format", worst_scaling, 1.2, False, "x"),
        target("cold start (TOML file to first render), worst format", max(cold_values) if cold_values else None,
               1e-3, False, "s"),
        target("cold start, median across formats", statistics.median(cold_values) if cold_values else None,
               1e-3, False, "s"),
        target("import + first render above bare interpreter", imp.get("first_render_above_bare_seconds"),
               20e-3, False, "s"),
        dict(target(f"render_spans at most {SPANS_GOAL:g}× render, per format", spans["render_spans"]["worst"],
                    SPANS_GOAL, False, "x"),
             worst=spans["render_spans"]["worst_format"], over=spans["over_goal"]),
        target(f"agent conversation ≥ {AGENT_GOAL:g}× faster than apply_chat_template with tools "
               "(median over tool-capable formats; tools prepared once)", agent.get("median_prepared"), AGENT_GOAL,
               True, "x"),
        target(f"agent conversation ≥ {AGENT_GOAL:g}× faster than apply_chat_template with tools "
               "(median over tool-capable formats; a plain tools list)", agent["median"], AGENT_GOAL, True, "x"),
    ]
    ceiling = _ratio(t("hf", "smollm2", head), t("chatml", "smollm2", head))
    return {
        "headline_size": int(head),
        "floor_vs_hf": ceiling,
        "floor_vs_hf_short": _ratio(t("hf", "smollm2", short), t("chatml", "smollm2", short)),
        "chatml_ratio_short": _ratio(p("promptcraft", short), p("chatml", short)),
        "median_short_vs_hf": med("short_vs_hf"), "median_short_vs_jinja": med("short_vs_jinja"),
        "min_short_vs_hf": low("short_vs_hf"), "min_short_vs_jinja": low("short_vs_jinja"),
        "warm_headline": rows,
        "median_vs_hf": med("vs_hf"), "median_vs_jinja": med("vs_jinja"), "median_vs_minijinja": med("vs_minijinja"),
        "min_vs_hf": low("vs_hf"), "min_vs_jinja": low("vs_jinja"),
        "scaling": scaling, "worst_scaling": worst_scaling, "worst_char_scaling": worst_char_scaling,
        "chatml_ratio": floor,
        "cold": cold_rows,
        "render_spans": spans,
        "agent": agent,
        "targets": targets,
    }


# --------------------------------------------------------------------------- markdown


def us(seconds: Optional[float], digits: int = 2) -> str:
    if seconds is None:
        return "–"
    value = seconds * 1e6
    return f"{value:,.{digits}f}" if value < 100 else f"{value:,.0f}"


def ms(seconds: Optional[float]) -> str:
    return "–" if seconds is None else f"{seconds * 1e3:,.2f}"


def x(ratio: Optional[float]) -> str:
    return "–" if ratio is None else (f"{ratio:,.1f}×" if ratio >= 10 else f"{ratio:.2f}×")


def fmt_target(t: Dict[str, Any]) -> str:
    m = t["measured"]
    if m is None:
        return "not measured"
    if t["unit"] == "s":
        return f"{m * 1e3:.2f} ms"
    # A per-format target names the format that decided it.
    return (f"{m:.2f}×" if m < 10 else f"{m:.1f}×") + (f" ({t['worst']})" if t.get("worst") else "")


def fmt_status(t: Dict[str, Any], missed: str) -> str:
    """``missed``, followed by the formats over the goal when the target names them."""
    return missed + (f": {', '.join(t['over'])}" if t.get("over") else "")


def spans_section(results: Dict[str, Any], add: Callable[[str], None]) -> None:
    """The "render_spans overhead" section: medians, worst and a row per format, worst first."""
    spans = results["summary"].get("render_spans") or {}
    head = spans.get("workload", results["summary"]["headline_size"])
    add("## render_spans overhead")
    add("")
    if not spans or spans["render_spans"]["worst"] is None:
        add("Not measured in this run (its results predate the render_spans measurement, or every format failed it).")
        add("")
        return
    add(f"`fmt.render_spans(...)` (the prompt and the data its spans are built from; `.spans` itself is built on first "
        "use) and `fmt.render_spans(...).mask()` (what a training pipeline calls: spans built, assistant ranges "
        f"picked), against `fmt.render(...)` on the same {head}-message conversation with the same options. The three "
        "were timed in the same worker, one repetition of each in turn, and `render_spans(...).text` was checked "
        "against transformers' output first. Ratio = time / render's time (minimum of repeats on both sides); "
        "\"paired\" is the median over repetitions of the ratio within one turn, a cross-check. "
        f"Target: render_spans ≤ {spans['goal']:g}× render for every format.")
    add("")
    for label, key in (("`render_spans`", "render_spans"), ("`render_spans(...).mask()`", "render_spans_mask")):
        sp = spans[key]
        add(f"- {label}: median {x(sp['median'])} render, worst {x(sp['worst'])} ({sp['worst_format']})")
    over = spans.get("over_goal") or []
    add(f"- over {spans['goal']:g}×: {', '.join(over) if over else 'none'}")
    if spans.get("not_measured"):
        add(f"- not measured (see Errors): {', '.join(spans['not_measured'])}")
    add("")
    add("| format | render µs | render_spans µs | ratio | paired | + `.mask()` µs | ratio | paired | masked chars |")
    add("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in spans["rows"]:
        ratio = x(r["ratio"])
        if r["ratio"] and r["ratio"] > spans["goal"]:
            ratio = f"**{ratio}**"
        masked = "–" if r["masked_chars"] is None else f"{r['masked_chars']:,}"
        add(f"| {r['format']} | {us(r['render'])} | {us(r['render_spans'])} | {ratio} | {x(r['paired_ratio'])} | "
            f"{us(r['render_spans_mask'])} | {x(r['mask_ratio'])} | {x(r['paired_mask_ratio'])} | {masked} |")
    add("")


def agent_section(results: Dict[str, Any], add: Callable[[str], None]) -> None:
    """The "Agent conversation" section: a row per format, then the median."""
    agent = results["summary"].get("agent") or {}
    add("## Agent conversation: tool definitions, tool calls and tool results")
    add("")
    ran = results.get("agent")
    if not (ran or {}).get("formats"):
        why = ("its results predate the agent measurement" if ran is None
               else ran.get("skipped") or "no benchmarked format writes tool definitions and tool calls")
        add(f"Not measured in this run: {why}.")
        add("")
        return
    add("One conversation (`agent()` in `benchmarks/_workloads.py`): a system message and 4 tool definitions (nested "
        "JSON schemas; descriptions with non-ASCII text, `<`, `&` and quotes), a user turn, an assistant turn with "
        "empty content and 2 tool calls (arguments as dicts, with ids), 2 tool results (role `tool`, with "
        "`tool_call_id` and `name`), the assistant's answer and a user turn; on every benchmarked format that writes "
        "tool definitions and tool calls. transformers: `tok.apply_chat_template(msgs, tools=tools, tokenize=False, "
        "add_generation_prompt=True)`; promptcraft: `fmt.render(msgs, add_generation_prompt=True, tools=tools)`, "
        "with the same tools list on every call, as an agent loop passes it (a plain list is read in full on every "
        "render to know it did not change: its serialisation is cached by exact structure); and with the tools "
        "passed through `promptcraft.prepare_tools` once (an immutable copy, serialised once, found by identity), "
        "timed in step with the plain call. Each engine ran in its own fresh "
        "interpreter with the settings of the warm renders; promptcraft's output was checked byte for byte against "
        "transformers' before and after it was timed. Ratio = transformers' time / promptcraft's "
        f"(target: median ≥ {agent['goal']:g}×).")
    add("")
    add("| format | prompt chars | transformers µs | promptcraft µs (list) | ratio | promptcraft µs (prepared) "
        "| ratio | verified |")
    add("|---|---:|---:|---:|---:|---:|---:|---|")
    for r in agent["rows"]:
        chars = "–" if r["chars"] is None else f"{r['chars']:,}"
        verified = "yes" if r["verified"] else "**no** (see Errors)"
        add(f"| {r['format']} | {chars} | {us(r['hf'])} | {us(r['promptcraft'])} | {x(r['ratio'])} | "
            f"{us(r.get('prepared'))} | {x(r.get('prepared_ratio'))} | {verified} |")
    add(f"| **median** | | | | **{x(agent['median'])}** | | **{x(agent.get('median_prepared'))}** | |")
    add("")


def markdown(results: Dict[str, Any]) -> str:
    s = results["summary"]
    v = results["versions"]
    mach = results["machine"]
    head = s["headline_size"]
    warm = results.get("warm", {})
    sizes = results["settings"]["sizes"]
    L: List[str] = []
    add = L.append
    add("# promptcraft benchmarks")
    add("")
    add(f"Generated by `benchmarks/run.py` on {results['created']} (results: `{results['json_path']}`, "
        "chart: `benchmarks/chart.svg`).")
    add("")
    add("```")
    add(results["command"])
    add("python benchmarks/plot.py " + results["json_path"])
    add("```")
    add("")
    dirty = results.get("dirty") or []
    add(f"- commit `{results['commit']}`"
        + (f" **with uncommitted changes** to {', '.join(f'`{d}`' for d in dirty)}" if dirty else ""))
    add(f"- Python {v['python']} ({v['implementation']}), promptcraft {results['versions'].get('promptcraft')}, "
        f"transformers {v.get('transformers')}, tokenizers {v.get('tokenizers')}, jinja2 {v.get('jinja2')}, "
        f"minijinja {v.get('minijinja')}, attrs {v.get('attrs')}, regex {v.get('regex')}")
    add(f"- {mach['platform']}, {mach['cpu']}, {mach['cpu_count']} CPUs; load average (1/5/15 min) "
        f"{mach.get('load_average_at_start')} at the start, {mach.get('load_average_at_end')} at the end "
        f"(the run took {results.get('elapsed_seconds', 0) / 60:.1f} min)")
    add(f"- settings: sizes {sizes}, min of {results['settings']['repeat']} repeats "
        f"(in {results['settings'].get('rounds', 1)} rounds) "
        f"of at least {results['settings']['min_time'] * 1e3:g} ms each, "
        f"{results['settings'].get('chunk_formats') or 'all'} formats per round of engine workers, "
        f"dataset of {results['settings']['dataset']:,} conversations")
    add("")
    if results.get("tree_changed_during_run"):
        add(f"**Warning: {results['tree_changed_during_run']}.**")
        add("")
    add("Benchmarks are hard, and these are one machine's numbers: a shared 2-core VM with noisy neighbours. "
        "Each engine ran in its own fresh interpreter; warm times are the minimum of `timeit.repeat` "
        "(the least disturbed run), so read ratios, not absolute microseconds. Every promptcraft number below "
        "was recorded only after its output was checked byte for byte against transformers' output for the same "
        "input in the same run. Run `python benchmarks/run.py` to get your own.")
    add("")
    status = {True: "met", False: "**missed**", None: "not measured"}
    add("## Targets")
    add("")
    add("| target | goal | measured | status |")
    add("|---|---|---|---|")
    for t in s["targets"]:
        goal = (f"≤ {t['goal'] * 1e3:g} ms" if t["unit"] == "s"
                else (f"≥ {t['goal']:g}×" if t["higher_is_better"] else f"≤ {t['goal']:g}×"))
        add(f"| {t['target']} | {goal} | {fmt_target(t)} | "
            f"{fmt_status(t, status[False]) if t['met'] is False else status[t['met']]} |")
    add("")
    if s.get("floor_vs_hf"):
        add(f"For scale: on smollm2 at {head} messages the hand-written ChatML function (the practical floor for any "
            f"pure-Python renderer) is {x(s['floor_vs_hf'])} faster than transformers, so that is about the most a "
            "compiled renderer can reach on this workload. A large part of the floor's time is `''.join` copying "
            "the prompt: the conversations contain non-ASCII text (some of it emoji), which makes the prompt a "
            "4-byte-per-character string.")
        add("")
    if s.get("median_short_vs_hf"):
        add(f"The same {head}-message shapes with brief ASCII-only turns (15–200 characters, like the baseline in "
            f"`notes/peers.md` §2c), not a target workload: promptcraft is {x(s['median_short_vs_hf'])} faster than "
            f"transformers and {x(s['median_short_vs_jinja'])} faster than raw Jinja (medians; lowest "
            f"{x(s['min_short_vs_hf'])} and {x(s['min_short_vs_jinja'])}); smollm2 is {x(s.get('chatml_ratio_short'))} "
            f"the hand-written function's time, which is itself {x(s.get('floor_vs_hf_short'))} faster than "
            "transformers.")
        add("")
    errors = results.get("errors") or {}
    if errors:
        add("## Errors")
        add("")
        for where, what in errors.items():
            add(f"- **{where}**: {what}")
        add("")
    add(f"## Warm render, {head} messages")
    add("")
    add(f"Microseconds per render of one {head}-message conversation (system + alternating user/assistant; "
        "formats that refuse a system message get alternating turns only), `add_generation_prompt=True` "
        "wherever the template reads it. Ratios are how many times faster promptcraft is.")
    add("")
    add("![speedup chart](chart.svg)")
    add("")
    add("The last two columns are the same shape with brief ASCII-only turns (context, not a target).")
    add("")
    add("| format | corpus model | promptcraft µs | transformers µs | raw Jinja µs | minijinja µs | vs transformers "
        "| vs raw Jinja | vs minijinja | short: vs transformers | short: vs raw Jinja |")
    add("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in s["warm_headline"]:
        info = results["formats"][r["format"]]
        add(f"| {r['format']} | {info['model']} | {us(r['promptcraft'])} | {us(r['hf'])} | {us(r['jinja'])} | "
            f"{us(r['minijinja'])} | {x(r['vs_hf'])} | {x(r['vs_jinja'])} | {x(r['vs_minijinja'])} | "
            f"{x(r.get('short_vs_hf'))} | {x(r.get('short_vs_jinja'))} |")
    add(f"| **median** | | | | | | **{x(s['median_vs_hf'])}** | **{x(s['median_vs_jinja'])}** | "
        f"**{x(s['median_vs_minijinja'])}** | {x(s.get('median_short_vs_hf'))} | {x(s.get('median_short_vs_jinja'))} |")
    add(f"| **lowest** | | | | | | {x(s['min_vs_hf'])} | {x(s['min_vs_jinja'])} | | "
        f"{x(s.get('min_short_vs_hf'))} | {x(s.get('min_short_vs_jinja'))} |")
    add("")
    for engine, why in results.get("skipped_engines", {}).items():
        add(f"{ENGINE_LABELS.get(engine, engine)} was not run: {why}.")
        add("")
    excluded = results.get("excluded", {})
    for engine, items in excluded.items():
        if items:
            add(f"{ENGINE_LABELS.get(engine, engine)}: formats excluded from its numbers because its output differs "
                "from transformers' (or it failed):")
            add("")
            for name, why in items.items():
                first_line = why.strip().splitlines()[0] if why.strip() else why
                add(f"- `{name}`: {first_line[:300]}")
            add("")
    add("## All sizes")
    add("")
    add("Microseconds per render (min of repeats); the number in brackets is transformers' time / promptcraft's.")
    add("")
    add("| format | " + " | ".join(f"{n} msg" for n in sizes) + " |")
    add("|---|" + "---:|" * len(sizes))
    for name in results["formats"]:
        cells = []
        for n in sizes:
            pc = warm.get("promptcraft", {}).get(name, {}).get(str(n), {}).get("seconds")
            hf = warm.get("hf", {}).get(name, {}).get(str(n), {}).get("seconds")
            cells.append(f"{us(pc)} ({x(_ratio(hf, pc))})")
        add(f"| {name} | " + " | ".join(cells) + " |")
    add("")
    add("## Scaling: cost per message")
    add("")
    big = [n for n in sizes if n > head]
    if not big:
        add(f"Not measured: this run has no size above {head} messages.")
        add("")
    else:
        add(f"promptcraft's µs per message, and that cost relative to the {head}-message conversation "
            f"(target ≤ 1.2×: no hidden quadratic work). Turn lengths are random, so a conversation whose turns "
            f"happen to be longer costs more per message; the per-character columns take that out "
            f"(worst {x(s.get('worst_char_scaling'))}). transformers' per-message cost is shown for context.")
        add("")
        add("| format | " + " | ".join(f"µs/msg at {n}" for n in [head] + big) + " | "
            + " | ".join(f"{n} vs {head}" for n in big) + " | "
            + " | ".join(f"per char, {n} vs {head}" for n in big)
            + " | transformers µs/msg at " + " / ".join(str(n) for n in [head] + big) + " |")
        add("|---|" + "---:|" * (1 + 3 * len(big) + 1))
        for name, per in s["scaling"].items():
            pcm, pcr, hfm = (per["promptcraft"]["per_message"], per["promptcraft"]["ratio_to_headline"],
                             per["hf"]["per_message"])
            pcc = per["promptcraft"].get("char_ratio_to_headline", {})
            add(f"| {name} | " + " | ".join(us(pcm.get(str(n)), 3) for n in [head] + big) + " | "
                + " | ".join(x(pcr.get(str(n))) for n in big) + " | "
                + " | ".join(x(pcc.get(str(n))) for n in big) + " | "
                + " / ".join(us(hfm.get(str(n)), 1) for n in [head] + big) + " |")
        add("")
    spans_section(results, add)
    agent_section(results, add)
    add("## SmolLM2 against a hand-written ChatML function")
    add("")
    add("The floor: `chatml()` in `benchmarks/_worker.py`, the fastest of several plain-Python versions, producing "
        "exactly SmolLM2's prompt (including its default system message). Ratio = promptcraft time / hand-written time "
        "(target ≤ 1.25×).")
    pair = results.get("floor")
    if pair:
        add(f"The two were timed as a pair of fresh workers after every chunk of formats "
            f"({results.get('floor_runs', {}).get('chatml', '?')} pairs, alternating which goes first); each number is "
            "the best pair member's minimum, so one slow spell cannot decide the ratio.")
    else:
        pair = {"promptcraft": warm.get("promptcraft", {}).get("smollm2", {}),
                "chatml": warm.get("chatml", {}).get("smollm2", {})}
    add("")
    add("| messages | promptcraft µs | hand-written µs | ratio |")
    add("|---:|---:|---:|---:|")
    for n in [str(n) for n in sizes] + ([f"{head}-short"] if f"{head}-short" in pair.get("chatml", {}) else []):
        pc = pair.get("promptcraft", {}).get(n, {}).get("seconds")
        hw = pair.get("chatml", {}).get(n, {}).get("seconds")
        label = n.replace("-short", " (short turns)")
        add(f"| {label} | {us(pc, 3)} | {us(hw, 3)} | {x(_ratio(pc, hw))} |")
    add("")
    imp = results.get("import")
    if imp:
        add("## Import time")
        add("")
        w = imp["wall_median_seconds"]
        add(f"Medians of {imp['runs']} fresh interpreters each, run interleaved.")
        add("")
        add("| measurement | ms |")
        add("|---|---:|")
        add(f"| `python -X importtime -c 'import promptcraft'`: cumulative for `promptcraft` "
            f"(median of {imp['importtime_runs']}) | {imp['importtime_promptcraft_us'] / 1e3:.2f} |")
        add(f"| wall: `python -c pass` | {ms(w['bare'])} |")
        add(f"| wall: `python -c 'import promptcraft'` | {ms(w['import'])} |")
        add(f"| wall: import + `get_format('smollm2').render([...])` | {ms(w['import_and_first_render'])} |")
        add(f"| **import above bare interpreter** | {ms(imp['import_above_bare_seconds'])} |")
        add(f"| **import + first render above bare interpreter** (target ≤ 20 ms) "
            f"| **{ms(imp['first_render_above_bare_seconds'])}** |")
        add("")
        add("Modules imported (top level, cumulative ms, median) by import + first render that a bare interpreter "
            "does not import:")
        add("")
        add(", ".join(f"`{m}` {t / 1e3:.2f}" for m, t in imp["top_level_imports_during_first_render_us"][:12]))
        add("")
    cold = results.get("cold", {})
    if cold:
        pc, jj = cold.get("promptcraft", {}), cold.get("jinja", {})
        add("## Cold start")
        add("")
        add(f"promptcraft: `load_format(path)` on a format file + first render of the {pc.get('size', head)}-message "
            "conversation. Jinja: the template compiled as transformers compiles it on a cache miss (a new "
            "`ImmutableSandboxedEnvironment` with its filters and globals, then `from_string`) + first render. Modules "
            "already imported; each promptcraft run loads a copy of the file at a new path so no cache can answer. "
            "Median of "
            f"{results['settings']['cold_runs']} runs.")
        add("")
        add("| format | promptcraft ms | (load / render) | Jinja ms | (compile / render) | Jinja / promptcraft |")
        add("|---|---:|---:|---:|---:|---:|")
        for r in s["cold"]:
            add(f"| {r['format']} | {ms(r['promptcraft'])} | {ms(r['load'])} / {ms(r['render'])} | {ms(r['jinja'])} | "
                f"{ms(r['jinja_compile'])} / {ms(r['jinja_render'])} | {x(_ratio(r['jinja'], r['promptcraft']))} |")
        add("")
        for label, part in (("promptcraft", pc), ("Jinja", jj)):
            first = part.get("first_in_process")
            if first:
                add(f"- First in a fresh process ({label}, `{first['format']}`, lazy imports included): "
                    f"{ms(first['seconds'])} ms (load/compile {ms(first['load'])}, render {ms(first['render'])}).")
        add("")
    ds = results.get("dataset", {})
    hf, pcd = ds.get("hf", {}), ds.get("promptcraft", {})
    if hf.get("loop") and pcd.get("loop"):
        count = hf["count"]
        add("## Dataset throughput")
        add("")
        add(f"{count:,} training-style conversations in the `{hf['format']}` format ({hf['messages']:,} messages, "
            f"{hf['chars'] / 1e6:,.0f} M characters of output; 1-4 user/assistant pairs, a system message in 70%), "
            "`add_generation_prompt=False`. Every promptcraft output was checked against transformers' (by digest).")
        add("")
        add("| path | seconds | conversations/s | vs transformers loop |")
        add("|---|---:|---:|---:|")
        base = hf["loop"]["seconds"]
        mp = pcd.get("multiprocessing", {})
        rows = [
            ("`[fmt.render(c) for c in data]`", pcd["loop"]["seconds"], ""),
            ("`fmt.render_many(data)`", pcd["render_many"]["seconds"], ""),
        ]
        if mp.get("shipped"):
            rows.append((f"`multiprocessing.Pool(2).map`, Format + conversations pickled to workers "
                         f"({mp['shipped']['chunk']:,} per task)",
                         mp["shipped"]["seconds"], ""))
        if mp.get("inherited"):
            rows.append(("`multiprocessing.Pool(2).map`, Format pickled, conversations inherited by fork",
                         mp["inherited"]["seconds"], ""))
        rows.append(("transformers `apply_chat_template` loop (one full pass)", hf["loop"]["seconds"], ""))
        batched = hf["batched"]
        extrapolated = f" (**extrapolated** from a sample of {batched['sample']:,})" if batched["extrapolated"] else ""
        rows.append(("transformers `apply_chat_template(batch)`" + extrapolated, batched["seconds"], ""))
        for label, secs, _ in rows:
            add(f"| {label} | {secs:,.2f} | {count / secs:,.0f} | {x(base / secs)} |")
        add("")
        if mp.get("error"):
            add(f"**Multiprocessing failed:** {mp['error']}")
            add("")
        elif mp:
            add(f"The `Format` pickles ({mp.get('pickle_bytes')} bytes for a built-in, "
                f"{mp.get('pickle_bytes_loaded_format')} bytes for a `load_format()` one, which carries its TOML text) "
                "and renders identically after unpickling. "
                f"Pool start-up ({mp.get('start_method')}): {ms(mp.get('startup_seconds'))} ms, not included above. "
                "On 2 cores the parent process competes with the two workers, and returned prompts are pickled back.")
            best_pool = min(v["seconds"] for k, v in mp.items() if k in ("shipped", "inherited"))
            if best_pool > pcd["render_many"]["seconds"]:
                add(f"Here the pool is {best_pool / pcd['render_many']['seconds']:.1f}× slower than one process: "
                    f"rendering costs about {pcd['render_many']['seconds'] / count * 1e6:.1f} µs per conversation, "
                    "less than sending the "
                    "conversation to a worker and its prompt back. A pool pays off only when each task does more "
                    "work than rendering (tokenizing, say).")
            add("")
    add("## How it was measured")
    add("")
    add("- Conversations are generated deterministically (`benchmarks/_workloads.py`): English-like prose with lists, "
        "code blocks and some non-ASCII words; user turns 20–800 characters, assistant turns 80–2,500, system "
        "120–600 (log-uniform). Size 1 is a single user message.")
    add("- transformers: `PreTrainedTokenizerFast` over a one-word `WordLevel` vocabulary carrying the model's "
        "official template and special tokens (no network, no model files), `apply_chat_template(tokenize=False)`.")
    add("- raw Jinja: `transformers.utils.chat_template_utils._compile_jinja_template(template).render(messages=..., "
        "add_generation_prompt=..., bos_token=..., eos_token=...)`, i.e. transformers' own compiled environment "
        "without its input conversion.")
    add("- minijinja: `minijinja.Environment(trim_blocks=True, lstrip_blocks=True)` with `raise_exception`, "
        "`strftime_now` and transformers' `tojson`; formats where its output differs are excluded and listed.")
    if results.get("render_spans"):
        add("- render_spans: promptcraft's worker checks `render_spans(...).text` against transformers' output (and "
            "that `.mask()` returns sorted ranges inside the text), then times `render_spans` and "
            "`render_spans(...).mask()` "
            f"on the {head}-message conversation beside `render` on the same conversation with the same options: one "
            "repetition of each in turn, so a slow spell touches all three alike.")
    add("- Variables are given the same values on every side: "
        f"{', '.join(f'`{k}={v!r}`' for k, v in VARIABLES.items())} "
        "where a format declares them; others keep their defaults (today's date where a template reads the clock).")
    clock = results["settings"].get("clock", "wall")
    add("- Warm numbers: `min(timeit.repeat(...)) / number`, loop count chosen so each repeat lasts at least "
        f"{results['settings']['min_time'] * 1e3:g} ms, the repeats split into rounds over all of a worker's "
        "measurements, and the workers run format chunk by format chunk, so that a slow spell on the machine "
        "has to last long to skew a result; garbage collection off while timing (timeit's default). "
        + ("Warm and cold-start timings use the worker's CPU time (`time.process_time`), so time the worker spends "
           "descheduled while other work runs on the machine is not counted; "
           if clock == "cpu" else "Warm and cold-start timings are wall time (`time.perf_counter`); ")
        + "dataset passes, multiprocessing and import times are wall time, and dataset passes keep garbage "
          "collection on.")
    add("")
    return "\n".join(L) + "\n"


# --------------------------------------------------------------------------- main


def parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="benchmarks/run.py", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="tiny sizes, one repeat, two formats (smoke test)")
    p.add_argument("--json", metavar="PATH", help="results file (default: benchmarks/results/<date>-<commit>.json)")
    p.add_argument("--markdown", metavar="PATH",
                   help="write the report here (default: benchmarks/RESULTS.md in a full run)")
    p.add_argument("--formats", help="comma-separated built-in format names (default: all with a corpus model)")
    p.add_argument("--sizes", help="comma-separated conversation sizes in messages (default: 1,3,11,101,1001)")
    p.add_argument("--repeat", type=int, help="timeit repeats per measurement (default: 10)")
    p.add_argument("--rounds", type=int, help="passes the repeats are split into (default: 2)")
    p.add_argument("--clock", choices=("cpu", "wall"), default="cpu",
                   help="clock for in-process timings: CPU time of the worker (default; robust to other "
                        "work on the machine) or wall time")
    p.add_argument("--min-time", type=float, help="seconds each repeat lasts at least (default: 0.02)")
    p.add_argument("--dataset", type=int, help="conversations in the dataset pass (default: 100000; 0 skips it)")
    p.add_argument("--dataset-format", help="format of the dataset pass (default: qwen2.5, else the first format)")
    p.add_argument("--cold-runs", type=int, help="runs per format for cold start (default: 25)")
    p.add_argument("--import-runs", type=int, help="interpreters per import-time command (default: 41; 0 skips)")
    p.add_argument("--chunk-formats", type=int,
                   help="formats per round of engine workers (default: 8; 0: all formats in one round)")
    p.add_argument("--agent", action=argparse.BooleanOptionalAction,
                   help="time the agent conversation (tools, tool calls, tool results) on the formats that write "
                        "them (default: on; --no-agent skips it)")
    p.add_argument("--from-json", metavar="PATH", help="only rewrite the report from an existing results file")
    return p.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    if args.from_json:
        results = json.loads(pathlib.Path(args.from_json).read_text(encoding="utf-8"))
        results["summary"] = summarize(results)
        target = pathlib.Path(args.markdown or HERE / "RESULTS.md")
        target.write_text(markdown(results), encoding="utf-8")
        log(f"wrote {target}")
        return 0

    settings = dict(QUICK if args.quick else FULL)
    if args.formats:
        settings["formats"] = [f.strip() for f in args.formats.split(",") if f.strip()]
    if args.sizes:
        settings["sizes"] = sorted({int(s) for s in args.sizes.split(",")})
    for key in ("repeat", "rounds", "min_time", "dataset", "cold_runs", "import_runs", "chunk_formats", "agent"):
        if getattr(args, key) is not None:
            settings[key] = getattr(args, key)
    settings["quick"] = args.quick
    settings["clock"] = args.clock
    started = time.perf_counter()
    now = datetime.datetime.now(datetime.timezone.utc).astimezone()
    commit = git("rev-parse", "HEAD").strip() or "unknown"
    dirty = uncommitted()
    tree_at_start = tree_state()
    tree = fingerprint(tree_at_start)
    json_path = pathlib.Path(args.json) if args.json else HERE / "results" / f"{now:%Y-%m-%d}-{commit[:8]}.json"
    md_path = pathlib.Path(args.markdown) if args.markdown else (None if args.quick else HERE / "RESULTS.md")

    log("planning ...")
    planned = plan(settings["formats"])
    formats = planned["formats"]
    if not formats:
        raise SystemExit("no format to benchmark")
    names = [f["name"] for f in formats]
    dataset_format = args.dataset_format or ("qwen2.5" if "qwen2.5" in names else names[0])
    if dataset_format not in names:
        raise SystemExit(f"--dataset-format {dataset_format} is not among the benchmarked formats")
    log(f"formats: {', '.join(names)}; sizes {settings['sizes']}; repeat {settings['repeat']}")
    agent_formats = agent_plan(formats, chosen=args.formats is not None) if settings["agent"] else []

    results: Dict[str, Any] = {
        "schema": 1,
        "created": now.isoformat(timespec="seconds"),
        "command": "python " + " ".join(shlex.quote(a) for a in
                                        ["benchmarks/run.py", *(argv if argv is not None else sys.argv[1:])]),
        "commit": commit,
        "dirty": dirty,
        "tree_fingerprint": tree,
        "versions": dict(versions(), promptcraft=planned["promptcraft"]),
        "machine": machine(),
        "settings": ({k: v for k, v in settings.items() if k != "formats"}
                     | {"formats": names, "dataset_format": dataset_format}),
        "corpus": str(W.corpus_dir()),
        "skipped_formats": planned["skipped"],
        "json_path": display_path(json_path),
        "warm": {},
        "excluded": {},
        "skipped_engines": {},
        "errors": {},
        "render_spans": {},
        "agent": {} if settings["agent"] else {"skipped": "switched off (--no-agent)"},
    }
    errors: Dict[str, str] = results["errors"]
    global PYCACHE
    with tempfile.TemporaryDirectory(prefix="promptcraft-bench-") as scratch:
        scratch_dir = pathlib.Path(scratch)
        PYCACHE = str(scratch_dir / "pycache")
        # Fill the bytecode cache once for everything the workers import.
        subprocess.run([sys.executable, "-c", "import promptcraft, transformers, jinja2, minijinja, tokenizers, "
                        "multiprocessing, pickle, json, statistics, timeit, tomllib, attrs, regex, difflib, linecache"],
                       cwd=ROOT, env=worker_env(), capture_output=True)
        subprocess.run([sys.executable, "-c", FIRST_RENDER], cwd=ROOT, env=worker_env(), capture_output=True)
        workloads = ([str(n) for n in settings["sizes"]]
                     + ([f"{HEADLINE}{W.SHORT}"] if HEADLINE in settings["sizes"] else []))
        task = {
            "formats": formats, "sizes": settings["sizes"], "workloads": workloads, "clock": settings["clock"],
            "spans": [headline_key(settings["sizes"])],
            "rounds": settings["rounds"], "repeat": settings["repeat"], "min_time": settings["min_time"],
            "cold_runs": settings["cold_runs"], "expected": str(scratch_dir / "expected.json"),
            "dataset": {
                "format": next(f for f in formats if f["name"] == dataset_format), "count": settings["dataset"],
                "hf_batch_sample": min(settings["hf_batch_sample"], settings["dataset"]),
                "runs": settings["dataset_runs"],
                "chunk": settings["chunk"], "digests": str(scratch_dir / "digests.json"),
            },
        }
        task_path = scratch_dir / "task.json"
        task_path.write_text(json.dumps(task), encoding="utf-8")

        log("warm renders:")
        # Formats go through the engines in chunks, every engine in a fresh interpreter per chunk, so
        # that a slow spell on a shared machine touches all engines of the same formats alike.
        results["formats"] = {}
        for engine in ("hf",) + WARM_ENGINES:
            results["warm"][engine] = {}
            results["excluded"][engine] = {}
        step = settings["chunk_formats"] or len(formats)
        chunks = [formats[i:i + step] for i in range(0, len(formats), step)]
        # The chunk with smollm2 goes first: its expected outputs are needed for the floor pair.
        chunks.sort(key=lambda chunk: not any(f["name"] == "smollm2" for f in chunk))
        smollm2 = next((f for f in formats if f["name"] == "smollm2"), None)
        floor_runs: Dict[str, List[Dict[str, Any]]] = {"promptcraft": [], "chatml": []}
        expected: Dict[str, Any] = {}
        for number, chunk in enumerate(chunks, 1):
            log(f" formats {chunk[0]['name']} .. {chunk[-1]['name']} ({number}/{len(chunks)})")
            chunk_path = scratch_dir / f"task-{number}.json"
            chunk_expected = scratch_dir / f"expected-{number}.json"
            chunk_path.write_text(json.dumps(dict(task, formats=chunk, expected=str(chunk_expected))), encoding="utf-8")
            hf = run_worker("hf", chunk_path)
            if "crashed" in hf:
                for f in chunk:
                    errors[f"transformers/{f['name']}"] = (
                        f"the reference worker crashed, nothing to verify against: {hf['stderr']}")
                continue
            results["warm"]["hf"].update(hf["results"])
            expected.update(json.loads(chunk_expected.read_text(encoding="utf-8")))
            for f in chunk:
                meta = hf["formats"][f["name"]]
                if "error" in meta:
                    errors[f"transformers/{f['name']}"] = meta["error"]
                    continue
                results["formats"][f["name"]] = {
                    "model": f["model"], "corpus": f["stem"], "shape": meta["shape"],
                    "add_generation_prompt": meta["add_generation_prompt"], "variables": f["variables"],
                    "system_refused": meta["refused"].get(W.WITH_SYSTEM),
                }
            for engine in WARM_ENGINES:
                if engine == "chatml" and not any(f["name"] == "smollm2" for f in chunk):
                    continue
                if engine == "minijinja" and importlib.util.find_spec("minijinja") is None:
                    results["skipped_engines"]["minijinja"] = "not installed (pip install minijinja)"
                    continue
                out = run_worker(engine, chunk_path)
                if "crashed" in out:
                    errors[f"{engine} ({chunk[0]['name']} .. {chunk[-1]['name']})"] = (
                        f"worker crashed: {out['crashed']}: {out['stderr']}")
                    continue
                results["warm"][engine].update(out["results"])
                results["render_spans"].update(out.get("variants", {}))
                results["excluded"][engine].update(out.get("excluded", {}))
                for name, problem in out.get("errors", {}).items():
                    errors[f"{engine}/{name}"] = problem
            if smollm2 is not None and "smollm2" in expected:
                # promptcraft's smollm2 against the hand-written floor, once per chunk and in alternating
                # order: a pair of short workers is easily caught whole by a slow spell, so the ratio
                # uses the best of every pair. render alone, as the floor has no spans to time beside it.
                floor_path = scratch_dir / f"floor-{number}.json"
                floor_path.write_text(json.dumps(dict(task, formats=[smollm2],
                                                      expected=str(scratch_dir / "expected-1.json"), spans=[])),
                                      encoding="utf-8")
                for engine in (("promptcraft", "chatml") if number % 2 else ("chatml", "promptcraft")):
                    out = run_worker(engine, floor_path)
                    if "crashed" in out:
                        errors[f"{engine} (floor pair)"] = f"worker crashed: {out['crashed']}: {out['stderr']}"
                        continue
                    for name, problem in out.get("errors", {}).items():
                        errors[f"{engine}/{name}"] = problem
                    if "smollm2" in out["results"]:
                        floor_runs[engine].append(out["results"]["smollm2"])
        results["floor"] = {engine: best_of(runs) for engine, runs in floor_runs.items() if runs}
        results["floor_runs"] = {engine: len(runs) for engine, runs in floor_runs.items()}
        if "chatml" in results["floor"]:
            results["warm"]["chatml"] = {"smollm2": results["floor"]["chatml"]}
        if not results["formats"]:
            raise SystemExit("transformers rendered none of the formats; nothing can be verified")
        pathlib.Path(task["expected"]).write_text(json.dumps(expected, ensure_ascii=False), encoding="utf-8")

        if settings["agent"]:
            log(f"agent conversation ({', '.join(f['name'] for f in agent_formats) or 'no format writes tools'}):")
            results["agent"] = measure_agent(task, agent_formats, scratch_dir, errors)

        log("cold start:")
        results["cold"] = {}
        for engine, key in (("cold-promptcraft", "promptcraft"), ("cold-jinja", "jinja")):
            out = run_worker(engine, task_path)
            if "crashed" in out:
                errors[engine] = f"worker crashed: {out['crashed']}: {out['stderr']}"
                continue
            results["cold"][key] = out
            for name, problem in out.get("errors", {}).items():
                errors[f"{engine}/{name}"] = problem
            results["excluded"][engine] = out.get("excluded", {})

        results["dataset"] = {}
        if settings["dataset"] > 0:
            log(f"dataset pass ({settings['dataset']:,} conversations, {dataset_format}):")
            out = run_worker("dataset-hf", task_path)
            if "crashed" in out:
                errors["dataset-hf"] = f"worker crashed: {out['crashed']}: {out['stderr']}"
            else:
                results["dataset"]["hf"] = out
                out = run_worker("dataset-promptcraft", task_path)
                if "crashed" in out:
                    errors["dataset-promptcraft"] = f"worker crashed: {out['crashed']}: {out['stderr']}"
                elif "error" in out:
                    errors["dataset-promptcraft"] = out["error"]
                else:
                    results["dataset"]["promptcraft"] = out
                    mp_error = out.get("multiprocessing", {}).get("error")
                    if mp_error:
                        errors["multiprocessing"] = mp_error

        if settings["import_runs"] > 0:
            log("import time ...")
            try:
                results["import"] = measure_import(settings["import_runs"], settings["importtime_runs"])
            except subprocess.CalledProcessError as error:
                errors["import"] = f"{error.cmd} failed with exit status {error.returncode}"
    PYCACHE = None

    pc = results["warm"].get("promptcraft", {})
    checked = [t for sizes in pc.values() for t in sizes.values()]
    checked += list(results["agent"].get("promptcraft", {}).values())
    promptcraft_failed = any(k.startswith(("promptcraft", "cold-promptcraft", "dataset-promptcraft", "chatml",
                                           "agent-promptcraft")) for k in errors)
    results["verified"] = bool(checked) and all(t.get("verified") for t in checked) and not promptcraft_failed
    results["summary"] = summarize(results)
    results["elapsed_seconds"] = time.perf_counter() - started
    tree_at_end = tree_state()
    if tree_at_end != tree_at_start:
        end_commit = git("rev-parse", "HEAD").strip()
        changed = sorted(p for p in set(tree_at_start) | set(tree_at_end) if tree_at_start.get(p) != tree_at_end.get(p))
        results["tree_changed_during_run"] = (
            f"{len(changed)} file(s) under promptcraft/ or formats/ changed while the benchmark ran"
            + (f" (HEAD moved from {commit[:8]} to {end_commit[:8]})" if end_commit != commit else "")
            + f": {', '.join(changed[:10])}{' ...' if len(changed) > 10 else ''}; engines that ran at different "
            "times may have measured different code, so check the change or run again"
        )
    results["machine"]["load_average_at_end"] = load_average()

    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    log(f"wrote {json_path}")
    if md_path is not None:
        md_path.write_text(markdown(results), encoding="utf-8")
        log(f"wrote {md_path}")
    print(short_report(results))
    log(f"total {results['elapsed_seconds']:.0f} s")
    return 0 if results["verified"] and not any(k.startswith("promptcraft") for k in errors) else 1


def short_report(results: Dict[str, Any]) -> str:
    lines = [f"verified: {results['verified']}"]
    if results.get("tree_changed_during_run"):
        lines.append(f"WARNING: {results['tree_changed_during_run']}")
    for t in results["summary"]["targets"]:
        status = {True: "met", False: "MISSED", None: "not measured"}[t["met"]]
        lines.append(f"  {status:>12}  {t['target']}: {fmt_target(t)}"
                     + (f"; over the goal: {', '.join(t['over'])}" if t.get("over") else ""))
    for where, what in results["errors"].items():
        lines.append(f"  error {where}: {what}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
