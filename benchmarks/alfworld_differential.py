"""ALFWorld's fast engine against its PDDL engine on hundreds of games: every divergence.

Run: ``python benchmarks/alfworld_differential.py [--per-type 42] [--workers 2]``. For each
task type and split, ``--per-type`` generated games (504 by default) are played on both
engines with the same commands (:mod:`palaestra.envs.alfworld.differential`): the
walkthrough, six random commands then the oracle, and random commands mixed with invalid
ones and "put X in/on Y" aliases; then the engines themselves are fed padded, odd-cased
and invalid commands (``compare_engines``). One game in eight also compares ALFWorld's
hand-coded expert (and the facts it reads, in order). Every observation, reward, flag and
info is compared at every step, and a game the fast engine hands to the PDDL engine counts
as a divergence. Prints the
games, steps and divergences (each one in full), and the time each engine took. Exits with
status 1 if any divergence is found.
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ProcessPoolExecutor

from palaestra.envs.alfworld import TASK_TYPES, generated_game
from palaestra.envs.alfworld.differential import (
    DRIVERS,
    compare,
    compare_engines,
    env_on,
    raw_commands,
)

SPLITS = ("train", "unseen")


def check_game(job: tuple[str, str, int, int]) -> tuple[int, float, float, list[str]]:
    """Play one game with every driver: (steps, pddl seconds, fast seconds, divergences)."""
    split, task_type, index, steps = job
    game = generated_game(split, task_type, index)
    expert = index % 8 == 0
    envs = env_on(game, "pddl", expert=expert), env_on(game, "fast", expert=expert)
    timings = {"pddl": 0.0, "fast": 0.0}
    played, found = 0, []
    for seed, driver in enumerate(DRIVERS):
        divergence = compare(game, driver, steps=steps, seed=index * 10 + seed, envs=envs)
        if divergence is not None:
            found.append(str(divergence))
        played += len(envs[0].commands) + 1
    raw = raw_commands(game, steps, seed=index)
    divergence = compare_engines(game, raw, expert=expert)
    if divergence is not None:
        found.append(str(divergence))
    played += len(raw) + 1
    # Time each engine alone on the commands just played (the comparison interleaves them).
    for engine, env in zip(("pddl", "fast"), envs, strict=True):
        start = time.perf_counter()
        env.reset(seed=0)
        for command in envs[0].commands:
            env.step(command)
        timings[engine] = time.perf_counter() - start
    for env in envs:
        env.close()
    return played, timings["pddl"], timings["fast"], found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--per-type", type=int, default=42, help="games per task type and split")
    parser.add_argument("--steps", type=int, default=40, help="commands per sequence at most")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--first-index", type=int, default=0, help="skip the games before it")
    args = parser.parse_args()
    jobs = [
        (split, task_type, index, args.steps)
        for index in range(args.first_index, args.per_type)
        for split in SPLITS
        for task_type in TASK_TYPES
    ]
    start = time.perf_counter()
    steps, pddl, fast, divergences = 0, 0.0, 0.0, []
    with ProcessPoolExecutor(args.workers) as pool:
        for done, (played, a, b, found) in enumerate(pool.map(check_game, jobs), 1):
            steps, pddl, fast = steps + played, pddl + a, fast + b
            divergences.extend(found)
            for text in found:
                print(text, flush=True)
            if done % 50 == 0 or done == len(jobs):
                print(f"{done}/{len(jobs)} games, {steps} steps, {len(divergences)} "
                      f"divergences, {time.perf_counter() - start:.0f} s", flush=True)  # fmt: skip
    print(f"\ngames {len(jobs)} (indices {args.first_index}-{args.per_type - 1} of each task type "
          f"and split), steps compared "
          f"{steps} (resets included), divergences {len(divergences)}")  # fmt: skip
    print(f"last sequence replayed alone on each engine: pddl {pddl:.1f} s, fast {fast:.2f} s "
          f"({pddl / fast:.0f}x)")  # fmt: skip
    sys.exit(1 if divergences else 0)


if __name__ == "__main__":
    main()
