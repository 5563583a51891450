"""Run agents on environments and keep per-episode records."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np

from palaestra.agents.base import Agent
from palaestra.progress import track

#: ``on_step(env, reward, info)``, called by :func:`run_episode` after every step.
StepCallback = Callable[[gym.Env[str, str], float, dict[str, Any]], None]

#: Step cap for environments without a time limit, so a looping agent cannot hang a run.
DEFAULT_MAX_STEPS = 10_000


@dataclass
class EpisodeRecord:
    """What happened in one episode.

    Attributes:
        env_id: Registered id of the environment (``None`` for unregistered ones).
        seed: Seed passed to ``reset``.
        actions: Actions in order, as the agent returned them.
        rewards: Reward of each step.
        success: ``info["success"]`` at the end (``False`` if the env did not say).
        terminated: Whether the task ended (rather than being cut by a step limit).
        metrics: ``info["episode_metrics"]`` at the end.
        invalid_actions: Number of steps whose action was invalid.
    """

    env_id: str | None
    seed: int | None
    actions: list[str] = field(default_factory=list)
    rewards: list[float] = field(default_factory=list)
    success: bool = False
    terminated: bool = False
    metrics: dict[str, float] = field(default_factory=dict)
    invalid_actions: int = 0

    @property
    def total_reward(self) -> float:
        """Sum of the rewards (the undiscounted return)."""
        return float(sum(self.rewards))

    @property
    def length(self) -> int:
        """Number of steps."""
        return len(self.rewards)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


def run_episode(
    env: gym.Env[str, str],
    agent: Agent,
    *,
    seed: int | None = None,
    options: dict[str, Any] | None = None,
    max_steps: int = DEFAULT_MAX_STEPS,
    on_step: StepCallback | None = None,
) -> EpisodeRecord:
    """Play one episode of ``agent`` on ``env`` and return its record.

    Args:
        env: A palaestra (or any text) environment, wrapped or not.
        agent: The agent; ``agent.reset`` gets ``info["instruction"]``.
        seed: Seed for ``env.reset``; the same seed replays the same episode.
        options: Options for ``env.reset``.
        max_steps: Stop (as truncated) after this many steps if the episode has not ended.
        on_step: Called as ``on_step(env, reward, info)`` after every step (to record
            figures the record does not keep, such as the regret so far).
    """
    observation, info = env.reset(seed=seed, options=options)
    agent.reset(str(info.get("instruction", "")))
    spec = getattr(env, "spec", None)
    record = EpisodeRecord(env_id=spec.id if spec is not None else None, seed=seed)
    for _ in range(max_steps):
        action = agent.act(observation, info)
        observation, reward, terminated, truncated, info = env.step(action)
        record.actions.append(action)
        record.rewards.append(float(reward))
        record.invalid_actions += bool(info.get("invalid_action", False))
        if on_step is not None:
            on_step(env, float(reward), info)
        if terminated or truncated:
            record.terminated = bool(terminated)
            break
    record.success = bool(info.get("success", False))
    record.metrics = {k: float(v) for k, v in info.get("episode_metrics", {}).items()}
    return record


def run_episodes(
    env: gym.Env[str, str] | str,
    agent: Agent,
    *,
    episodes: int,
    seed: int = 0,
    progress: bool = False,
    max_steps: int = DEFAULT_MAX_STEPS,
) -> list[EpisodeRecord]:
    """Play ``episodes`` episodes with seeds ``seed, seed + 1, ...``.

    Args:
        env: An environment or a registered id (made here and closed afterwards).
        agent: The agent.
        episodes: Number of episodes.
        seed: Seed of the first episode.
        progress: Show a progress bar.
        max_steps: Per-episode step cap (see :func:`run_episode`).
    """
    owned = isinstance(env, str)
    environment = gym.make(env) if isinstance(env, str) else env
    try:
        return [
            run_episode(environment, agent, seed=seed + i, max_steps=max_steps)
            for i in track(range(episodes), description="episodes", enabled=progress)
        ]
    finally:
        if owned:
            environment.close()


def summarize_episodes(records: list[EpisodeRecord]) -> dict[str, float]:
    """Mean figures over ``records``.

    Returns:
        ``episodes``, ``return`` and ``return_std``, ``success_rate``, ``length``,
        ``invalid_rate`` (invalid steps per step), and the mean of every episode metric.
    """
    if not records:
        return {"episodes": 0.0}
    returns = [r.total_reward for r in records]
    steps = sum(r.length for r in records)
    summary = {
        "episodes": float(len(records)),
        "return": float(sum(returns) / len(returns)),
        "return_std": float(np.std(returns)),
        "success_rate": sum(r.success for r in records) / len(records),
        "length": steps / len(records),
        "invalid_rate": sum(r.invalid_actions for r in records) / max(steps, 1),
    }
    keys = sorted({k for r in records for k in r.metrics} - {"invalid_actions"})
    for key in keys:
        values = [r.metrics[key] for r in records if key in r.metrics]
        summary[key] = sum(values) / len(values)
    return summary
