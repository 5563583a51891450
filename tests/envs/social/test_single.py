"""The Gymnasium single-agent views against the scripted opponents."""

import gymnasium as gym
import pytest

from palaestra.errors import InvalidArgumentError


def play(env: gym.Env[str, str], moves: list[str], seed: int = 0) -> list[float]:
    env.reset(seed=seed)
    rewards = []
    for move in moves:
        _, reward, terminated, _, _ = env.step(move)
        rewards.append(reward)
        if terminated:
            break
    return rewards


def test_defecting_exploits_always_cooperate() -> None:
    env = gym.make("palaestra/PrisonersDilemma-v0", opponent="always_cooperate", horizon=1)
    assert play(env, ["defect"]) == [5.0]


def test_tit_for_tat_retaliates_and_forgives() -> None:
    env = gym.make("palaestra/PrisonersDilemma-v0", opponent="tit_for_tat", horizon=4)
    assert play(env, ["defect", "cooperate", "cooperate", "cooperate"]) == [5.0, 0.0, 3.0, 3.0]


def test_grim_trigger_never_forgives() -> None:
    env = gym.make("palaestra/PrisonersDilemma-v0", opponent="grim_trigger", horizon=4)
    assert play(env, ["defect", "cooperate", "cooperate", "cooperate"]) == [5.0, 0.0, 0.0, 0.0]


def test_public_goods_against_free_riders() -> None:
    env = gym.make("palaestra/PublicGoods-v0", opponent="always_defect", horizon=1)
    # Alone in the pot: 10 * 1.6 / 4 = 4 back.
    assert play(env, ["10"]) == [pytest.approx(4.0)]


def test_success_and_metrics() -> None:
    env = gym.make("palaestra/StagHunt-v0", opponent="always_cooperate", horizon=2)
    env.reset(seed=0)
    env.step("stag")
    *_, info = env.step("stag")
    assert info["success"] and info["episode_metrics"]["cooperation"] == 1.0
    env.reset(seed=0)
    env.step("hare")
    *_, info = env.step("nonsense")
    assert not info["success"] and info["episode_metrics"]["invalid_actions"] == 1


def test_unknown_opponent_suggests() -> None:
    with pytest.raises(InvalidArgumentError, match="did you mean 'tit_for_tat'"):
        gym.make("palaestra/PrisonersDilemma-v0", opponent="tit_for_tatt")
