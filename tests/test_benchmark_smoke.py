"""The benchmark runs end to end: ``benchmarks/run.py --quick`` in a subprocess.

Only that it works and that promptcraft's outputs were verified against
transformers in the same run, the agent conversation's included; no timing is
asserted (timings on shared CI machines mean nothing).
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

from conftest import require, require_corpus, require_transformers
from hf_reference import CORPUS

import promptcraft

ROOT = pathlib.Path(__file__).resolve().parents[1]
RUN = ROOT / "benchmarks" / "run.py"
FORMATS = ["smollm2", "llama-3.1"]


def writes_agent(name: str) -> bool:
    """As ``benchmarks/run.py`` decides it, which the test asks rather than restates."""
    sys.path.insert(0, str(RUN.parent))
    from run import writes_agent as decided  # noqa: E402 - the benchmark's own module

    return decided(name)


def agent_format() -> str:
    """One format the agent phase runs on: the first that writes tools and calls and has a model in
    the corpus (found, not named, as formats gain tools over time)."""
    models = {json.loads(path.read_text(encoding="utf-8"))["model"] for path in CORPUS.glob("*.json")}
    found = next((name for name in promptcraft.list_formats() if writes_agent(name)
                  and any(m in models for m in promptcraft.get_format(name).models)), None)
    require(found is not None, "no built-in format with a corpus model writes tools and tool calls")
    return found


def test_quick_benchmark_runs_and_verifies(tmp_path):
    """A quick run exits 0 and records verified promptcraft numbers for every format and size."""
    require_transformers()
    require_corpus()
    agent = agent_format()
    formats = FORMATS if agent in FORMATS else FORMATS + [agent]
    results_path = tmp_path / "results.json"
    report_path = tmp_path / "RESULTS.md"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    proc = subprocess.run(
        [sys.executable, str(RUN), "--quick", "--formats", ",".join(formats), "--sizes", "1,3",
         # The dataset pass stays on the first format: run.py prefers qwen2.5, which may be the agent format.
         "--dataset", "200", "--dataset-format", FORMATS[0], "--import-runs", "1", "--cold-runs", "2",
         "--json", str(results_path), "--markdown", str(report_path)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=240,
    )
    assert proc.returncode == 0, f"run.py failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr[-4000:]}"

    results = json.loads(results_path.read_text(encoding="utf-8"))
    assert results["verified"] is True
    assert not results["errors"], results["errors"]
    assert sorted(results["formats"]) == sorted(formats)
    for engine in ("promptcraft", "hf", "jinja"):
        assert sorted(results["warm"][engine]) == sorted(formats), engine
    for name in formats:
        timings = results["warm"]["promptcraft"][name]
        assert sorted(timings, key=int) == ["1", "3"]
        assert all(t["verified"] is True and t["seconds"] > 0 for t in timings.values())
    assert all(t["verified"] for t in results["warm"]["chatml"]["smollm2"].values())
    assert all(r["verified"] for r in results["cold"]["promptcraft"]["results"].values())
    dataset = results["dataset"]["promptcraft"]
    assert dataset["loop"]["verified"] and dataset["render_many"]["verified"]
    assert "error" not in dataset["multiprocessing"], dataset["multiprocessing"].get("error")
    assert dataset["multiprocessing"]["shipped"]["verified"]
    for key in ("python", "promptcraft", "transformers", "jinja2", "minijinja"):
        assert key in results["versions"]
    assert results["commit"] and results["machine"]["cpu_count"]
    # The agent phase: every format that writes tools and calls, checked against transformers.
    assert results["agent"]["formats"] == [name for name in formats if writes_agent(name)]
    assert agent in results["agent"]["formats"]
    for name in results["agent"]["formats"]:
        assert results["agent"]["promptcraft"][name]["verified"] is True
        assert results["agent"]["promptcraft"][name]["seconds"] > 0 and results["agent"]["hf"][name]["seconds"] > 0
    assert results["summary"]["agent"]["median"]
    assert any(t["target"].startswith("agent conversation") and t["measured"] for t in results["summary"]["targets"])
    report = report_path.read_text(encoding="utf-8")
    assert "## Targets" in report and "## Agent conversation" in report
