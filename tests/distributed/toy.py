"""Environments for the pool tests: one that raises, one that does not replay the same."""

import os
import string
from typing import Any

import gymnasium as gym


class ToyError(Exception):
    """What the toy environment raises."""


class RaisingEnv(gym.Env[str, str]):
    """Counts steps; raises ToyError at step ``fail_at``."""

    observation_space = gym.spaces.Text(64, charset=string.printable)
    action_space = gym.spaces.Text(16, charset=string.printable)

    def __init__(self, fail_at: int = 3) -> None:
        self.fail_at, self.steps = fail_at, 0

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[str, dict[str, Any]]:
        super().reset(seed=seed)
        self.steps = 0
        return "start", {}

    def step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        self.steps += 1
        if self.steps == self.fail_at:
            raise ToyError(f"boom at step {self.steps}")
        return f"step {self.steps}", 1.0, self.steps >= 8, False, {}


class DriftingEnv(RaisingEnv):
    """Observations name the process: a replay in a new process differs."""

    def __init__(self) -> None:
        super().__init__(fail_at=-1)

    def step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        observation, reward, terminated, truncated, info = super().step(action)
        return f"{observation} in {os.getpid()}", reward, terminated, truncated, info


gym.register("palaestra-tests/Raising-v0", entry_point="tests.distributed.toy:RaisingEnv")
gym.register("palaestra-tests/Drifting-v0", entry_point="tests.distributed.toy:DriftingEnv")
