"""The leaderboard server: a FastAPI app with a JSON API and the web page.

Submitting takes a token (``Authorization: Bearer TOKEN``, created by
``palaestra leaderboard token create``). A submission passes the cheap checks (size, schema,
suite hash, challenge, episode set) before the server answers, is stored as pending, and is
then re-played episode by episode in the background (:mod:`palaestra.leaderboard.verifier`);
it reaches the table only when every claimed reward and success replays exactly.

Hidden seeds: ``POST /api/challenges`` hands a token a fresh set of seeds derived from the
server's secret; a results file played on them (``palaestra leaderboard evaluate --server``) and
verified gets the *hidden seeds* badge. A file played on the public development seeds is
replayed just the same but is marked as such.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from palaestra.errors import InvalidArgumentError
from palaestra.leaderboard import store
from palaestra.leaderboard.auth import Auth, RateLimiter, refuse
from palaestra.leaderboard.body_limit import BodyLimit
from palaestra.leaderboard.db import (
    Submission,
    Token,
    database_url,
    open_database,
    utcnow,
)
from palaestra.leaderboard.harness import Mismatch, check_claims
from palaestra.leaderboard.live_api import add_live_routes
from palaestra.leaderboard.live_env import LiveEnvs
from palaestra.leaderboard.live_store import LiveLimits
from palaestra.leaderboard.openapi import (
    SUITE_LINKS,
    UtcDatetime,
    inlined,
    refusals,
    validation_problem,
)
from palaestra.leaderboard.schema import Results
from palaestra.leaderboard.suites import Suite, load_suite, shipped_suites
from palaestra.leaderboard.verifier import Verifier
from palaestra.leaderboard.web import SubmissionId

log = logging.getLogger("palaestra.leaderboard")

#: Environment variable holding the server secret the hidden seeds derive from.
SECRET_ENV = "PALAESTRA_LEADERBOARD_SECRET"


@dataclass
class ServerConfig:
    """How a leaderboard server runs.

    Attributes:
        db: Database URL, or a SQLite file path.
        suites: Suites accepted (all shipped suites by default).
        secret: Secret of the hidden seeds (default: ``$PALAESTRA_LEADERBOARD_SECRET``, or a
            ``<db>.secret`` file next to a SQLite database, created on first use).
        max_body_bytes: Largest results file accepted.
        max_request_bytes: Largest body of every other request (checked, like the
            results file's, before the body is parsed or the token looked at).
        rate_limit: Requests (submissions and challenges) per token per minute.
        auth_failures_per_minute: Failed authentications per client address per minute.
        challenge_lifetime: How long hidden seeds stay valid for a submission.
        open_challenges: Open challenges a token may hold per suite; asking for more hands
            out the newest open one again.
        body_seconds: Time a client has to send a whole request body.
        replay_cpu_seconds: CPU time one submission's replay may use, in its own process;
            a replay past it is rejected.
        storage_per_token_bytes: Bytes a token may keep stored: its results files
            (rejected ones keep only their verdict and hash, and do not count) and the
            steps of its live sessions.
        keep_alive_seconds: How long an idle connection is kept open (``serve``).
        limit_concurrency: Connections and requests served at once; more get 503 (``serve``).
        live_rate_limit: Live-play requests (a step each) per token per minute.
        live_idle: A live session with no step for this long is abandoned.
        live_lifetime: A live session this old is abandoned, however active.
        live_sessions_per_token: Live sessions a token may start on one suite.
        live_workers: Processes stepping the envs of live sessions.
        live_step_seconds: Time the env may take to answer one live step; past it the
            action is refused, not committed.
        verify: Replay submissions in a background thread (off only in tests that drive
            the verifier by hand).
    """

    db: str = "leaderboard.db"
    suites: list[Suite] = field(default_factory=list)
    secret: bytes | None = None
    max_body_bytes: int = 32 * 1024 * 1024
    max_request_bytes: int = 64 * 1024
    rate_limit: int = 30
    auth_failures_per_minute: int = 30
    challenge_lifetime: dt.timedelta = dt.timedelta(days=7)
    open_challenges: int = 1
    body_seconds: float = 60.0
    storage_per_token_bytes: int = 512 * 1024 * 1024
    replay_cpu_seconds: float = 900.0
    keep_alive_seconds: float = 5.0
    limit_concurrency: int = 256
    live_rate_limit: int = 12_000
    live_idle: dt.timedelta = dt.timedelta(hours=24)
    live_lifetime: dt.timedelta = dt.timedelta(days=7)
    live_sessions_per_token: int = 100
    live_workers: int = 2
    live_step_seconds: float = 60.0
    verify: bool = True


def server_secret(config: ServerConfig) -> bytes:
    """The hidden-seed secret: given, from the environment, or kept beside a SQLite file."""
    if config.secret:
        return config.secret
    if os.environ.get(SECRET_ENV):
        return os.environ[SECRET_ENV].encode()
    url = database_url(config.db)
    if not url.startswith("sqlite:///"):
        raise InvalidArgumentError(f"set {SECRET_ENV} for a server on {url.split(':')[0]}")
    path = Path(url.removeprefix("sqlite:///") + ".secret")
    if not path.exists():
        # O_EXCL: two servers started at once on the same file agree on one secret.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_hex(32))
        except FileExistsError:
            pass
    return path.read_text().strip().encode()


class ChallengeRequest(BaseModel):
    """Body of ``POST /api/challenges``."""

    suite: str = Field(max_length=100)


class ChallengeResponse(BaseModel):
    """Hidden seeds for one submission."""

    id: str
    suite: str
    suite_hash: str
    seeds: dict[str, list[int]]
    expires_at: UtcDatetime


#: Tiers of results files: played on a challenge's hidden seeds, or on the public ones.
REPLAYED, DEV = "replayed", "dev"


class SubmissionStatus(BaseModel):
    """Where a submission stands.

    ``tier`` is ``replayed`` (hidden seeds: the actions replay; who chose them is not
    checked) or ``dev`` (the public development seeds); ``rank`` is its place in its tier
    on the leaderboard.
    """

    id: int
    status: str
    reason: str
    agent: str
    submitter: str
    sha256: str
    challenges: int | None = None
    suite: str
    hidden_seeds: bool
    tier: str
    rank: int | None = None
    privileged: list[str]
    created_at: UtcDatetime
    finished_at: UtcDatetime | None
    summary: dict[str, Any] | None
    url: str


def create_app(config: ServerConfig) -> FastAPI:
    """The leaderboard app for ``config`` (database migrated, verifier started on startup)."""
    from palaestra.leaderboard.web import add_pages

    suites = {s.id: s for s in (config.suites or [load_suite(i) for i in shipped_suites()])}
    engine, sessions = open_database(config.db)
    secret = server_secret(config)
    per_token = RateLimiter(config.rate_limit)
    per_token_live = RateLimiter(config.live_rate_limit)
    per_address = RateLimiter(config.auth_failures_per_minute)
    live_envs = LiveEnvs(config.live_workers, config.live_step_seconds)

    def seeds_for(challenge: str | None, suite: Suite) -> dict[str, list[int]] | None:
        """A challenge's hidden seeds; ``None`` (the development seeds) without one."""
        if challenge is None:
            return None
        return store.challenge_seeds(suite, challenge, secret)

    verifier = Verifier(sessions, suites, seeds_for, cpu_seconds=config.replay_cpu_seconds)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if config.verify:
            verifier.start()
        yield
        verifier.stop()
        live_envs.close()
        engine.dispose()

    app = FastAPI(
        title="palaestra leaderboard",
        description="Verified results of LLM agents on palaestra's benchmark suites.",
        version="1",
        lifespan=lifespan,
    )
    app.add_middleware(
        BodyLimit,
        default=config.max_request_bytes,
        routes={"/api/submissions": config.max_body_bytes},
        seconds=config.body_seconds,
    )
    app.state.sessions, app.state.suites, app.state.verifier = sessions, suites, verifier
    app.state.config, app.state.per_token, app.state.per_address = config, per_token, per_address
    app.state.per_token_live, app.state.live_envs = per_token_live, live_envs

    def suite_or_404(suite_id: str) -> Suite:
        if suite_id not in suites:
            raise refuse(404, f"this server has no suite {suite_id!r}; it has {', '.join(suites)}")
        return suites[suite_id]

    @app.get("/api/health")
    def health() -> dict[str, Any]:
        """Liveness and the submission queue."""
        c = store.counts(sessions)
        return {"status": "ok", **dataclasses.asdict(c)}

    @app.get("/api/suites", responses={200: {"links": SUITE_LINKS}})
    def list_suites() -> list[dict[str, Any]]:
        """The suites this server accepts, with their hashes and tasks."""
        return [
            {
                "id": s.id,
                "hash": s.hash,
                "description": s.description,
                "tasks": [
                    {"name": t.name, "family": t.family, "env": t.env, "episodes": t.episodes}
                    for t in s.tasks
                ],
            }
            for s in suites.values()
        ]

    # 400: FastAPI refuses a body it cannot decode (not UTF-8) before validating it.
    @app.post("/api/challenges", status_code=201, responses=refusals(400, 401, 404, 408, 413, 429))
    def new_challenge(body: ChallengeRequest, token: Auth) -> ChallengeResponse:
        """Fresh hidden seeds for one submission on a suite."""
        suite = suite_or_404(body.suite)
        challenge, seeds = store.create_challenge(
            sessions, token, suite, secret, config.challenge_lifetime, config.open_challenges
        )
        return ChallengeResponse(
            id=challenge.id,
            suite=suite.id,
            suite_hash=suite.hash,
            seeds=seeds,
            expires_at=challenge.expires_at,
        )

    @app.post(
        "/api/submissions",
        status_code=202,
        responses=refusals(401, 404, 408, 409, 413, 422, 429),
        # The body is read raw (size-limited as it arrives, hashed as sent), so FastAPI
        # does not know its model: the document names it here.
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": inlined(Results.model_json_schema())}},
            }
        },
    )
    async def submit(request: Request, token: Auth) -> SubmissionStatus:
        """Submit a results file (the raw JSON of ``palaestra leaderboard evaluate --out``)."""
        body = await _read_limited(request, config.max_body_bytes)
        status = await run_in_threadpool(_accept, body, token)
        verifier.wake()
        return status

    def _accept(body: bytes, token: Token) -> SubmissionStatus:
        try:
            results = Results.model_validate_json(body)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first.get("loc", ()))
            raise refuse(422, f"not a results file: {where}: {first['msg']}"[:500]) from None
        suite = suite_or_404(results.suite)
        if results.challenge is not None:
            challenge = store.find_challenge(sessions, results.challenge)
            if challenge is None or challenge.token_id != token.id:
                raise refuse(422, "unknown challenge (ask this server for hidden seeds)")
            if challenge.expires_at < utcnow():
                raise refuse(422, "the challenge has expired; ask for new hidden seeds")
            if challenge.suite != suite.id:
                raise refuse(422, f"the challenge is for suite {challenge.suite}")
        try:
            check_claims(results, suite, seeds_for(results.challenge, suite))
        except Mismatch as exc:
            raise refuse(422, str(exc)) from None
        try:
            row = store.add_submission(
                sessions, token, results, body, quota=config.storage_per_token_bytes
            )
        except store.Duplicate as exc:
            raise refuse(409, str(exc)) from None
        except store.NameTaken as exc:
            raise refuse(409, str(exc)) from None
        except store.QuotaExceeded as exc:
            raise refuse(413, str(exc)) from None
        return _status(row.id)

    def _status(submission_id: int) -> SubmissionStatus:
        row = store.get_submission(sessions, submission_id)
        if row is None:
            raise refuse(404, f"no submission {submission_id}")
        return status_of(row)

    @app.get("/api/submissions/{submission_id}", responses=refusals(404))
    def submission(submission_id: SubmissionId) -> SubmissionStatus:
        """A submission's state, its reason when rejected, its aggregates when verified."""
        return _status(submission_id)

    def rows_of(suite_id: str) -> list[SubmissionStatus]:
        """The replayed tier (hidden seeds), then the dev-seed tier, each best first."""
        issued = store.challenges_issued(sessions, suite_id)
        rows = [
            status_of(row, issued.get(row.token_id, 0))
            for row in store.verified(sessions, suite_id)
        ]
        ranked = []
        for tier in (REPLAYED, DEV):
            in_tier = sorted((r for r in rows if r.tier == tier), key=_overall, reverse=True)
            ranked += [r.model_copy(update={"rank": k}) for k, r in enumerate(in_tier, 1)]
        return ranked

    @app.get("/api/leaderboard/{suite_id}", responses=refusals(404))
    def table(suite_id: str) -> list[SubmissionStatus]:
        """The verified results files on a suite: the replayed tier, then the dev-seed tier.

        Each tier is ranked on its own (``rank``), best overall success first; the live
        tier is ``/api/leaderboard/{suite_id}/live``.
        """
        suite_or_404(suite_id)
        return rows_of(suite_id)

    add_live_routes(
        app,
        sessions=sessions,
        suites=suites,
        secret=secret,
        envs=live_envs,
        limits=LiveLimits(
            idle=config.live_idle,
            lifetime=config.live_lifetime,
            sessions=config.live_sessions_per_token,
            quota=config.storage_per_token_bytes,
        ),
        suite_or_404=suite_or_404,
    )

    @app.exception_handler(InvalidArgumentError)
    async def _invalid(_: Request, exc: InvalidArgumentError) -> JSONResponse:
        return JSONResponse(status_code=422, content={"detail": str(exc)})

    @app.exception_handler(RequestValidationError)
    async def _malformed(_: Request, exc: RequestValidationError) -> JSONResponse:
        problem = validation_problem(list(exc.errors()))
        return JSONResponse(status_code=422, content=problem.model_dump())

    add_pages(app, status=_status, table=rows_of)
    return app


def status_of(row: Submission, challenges: int | None = None) -> SubmissionStatus:
    """The API view of a submission row.

    ``challenges`` is how many challenges its token was given on the suite, where counted.
    """
    summary = json.loads(row.summary) if row.summary else None
    return SubmissionStatus(
        id=row.id,
        status=row.status,
        reason=row.reason,
        agent=row.agent_name,
        submitter=row.token.name,
        sha256=row.content_sha256,
        challenges=challenges,
        suite=row.suite,
        hidden_seeds=row.challenge_id is not None,
        tier=REPLAYED if row.challenge_id is not None else DEV,
        privileged=(summary or {}).get("privileged", []),
        created_at=row.created_at,
        finished_at=row.finished_at,
        summary=summary,
        url=f"/submissions/{row.id}",
    )


def _overall(row: SubmissionStatus) -> float:
    overall = (row.summary or {}).get("overall") or {}
    return float(overall.get("mean", 0.0))


async def _read_limited(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it passes ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise refuse(413, f"the body is larger than {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise refuse(413, f"the body is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def serve(config: ServerConfig, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Run the server until interrupted."""
    import uvicorn

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    uvicorn.run(
        create_app(config),
        host=host,
        port=port,
        log_level="info",
        timeout_keep_alive=int(config.keep_alive_seconds),
        limit_concurrency=config.limit_concurrency,
    )
