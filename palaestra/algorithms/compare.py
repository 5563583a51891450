"""Run several algorithms with the same budget and seeds; one figure and one results table.

``palaestra compare --algos grpo,epo,salt --env ID --seeds 3 [run options]`` trains every
algorithm (with its default config) on every seed, into ``OUT/ALGO/seed-K``, then writes
``OUT/comparison.png`` (success, return and token entropy per iteration, mean over seeds)
and ``OUT/results.csv`` / ``OUT/results.md`` (final figures: the mean over the last fifth
of the iterations and over seeds).
"""

from __future__ import annotations

import csv
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from palaestra.algorithms import default_config, make_algorithm
from palaestra.algorithms.trainer import TrainConfig, Trainer, read_metrics
from palaestra.progress import track
from palaestra.reporting import markdown_table

CURVES = (("success_rate", "success rate"), ("return", "return"), ("entropy", "token entropy"))


def compare(
    algorithms: list[str], base: TrainConfig, *, seeds: int, out: Path, progress: bool = True
) -> list[dict[str, Any]]:
    """Train each algorithm on ``seeds`` seeds with ``base``'s budget; return the table rows."""
    for name in algorithms:
        default_config(name)  # fail on an unknown name before any training
    runs = [(name, k) for name in algorithms for k in range(seeds)]
    timings: dict[str, list[float]] = {name: [] for name in algorithms}
    for name, k in track(runs, description="runs", enabled=progress):
        config = replace(base, seed=base.seed + k, out=out / name / f"seed-{k}", progress=False)
        start = time.perf_counter()
        Trainer(config, make_algorithm(name)).run()
        timings[name].append((time.perf_counter() - start) / config.steps)
    curves = {
        name: [read_metrics(out / name / f"seed-{k}" / "metrics.jsonl") for k in range(seeds)]
        for name in algorithms
    }
    rows = [_summary(name, curves[name], timings[name]) for name in algorithms]
    _plot(curves, out / "comparison.png", base)
    _write_tables(rows, out)
    return rows


def _series(runs: list[list[dict[str, Any]]], key: str) -> np.ndarray:
    length = min(len(r) for r in runs)
    values = np.asarray([[row.get(key, np.nan) for row in r[:length]] for r in runs], dtype=float)
    return np.asarray(values.mean(axis=0))


def _summary(name: str, runs: list[list[dict[str, Any]]], timing: list[float]) -> dict[str, Any]:
    row: dict[str, Any] = {"algorithm": name, "seeds": len(runs)}
    for key, _ in CURVES:
        series = _series(runs, key)
        tail = max(1, len(series) // 5)
        row[f"final_{key}"] = float(np.nanmean(series[-tail:]))
    row["seconds_per_iteration"] = float(np.mean(timing))
    return row


def _plot(curves: dict[str, list[list[dict[str, Any]]]], path: Path, base: TrainConfig) -> None:
    from palaestra.plots import plot_curves

    panels = {
        label: {name: _series(runs, key) for name, runs in curves.items()} for key, label in CURVES
    }
    plot_curves(panels, path, xlabel="iteration", ylabel="", title=f"{base.env} ({base.model})")


def _write_tables(rows: list[dict[str, Any]], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "results.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    (out / "results.md").write_text(markdown_table(rows))
