"""What the server keeps of live sessions: sessions, episodes, committed steps, and entries.

A live entry is a token's on one suite: it is scored over every episode of every session
the token ended (finished, or abandoned with the episodes it left unfinished counted as
failures), so playing many sessions and keeping the best one is not possible, and giving up
on a session that goes badly costs as much as playing it out.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError

from palaestra.leaderboard.db import (
    ABANDONED,
    FINISHED,
    OPEN,
    LiveEpisode,
    LiveSession,
    LiveStep,
    Token,
    utcnow,
)
from palaestra.leaderboard.scoring import Score, board_summary
from palaestra.leaderboard.store import (
    NameTaken,
    QuotaExceeded,
    Sessions,
    lookalike,
    stored_bytes,
    writing,
)
from palaestra.leaderboard.suites import Suite, Task


class SessionConflict(Exception):  # noqa: N818 - a verdict on a request
    """The request does not fit the session's state (``str`` says why)."""


class TooManySessions(Exception):  # noqa: N818 - a verdict on a request
    """The token has started as many sessions on the suite as it may."""


@dataclass(frozen=True)
class LiveLimits:
    """How long sessions stay open and how much a token may keep.

    Attributes:
        idle: An open session with no step for this long is abandoned.
        lifetime: An open session this old is abandoned, however active.
        sessions: Sessions a token may start on one suite (each is scored, and each costs
            the table's work).
        quota: Bytes a token may keep stored (results files and live steps), or ``None``.
    """

    idle: dt.timedelta = dt.timedelta(hours=24)
    lifetime: dt.timedelta = dt.timedelta(days=7)
    sessions: int = 100
    quota: int | None = None


def live_seed(secret: bytes, session_id: str, position: int) -> int:
    """The seed of a live episode: 128 bits of HMAC-SHA256 under the server secret.

    Wide, so that no table of seeds can be searched for the one behind an observation.
    """
    digest = hmac.new(secret, f"live/{session_id}/{position}".encode(), hashlib.sha256)
    return int.from_bytes(digest.digest()[:16], "big")


def expire(sessions: Sessions, limits: LiveLimits) -> int:
    """Mark open sessions idle or older than the limits as abandoned; how many were."""
    now = utcnow()
    with writing(sessions), sessions() as session:
        done = session.execute(
            update(LiveSession)
            .where(
                LiveSession.status == OPEN,
                or_(
                    LiveSession.active_at < now - limits.idle,
                    LiveSession.created_at < now - limits.lifetime,
                ),
            )
            .values(status=ABANDONED, finished_at=now)
        )
        session.commit()
        return int(getattr(done, "rowcount", 0) or 0)


def start_session(
    sessions: Sessions,
    token: Token,
    suite: Suite,
    tasks: list[Task],
    agent_name: str,
    limits: LiveLimits,
) -> tuple[LiveSession, bool]:
    """The token's open session on ``suite``, or a new one over ``tasks``; and if resumed.

    A token plays one session per suite at a time: asking again returns the open one, so
    a client that lost its connection picks it up where it stopped.

    Raises:
        SessionConflict: The open session is for another agent name.
        NameTaken: Another token uses a lookalike agent name.
        TooManySessions: The token started ``limits.sessions`` sessions on the suite.
    """
    expire(sessions, limits)
    with writing(sessions), sessions() as session:
        mine = (LiveSession.token_id == token.id, LiveSession.suite == suite.id)
        current = session.scalar(select(LiveSession).where(*mine, LiveSession.status == OPEN))
        if current is not None and current.suite_hash != suite.hash:
            # The suite changed under it: it can never be played on; give it up.
            current.status, current.finished_at = ABANDONED, utcnow()
            session.flush()
            current = None
        if current is not None:
            if current.agent_name != agent_name:
                raise SessionConflict(
                    f"this token has an open session on {suite.id} for {current.agent_name!r} "
                    f"({current.id}): finish or abandon it first"
                )
            session.expunge(current)
            return current, True
        started = session.scalar(select(func.count()).select_from(LiveSession).where(*mine))
        if (started or 0) >= limits.sessions:
            raise TooManySessions(
                f"this token has started {started} live sessions on {suite.id}, the most "
                "one token may"
            )
        other = lookalike(session, token, agent_name)
        if other is not None:
            raise NameTaken(agent_name, other)
        live = LiveSession(
            id=secrets.token_hex(16),
            token_id=token.id,
            suite=suite.id,
            suite_hash=suite.hash,
            agent_name=agent_name,
            status=OPEN,
        )
        session.add(live)
        try:
            session.flush()  # the session's row before its episodes' (foreign keys)
        except IntegrityError:  # another server process opened one first (unique index)
            session.rollback()
            raise SessionConflict(
                f"this token opened a session on {suite.id} just now: ask again"
            ) from None
        position = 0
        for task in tasks:
            for _ in range(task.episodes):
                session.add(LiveEpisode(session_id=live.id, position=position, task=task.name))
                position += 1
        session.commit()
        session.refresh(live)
        session.expunge(live)
        return live, False


def stored(sessions: Sessions, token_id: int) -> int:
    """Bytes ``token_id`` keeps stored (see :func:`palaestra.leaderboard.store.stored_bytes`)."""
    with sessions() as session:
        return stored_bytes(session, token_id)


def get_session(sessions: Sessions, session_id: str) -> LiveSession | None:
    """Session ``session_id``, or ``None``."""
    with sessions() as session:
        return session.get(LiveSession, session_id)


def episodes(sessions: Sessions, session_id: str) -> list[LiveEpisode]:
    """A session's episodes in order."""
    with sessions() as session:
        return list(
            session.scalars(
                select(LiveEpisode)
                .where(LiveEpisode.session_id == session_id)
                .order_by(LiveEpisode.position)
            )
        )


def get_episode(sessions: Sessions, session_id: str, position: int) -> LiveEpisode | None:
    """Episode ``position`` of a session, or ``None``."""
    with sessions() as session:
        return session.scalar(
            select(LiveEpisode).where(
                LiveEpisode.session_id == session_id, LiveEpisode.position == position
            )
        )


def steps(sessions: Sessions, episode_id: int) -> list[LiveStep]:
    """An episode's committed steps in order."""
    with sessions() as session:
        return list(
            session.scalars(
                select(LiveStep).where(LiveStep.episode_id == episode_id).order_by(LiveStep.step)
            )
        )


def start_episode(
    sessions: Sessions, episode: LiveEpisode, outcome: dict[str, Any], *, token_id: int,
    quota: int | None = None,
) -> LiveEpisode:  # fmt: skip
    """Record an episode's first observation (once: a second start keeps the first).

    Raises:
        SessionConflict: The session is no longer open.
        QuotaExceeded: The observation would take the token past ``quota`` stored bytes.
    """
    info = json.dumps(outcome["info"])
    size = len(outcome["observation"].encode()) + len(info.encode())
    with writing(sessions), sessions() as session:
        _charge(session, episode.session_id, token_id, size, quota)
        session.execute(
            update(LiveEpisode)
            .where(LiveEpisode.id == episode.id, LiveEpisode.observation.is_(None))
            .values(observation=outcome["observation"], info=info)
        )
        session.commit()
        row = session.get(LiveEpisode, episode.id)
        assert row is not None
        return row


def commit_step(
    sessions: Sessions,
    episode: LiveEpisode,
    step: int,
    action: str,
    outcome: dict[str, Any],
    *,
    token_id: int,
    quota: int | None = None,
) -> LiveStep:
    """Commit ``action`` as step ``step`` of ``episode`` with the env's ``outcome``.

    The session is finished when this ends its last open episode.

    Raises:
        SessionConflict: Step ``step`` was committed already (by a concurrent request), or
            the session is no longer open.
        QuotaExceeded: The step would take the token past ``quota`` stored bytes.
    """
    ended = outcome["terminated"] or outcome["truncated"]
    row = LiveStep(
        episode_id=episode.id,
        step=step,
        action=action,
        reward=outcome["reward"],
        observation=outcome["observation"],
        info=json.dumps(outcome["info"]),
        terminated=outcome["terminated"],
        truncated=outcome["truncated"],
    )
    size = sum(len(text.encode()) for text in (row.action, row.observation, row.info))
    with writing(sessions), sessions() as session:
        _charge(session, episode.session_id, token_id, size, quota)
        session.add(row)
        session.execute(
            update(LiveEpisode)
            .where(LiveEpisode.id == episode.id)
            .values(
                steps=step + 1,
                total_reward=LiveEpisode.total_reward + outcome["reward"],
                ended=ended,
                success=outcome["success"] if ended else False,
            )
        )
        try:
            session.flush()
        except IntegrityError:
            session.rollback()
            raise SessionConflict(f"step {step} was committed already") from None
        if ended:
            left = session.scalar(
                select(LiveEpisode.id).where(
                    LiveEpisode.session_id == episode.session_id, LiveEpisode.ended.is_(False)
                )
            )
            if left is None:
                session.execute(
                    update(LiveSession)
                    .where(LiveSession.id == episode.session_id, LiveSession.status == OPEN)
                    .values(status=FINISHED, finished_at=utcnow())
                )
        session.commit()
        session.refresh(row)
        session.expunge(row)
    return row


def _charge(session: Any, session_id: str, token_id: int, size: int, quota: int | None) -> None:
    """Count ``size`` stored bytes to an open session (in the caller's transaction).

    Checked and counted in the same transaction as the write, so a session abandoned (or a
    quota used up) meanwhile is seen.
    """
    if quota is not None:
        stored = stored_bytes(session, token_id)
        if stored + size > quota:
            raise QuotaExceeded(
                f"this token's storage quota ({quota} bytes) is used: {stored} stored"
            )
    touched = session.execute(
        update(LiveSession)
        .where(LiveSession.id == session_id, LiveSession.status == OPEN)
        .values(active_at=utcnow(), stored_bytes=LiveSession.stored_bytes + size)
    )
    if not getattr(touched, "rowcount", 0):
        session.rollback()
        raise SessionConflict("the session is no longer open")


def abandon(sessions: Sessions, session_id: str) -> None:
    """Give up an open session: its unfinished episodes count as failures."""
    with writing(sessions), sessions() as session:
        session.execute(
            update(LiveSession)
            .where(LiveSession.id == session_id, LiveSession.status == OPEN)
            .values(status=ABANDONED, finished_at=utcnow())
        )
        session.commit()


@dataclass(frozen=True)
class LiveEntry:
    """A token's live entry on a suite.

    Attributes:
        submitter: The token's name.
        agents: The agent names its sessions were started with, newest first (at most
            :data:`AGENTS_SHOWN`; ``agent_names`` counts them all).
        agent_names: How many names its sessions used.
        sessions_started: Sessions started; ``sessions_finished``, ``sessions_abandoned``
            and ``sessions_open`` split them.
        summary: The leaderboard aggregates over every episode of its ended sessions.
        updated_at: When its last scored session ended.
    """

    submitter: str
    agents: list[str]
    agent_names: int
    sessions_started: int
    sessions_finished: int
    sessions_abandoned: int
    sessions_open: int
    summary: dict[str, Any]
    updated_at: dt.datetime


#: Agent names shown on an entry.
AGENTS_SHOWN = 5


def table_version(sessions: Sessions, suite: str) -> tuple[Any, ...]:
    """What the live table of ``suite`` depends on: it is the same while this is."""
    with sessions() as session:
        row = session.execute(
            select(
                func.count(),
                func.count(LiveSession.finished_at),
                func.max(LiveSession.finished_at),
                func.max(LiveSession.created_at),
            ).where(LiveSession.suite == suite)
        ).one()
    return tuple(row)


def entries(sessions: Sessions, suite: Suite) -> list[LiveEntry]:
    """Every token's live entry on ``suite`` that has an ended session, best first."""
    families = {t.name: t.family for t in suite.tasks}
    with sessions() as session:
        lives = list(
            session.scalars(
                select(LiveSession)
                .where(LiveSession.suite == suite.id)
                .order_by(LiveSession.created_at.desc())
            )
        )
        ended = [s.id for s in lives if s.status != OPEN]
        played = session.execute(
            select(LiveEpisode.session_id, LiveEpisode.task, LiveEpisode.total_reward,
                   LiveEpisode.ended, LiveEpisode.success)
            .where(LiveEpisode.session_id.in_(ended))
            .order_by(LiveEpisode.position)
        ).all()  # fmt: skip
    by_session: dict[str, list[tuple[str, Score]]] = {}
    for session_id, task, total, done, success in played:
        # An episode left unfinished in an abandoned session is a failure.
        by_session.setdefault(session_id, []).append((task, (float(total), bool(done and success))))
    by_token: dict[int, list[LiveSession]] = {}
    for live in lives:
        by_token.setdefault(live.token_id, []).append(live)
    rows = []
    for group in by_token.values():
        scored = [s for s in group if s.status != OPEN]
        if not scored:
            continue
        scores: dict[str, list[Score]] = {}
        for live in reversed(scored):  # oldest first: the same order gives the same intervals
            for task, score in by_session.get(live.id, []):
                scores.setdefault(task, []).append(score)
        counts = {state: sum(s.status == state for s in group) for state in (FINISHED, ABANDONED)}
        names = list(dict.fromkeys(s.agent_name for s in group))
        rows.append(
            LiveEntry(
                submitter=group[0].token.name,
                agents=names[:AGENTS_SHOWN],
                agent_names=len(names),
                sessions_started=len(group),
                sessions_finished=counts[FINISHED],
                sessions_abandoned=counts[ABANDONED],
                sessions_open=len(group) - len(scored),
                summary=board_summary(scores, families),
                updated_at=max(s.finished_at or s.created_at for s in scored),
            )
        )
    return sorted(rows, key=lambda r: (r.summary["overall"] or {}).get("mean", 0.0), reverse=True)
