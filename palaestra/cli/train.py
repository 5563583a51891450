"""Commands that make agents better: RL training, algorithm comparison, baselines, synthesis.

The algorithm configs and :class:`~palaestra.algorithms.config.TrainConfig` import torch, a
second or more: their fields reach tyro through ``constructor_factory`` functions, which tyro
calls only when it builds the parser of ``train`` or ``compare``. Every other command starts
without torch. Those fields are typed ``Any`` here for that reason; tyro parses them as the
factories' types.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import tyro

from palaestra.cli.command import EnvId, subcommands
from palaestra.reporting import comparison_table, console, synthesis_table

if TYPE_CHECKING:
    from palaestra.algorithms import Algorithm, PolicyLossConfig


def _algorithm_configs() -> Any:
    """One subcommand per name of ``ALGORITHMS``, its fields defaulting to that entry's."""
    _require_trainer()
    from palaestra.algorithms import ALGORITHMS

    return subcommands(
        {name: type(config) for name, (_, config) in ALGORITHMS.items()},
        {name: config for name, (_, config) in ALGORITHMS.items()},
        implicit="grpo",
    )


def _require_trainer() -> None:
    from palaestra.optional import require

    for module in ("torch", "transformers", "accelerate"):
        require(module, "train", "palaestra train")


def _train_config() -> type[Any]:
    _require_trainer()
    from palaestra.algorithms.config import TrainConfig

    return TrainConfig


def _baseline_config() -> type[Any]:
    from palaestra.baselines.training import BaselineConfig

    return BaselineConfig


def algorithm_for(config: PolicyLossConfig) -> Algorithm:
    """The algorithm that takes ``config``: presets share their algorithm's config type."""
    from palaestra.algorithms import ALGORITHMS

    algorithms = {type(default): algorithm for algorithm, default in ALGORITHMS.values()}
    return algorithms[type(config)](config)


@dataclass(frozen=True)
class Train:
    """Train an LLM agent with a multi-turn RL algorithm: palaestra train ALGO --env ID ...

    ALGO is one of the algorithms (grpo when none is named); the options of its own loss
    settings are named --algo.FIELD, and `palaestra train ALGO --help` lists them.

    Attributes:
        algo: The algorithm and its loss settings.
        run: The run: environment, model, budget, optimizer, output folder.
    """

    algo: Annotated[Any, tyro.conf.arg(constructor_factory=_algorithm_configs)]
    run: Annotated[Any, tyro.conf.OmitArgPrefixes, tyro.conf.arg(constructor_factory=_train_config)]

    def execute(self) -> None:
        """Train with the shared trainer; print where the run's files are."""
        from palaestra.algorithms.trainer import Trainer

        out = Trainer(self.run, algorithm_for(self.algo)).run()
        console.print(
            f"run folder: {out}\nmetrics: {out / 'metrics.jsonl'}\ncurves: {out / 'curves.png'}"
        )


@dataclass(frozen=True)
class Compare:
    """Train several algorithms with one budget and the same seeds; tabulate and plot them.

    Every run option of `palaestra train` applies to all of them; comparison.png,
    results.csv and results.md are written to --out.

    Attributes:
        run: Run options shared by every algorithm.
        algos: Comma-separated algorithm names.
        seeds: Seeds per algorithm.
    """

    run: Annotated[Any, tyro.conf.OmitArgPrefixes, tyro.conf.arg(constructor_factory=_train_config)]
    algos: str = "grpo,epo"
    seeds: int = 2

    def execute(self) -> None:
        """Train every (algorithm, seed) pair, then print the table."""
        from palaestra.algorithms.compare import compare

        names = [a.strip() for a in self.algos.split(",") if a.strip()]
        rows = compare(
            names, self.run, seeds=self.seeds, out=self.run.out, progress=self.run.progress
        )
        title = f"{self.run.env}: {self.seeds} seed(s), {self.run.steps} iterations"
        console.print(comparison_table(rows, title))
        console.print(
            f"figure: {self.run.out / 'comparison.png'}\ntable: {self.run.out / 'results.md'}"
        )


@dataclass(frozen=True)
class Baseline:
    """Train a tianshou DQN or PPO reference agent on an environment's numeric view.

    Attributes:
        config: The run; ENV is a bandit or social dilemma id, e.g. palaestra/Bandit-v0.
        out: Folder for curve.json and curve.png.
    """

    config: Annotated[
        Any,
        tyro.conf.OmitArgPrefixes,
        tyro.conf.PositionalRequiredArgs,  # the id, the one field without a default
        tyro.conf.PositionalMetavarFromFieldName,
        tyro.conf.arg(constructor_factory=_baseline_config),
    ]
    out: Path = Path("runs/baseline")

    def execute(self) -> None:
        """Train, print the curve and the random policy's return, write the curve."""
        from palaestra.baselines.training import save_curve, train_baseline

        result = train_baseline(self.config)
        for steps, value in result.curve:
            console.print(f"{steps:>8} env steps: mean return {value:.3f}")
        console.print(f"random policy: {result.random_return:.3f}")
        for path in save_curve(result, self.config, self.out):
            console.print(f"written: {path}")


@dataclass(frozen=True)
class Synthesize:
    """Have an LLM write a policy program for a social dilemma, refined over self-play.

    Attributes:
        env_id: A social dilemma: palaestra/Gathering-v0, palaestra/Cleanup-v0, a matrix game.
        agent: The code writer: hf:MODEL, openai:MODEL@URL, or reference:NAME (greedy,
            cleaner-harvester, random) for a hand-written baseline.
        iterations: Candidates written.
        feedback: sparse (mean reward) or dense (also efficiency, equality,
            sustainability and peace).
        episodes: Self-play episodes per candidate.
        seed: First episode seed.
        out: Folder for candidates.json, best_policy.py and synthesis.png.
        progress: Show a progress bar.
    """

    env_id: EnvId
    agent: str = "reference:greedy"
    iterations: int = 5
    feedback: Literal["sparse", "dense"] = "dense"
    episodes: int = 3
    seed: int = 0
    out: Path = Path("runs/synthesis")
    progress: bool = True

    def execute(self) -> None:
        """Run the synthesis loop, print a row per candidate, save the candidates."""
        from palaestra.agents.synthesis.loop import make_writer, synthesize

        result = synthesize(
            make_writer(self.agent, seed=self.seed),
            self.env_id,
            iterations=self.iterations,
            feedback=self.feedback,
            episodes=self.episodes,
            seed=self.seed,
            progress=self.progress,
        )
        console.print(synthesis_table(result, self.env_id, self.feedback))
        for path in result.save(self.out):
            console.print(f"written: {path}")
