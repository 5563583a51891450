"""The end of ``make demo``: score agents, submit them to a local server, show the table.

A leaderboard server runs in this process on a SQLite file; the reference agents trained by
the demo play hidden seeds the server hands out, the scripted baselines play the public
development seeds, and every submission is replayed by the server before it is listed. One
baseline also plays a live session through the server (the live tier).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from palaestra import reporting
from palaestra.leaderboard.client import request_challenge, submit
from palaestra.leaderboard.harness import evaluate
from palaestra.leaderboard.live_client import evaluate_live
from palaestra.leaderboard.served import free_port
from palaestra.leaderboard.suites import load_suite


@dataclass(frozen=True)
class Entry:
    """One agent of the demo table.

    Attributes:
        name: Display name.
        spec: Agent spec.
        families: The suite families it plays.
        hidden: Play hidden seeds from the server (else the development seeds).
        curve: A training run's ``metrics.jsonl`` to show as its learning curve.
        live: Play a live session through the server (with a token of its own: a live
            entry is a token's) instead of submitting a results file.
    """

    name: str
    spec: str
    families: tuple[str, ...]
    hidden: bool = False
    curve: Path | None = None
    live: bool = False


#: The scripted baselines: every family they can play without an LLM.
BASELINES = (
    Entry("random", "random", ("bandits", "math", "social", "search")),
    Entry("UCB1", "ucb", ("bandits",)),
    Entry("Thompson sampling", "thompson", ("bandits",)),
    Entry("Thompson sampling, live", "thompson", ("bandits",), live=True),
)


class LocalServer:
    """A leaderboard server on a loopback port, in a thread of this process."""

    def __init__(self, db: Path) -> None:
        import uvicorn

        from palaestra.leaderboard.server import ServerConfig, create_app

        self.app = create_app(ServerConfig(db=str(db)))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LocalServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        return self

    def __exit__(self, *_: Any) -> None:
        self.server.should_exit = True
        self.thread.join(30)


def leaderboard_demo(
    out: Path,
    entries: list[Entry],
    *,
    suite_id: str = "palaestra-v1",
    progress: bool = True,
    console: Console | None = None,
) -> list[dict[str, Any]]:
    """Evaluate ``entries``, submit them to a fresh local server, print its table.

    Returns:
        The server's table (``/api/leaderboard/<suite>``), best first.
    """
    import httpx

    from palaestra.leaderboard.schema import read_learning_curve
    from palaestra.leaderboard.store import create_token

    console = console or reporting.console
    suite = load_suite(suite_id)
    db = out / "leaderboard.db"
    for stale in out.glob("leaderboard.db*"):
        stale.unlink()  # the demo always starts from an empty board
    with LocalServer(db) as server:
        token = create_token(server.app.state.sessions, "palaestra demo")
        for entry in entries:
            if entry.live:
                own = create_token(server.app.state.sessions, f"palaestra demo: {entry.name}")
                run = evaluate_live(entry.spec, server.url, own, suite.id, name=entry.name,
                                    families=list(entry.families), progress=progress)  # fmt: skip
                console.print(f"{entry.name}: live session {run.session} {run.status}")
                continue
            challenge = request_challenge(server.url, token, suite.id) if entry.hidden else None
            path = out / "results" / f"{entry.spec.replace('/', '_').replace(':', '_')}.json"
            path.unlink(missing_ok=True)
            path.with_name(path.name + ".partial.jsonl").unlink(missing_ok=True)
            evaluate(
                entry.spec,
                suite,
                path,
                families=list(entry.families),
                name=entry.name,
                progress=progress,
                challenge=challenge,
                learning_curve=read_learning_curve(entry.curve) if entry.curve else None,
            )
            status = submit(path, server.url, token)
            console.print(f"{entry.name}: submission {status['id']} {status['status']}")
        rows: list[dict[str, Any]] = httpx.get(f"{server.url}/api/leaderboard/{suite.id}").json()
        live = httpx.get(f"{server.url}/api/leaderboard/{suite.id}/live").json()
    console.print(reporting.leaderboard_table([*live, *rows], suite.id))
    console.print(
        f"leaderboard database: {db}\n"
        f"see it in a browser: palaestra leaderboard serve --db {db}  "
        "then open http://127.0.0.1:8000"
    )
    return rows
