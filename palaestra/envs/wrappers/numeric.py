"""A numeric view of palaestra environments, for non-LLM baselines (tianshou, SB3, cleanrl).

Environments that define ``numeric_actions()`` (the text of each discrete action) and
``numeric_observation()`` (a float vector of the state an agent has seen) can be wrapped in
:class:`NumericView`: a Gymnasium env with a ``Box`` observation and a ``Discrete`` action
space that plays the same game through the text interface.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from palaestra.errors import InvalidArgumentError


class NumericView(gym.Wrapper[np.ndarray, np.int64, str, str], gym.utils.RecordConstructorArgs):
    """Discrete actions and vector observations over a palaestra text environment.

    Args:
        env: A palaestra environment with ``numeric_actions`` and ``numeric_observation``
            (bandits and the single-agent social dilemmas).
    """

    def __init__(self, env: gym.Env[str, str]) -> None:
        gym.utils.RecordConstructorArgs.__init__(self)
        gym.Wrapper.__init__(self, env)  # type: ignore[misc]  # generics fixed by the class
        self._text_env = env
        inner = env.unwrapped
        if not hasattr(inner, "numeric_actions") or not hasattr(inner, "numeric_observation"):
            raise InvalidArgumentError(
                f"{type(inner).__name__} has no numeric view (numeric_actions and "
                "numeric_observation); bandits and the social dilemmas have one"
            )
        self.actions: list[str] = inner.numeric_actions()
        size = inner.numeric_observation().shape[0]
        self.action_space = gym.spaces.Discrete(len(self.actions))
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, shape=(size,), dtype=np.float32)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Reset the text environment; return its numeric observation."""
        _, info = self._text_env.reset(seed=seed, options=options)
        return self.env.unwrapped.numeric_observation(), info  # type: ignore[attr-defined]

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Play the text of discrete ``action``."""
        _, reward, terminated, truncated, info = self._text_env.step(self.actions[int(action)])
        observation = self.env.unwrapped.numeric_observation()  # type: ignore[attr-defined]
        return observation, float(reward), terminated, truncated, info
