"""The environment commands: envs, play, run (and its episode player), serve-env."""

import io
import json
from pathlib import Path

import pytest

from palaestra.cli import main


def test_envs_lists_every_id(capsys: pytest.CaptureFixture[str]) -> None:
    import palaestra

    assert main(["envs"]) == 0
    out = capsys.readouterr().out
    for env_id in palaestra.env_ids():
        assert env_id in out


def test_run_prints_summary_and_writes_records(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "records.json"
    code = main(
        [
            "run",
            "palaestra/Bandit-v0",
            "--agent",
            "oracle",
            "--episodes",
            "3",
            "--seed",
            "7",
            "--out",
            str(out),
            "--no-progress",
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "oracle on palaestra/Bandit-v0" in printed and "regret" in printed
    records = json.loads(out.read_text())
    assert [r["seed"] for r in records] == [7, 8, 9]
    assert all(r["success"] for r in records)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "palaestra/Bandt-v0"], "Did you mean: `Bandit`"),
        (["run", "palaestra/Bandit-v0", "--agent", "ucp"], "did you mean 'ucb'"),
    ],
)
def test_errors_exit_2_with_suggestion(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    assert message in capsys.readouterr().out.replace("\n", " ")


def test_unknown_option_is_rejected(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["run", "palaestra/Bandit-v0", "--episods", "3"])
    assert exc.value.code == 2


def test_play_with_typed_input(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Two typed arm names, one listed-action number, one invalid word, then end of input.
    monkeypatch.setattr("sys.stdin", io.StringIO("A\n2\nbanana\nquit\n"))
    assert main(["play", "palaestra/Bandit-TwoArmed-v0", "--seed", "0"]) == 0
    out = capsys.readouterr().out
    assert "You are playing a 2-armed bandit" in out
    assert "You pulled A" in out and "You pulled B" in out
    assert "(invalid action)" in out


def test_play_to_the_end(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("A\n" * 30))
    assert main(["play", "palaestra/Bandit-TwoArmed-v0", "--seed", "1"]) == 0
    assert "Episode over: success=" in capsys.readouterr().out


def test_serve_env_rejects_kwargs_that_are_not_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve-env", "palaestra/Bandit-v0", "--env-kwargs", "{horizon: 3"]) == 2
    out = capsys.readouterr().out
    assert "env_kwargs is not valid JSON" in out and "Traceback" not in out
