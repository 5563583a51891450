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
    Boolean,
    DateTime,
    Engine,
    ForeignKey,
    Integer,
    String,
    Text,
    create_engine,
    event,
)
from sqlalchemy.engine import make_url
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, sessionmaker

from palaestra.errors import InvalidArgumentError

#: Submission states: accepted and waiting for replay, replayed as claimed, or refused.
PENDING, VERIFYING, VERIFIED, REJECTED = "pending", "verifying", "verified", "rejected"


def utcnow() -> dt.datetime:
    """Now, in UTC, without tzinfo (SQLite stores naive datetimes)."""
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


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
    #: Per-task and per-family aggregates recomputed by the server after the replay (JSON).
    summary: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    claimed_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    #: The submitter (loaded with the row: every view shows who submitted).
    token: Mapped[Token] = relationship(lazy="joined")


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
