"""run_episode / run_episodes records and the summary."""

from typing import Any

import gymnasium as gym
import pytest

import palaestra
from palaestra.agents import OracleAgent, RandomAgent
from palaestra.rollout.loop import summarize_episodes


class Stubborn:
    """Always says the same thing."""

    def __init__(self, action: str) -> None:
        self.action = action
        self.instructions: list[str] = []

    def reset(self, instruction: str) -> None:
        self.instructions.append(instruction)

    def act(self, observation: str, info: dict[str, Any]) -> str:
        return self.action


def test_run_episode_record() -> None:
    env = gym.make("palaestra/Bandit-TwoArmed-v0")
    agent = Stubborn("A")
    record = palaestra.run_episode(env, agent, seed=4)
    assert record.env_id == "palaestra/Bandit-TwoArmed-v0" and record.seed == 4
    assert record.length == 30 and record.actions == ["A"] * 30
    assert record.terminated and record.invalid_actions == 0
    assert set(record.metrics) == {"regret", "optimal_arm_rate", "invalid_actions"}
    assert agent.instructions[0].startswith("You are playing a 2-armed bandit")
    again = palaestra.run_episode(env, Stubborn("A"), seed=4)
    assert again.rewards == record.rewards


def test_invalid_actions_are_counted() -> None:
    record = palaestra.run_episode(gym.make("palaestra/Bandit-v0"), Stubborn("zzz"), seed=0)
    assert record.invalid_actions == 50 and record.total_reward == pytest.approx(-5.0)
    assert record.metrics["invalid_actions"] == 50


def test_max_steps_caps_endless_episodes() -> None:
    env = gym.make("palaestra/Bandit-v0", horizon=1000)
    record = palaestra.run_episode(env, Stubborn("A"), seed=0, max_steps=7)
    assert record.length == 7 and not record.terminated


def test_run_episodes_seeds_and_summary() -> None:
    env = gym.make("palaestra/Bandit-v0")
    records = palaestra.run_episodes(env, OracleAgent(env), episodes=4, seed=10)
    assert [r.seed for r in records] == [10, 11, 12, 13]
    summary = summarize_episodes(records)
    assert summary["episodes"] == 4 and summary["success_rate"] == 1.0
    assert summary["regret"] == 0.0 and summary["optimal_arm_rate"] == 1.0
    assert summary["length"] == 50 and summary["invalid_rate"] == 0.0
    assert summarize_episodes([]) == {"episodes": 0.0}


def test_run_episodes_by_id_with_on_step() -> None:
    records = palaestra.run_episodes("palaestra/Bandit-TwoArmed-v0", RandomAgent(0), episodes=2)
    assert len(records) == 2 and records[0].to_dict()["env_id"] == "palaestra/Bandit-TwoArmed-v0"
    seen: list[float] = []
    palaestra.run_episode(
        gym.make("palaestra/Bandit-v0"),
        RandomAgent(0),
        seed=0,
        on_step=lambda env, reward, info: seen.append(env.unwrapped.regret),
    )
    assert len(seen) == 50 and seen == sorted(seen)
