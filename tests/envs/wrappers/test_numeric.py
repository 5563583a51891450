"""The numeric view that non-LLM baselines train on."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from palaestra.envs.wrappers.numeric import NumericView
from palaestra.errors import InvalidArgumentError


@pytest.mark.filterwarnings("ignore:.*different from the unwrapped version")
@pytest.mark.filterwarnings("ignore:.*Box observation space (maximum|minimum) value")
@pytest.mark.parametrize(
    "env_id",
    ["palaestra/Bandit-v0", "palaestra/ContextualBandit-v0", "palaestra/PrisonersDilemma-v0",
     "palaestra/PublicGoods-v0"],
)  # fmt: skip
def test_passes_gymnasium_checker(env_id: str) -> None:
    check_env(NumericView(gym.make(env_id)), skip_render_check=True)


def test_bandit_statistics() -> None:
    env = NumericView(gym.make("palaestra/Bandit-v0", horizon=4, means=[0, 0, 1, 0, 0]))
    observation, _ = env.reset(seed=0)
    assert observation.tolist() == [0.0] * 10 + [1.0, 0.0]
    observation, reward, *_ = env.step(2)  # arm C always pays
    assert reward == 1.0
    assert observation[2] == 0.25 and observation[5 + 2] == 1.0 and observation[-1] == 0.25


def test_dilemma_last_moves() -> None:
    env = NumericView(gym.make("palaestra/PrisonersDilemma-v0", opponent="always_defect"))
    observation, _ = env.reset(seed=0)
    assert observation.tolist() == [0, 0, 0, 0, 1, 0]
    observation, reward, *_ = env.step(0)  # cooperate against a defector
    assert reward == 0.0
    assert np.allclose(observation, [1, 0, 0, 1, 0, 0.1])


def test_text_envs_without_a_numeric_view_are_refused() -> None:
    with pytest.raises(InvalidArgumentError, match="has no numeric view"):
        NumericView(gym.make("palaestra/Math-v0"))
