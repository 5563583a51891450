"""The trainer's sampler: seeds from the run alone, groups, temperature and timing."""

import threading
from typing import Any

import gymnasium as gym
import pytest

from palaestra.algorithms.rollout import (
    STREAM_GROUPS,
    RolloutError,
    TrainerSampler,
    rollout_metrics,
)
from palaestra.llm.generation import SamplingConfig
from palaestra.llm.hf_agent import HFAgent


def sampler(
    tiny: tuple[Any, Any],
    *,
    process: tuple[int, int] = (0, 1),
    gather: Any = None,
    groups: int = 2,
) -> TrainerSampler:
    agent = HFAgent(*tiny, sampling=SamplingConfig(max_new_tokens=4), seed=0)
    envs = [gym.make("palaestra/Bandit-TwoArmed-v0", horizon=2) for _ in range(2 * groups)]
    return TrainerSampler(
        agent, envs, groups=groups, group_size=2, seed=7, max_turns=None, process=process,
        gather=gather,
    )  # fmt: skip


def test_seeds_depend_on_the_run_iteration_and_stream_only(tiny: tuple[Any, Any]) -> None:
    first, second = sampler(tiny), sampler(tiny, process=(1, 2), gather=lambda x: [x])
    assert first.seeds() == second.seeds() and len(set(first.seeds())) == 2
    assert not set(first.seeds()) & set(first.seeds(stream=1))
    first.iteration = 1
    assert first.seeds() != sampler(tiny).seeds()


class ThreadGather:
    """An all-gather across threads that stand in for training processes."""

    def __init__(self, processes: int) -> None:
        self.barrier = threading.Barrier(processes)
        self.slots: list[Any] = [None] * processes
        self.rank = threading.local()

    def __call__(self, value: Any) -> list[Any]:
        self.slots[self.rank.value] = value
        self.barrier.wait()
        parts = list(self.slots)
        self.barrier.wait()
        return parts


def test_processes_sharing_a_rollout_play_the_single_process_episodes(
    tiny: tuple[Any, Any],
) -> None:
    # Three processes each play a share of 3 groups x 2 episodes (2, 2 and 2 episodes,
    # batched differently from one process's 6) and every one of them ends up holding the
    # whole rollout, episode for episode the one a single process plays: each episode
    # samples from its own stream, keyed by its position in the rollout.
    def tokens(episodes: list[Any]) -> list[Any]:
        return [(e.seed, e.group, [t.response_ids for t in e.turns]) for e in episodes]

    alone = sampler(tiny, groups=3).rollout()
    gather = ThreadGather(3)
    held: list[list[Any]] = [[], [], []]

    played: list[list[int]] = [[], [], []]

    def process(rank: int) -> None:
        gather.rank.value = rank
        mine = sampler(tiny, process=(rank, 3), gather=gather, groups=3)
        play = mine._play

        def counted(seeds: Any, *args: Any, **kwargs: Any) -> Any:
            played[rank] = list(seeds)
            return play(seeds, *args, **kwargs)

        mine._play = counted  # type: ignore[method-assign]
        held[rank] = mine.rollout()

    threads = [threading.Thread(target=process, args=(k,)) for k in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({tuple(e.turns[0].response_ids) for e in alone}) > 1  # each its own stream
    assert [len(seeds) for seeds in played] == [2, 2, 2]  # each played its share only
    assert len({tuple(map(str, tokens(h))) for h in held}) == 1
    assert tokens(held[0]) == tokens(alone)
    for mine, theirs in zip(held[0], alone, strict=True):
        for a, b in zip(mine.turns, theirs.turns, strict=True):
            assert a.logprobs == pytest.approx(b.logprobs, abs=1e-5)


def test_a_failure_in_one_process_stops_every_process(tiny: tuple[Any, Any]) -> None:
    # Process 1's rollout raises; process 0, waiting to gather, learns of it and raises too.
    def broken(seeds: Any, *args: Any, **kwargs: Any) -> Any:
        raise RolloutError("the environment raised: boom")

    gather = ThreadGather(2)
    errors: list[str] = ["", ""]

    def process(rank: int) -> None:
        gather.rank.value = rank
        played = sampler(tiny, process=(rank, 2), gather=gather)
        if rank == 1:
            played._play = broken  # type: ignore[method-assign]
        try:
            played.rollout()
        except RolloutError as exc:
            errors[rank] = str(exc)

    threads = [threading.Thread(target=process, args=(k,)) for k in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == ["training process 1 failed in the rollout: the environment raised: boom",
                      "the environment raised: boom"]  # fmt: skip


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
