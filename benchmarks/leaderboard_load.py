"""Submissions per second and latency of the leaderboard server under concurrent load.

Run: ``python benchmarks/leaderboard_load.py [--submissions 400] [--clients 32]``. A server
(``palaestra leaderboard serve``, uvicorn, SQLite in WAL mode) runs in a subprocess on
loopback; ``--clients`` threads post distinct results files (5 episodes each) until
``--submissions`` are accepted. Reported: accepted submissions per second, p50 and p99
latency of the accepting POST (parse, checks, durable insert), the same for a plain
``GET /api/health`` as the floor of the stack, and how long the background replays take to
verify them all.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np

from palaestra.leaderboard import Results, evaluate, parse_suite
from palaestra.leaderboard.db import open_database
from palaestra.leaderboard.served import ServerProcess
from palaestra.leaderboard.store import create_token

SUITE = {
    "id": "load-suite",
    "tasks": [
        {"name": "bandit", "family": "bandits", "env": "palaestra/Bandit-v0",
         "kwargs": {"horizon": 5}, "episodes": 3},
        {"name": "pd", "family": "social", "env": "palaestra/PrisonersDilemma-v0",
         "kwargs": {"horizon": 3}, "episodes": 2},
    ],
}  # fmt: skip


def timed(call: object, items: list[object], clients: int) -> tuple[float, np.ndarray, list[int]]:
    """Wall time, per-request latencies and status codes of ``call`` over ``items``."""

    def one(item: object) -> tuple[float, int]:
        start = time.perf_counter()
        code = call(item)  # type: ignore[operator]
        return time.perf_counter() - start, code

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        outcomes = list(pool.map(one, items))
    wall = time.perf_counter() - start
    return wall, np.array([t for t, _ in outcomes]), [c for _, c in outcomes]


def main() -> None:
    """Start a server, load it, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--submissions", type=int, default=400)
    parser.add_argument("--clients", type=int, default=32)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "suite.json").write_text(json.dumps(SUITE))
        db = root / "board.db"
        engine, sessions = open_database(str(db))
        token = create_token(sessions, "load")
        engine.dispose()
        base = evaluate("random", parse_suite(SUITE), root / "r.json", progress=False)
        bodies = []
        for k in range(args.submissions):
            copy = Results.model_validate(base.model_dump())
            copy.agent.name = f"load {k}"
            bodies.append(copy.model_dump_json().encode())
        server = ServerProcess(db, root / "suite.json", "--rate-limit", "1000000").start()
        url = server.url
        try:
            client = httpx.Client(
                base_url=url,
                headers={"Authorization": f"Bearer {token}"},
                limits=httpx.Limits(max_connections=args.clients),
                timeout=120,
            )
            health = [None] * args.submissions
            wall_h, lat_h, _ = timed(
                lambda _: client.get("/api/health").status_code, health, args.clients
            )
            wall, latency, codes = timed(
                lambda body: client.post("/api/submissions", content=body).status_code,
                bodies,
                args.clients,
            )
            accepted = codes.count(202)
            start = time.perf_counter()
            while client.get("/api/health").json()["pending"]:
                time.sleep(0.2)
            verify_wall = time.perf_counter() - start
            counts = client.get("/api/health").json()
        finally:
            server.stop()
    print(f"{args.submissions} submissions of 5 episodes from {args.clients} concurrent clients")
    print(f"accepted: {accepted}/{args.submissions} ({counts['verified']} verified)")
    print(f"submissions/s: {accepted / wall:8.1f}   p50 {np.percentile(latency, 50) * 1e3:6.1f} ms"
          f"   p99 {np.percentile(latency, 99) * 1e3:6.1f} ms")  # fmt: skip
    p50, p99 = np.percentile(lat_h, [50, 99]) * 1e3
    print(f"GET /api/health/s: {len(health) / wall_h:6.1f}   p50 {p50:6.1f} ms   p99 {p99:6.1f} ms")
    print(f"replay verification of the queue after the last POST: {verify_wall:.1f} s")


if __name__ == "__main__":
    main()
