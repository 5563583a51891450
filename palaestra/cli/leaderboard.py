"""``palaestra leaderboard ...``: score agents on suites, check and submit results, run a server.

``evaluate``, ``verify`` and ``submit`` need no server stack (a client talks to a server with
httpx); ``serve`` and ``token`` check for the ``leaderboard`` extra first.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import tyro

from palaestra.cli.command import Command, subcommands
from palaestra.errors import InvalidArgumentError
from palaestra.reporting import console, evaluation_table, live_summary

Results = Annotated[Path, tyro.conf.Positional, tyro.conf.arg(metavar="RESULTS")]


@dataclass(frozen=True)
class Evaluate:
    """Score an agent on a benchmark suite: development seeds, hidden seeds, or live.

    Without --server the agent plays the suite's public development seeds here (resumable:
    an interrupted run started again skips finished episodes). With --server it plays the
    hidden seeds of a challenge the server hands out, then submits the results file and
    waits for the replay (--no-submit keeps the file here). With --live the episodes are
    played through the server (the live tier): it draws the seeds and holds the envs, every
    action is committed as it arrives, and running the command again after a cut-off
    resumes the session.

    Attributes:
        agent: Agent spec (as for `palaestra run`); the oracle cannot play live.
        suite: Suite id, or a suite file (.json).
        out: Results file (JSON; not with --live).
        tasks: Comma-separated env families to run (all by default), e.g. bandits,social.
        name: Display name of the agent (default: the spec).
        workers: Episodes played at once in separate processes (scripted and HTTP agents).
        rollout_workers: Ray actors holding the environments, as in training (0: none; not
            with --workers); an hf: model generates for a wave of episodes at once. The
            results are the same. Needs palaestra[distributed].
        ray_address: The Ray cluster to join (default: $RAY_ADDRESS, else a local cluster
            started for the run); needs --rollout-workers.
        server: Leaderboard server to play for (needs a token).
        live: Play through the server instead of writing a results file
            (--out, --workers, --rollout-workers and --curve do not apply).
        submit: With --server, submit the results file when every episode is played.
        token: Submitter token (default: $PALAESTRA_TOKEN).
        curve: A training run's metrics.jsonl, shown as the learning curve.
        curve_metric: The metrics.jsonl column of the learning curve.
        progress: Show a progress bar.
    """

    agent: str = "random"
    suite: str = "palaestra-v1"
    out: Path = Path("results.json")
    tasks: str | None = None
    name: str | None = None
    workers: int = 1
    rollout_workers: int = 0
    ray_address: str | None = None
    server: str | None = None
    live: bool = False
    submit: bool = True
    token: str | None = None
    curve: Path | None = None
    curve_metric: str = "return"
    progress: bool = True

    def execute(self) -> None:
        """Play live, or play and write the results file (then submit it, for a server)."""
        families = [f.strip() for f in self.tasks.split(",") if f.strip()] if self.tasks else None
        if self.live:
            self._live(families)
            return
        from palaestra.leaderboard import evaluate, load_suite
        from palaestra.leaderboard.client import request_challenge
        from palaestra.leaderboard.harness import interrupted_challenge
        from palaestra.leaderboard.schema import read_learning_curve

        suite = load_suite(self.suite)
        challenge = None
        if self.server:
            token = _token(self.token)
            challenge = interrupted_challenge(self.out, self.agent, suite)
            if challenge is None:
                challenge = request_challenge(self.server, token, suite.id)
            console.print(f"playing hidden seeds of challenge {challenge.id} from {self.server}")
        curve = read_learning_curve(self.curve, self.curve_metric) if self.curve else None
        results = evaluate(
            self.agent,
            suite,
            self.out,
            families=families,
            name=self.name,
            workers=self.workers,
            rollout_workers=self.rollout_workers,
            ray_address=self.ray_address,
            progress=self.progress,
            challenge=challenge,
            learning_curve=curve,
        )
        console.print(evaluation_table(results, self.suite))
        console.print(f"results written to {self.out}")
        if self.server and self.submit:
            Submit(self.out, server=self.server, token=self.token).execute()

    def _live(self, families: list[str] | None) -> None:
        from palaestra.leaderboard.live_client import evaluate_live
        from palaestra.leaderboard.suites import load_suite

        if not self.server:
            raise InvalidArgumentError("--live plays through a leaderboard server: give --server")
        if self.rollout_workers or self.ray_address:
            raise InvalidArgumentError(
                "--live plays on the server's environments: leave out --rollout-workers and "
                "--ray-address"
            )
        suite_id = load_suite(self.suite).id if Path(self.suite).is_file() else self.suite
        run = evaluate_live(
            self.agent,
            self.server,
            _token(self.token),
            suite_id,
            name=self.name,
            families=families,
            progress=self.progress,
        )
        console.print(live_summary(run))
        if run.diverged:
            console.print(
                f"note: {run.diverged} re-run actions differed from the committed ones; "
                "the committed actions stand"
            )
        console.print(f"the live table: {self.server.rstrip('/')}/?suite={suite_id}")


@dataclass(frozen=True)
class Verify:
    """Replay every episode of a results file and check its claims (as the server does).

    Attributes:
        results: A results file from `palaestra leaderboard evaluate`.
        suite: Suite id (default: the one the file names).
    """

    results: Results
    suite: str | None = None

    def execute(self) -> None:
        """Replay; a claim that does not replay is an error."""
        from palaestra.leaderboard import load_results, load_suite, verify

        loaded = load_results(self.results)
        verify(loaded, load_suite(self.suite or loaded.suite))
        console.print(f"verified: {len(loaded.episodes)} episodes replay as claimed")


@dataclass(frozen=True)
class Submit:
    """Submit a results file to a leaderboard server and wait for its replay verdict.

    Attributes:
        results: A results file from `palaestra leaderboard evaluate`.
        server: The server's URL.
        token: Submitter token (default: $PALAESTRA_TOKEN).
        wait: Wait until the server has replayed every episode.
    """

    results: Results
    server: str = "http://127.0.0.1:8000"
    token: str | None = None
    wait: bool = True

    def execute(self) -> None:
        """Send the file; a refusal or a rejected replay is an error."""
        from palaestra.leaderboard.client import submit

        status = submit(self.results, self.server, _token(self.token), wait=self.wait)
        console.print(f"submission {status['id']} {status['status']}: {status['url']}")


@dataclass(frozen=True)
class Serve:
    """Run the leaderboard server: JSON API, replay verification and the web page.

    Attributes:
        host: Address to listen on (0.0.0.0 for every interface).
        port: Port.
        db: A SQLite file path, or a database URL (postgresql+psycopg://user:pw@host/db).
        suite: Suites accepted: shipped ids or suite files (all shipped suites by default).
        max_body_mb: Largest results file accepted, in MiB.
        rate_limit: Requests (submissions, challenges) per token per minute.
    """

    host: str = "127.0.0.1"
    port: int = 8000
    db: str = "leaderboard.db"
    suite: list[str] | None = None
    max_body_mb: float = 32.0
    rate_limit: int = 30

    def execute(self) -> None:
        """Serve until interrupted."""
        _require("palaestra leaderboard serve", "fastapi", "sqlalchemy", "alembic", "uvicorn")
        from palaestra.leaderboard.server import ServerConfig, serve
        from palaestra.leaderboard.suites import load_suite

        config = ServerConfig(
            db=self.db,
            suites=[load_suite(s) for s in self.suite or []],
            max_body_bytes=int(self.max_body_mb * 1024 * 1024),
            rate_limit=self.rate_limit,
        )
        console.print(
            f"leaderboard on http://{self.host}:{self.port} (API docs at /docs), database {self.db}"
        )
        serve(config, host=self.host, port=self.port)


@dataclass(frozen=True)
class Token:
    """Create a submitter's token (printed on the last line, stored only hashed) or revoke it.

    Attributes:
        action: create or revoke.
        name: The submitter's name (unique).
        db: A SQLite file path, or a database URL.
    """

    action: Annotated[Literal["create", "revoke"], tyro.conf.Positional]
    name: str
    db: str = "leaderboard.db"

    def execute(self) -> None:
        """Create or revoke; the new token is the last line printed."""
        _require("palaestra leaderboard token", "sqlalchemy", "alembic")
        from palaestra.leaderboard.db import open_database
        from palaestra.leaderboard.store import create_token, revoke_token

        engine, sessions = open_database(self.db)
        try:
            if self.action == "create":
                secret = create_token(sessions, self.name)
                console.print(
                    f"token for {self.name} (shown once; the server keeps only its hash):"
                )
                print(secret)  # plain, unwrapped: scripts read the last line
            else:
                revoke_token(sessions, self.name)
                console.print(f"token of {self.name} revoked")
        finally:
            engine.dispose()


#: The leaderboard commands by name.
LEADERBOARD_COMMANDS: dict[str, type[Command]] = {
    "evaluate": Evaluate,
    "verify": Verify,
    "submit": Submit,
    "serve": Serve,
    "token": Token,
}


def _leaderboard_commands() -> object:
    return subcommands(LEADERBOARD_COMMANDS)


@dataclass(frozen=True)
class Leaderboard:
    """Score agents on suites, check and submit results, run a leaderboard server.

    Attributes:
        command: The leaderboard command.
    """

    command: Annotated[Command, tyro.conf.arg(name="", constructor_factory=_leaderboard_commands)]

    def execute(self) -> None:
        """Run the chosen leaderboard command."""
        self.command.execute()


def _token(token: str | None) -> str:
    token = token or os.environ.get("PALAESTRA_TOKEN")
    if not token:
        raise InvalidArgumentError("give a submitter token: --token T or $PALAESTRA_TOKEN")
    return token


def _require(who: str, *modules: str) -> None:
    """Fail, naming the ``leaderboard`` extra, when one of the server's packages is missing."""
    from palaestra.optional import require

    for module in modules:
        require(module, "leaderboard", who)
