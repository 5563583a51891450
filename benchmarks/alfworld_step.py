"""ALFWorld: reset and step latency of palaestra's env against ALFWorld's own AlfredTWEnv.

Run: ``python benchmarks/alfworld_step.py``. Both play the same generated game folders (in
ALFWorld's ``json_2.1.1`` layout) by their stored walkthroughs, in this one process,
interleaved game by game. Households are grouped by size (receptacles in the room). A
profile of palaestra's resets and steps then shows where the time goes.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import json
import pstats
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from palaestra.envs.alfworld import TASK_TYPES, ALFWorldEnv, generated_game


def layout(root: Path, per_type: int) -> list[Path]:
    """Generated games copied into an ALFWorld ``json_2.1.1/train`` folder."""
    games = []
    for task_type in TASK_TYPES:
        for index in range(per_type):
            source = generated_game("train", task_type, index)
            target = root / "json_2.1.1" / "train" / f"{task_type}-{index}" / "trial_0"
            shutil.copytree(source.parent, target)
            games.append(target / "game.tw-pddl")
    return games


def receptacles(game: Path) -> int:
    problem = json.loads(game.read_text())["pddl_problem"]
    return sum(1 for line in problem.splitlines() if line.endswith(" - receptacle"))


def alfred_env(data: Path) -> Any:
    """ALFWorld's own text env (``AlfredTWEnv``), one game at a time."""
    with contextlib.redirect_stdout(io.StringIO()):
        from alfworld.agents.environment.alfred_tw_env import AlfredTWEnv

        config = {
            "dataset": {"data_path": str(data), "num_train_games": -1},
            "env": {
                "task_types": [1, 2, 3, 4, 5, 6],
                "goal_desc_human_anns_prob": 0,
                "domain_randomization": False,
                "expert_type": "handcoded",
            },
            "logic": {"domain": "", "grammar": ""},
            "general": {"training_method": "dqn"},
            "rl": {"training": {"max_nb_steps_per_episode": 50}},
        }
        return AlfredTWEnv(config, train_eval="train").init_env(batch_size=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--per-type", type=int, default=2, help="games per task type")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        games = layout(Path(scratch), args.per_type)
        walkthroughs = {str(g): json.loads(g.read_text())["walkthrough"] for g in games}
        theirs = alfred_env(Path(scratch) / "json_2.1.1")
        ours = ALFWorldEnv(data_path=Path(scratch) / "json_2.1.1")
        rows: dict[str, list[tuple[int, float, float, float, float]]] = {}
        profile = cProfile.Profile()
        for _ in games:
            # AlfredTWEnv walks its game list in its own order; palaestra plays the same game.
            start = time.perf_counter()
            _, infos = theirs.reset()
            their_reset = time.perf_counter() - start
            game = Path(infos["extra.gamefile"][0])
            commands = walkthroughs[str(game)]
            start = time.perf_counter()
            for command in commands:
                theirs.step([command])
            their_step = (time.perf_counter() - start) / len(commands)

            ours.files = [game]
            start = time.perf_counter()
            ours.reset(seed=0)
            our_reset = time.perf_counter() - start
            start = time.perf_counter()
            for command in commands:
                ours.step(command)
            our_step = (time.perf_counter() - start) / len(commands)
            # The same episode again under the profiler (not timed: profiling slows it).
            profile.enable()
            ours.reset(seed=0)
            for command in commands:
                ours.step(command)
            profile.disable()
            size = receptacles(game)
            group = "small (< 20 receptacles)" if size < 20 else "large (>= 20 receptacles)"
            rows.setdefault(group, []).append((size, their_reset, our_reset, their_step, our_step))
        theirs.close()
        ours.close()

    print(f"{'households':<26} {'games':>5} {'reset ALFWorld':>15} {'reset palaestra':>16} "
          f"{'step ALFWorld':>14} {'step palaestra':>15} {'step ratio':>10}")  # fmt: skip
    for group, values in sorted(rows.items()):
        mean = [statistics.mean(v[k] for v in values) for k in range(5)]
        print(
            f"{group:<26} {len(values):>5} {mean[1] * 1000:>12.0f} ms {mean[2] * 1000:>13.0f} ms "
            f"{mean[3] * 1000:>11.1f} ms {mean[4] * 1000:>12.1f} ms {mean[3] / mean[4]:>10.2f}"
        )
    print("\nWhere palaestra's time goes (resets and steps above, cumulative):")
    stream = io.StringIO()
    pstats.Stats(profile, stream=stream).sort_stats("cumulative").print_stats(14)
    print("\n".join(stream.getvalue().splitlines()[6:]))


if __name__ == "__main__":
    main()
