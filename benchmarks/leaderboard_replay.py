"""Replay verification cost per 1,000 episodes, by env family, against the env steps alone.

Run: ``python benchmarks/leaderboard_replay.py [--families bandits,math] [--max-episodes 5]``
``[--alfworld-engines fast,pddl]``.
The random agent plays each family's tasks of palaestra-v1 (at most ``--max-episodes`` per
task, fewer for TextWorld and ALFWorld); then, alternately and several rounds, the same
episodes are (a) stepped through the env with their recorded actions and nothing else, and
(b) replayed by
:func:`palaestra.leaderboard.replay`, which makes the env, steps it and checks every reward.
Both include ``gym.make`` and ``reset``. The best round of each is reported; the target is
a replay costing at most 10 % more than the steps. ALFWorld is measured on each engine of
``--alfworld-engines`` (the suite's tasks with ``engine=`` added; the episodes are the same).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import gymnasium as gym

import palaestra  # noqa: F401 - registers the environments
from palaestra.leaderboard import EpisodeResult, evaluate, load_suite, replay
from palaestra.leaderboard.suites import Suite, Task

#: Episodes per task of the families whose steps cost tens of milliseconds.
HEAVY = {"textworld": 4, "alfworld": 3}


def steps_only(episodes: list[EpisodeResult], suite: Suite) -> float:
    """Seconds to make, reset and step every episode's env with its actions."""
    start = time.perf_counter()
    for episode in episodes:
        task = suite.task(episode.task)
        env = gym.make(task.env, **task.kwargs)
        env.reset(seed=episode.seed)
        for action in episode.actions:
            env.step(action)
        env.close()
    return time.perf_counter() - start


def replays(episodes: list[EpisodeResult], suite: Suite) -> float:
    """Seconds for :func:`replay` of every episode."""
    start = time.perf_counter()
    for episode in episodes:
        replay(episode, suite.task(episode.task))
    return time.perf_counter() - start


def main() -> None:
    """Print per-family costs and the replay/steps ratio."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--families", default="bandits,math,social,search,textworld,alfworld")
    parser.add_argument("--max-episodes", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--alfworld-engines", default="fast,pddl")
    args = parser.parse_args()
    full = load_suite("palaestra-v1")
    print(f"{'family':<17} {'episodes':>8} {'steps':>7} {'steps/1k ep':>12} "
          f"{'replay/1k ep':>13} {'ratio':>6}")  # fmt: skip
    runs = [
        (family, engine)
        for family in args.families.split(",")
        for engine in (args.alfworld_engines.split(",") if family == "alfworld" else [""])
    ]
    for family, engine in runs:
        cap = min(args.max_episodes, HEAVY.get(family, args.max_episodes))
        extra = {"engine": engine} if engine else {}
        tasks = tuple(
            Task(t.name, t.family, t.env, min(t.episodes, cap), {**t.kwargs, **extra})
            for t in full.tasks
            if t.family == family
        )
        suite = Suite(full.id, full.description, tasks)
        with tempfile.TemporaryDirectory() as folder:
            results = evaluate("random", suite, Path(folder) / "r.json", progress=False)
        episodes = results.episodes
        steps_only(episodes, suite)  # warm caches (generated games, parsed grammars)
        plain, checked = [], []
        for _ in range(args.rounds):
            plain.append(steps_only(episodes, suite))
            checked.append(replays(episodes, suite))
        n, steps = len(episodes), sum(len(e.actions) for e in episodes)
        per_k = 1000 / n
        label = f"{family} ({engine})" if engine else family
        print(f"{label:<17} {n:>8} {steps:>7} {min(plain) * per_k:>10.1f} s "
              f"{min(checked) * per_k:>11.1f} s {min(checked) / min(plain):>6.3f}")  # fmt: skip


if __name__ == "__main__":
    main()
