"""Reasoning Gym's procedurally generated tasks as palaestra environments."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from palaestra.envs.reasoning_gym.tasks import TASKS

if TYPE_CHECKING:
    from palaestra.envs.reasoning_gym.env import ReasoningGymEnv, extract_answer

__all__ = ["TASKS", "ReasoningGymEnv", "extract_answer"]


def __getattr__(name: str) -> Any:
    # ``import palaestra`` registers the ids from TASKS alone; the env and its worker pool
    # load when an env is first made.
    if name in ("ReasoningGymEnv", "extract_answer"):
        from palaestra.envs.reasoning_gym import env

        return getattr(env, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
