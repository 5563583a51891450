"""ALFWorld task generation: time per task and walkthrough length per task type.

Run: ``python benchmarks/alfworld_generation.py [--per-type 10] [--split train]``. Every
task is generated into an empty temporary folder (the cold path of a new user's cache), in
this one process. Prints the time per task (median, p95, max) and the walkthrough length
distribution per type. With ``--expert``, ALFWorld's hand-coded expert (the source of the
official games' expert demonstrations) also plays every generated game, up to 100 steps, and
its lengths are printed beside the shortest plans'.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from palaestra.envs.alfworld import TASK_TYPES, generate_task
from palaestra.envs.alfworld.engine import start_engine


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def expert_length(game: Path, limit: int = 100) -> int | None:
    """Commands ALFWorld's hand-coded expert needs to win ``game`` (``None``: not in ``limit``)."""
    engine = start_engine(game, expert=True)
    try:
        state = engine.reset()
        for step in range(limit):
            if state["won"]:
                return step
            plan = state["extra.expert_plan"]
            if not plan:
                return None
            state, _, _ = engine.step(plan[0])
        return limit if state["won"] else None
    except Exception:  # the expert gives up on some households
        return None
    finally:
        engine.close()


def summary(name: str, values: list[int]) -> str:
    if not values:
        return f"  {name:32s} {'-':>4s}"
    return (
        f"  {name:32s} {min(values):4d} {statistics.median(values):6.1f} "
        f"{statistics.mean(values):5.1f} {max(values):4d}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--per-type", type=int, default=10)
    parser.add_argument("--split", default="train", choices=["train", "unseen"])
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--expert", action="store_true", help="also play the hand-coded expert")
    args = parser.parse_args()

    times: list[float] = []
    lengths: dict[str, list[int]] = {t: [] for t in TASK_TYPES}
    expert: dict[str, list[int]] = {t: [] for t in TASK_TYPES}
    expert_failed = 0
    with tempfile.TemporaryDirectory() as scratch:
        for task_type in TASK_TYPES:
            for seed in range(args.first_seed, args.first_seed + args.per_type):
                start = time.perf_counter()
                task = generate_task(
                    task_type, args.split, seed, Path(scratch) / f"{task_type}-{seed}"
                )
                times.append(time.perf_counter() - start)
                lengths[task_type].append(len(task.walkthrough))
                line = (
                    f"{task_type:32s} seed {seed:3d}  {times[-1]:5.2f} s  "
                    f"{len(task.walkthrough):2d} commands  scene {task.scene}"
                )
                if args.expert:
                    steps = expert_length(task.game_file)
                    if steps is None:
                        expert_failed += 1
                    else:
                        expert[task_type].append(steps)
                    line += f"  expert {steps}"
                print(line, flush=True)

    print(f"\n{len(times)} tasks, split {args.split}: generation time per task")
    print(
        f"  median {statistics.median(times):.2f} s   p95 {percentile(times, 0.95):.2f} s   "
        f"max {max(times):.2f} s   total {sum(times):.0f} s"
    )
    print("\nwalkthrough length (commands): shortest plans")
    print(f"  {'task type':32s} {'min':>4s} {'median':>6s} {'mean':>5s} {'max':>4s}")
    for task_type, values in lengths.items():
        print(summary(task_type, values))
    print(summary("all", [v for values in lengths.values() for v in values]))
    if args.expert:
        print("\nALFWorld's hand-coded expert on the same games (up to 100 steps)")
        for task_type, values in expert.items():
            print(summary(task_type, values))
        print(summary("all", [v for values in expert.values() for v in values]))
        print(f"  not won within 100 steps: {expert_failed}")


if __name__ == "__main__":
    main()
