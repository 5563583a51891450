"""The reference training runs of the demo: GRPO on the tiny model, on the CPU."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console

from palaestra import reporting

#: The reference training runs of the demo (and of the trainer tests).
REFERENCE_RUNS: dict[str, dict[str, Any]] = {
    # A 5-armed letter bandit: a warm start on uniformly random arms teaches only the reply
    # format; GRPO then finds the arm that pays 0.9.
    "grpo-bandit": {
        "env": "palaestra/Bandit-v0",
        "env_kwargs": '{"horizon": 1, "means": [0.1, 0.2, 0.9, 0.3, 0.2]}',
        "max_new_tokens": 4,
        "extract": "choice",
        "micro_batch_size": 32,
        "sft_steps": 100,
        "sft_lr": 3e-3,
        "sft_agent": "random",
        "sft_episodes": 128,
    },
    # Single-digit sums: a short warm start on the generated worked solutions, then GRPO.
    "grpo-arithmetic": {
        "env": "palaestra/Math-Arithmetic-v0",
        "env_kwargs": '{"difficulty": 0}',
        "model": "tiny:hidden_size=128,intermediate_size=384,num_layers=4",
        "groups": 16,
        "max_new_tokens": 16,
        "micro_batch_size": 64,
        "lr": 2e-4,
        "sft_steps": 200,
        "sft_lr": 2e-3,
        "sft_agent": "oracle",
        "sft_episodes": 512,
    },
}


def training_demo(
    out: Path, *, steps: int = 40, progress: bool = True, console: Console | None = None
) -> list[Path]:
    """Train the tiny models of :data:`REFERENCE_RUNS` with GRPO; return the run folders."""
    import shutil

    from palaestra.algorithms import make_algorithm
    from palaestra.algorithms.trainer import TrainConfig, Trainer, read_metrics

    console = console or reporting.console
    folders = []
    for name, settings in REFERENCE_RUNS.items():
        run = out / name
        shutil.rmtree(run, ignore_errors=True)  # the demo always starts fresh
        iterations = steps if name == "grpo-bandit" else max(1, steps // 2)
        config = TrainConfig(
            **settings, steps=iterations, out=run, progress=progress, checkpoint_every=iterations
        )
        Trainer(config, make_algorithm("grpo")).run()
        rows = read_metrics(run / "metrics.jsonl")
        head, tail = rows[: max(1, len(rows) // 4)], rows[-max(1, len(rows) // 4) :]
        console.print(
            f"{name}: mean return {sum(r['return'] for r in head) / len(head):.2f} in the first "
            f"iterations, {sum(r['return'] for r in tail) / len(tail):.2f} in the last; "
            f"curves: {run / 'curves.png'}"
        )
        folders.append(run)
    return folders


#: The suite families each reference run is scored on. The bandit run learns a one-round
#: bandit, and the suite's bandits last 50 rounds: it is not scored.
REFERENCE_FAMILIES = {"grpo-arithmetic": ("math",)}


def reference_entries(runs: list[Path]) -> list[Any]:
    """Leaderboard entries for the trained reference runs.

    Each plays its last checkpoint on hidden seeds, with its learning curve attached.
    """
    from palaestra.demo.leaderboard import Entry

    entries = []
    for run in runs:
        checkpoints = sorted(p for p in (run / "checkpoints").glob("step-*") if p.is_dir())
        checkpoints = [p for p in checkpoints if not p.name.endswith(".tmp")]
        if not checkpoints or run.name not in REFERENCE_FAMILIES:
            continue
        entries.append(
            Entry(
                name=f"GRPO, tiny model ({run.name})",
                spec=f"hf:{checkpoints[-1] / 'model'}",
                families=REFERENCE_FAMILIES[run.name],
                hidden=True,
                curve=run / "metrics.jsonl",
            )
        )
    return entries
