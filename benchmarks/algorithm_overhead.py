"""Per-iteration cost of each algorithm relative to plain GRPO on the same tiny run.

Run: ``python benchmarks/algorithm_overhead.py``. Every algorithm updates the tiny model on
the same SearchQA rollout (same seeds and initial weights; ground truth exposed for IGPO;
4 groups x 4 episodes of at most 3 turns, 8 new tokens, the default 4 mini-batches), in
this one process: the median time of its own work (filters, extra rollouts, advantages)
plus the update is compared with GRPO's, alone and as a share of a whole iteration. IGPO's
extra cost is its teacher-forced scoring (batched over every turn of every episode), SALT's
its trajectory graph, SPEAR's its replay, and arbitrary-entropy AEPO's its regularization
rollout.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from palaestra.algorithms import make_algorithm
from palaestra.algorithms.spear import SPEARConfig
from palaestra.algorithms.trainer import TrainConfig, Trainer

ALGORITHMS = ("grpo", "epo", "salt", "aepo_agentic", "aepo_arbitrary", "igpo", "spear", "gigpo")


def setup(name: str, folder: Path) -> tuple[Trainer, list, float]:
    """A trainer for ``name`` and its first rollout (the same for every algorithm)."""
    config = TrainConfig(
        env="palaestra/SearchQA-v0",
        env_kwargs='{"expose_ground_truth": true}',
        steps=1,
        groups=4,
        group_size=4,
        max_turns=3,
        max_new_tokens=8,
        micro_batch_size=16,
        out=folder / name,
        progress=False,
        tensorboard=False,
    )
    algorithm = (
        make_algorithm("spear", SPEARConfig(replay_size=4))
        if name == "spear"
        else make_algorithm(name)
    )
    trainer = Trainer(config, algorithm)
    start = time.perf_counter()
    episodes = trainer.sampler.rollout()  # the same seed and weights for every algorithm
    return trainer, episodes, time.perf_counter() - start


def update_seconds(trainer: Trainer, episodes: list, k: int) -> float:
    """One update: the algorithm's own work (filters, extra rollouts, advantages) + training."""
    algorithm = trainer.algorithm
    trainer.sampler.iteration = k
    start = time.perf_counter()
    training = algorithm.select_episodes(list(episodes), trainer.sampler)
    trainer._update(training, k)
    algorithm.end_iteration({"entropy": 0.5})
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        runs = {name: setup(name, Path(folder)) for name in ALGORITHMS}
        times: dict[str, list[float]] = {name: [] for name in ALGORITHMS}
        for k in range(args.rounds + 1):  # interleaved rounds; the first is a warm-up
            for name, (trainer, episodes, _) in runs.items():
                seconds = update_seconds(trainer, episodes, k)
                if k:
                    times[name].append(seconds)
    rollout = statistics.median(r[2] for r in runs.values())
    base = statistics.median(times["grpo"])
    print(
        f"SearchQA, tiny model, 16 episodes of <= 3 turns (rollout {rollout:.3f} s); median of "
        f"{args.rounds} interleaved updates on the same rollout"
    )
    for name in ALGORITHMS:
        seconds = statistics.median(times[name])
        iteration = (rollout + seconds) / (rollout + base)
        print(
            f"{name:>15}: update {seconds:6.3f} s ({seconds / base:5.2f}x GRPO's); "
            f"whole iteration {iteration:5.2f}x"
        )


if __name__ == "__main__":
    main()
