"""The agent factory: names to agents, and playing an agent spec on seeds."""

import gymnasium as gym
import pytest

from palaestra.agents import OracleAgent, RandomAgent, make_agent, play_agent
from palaestra.errors import UnknownNameError


def test_scripted_names_make_their_agents() -> None:
    env = gym.make("palaestra/Bandit-v0")
    assert isinstance(make_agent("oracle", env), OracleAgent)
    assert isinstance(make_agent("random", env, seed=3), RandomAgent)


def test_an_unknown_name_suggests_the_closest() -> None:
    with pytest.raises(UnknownNameError, match="did you mean 'oracle'"):
        make_agent("oracel", gym.make("palaestra/Bandit-v0"))
    with pytest.raises(UnknownNameError, match="did you mean 'random'"):
        play_agent("randon", "palaestra/Bandit-v0", [0])


def test_play_agent_honours_every_seed_given() -> None:
    records = play_agent("oracle", "palaestra/Bandit-v0", [3, 5])
    assert [r.seed for r in records] == [3, 5]
    assert all(r.success for r in records)


def test_a_scripted_agent_is_seeded_per_episode() -> None:
    # Each episode is the same whatever is played beside it: seed 5 alone or after seed 3.
    both = play_agent("random", "palaestra/Bandit-v0", [3, 5], env_kwargs={"horizon": 6})
    alone = play_agent("random", "palaestra/Bandit-v0", [5], env_kwargs={"horizon": 6})
    assert both[1].to_dict() == alone[0].to_dict()
