"""Scoring: means with bootstrap intervals, per task, per family and overall.

The results file's summaries (:func:`score_results`), the replayed and live leaderboard rows
(:func:`board_summary`) and the live table all come from here, so a figure means the same
wherever it is shown.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from palaestra.leaderboard.schema import Aggregate, Results, TaskSummary

#: Bootstrap resamples of the 95 % intervals.
BOOTSTRAP_SAMPLES = 2000


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


def score_results(results: Results, families: dict[str, str]) -> Results:
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
