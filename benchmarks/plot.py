"""Draw the benchmark chart from a results file.

    python benchmarks/plot.py [RESULTS.json] [--out benchmarks/chart.svg] [--png]

Without a path, the newest file in ``benchmarks/results/`` is used. The chart
shows, per format, how many times faster promptcraft's warm render is than
transformers' ``apply_chat_template`` and than the same template rendered by
raw Jinja, at the headline conversation size (11 messages), and, in a panel below, how many
times faster its render of the agent conversation (tool definitions, tool calls and results) is
than ``apply_chat_template(..., tools=tools)``, for the formats that write tools. matplotlib is
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
AGENT_COLOR = "#2ca02c"
PREPARED_COLOR = "#98df8a"


def newest_results() -> pathlib.Path:
    files = sorted((HERE / "results").glob("*.json"), key=lambda p: p.stat().st_mtime)
    if not files:
        raise SystemExit("no results in benchmarks/results/; run benchmarks/run.py first")
    return files[-1]


def _bars(ax, ys: List[float], values: List[Optional[float]], clip: float, height: float, color: str,
          label: str) -> None:
    """Horizontal bars labelled with their value; past ``clip`` a bar stops at the edge and carries
    its value, so that one or two pathological templates do not squeeze every other bar."""
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


def _ratio_axis(ax, clip: float, names: List[str], top_labels: bool) -> None:
    """A log axis of speed-ups from 1× to ``clip``, one row per name: the same on every panel, so
    that bars of different panels compare by length."""
    from matplotlib.ticker import FixedFormatter, FixedLocator, NullFormatter

    ax.axvline(1, color="black", linewidth=0.8)
    ax.set_xscale("log")
    ax.set_xlim(1, clip)
    ticks = [t for t in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000) if t <= clip]
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_major_formatter(FixedFormatter([f"{t}×" for t in ticks]))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.tick_params(axis="x", top=True, labeltop=top_labels, labelsize=8)
    ax.set_yticks(range(len(names)))
    ax.set_yticklabels(names, fontsize=8 if len(names) > 20 else 10)
    ax.set_ylim(-0.6, len(names) - 0.4)
    ax.grid(axis="x", which="both", alpha=0.25)


def draw(results: dict, out: pathlib.Path, png: bool) -> List[pathlib.Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    summary = results["summary"]
    rows = [r for r in summary["warm_headline"] if r["vs_hf"] or r["vs_jinja"]]
    rows.sort(key=lambda r: r["vs_hf"] or 0)
    names = [r["format"] for r in rows]
    series = [
        ("vs transformers apply_chat_template", [r["vs_hf"] for r in rows], "#1f77b4"),
        ("vs raw Jinja (transformers' compiled template)", [r["vs_jinja"] for r in rows], "#ff7f0e"),
    ]
    # Results that predate the agent phase, or a run without it, draw the one panel they always had.
    agent = summary.get("agent") or {}
    agent_rows = sorted((r for r in agent.get("rows", []) if r["ratio"]), key=lambda r: r["ratio"])
    height = 0.4
    per_row = 0.3 if len(rows) > 20 else 0.5
    largest = max([v for _, values, _ in series for v in values if v] + [r["ratio"] for r in agent_rows], default=10)
    clip = min(largest * 1.6, 400)
    if agent_rows:
        fig, (ax, agent_ax) = plt.subplots(
            2, 1, figsize=(8.5, 2.4 + per_row * len(rows) + 0.4 * len(agent_rows)), layout="constrained",
            height_ratios=[per_row * len(rows) + 0.5, 0.4 * len(agent_rows) + 0.6])
    else:
        fig, ax = plt.subplots(figsize=(8.5, 1.6 + per_row * len(rows)), layout="constrained")
    for offset, (label, values, color) in zip((height / 2, -height / 2), series):
        _bars(ax, [i + offset for i in range(len(rows))], values, clip, height, color, label)
    for label, goal, color in TARGETS:
        ax.axvline(goal, color=color, linestyle="--", linewidth=1, alpha=0.8, label=label)
    _ratio_axis(ax, clip, names, top_labels=len(rows) > 20)
    size = summary["headline_size"]
    ax.set_xlabel(f"times faster than the baseline (log scale): warm render, {size} messages per conversation",
                  fontsize=9)
    handles, labels = ax.get_legend_handles_labels()
    if agent_rows:
        ys = list(range(len(agent_rows)))
        _bars(agent_ax, [y - 0.2 for y in ys], [r["ratio"] for r in agent_rows], clip, 0.38, AGENT_COLOR,
              "agent conversation, tools as a plain list")
        if any(r.get("prepared_ratio") for r in agent_rows):
            _bars(agent_ax, [y + 0.2 for y in ys], [r.get("prepared_ratio") for r in agent_rows], clip, 0.38,
                  PREPARED_COLOR, "agent conversation, tools from prepare_tools")
        agent_ax.axvline(agent["goal"], color=AGENT_COLOR, linestyle="--", linewidth=1, alpha=0.8,
                         label=f"agent target {agent['goal']:g}×")
        _ratio_axis(agent_ax, clip, [r["format"] for r in agent_rows], top_labels=False)
        prepared = agent.get("median_prepared")
        agent_ax.set_title(f"agent conversation (tool definitions, calls and results): median {agent['median']:.0f}× "
                           + (f"({prepared:.0f}× with prepare_tools) " if prepared else "")
                           + f"vs transformers ({len(agent_rows)} formats that write tools)", fontsize=9)
        agent_ax.set_xlabel("times faster than apply_chat_template(..., tools=tools) (log scale)", fontsize=9)
        more_handles, more_labels = agent_ax.get_legend_handles_labels()
        handles, labels = handles + more_handles, labels + more_labels
    versions = results["versions"]
    fig.suptitle(
        f"promptcraft render speed-up per format: median {summary['median_vs_hf']:.0f}× vs transformers, "
        f"{summary['median_vs_jinja']:.0f}× vs raw Jinja ({len(rows)} formats)\n"
        f"commit {results['commit'][:8]}, Python {versions['python']}, transformers {versions.get('transformers')}, "
        f"jinja2 {versions.get('jinja2')}, {results['machine']['cpu_count']} CPUs",
        fontsize=9,
    )
    fig.legend(handles, labels, loc="outside lower center", ncol=2, fontsize=8, frameon=False)
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
