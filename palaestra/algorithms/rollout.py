"""The trainer's :class:`~palaestra.algorithms.base.Sampler`: seeded rollouts on the policy.

Seeds are a function of (run seed, iteration, process, stream, group) only, so a run is the
same whoever plays it; ``stream`` 1 is for the extra rollouts an algorithm asks for
(regularization sets), which get seeds and group ids of their own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from palaestra.distributed import DistributedError
from palaestra.errors import PalaestraError
from palaestra.llm.hf_agent import HFAgent
from palaestra.rollout import EnvPool, Episode, Turn, play

#: Group ids of stream s start at s x this (never mixed with the main groups).
STREAM_GROUPS = 100_000


class RolloutError(PalaestraError):
    """An environment raised during a rollout."""


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
    """

    def __init__(
        self,
        agent: HFAgent,
        envs: list[Any] | EnvPool,
        *,
        groups: int,
        group_size: int,
        seed: int,
        max_turns: int | None,
        process: tuple[int, int] = (0, 1),
    ) -> None:
        self.agent, self.envs = agent, envs
        self.groups, self.group_size = groups, group_size
        self.seed, self.max_turns = seed, max_turns
        self.process_index, self.processes = process
        self.iteration = 0
        self.clock: dict[str, float] = {"agent_s": 0.0, "env_s": 0.0}

    def seeds(self, groups: int | None = None, *, stream: int = 0) -> list[int]:
        """The seed of each group of this iteration (at most ``groups`` per iteration)."""
        count = min(groups or self.groups, self.groups)
        base = (
            (self.seed * 1_000_003 + self.iteration * self.groups) * self.processes
            + self.process_index * self.groups
            + stream * 500_000_009
        )
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
        """One episode per seed, in waves of at most one rollout's size."""
        episodes: list[Episode] = []
        envs = self.envs
        size = envs.size if isinstance(envs, EnvPool) else len(envs)
        sampling = self.agent.sampling
        if temperature is not None:
            self.agent.sampling = replace(sampling, temperature=temperature)
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
        """Seconds spent generating and stepping environments in rollouts so far."""
        seconds = {"generate_s": self.clock["agent_s"], "env_s": self.clock["env_s"]}
        if reset:
            self.clock = dict.fromkeys(self.clock, 0.0)
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
