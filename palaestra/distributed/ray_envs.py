"""Environments held by Ray actors, stepped as one pool, replayed when an actor dies.

Each actor holds a slice of the pool's environments (environment ``k`` lives on actor
``k mod workers``) and steps them when asked; a step of the pool sends every actor its
actions at once and waits for all. The pool keeps each episode's seed, options, actions and
a digest of every step's result, so an actor that dies (a crashed worker, a lost node,
``ray.kill``) is replaced and its episodes replayed from their seeds to where they were,
each replayed step checked against its digest: an environment that does not replay the same
(not deterministic given its seed and actions) stops the rollout with an error rather than
splice two games. Which actor holds an environment never changes what it returns: the same
seeds and actions give the same episodes with any number of actors, or none.
"""

from __future__ import annotations

import hashlib
import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym

from palaestra.errors import InvalidArgumentError, PalaestraError
from palaestra.optional import require
from palaestra.rollout.envs import StepResult

#: Times an actor is replaced within one call before the pool gives up.
MAX_RESTARTS = 3
#: Seconds to wait for the actors to be placed and to make their environments.
START_TIMEOUT = 300.0
#: CPU each actor asks the scheduler for: environment actors mostly wait for actions.
ACTOR_CPUS = 0.25


class DistributedError(PalaestraError):
    """Ray could not be reached, or an actor could not be started or kept running."""


def connect(address: str | None = None) -> None:
    """Join the Ray cluster at ``address`` (or ``RAY_ADDRESS``), or Ray's default one.

    Without an address, Ray joins a cluster already started on this machine with
    ``ray start``, or starts a local one for this process. Does nothing when this process
    is already connected (to whichever cluster).

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
        with socket.create_connection((host.strip("[]"), int(port)), timeout=3):
            pass
    except (OSError, ValueError) as exc:
        raise DistributedError(
            f"no Ray cluster answers at {address!r} ({exc}). Give the head node's host:port, "
            "after `ray start --head` there, or leave the address out for a local cluster"
        ) from exc


def _digest(observation: Any, reward: Any, terminated: Any, truncated: Any) -> str:
    """A fingerprint of one step's result, compared when the step is replayed."""
    text = repr((observation, float(reward), bool(terminated), bool(truncated)))
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


class _EnvActor:
    """Holds and steps some of a pool's environments (runs in a Ray worker)."""

    def __init__(
        self, spec: gym.envs.registration.EnvSpec, kwargs: dict[str, Any], indices: list[int]
    ) -> None:
        import palaestra  # noqa: F401 - registers palaestra's environments on this worker

        # Made here, so an environment that cannot be made fails the actor's start.
        self.envs = {k: gym.make(spec, **kwargs) for k in indices}

    def ready(self, items: list[Any]) -> list[Any]:
        return items

    def reset(
        self, seeds: list[tuple[int, int]], options: dict[str, Any] | None
    ) -> list[tuple[Any, dict[str, Any]]]:
        return [self.envs[k].reset(seed=seed, options=options) for k, seed in seeds]

    def replay(
        self, episodes: list[tuple[int, int, dict[str, Any] | None, list[Any]]]
    ) -> list[list[str]]:
        digests = []
        for k, seed, options, actions in episodes:
            env = self.envs[k]
            env.reset(seed=seed, options=options)
            digests.append([_digest(*env.step(action)[:4]) for action in actions])
        return digests

    def step(self, actions: list[tuple[int, Any]]) -> list[StepResult]:
        results = []
        for k, action in actions:
            observation, reward, terminated, truncated, info = self.envs[k].step(action)
            results.append((observation, float(reward), bool(terminated), bool(truncated), info))
        return results

    def close(self) -> None:
        for env in self.envs.values():
            env.close()


@dataclass
class _Episode:
    """What replays one environment's episode: its seed, options, actions, step digests."""

    seed: int
    options: dict[str, Any] | None = None
    actions: list[Any] = field(default_factory=list)
    digests: list[str] = field(default_factory=list)


class RayEnvs:
    """A pool of ``size`` environments held by ``workers`` Ray actors.

    Args:
        env_id: A registered environment id (resolved here, so environments registered in
            this process by an importable module are made on the actors too).
        size: Environments in the pool (at least the episodes of a rollout).
        workers: Ray actors holding them.
        env_kwargs: Keyword arguments of ``gym.make``.
        address: A Ray cluster to join (see :func:`connect`).

    Raises:
        InvalidArgumentError: ``size`` or ``workers`` is not positive.
        DistributedError: Ray cannot be reached, the actors cannot be placed, or an actor
            cannot make the environment (the message gives the cause).
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
        self.spec = gym.spec(env_id)
        self.env_id: str | None = self.spec.id
        self.size, self.workers = size, min(workers, size)
        self.env_kwargs = dict(env_kwargs or {})
        self.restarts = 0
        self._episodes: list[_Episode] = []  # those of the rollout under way
        self._closed = False
        connect(address)
        self._ray = require("ray", "distributed", "rollout workers on Ray")
        self._actor = self._ray.remote(num_cpus=ACTOR_CPUS, max_restarts=0)(_EnvActor)
        self.actors = [self._start(w) for w in range(self.workers)]
        try:
            self._call("ready", {w: [w] for w in range(self.workers)}, timeout=START_TIMEOUT)
        except BaseException:
            self.close()
            raise

    def _start(self, worker: int) -> Any:
        owned = [k for k in range(self.size) if self._owner(k) == worker]
        return self._actor.remote(self.spec, self.env_kwargs, owned)

    def _owner(self, index: int) -> int:
        return index % self.workers

    # ------------------------------------------------------------------ EnvPool

    def reset(
        self, seeds: Sequence[int | None], options: dict[str, Any] | None = None
    ) -> tuple[list[Any], list[dict[str, Any]]]:
        """Reset environment ``k`` with ``seeds[k]``, every actor at once.

        Raises:
            InvalidArgumentError: More seeds than environments, or a ``None`` seed (an
                episode without a seed could not be replayed after an actor dies).
        """
        if len(seeds) > self.size:
            raise InvalidArgumentError(f"{len(seeds)} seeds for a pool of {self.size}")
        if any(seed is None for seed in seeds):
            raise InvalidArgumentError("a pool needs a seed for every episode, to replay it")
        self._episodes = [_Episode(int(seed), options) for seed in seeds if seed is not None]
        work = {w: [(k, s.seed) for k, s in self._owned(w)] for w in range(self.workers)}
        results = self._merge(work, self._call("reset", work, options))
        return [results[k][0] for k in range(len(seeds))], [
            results[k][1] for k in range(len(seeds))
        ]

    def step(self, actions: dict[int, Any]) -> dict[int, StepResult]:
        """Step environment ``k`` with ``actions[k]``, every actor at once."""
        work: dict[int, list[tuple[int, Any]]] = {}
        for k, action in sorted(actions.items()):
            work.setdefault(self._owner(k), []).append((k, action))
        results = self._merge(work, self._call("step", work))
        # Recorded once the step is done, so a replay never runs a step twice.
        for k, action in actions.items():
            self._episodes[k].actions.append(action)
            self._episodes[k].digests.append(_digest(*results[k][:4]))
        return results

    def close(self) -> None:
        """Close the environments and stop the actors; the pool cannot be used after."""
        if self._closed:
            return
        self._closed = True
        ray = self._ray
        if not ray.is_initialized():
            return
        for actor in self.actors:
            try:
                ray.get(actor.close.remote(), timeout=60)
            except Exception:  # a failing close must not keep the other actors running
                pass
            finally:
                ray.kill(actor)

    # ------------------------------------------------------------------ calls and faults

    def _owned(self, worker: int) -> list[tuple[int, _Episode]]:
        return [(k, e) for k, e in enumerate(self._episodes) if self._owner(k) == worker]

    @staticmethod
    def _merge(work: dict[int, list[Any]], parts: dict[int, list[Any]]) -> dict[int, Any]:
        merged: dict[int, Any] = {}
        for worker, items in work.items():
            if items:
                merged.update(zip((item[0] for item in items), parts[worker], strict=True))
        return merged

    def _call(
        self, method: str, work: dict[int, list[Any]], *args: Any, timeout: float | None = None
    ) -> dict[int, list[Any]]:
        """Run ``method`` on each actor with work; replace and replay any that died.

        Every actor's answer is awaited before an error is raised, and an environment's own
        exception is raised as itself, that of the lowest environment index first, as a
        loop over a list of environments would.
        """
        if self._closed:
            raise InvalidArgumentError("this pool is closed")
        ray = self._ray
        work = {w: items for w, items in work.items() if items}
        pending = {
            w: getattr(self.actors[w], method).remote(items, *args) for w, items in work.items()
        }
        results: dict[int, list[Any]] = {}
        errors: list[tuple[Any, BaseException]] = []
        for worker, reference in pending.items():
            for attempt in range(MAX_RESTARTS + 1):
                try:
                    results[worker] = ray.get(reference, timeout=timeout)
                    break
                except ray.exceptions.GetTimeoutError as exc:
                    raise DistributedError(
                        f"the Ray actors for {self.env_id} did not start within {timeout:g} s: "
                        f"the cluster ({ray.cluster_resources().get('CPU', 0):g} CPUs) may not "
                        f"hold {self.workers} actors of {ACTOR_CPUS} CPU"
                    ) from exc
                except ray.exceptions.RayTaskError as exc:  # the environment raised
                    first = work[worker][0]
                    errors.append((first[0] if isinstance(first, tuple) else worker, exc))
                    break
                except ray.exceptions.RayActorError as exc:
                    if getattr(exc, "actor_init_failed", False):
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
                    reference = self._replace_and_retry(worker, method, work[worker], args)
        if errors:
            _, failure = min(errors, key=lambda error: error[0])
            original = getattr(failure, "cause", None)
            if isinstance(original, Exception):
                raise original from None
            raise DistributedError(f"an environment raised on a Ray actor: {failure}") from failure
        return results

    def _replace_and_retry(
        self, worker: int, method: str, items: list[Any], args: tuple[Any, ...]
    ) -> Any:
        """Start a new actor for ``worker``'s environments, replay them, resend the call.

        Returns the call's reference; a death of the new actor, during the replay or the
        call, surfaces when it is awaited and uses up one more attempt.
        """
        ray = self._ray
        self.restarts += 1
        ray.kill(self.actors[worker])  # gone already, or unreachable: not to be left running
        actor = self.actors[worker] = self._start(worker)
        owned = self._owned(worker)
        replayed = actor.replay.remote([(k, e.seed, e.options, e.actions) for k, e in owned])
        try:
            digests = ray.get(replayed)
        except ray.exceptions.RayActorError:
            return actor.ready.remote([])  # awaited by the caller: it fails the same way
        except ray.exceptions.RayTaskError as exc:
            raise DistributedError(
                f"replaying the episodes of {self.env_id} after their Ray actor died raised: "
                f"{str(exc).strip().splitlines()[-1]}"
            ) from exc
        for (k, episode), steps in zip(owned, digests, strict=True):
            if steps != episode.digests:
                raise DistributedError(
                    f"environment {k} ({self.env_id}, seed {episode.seed}) did not replay the "
                    "same after its Ray actor died: it is not deterministic given its seed and "
                    "actions, so its episode cannot be continued"
                )
        return getattr(actor, method).remote(items, *args)
