"""TextWorld: palaestra's environment against driving the TextWorld engine directly.

Run: ``python benchmarks/textworld_step.py``. Both sides play the same generated games
(walkthrough commands with a parser miss and a look in between, then reset) with the same
information requested from the engine (admissible commands, score, moves, won/lost,
objective, walkthrough), in this one process, interleaved, best of several rounds. Also
reported: time to the first observation of a new game with a cold cache (generate and
compile) and a warm one (load the cached file).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import gymnasium as gym

import palaestra  # noqa: F401 - registers the environments
from palaestra.envs.textworld import GameSpec, TextWorldEnv, game_path
from palaestra.envs.textworld.env import request_infos

CHALLENGES = {
    "simple": {},
    "coin_collector": {"level": 5},
    "treasure_hunter": {"level": 5},
    "cooking": {"recipe": 2, "take": 2, "go": 6, "open": True, "cook": True, "cut": True},
}


def script(walkthrough: list[str]) -> list[str]:
    """The commands each side plays per episode: the walkthrough plus two non-moves."""
    commands = []
    for k, command in enumerate(walkthrough):
        commands.append(command)
        if k == 1:
            commands += ["xyzzy", "look"]
    return commands


def engine_episodes(paths: list[Path], scripts: list[list[str]], episodes: int) -> int:
    """Play with ``textworld.start`` directly; return the number of steps."""
    import textworld

    infos = request_infos()  # the same request as palaestra's
    steps = 0
    for k in range(episodes):
        path, commands = paths[k % len(paths)], scripts[k % len(paths)]
        env = textworld.start(str(path), request_infos=infos)
        env.reset()
        for command in commands:
            _state, _, done = env.step(command)
            steps += 1
            if done:
                break
        env.close()
    return steps


def palaestra_episodes(env: gym.Env[str, str], scripts: list[list[str]], episodes: int) -> int:
    """Play through ``gym.make``; return the number of steps."""
    steps = 0
    for k in range(episodes):
        env.reset(seed=k % len(scripts))
        for command in scripts[k % len(scripts)]:
            _, _, terminated, truncated, _ = env.step(command)
            steps += 1
            if terminated or truncated:
                break
    return steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--episodes", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    print(f"{'challenge':<16} {'engine st/s':>12} {'palaestra st/s':>15} {'ratio':>7}")
    for challenge, settings in CHALLENGES.items():
        # The games a palaestra env with a pool of two plays for seeds 0 and 1, in order.
        env = gym.make("palaestra/TextWorld-v0", challenge=challenge, settings=settings)
        paths, scripts = [], []
        for seed in range(2):
            env.reset(seed=seed)
            game: TextWorldEnv = env.unwrapped  # type: ignore[assignment]
            assert game._game is not None
            paths.append(game._game)
            scripts.append(script(game._state.get("extra.walkthrough")))
        best = {"engine": float("inf"), "palaestra": float("inf")}
        for _ in range(args.rounds):
            start = time.perf_counter()
            steps = engine_episodes(paths, scripts, args.episodes)
            best["engine"] = min(best["engine"], (time.perf_counter() - start) / steps)
            start = time.perf_counter()
            steps = palaestra_episodes(env, scripts, args.episodes)
            best["palaestra"] = min(best["palaestra"], (time.perf_counter() - start) / steps)
        ratio = best["engine"] / best["palaestra"]
        print(
            f"{challenge:<16} {1 / best['engine']:>12.0f} {1 / best['palaestra']:>15.0f} "
            f"{ratio:>7.2f}"
        )

    print("\nTime to the first observation of a new game (cold: generate + compile; warm: load)")
    with tempfile.TemporaryDirectory() as cache:
        os.environ["PALAESTRA_CACHE_DIR"] = cache
        for challenge, settings in CHALLENGES.items():
            start = time.perf_counter()
            game_path(GameSpec(challenge, settings, seed=123))
            env = TextWorldEnv(challenge=challenge, settings=settings, pool_size=1, pool_seed=123)
            env.reset(seed=0)
            cold = time.perf_counter() - start
            env.close()
            start = time.perf_counter()
            env = TextWorldEnv(challenge=challenge, settings=settings, pool_size=1, pool_seed=123)
            env.reset(seed=0)
            warm = time.perf_counter() - start
            env.close()
            print(f"{challenge:<16} cold {cold:6.2f} s   warm {warm:6.3f} s")


if __name__ == "__main__":
    main()
