"""A batch of environments stepped for the episodes still running: a list, or a vector env."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import gymnasium as gym

from palaestra.errors import InvalidArgumentError

#: ``(observation, reward, terminated, truncated, info)`` of one environment.
StepResult = tuple[Any, float, bool, bool, dict[str, Any]]


@runtime_checkable
class EnvPool(Protocol):
    """Environments held elsewhere (other processes, other machines), one per episode.

    The first ``len(seeds)`` of them play a rollout; each steps only while its episode runs.
    :class:`palaestra.distributed.RayEnvs` is one.
    """

    env_id: str | None
    size: int

    def reset(
        self, seeds: Sequence[int | None], options: dict[str, Any] | None = None
    ) -> tuple[list[Any], list[dict[str, Any]]]:
        """Reset environment ``k`` with ``seeds[k]``; return observations and infos."""

    def step(self, actions: dict[int, Any]) -> dict[int, StepResult]:
        """Step environment ``k`` with ``actions[k]``, for each ``k`` given."""


#: What the rollout loop plays on: one environment per episode, a vector env, or a pool.
Envs = Sequence[gym.Env[Any, Any]] | gym.vector.VectorEnv | EnvPool


class EnvBatch:
    """Resets and steps one environment per episode.

    Args:
        envs: A list of environments, or a vector env with one copy per episode, or a pool
            with at least one per episode.
        size: Number of episodes.
    """

    def __init__(self, envs: Envs, size: int) -> None:
        self.vector: gym.vector.VectorEnv | None = None
        self.pool: EnvPool | None = None
        self.envs: list[gym.Env[Any, Any]] = []
        if isinstance(envs, EnvPool):
            if envs.size < size:
                raise InvalidArgumentError(f"a pool of {envs.size} environments for {size} seeds")
            self.pool, self.env_id, self.size = envs, envs.env_id, size
            return
        if isinstance(envs, gym.vector.VectorEnv):
            self.vector, count, spec = envs, envs.num_envs, envs.spec
        else:
            self.envs, count = list(envs), len(envs)
            spec = self.envs[0].spec if self.envs else None
        if count != size:
            raise InvalidArgumentError(f"{count} environments for {size} seeds; give one per seed")
        self.env_id = spec.id if spec is not None else None
        self.size = size

    def reset(
        self, seeds: Sequence[int | None], options: dict[str, Any] | None = None
    ) -> tuple[list[Any], list[dict[str, Any]]]:
        """Reset every environment with its seed."""
        if self.pool is not None:
            return self.pool.reset(seeds, options)
        if self.vector is not None:
            observations, infos = self.vector.reset(seed=list(seeds), options=options)  # type: ignore[arg-type]
            return list(observations), [_unbatch(infos, k) for k in range(self.size)]
        pairs = [
            env.reset(seed=seed, options=options)
            for env, seed in zip(self.envs, seeds, strict=True)
        ]
        return [p[0] for p in pairs], [p[1] for p in pairs]

    def step(self, actions: dict[int, Any]) -> dict[int, StepResult]:
        """Step the environments of the episodes in ``actions``."""
        if self.pool is not None:
            return self.pool.step(actions)
        if self.vector is None:
            return {k: _as_step(self.envs[k].step(a)) for k, a in actions.items()}
        # Finished copies get a placeholder action; their results are ignored.
        idle = None
        if len(actions) < self.size:
            space = self.vector.single_action_space
            idle = "" if isinstance(space, gym.spaces.Text) else space.sample()
        full = tuple(actions.get(k, idle) for k in range(self.size))
        obs, rewards, terminated, truncated, infos = self.vector.step(full)
        return {
            k: (obs[k], float(rewards[k]), bool(terminated[k]), bool(truncated[k]),
                _unbatch(infos, k))
            for k in actions
        }  # fmt: skip


def _as_step(result: tuple[Any, Any, bool, bool, dict[str, Any]]) -> StepResult:
    observation, reward, terminated, truncated, info = result
    return observation, float(reward), bool(terminated), bool(truncated), info


def _unbatch(infos: dict[str, Any], index: int) -> dict[str, Any]:
    """The info dict of one copy of a vector env (keys present for that copy only)."""
    single = {}
    for key, value in infos.items():
        if key.startswith("_"):
            continue
        present = infos.get(f"_{key}")
        if present is not None and not present[index]:
            continue
        single[key] = _unbatch(value, index) if isinstance(value, dict) else value[index]
    return single
