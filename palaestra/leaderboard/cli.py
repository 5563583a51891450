"""``palaestra leaderboard ...``: run a server and manage its submitters' tokens."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Literal

import tyro
from rich.console import Console
from tyro.extras import SubcommandApp

app = SubcommandApp()
console = Console()


@app.command
def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    db: str = "leaderboard.db",
    suite: list[str] | None = None,
    max_body_mb: float = 32.0,
    rate_limit: int = 30,
) -> None:
    """Run the leaderboard server: JSON API, replay verification and the web page.

    Args:
        host: Address to listen on (0.0.0.0 for every interface).
        port: Port.
        db: A SQLite file path, or a database URL (postgresql+psycopg://user:pw@host/db).
        suite: Suites accepted: shipped ids or suite files (all shipped suites by default).
        max_body_mb: Largest results file accepted, in MiB.
        rate_limit: Requests (submissions, challenges) per token per minute.
    """
    from palaestra.leaderboard.server import ServerConfig
    from palaestra.leaderboard.server import serve as run_server
    from palaestra.leaderboard.suites import load_suite

    config = ServerConfig(
        db=db,
        suites=[load_suite(s) for s in suite or []],
        max_body_bytes=int(max_body_mb * 1024 * 1024),
        rate_limit=rate_limit,
    )
    console.print(f"leaderboard on http://{host}:{port} (API docs at /docs), database {db}")
    run_server(config, host=host, port=port)


@app.command
def token(
    action: Annotated[Literal["create", "revoke"], tyro.conf.Positional],
    name: str,
    db: str = "leaderboard.db",
) -> None:
    """Create a submitter's token (printed on the last line, stored only hashed) or revoke it.

    Args:
        action: create or revoke.
        name: The submitter's name (unique).
        db: A SQLite file path, or a database URL.
    """
    from palaestra.leaderboard.db import open_database
    from palaestra.leaderboard.store import create_token, revoke_token

    engine, sessions = open_database(db)
    try:
        if action == "create":
            secret = create_token(sessions, name)
            console.print(f"token for {name} (shown once; the server keeps only its hash):")
            print(secret)
        else:
            revoke_token(sessions, name)
            console.print(f"token of {name} revoked")
    finally:
        engine.dispose()


@app.command
def evaluate(
    agent: str,
    server: str,
    live: bool = False,
    token: str | None = None,
    suite: str = "palaestra-v1",
    tasks: str | None = None,
    name: str | None = None,
    out: Path = Path("results.json"),
    progress: bool = True,
) -> None:
    """Evaluate an agent for a leaderboard server: live, or on hidden seeds and submitted.

    With --live the episodes are played through the server (the live tier): it draws the
    seeds and holds the envs, and every action is committed as it arrives. Running the same
    command again after a cut-off resumes the session. Without --live, the agent plays a
    challenge's hidden seeds here and the results file is submitted and replayed (the
    replayed tier).

    Args:
        agent: Agent spec (as for `palaestra run`); the oracle cannot play live.
        server: The leaderboard server's URL.
        live: Play through the server instead of submitting a results file.
        token: Submitter token (default: $PALAESTRA_TOKEN).
        suite: Suite id, or a suite file (.json).
        tasks: Comma-separated env families to play (all by default).
        name: Display name of the agent (default: the spec).
        out: Results file (without --live).
        progress: Show a progress bar.
    """
    import os

    from palaestra.errors import InvalidArgumentError

    token = token or os.environ.get("PALAESTRA_TOKEN")
    if not token:
        raise InvalidArgumentError("give a submitter token: --token T or $PALAESTRA_TOKEN")
    families = [f.strip() for f in tasks.split(",") if f.strip()] if tasks else None
    if not live:
        from palaestra import cli

        cli.evaluate(agent=agent, suite=suite, out=out, tasks=tasks, name=name,
                     server=server, token=token, progress=progress)  # fmt: skip
        cli.submit(out, server=server, token=token)
        return
    from palaestra.leaderboard.live_client import evaluate_live
    from palaestra.leaderboard.suites import load_suite
    from palaestra.rollout import summarize_episodes

    suite_id = load_suite(suite).id if Path(suite).is_file() else suite
    run = evaluate_live(
        agent, server, token, suite_id, name=name, families=families, progress=progress
    )
    figures = summarize_episodes(run.records)
    console.print(
        f"live session {run.session} {run.status}"
        f"{' (resumed)' if run.resumed else ''}: {len(run.records)} episodes played here, "
        f"success {figures.get('success_rate', 0.0):.2f}, return {figures.get('return', 0.0):.2f}"
    )
    if run.diverged:
        console.print(
            f"note: {run.diverged} re-run actions differed from the committed ones; "
            "the committed actions stand"
        )
    console.print(f"the live table: {server.rstrip('/')}/?suite={suite_id}")


def main(argv: Sequence[str]) -> None:
    """Run ``palaestra leaderboard ARGV``."""
    from palaestra.optional import require

    for module in ("fastapi", "sqlalchemy", "alembic", "uvicorn"):
        require(module, "leaderboard", "the leaderboard server")
    app.cli(prog="palaestra leaderboard", args=list(argv), sort_subcommands=False)
