"""What the rollout loop costs over stepping the environments by hand.

Run: ``python benchmarks/rollout_loop.py [--rounds 5] [--episodes 64] [--batch 16]``. Each
round plays the same seeded episodes of the same envs with the same scripted agents three
ways, interleaved in this one process: a hand-written Gymnasium loop (``reset``, then
``act`` and ``step`` until the episode ends: the floor), ``palaestra.play`` one episode at a
time, and ``palaestra.play`` ``--batch`` episodes at once (one ``PerEpisode`` batch per
wave). Reported per env and round: microseconds per step of each and the ratios to the
floor; the three must play identical episodes, which is checked.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import gymnasium as gym

import palaestra
from palaestra.agents import RandomAgent

ENVS = {
    "bandit": ("palaestra/Bandit-v0", {}),
    "dilemma": ("palaestra/PrisonersDilemma-v0", {}),
    "math": ("palaestra/Math-v0", {}),
}


def by_hand(env: gym.Env[str, str], seeds: list[int]) -> list[list[str]]:
    """The floor: Gymnasium's own loop, the agent acting on each observation."""
    played = []
    for seed in seeds:
        agent = RandomAgent(seed)
        observation, info = env.reset(seed=seed)
        agent.reset(str(info.get("instruction", "")))
        actions, done = [], False
        while not done:
            action = agent.act(observation, info)
            observation, _, terminated, truncated, info = env.step(action)
            actions.append(action)
            done = terminated or truncated
        played.append(actions)
    return played


def one_at_a_time(env: gym.Env[str, str], seeds: list[int]) -> list[list[str]]:
    """``palaestra.play`` with one episode per call."""
    return [palaestra.play([RandomAgent(s)], [env], [s])[0].actions for s in seeds]


def batched(envs: list[gym.Env[str, str]], seeds: list[int]) -> list[list[str]]:
    """``palaestra.play`` with ``len(envs)`` episodes per call."""
    played = []
    for start in range(0, len(seeds), len(envs)):
        wave = seeds[start : start + len(envs)]
        episodes = palaestra.play([RandomAgent(s) for s in wave], envs[: len(wave)], wave)
        played += [e.actions for e in episodes]
    return played


def timed(run: Callable[..., list[list[str]]], *args: object) -> tuple[float, list[list[str]]]:
    start = time.perf_counter()
    played = run(*args)
    return time.perf_counter() - start, played


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--episodes", type=int, default=64)
    parser.add_argument("--batch", type=int, default=16)
    args = parser.parse_args()
    seeds = list(range(args.episodes))
    for name, (env_id, kwargs) in ENVS.items():
        env = gym.make(env_id, **kwargs)
        envs = [gym.make(env_id, **kwargs) for _ in range(args.batch)]
        ratios: dict[str, list[float]] = {"one": [], "batch": []}
        for round_ in range(args.rounds):
            floor, expected = timed(by_hand, env, seeds)
            one, played_one = timed(one_at_a_time, env, seeds)
            batch, played_batch = timed(batched, envs, seeds)
            if not expected == played_one == played_batch:
                raise SystemExit(f"{name}: the loops played different episodes")
            steps = sum(len(a) for a in expected)
            ratios["one"].append(one / floor)
            ratios["batch"].append(batch / floor)
            print(
                f"{name:8} round {round_}: {steps} steps; µs/step by hand "
                f"{1e6 * floor / steps:7.1f}, play one at a time {1e6 * one / steps:7.1f} "
                f"({one / floor:.2f}x), play {args.batch} at once {1e6 * batch / steps:7.1f} "
                f"({batch / floor:.2f}x)"
            )
        print(
            f"{name:8} median ratio to the hand-written loop: one at a time "
            f"{statistics.median(ratios['one']):.2f}x, {args.batch} at once "
            f"{statistics.median(ratios['batch']):.2f}x"
        )


if __name__ == "__main__":
    main()
