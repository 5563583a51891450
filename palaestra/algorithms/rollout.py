"""The trainer's :class:`~palaestra.algorithms.base.Sampler`: seeded rollouts on the policy.

Seeds are a function of (run seed, iteration, stream, group) only, and each episode samples
from its own stream keyed by (run seed, iteration, call, position): a run is the same
whoever plays it. Under a multi-process launch each process plays a contiguous share of
every call's episodes and all of them are gathered, so every process holds the whole
rollout, as a single process playing it would. ``stream`` 1 is for the extra rollouts an
algorithm asks for (regularization sets), which get seeds and group ids of their own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from palaestra.distributed import DistributedError, RayGenerators
from palaestra.errors import InvalidArgumentError, PalaestraError
from palaestra.llm.hf_agent import HFAgent
from palaestra.rollout import EnvPool, Episode, Turn, play
from palaestra.rollout.records import SEED_STRIDE

#: Group ids of stream s start at s x this (never mixed with the main groups).
STREAM_GROUPS = 100_000


class RolloutError(PalaestraError):
    """An environment raised during a rollout."""


#: Gathers a picklable object from every training process: one per process, in rank order.
GatherObjects = Callable[[Any], list[Any]]


def shard(count: int, process: tuple[int, int]) -> range:
    """The positions of ``count`` items that process ``index`` of ``processes`` handles."""
    index, processes = process
    return range(index * count // processes, (index + 1) * count // processes)


class TrainerSampler:
    """Plays episodes for one iteration of a run on the current policy.

    Args:
        agent: The policy's agent (exact tokens and log-probs kept).
        envs: One environment per episode of a rollout, or a pool of as many.
        groups: Seeds per iteration.
        group_size: Episodes per seed.
        seed: The run's seed.
        max_turns: Cut episodes after this many turns.
        process: This process's index and the number of processes.
        gather: Gathers each process's episodes (needed with more than one process).
        rescore: Gives the played episodes the learner's log-probs and entropies at the
            temperature they were sampled at and returns the mean log-prob gap (for
            replies another engine sampled).
    """

    def __init__(
        self,
        agent: HFAgent | RayGenerators,
        envs: list[Any] | EnvPool,
        *,
        groups: int,
        group_size: int,
        seed: int,
        max_turns: int | None,
        process: tuple[int, int] = (0, 1),
        gather: GatherObjects | None = None,
        rescore: Callable[[list[Episode], float], float] | None = None,
    ) -> None:
        if process[1] > 1 and gather is None:
            raise InvalidArgumentError("several processes need a gather of their episodes")
        self.agent, self.envs = agent, envs
        self.groups, self.group_size = groups, group_size
        self.seed, self.max_turns = seed, max_turns
        self.process = process
        self.gather = gather
        self.rescore = rescore
        self.gaps: list[float] = []
        self.iteration = 0
        self.calls = (0, 0)  # (iteration, play calls in it): part of each episode's key
        self.clock: dict[str, float] = {"agent_s": 0.0, "env_s": 0.0}

    def seeds(self, groups: int | None = None, *, stream: int = 0) -> list[int]:
        """The seed of each group of this iteration (at most ``groups`` per iteration)."""
        count = min(groups or self.groups, self.groups)
        base = self.seed * SEED_STRIDE + self.iteration * self.groups + stream * 500_000_009
        return [base + g for g in range(count)]

    def rollout(
        self, groups: int | None = None, *, temperature: float | None = None, stream: int = 0
    ) -> list[Episode]:
        """``groups`` seeds x ``group_size`` episodes (group ids ``stream x 100000 + g``)."""
        seeds = self.seeds(groups, stream=stream)
        return self.play(
            [s for s in seeds for _ in range(self.group_size)],
            [stream * STREAM_GROUPS + g for g in range(len(seeds)) for _ in range(self.group_size)],
            temperature=temperature,
        )

    def play(
        self,
        seeds: Sequence[int],
        group_ids: Sequence[int],
        *,
        prefixes: Sequence[Sequence[Turn]] | None = None,
        temperature: float | None = None,
    ) -> list[Episode]:
        """One episode per seed, in waves of at most one rollout's size.

        With several processes each plays its share and every process gets all episodes.
        """
        iteration, call = self.calls
        call = call + 1 if iteration == self.iteration else 0
        self.calls = (self.iteration, call)
        mine = shard(len(seeds), self.process)
        keys = [(self.seed, self.iteration, call, position) for position in mine]
        try:
            episodes = self._play(
                [seeds[k] for k in mine],
                [group_ids[k] for k in mine],
                keys,
                prefixes=None if prefixes is None else [prefixes[k] for k in mine],
                temperature=temperature,
            )
            failure: PalaestraError | None = None
        except PalaestraError as exc:
            if self.gather is None:
                raise
            episodes, failure = [], exc
        if self.gather is None:
            return self._rescored(episodes, temperature)
        # Every process learns of a failure anywhere, so none waits for the others forever.
        parts = self.gather((episodes, None if failure is None else str(failure)))
        if failure is not None:
            raise failure
        for rank, (_, error) in enumerate(parts):
            if error is not None:
                raise RolloutError(f"training process {rank} failed in the rollout: {error}")
        return self._rescored([episode for part, _ in parts for episode in part], temperature)

    def _rescored(self, episodes: list[Episode], temperature: float | None) -> list[Episode]:
        if self.rescore is not None and episodes:
            sampled_at = self.agent.sampling.temperature if temperature is None else temperature
            self.gaps.append(self.rescore(episodes, sampled_at))
        return episodes

    def _play(
        self,
        seeds: Sequence[int],
        group_ids: Sequence[int],
        keys: Sequence[tuple[int, ...]],
        *,
        prefixes: Sequence[Sequence[Turn]] | None,
        temperature: float | None,
    ) -> list[Episode]:
        episodes: list[Episode] = []
        envs = self.envs
        size = envs.size if isinstance(envs, EnvPool) else len(envs)
        sampling = self.agent.sampling
        if temperature is not None:
            self.agent.sampling = replace(sampling, temperature=temperature)
        if hasattr(self.agent, "model"):  # generation actors keep their copies in eval mode
            self.agent.model.eval()
        try:
            for start in range(0, len(seeds), size):
                stop = start + size
                episodes += play(
                    self.agent,
                    envs if isinstance(envs, EnvPool) else envs[: len(seeds[start:stop])],
                    seeds[start:stop],
                    groups=group_ids[start:stop],
                    max_turns=self.max_turns,
                    prefixes=None if prefixes is None else prefixes[start:stop],
                    clock=self.clock,
                    keys=keys[start:stop],
                )
        except DistributedError as exc:
            # A pool that lost its actors for good: the run stops (naming its checkpoint).
            raise RolloutError(
                f"the rollout of iteration {self.iteration} failed on Ray: {exc}"
            ) from exc
        except PalaestraError:
            raise
        except Exception as exc:
            raise RolloutError(
                f"the environment raised during the rollout of iteration {self.iteration}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        finally:
            self.agent.sampling = sampling
        return episodes

    def timing(self, *, reset: bool = False) -> dict[str, float]:
        """Seconds spent generating and stepping environments in rollouts so far.

        With a rescore, also ``logprob_gap``: the mean gap between the sampler's log-probs
        and the learner's.
        """
        seconds = {"generate_s": self.clock["agent_s"], "env_s": self.clock["env_s"]}
        if self.rescore is not None:
            seconds["logprob_gap"] = sum(self.gaps) / max(len(self.gaps), 1)
        if reset:
            self.clock = dict.fromkeys(self.clock, 0.0)
            self.gaps = []
        return seconds


def rollout_metrics(episodes: list[Episode]) -> dict[str, float]:
    """Return, success rate, turns, invalid-action rate and sampled tokens of a rollout."""
    n = max(len(episodes), 1)
    turns = sum(len(e.turns) for e in episodes)
    return {
        "return": sum(e.total_reward for e in episodes) / n,
        "success_rate": sum(e.success for e in episodes) / n,
        "episode_turns": turns / n,
        "invalid_rate": sum(t.invalid_action for e in episodes for t in e.turns) / max(turns, 1),
        "response_tokens": float(sum(e.response_tokens for e in episodes)),
    }
