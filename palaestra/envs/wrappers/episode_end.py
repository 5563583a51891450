"""Complete the end-of-episode ``info`` when a time limit, not the task, ends the episode."""

from __future__ import annotations

from typing import Any

import gymnasium as gym

from palaestra.envs.core import TextEnv


class EpisodeEndInfo(gym.Wrapper[str, str, str, str], gym.utils.RecordConstructorArgs):
    """Add ``success`` and ``episode_metrics`` to the ``info`` of a truncated step.

    The environment itself cannot see Gymnasium's ``TimeLimit`` wrapper, so on a step that
    the time limit truncates this wrapper (placed outside it) asks the environment for its
    end-of-episode figures. Every registered palaestra id has it; add it yourself after any
    step-limit wrapper of your own.

    Args:
        env: A wrapped :class:`~palaestra.envs.core.TextEnv`.
    """

    def __init__(self, env: gym.Env[str, str]) -> None:
        gym.utils.RecordConstructorArgs.__init__(self)
        gym.Wrapper.__init__(self, env)

    def step(self, action: str) -> tuple[str, Any, bool, bool, dict[str, Any]]:
        """Step, completing ``info`` when the step was truncated."""
        observation, reward, terminated, truncated, info = self.env.step(action)
        if truncated and "episode_metrics" not in info:
            base = self.env.unwrapped
            if isinstance(base, TextEnv):
                info.update(base.end_of_episode_info())
                info.pop("available_actions", None)
        return observation, reward, terminated, truncated, info
