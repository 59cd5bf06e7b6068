"""The benchmark runs end to end: ``benchmarks/run.py --quick`` in a subprocess.

Only that it works and that promptcraft's outputs were verified against
transformers in the same run; no timing is asserted (timings on shared CI
machines mean nothing).
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

from conftest import require_corpus, require_transformers

ROOT = pathlib.Path(__file__).resolve().parents[1]
RUN = ROOT / "benchmarks" / "run.py"
FORMATS = ["smollm2", "llama-3.1"]


def test_quick_benchmark_runs_and_verifies(tmp_path):
    """A quick run exits 0 and records verified promptcraft numbers for every format and size."""
    require_transformers()
    require_corpus()
    results_path = tmp_path / "results.json"
    report_path = tmp_path / "RESULTS.md"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    proc = subprocess.run(
        [sys.executable, str(RUN), "--quick", "--formats", ",".join(FORMATS), "--sizes", "1,3",
         "--dataset", "200", "--import-runs", "1", "--cold-runs", "2",
         "--json", str(results_path), "--markdown", str(report_path)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=240,
    )
    assert proc.returncode == 0, f"run.py failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr[-4000:]}"

    results = json.loads(results_path.read_text(encoding="utf-8"))
    assert results["verified"] is True
    assert not results["errors"], results["errors"]
    assert sorted(results["formats"]) == sorted(FORMATS)
    for engine in ("promptcraft", "hf", "jinja"):
        assert sorted(results["warm"][engine]) == sorted(FORMATS), engine
    for name in FORMATS:
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
    assert "## Targets" in report_path.read_text(encoding="utf-8")
