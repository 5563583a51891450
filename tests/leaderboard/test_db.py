"""The database layer: Alembic migrations match the models, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from fastapi.testclient import TestClient
from sqlalchemy import inspect

from palaestra.errors import InvalidArgumentError
from palaestra.leaderboard.db import Base, database_url, make_engine, migrate, open_database
from palaestra.leaderboard.served import free_port
from palaestra.leaderboard.server import ServerConfig, create_app
from palaestra.leaderboard.store import create_token

from .conftest import SMALL


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL cluster (skipped where PostgreSQL's server is not installed)."""
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if not initdb or not pg_ctl:
        pytest.skip("PostgreSQL's initdb and pg_ctl are not installed")
    # Not under pytest's tmp folder: as root that one is closed to other users, and
    # PostgreSQL refuses to run as root, so it runs as the postgres user here.
    folder = Path(tempfile.mkdtemp(prefix="palaestra-pg-"))
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_user:
        shutil.chown(folder, "postgres")
    data, port = folder / "data", free_port()
    subprocess.run([*as_user, initdb, "-D", str(data), "-A", "trust", "-U", "postgres"],
                   check=True, capture_output=True)  # fmt: skip
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1"
    log = str(folder / "log")
    subprocess.run([*as_user, pg_ctl, "-D", str(data), "-o", options, "-l", log, "-w", "start"],
                   check=True, capture_output=True)  # fmt: skip
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_user, pg_ctl, "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True)  # fmt: skip
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "board.db")
    url: str = request.getfixturevalue("postgres_url")
    engine = make_engine(url)
    Base.metadata.drop_all(engine)  # each test starts from an empty database
    with engine.begin() as connection:
        connection.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
    engine.dispose()
    return url


def test_migrations_build_exactly_the_models(db_url: str) -> None:
    engine, _ = open_database(db_url)
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
    migrate(engine)  # idempotent
    migrate(engine, "base", downgrade=True)  # and reversible
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    migrate(engine)
    engine.dispose()


def test_upgrading_keeps_the_size_of_every_stored_file(db_url: str) -> None:
    engine = make_engine(db_url)
    migrate(engine, "0001")
    body = '{"agent": "é"}'  # 14 characters, 15 bytes
    with engine.begin() as connection:
        connection.exec_driver_sql(
            "INSERT INTO tokens (id, name, token_hash, created_at, revoked) "
            "VALUES (1, 'a', 'h', '2026-01-01', false)"
        )
        connection.exec_driver_sql(
            "INSERT INTO submissions (id, token_id, content_sha256, suite, suite_hash, "
            "agent_name, status, reason, body, summary, created_at) VALUES (1, 1, 'c', 's', "
            f"'h', 'n', 'pending', '', '{body}', '', '2026-01-01')"
        )
    migrate(engine)
    with engine.connect() as connection:
        size = connection.exec_driver_sql("SELECT body_bytes FROM submissions").scalar()
    assert size == len(body.encode()) == 15
    engine.dispose()


def test_a_submission_end_to_end(db_url: str, results_bytes: bytes) -> None:
    app = create_app(ServerConfig(db=db_url, suites=[SMALL], secret=b"s", verify=False))
    with TestClient(app) as client:
        token = create_token(app.state.sessions, "alice")
        with pytest.raises(InvalidArgumentError, match="exists already"):
            create_token(app.state.sessions, "alice")
        headers = {"Authorization": f"Bearer {token}"}
        response = client.post("/api/submissions", content=results_bytes, headers=headers)
        assert response.status_code == 202
        assert client.post("/api/submissions", content=results_bytes,
                           headers=headers).status_code == 409  # fmt: skip
        while app.state.verifier.run_once():
            pass
        table = client.get("/api/leaderboard/test-suite").json()
        assert [row["status"] for row in table] == ["verified"]


def test_sqlite_runs_in_wal_mode(tmp_path: Path) -> None:
    engine, _ = open_database(str(tmp_path / "wal.db"))
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
    engine.dispose()


@pytest.mark.parametrize("bad", ["postgresql://user@:notaport/db", "nodriver://x"])
def test_bad_database_urls_are_clear_errors(bad: str) -> None:
    with pytest.raises(InvalidArgumentError):
        open_database(bad)


def test_a_path_is_a_sqlite_file(tmp_path: Path) -> None:
    assert database_url(str(tmp_path / "sub" / "x.db")) == f"sqlite:///{tmp_path}/sub/x.db"
    assert (tmp_path / "sub").is_dir()


def test_an_unreachable_database_is_a_clear_error() -> None:
    port = free_port()  # nobody listens there
    with pytest.raises(InvalidArgumentError, match="cannot open database"):
        open_database(f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres")
