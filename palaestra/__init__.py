"""palaestra: Gymnasium environments, agents, RL algorithms and a leaderboard for LLM agents.

Importing palaestra registers every environment with Gymnasium::

    import gymnasium as gym
    import palaestra

    env = gym.make("palaestra/Bandit-v0")

``gym.make("palaestra:palaestra/Bandit-v0")`` works without the import.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from types import ModuleType

from palaestra.envs.registration import env_ids, register_envs
from palaestra.rollout.loop import EpisodeRecord, run_episode, run_episodes

try:
    __version__ = version("palaestra")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"

register_envs()

__all__ = ["EpisodeRecord", "__version__", "env_ids", "run_episode", "run_episodes"]


def __getattr__(name: str) -> ModuleType:
    # `palaestra.testing.check(...)` works after a bare `import palaestra`.
    if name in {"testing", "cli", "agents", "envs", "errors"}:
        return importlib.import_module(f"palaestra.{name}")
    raise AttributeError(f"module 'palaestra' has no attribute {name!r}")
