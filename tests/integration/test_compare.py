"""palaestra compare: same budget and seeds for every algorithm; figure and tables."""

import csv
from pathlib import Path

from palaestra.cli import main


def test_compare_writes_figure_and_tables(tmp_path: Path) -> None:
    argv = [
        "compare",
        "--algos",
        "grpo,salt",
        "--seeds",
        "2",
        "--env",
        "palaestra/Bandit-TwoArmed-v0",
        "--env-kwargs",
        '{"horizon": 2}',
        "--steps",
        "2",
        "--groups",
        "2",
        "--group-size",
        "2",
        "--max-new-tokens",
        "3",
        "--out",
        str(tmp_path),
        "--no-progress",
        "--no-tensorboard",
    ]
    assert main(argv) == 0
    assert (tmp_path / "comparison.png").read_bytes()[:4] == b"\x89PNG"
    rows = list(csv.DictReader((tmp_path / "results.csv").read_text().splitlines()))
    assert [r["algorithm"] for r in rows] == ["grpo", "salt"]
    assert all(r["seeds"] == "2" for r in rows)
    for name in ("grpo", "salt"):
        for seed in (0, 1):
            assert (tmp_path / name / f"seed-{seed}" / "metrics.jsonl").is_file()
    assert (tmp_path / "results.md").read_text().startswith("| algorithm | seeds |")
