"""The command line as a whole: every command's help, hostile input, the global flag, imports."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from palaestra.algorithms import ALGORITHMS
from palaestra.cli import COMMANDS, main
from palaestra.cli.leaderboard import LEADERBOARD_COMMANDS
from palaestra.sandbox.isolation import UNSAFE_VARIABLE

PACKAGE = Path(__file__).resolve().parents[2] / "palaestra"

EVERY_COMMAND = [
    [],
    *([name] for name in COMMANDS),
    *(["leaderboard", name] for name in LEADERBOARD_COMMANDS),
    *(["train", name] for name in ALGORITHMS),
]


@pytest.mark.parametrize("words", EVERY_COMMAND, ids=" ".join)
def test_every_command_has_help(words: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main([*words, "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert f"usage: {' '.join(['palaestra', *words])} " in out
    assert "--unsafe-sandbox" in out  # the global flag, wherever it is given


def test_an_algorithm_help_lists_the_run_and_the_loss_options(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        main(["train", "grpo", "--help"])
    out = capsys.readouterr().out
    assert "--env STR" in out and "--steps INT" in out  # the run
    assert "--algo.clip-high FLOAT" in out and "--algo.kl-coef FLOAT" in out  # the algorithm


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["trian"], "unknown command 'trian'; did you mean 'train'?"),
        (["--unsafe-sandbox", "evns"], "unknown command 'evns'; did you mean 'envs'?"),
        (["leaderboard", "sevre"], "unknown leaderboard command 'sevre'; did you mean 'serve'?"),
        (["train", "grpoo", "--steps", "1"], "unknown algorithm 'grpoo'; did you mean 'grpo'?"),
        (["train", "--algo", "rlo"], "unknown algorithm 'rlo'; did you mean 'rloo'?"),
    ],
)
def test_an_unknown_name_exits_2_with_the_closest(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    out = capsys.readouterr().out.replace("\n", " ")
    assert message in out and "Traceback" not in out


def test_bad_env_kwargs_json_is_a_parse_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["train", "grpo", "--env-kwargs", "{horizon: 1}"])
    assert exc.value.code == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "env_kwargs is not valid JSON" in err and "Traceback" not in err


def test_bad_baseline_env_kwargs_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["baseline", "palaestra/Bandit-v0", "--env-kwargs", "[1", "--epochs", "1"]) == 2
    assert "env_kwargs is not valid JSON" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [["--unsafe-sandbox", "envs"], ["envs", "--unsafe-sandbox"]])
def test_the_unsafe_sandbox_flag_sets_the_variable(
    argv: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(UNSAFE_VARIABLE, raising=False)
    assert main(argv) == 0
    assert os.environ[UNSAFE_VARIABLE] == "1"


def test_without_the_flag_the_variable_is_not_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(UNSAFE_VARIABLE, raising=False)
    assert main(["envs"]) == 0
    assert UNSAFE_VARIABLE not in os.environ


# That no library module imports the command line is part of tests/test_layers.py.


def test_the_demos_and_reporting_load_without_the_command_line() -> None:
    code = (
        "import sys\n"
        "import palaestra.demo, palaestra.demo.leaderboard, palaestra.reporting\n"
        "assert not [m for m in sys.modules if m.startswith('palaestra.cli')], sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=PACKAGE.parent)


def test_commands_other_than_training_start_without_torch() -> None:
    code = (
        "import sys\n"
        "from palaestra.cli import main\n"
        "assert main(['envs']) == 0\n"
        "assert 'torch' not in sys.modules and 'fastapi' not in sys.modules\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=PACKAGE.parent
    )
    assert result.returncode == 0, result.stderr
