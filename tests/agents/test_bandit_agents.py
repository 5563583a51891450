"""Classic bandit baselines beat random and the oracle has zero regret."""

import gymnasium as gym
import numpy as np
import pytest

from palaestra.agents import (
    EpsilonGreedyAgent,
    OracleAgent,
    RandomAgent,
    ThompsonSamplingAgent,
    UCB1Agent,
)
from palaestra.agents.scripted import FALLBACK_WORDS
from palaestra.errors import InvalidArgumentError
from palaestra.rollout.loop import run_episodes


def mean_regret(env_id: str, agent: object, episodes: int = 30) -> float:
    records = run_episodes(env_id, agent, episodes=episodes, seed=100)  # type: ignore[arg-type]
    return float(np.mean([r.metrics["regret"] for r in records]))


@pytest.mark.parametrize(
    "env_id",
    ["palaestra/Bandit-v0", "palaestra/Bandit-Gaussian-v0", "palaestra/ContextualBandit-v0"],
)
@pytest.mark.parametrize("agent_cls", [UCB1Agent, ThompsonSamplingAgent, EpsilonGreedyAgent])
def test_baselines_beat_random(env_id: str, agent_cls: type) -> None:
    random_regret = mean_regret(env_id, RandomAgent(seed=0))
    assert mean_regret(env_id, agent_cls(seed=0)) < 0.8 * random_regret


def test_oracle_has_zero_regret() -> None:
    env = gym.make("palaestra/Bandit-Hard-v0")
    records = run_episodes(env, OracleAgent(env), episodes=5)
    assert all(r.metrics["regret"] == 0.0 and r.success for r in records)


def test_oracle_needs_an_oracle() -> None:
    class Plain(gym.Env[str, str]):
        pass

    with pytest.raises(InvalidArgumentError, match="Plain has no oracle"):
        OracleAgent(Plain())


def test_random_agent_uses_available_actions_and_is_seeded() -> None:
    a, b = RandomAgent(seed=5), RandomAgent(seed=5)
    info = {"available_actions": ["x", "y", "z"]}
    picks = [a.act("", info) for _ in range(30)]
    assert picks == [b.act("", info) for _ in range(30)]
    assert set(picks) == {"x", "y", "z"}
    assert a.act("", {}) in FALLBACK_WORDS


def test_agents_tries_every_arm_first() -> None:
    agent = UCB1Agent(seed=0)
    agent.reset("")
    arms = ["A", "B", "C"]
    seen = []
    info: dict[str, object] = {"available_actions": arms}
    for _ in range(3):
        arm = agent.act("", info)
        seen.append(arm)
        info = {"available_actions": arms, "arm": arm, "arm_reward": 0.0}
    assert sorted(seen) == arms


def test_thompson_switches_to_gaussian_posterior() -> None:
    agent = ThompsonSamplingAgent(seed=0)
    agent.reset("")
    info: dict[str, object] = {"available_actions": ["A", "B"]}
    for arm, reward in [("A", 3.0), ("B", -2.0), ("A", 2.5), ("B", -1.5)]:
        agent.act("", info)
        info = {"available_actions": ["A", "B"], "arm": arm, "arm_reward": reward}
    assert agent.act("", info) == "A"
    assert agent.unit_payouts is False


def test_epsilon_validation() -> None:
    with pytest.raises(InvalidArgumentError, match="epsilon"):
        EpsilonGreedyAgent(epsilon=1.5)
