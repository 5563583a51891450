"""Scripted agents: a random agent and the oracle of any environment that has one."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from palaestra.envs.core import TextEnv
from palaestra.errors import InvalidArgumentError

#: What :class:`RandomAgent` says when the environment lists no actions.
FALLBACK_WORDS = ("look", "yes", "no", "0", "1", "42", "help", "wait", "A", "north")


class RandomAgent:
    """Acts uniformly at random among ``info["available_actions"]``.

    Environments that do not list their actions get a word from :data:`FALLBACK_WORDS`.

    Args:
        seed: Seed of the agent's own generator (agents never touch global random state).
    """

    def __init__(self, seed: int | None = None) -> None:
        self._rng = np.random.default_rng(seed)

    def reset(self, instruction: str) -> None:
        """Nothing to remember between episodes."""

    def act(self, observation: str, info: dict[str, Any]) -> str:
        """Return a uniformly random available action."""
        actions = info.get("available_actions") or FALLBACK_WORDS
        return str(actions[int(self._rng.integers(len(actions)))])


class OracleAgent:
    """Plays the environment's own oracle (:meth:`TextEnv.oracle_action`).

    The oracle reads privileged state (the bandit's means, the walkthrough, the gold
    answer), so this agent is bound to one environment instance.

    Args:
        env: The environment the agent plays (wrappers allowed).

    Raises:
        InvalidArgumentError: The environment has no oracle.
    """

    def __init__(self, env: gym.Env[Any, Any]) -> None:
        base = env.unwrapped
        if not isinstance(base, TextEnv) or not base.has_oracle:
            raise InvalidArgumentError(f"{type(base).__name__} has no oracle")
        self._env = base

    def reset(self, instruction: str) -> None:
        """Nothing to remember between episodes."""

    def act(self, observation: str, info: dict[str, Any]) -> str:
        """Return the oracle's action for the environment's current state."""
        return self._env.oracle_action()
