"""palaestra: Gymnasium environments, agents, RL algorithms and a leaderboard for LLM agents.

Importing palaestra registers every environment with Gymnasium::

    import gymnasium as gym
    import palaestra

    env = gym.make("palaestra/Bandit-v0")

``gym.make("palaestra:palaestra/Bandit-v0")`` works without the import.
"""

from __future__ import annotations

import importlib
import warnings
from importlib.metadata import PackageNotFoundError, version
from types import ModuleType

from palaestra import _moved
from palaestra.envs.registration import env_ids, register_envs
from palaestra.rollout import Episode, play, run_episode, run_episodes

try:
    __version__ = version("palaestra")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"

register_envs()
_moved.install()

__all__ = ["Episode", "__version__", "env_ids", "play", "run_episode", "run_episodes"]


def __getattr__(name: str) -> ModuleType | type[Episode]:
    # `palaestra.testing.check(...)` works after a bare `import palaestra`.
    if name in {"testing", "cli", "agents", "envs", "errors", "rollout"}:
        return importlib.import_module(f"palaestra.{name}")
    if name == "EpisodeRecord":
        warnings.warn(
            "palaestra.EpisodeRecord is now palaestra.Episode, one record for every agent "
            "(its actions and rewards are read from its turns, not passed to it); the old name "
            "goes in the next release",
            DeprecationWarning,
            stacklevel=2,
        )
        return Episode
    raise AttributeError(f"module 'palaestra' has no attribute {name!r}")
