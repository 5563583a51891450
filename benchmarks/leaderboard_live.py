"""What playing live costs: a step through the leaderboard server against a local env step.

Run: ``python benchmarks/leaderboard_live.py [--rounds 3] [--families bandits,math]``. A
server (``palaestra leaderboard serve``, uvicorn, SQLite) runs in a subprocess on loopback;
each round plays one live session of the random agent on the chosen families of
``palaestra-v1`` (a new token per round: a token plays one entry), then the same number of
episodes of the same envs locally in this process. Reported per round: milliseconds per
step live (request, worker-process step, durable commit) and local, their ratio, and the
floor of the stack: a ``GET /api/health`` round trip.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import gymnasium as gym
import httpx

from palaestra.agents.factory import make_agent
from palaestra.leaderboard.db import open_database
from palaestra.leaderboard.live_client import evaluate_live
from palaestra.leaderboard.served import ServerProcess
from palaestra.leaderboard.store import create_token
from palaestra.leaderboard.suites import load_suite
from palaestra.rollout.loop import run_episode


def local_ms_per_step(families: list[str]) -> tuple[float, int]:
    """Milliseconds per step of the random agent on the families' tasks, played here."""
    suite = load_suite("palaestra-v1")
    steps, start = 0, time.perf_counter()
    for task in suite.select(families):
        env = gym.make(task.env, **task.kwargs)
        for k in range(task.episodes):
            steps += run_episode(env, make_agent("random", env, seed=k), seed=k).length
        env.close()
    return (time.perf_counter() - start) * 1e3 / steps, steps


def main() -> None:
    """Start a server, play live and locally, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--families", default="bandits,math")
    args = parser.parse_args()
    families = args.families.split(",")
    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "board.db"
        engine, sessions = open_database(str(db))
        tokens = [create_token(sessions, f"bench {k}") for k in range(args.rounds)]
        engine.dispose()
        server = ServerProcess(db, "palaestra-v1").start()
        url = server.url
        try:
            print(f"random agent on palaestra-v1 {args.families}, server in its own process")
            with httpx.Client(base_url=url) as client:
                start = time.perf_counter()
                for _ in range(200):
                    client.get("/api/health")
                floor = (time.perf_counter() - start) * 1e3 / 200
            print(f"GET /api/health: {floor:.2f} ms a round trip")
            for k, token in enumerate(tokens):
                start = time.perf_counter()
                run = evaluate_live("random", url, token, "palaestra-v1", name=f"bench {k}",
                                    families=families, progress=False)  # fmt: skip
                live_steps = sum(r.length for r in run.records)
                live = (time.perf_counter() - start) * 1e3 / live_steps
                local, steps = local_ms_per_step(families)
                print(f"round {k + 1}: live {live:6.2f} ms/step ({live_steps} steps, "
                      f"{run.status})   local {local:6.3f} ms/step ({steps} steps)   "
                      f"ratio {live / local:6.1f}x")  # fmt: skip
        finally:
            server.stop()


if __name__ == "__main__":
    main()
