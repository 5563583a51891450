"""The leaderboard commands: tokens, serving, evaluating (dev seeds, hidden seeds), submitting."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from palaestra.cli import main
from palaestra.leaderboard.store import TOKEN_PREFIX

from ..leaderboard.live import LiveServer, cli_token


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
    assert len(token) == len(TOKEN_PREFIX) + 43
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("tokens.db*"))
    assert token.encode() not in stored
    assert main(["leaderboard", "token", "create", "--db", str(db), "--name", "alice"]) == 2
    assert "exists already" in capsys.readouterr().out
    assert main(["leaderboard", "token", "revoke", "--db", str(db), "--name", "bob"]) == 2
    assert main(["leaderboard", "token", "revoke", "--db", str(db), "--name", "alice"]) == 0


def test_evaluate_on_hidden_seeds_then_submit(
    server: LiveServer, suite_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The previous release's spellings: `palaestra evaluate --server` does not submit.
    token = cli_token(server.db, "hidden", capsys)
    out = tmp_path / "results.json"
    argv = ["evaluate", "--agent", "random", "--suite", str(suite_file), "--out", str(out),
            "--server", server.url, "--token", token, "--no-progress"]  # fmt: skip
    assert main(argv) == 0
    assert "`palaestra evaluate` is deprecated" in capsys.readouterr().err
    assert json.loads(out.read_text())["challenge"] is not None
    assert main(["submit", str(out), "--server", server.url, "--token", token]) == 0
    printed = capsys.readouterr()
    assert "verified" in printed.out
    assert "`palaestra submit` is deprecated; use `palaestra leaderboard submit`" in printed.err
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
    assert main(["leaderboard", "submit", str(forged), "--server", server.url]) == 2
    output = capsys.readouterr().out
    assert "rejected" in output and "episode bandit seed 2" in output
    assert (
        main(["leaderboard", "submit", str(forged), "--server", server.url, "--token", "wrong"])
        == 2
    )
    assert "401" in capsys.readouterr().out
    monkeypatch.delenv("PALAESTRA_TOKEN")
    assert main(["leaderboard", "submit", str(forged), "--server", server.url]) == 2
    assert "--token" in capsys.readouterr().out
    assert main(["leaderboard", "submit", str(tmp_path / "missing.json"), "--token", "t"]) == 2


def test_an_unreachable_server_is_a_clear_error(
    results_bytes: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from palaestra.leaderboard.served import free_port

    path = tmp_path / "r.json"
    path.write_bytes(results_bytes)
    url = f"http://127.0.0.1:{free_port()}"
    assert main(["leaderboard", "submit", str(path), "--server", url, "--token", "t"]) == 2
    assert "cannot reach" in capsys.readouterr().out


def test_hidden_seeds_are_submitted_unless_told_not_to(
    server: LiveServer, suite_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    token = cli_token(server.db, "kept", capsys)
    out = tmp_path / "results.json"
    argv = ["leaderboard", "evaluate", "--suite", str(suite_file), "--out", str(out),
            "--name", "kept's random", "--server", server.url, "--token", token,
            "--no-progress"]  # fmt: skip
    assert main([*argv, "--no-submit"]) == 0
    printed = capsys.readouterr()
    assert "playing hidden seeds" in printed.out and "submission" not in printed.out
    assert printed.err == ""  # this release's spelling: no deprecation message
    assert main(argv) == 0  # a new challenge, played and submitted
    assert "verified" in capsys.readouterr().out


def test_development_seeds_then_verify(
    suite_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "results.json"
    argv = ["leaderboard", "evaluate", "--agent", "ucb", "--suite", str(suite_file),
            "--tasks", "bandits", "--out", str(out), "--no-progress"]  # fmt: skip
    assert main(argv) == 0
    assert "return (95% CI)" in capsys.readouterr().out  # the table of tasks
    played = json.loads(out.read_text())
    assert played["challenge"] is None and set(played["tasks"]) == {"bandit"}
    assert main(["leaderboard", "verify", str(out), "--suite", str(suite_file)]) == 0
    assert "verified: 3 episodes replay as claimed" in capsys.readouterr().out
    assert main(["verify", str(out), "--suite", str(suite_file)]) == 0  # the previous spelling
    printed_both = capsys.readouterr()
    assert "verified: 3 episodes" in printed_both.out
    assert "`palaestra verify` is deprecated; use `palaestra leaderboard verify`" in (
        printed_both.err
    )


def test_live_needs_a_server(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["leaderboard", "evaluate", "--live", "--token", "t"]) == 2
    assert "--live plays through a leaderboard server: give --server" in capsys.readouterr().out


def test_only_serve_and_token_need_the_server_stack(
    results_bytes: bytes,
    suite_file: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = tmp_path / "r.json"
    path.write_bytes(results_bytes)
    for module in ("fastapi", "uvicorn", "alembic", "sqlalchemy"):
        monkeypatch.setitem(sys.modules, module, None)  # as if not installed
    assert main(["leaderboard", "verify", str(path), "--suite", str(suite_file)]) == 0
    capsys.readouterr()
    assert main(["leaderboard", "serve"]) == 2
    assert "palaestra leaderboard serve needs fastapi: pip install 'palaestra[leaderboard]'" in (
        capsys.readouterr().out.replace("\n", " ")
    )
    db = str(tmp_path / "t.db")
    assert main(["leaderboard", "token", "create", "--name", "x", "--db", db]) == 2
    assert "palaestra leaderboard token needs sqlalchemy" in capsys.readouterr().out
