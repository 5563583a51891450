"""``palaestra leaderboard ...``: run a server and manage its submitters' tokens."""

from __future__ import annotations

from collections.abc import Sequence
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


def main(argv: Sequence[str]) -> None:
    """Run ``palaestra leaderboard ARGV``."""
    from palaestra.optional import require

    for module in ("fastapi", "sqlalchemy", "alembic", "uvicorn"):
        require(module, "leaderboard", "the leaderboard server")
    app.cli(prog="palaestra leaderboard", args=list(argv), sort_subcommands=False)
