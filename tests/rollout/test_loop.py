"""The rollout loop: play, run_episode, run_episodes, and the records they return."""

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import pytest

import palaestra
from palaestra.agents import OracleAgent, RandomAgent
from palaestra.errors import InvalidArgumentError
from palaestra.rollout import AgentError, Turn, play, summarize_episodes


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


def test_run_episodes_by_id_and_step_infos() -> None:
    records = palaestra.run_episodes("palaestra/Bandit-TwoArmed-v0", RandomAgent(0), episodes=2)
    assert len(records) == 2 and records[0].to_dict()["env_id"] == "palaestra/Bandit-TwoArmed-v0"
    record = palaestra.run_episode(gym.make("palaestra/Bandit-v0"), RandomAgent(0), seed=0)
    assert [turn.info["turn"] for turn in record.turns] == list(range(1, 51))
    assert record.turns[-1].info["episode_metrics"] == record.metrics


def test_a_batch_of_scripted_agents_plays_as_each_alone() -> None:
    envs = [gym.make("palaestra/Bandit-v0", horizon=h) for h in (3, 7, 5)]
    together = play([RandomAgent(k) for k in range(3)], envs, [4, 5, 6])
    alone = [
        palaestra.run_episode(gym.make("palaestra/Bandit-v0", horizon=h), RandomAgent(k), seed=s)
        for k, (h, s) in enumerate([(3, 4), (7, 5), (5, 6)])
    ]
    assert [e.to_dict() for e in together] == [e.to_dict() for e in alone]
    assert [e.group for e in together] == [0, 1, 2] and [e.length for e in together] == [3, 7, 5]


def test_vector_env_gives_the_same_episodes_as_a_list() -> None:
    vector = gym.make_vec("palaestra/Bandit-TwoArmed-v0", num_envs=2, horizon=4)
    try:
        from_vector = play([RandomAgent(1), RandomAgent(2)], vector, [0, 1])
    finally:
        vector.close()
    listed = play(
        [RandomAgent(1), RandomAgent(2)],
        [gym.make("palaestra/Bandit-TwoArmed-v0", horizon=4) for _ in range(2)],
        [0, 1],
    )
    assert [e.to_dict() for e in from_vector] == [e.to_dict() for e in listed]


def test_run_episodes_with_a_factory_plays_waves_in_seed_order() -> None:
    def factory(env: gym.Env[Any, Any], seed: int | None) -> RandomAgent:
        return RandomAgent(seed)

    waves = palaestra.run_episodes(
        "palaestra/Bandit-v0", factory, seeds=[9, 3, 5, 7, 1], batch_size=2,
        env_kwargs={"horizon": 4},
    )  # fmt: skip
    one_by_one = palaestra.run_episodes(
        "palaestra/Bandit-v0", factory, seeds=[9, 3, 5, 7, 1], env_kwargs={"horizon": 4}
    )
    assert [e.seed for e in waves] == [9, 3, 5, 7, 1]
    assert [e.to_dict() for e in waves] == [e.to_dict() for e in one_by_one]


def test_bad_batches_are_refused() -> None:
    env = gym.make("palaestra/Bandit-v0")
    with pytest.raises(InvalidArgumentError, match="cannot play 2 episodes at once"):
        play(RandomAgent(0), [env, gym.make("palaestra/Bandit-v0")], [0, 1])
    agent = RandomAgent(0)
    with pytest.raises(InvalidArgumentError, match="one agent object per episode"):
        play([agent, agent], [env, gym.make("palaestra/Bandit-v0")], [0, 1])
    with pytest.raises(InvalidArgumentError, match="2 environments for 3 seeds"):
        play([RandomAgent(k) for k in range(3)], [env, env], [0, 1, 2])
    with pytest.raises(InvalidArgumentError, match="give a factory"):
        palaestra.run_episodes("palaestra/Bandit-v0", RandomAgent(0), episodes=4, batch_size=2)
    with pytest.raises(InvalidArgumentError, match="give an env id"):
        palaestra.run_episodes(env, RandomAgent(0), episodes=4, batch_size=2)
    with pytest.raises(InvalidArgumentError, match="replay"):
        play([RandomAgent(0)], [env], [0], prefixes=[[]])


class Flaky:
    """A batch agent whose server dies at its ``fail_at``-th round."""

    max_batch_size = 2

    def __init__(self, fail_at: int) -> None:
        self.rounds, self.fail_at = 0, fail_at

    def start(self, instructions: Sequence[str]) -> None:
        self.finished = False

    def finish(self) -> None:
        self.finished = True

    def respond(
        self, episodes: Sequence[int], observations: Sequence[str], infos: Sequence[dict[str, Any]]
    ) -> list[Turn | None]:
        self.rounds += 1
        if self.rounds == self.fail_at:
            raise AgentError("the server is gone")
        return [Turn(observation=o, action="A") for o in observations]


def test_an_agent_failure_keeps_every_finished_episode() -> None:
    # Waves of 2 episodes of 3 rounds: the failure in the 5th round (second wave, second
    # round) keeps the first wave; the second wave's episodes had not finished.
    flaky = Flaky(fail_at=5)
    with pytest.raises(AgentError) as failure:
        palaestra.run_episodes(
            "palaestra/Bandit-TwoArmed-v0", flaky, seeds=[0, 1, 2, 3],
            batch_size=2, env_kwargs={"horizon": 3},
        )  # fmt: skip
    assert [e.seed for e in failure.value.completed] == [0, 1]
    assert all(e.length == 3 for e in failure.value.completed)
    assert flaky.finished  # the failed rollout's agent still freed what it held


def test_the_agent_is_told_when_its_episodes_are_over() -> None:
    agent = Flaky(fail_at=0)
    play(agent, [gym.make("palaestra/Bandit-v0", horizon=2)], [0])
    assert agent.finished


def test_run_episodes_plays_at_most_the_agents_batch_at_once() -> None:
    waves = palaestra.run_episodes(
        "palaestra/Bandit-v0", Flaky(fail_at=0), seeds=[1, 2, 3], batch_size=8,
        env_kwargs={"horizon": 2},
    )  # fmt: skip
    assert [e.seed for e in waves] == [1, 2, 3]
    with pytest.raises(InvalidArgumentError, match="3 episodes exceed max_batch_size=2"):
        play(Flaky(fail_at=0), [gym.make("palaestra/Bandit-v0") for _ in range(3)], [0, 1, 2])


def test_an_agent_that_cannot_go_on_ends_its_episode_truncated() -> None:
    class Tired(Flaky):
        def respond(self, episodes: Sequence[int], observations: Sequence[str],
                    infos: Sequence[dict[str, Any]]) -> list[Turn | None]:  # fmt: skip
            self.rounds += 1
            return [None if k == 0 and self.rounds > 2 else Turn(observation=o, action="A")
                    for k, o in zip(episodes, observations, strict=True)]  # fmt: skip

    episodes = play(Tired(0), [gym.make("palaestra/Bandit-v0", horizon=5) for _ in range(2)],
                    [0, 1])  # fmt: skip
    assert [e.length for e in episodes] == [2, 5]
    assert [e.terminated for e in episodes] == [False, True]
