"""ALFWorld: reset and step latency of palaestra's engines against ALFWorld's own AlfredTWEnv.

Run: ``python benchmarks/alfworld_step.py [--per-type 2] [--steps 30]``. All three play the
same generated game folders (in ALFWorld's ``json_2.1.1`` layout) in this one process,
interleaved game by game: ALFWorld's ``AlfredTWEnv``, palaestra's env on its fast engine
(the default) and on the PDDL engine (ALFWorld's stack). Each plays the same ``--steps``
admissible commands from the reset (drawn once per game, up to the end of the episode).
Households are grouped by size (receptacles in the room).

Resets: AlfredTWEnv loads and translates its game at every reset. palaestra's are timed
cold (a new env, empty caches: translated and compiled, the first episode of a game ever),
warm from disk (a new env in a process that has the game only in its cache folder) and warm
(the env's game again, as in a GRPO group).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from palaestra.envs.alfworld import (
    TASK_TYPES,
    ALFWorldEnv,
    fast_engine,
    generated_game,
    translation,
)


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


def timed(call: Any) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def forget_in_memory() -> None:
    """Drop this process's compiled games and translations (the disk caches stay)."""
    translation._memory.clear()
    fast_engine._games.clear()


def commands_for(game: Path, steps: int) -> list[str]:
    """``steps`` admissible commands drawn on the fast engine (seeded by the game)."""
    env = ALFWorldEnv(data_path=game.parent)
    env.files = [game]
    _, info = env.reset(seed=0)
    rng, commands = random.Random(str(game)), []
    for _ in range(steps):
        commands.append(rng.choice(info["available_actions"]))
        _, _, terminated, _, info = env.step(commands[-1])
        if terminated:
            break
    env.close()
    return commands


def play_ours(env: ALFWorldEnv, commands: list[str]) -> dict[str, float]:
    reset = timed(lambda: env.reset(seed=0))
    steps = timed(lambda: [env.step(c) for c in commands])
    return {"reset": reset, "step": steps / len(commands)}


def env_on(game: Path, engine: str) -> ALFWorldEnv:
    env = ALFWorldEnv(data_path=game.parents[2], engine=engine)
    env.files = [game]
    return env


def cold_and_disk(game: Path, engine: str, cache: Path) -> dict[str, float]:
    """First resets of new envs: from an empty cache folder, then from the disk cache only."""
    previous = os.environ.get("PALAESTRA_CACHE_DIR")
    os.environ["PALAESTRA_CACHE_DIR"] = str(cache)
    try:
        forget_in_memory()
        env = env_on(game, engine)
        cold = timed(lambda: env.reset(seed=0))
        env.close()
        forget_in_memory()
        env = env_on(game, engine)
        disk = timed(lambda: env.reset(seed=0))
        env.close()
    finally:
        if previous is None:
            os.environ.pop("PALAESTRA_CACHE_DIR")
        else:
            os.environ["PALAESTRA_CACHE_DIR"] = previous
    return {"cold": cold, "disk": disk}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--per-type", type=int, default=2, help="games per task type")
    parser.add_argument("--steps", type=int, default=30, help="random commands per game")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        games = layout(Path(scratch), args.per_type)
        data = Path(scratch) / "json_2.1.1"
        theirs = alfred_env(data)
        rows: dict[str, list[dict[str, float]]] = {}
        for index in range(len(games)):
            # AlfredTWEnv walks its game list in its own order: each engine plays its game.
            start = time.perf_counter()
            _, infos = theirs.reset()
            row = {"theirs reset": time.perf_counter() - start}
            game = Path(infos["extra.gamefile"][0])
            commands = commands_for(game, args.steps)
            start = time.perf_counter()
            for command in commands:
                theirs.step([command])
            row["theirs step"] = (time.perf_counter() - start) / len(commands)
            for engine in ("fast", "pddl"):
                cache = Path(scratch) / "cold" / engine / str(index)
                row.update(
                    {f"{engine} {k}": v for k, v in cold_and_disk(game, engine, cache).items()}
                )
                env = env_on(game, engine)
                env.reset(seed=0)  # the game in the engine: the reset below is a warm one
                row.update({f"{engine} {k}": v for k, v in play_ours(env, commands).items()})
                env.close()
            size = receptacles(game)
            group = "small (< 20 receptacles)" if size < 20 else "large (>= 20 receptacles)"
            rows.setdefault(group, []).append(row)
        theirs.close()

    def mean(values: list[dict[str, float]], key: str) -> float:
        return statistics.mean(v[key] for v in values)

    print("Resets (ms): AlfredTWEnv; palaestra fast engine cold / warm from disk / warm; "
          "palaestra pddl engine cold / warm")  # fmt: skip
    print(f"{'households':<26} {'games':>5} {'ALFWorld':>9} {'cold':>7} {'disk':>7} {'warm':>7} "
          f"{'pddl cold':>10} {'pddl warm':>10}")  # fmt: skip
    for group, values in sorted(rows.items()):
        print(
            f"{group:<26} {len(values):>5} {mean(values, 'theirs reset') * 1e3:>9.0f} "
            f"{mean(values, 'fast cold') * 1e3:>7.0f} {mean(values, 'fast disk') * 1e3:>7.1f} "
            f"{mean(values, 'fast reset') * 1e3:>7.1f} {mean(values, 'pddl cold') * 1e3:>10.0f} "
            f"{mean(values, 'pddl reset') * 1e3:>10.0f}"
        )
    print("\nSteps: ms per step and steps per second; ratio = fast steps/s over AlfredTWEnv's")
    print(f"{'households':<26} {'ALFWorld':>9} {'pddl':>9} {'fast':>9} {'ALFWorld/s':>11} "
          f"{'fast/s':>9} {'ratio':>7}")  # fmt: skip
    for group, values in sorted(rows.items()):
        theirs_step, ours, pddl = (
            mean(values, k) for k in ("theirs step", "fast step", "pddl step")
        )
        print(
            f"{group:<26} {theirs_step * 1e3:>9.1f} {pddl * 1e3:>9.1f} {ours * 1e3:>9.2f} "
            f"{1 / theirs_step:>11.0f} {1 / ours:>9.0f} {theirs_step / ours:>7.1f}"
        )


if __name__ == "__main__":
    main()
