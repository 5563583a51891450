"""The bandit baselines of the demo: regret curves of classic agents through the text interface."""

from __future__ import annotations

from pathlib import Path
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
from rich.console import Console

from palaestra import reporting
from palaestra.agents.factory import make_agent
from palaestra.rollout import Episode, run_episodes, summarize_episodes

BANDIT_IDS = (
    "palaestra/Bandit-TwoArmed-v0",
    "palaestra/Bandit-v0",
    "palaestra/Bandit-Hard-v0",
    "palaestra/Bandit-Gaussian-v0",
    "palaestra/ContextualBandit-v0",
)
BANDIT_AGENTS = ("oracle", "thompson", "ucb", "epsilon-greedy", "random")


def bandit_regret(
    env_id: str, agent_name: str, *, episodes: int, seed: int = 0
) -> tuple[list[Episode], np.ndarray]:
    """Play ``episodes`` episodes and return the records and the mean regret curve.

    Returns:
        The records, and the mean over episodes of the cumulative regret after each round.
    """
    env = _RegretInInfo(gym.make(env_id))
    agent = make_agent(agent_name, env, seed=seed)
    try:
        records = run_episodes(env, agent, episodes=episodes, seed=seed)
    finally:
        env.close()
    curves = [[turn.info["regret"] for turn in record.turns] for record in records]
    return records, np.mean(np.asarray(curves), axis=0)


class _RegretInInfo(gym.Wrapper[str, str, str, str]):
    """Puts the bandit's cumulative regret so far into every step's info."""

    def step(self, action: str) -> tuple[str, SupportsFloat, bool, bool, dict[str, Any]]:
        observation, reward, terminated, truncated, info = self.env.step(action)
        return (
            observation,
            reward,
            terminated,
            truncated,
            {
                **info,
                "regret": self.env.unwrapped.regret,  # type: ignore[attr-defined]
            },
        )


def bandit_demo(
    out: Path, *, episodes: int = 100, progress: bool = True, console: Console | None = None
) -> Path:
    """Run every bandit baseline on every bandit variant; write the table and the plot.

    Args:
        out: Output folder (created).
        episodes: Episodes per (environment, agent) pair.
        progress: Show a progress bar.
        console: Where to print the table.

    Returns:
        The path of the regret plot.
    """
    from palaestra.plots import plot_curves
    from palaestra.progress import track

    console = console or reporting.console
    out.mkdir(parents=True, exist_ok=True)
    pairs = [(env_id, agent) for env_id in BANDIT_IDS for agent in BANDIT_AGENTS]
    curves: dict[str, dict[str, np.ndarray]] = {env_id: {} for env_id in BANDIT_IDS}
    results: dict[str, dict[str, list[Episode]]] = {env_id: {} for env_id in BANDIT_IDS}
    for env_id, agent in track(pairs, description="bandit baselines", enabled=progress):
        records, curve = bandit_regret(env_id, agent, episodes=episodes)
        results[env_id][agent] = records
        curves[env_id][agent] = curve
    rows = []
    for env_id in BANDIT_IDS:
        title = f"{env_id}: {episodes} episodes per agent"
        console.print(reporting.summary_table(title, results[env_id]))
        for agent, records in results[env_id].items():
            s = summarize_episodes(records)
            rows.append({
                "environment": env_id, "agent": agent, "regret": f"{s['regret']:.2f}",
                "optimal-arm rate": f"{s['optimal_arm_rate']:.3f}",
                "success": f"{s['success_rate']:.2f}", "return": f"{s['return']:.2f}",
            })  # fmt: skip
    (out / "bandit_regret.md").write_text(reporting.markdown_table(rows))
    path = plot_curves(
        curves,
        out / "bandit_regret.png",
        xlabel="round",
        ylabel="cumulative regret",
        title=f"Bandit baselines (mean over {episodes} episodes)",
    )
    console.print(f"regret table: {out / 'bandit_regret.md'}\nregret plot:  {path}")
    return path
