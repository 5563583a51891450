"""tianshou baselines: DQN learns the bandit and to defect against a cooperator; PPO runs."""

import json
from pathlib import Path

import pytest

from palaestra.baselines.training import BaselineConfig, save_curve, train_baseline
from palaestra.cli import main
from palaestra.errors import InvalidArgumentError

BANDIT = '{"horizon": 1, "means": [0.1, 0.2, 0.9, 0.3, 0.2]}'


def test_dqn_beats_random_on_the_five_armed_bandit() -> None:
    config = BaselineConfig("palaestra/Bandit-v0", env_kwargs=BANDIT, epochs=2, steps_per_epoch=400)
    result = train_baseline(config)
    assert result.final_return > result.random_return + 0.3


def test_dqn_learns_to_defect_against_always_cooperate() -> None:
    kwargs = '{"horizon": 1, "opponent": "always_cooperate"}'
    config = BaselineConfig(
        "palaestra/PrisonersDilemma-v0", env_kwargs=kwargs, epochs=2, steps_per_epoch=400
    )
    result = train_baseline(config)
    assert result.final_return == 5.0  # defect every time (random averages 4)
    assert result.random_return < 4.5


def test_ppo_trains_and_is_seeded() -> None:
    config = BaselineConfig(
        "palaestra/Bandit-v0", algo="ppo", env_kwargs=BANDIT, epochs=2, steps_per_epoch=512
    )
    first, second = train_baseline(config), train_baseline(config)
    assert first.curve == second.curve
    assert first.final_return > first.random_return


def test_curve_files(tmp_path: Path) -> None:
    config = BaselineConfig("palaestra/Bandit-v0", env_kwargs=BANDIT, epochs=1, steps_per_epoch=64)
    paths = save_curve(train_baseline(config), config, tmp_path)
    assert json.loads(paths[0].read_text())["algo"] == "dqn"
    assert paths[1].read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"env_kwargs": "{nope"}, "not valid JSON"),
        ({"env_kwargs": "[1]"}, "JSON object"),
        ({"algo": "sac"}, "dqn' or 'ppo"),
        ({"epochs": 0}, "positive"),
    ],
)
def test_bad_configs(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        train_baseline(BaselineConfig("palaestra/Bandit-v0", **kwargs))  # type: ignore[arg-type]


def test_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["baseline", "palaestra/Bandit-v0", "--env-kwargs", BANDIT, "--epochs", "1",
            "--steps-per-epoch", "64", "--out", str(tmp_path)]  # fmt: skip
    assert main(argv) in (0, None)
    assert "random policy" in capsys.readouterr().out
    assert (tmp_path / "curve.json").is_file()
