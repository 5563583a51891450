"""Environments held by Ray actors, stepped as one pool, replayed when an actor dies.

Each actor holds a slice of the pool's environments (environment ``k`` lives on actor
``k mod workers``) and steps them when asked; a step of the pool sends every actor its
actions at once and waits for all. The pool keeps each episode's seed, options and actions,
so an actor that dies (a crashed worker, a lost node, ``ray.kill``) is replaced and its
episodes replayed from their seeds to where they were: environments are deterministic given
the seed and the actions, so the rollout goes on as if nothing had happened. Which actor
holds an environment never changes what it returns: the same seeds and actions give the
same episodes with any number of actors, or none.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from palaestra.errors import InvalidArgumentError, PalaestraError
from palaestra.optional import require
from palaestra.rollout.envs import StepResult

#: Times an actor is replaced within one call before the pool gives up.
MAX_RESTARTS = 3


class DistributedError(PalaestraError):
    """Ray could not be reached, or an actor could not be started or kept running."""


def connect(address: str | None = None) -> None:
    """Join the Ray cluster at ``address`` (or ``RAY_ADDRESS``), or start a local one.

    Does nothing when this process is already connected.

    Raises:
        DependencyNotInstalled: ray is not installed.
        DistributedError: The cluster at ``address`` cannot be reached.
    """
    ray = require("ray", "distributed", "rollout workers on Ray")
    if ray.is_initialized():
        return
    address = address or os.environ.get("RAY_ADDRESS") or None
    if address is not None and address != "auto":
        _check_reachable(address)
    try:
        if address is None:
            ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False)
        else:
            ray.init(address=address, log_to_driver=False, configure_logging=False)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise DistributedError(f"cannot join the Ray cluster at {address}: {exc}") from exc


def _check_reachable(address: str) -> None:
    """Fail at once on an address nothing listens on (Ray itself retries for minutes)."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=3):
            pass
    except (OSError, ValueError) as exc:
        raise DistributedError(
            f"no Ray cluster answers at {address} ({exc}). Start one with `ray start --head` "
            "on the head node and pass its address (host:port), or leave the address out to "
            "start a local cluster"
        ) from exc


def _env_actor_class() -> Any:
    ray = require("ray", "distributed", "rollout workers on Ray")

    @ray.remote(num_cpus=0.25, max_restarts=0)
    class EnvActor:
        """Holds and steps some of a pool's environments (runs in a Ray worker)."""

        def __init__(self, env_id: str, kwargs: dict[str, Any], indices: list[int]) -> None:
            try:
                import gymnasium as gym

                import palaestra  # noqa: F401 - registers the environments
            except ImportError as exc:  # pragma: no cover - a node without palaestra
                raise ImportError(
                    f"a Ray worker cannot import palaestra ({exc}); install "
                    "'palaestra[distributed]' and the environment's extra on every node"
                ) from exc
            # Made here, so an environment that cannot be made fails the actor's start.
            self.envs = {k: gym.make(env_id, **kwargs) for k in indices}

        def ready(self, items: list[Any]) -> list[Any]:
            return items

        def reset(
            self, seeds: list[tuple[int, int | None]], options: dict[str, Any] | None
        ) -> list[tuple[Any, dict[str, Any]]]:
            return [self.envs[k].reset(seed=seed, options=options) for k, seed in seeds]

        def replay(
            self, index: int, seed: int | None, options: dict[str, Any] | None, actions: list[Any]
        ) -> None:
            env = self.envs[index]
            env.reset(seed=seed, options=options)
            for action in actions:
                env.step(action)

        def step(self, actions: list[tuple[int, Any]]) -> list[StepResult]:
            results = []
            for k, action in actions:
                observation, reward, terminated, truncated, info = self.envs[k].step(action)
                results.append(
                    (observation, float(reward), bool(terminated), bool(truncated), info)
                )
            return results

        def close(self) -> None:
            for env in self.envs.values():
                env.close()

    return EnvActor


@dataclass
class _Episode:
    """What replays one environment's episode: its seed, options and actions so far."""

    seed: int | None = None
    options: dict[str, Any] | None = None
    actions: list[Any] = field(default_factory=list)


class RayEnvs:
    """A pool of ``size`` environments held by ``workers`` Ray actors.

    Args:
        env_id: The registered environment id.
        size: Environments in the pool (at least the episodes of a rollout).
        workers: Ray actors holding them.
        env_kwargs: Keyword arguments of ``gym.make``.
        address: A Ray cluster to join (default: ``RAY_ADDRESS``, else a local cluster).

    Raises:
        InvalidArgumentError: ``size`` or ``workers`` is not positive.
        DistributedError: Ray cannot be reached, or an actor cannot make the environment.
    """

    def __init__(
        self,
        env_id: str,
        size: int,
        *,
        workers: int,
        env_kwargs: dict[str, Any] | None = None,
        address: str | None = None,
    ) -> None:
        if size < 1 or workers < 1:
            raise InvalidArgumentError(f"size and workers must be positive, got {size}, {workers}")
        connect(address)
        self.env_id: str | None = env_id
        self.size, self.workers = size, min(workers, size)
        self.env_kwargs = dict(env_kwargs or {})
        self.restarts = 0
        self._actor_class = _env_actor_class()
        self.actors = [self._start(w) for w in range(self.workers)]
        # Every actor made its environments (or the cause of its failure is raised here).
        self._call("ready", {w: [w] for w in range(self.workers)})
        self._episodes: list[_Episode] = []  # those of the rollout under way

    def _start(self, worker: int) -> Any:
        owned = [k for k in range(self.size) if self._owner(k) == worker]
        return self._actor_class.remote(self.env_id, self.env_kwargs, owned)

    def _owner(self, index: int) -> int:
        return index % self.workers

    # ------------------------------------------------------------------ EnvPool

    def reset(
        self, seeds: Sequence[int | None], options: dict[str, Any] | None = None
    ) -> tuple[list[Any], list[dict[str, Any]]]:
        """Reset environment ``k`` with ``seeds[k]``, every actor at once."""
        if len(seeds) > self.size:
            raise InvalidArgumentError(f"{len(seeds)} seeds for a pool of {self.size}")
        self._episodes = [_Episode(seed, options) for seed in seeds]
        parts = self._call(
            "reset",
            {
                w: [(k, seeds[k]) for k in range(len(seeds)) if self._owner(k) == w]
                for w in range(self.workers)
            },
            options,
        )
        results: dict[int, tuple[Any, dict[str, Any]]] = {}
        for worker, part in parts.items():
            owned = [k for k in range(len(seeds)) if self._owner(k) == worker]
            results.update(zip(owned, part, strict=True))
        return [results[k][0] for k in range(len(seeds))], [
            results[k][1] for k in range(len(seeds))
        ]

    def step(self, actions: dict[int, Any]) -> dict[int, StepResult]:
        """Step environment ``k`` with ``actions[k]``, every actor at once."""
        by_worker: dict[int, list[tuple[int, Any]]] = {}
        for k, action in actions.items():
            by_worker.setdefault(self._owner(k), []).append((k, action))
        parts = self._call("step", by_worker)
        results: dict[int, StepResult] = {}
        for worker, part in parts.items():
            results.update(zip((k for k, _ in by_worker[worker]), part, strict=True))
        # Recorded once the step is done, so a replay never runs a step twice.
        for k, action in actions.items():
            self._episodes[k].actions.append(action)
        return results

    def close(self) -> None:
        """Close the environments and stop the actors."""
        ray = require("ray", "distributed", "rollout workers on Ray")
        for actor in self.actors:
            try:
                ray.get(actor.close.remote())
                ray.kill(actor)
            except ray.exceptions.RayActorError:
                pass  # already gone

    # ------------------------------------------------------------------ faults

    def _call(self, method: str, work: dict[int, list[Any]], *args: Any) -> dict[int, list[Any]]:
        """Run ``method`` on each actor with work; replace and replay any that died."""
        ray = require("ray", "distributed", "rollout workers on Ray")
        work = {w: items for w, items in work.items() if items}
        pending = {
            w: getattr(self.actors[w], method).remote(items, *args) for w, items in work.items()
        }
        results: dict[int, list[Any]] = {}
        for worker, reference in pending.items():
            for attempt in range(MAX_RESTARTS + 1):
                try:
                    results[worker] = ray.get(reference)
                    break
                except ray.exceptions.RayActorError as exc:
                    if _cannot_start(exc):
                        cause = str(exc).strip().splitlines()[-1]
                        raise DistributedError(
                            f"a Ray actor holding {self.env_id} environments could not start: "
                            f"{cause}"
                        ) from exc
                    if attempt == MAX_RESTARTS:
                        raise DistributedError(
                            f"the Ray actor holding {self.env_id} environments died "
                            f"{attempt + 1} times in one call: {exc}"
                        ) from exc
                    self._replace(worker)
                    reference = getattr(self.actors[worker], method).remote(work[worker], *args)
        return results

    def _replace(self, worker: int) -> None:
        """Start a new actor for ``worker``'s environments and replay their episodes."""
        ray = require("ray", "distributed", "rollout workers on Ray")
        self.restarts += 1
        actor = self._start(worker)
        replays = [
            actor.replay.remote(k, episode.seed, episode.options, episode.actions)
            for k, episode in enumerate(self._episodes)
            if self._owner(k) == worker
        ]
        ray.get(replays)
        self.actors[worker] = actor


def _cannot_start(exc: Exception) -> bool:
    """Whether the actor died in its constructor (it would again): not worth a restart."""
    return "creation task" in str(exc)
