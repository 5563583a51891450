"""Live evaluation routes: a client plays a suite's episodes through the server.

The server draws the seeds (from its secret and the session id; they never leave it),
holds every env (:mod:`~palaestra.leaderboard.live_env`) and commits each action as it
arrives, so an episode is played once and what is scored is what the agent chose, seeing
only the observations. A client that loses its connection starts the session again (the
token's open session is returned) and reads each episode's history to pick up where it
stopped; a step sent twice with the same action is answered twice the same.

Routes (``Authorization: Bearer TOKEN``, under the live rate limit):

- ``POST /api/live/sessions``: start (or resume) a session on a suite.
- ``GET /api/live/sessions/{id}``: its episodes and where each stands.
- ``POST /api/live/sessions/{id}/episodes/{n}/start``: the first observation, and every
  step committed so far.
- ``POST /api/live/sessions/{id}/episodes/{n}/step``: commit step ``step``'s action.
- ``DELETE /api/live/sessions/{id}``: abandon it (its unfinished episodes count as failures).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Annotated, Any

from fastapi import FastAPI, Path
from pydantic import BaseModel, Field, field_validator

from palaestra.leaderboard import live_store
from palaestra.leaderboard.auth import Auth, LiveAuth, refuse, retry_after
from palaestra.leaderboard.db import OPEN, LiveEpisode, LiveSession, LiveStep, utcnow
from palaestra.leaderboard.harness import PRIVILEGED_KWARGS
from palaestra.leaderboard.live_env import LiveEnvs, StepTimeout
from palaestra.leaderboard.names import clean_name
from palaestra.leaderboard.openapi import UtcDatetime, refusals
from palaestra.leaderboard.store import NameTaken, QuotaExceeded, Sessions
from palaestra.leaderboard.suites import Suite

#: A live session id as a path parameter.
SessionId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")]
#: An episode's position in its session.
Position = Annotated[int, Path(ge=0, le=1_000_000)]
#: What a live-play route may refuse with: a malformed or oversized body, no token, too
#: many requests, not this token's session, or a step that does not fit its state.
PLAY_REFUSALS = refusals(400, 401, 404, 408, 409, 413, 422, 429)
#: OpenAPI links from a started session to the operations on it, so that clients and
#: schema-driven tools (schemathesis' stateful tests) can play one.
_EPISODE = "#/paths/~1api~1live~1sessions~1{session_id}~1episodes~1{position}"
SESSION_LINKS = {
    "session": {
        "operationRef": "#/paths/~1api~1live~1sessions~1{session_id}/get",
        "parameters": {"session_id": "$response.body#/id"},
    },
    "start": {
        "operationRef": _EPISODE + "~1start/post",
        "parameters": {
            "session_id": "$response.body#/id",
            "position": "$response.body#/episodes/0/position",
        },
    },
    "step": {
        "operationRef": _EPISODE + "~1step/post",
        "parameters": {
            "session_id": "$response.body#/id",
            "position": "$response.body#/episodes/0/position",
        },
    },
    "abandon": {
        "operationRef": "#/paths/~1api~1live~1sessions~1{session_id}/delete",
        "parameters": {"session_id": "$response.body#/id"},
    },
}
#: Longest action accepted (an LLM reply; the env's own parsers bound their work).
MAX_ACTION_CHARS = 32_768


class LiveStart(BaseModel):
    """Body of ``POST /api/live/sessions``."""

    suite: str = Field(max_length=100)
    agent: str = Field(min_length=1, max_length=200, description="The agent's display name")
    families: list[Annotated[str, Field(max_length=100)]] | None = Field(
        default=None, max_length=50, description="Only these env families (all by default)"
    )

    @field_validator("agent")
    @classmethod
    def _visible_name(cls, name: str) -> str:
        return clean_name(name)


class LiveEpisodeState(BaseModel):
    """Where one episode of a session stands."""

    position: int
    task: str
    env: str
    started: bool
    steps: int
    ended: bool


class LiveSessionView(BaseModel):
    """A live session: its status and its episodes."""

    id: str
    suite: str
    suite_hash: str
    agent: str
    submitter: str
    status: str
    resumed: bool = False
    created_at: UtcDatetime
    episodes: list[LiveEpisodeState]


class LiveStepRequest(BaseModel):
    """Body of ``POST .../step``: the action for step ``step`` (0 for the first)."""

    step: int = Field(ge=0, le=1_000_000)
    action: str = Field(max_length=MAX_ACTION_CHARS)

    @field_validator("action")
    @classmethod
    def _storable(cls, action: str) -> str:
        if "\x00" in action:  # no database text column holds NUL (PostgreSQL refuses it)
            raise ValueError("an action may not hold NUL characters")
        return action


class LiveStepView(BaseModel):
    """A committed step: the action and what the env answered."""

    step: int
    action: str
    observation: str
    reward: float
    terminated: bool
    truncated: bool
    info: dict[str, Any]


class LiveEpisodeView(BaseModel):
    """An episode's first observation and every step committed so far."""

    position: int
    task: str
    env: str
    observation: str
    info: dict[str, Any]
    steps: list[LiveStepView]
    ended: bool
    success: bool | None = Field(description="Set once the episode has ended")


class LiveEntryView(BaseModel):
    """A token's live entry on a suite, scored over all its ended sessions."""

    rank: int
    tier: str = "live"
    submitter: str
    agents: list[str] = Field(description="Agent names of its sessions, newest first (a few)")
    agent_names: int = Field(description="How many agent names its sessions used")
    sessions_started: int
    sessions_finished: int
    sessions_abandoned: int
    sessions_open: int
    summary: dict[str, Any]
    updated_at: UtcDatetime


def _step_view(row: LiveStep) -> LiveStepView:
    return LiveStepView(
        step=row.step,
        action=row.action,
        observation=row.observation,
        reward=row.reward,
        terminated=row.terminated,
        truncated=row.truncated,
        info=json.loads(row.info),
    )


def add_live_routes(
    app: FastAPI,
    *,
    sessions: Sessions,
    suites: dict[str, Suite],
    secret: bytes,
    envs: LiveEnvs,
    limits: live_store.LiveLimits,
    suite_or_404: Callable[[str], Suite],
) -> None:
    """Add the live-evaluation routes and ``GET /api/leaderboard/{suite}/live`` to ``app``."""
    # One lock per episode (its session and position hashed into a fixed set): its steps
    # are committed in order.
    locks = [threading.Lock() for _ in range(256)]
    # One env call in flight per token: a token cannot hold the env workers (and the
    # request threads waiting on them) with parallel steps of slow actions.
    busy: dict[int, threading.Lock] = {}
    busy_guard = threading.Lock()

    @contextlib.contextmanager
    def one_at_a_time(token_id: int) -> Iterator[None]:
        with busy_guard:
            lock = busy.setdefault(token_id, threading.Lock())
        if not lock.acquire(blocking=False):
            raise refuse(429, "this token has a live request in progress: one at a time",
                         **retry_after(1))  # fmt: skip
        try:
            yield
        finally:
            lock.release()

    def owned(session_id: str, token_id: int) -> tuple[LiveSession, Suite]:
        live = live_store.get_session(sessions, session_id)
        if live is None or live.token_id != token_id:
            raise refuse(404, f"no live session {session_id} of this token")
        if live.suite not in suites or suites[live.suite].hash != live.suite_hash:
            raise refuse(409, f"this server no longer serves suite {live.suite} as it was")
        now = utcnow()
        if live.status == OPEN and (
            live.active_at < now - limits.idle or live.created_at < now - limits.lifetime
        ):
            live_store.expire(sessions, limits)  # idle or too old: abandoned now, not later
            found = live_store.get_session(sessions, session_id)
            assert found is not None
            live = found
        return live, suites[live.suite]

    def within_quota(token_id: int, what: str) -> None:
        """Refuse before any env work when the token's storage is used up already."""
        if limits.quota is not None and live_store.stored(sessions, token_id) >= limits.quota:
            raise refuse(413, f"this token's storage quota ({limits.quota} bytes) is used; {what}")

    def episode_of(live: LiveSession, position: int) -> LiveEpisode:
        found = live_store.get_episode(sessions, live.id, position)
        if found is None:
            raise refuse(404, f"session {live.id} has no episode {position}")
        return found

    def view(live: LiveSession, suite: Suite | None, resumed: bool = False) -> LiveSessionView:
        envs_of = {t.name: t.env for t in suite.tasks} if suite is not None else {}
        return LiveSessionView(
            id=live.id,
            suite=live.suite,
            suite_hash=live.suite_hash,
            agent=live.agent_name,
            submitter=live.token.name,
            status=live.status,
            resumed=resumed,
            created_at=live.created_at,
            episodes=[
                LiveEpisodeState(
                    position=e.position,
                    task=e.task,
                    env=envs_of.get(e.task, ""),
                    started=e.observation is not None,
                    steps=e.steps,
                    ended=e.ended,
                )
                for e in live_store.episodes(sessions, live.id)
            ],
        )

    def advance(live: LiveSession, suite: Suite, episode: LiveEpisode, actions: list[str]) -> Any:
        task = suite.task(episode.task)
        seed = live_store.live_seed(secret, live.id, episode.position)
        key = f"{live.id}/{episode.position}"
        try:
            return envs.advance(task.env, task.kwargs, seed, key, actions)
        except StepTimeout as exc:
            raise refuse(422, f"{exc}; the action was not committed") from None

    @app.post(
        "/api/live/sessions",
        status_code=201,
        tags=["live"],
        responses={
            **refusals(400, 401, 404, 408, 409, 413, 422, 429),
            201: {"links": SESSION_LINKS},
        },
    )
    def start_session(body: LiveStart, token: Auth) -> LiveSessionView:
        """Start a live session on a suite, or resume this token's open one."""
        suite = suite_or_404(body.suite)
        tasks = suite.select(body.families)
        if not tasks:
            raise refuse(422, "a live session needs at least one family")
        within_quota(token.id, "no session was started")
        for task in tasks:
            given = sorted(set(task.kwargs) & PRIVILEGED_KWARGS)
            if given:  # the info the agent would get carries what it must find itself
                raise refuse(422, f"task {task.name} is made with {given}: not playable live")
        try:
            live, resumed = live_store.start_session(
                sessions, token, suite, tasks, body.agent, limits
            )
        except (live_store.SessionConflict, live_store.TooManySessions) as exc:
            raise refuse(409, str(exc)) from None
        except NameTaken as exc:
            raise refuse(409, str(exc)) from None
        found = live_store.get_session(sessions, live.id)
        assert found is not None
        return view(found, suite, resumed)

    @app.get("/api/live/sessions/{session_id}", tags=["live"], responses=PLAY_REFUSALS)
    def get_session(session_id: SessionId, token: LiveAuth) -> LiveSessionView:
        """A session of this token: its status and where each episode stands."""
        live, suite = owned(session_id, token.id)
        return view(live, suite)

    @app.delete("/api/live/sessions/{session_id}", tags=["live"], responses=PLAY_REFUSALS)
    def abandon_session(session_id: SessionId, token: LiveAuth) -> LiveSessionView:
        """Abandon an open session: its unfinished episodes are scored as failures.

        A session of a suite this server no longer serves as it was can be abandoned too.
        """
        live = live_store.get_session(sessions, session_id)
        if live is None or live.token_id != token.id:
            raise refuse(404, f"no live session {session_id} of this token")
        live_store.abandon(sessions, live.id)
        found = live_store.get_session(sessions, live.id)
        assert found is not None
        return view(found, suites.get(live.suite))

    @app.post(
        "/api/live/sessions/{session_id}/episodes/{position}/start",
        tags=["live"],
        responses=PLAY_REFUSALS,
    )
    def start_episode(
        session_id: SessionId, position: Position, token: LiveAuth
    ) -> LiveEpisodeView:
        """The episode's first observation and the steps committed so far (to resume)."""
        live, suite = owned(session_id, token.id)
        # The token's turn first, without waiting: parallel requests of one token never
        # queue up on the episode's lock (and the request threads) behind each other.
        with one_at_a_time(token.id), locks[hash((live.id, position)) % len(locks)]:
            episode = episode_of(live, position)
            if episode.observation is None:
                if live.status != OPEN:
                    raise refuse(409, f"the session is {live.status}")
                within_quota(token.id, "the episode was not started")
                outcome = advance(live, suite, episode, [])
                try:
                    episode = live_store.start_episode(
                        sessions, episode, outcome, token_id=token.id, quota=limits.quota
                    )
                except live_store.SessionConflict as exc:
                    raise refuse(409, str(exc)) from None
                except QuotaExceeded as exc:
                    raise refuse(413, f"{exc}; the episode was not started") from None
        history = live_store.steps(sessions, episode.id)
        return LiveEpisodeView(
            position=episode.position,
            task=episode.task,
            env=suite.task(episode.task).env,
            observation=episode.observation or "",
            info=json.loads(episode.info),
            steps=[_step_view(s) for s in history],
            ended=episode.ended,
            success=episode.success if episode.ended else None,
        )

    @app.post(
        "/api/live/sessions/{session_id}/episodes/{position}/step",
        tags=["live"],
        responses=PLAY_REFUSALS,
    )
    def step(
        session_id: SessionId, position: Position, body: LiveStepRequest, token: LiveAuth
    ) -> LiveStepView:
        """Commit the action of step ``step`` and return what the env answered.

        The step sent again with the same action (a retry after a lost reply) gets the
        same answer; another action for a committed step is refused.
        """
        live, suite = owned(session_id, token.id)
        with one_at_a_time(token.id), locks[hash((live.id, position)) % len(locks)]:
            episode = episode_of(live, position)
            history = live_store.steps(sessions, episode.id)
            if body.step < len(history):
                if history[body.step].action == body.action:
                    return _step_view(history[body.step])
                raise refuse(409, f"step {body.step} was committed with another action")
            # As read by owned(); an abandon since is caught by the commit's transaction.
            if live.status != OPEN:
                raise refuse(409, f"the session is {live.status}")
            if episode.observation is None:
                raise refuse(409, f"start episode {position} first")
            if episode.ended:
                raise refuse(409, f"episode {position} has ended")
            if body.step != len(history):
                raise refuse(409, f"step {len(history)} is next, not {body.step}")
            within_quota(token.id, "the action was not committed")
            actions = [s.action for s in history] + [body.action]
            outcome = advance(live, suite, episode, actions)
            try:
                row = live_store.commit_step(
                    sessions, episode, body.step, body.action, outcome,
                    token_id=token.id, quota=limits.quota,
                )  # fmt: skip
            except live_store.SessionConflict as exc:
                raise refuse(409, str(exc)) from None
            except QuotaExceeded as exc:
                raise refuse(413, f"{exc}; the action was not committed") from None
        return _step_view(row)

    @app.get("/api/leaderboard/{suite_id}/live", responses=refusals(404))
    def live_table(suite_id: str) -> list[LiveEntryView]:
        """The live tier: every token's entry, scored over all its ended sessions."""
        return live_rows(suite_or_404(suite_id))

    # The table is computed again only when a session starts or ends; idle sessions are
    # looked for at most once a minute. A page view costs one small query otherwise.
    cache: dict[str, tuple[tuple[Any, ...], list[LiveEntryView]]] = {}
    expired = [0.0]
    cache_guard = threading.Lock()

    def live_rows(suite: Suite) -> list[LiveEntryView]:
        if time.monotonic() - expired[0] > 60:
            live_store.expire(sessions, limits)
            expired[0] = time.monotonic()
        version = live_store.table_version(sessions, suite.id)
        with cache_guard:
            if suite.id in cache and cache[suite.id][0] == version:
                return cache[suite.id][1]
            rows = [
                LiveEntryView(rank=rank, **dataclasses.asdict(e))
                for rank, e in enumerate(live_store.entries(sessions, suite), 1)
            ]
            cache[suite.id] = (version, rows)
            return rows

    app.state.live_rows = live_rows
