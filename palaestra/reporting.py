"""The tables the command line and the demos print, and the console they print on.

Each function builds a :class:`rich.table.Table` from results and prints nothing; the caller
prints it on :data:`console` (or on a console of its own, as the demos accept one).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from palaestra.rollout import Episode, summarize_episodes

if TYPE_CHECKING:
    from palaestra.agents.synthesis.loop import SynthesisResult
    from palaestra.envs.registration import EnvEntry
    from palaestra.leaderboard.live_client import LiveRun
    from palaestra.leaderboard.schema import Results

#: Where the command line prints. Piped output (logs, CI) gets a wide console so that the
#: tables are not squeezed to 80 columns.
console = Console() if sys.stdout.isatty() else Console(width=140)

_FIXED_FIGURES = ("episodes", "return", "return_std", "success_rate", "length", "invalid_rate")


def interval(aggregate: Mapping[str, Any] | None) -> str:
    """``0.62 [0.50, 0.74]``, or an en dash for a figure not played (the web page's cells)."""
    if not aggregate:
        return "–"
    return f"{aggregate['mean']:.2f} [{aggregate['low']:.2f}, {aggregate['high']:.2f}]"


def envs_table(entries: Iterable[EnvEntry]) -> Table:
    """The registered environments: id, description and step limit."""
    table = Table(title="palaestra environments")
    table.add_column("id", style="bold")
    table.add_column("description")
    table.add_column("step limit", justify="right")
    for entry in entries:
        limit = "" if entry.max_episode_steps is None else str(entry.max_episode_steps)
        table.add_row(entry.id, entry.description, limit)
    return table


def summary_table(title: str, results: Mapping[str, Sequence[Episode]]) -> Table:
    """One row of summary figures per agent (return as mean ± std over episodes).

    Args:
        title: The table's title.
        results: Each agent's episode records; an agent without episodes gets no row.

    Returns:
        Columns agent, episodes, return, success, steps, invalid, then one per episode
        metric any agent reported.
    """
    summaries = {name: summarize_episodes(list(records)) for name, records in results.items()}
    metrics = sorted({k for s in summaries.values() for k in s} - set(_FIXED_FIGURES))
    table = Table(title=title)
    for header in ("agent", "episodes", "return", "success", "steps", "invalid", *metrics):
        table.add_column(header, justify="left" if header == "agent" else "right")
    for name, s in summaries.items():
        if not s["episodes"]:
            continue
        table.add_row(
            name,
            f"{s['episodes']:.0f}",
            f"{s['return']:.2f} ± {s['return_std']:.2f}",
            f"{s['success_rate']:.2f}",
            f"{s['length']:.1f}",
            f"{s['invalid_rate']:.2f}",
            *(f"{s[k]:.2f}" if k in s else "" for k in metrics),
        )
    return table


def evaluation_table(results: Results, suite: str) -> Table:
    """A suite's results per task: return and success, each with its 95 % interval."""
    table = Table(title=f"{results.agent.name} on {suite}")
    for column in ("task", "family", "return (95% CI)", "success (95% CI)"):
        table.add_column(column)
    for task, summary in results.tasks.items():
        reward, success = summary.reward, summary.success
        table.add_row(
            task,
            summary.family,
            f"{reward.mean:.2f} [{reward.low:.2f}, {reward.high:.2f}]",
            f"{success.mean:.2f} [{success.low:.2f}, {success.high:.2f}]",
        )
    return table


def synthesis_table(result: SynthesisResult, env_id: str, feedback: str) -> Table:
    """Policy synthesis, one row per candidate: its reward, the four metrics, failed calls."""
    table = Table(title=f"policy synthesis on {env_id} ({feedback} feedback)")
    for column in (
        "iteration",
        "reward",
        "efficiency",
        "equality",
        "sustainability",
        "peace",
        "failed calls",
        "note",
    ):
        table.add_column(column)
    for candidate in result.candidates:
        e = candidate.evaluation
        if e is None:  # the program did not load: the note says why
            table.add_row(
                str(candidate.iteration), "–", "", "", "", "", "", candidate.feedback[:60]
            )
            continue
        table.add_row(
            str(candidate.iteration),
            f"{e.reward:.3f}",
            *(f"{e.metrics[m]:.3f}" for m in ("efficiency", "equality", "sustainability")),
            f"{e.metrics['peace']:.0f}",
            str(sum(e.failures.values())),
            "",
        )
    return table


def comparison_table(rows: Sequence[Mapping[str, Any]], title: str) -> Table:
    """An algorithm comparison: the columns of its first row, floats to three decimals."""
    table = Table(title=title)
    for header in rows[0] if rows else ():
        table.add_column(header)
    for row in rows:
        table.add_row(*(f"{v:.3f}" if isinstance(v, float) else str(v) for v in row.values()))
    return table


def leaderboard_table(rows: Sequence[Mapping[str, Any]], suite_id: str) -> Table:
    """The leaderboard, tier by tier: success with 95 % intervals, overall and per family.

    Args:
        rows: The server's rows: live entries, then results files (replayed, dev seeds).
        suite_id: The suite, for the title.
    """
    families = sorted({f for row in rows for f in row["summary"]["families"]})
    table = Table(title=f"leaderboard: {suite_id} (success rate, 95% interval)")
    for column in ("tier", "#", "agent", "tasks", "overall", *families):
        table.add_column(column)
    for row in rows:
        summary = row["summary"]
        table.add_row(
            row["tier"],
            str(row["rank"]),
            row.get("agent") or f"{', '.join(row['agents'])} ({row['submitter']})",
            f"{summary['tasks_played']}/{summary['tasks_total']}",
            interval(summary["overall"]),
            *(interval(summary["families"].get(f)) for f in families),
        )
    return table


def markdown_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """``rows`` as a Markdown table (the first row's keys as columns, floats to 3 places)."""
    if not rows:
        return ""
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    for row in rows:
        cells = (f"{v:.3f}" if isinstance(v, float) else str(v) for v in row.values())
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def live_summary(run: LiveRun) -> str:
    """One line on a live session: its status, the episodes played, success and return."""
    figures = summarize_episodes(run.records)
    resumed = " (resumed)" if run.resumed else ""
    return (
        f"live session {run.session} {run.status}{resumed}: {len(run.records)} episodes "
        f"played here, success {figures.get('success_rate', 0.0):.2f}, "
        f"return {figures.get('return', 0.0):.2f}"
    )
