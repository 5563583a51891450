"""A small suite, results files on it, and a leaderboard app on a SQLite file."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from palaestra.leaderboard import Results, evaluate, parse_suite
from palaestra.leaderboard.server import ServerConfig, create_app
from palaestra.leaderboard.store import create_token

#: Two quick families: a 5-round bandit and a 3-round noisy prisoner's dilemma.
SUITE_DATA: dict[str, Any] = {
    "id": "test-suite",
    "description": "Two quick tasks.",
    "tasks": [
        {"name": "bandit", "family": "bandits", "env": "palaestra/Bandit-v0",
         "kwargs": {"horizon": 5}, "episodes": 3},
        {"name": "pd", "family": "social", "env": "palaestra/PrisonersDilemma-v0",
         "kwargs": {"horizon": 3, "noise": 0.1}, "episodes": 2},
    ],
}  # fmt: skip
SMALL = parse_suite(SUITE_DATA)


@pytest.fixture(scope="session")
def suite_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small suite as a file, as a server operator would give it."""
    path = tmp_path_factory.mktemp("suite") / "test-suite.json"
    path.write_text(json.dumps(SUITE_DATA))
    return path


@pytest.fixture(scope="session")
def results_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A results file of the random agent on the small suite's development seeds."""
    out = tmp_path_factory.mktemp("results") / "random.json"
    evaluate("random", SMALL, out, progress=False)
    return out.read_bytes()


@pytest.fixture
def results(results_bytes: bytes) -> Results:
    """A fresh parsed copy to forge."""
    return Results.model_validate_json(results_bytes)


@dataclass
class Board:
    """A test server: the app, an HTTP client, a token and a helper to run the verifier."""

    app: FastAPI
    client: TestClient
    token: str
    db: Path

    def headers(self, token: str | None = None) -> dict[str, str]:
        """Authorization header for ``token`` (the board's own by default)."""
        return {"Authorization": f"Bearer {token or self.token}"}

    def post(self, body: bytes | str | Results, token: str | None = None) -> Any:
        """POST a results file."""
        if isinstance(body, Results):
            body = body.model_dump_json()
        return self.client.post("/api/submissions", content=body, headers=self.headers(token))

    def verify_all(self) -> None:
        """Replay every pending submission now."""
        while self.app.state.verifier.run_once():
            pass

    def new_token(self, name: str) -> str:
        """Another submitter."""
        return create_token(self.app.state.sessions, name)


@pytest.fixture
def make_board(tmp_path: Path) -> Iterator[Callable[..., Board]]:
    """Build boards on fresh SQLite files; ``ServerConfig`` fields as keywords."""
    clients: list[TestClient] = []

    def make(**config: Any) -> Board:
        db = tmp_path / f"board{len(clients)}.db"
        settings = {"suites": [SMALL], "secret": b"test secret", "verify": False, **config}
        app = create_app(ServerConfig(db=str(db), **settings))
        client = TestClient(app)
        client.__enter__()
        clients.append(client)
        return Board(app, client, create_token(app.state.sessions, "alice"), db)

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def board(make_board: Callable[..., Board]) -> Board:
    """A board with default limits and the verifier driven by hand."""
    return make_board()
