"""Run settings: validation before any work, and Dr. GRPO's token budget."""

from dataclasses import replace
from pathlib import Path
from typing import Any

import gymnasium as gym
import pytest

from palaestra.algorithms import make_algorithm
from palaestra.algorithms.trainer import Trainer
from palaestra.errors import InvalidArgumentError
from tests.algorithms.helpers import config


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"steps": 0}, "steps must be >= 1"),
        ({"env": "palaestra/Bandt-v0"}, "did you mean 'palaestra/Bandit-v0'"),
        ({"env_kwargs": "{horizon: 1}"}, "env_kwargs is not valid JSON"),
        ({"env_kwargs": "[1]"}, "must be a JSON object"),
        ({"history": 2}, "history .* needs layout=per_turn"),
        ({"temperature": 0.0}, "temperature must be positive"),
        ({"layout": "packed"}, "layout must be one of"),
    ],
)
def test_bad_configs_fail_before_any_work(
    tmp_path: Path, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        config(tmp_path, **kwargs)


def test_dr_grpo_divides_by_a_fixed_token_budget(tmp_path: Path) -> None:
    # max_new_tokens x the most turns: the bandit's horizon (2) in the concat layout, one
    # turn per sequence in per_turn, the configured constant when there is one.
    dr = make_algorithm("dr_grpo")
    two = config(tmp_path, env_kwargs='{"horizon": 2}', max_new_tokens=4)
    assert Trainer(two, dr).norm_length == 8
    assert Trainer(replace(two, max_turns=1), dr).norm_length == 4
    assert Trainer(replace(two, layout="per_turn"), dr).norm_length == 4
    fixed = make_algorithm("dr_grpo", loss_norm_length=100)
    assert Trainer(two, fixed).norm_length == 100
    with pytest.raises(InvalidArgumentError, match="has no turn limit: set --max-turns"):
        Trainer(config(tmp_path, env="palaestra/PrisonersDilemma-v0", env_kwargs="{}"), dr)
    assert gym.make("palaestra/MathTool-v0").unwrapped.turn_limit == 5  # 4 tool calls + 1
