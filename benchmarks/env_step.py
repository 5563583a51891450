"""Steps per second of a palaestra bandit: bare, through gym.make's wrappers, and vectorized.

Run: ``python benchmarks/env_step.py``. Every variant runs in this one process and the
measurements are interleaved (best of several rounds), so the ratios hold on a noisy machine.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import gymnasium as gym

import palaestra  # noqa: F401 - registers the environments

ENV_ID = "palaestra/Bandit-v0"
ACTIONS = ("A", "B", "C", "D", "E")


def single(env: gym.Env[str, str], steps: int) -> float:
    """Seconds for ``steps`` steps of one environment (resets included)."""
    env.reset(seed=0)
    start = time.perf_counter()
    for i in range(steps):
        _, _, terminated, truncated, _ = env.step(ACTIONS[i % 5])
        if terminated or truncated:
            env.reset()
    return time.perf_counter() - start


def vector(env: gym.vector.VectorEnv, steps: int) -> float:
    """Seconds for ``steps`` vector steps (autoreset inside the vector env)."""
    env.reset(seed=0)
    n = env.num_envs
    start = time.perf_counter()
    for i in range(steps):
        env.step(tuple(ACTIONS[(i + k) % 5] for k in range(n)))
    return time.perf_counter() - start


def best_of(rounds: int, runs: dict[str, Callable[[], float]]) -> dict[str, float]:
    """Best time of each run over ``rounds`` interleaved rounds."""
    best = {name: float("inf") for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            best[name] = min(best[name], run())
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    steps, n = args.steps, 8

    wrapped = gym.make(ENV_ID)
    bare = gym.make(ENV_ID).unwrapped
    sync = gym.make_vec(ENV_ID, num_envs=n, vectorization_mode="sync")
    async_ = gym.make_vec(
        ENV_ID, num_envs=n, vectorization_mode="async", vector_kwargs={"shared_memory": False}
    )
    print(f"{ENV_ID}: wrappers of gym.make: {wrapped}")
    times = best_of(
        args.rounds,
        {
            "bare": lambda: single(bare, steps),
            "gym.make": lambda: single(wrapped, steps),
            "sync x8": lambda: vector(sync, steps // n),
            "async x8": lambda: vector(async_, steps // n),
        },
    )
    rates = {
        "bare": steps / times["bare"],
        "gym.make": steps / times["gym.make"],
        "sync x8": (steps // n) * n / times["sync x8"],
        "async x8": (steps // n) * n / times["async x8"],
    }
    for name, rate in rates.items():
        print(f"{name:>10}: {rate:>10,.0f} env steps/s")
    overhead = rates["bare"] / rates["gym.make"] - 1
    print(f"wrapper overhead of gym.make over the bare env: {overhead:+.1%}")
    print(
        f"sync x8 / bare: {rates['sync x8'] / rates['bare']:.2f}; "
        f"async x8 / bare: {rates['async x8'] / rates['bare']:.2f}"
    )
    sync.close()
    async_.close()


if __name__ == "__main__":
    main()
