"""Oracle play shared by the tests of the environments that have one (TextWorld, ALFWorld)."""

from typing import Any

import gymnasium as gym
import numpy as np


def finish_with_oracle(
    env: gym.Env[str, str], within: int = 200
) -> tuple[float, dict[str, Any], int]:
    """Play the oracle from where the episode is to its end: return, last info, steps.

    Fails when the episode has not ended after ``within`` oracle steps.
    """
    total = 0.0
    for steps in range(1, within + 1):
        _, reward, terminated, truncated, info = env.step(env.unwrapped.oracle_action())
        total += float(reward)
        if terminated or truncated:
            return total, info, steps
    raise AssertionError(f"the episode did not end within {within} oracle steps")


def play_oracle(
    env: gym.Env[str, str], seed: int, within: int = 200
) -> tuple[float, dict[str, Any], int]:
    """Reset with ``seed`` and play the oracle to the end: return, last info, steps."""
    env.reset(seed=seed)
    return finish_with_oracle(env, within)


def check_oracle_recovers(
    env: gym.Env[str, str],
    *,
    seed: int,
    wander: int,
    within: int,
    rng_seed: int = 0,
    prefix: str = "",
) -> None:
    """Wander off the walkthrough, then the oracle must still win within ``within`` steps.

    The wander plays ``wander`` random available actions (those starting with ``prefix``,
    drawn with ``rng_seed``), none of which may end the episode, and must leave the
    walkthrough: the oracle has to replan rather than replay it.
    """
    _, info = env.reset(seed=seed)
    rng = np.random.default_rng(rng_seed)
    for _ in range(wander):
        actions = [a for a in info["available_actions"] if a.startswith(prefix)]
        _, _, terminated, _, info = env.step(actions[int(rng.integers(len(actions)))])
        assert not terminated
    assert not env.unwrapped.on_walkthrough
    _, info, _ = finish_with_oracle(env, within)
    assert info["success"]
