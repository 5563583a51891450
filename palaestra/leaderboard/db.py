"""The leaderboard database: SQLAlchemy 2 models, the engine, and Alembic migrations.

SQLite (a file, WAL mode, full fsync on commit) is the default; any SQLAlchemy URL works,
PostgreSQL included (``postgresql+psycopg://user:pass@host/db``). The schema is created and
upgraded by the Alembic migrations shipped in ``palaestra/leaderboard/migrations`` — never
by ``create_all`` — so a server started on an older database upgrades it in place.
"""

from __future__ import annotations

import datetime as dt
from importlib import resources
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Engine,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    text,
)
from sqlalchemy.engine import make_url
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, sessionmaker

from palaestra.errors import InvalidArgumentError

#: Submission states: accepted and waiting for replay, replayed as claimed, or refused.
PENDING, VERIFYING, VERIFIED, REJECTED = "pending", "verifying", "verified", "rejected"
#: Live-session states: being played, every episode ended, or given up (or left idle).
OPEN, FINISHED, ABANDONED = "open", "finished", "abandoned"


def utcnow() -> dt.datetime:
    """Now, in UTC, without tzinfo (SQLite stores naive datetimes)."""
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def as_utc(stored: dt.datetime) -> dt.datetime:
    """A stored datetime (naive, in UTC: see :func:`utcnow`) with its timezone again.

    The API shows datetimes so: an RFC 3339 ``date-time`` (what its OpenAPI document
    promises) carries its offset.
    """
    return stored.replace(tzinfo=dt.timezone.utc) if stored.tzinfo is None else stored


class Base(DeclarativeBase):
    """Declarative base of the leaderboard tables."""


class Token(Base):
    """A submitter's API token; only its SHA-256 is stored."""

    __tablename__ = "tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


class Challenge(Base):
    """A set of hidden seeds handed to one token, good for one submission."""

    __tablename__ = "challenges"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    token_id: Mapped[int] = mapped_column(ForeignKey("tokens.id"))
    suite: Mapped[str] = mapped_column(String(100))
    suite_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime)


class Submission(Base):
    """A submitted results file and its verdict.

    ``content_sha256`` is unique, so the same file submitted twice (a retry, or someone
    replaying an old submission) is one row; ``challenge_id`` is unique, so a challenge's
    hidden seeds back at most one submission.
    """

    __tablename__ = "submissions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_id: Mapped[int] = mapped_column(ForeignKey("tokens.id"), index=True)
    content_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    challenge_id: Mapped[str | None] = mapped_column(
        ForeignKey("challenges.id"), unique=True, nullable=True
    )
    suite: Mapped[str] = mapped_column(String(100), index=True)
    suite_hash: Mapped[str] = mapped_column(String(64))
    agent_name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), index=True, default=PENDING)
    reason: Mapped[str] = mapped_column(Text, default="")
    #: The results file as submitted (JSON).
    body: Mapped[str] = mapped_column(Text, deferred=True)  # loaded only when replayed or shown
    #: Its size in bytes (0 once dropped): the storage quota sums these, not the files.
    body_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    #: Per-task and per-family aggregates recomputed by the server after the replay (JSON).
    summary: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    claimed_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    #: The submitter (loaded with the row: every view shows who submitted).
    token: Mapped[Token] = relationship(lazy="joined")


class LiveSession(Base):
    """A live evaluation: a token plays a suite's episodes through the server.

    The seeds derive from the server secret and the session id and never leave the
    server; the env state lives on the server, and each action is committed as it arrives.
    """

    __tablename__ = "live_sessions"
    # One open session per token and suite, whatever the number of server processes.
    __table_args__ = (
        Index(
            "ix_live_sessions_open",
            "token_id",
            "suite",
            unique=True,
            sqlite_where=text("status = 'open'"),
            postgresql_where=text("status = 'open'"),
        ),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    token_id: Mapped[int] = mapped_column(ForeignKey("tokens.id"), index=True)
    suite: Mapped[str] = mapped_column(String(100), index=True)
    suite_hash: Mapped[str] = mapped_column(String(64))
    agent_name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default=OPEN)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    active_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    #: Bytes its committed steps keep (actions, observations, infos): counted in the
    #: token's storage quota.
    stored_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    token: Mapped[Token] = relationship(lazy="joined")


class LiveEpisode(Base):
    """One episode of a live session: its task, its start, and running totals."""

    __tablename__ = "live_episodes"
    __table_args__ = (UniqueConstraint("session_id", "position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("live_sessions.id"), index=True)
    #: Its place in the session (the client names episodes by it).
    position: Mapped[int] = mapped_column(Integer)
    task: Mapped[str] = mapped_column(String(100))
    #: The first observation and its info (JSON), once the episode is started.
    observation: Mapped[str | None] = mapped_column(Text, nullable=True)
    info: Mapped[str] = mapped_column(Text, default="{}")
    steps: Mapped[int] = mapped_column(Integer, default=0)
    total_reward: Mapped[float] = mapped_column(Float, default=0.0)
    ended: Mapped[bool] = mapped_column(Boolean, default=False)
    success: Mapped[bool] = mapped_column(Boolean, default=False)


class LiveStep(Base):
    """One committed action of a live episode and what the env answered."""

    __tablename__ = "live_steps"
    __table_args__ = (UniqueConstraint("episode_id", "step"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    episode_id: Mapped[int] = mapped_column(ForeignKey("live_episodes.id"), index=True)
    step: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(Text)
    reward: Mapped[float] = mapped_column(Float)
    observation: Mapped[str] = mapped_column(Text)
    info: Mapped[str] = mapped_column(Text)
    terminated: Mapped[bool] = mapped_column(Boolean)
    truncated: Mapped[bool] = mapped_column(Boolean)


def database_url(db: str) -> str:
    """A SQLAlchemy URL from ``db``: a URL as is, anything else a SQLite file path."""
    if "://" in db:
        try:
            make_url(db)
        except Exception as exc:  # SQLAlchemy raises ArgumentError and others
            raise InvalidArgumentError(f"{db!r} is not a database URL: {exc}") from exc
        return db
    path = Path(db).expanduser().resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def make_engine(db: str) -> Engine:
    """An engine for ``db`` (URL or SQLite path); SQLite gets WAL and a busy timeout."""
    url = database_url(db)
    if not url.startswith("sqlite"):
        try:
            return create_engine(url, pool_pre_ping=True)
        except Exception as exc:  # an unknown dialect, a driver that is not installed
            raise InvalidArgumentError(f"cannot open database {url!r}: {exc}") from exc
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _pragmas(connection: Any, _record: Any) -> None:
        cursor = connection.cursor()
        # WAL: readers never block the writer; synchronous=FULL: a commit is on disk before
        # the server answers, so a killed server loses no accepted submission.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    return engine


def migrate(engine: Engine, revision: str = "head", *, downgrade: bool = False) -> None:
    """Bring the database schema to ``revision`` with the shipped Alembic migrations.

    Args:
        engine: The database.
        revision: Target revision (``head``: the newest; ``base``: empty).
        downgrade: Go down to ``revision`` instead of up.
    """
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option(
        "script_location", str(resources.files("palaestra.leaderboard") / "migrations")
    )
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        (command.downgrade if downgrade else command.upgrade)(config, revision)


def open_database(db: str) -> tuple[Engine, sessionmaker[Any]]:
    """Engine and session factory for ``db``, migrated to the latest schema."""
    from sqlalchemy.exc import OperationalError

    engine = make_engine(db)
    try:
        migrate(engine)
    except OperationalError as exc:
        engine.dispose()
        raise InvalidArgumentError(f"cannot open database {db!r}: {exc.orig}") from exc
    return engine, sessionmaker(engine, expire_on_commit=False)
