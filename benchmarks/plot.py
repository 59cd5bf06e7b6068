"""Draw the benchmark chart from a results file.

    python benchmarks/plot.py [RESULTS.json] [--out benchmarks/chart.svg] [--png]

Without a path, the newest file in ``benchmarks/results/`` is used. The chart
shows, per format, how many times faster promptcraft's warm render is than
transformers' ``apply_chat_template`` and than the same template rendered by
raw Jinja, at the headline conversation size (11 messages). matplotlib is
imported here only; nothing else in the project needs it.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
from typing import List, Optional

HERE = pathlib.Path(__file__).resolve().parent

TARGETS = (("transformers target 50×", 50, "#1f77b4"), ("raw Jinja target 30×", 30, "#ff7f0e"))


def newest_results() -> pathlib.Path:
    files = sorted((HERE / "results").glob("*.json"), key=lambda p: p.stat().st_mtime)
    if not files:
        raise SystemExit("no results in benchmarks/results/; run benchmarks/run.py first")
    return files[-1]


def draw(results: dict, out: pathlib.Path, png: bool) -> List[pathlib.Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FixedFormatter, FixedLocator, NullFormatter

    summary = results["summary"]
    rows = [r for r in summary["warm_headline"] if r["vs_hf"] or r["vs_jinja"]]
    rows.sort(key=lambda r: r["vs_hf"] or 0)
    names = [r["format"] for r in rows]
    series = [
        ("vs transformers apply_chat_template", [r["vs_hf"] for r in rows], "#1f77b4"),
        ("vs raw Jinja (transformers' compiled template)", [r["vs_jinja"] for r in rows], "#ff7f0e"),
    ]
    height = 0.4
    per_row = 0.3 if len(rows) > 20 else 0.5
    fig, ax = plt.subplots(figsize=(8.5, 1.6 + per_row * len(rows)), layout="constrained")
    # Past CLIP the axis would squeeze every other bar for one or two pathological templates;
    # those bars stop at the edge and carry their value.
    largest = max((v for _, values, _ in series for v in values if v), default=10)
    clip = min(largest * 1.6, 400)
    for offset, (label, values, color) in zip((height / 2, -height / 2), series):
        ys = [i + offset for i in range(len(rows))]
        bars = ax.barh(ys, [min(v or 0, clip) for v in values], height=height, color=color, label=label)
        for bar, value in zip(bars, values):
            if not value:
                continue
            y = bar.get_y() + bar.get_height() / 2
            if value > clip:
                ax.text(clip / 1.03, y, f"{value:,.0f}× →", va="center", ha="right", fontsize=7, color="white",
                        fontweight="bold")
            else:
                ax.text(bar.get_width() * 1.03, y, f"{value:.0f}×", va="center", fontsize=7)
    for label, goal, color in TARGETS:
        ax.axvline(goal, color=color, linestyle="--", linewidth=1, alpha=0.8, label=label)
    ax.axvline(1, color="black", linewidth=0.8)
    ax.set_xscale("log")
    ax.set_xlim(1, clip)
    ticks = [t for t in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000) if t <= clip]
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_major_formatter(FixedFormatter([f"{t}×" for t in ticks]))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.tick_params(axis="x", top=True, labeltop=len(rows) > 20, labelsize=8)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels(names, fontsize=8 if len(rows) > 20 else 10)
    ax.set_ylim(-0.6, len(rows) - 0.4)
    size = summary["headline_size"]
    ax.set_xlabel(f"times faster than the baseline (log scale): warm render, {size} messages per conversation",
                  fontsize=9)
    versions = results["versions"]
    fig.suptitle(
        f"promptcraft render speed-up per format: median {summary['median_vs_hf']:.0f}× vs transformers, "
        f"{summary['median_vs_jinja']:.0f}× vs raw Jinja ({len(rows)} formats)\n"
        f"commit {results['commit'][:8]}, Python {versions['python']}, transformers {versions.get('transformers')}, "
        f"jinja2 {versions.get('jinja2')}, {results['machine']['cpu_count']} CPUs",
        fontsize=9,
    )
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=2, fontsize=8, frameon=False)
    ax.grid(axis="x", which="both", alpha=0.25)
    written = [out]
    fig.savefig(out, metadata={"Date": None} if out.suffix == ".svg" else None)
    if png and out.suffix != ".png":
        written.append(out.with_suffix(".png"))
        fig.savefig(written[-1], dpi=110)
    plt.close(fig)
    return written


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks/plot.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("results", nargs="?", help="results JSON (default: the newest in benchmarks/results/)")
    parser.add_argument("--out", default=str(HERE / "chart.svg"),
                        help="output file, .svg or .png (default: benchmarks/chart.svg)")
    parser.add_argument("--png", action="store_true", help="also write a PNG next to the SVG")
    args = parser.parse_args(argv)
    path = pathlib.Path(args.results) if args.results else newest_results()
    results = json.loads(path.read_text(encoding="utf-8"))
    for written in draw(results, pathlib.Path(args.out), args.png):
        print(f"wrote {written}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
