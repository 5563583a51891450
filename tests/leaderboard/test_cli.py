"""The leaderboard commands: tokens, serving, evaluating on hidden seeds, submitting."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from palaestra.cli import main

from .live import LiveServer, cli_token


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, suite_file: Path) -> Iterator[LiveServer]:
    live = LiveServer(tmp_path_factory.mktemp("cli") / "board.db", suite_file).start()
    yield live
    live.stop()


def test_token_create_prints_the_token_last_and_stores_its_hash(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "tokens.db"
    token = cli_token(db, "alice", capsys)
    assert len(token) == 43
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("tokens.db*"))
    assert token.encode() not in stored
    assert main(["leaderboard", "token", "create", "--db", str(db), "--name", "alice"]) == 2
    assert "exists already" in capsys.readouterr().out
    assert main(["leaderboard", "token", "revoke", "--db", str(db), "--name", "bob"]) == 2
    assert main(["leaderboard", "token", "revoke", "--db", str(db), "--name", "alice"]) == 0


def test_evaluate_on_hidden_seeds_then_submit(
    server: LiveServer, suite_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    token = cli_token(server.db, "hidden", capsys)
    out = tmp_path / "results.json"
    argv = ["evaluate", "--agent", "random", "--suite", str(suite_file), "--out", str(out),
            "--server", server.url, "--token", token, "--no-progress"]  # fmt: skip
    assert main(argv) == 0
    assert json.loads(out.read_text())["challenge"] is not None
    assert main(["submit", str(out), "--server", server.url, "--token", token]) == 0
    assert "verified" in capsys.readouterr().out
    assert main(["submit", str(out), "--server", server.url, "--token", token]) == 2
    assert "409: this results file was submitted already" in capsys.readouterr().out


def test_refused_submissions_exit_non_zero_with_the_reason(
    server: LiveServer,
    results_bytes: bytes,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    token = cli_token(server.db, "forger", capsys)
    data = json.loads(results_bytes)
    data["episodes"][2]["rewards"][-1] += 5
    data["agent"]["name"] = "forger's agent"  # names are one submitter's each
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps(data))
    monkeypatch.setenv("PALAESTRA_TOKEN", token)
    assert main(["submit", str(forged), "--server", server.url]) == 2
    output = capsys.readouterr().out
    assert "rejected" in output and "episode bandit seed 2" in output
    assert main(["submit", str(forged), "--server", server.url, "--token", "wrong"]) == 2
    assert "401" in capsys.readouterr().out
    monkeypatch.delenv("PALAESTRA_TOKEN")
    assert main(["submit", str(forged), "--server", server.url]) == 2
    assert "--token" in capsys.readouterr().out
    assert main(["submit", str(tmp_path / "missing.json"), "--token", "t"]) == 2


def test_an_unreachable_server_is_a_clear_error(
    results_bytes: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from palaestra.leaderboard.demo import free_port

    path = tmp_path / "r.json"
    path.write_bytes(results_bytes)
    url = f"http://127.0.0.1:{free_port()}"
    assert main(["submit", str(path), "--server", url, "--token", "t"]) == 2
    assert "cannot reach" in capsys.readouterr().out
