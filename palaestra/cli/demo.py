"""``palaestra demo``: what ``make demo`` shows."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from palaestra.reporting import console


@dataclass(frozen=True)
class Demo:
    """Run the demo: bandit baselines, GRPO training runs, then a local leaderboard.

    Attributes:
        out: Folder for plots, tables, the training runs and the leaderboard database.
        episodes: Episodes per agent and environment for the baselines.
        train_steps: GRPO iterations of the reference training run (0 skips it).
        progress: Show progress bars.
    """

    out: Path = Path("runs/demo")
    episodes: int = 100
    train_steps: int = 40
    progress: bool = True

    def execute(self) -> None:
        """The three parts of the demo, in order."""
        from palaestra.demo import bandit_demo, reference_entries, training_demo
        from palaestra.demo.leaderboard import BASELINES, leaderboard_demo

        bandit_demo(self.out, episodes=self.episodes, progress=self.progress, console=console)
        runs = []
        if self.train_steps > 0:
            runs = training_demo(
                self.out, steps=self.train_steps, progress=self.progress, console=console
            )
        entries = [*reference_entries(runs), *BASELINES]
        leaderboard_demo(self.out, entries, progress=self.progress, console=console)
