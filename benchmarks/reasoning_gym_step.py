"""Reasoning Gym through palaestra against reasoning-gym called directly, per episode.

Run: ``python benchmarks/reasoning_gym_step.py [--tasks a,b] [--episodes N] [--rounds R]``.
An episode is one item and one scored answer (the reference answer, so scorers run their
whole check). Directly: ``create_dataset(task, seed, size=1)[0]`` and ``score_answer`` in
this process, the dataset built once and reseeded as palaestra does. Through palaestra:
``env.reset`` and ``env.step``, which generate and score in a worker process (with time
bounds) and pass the entry there and back pickled. Both run in this one process,
interleaved round by round (best round reported), so the ratio holds on a noisy machine.
"""

from __future__ import annotations

import argparse
import copy
import random
import time

import gymnasium as gym
import numpy as np

import palaestra  # noqa: F401 - registers the environments
from palaestra.envs.reasoning_gym.env import reference_answer

TASKS = ("basic_arithmetic", "leg_counting", "zebra_puzzles", "arc_agi", "codeio", "sudoku")


def direct(task: str, seeds: list[int]) -> float:
    """Seconds for the episodes with reasoning-gym alone (dataset built beforehand)."""
    import reasoning_gym

    base = reasoning_gym.create_dataset(task, seed=0, size=1)
    start = time.perf_counter()
    for seed in seeds:
        random.seed(seed)
        np.random.seed(seed)
        dataset = copy.copy(base)
        dataset.seed = seed
        dataset.config = copy.copy(base.config)
        dataset.config.seed = seed
        entry = dataset[0]
        answer = entry["answer"] if entry["answer"] is not None else ""
        dataset.score_answer(answer, entry)
    return time.perf_counter() - start


def through_palaestra(env: gym.Env[str, str], seeds: list[int]) -> float:
    """Seconds for the episodes through the env (reset, then one answer)."""
    base = env.unwrapped
    start = time.perf_counter()
    for seed in seeds:
        env.reset(seed=seed)
        assert base.item is not None
        env.step(f"<answer>{reference_answer(base.item) or ''}</answer>")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default=",".join(TASKS))
    parser.add_argument("--episodes", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print("| task | reasoning-gym ms/episode | palaestra ms/episode | overhead ms | ratio |")
    print("|---|---|---|---|---|")
    for task in args.tasks.split(","):
        env = gym.make(f"palaestra/RG-{task}-v0")
        through_palaestra(env, [0])  # workers started, dataset built in them
        direct(task, [0])
        seeds = list(range(1, args.episodes + 1))
        alone, ours = [], []
        for _ in range(args.rounds):
            alone.append(direct(task, seeds) / len(seeds) * 1e3)
            ours.append(through_palaestra(env, seeds) / len(seeds) * 1e3)
        a, p = min(alone), min(ours)
        print(f"| {task} | {a:.2f} | {p:.2f} | {p - a:.2f} | {p / a:.1f}x |")
        env.close()


if __name__ == "__main__":
    main()
