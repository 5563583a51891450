"""Joint steps per second of the social dilemmas (all agents acting each step).

Run: ``python benchmarks/social_step.py``. Each game plays fixed valid moves through the
PettingZoo parallel API (resetting at the end of every game), best of several rounds, and
through the Gymnasium single-agent view against tit-for-tat.
"""

from __future__ import annotations

import argparse
import time

import gymnasium as gym

import palaestra  # noqa: F401 - registers the environments
from palaestra.envs.social import MatrixGameParallelEnv

MOVES = {
    "prisoners_dilemma": ("cooperate", "defect"),
    "stag_hunt": ("stag", "hare"),
    "chicken": ("swerve", "straight"),
    "public_goods": ("10", "3"),
}
IDS = {
    "prisoners_dilemma": "palaestra/PrisonersDilemma-v0",
    "stag_hunt": "palaestra/StagHunt-v0",
    "chicken": "palaestra/Chicken-v0",
    "public_goods": "palaestra/PublicGoods-v0",
}


def parallel(game: str, steps: int) -> float:
    """Seconds for ``steps`` joint steps of the parallel env."""
    env = MatrixGameParallelEnv(game, horizon=100)
    env.reset(seed=0)
    moves = MOVES[game]
    start = time.perf_counter()
    for k in range(steps):
        if not env.agents:
            env.reset()
        env.step({a: moves[(k + i) % 2] for i, a in enumerate(env.agents)})
    return time.perf_counter() - start


def single(game: str, steps: int) -> float:
    """Seconds for ``steps`` steps of the Gymnasium view (opponents scripted)."""
    env = gym.make(IDS[game], horizon=100)
    env.reset(seed=0)
    moves = MOVES[game]
    start = time.perf_counter()
    for k in range(steps):
        _, _, terminated, truncated, _ = env.step(moves[k % 2])
        if terminated or truncated:
            env.reset()
    return time.perf_counter() - start


def grid(game: str, size: int, steps: int) -> float:
    """Seconds for ``steps`` joint steps of Gathering/Cleanup on a ``size`` x ``size`` map."""
    from palaestra.envs.social import GridGameParallelEnv

    inner = size - 2
    rows = ["#" * size]
    for r in range(inner):
        cells = ["@" if (r + c) % 3 == 0 else "." for c in range(inner)]
        if game == "cleanup":
            cells[:2] = ["~", "~"]
        if r in (0, inner - 1):
            cells[inner // 2] = "P"
        rows.append("#" + "".join(cells) + "#")
    rows.append("#" * size)
    env = GridGameParallelEnv(game, grid=rows, max_cycles=100)
    env.reset(seed=0)
    words = ("forward", "turn left", "right", "zap", "stay")
    start = time.perf_counter()
    for k in range(steps):
        if not env.agents:
            env.reset()
        env.step({a: words[(k + i) % len(words)] for i, a in enumerate(env.agents)})
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(f"{'game':<20} {'parallel joint st/s':>20} {'gymnasium view st/s':>20}")
    for game in MOVES:
        best_parallel = min(parallel(game, args.steps) for _ in range(args.rounds))
        best_single = min(single(game, args.steps) for _ in range(args.rounds))
        print(f"{game:<20} {args.steps / best_parallel:>20,.0f} {args.steps / best_single:>20,.0f}")
    grid_steps = args.steps // 10
    print(f"\n{'grid game':<12} {'map':>7} {'joint st/s':>12}")
    for game in ("gathering", "cleanup"):
        for size in (8, 16, 32):
            best = min(grid(game, size, grid_steps) for _ in range(args.rounds))
            print(f"{game:<12} {size:>3}x{size:<3} {grid_steps / best:>12,.0f}")


if __name__ == "__main__":
    main()
