"""Run every benchmark in bench/ and plot the figures people compare.

Each bench module exposes `run(quick: bool) -> dict`; its figures are ratios against a baseline
measured in the same run. Results go to bench/results/all.json and bench/results/summary.png.
"""

from __future__ import annotations

import argparse
import importlib
import json
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import Progress

from bench.report import RESULTS
from bench.servers import raise_fd_limit

BENCHES = (
    "bench.bench_scope_parse",
    "bench.bench_registry",
    "bench.bench_testbed_start",
    "bench.bench_proxy_overhead",
    "bench.bench_scale",
    "bench.bench_fanout",
    "bench.bench_streaming",
    "bench.bench_soak",
)
TARGETS = {
    ("bench.bench_proxy_overhead", "openstackoid / forwarder throughput per core"): 1.2,
    ("bench.bench_scale", "throughput per core at 10000, working set 100 / 1"): 0.9,
}
"""The project's targets: (bench, ratio) -> the least it may be."""
INVALIDATING = ("invalid", "failed")
"""Result keys that void a bench's figures: a process out of file descriptors, wrk errors."""


def run_benches(quick: bool) -> dict[str, Any]:
    console = Console()
    results: dict[str, Any] = {}
    with Progress(console=console) as progress:
        task = progress.add_task("benchmarks", total=len(BENCHES))
        for name in BENCHES:
            progress.update(task, description=name)
            started = time.perf_counter()
            try:
                module = importlib.import_module(name)
            except ModuleNotFoundError as exc:
                results[name] = {"skipped": f"not available: {exc}"}
            else:
                results[name] = module.run(quick=quick)
                results[name]["_seconds"] = round(time.perf_counter() - started, 2)
            progress.advance(task)
    return results


def check_targets(results: dict[str, Any]) -> dict[str, Any]:
    """Each target with the ratio measured; a bench that was skipped is reported as such."""
    checked: dict[str, Any] = {}
    for (bench, key), least in TARGETS.items():
        figures = results.get(bench, {})
        value = figures.get("ratios", {}).get(key)
        name = f"{bench.removeprefix('bench.bench_')}: {key}"
        broken = {k: figures[k] for k in INVALIDATING if k in figures}
        if broken:  # a run that ran out of descriptors or answered errors meets nothing
            checked[name] = {"at_least": least, "measured": None, "met": False, **broken}
        elif value is None:
            checked[name] = {"at_least": least, "measured": None, "met": None}
        else:
            checked[name] = {"at_least": least, "measured": value, "met": value >= least}
    return checked


def plot_ratios(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels: list[str] = []
    values: list[float] = []
    colors: list[str] = []
    floors: list[tuple[int, float]] = []
    for bench, figures in results.items():
        for key, value in figures.get("ratios", {}).items():
            least = TARGETS.get((bench, key))
            if least is not None:
                floors.append((len(labels), least))
            labels.append(f"{bench.removeprefix('bench.bench_')}: {key}")
            values.append(float(value))
            met = least is None or float(value) >= least
            colors.append("tab:blue" if least is None else "tab:green" if met else "tab:red")
    if not labels:
        return
    fig, ax = plt.subplots(figsize=(10, 0.4 * len(labels) + 1.5))
    bars = ax.barh(labels, values, color=colors)
    ax.bar_label(bars, labels=[f"{v:g}" for v in values], padding=3, fontsize=8)
    ax.axvline(1.0, color="grey", linestyle="--")
    for row, least in floors:  # a target's floor, across its bar (green: met, red: not)
        ax.plot([least, least], [row - 0.45, row + 0.45], color="black", linewidth=2)
    # Log scale: ratios span 0.0003 (cached parse) to ~10 (fan-out over 1,000 clouds).
    ax.set_xscale("log")
    ax.set_xlabel(
        "ratio to the baseline measured in the same run (log scale); "
        "green/red: a target met/missed, its floor in black"
    )
    fig.tight_layout()
    fig.savefig(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short runs (smoke)")
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    raise_fd_limit()  # every bench's servers and wrk inherit it
    results = run_benches(args.quick)
    targets = check_targets(results)
    (RESULTS / "all.json").write_text(
        json.dumps({**results, "targets": targets}, indent=2, sort_keys=True)
    )
    plot_ratios(results, RESULTS / "summary.png")
    console = Console()
    console.print_json(json.dumps(results))
    for name, target in targets.items():
        verdict = {True: "[green]met", False: "[red]not met", None: "[yellow]not measured"}
        console.print(
            f"target {name} >= {target['at_least']}: {target['measured']} {verdict[target['met']]}"
        )
        for key in INVALIDATING:
            if key in target:
                console.print(f"  [red]invalid run ({key}): {target[key]}")
    for bench, figures in results.items():
        if isinstance(figures, dict) and "invalid" in figures:
            console.print(
                f"[red]{bench}: INVALID, a process ran out of file descriptors: "
                f"{figures['invalid']}"
            )


if __name__ == "__main__":
    main()
