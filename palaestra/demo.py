"""What ``make demo`` runs.

1. The reference curves on palaestra's bandits: classic algorithms (UCB1, Thompson sampling,
   epsilon-greedy), the oracle and a random agent play every bandit variant through the text
   interface; a regret table and a plot of mean cumulative regret per round.
2. The reference training run: GRPO trains the tiny model, from scratch on the CPU, on a
   5-armed letter bandit (a short warm start on random arms teaches only the reply format,
   then RL finds the paying arm); its learning and entropy curves are plotted.
3. The leaderboard: the trained models and the scripted baselines are scored on the
   palaestra-v1 suite, submitted to a local server that replays every episode, and the
   table is printed.
"""

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
    lines = [
        "| environment | agent | regret | optimal-arm rate | success | return |",
        "|" + "---|" * 6,
    ]
    for env_id in BANDIT_IDS:
        title = f"{env_id}: {episodes} episodes per agent"
        console.print(reporting.summary_table(title, results[env_id]))
        for agent, records in results[env_id].items():
            s = summarize_episodes(records)
            lines.append(
                f"| {env_id} | {agent} | {s['regret']:.2f} | {s['optimal_arm_rate']:.3f} "
                f"| {s['success_rate']:.2f} | {s['return']:.2f} |"
            )
    (out / "bandit_regret.md").write_text("\n".join(lines) + "\n")
    path = plot_curves(
        curves,
        out / "bandit_regret.png",
        xlabel="round",
        ylabel="cumulative regret",
        title=f"Bandit baselines (mean over {episodes} episodes)",
    )
    console.print(f"regret table: {out / 'bandit_regret.md'}\nregret plot:  {path}")
    return path


#: The reference training runs of the demo (and of the trainer tests).
REFERENCE_RUNS: dict[str, dict[str, Any]] = {
    # A 5-armed letter bandit: a warm start on uniformly random arms teaches only the reply
    # format; GRPO then finds the arm that pays 0.9.
    "grpo-bandit": {
        "env": "palaestra/Bandit-v0",
        "env_kwargs": '{"horizon": 1, "means": [0.1, 0.2, 0.9, 0.3, 0.2]}',
        "max_new_tokens": 4,
        "extract": "choice",
        "micro_batch_size": 32,
        "sft_steps": 100,
        "sft_lr": 3e-3,
        "sft_agent": "random",
        "sft_episodes": 128,
    },
    # Single-digit sums: a short warm start on the generated worked solutions, then GRPO.
    "grpo-arithmetic": {
        "env": "palaestra/Math-Arithmetic-v0",
        "env_kwargs": '{"difficulty": 0}',
        "model": "tiny:hidden_size=128,intermediate_size=384,num_layers=4",
        "groups": 16,
        "max_new_tokens": 16,
        "micro_batch_size": 64,
        "lr": 2e-4,
        "sft_steps": 200,
        "sft_lr": 2e-3,
        "sft_agent": "oracle",
        "sft_episodes": 512,
    },
}


def training_demo(
    out: Path, *, steps: int = 40, progress: bool = True, console: Console | None = None
) -> list[Path]:
    """Train the tiny models of :data:`REFERENCE_RUNS` with GRPO; return the run folders."""
    import shutil

    from palaestra.algorithms import make_algorithm
    from palaestra.algorithms.trainer import TrainConfig, Trainer, read_metrics

    console = console or reporting.console
    folders = []
    for name, settings in REFERENCE_RUNS.items():
        run = out / name
        shutil.rmtree(run, ignore_errors=True)  # the demo always starts fresh
        iterations = steps if name == "grpo-bandit" else max(1, steps // 2)
        config = TrainConfig(
            **settings, steps=iterations, out=run, progress=progress, checkpoint_every=iterations
        )
        Trainer(config, make_algorithm("grpo")).run()
        rows = read_metrics(run / "metrics.jsonl")
        head, tail = rows[: max(1, len(rows) // 4)], rows[-max(1, len(rows) // 4) :]
        console.print(
            f"{name}: mean return {sum(r['return'] for r in head) / len(head):.2f} in the first "
            f"iterations, {sum(r['return'] for r in tail) / len(tail):.2f} in the last; "
            f"curves: {run / 'curves.png'}"
        )
        folders.append(run)
    return folders


#: The suite families each reference run is scored on. The bandit run learns a one-round
#: bandit, and the suite's bandits last 50 rounds: it is not scored.
REFERENCE_FAMILIES = {"grpo-arithmetic": ("math",)}


def reference_entries(runs: list[Path]) -> list[Any]:
    """Leaderboard entries for the trained reference runs.

    Each plays its last checkpoint on hidden seeds, with its learning curve attached.
    """
    from palaestra.leaderboard.demo import Entry

    entries = []
    for run in runs:
        checkpoints = sorted(p for p in (run / "checkpoints").glob("step-*") if p.is_dir())
        checkpoints = [p for p in checkpoints if not p.name.endswith(".tmp")]
        if not checkpoints or run.name not in REFERENCE_FAMILIES:
            continue
        entries.append(
            Entry(
                name=f"GRPO, tiny model ({run.name})",
                spec=f"hf:{checkpoints[-1] / 'model'}",
                families=REFERENCE_FAMILIES[run.name],
                hidden=True,
                curve=run / "metrics.jsonl",
            )
        )
    return entries
