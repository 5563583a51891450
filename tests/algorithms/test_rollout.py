"""The trainer's sampler: seeds from the run alone, groups, temperature and timing."""

from typing import Any

import gymnasium as gym
import pytest

from palaestra.algorithms.rollout import STREAM_GROUPS, TrainerSampler, rollout_metrics
from palaestra.llm.generation import SamplingConfig
from palaestra.llm.hf_agent import HFAgent


def sampler(tiny: tuple[Any, Any], *, process: tuple[int, int] = (0, 1)) -> TrainerSampler:
    agent = HFAgent(*tiny, sampling=SamplingConfig(max_new_tokens=4), seed=0)
    envs = [gym.make("palaestra/Bandit-TwoArmed-v0", horizon=2) for _ in range(4)]
    return TrainerSampler(
        agent, envs, groups=2, group_size=2, seed=7, max_turns=None, process=process
    )


def test_seeds_depend_on_the_run_iteration_process_and_stream_only(tiny: tuple[Any, Any]) -> None:
    first, second = sampler(tiny), sampler(tiny, process=(1, 2))
    assert first.seeds() == sampler(tiny).seeds() and len(set(first.seeds())) == 2
    assert not set(first.seeds()) & set(second.seeds())
    assert not set(first.seeds()) & set(first.seeds(stream=1))
    first.iteration = 1
    assert first.seeds() != sampler(tiny).seeds()


def test_a_rollout_plays_groups_of_the_same_seed(tiny: tuple[Any, Any]) -> None:
    played = sampler(tiny)
    episodes = played.rollout()
    assert [e.group for e in episodes] == [0, 0, 1, 1]
    assert [e.seed for e in episodes] == [s for s in played.seeds() for _ in range(2)]
    extra = played.rollout(1, stream=1)
    assert [e.group for e in extra] == [STREAM_GROUPS, STREAM_GROUPS]
    metrics = rollout_metrics(episodes)
    assert metrics["episode_turns"] == 2 and metrics["response_tokens"] > 0


def test_temperature_applies_to_one_rollout_only(tiny: tuple[Any, Any]) -> None:
    played = sampler(tiny)
    greedy = [e.actions for e in played.rollout(temperature=0.0)]
    assert greedy == [e.actions for e in played.rollout(temperature=0.0)]
    assert played.agent.sampling.temperature == SamplingConfig().temperature


def test_timing_adds_up_and_resets(tiny: tuple[Any, Any]) -> None:
    played = sampler(tiny)
    played.rollout()
    seconds = played.timing(reset=True)
    assert set(seconds) == {"generate_s", "env_s"} and seconds["generate_s"] > 0
    assert played.timing() == pytest.approx({"generate_s": 0.0, "env_s": 0.0})
