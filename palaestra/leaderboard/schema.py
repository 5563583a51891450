"""The results file: a versioned pydantic schema, with per-task and overall aggregates."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from palaestra.leaderboard.names import clean_name
from palaestra.rollout import Episode

#: Bumped on any incompatible change to the results file.
SCHEMA_VERSION: Literal[1] = 1

#: A float that must be finite (JSON from outside may carry NaN or Infinity).
Finite = Annotated[float, Field(allow_inf_nan=False)]

#: Bootstrap resamples of the 95 % intervals.
BOOTSTRAP_SAMPLES = 2000


class EpisodeResult(BaseModel):
    """One scored episode: enough to replay it (seed and actions) and to check it."""

    model_config = ConfigDict(extra="forbid")

    task: str = Field(max_length=100)
    env: str = Field(max_length=200)
    seed: int
    actions: list[str] = Field(max_length=10_000)
    rewards: list[Finite] = Field(max_length=10_000)
    success: bool
    metrics: dict[str, Finite] = Field(default_factory=dict)

    @property
    def total_reward(self) -> float:
        """The episode's return."""
        return float(sum(self.rewards))

    @classmethod
    def from_episode(cls, task: str, episode: Episode) -> EpisodeResult:
        """The results-file entry of a played episode of ``task`` (non-finite metrics left out)."""
        if episode.env_id is None or episode.seed is None:
            raise ValueError("a scored episode has a registered env and a seed")
        return cls(
            task=task,
            env=episode.env_id,
            seed=episode.seed,
            actions=[str(a) for a in episode.actions],
            rewards=episode.rewards,
            success=episode.success,
            metrics={k: v for k, v in episode.metrics.items() if math.isfinite(v)},
        )


class Aggregate(BaseModel):
    """Mean of a figure over episodes with a bootstrap 95 % interval."""

    model_config = ConfigDict(extra="forbid")

    mean: float
    low: float
    high: float
    n: int


class TaskSummary(BaseModel):
    """A task's return and success rate."""

    model_config = ConfigDict(extra="forbid")

    family: str
    reward: Aggregate
    success: Aggregate


class AgentInfo(BaseModel):
    """Who produced the results (the name is NFKC-normalized; see :mod:`.names`)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    spec: str = Field(max_length=1000)
    description: str = Field(default="", max_length=5000)

    @field_validator("name")
    @classmethod
    def _visible_name(cls, name: str) -> str:
        return clean_name(name)


class CurvePoint(BaseModel):
    """One point of a learning curve: a training step and the figure measured there."""

    model_config = ConfigDict(extra="forbid")

    step: int = Field(ge=0, le=10**12)
    value: Finite = Field(ge=-1e15, le=1e15)  # plotted: a range matplotlib can draw


class LearningCurve(BaseModel):
    """How the agent learned (optional): one figure over training steps."""

    model_config = ConfigDict(extra="forbid")

    metric: str = Field(min_length=1, max_length=100)
    points: list[CurvePoint] = Field(min_length=1, max_length=10_000)

    @field_validator("points")
    @classmethod
    def _increasing(cls, points: list[CurvePoint]) -> list[CurvePoint]:
        for earlier, later in itertools.pairwise(points):
            if later.step <= earlier.step:
                raise ValueError(
                    f"learning-curve steps must increase: {later.step} after {earlier.step}"
                )
        return points


class Results(BaseModel):
    """A results file (``palaestra evaluate --out results.json``)."""

    model_config = ConfigDict(extra="forbid")

    schema_version: Literal[1] = SCHEMA_VERSION
    palaestra_version: str = Field(max_length=50)
    suite: str = Field(max_length=100)
    suite_hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    agent: AgentInfo
    privileged: list[str] = Field(default_factory=list, max_length=20)
    challenge: str | None = Field(default=None, pattern=r"^[0-9a-f]{32}$")
    episodes: list[EpisodeResult] = Field(max_length=100_000)
    learning_curve: LearningCurve | None = None
    tasks: dict[str, TaskSummary] = Field(default_factory=dict)
    overall: Aggregate | None = None


def read_learning_curve(path: Path, metric: str = "return") -> LearningCurve:
    """A learning curve from a training run's ``metrics.jsonl`` (one JSON row per step)."""
    from palaestra.errors import InvalidArgumentError

    points = []
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise InvalidArgumentError(f"cannot read {path}: {exc}") from exc
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            step = int(row.get("iteration", row.get("step", number)))
            value = float(row[metric])
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise InvalidArgumentError(f"{path}:{number}: no {metric!r} figure: {exc}") from exc
        if math.isfinite(value):
            points.append(CurvePoint(step=step, value=value))
    if not points:
        raise InvalidArgumentError(f"{path} holds no {metric!r} figures")
    return LearningCurve(metric=metric, points=points[-10_000:])


def bootstrap(values: list[float], seed: int = 0) -> Aggregate:
    """Mean with a percentile bootstrap 95 % interval (seeded, so files are reproducible)."""
    data = np.asarray(values, dtype=np.float64)
    if data.size == 0:
        return Aggregate(mean=0.0, low=0.0, high=0.0, n=0)
    rng = np.random.default_rng(seed)
    # Resampled in batches of about a million draws: the same numbers as one call (the
    # generator's stream is the same), in bounded memory for a results file of 100,000
    # episodes or a live entry of many sessions.
    batch = max(1, min(BOOTSTRAP_SAMPLES, 1_000_000 // data.size))
    means = np.concatenate(
        [
            rng.choice(data, size=(min(batch, BOOTSTRAP_SAMPLES - start), data.size)).mean(axis=1)
            for start in range(0, BOOTSTRAP_SAMPLES, batch)
        ]
    )
    low, high = np.percentile(means, [2.5, 97.5])
    return Aggregate(mean=float(data.mean()), low=float(low), high=float(high), n=int(data.size))


#: An episode's return and whether it succeeded: all the aggregates need.
Score = tuple[float, bool]


def task_summaries(
    scores: dict[str, list[Score]], families: dict[str, str]
) -> tuple[dict[str, TaskSummary], Aggregate | None]:
    """Per-task summaries of ``scores`` (by task) and the overall success.

    Args:
        scores: Every episode's return and success, by task.
        families: The family of every task scored. ``overall`` is the mean success over
            these tasks, each weighing the same; one with no scores counts as 0, so an
            agent that plays one family cannot outrank one that plays them all by its best
            family alone.
    """
    tasks = {
        name: TaskSummary(
            family=families.get(name, ""),
            reward=bootstrap([r for r, _ in played]),
            success=bootstrap([float(s) for _, s in played]),
        )
        for name, played in scores.items()
    }
    # Overall: every task weighs the same, whatever its episode count.
    per_task = {name: float(np.mean([s for _, s in played])) for name, played in scores.items()}
    scored = [per_task.get(name, 0.0) for name in families] or list(per_task.values())
    return tasks, bootstrap(scored) if scored else None


def summarize(results: Results, families: dict[str, str]) -> Results:
    """Fill ``tasks`` and ``overall`` from the episodes (see :func:`task_summaries`)."""
    tasks, overall = task_summaries(scores_of(results), families)
    return results.model_copy(update={"tasks": tasks, "overall": overall})


def scores_of(results: Results) -> dict[str, list[Score]]:
    """The return and success of every episode of ``results``, by task."""
    scores: dict[str, list[Score]] = {}
    for episode in results.episodes:
        scores.setdefault(episode.task, []).append((episode.total_reward, episode.success))
    return scores


def board_summary(scores: dict[str, list[Score]], families: dict[str, str]) -> dict[str, Any]:
    """What a leaderboard row shows: overall, per-family and per-task success, counts.

    Args:
        scores: Every scored episode's return and success, by task.
        families: The family of every task of the suite (a task not played counts as 0
            in the overall score).
    """
    tasks, overall = task_summaries(scores, families)
    by_family: dict[str, list[float]] = {}
    for name, played in scores.items():
        by_family.setdefault(families.get(name, ""), []).extend(float(s) for _, s in played)
    return {
        "overall": overall.model_dump() if overall else None,
        "tasks_played": len(tasks),
        "tasks_total": len(families),
        "families": {k: bootstrap(v).model_dump() for k, v in sorted(by_family.items())},
        "tasks": {k: v.model_dump() for k, v in tasks.items()},
        "episodes": sum(len(played) for played in scores.values()),
    }
