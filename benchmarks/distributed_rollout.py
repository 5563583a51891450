"""Rollouts with environments on Ray actors: episodes per second against one process.

Run: ``python benchmarks/distributed_rollout.py [--episodes 16] [--rounds 3]``. A random
agent (no generation cost, so the figures are the environments' and Ray's) plays the same
seeds on TextWorld and ALFWorld with the environments in this process, then on 1, 2 and 4
Ray actors; then 64 bandit episodes, where the environments cost almost nothing, give Ray's
overhead per rollout, and a GRPO iteration of the tiny model on 64 bandit episodes gives it
per training iteration. Rounds alternate between the sides; the best round of each is shown.
The pools and environments are made before timing (a training run makes them once).
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

import gymnasium as gym

import palaestra  # noqa: F401 - registers the environments
from palaestra.agents import RandomAgent
from palaestra.distributed import RayEnvs, connect
from palaestra.rollout import play


def rollout_seconds(envs: Any, seeds: list[int], max_turns: int) -> float:
    agents = [RandomAgent(seed=s) for s in seeds]
    start = time.perf_counter()
    play(agents, envs, seeds, max_turns=max_turns)
    return time.perf_counter() - start


def compare(env_id: str, episodes: int, max_turns: int, rounds: int, workers: list[int]) -> None:
    seeds = list(range(episodes))
    sides: dict[str, Any] = {"serial": [gym.make(env_id) for _ in seeds]}
    for count in workers:
        sides[f"{count} actor{'s' if count > 1 else ''}"] = RayEnvs(env_id, episodes, workers=count)
    best = dict.fromkeys(sides, float("inf"))
    for _ in range(rounds):
        for name, envs in sides.items():
            best[name] = min(best[name], rollout_seconds(envs, seeds, max_turns))
    print(f"\n{env_id}: {episodes} episodes of at most {max_turns} turns (best of {rounds})")
    for name, seconds in best.items():
        ratio = best["serial"] / seconds
        print(f"  {name:9}: {seconds:7.2f} s  {episodes / seconds:7.2f} episodes/s  {ratio:5.2f}x")
    for envs in sides.values():
        if isinstance(envs, RayEnvs):
            envs.close()


def iteration_overhead(rounds: int) -> None:
    """One GRPO iteration of the tiny model on 64 bandit episodes, with and without actors."""
    import tempfile
    from pathlib import Path

    from palaestra.algorithms import GRPO, GRPOConfig
    from palaestra.algorithms.trainer import TrainConfig, Trainer

    best: dict[int, float] = {}
    with tempfile.TemporaryDirectory() as folder:
        trainers = {
            workers: Trainer(
                TrainConfig(
                    groups=8,
                    group_size=8,
                    max_new_tokens=4,
                    extract="choice",
                    env_kwargs='{"horizon": 1}',
                    rollout_workers=workers,
                    out=Path(folder) / str(workers),
                    progress=False,
                    tensorboard=False,
                ),
                GRPO(GRPOConfig()),
            )
            for workers in (0, 2)
        }
        for iteration in range(rounds):
            for workers, trainer in trainers.items():
                start = time.perf_counter()
                trainer.iteration(iteration)
                seconds = time.perf_counter() - start
                best[workers] = min(best.get(workers, float("inf")), seconds)
        for trainer in trainers.values():
            if isinstance(trainer.envs, RayEnvs):
                trainer.envs.close()
    extra = best[2] / best[0] - 1
    print(
        f"\nGRPO iteration, tiny model, 64 bandit episodes (best of {rounds}): "
        f"{best[0]:.2f} s in one process, {best[2]:.2f} s with 2 env actors "
        f"(Ray's overhead {extra:+.0%})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--episodes", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    connect()
    print(f"{len(os.sched_getaffinity(0))} cores usable")
    compare("palaestra/TextWorld-v0", args.episodes, 20, args.rounds, [1, 2, 4])
    compare("palaestra/ALFWorld-v0", args.episodes, 10, args.rounds, [1, 2, 4])
    compare("palaestra/Bandit-v0", 64, 50, args.rounds, [2])
    iteration_overhead(args.rounds)


if __name__ == "__main__":
    main()
