"""The results file: a versioned pydantic schema, with per-task and overall aggregates."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from palaestra.leaderboard.names import clean_name
from palaestra.rollout import Episode

#: Bumped on any incompatible change to the results file.
SCHEMA_VERSION: Literal[1] = 1

#: A float that must be finite (JSON from outside may carry NaN or Infinity).
Finite = Annotated[float, Field(allow_inf_nan=False)]


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
    """A results file (``palaestra leaderboard evaluate --out results.json``)."""

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
