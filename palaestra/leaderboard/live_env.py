"""The envs of live sessions, held in worker processes the web process only talks to.

Each live episode's env is stepped in a :class:`~palaestra.processes.WorkerPool` worker, so a
slow step costs that worker, not the web process, and a step past its time bound kills the
worker without touching the server. A worker keeps the envs it stepped (a bounded LRU), keyed
by episode; an env it does not hold (evicted, its worker replaced, the server restarted) is
rebuilt from the episode's seed and its committed actions, which gives the same state
because envs are deterministic. Episodes are spread over the workers by key, so an episode
keeps its worker and its cached env.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, SupportsFloat

import gymnasium as gym
from gymnasium.envs.registration import load_env_creator

from palaestra.envs.core import TextEnv
from palaestra.envs.json_info import json_safe
from palaestra.processes import WorkerPool

#: Envs one worker keeps (least recently stepped ones are closed first).
CACHED_ENVS = 64


def _outcome(
    observation: Any,
    reward: SupportsFloat,
    terminated: bool,
    truncated: bool,
    info: dict[str, Any],
) -> dict[str, Any]:
    return {
        # NUL is no text a database column can hold (PostgreSQL refuses it).
        "observation": str(observation).replace("\x00", "\ufffd"),
        "reward": float(reward),
        "terminated": bool(terminated),
        "truncated": bool(truncated),
        "success": bool(info.get("success", False)),
        "info": json_safe(info),
    }


@dataclass
class _Held:
    env: gym.Env[Any, Any]
    actions: list[str]


_envs: OrderedDict[str, _Held] = OrderedDict()


def advance(
    env_id: str,
    kwargs: dict[str, Any],
    seed: int,
    key: str,
    actions: list[str],
) -> dict[str, Any]:
    """In a worker: the outcome of the last of ``actions`` (the reset's with none).

    The env is made with :func:`live_kwargs`: an env of a public game pool plays a game
    made for the episode, whose files are deleted when the episode ends.

    Args:
        env_id: The registered env.
        kwargs: The task's ``gym.make`` arguments.
        seed: The episode's seed.
        key: The episode's key (its cached env).
        actions: Every committed action, then the one to play.
    """
    held = _envs.pop(key, None)
    if held is not None and (not actions or held.actions != actions[:-1]):
        held.env.close()  # not the state this step needs
        held = None
    if held is None:
        env = gym.make(env_id, **live_kwargs(env_id, kwargs))
        observation, info = env.reset(seed=seed)
        result = _outcome(observation, 0.0, False, False, info)
        held = _Held(env, [])
        for action in actions:
            result = _outcome(*held.env.step(action))
            held.actions.append(action)
    else:
        result = _outcome(*held.env.step(actions[-1]))
        held.actions.append(actions[-1])
    if result["terminated"] or result["truncated"]:
        # An ended episode is never stepped again; a game made for it alone is not kept.
        base = held.env.unwrapped
        if isinstance(base, TextEnv) and base.unseen_game_kwargs:
            base.discard_game()
        held.env.close()
    else:
        _envs[key] = held
        while len(_envs) > CACHED_ENVS:
            _envs.popitem(last=False)[1].env.close()
    return result


def live_kwargs(env_id: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    """``kwargs`` for a live episode of ``env_id``: with its env's ``unseen_game_kwargs``.

    An env that draws its games from a public pool plays a game made for the episode from
    its hidden seed instead, so no live game can be looked up.
    """
    entry = gym.spec(env_id).entry_point
    creator = load_env_creator(entry) if isinstance(entry, str) else entry
    return {**kwargs, **getattr(creator, "unseen_game_kwargs", {})}


class StepTimeout(Exception):  # noqa: N818 - a verdict on one action
    """The env did not answer within the time bound; nothing was committed."""


class LiveEnvs:
    """Worker processes stepping live episodes, one pool (and one lock) per shard.

    Args:
        shards: Worker processes.
        step_seconds: Time one step (or one rebuild of an env) may take.
        memory_bytes: Address-space limit of each worker.
    """

    def __init__(
        self, shards: int = 2, step_seconds: float = 60.0, memory_bytes: int = 8 << 30
    ) -> None:
        self.step_seconds = step_seconds
        self._pools = [
            WorkerPool(f"{__name__}:advance", workers=1, memory_bytes=memory_bytes)
            for _ in range(max(1, shards))
        ]
        self._locks = [threading.Lock() for _ in self._pools]

    def advance(
        self,
        env_id: str,
        kwargs: dict[str, Any],
        seed: int,
        key: str,
        actions: list[str],
    ) -> dict[str, Any]:
        """The outcome of the last of ``actions`` on the episode ``key`` (see :func:`advance`).

        Raises:
            StepTimeout: The step took longer than ``step_seconds`` (its worker is replaced).
            RuntimeError: The env failed in a way an action should never cause.
        """
        shard = int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "big") % len(self._pools)
        with self._locks[shard]:
            (result,) = self._pools[shard].map(
                [(env_id, kwargs, seed, key, actions)], self.step_seconds
            )
        if result.ok:
            return dict(result.value)
        if result.error == "timeout":
            raise StepTimeout(f"the env took longer than {self.step_seconds:g} s to answer")
        raise RuntimeError(f"the env failed: {result.error}")

    def close(self) -> None:
        """Stop every worker."""
        for pool in self._pools:
            pool.close()
