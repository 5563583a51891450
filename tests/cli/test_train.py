"""``palaestra train ALGO``, ``compare`` and ``baseline``: what they parse."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from palaestra.algorithms import ALGORITHMS, DAPO
from palaestra.algorithms.config import TrainConfig
from palaestra.baselines.training import BaselineConfig
from palaestra.cli import parse
from palaestra.cli.train import Baseline, Compare, Train, algorithm_for

BANDIT = ["--env", "palaestra/Bandit-v0", "--steps", "3"]


def _train(argv: list[str]) -> Train:
    command = parse(argv).command
    assert isinstance(command, Train)
    return command


@pytest.mark.parametrize("name", ALGORITHMS)
def test_train_name_parses_that_algorithm(name: str) -> None:
    command = _train(["train", name, *BANDIT])
    algorithm, config = ALGORITHMS[name]
    assert command.algo == config
    assert command.run == TrainConfig(env="palaestra/Bandit-v0", steps=3)
    assert type(algorithm_for(command.algo)) is algorithm


def test_each_config_type_belongs_to_one_algorithm() -> None:
    # algorithm_for finds the algorithm from the parsed config's type.
    owners: dict[type, set[type]] = {}
    for algorithm, config in ALGORITHMS.values():
        owners.setdefault(type(config), set()).add(algorithm)
    assert all(len(algorithms) == 1 for algorithms in owners.values())


def test_the_algorithm_fields_are_options() -> None:
    command = _train(["train", "dapo", "--algo.clip-high", "0.3", "--algo.no-dynamic-sampling",
                      "--algo.kl-coef", "0.01", *BANDIT])  # fmt: skip
    assert command.algo == dataclasses.replace(
        DAPO, clip_high=0.3, dynamic_sampling=False, kl_coef=0.01
    )


def test_run_options_may_come_before_the_algorithm() -> None:
    assert _train(["train", "--steps", "3", "dapo"]).run.steps == 3


def test_without_a_name_the_algorithm_is_grpo() -> None:
    assert _train(["train", *BANDIT]).algo == ALGORITHMS["grpo"][1]


@pytest.mark.parametrize("spelling", [["--algo", "dapo"], ["--algo=dapo"]])
def test_the_previous_algo_option_still_works(
    spelling: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    old = _train(["train", *spelling, *BANDIT, "--algo.clip-high", "0.3"])
    err = capsys.readouterr().err
    assert "`palaestra train --algo NAME` is deprecated; use `palaestra train NAME`" in err
    assert old == _train(["train", "dapo", *BANDIT, "--algo.clip-high", "0.3"])
    assert capsys.readouterr().err == ""


def test_a_bad_run_setting_is_a_parse_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        parse(["train", "grpo", "--steps", "0"])
    assert exc.value.code == 2
    assert "steps must be >= 1" in capsys.readouterr().err


def test_compare_parses_its_options_and_the_run() -> None:
    command = parse(["compare", "--algos", "grpo,salt", "--seeds", "3", *BANDIT]).command
    assert isinstance(command, Compare)
    assert (command.algos, command.seeds) == ("grpo,salt", 3)
    assert command.run == TrainConfig(env="palaestra/Bandit-v0", steps=3)


def test_baseline_takes_every_field_of_its_config(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["baseline", "palaestra/Bandit-v0", "--algo", "ppo", "--n-envs", "2", "--gamma",
            "0.9", "--eval-episodes", "5", "--out", "elsewhere"]  # fmt: skip
    command = parse(argv).command
    assert isinstance(command, Baseline)
    assert command.config == BaselineConfig(
        env="palaestra/Bandit-v0", algo="ppo", n_envs=2, gamma=0.9, eval_episodes=5
    )
    assert command.out == Path("elsewhere")
    with pytest.raises(SystemExit):
        parse(["baseline", "--help"])
    help_text = capsys.readouterr().out
    options = [f.name for f in dataclasses.fields(BaselineConfig) if f.name != "env"]
    assert all(f"--{name.replace('_', '-')} " in help_text for name in options)
