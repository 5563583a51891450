"""What the server does with its database: tokens, challenges, submissions and verdicts.

Every function takes a session factory and commits what it changes before returning, so
whatever the server has answered "accepted" to is on disk.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import hmac
import json
import secrets
import threading
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker, undefer

from palaestra.errors import InvalidArgumentError
from palaestra.leaderboard.db import (
    PENDING,
    REJECTED,
    VERIFIED,
    VERIFYING,
    Challenge,
    LiveSession,
    Submission,
    Token,
    utcnow,
)
from palaestra.leaderboard.names import skeleton
from palaestra.leaderboard.schema import Results
from palaestra.leaderboard.suites import Suite, hidden_seeds

Sessions = sessionmaker[Session]

#: A submitter's token: 256 random bits as 43 URL-safe characters, after TOKEN_PREFIX.
TOKEN_BYTES = 32
#: What every submitter token starts with.
TOKEN_PREFIX = "plb_"


_locks: dict[int, threading.Lock] = {}


def writing(sessions: Sessions) -> contextlib.AbstractContextManager[object]:
    """Hold while writing: one writer at a time per SQLite database in this process.

    SQLite allows one writer; without this, concurrent requests wait in SQLite's busy
    handler, which sleeps and retries, and the tail latency grows by tens of milliseconds
    per waiter. Other databases handle concurrent writers themselves.
    """
    bind = sessions.kw.get("bind")
    if bind is None or bind.dialect.name != "sqlite":
        return contextlib.nullcontext()
    return _locks.setdefault(id(bind), threading.Lock())


def hash_token(token: str) -> str:
    """SHA-256 of a token (tokens are random, so no salt or slow hash is needed)."""
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(sessions: Sessions, name: str) -> str:
    """Create a token for submitter ``name`` and return it; only its hash is kept."""
    name = name.strip()
    if not name or len(name) > 200:
        raise InvalidArgumentError("a token name is 1 to 200 characters")
    # The prefix names what it is (in a log, a leaked file) and keeps it from starting with
    # "-", which a command line would read as an option (``--token -x...``).
    token = TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)
    with writing(sessions), sessions() as session:
        session.add(Token(name=name, token_hash=hash_token(token)))
        try:
            session.commit()
        except IntegrityError as exc:
            raise InvalidArgumentError(f"a token named {name!r} exists already") from exc
    return token


def revoke_token(sessions: Sessions, name: str) -> None:
    """Revoke the token of submitter ``name``; its submissions stay."""
    with writing(sessions), sessions() as session:
        done = session.execute(update(Token).where(Token.name == name).values(revoked=True))
        session.commit()
    if done.rowcount == 0:  # type: ignore[attr-defined]
        raise InvalidArgumentError(f"no token named {name!r}")


def find_token(sessions: Sessions, token: str) -> Token | None:
    """The live token row for ``token``, or ``None``."""
    if not token or len(token) > 200:
        return None
    # Looked up by hash: the database compares digests, never the token itself.
    with sessions() as session:
        row = session.scalar(select(Token).where(Token.token_hash == hash_token(token)))
    return None if row is None or row.revoked else row


def create_challenge(
    sessions: Sessions,
    token: Token,
    suite: Suite,
    secret: bytes,
    lifetime: dt.timedelta,
    open_limit: int = 1,
) -> tuple[Challenge, dict[str, list[int]]]:
    """A challenge for ``token`` on ``suite`` and its hidden seeds.

    A token holds at most ``open_limit`` open challenges per suite (unexpired, with no
    submission yet): past that, the newest open one is handed out again, with the same
    seeds, so asking again neither draws fresh seeds nor loses a started evaluation.
    """
    now = utcnow()
    with writing(sessions), sessions() as session:
        used = select(Submission.challenge_id).where(Submission.challenge_id.is_not(None))
        open_ones = list(
            session.scalars(
                select(Challenge)
                .where(
                    Challenge.token_id == token.id,
                    Challenge.suite == suite.id,
                    Challenge.expires_at > now,
                    Challenge.id.not_in(used),
                )
                .order_by(Challenge.created_at.desc())
            )
        )
        if len(open_ones) >= open_limit:
            challenge = open_ones[0]
        else:
            challenge = Challenge(
                id=secrets.token_hex(16),
                token_id=token.id,
                suite=suite.id,
                suite_hash=suite.hash,
                expires_at=now + lifetime,
            )
            session.add(challenge)
            session.commit()
            session.refresh(challenge)
        session.expunge(challenge)
    return challenge, challenge_seeds(suite, challenge.id, secret)


def challenges_issued(sessions: Sessions, suite: str) -> dict[int, int]:
    """How many challenges each token was given on ``suite`` (shown on its rows)."""
    with sessions() as session:
        rows = session.execute(
            select(Challenge.token_id, func.count())
            .where(Challenge.suite == suite)
            .group_by(Challenge.token_id)
        )
        return {token_id: int(count) for token_id, count in rows}


def challenge_seeds(suite: Suite, challenge_id: str, secret: bytes) -> dict[str, list[int]]:
    """The hidden seeds of a challenge: derived from the server secret and the challenge id."""
    key = hmac.new(secret, challenge_id.encode(), hashlib.sha256).digest()
    return {task.name: hidden_seeds(suite, task, key) for task in suite.tasks}


def find_challenge(sessions: Sessions, challenge_id: str) -> Challenge | None:
    """The challenge ``challenge_id``, or ``None``."""
    with sessions() as session:
        return session.get(Challenge, challenge_id)


class Duplicate(Exception):  # noqa: N818 - a verdict, not a failure
    """The same results file, or the same challenge, was submitted before (``.existing``)."""

    def __init__(self, existing: int, what: str) -> None:
        super().__init__(f"{what} was submitted already as submission {existing}")
        self.existing = existing


class NameTaken(Exception):  # noqa: N818 - a verdict, not a failure
    """The agent name looks like one another submitter uses (``.other``)."""

    def __init__(self, name: str, other: str) -> None:
        super().__init__(
            f"the agent name {name!r} looks like {other!r}, which another submitter uses: "
            "choose a name of your own"
        )
        self.other = other


class QuotaExceeded(Exception):  # noqa: N818 - a verdict, not a failure
    """The token's stored results files would pass its quota."""


def add_submission(
    sessions: Sessions,
    token: Token,
    results: Results,
    body: bytes,
    *,
    quota: int | None = None,
) -> Submission:
    """Store an accepted submission as pending replay.

    The checks that depend on what is stored run under the write lock, so concurrent
    submissions cannot all pass them: the same file (or challenge) twice, a name that
    looks like another submitter's, the token's storage ``quota`` (bytes of the files it
    keeps).

    Raises:
        Duplicate: The same bytes, or the same challenge, were submitted before.
        NameTaken: Another token uses a lookalike name.
        QuotaExceeded: The token's files would pass ``quota`` bytes.
    """
    digest = hashlib.sha256(body).hexdigest()
    row = Submission(
        token_id=token.id,
        content_sha256=digest,
        challenge_id=results.challenge,
        suite=results.suite,
        suite_hash=results.suite_hash,
        agent_name=results.agent.name,
        status=PENDING,
        reason="",
        body=body.decode(),
        body_bytes=len(body),
        summary="",
    )
    with writing(sessions), sessions() as session:
        same = [Submission.content_sha256 == digest]
        if results.challenge:
            same.append(Submission.challenge_id == results.challenge)
        clash = session.scalar(select(Submission).where(or_(*same)))
        if clash is not None:
            what = "this results file" if clash.content_sha256 == digest else "this challenge"
            raise Duplicate(clash.id, what)
        other = lookalike(session, token, results.agent.name)
        if other is not None:
            raise NameTaken(results.agent.name, other)
        if quota is not None:
            stored = stored_bytes(session, token.id)
            if stored + len(body) > quota:
                raise QuotaExceeded(
                    f"this token's storage quota ({quota} bytes) is used: {stored} stored"
                )
        session.add(row)
        try:
            session.commit()
        except IntegrityError:  # another server process stored the same file first
            session.rollback()
            raise Duplicate(-1, "this results file or challenge") from None
    return row


def lookalike(session: Session, token: Token, name: str) -> str | None:
    """A name another token uses (rejected submissions aside) with ``name``'s skeleton.

    Agent names of results files and of live sessions are both looked at.
    """
    target = skeleton(name)
    names = session.scalars(
        select(Submission.agent_name)
        .where(Submission.token_id != token.id, Submission.status != REJECTED)
        .union(select(LiveSession.agent_name).where(LiveSession.token_id != token.id))
    )
    return next((other for other in names if skeleton(other) == target), None)


def stored_bytes(session: Session, token_id: int) -> int:
    """Bytes ``token_id`` keeps: its results files (rejected ones keep none) and live steps."""
    files = session.scalar(
        select(func.coalesce(func.sum(Submission.body_bytes), 0)).where(
            Submission.token_id == token_id
        )
    )
    live = session.scalar(
        select(func.coalesce(func.sum(LiveSession.stored_bytes), 0)).where(
            LiveSession.token_id == token_id
        )
    )
    return int(files or 0) + int(live or 0)


def get_submission(
    sessions: Sessions, submission_id: int, *, with_body: bool = False
) -> Submission | None:
    """Submission ``submission_id``, or ``None``; the results file only ``with_body``."""
    with sessions() as session:
        options = [undefer(Submission.body)] if with_body else []
        return session.get(Submission, submission_id, options=options)


def claim_next(sessions: Sessions, lease: dt.timedelta) -> Submission | None:
    """Mark the oldest pending submission as being verified and return it.

    A submission claimed longer than ``lease`` ago (its verifier died) is claimable again.
    The claim is a conditional UPDATE, so two verifiers never take the same submission.
    """
    with writing(sessions), sessions() as session:
        stale = utcnow() - lease
        candidates = session.scalars(
            select(Submission.id)
            .where(
                or_(
                    Submission.status == PENDING,
                    (Submission.status == VERIFYING) & (Submission.claimed_at < stale),
                )
            )
            .order_by(Submission.id)
            .limit(5)
        ).all()
        for submission_id in candidates:
            claimed = session.execute(
                update(Submission)
                .where(Submission.id == submission_id)
                .where(
                    or_(
                        Submission.status == PENDING,
                        (Submission.status == VERIFYING) & (Submission.claimed_at < stale),
                    )
                )
                .values(status=VERIFYING, claimed_at=utcnow())
            )
            session.commit()
            if claimed.rowcount == 1:  # type: ignore[attr-defined]
                return session.get(Submission, submission_id, options=[undefer(Submission.body)])
    return None


def release_claims(sessions: Sessions) -> int:
    """Put submissions left mid-replay by a stopped server back in the queue; how many."""
    with writing(sessions), sessions() as session:
        done = session.execute(
            update(Submission).where(Submission.status == VERIFYING).values(status=PENDING)
        )
        session.commit()
    return int(done.rowcount)  # type: ignore[attr-defined]


def release_claim(sessions: Sessions, submission_id: int) -> None:
    """Put one submission back in the queue (its replay was stopped from outside)."""
    with writing(sessions), sessions() as session:
        session.execute(
            update(Submission)
            .where(Submission.id == submission_id, Submission.status == VERIFYING)
            .values(status=PENDING)
        )
        session.commit()


def finish(
    sessions: Sessions, submission_id: int, *, reason: str = "", summary: dict[str, Any] | None
) -> None:
    """Record a verdict: verified with its ``summary``, or rejected (``summary=None``).

    A rejected submission keeps its verdict and its file's hash, not the file.
    """
    verdict: dict[str, Any] = {
        "status": VERIFIED if summary is not None else REJECTED,
        "reason": reason,
        "summary": json.dumps(summary) if summary is not None else "",
        "finished_at": utcnow(),
    }
    if summary is None:
        verdict["body"] = ""
        verdict["body_bytes"] = 0
    with writing(sessions), sessions() as session:
        session.execute(update(Submission).where(Submission.id == submission_id).values(**verdict))
        session.commit()


def verified(sessions: Sessions, suite: str) -> list[Submission]:
    """The verified submissions on ``suite``, newest first."""
    with sessions() as session:
        return list(
            session.scalars(
                select(Submission)
                .where(Submission.suite == suite, Submission.status == VERIFIED)
                .order_by(Submission.id.desc())
            )
        )


@dataclass(frozen=True)
class Counts:
    """Submissions by state."""

    pending: int
    verified: int
    rejected: int


def counts(sessions: Sessions) -> Counts:
    """How many submissions are in each state."""
    with sessions() as session:
        rows = session.execute(
            select(Submission.status, func.count()).group_by(Submission.status)
        ).all()
    by_state: dict[str, int] = {str(state): int(n) for state, n in rows}
    return Counts(
        pending=by_state.get(PENDING, 0) + by_state.get(VERIFYING, 0),
        verified=by_state.get(VERIFIED, 0),
        rejected=by_state.get(REJECTED, 0),
    )
