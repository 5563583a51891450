"""The submission page's plots, drawn as SVG with matplotlib (no display, thread-safe)."""

from __future__ import annotations

import io
import math
from typing import Any

from palaestra.leaderboard.schema import LearningCurve


def _svg(figure: Any) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight")
    return buffer.getvalue()


def task_chart(tasks: dict[str, dict[str, Any]]) -> bytes:
    """Success rate and return per task, with their 95 % intervals, side by side."""
    from matplotlib.figure import Figure

    names = list(tasks)
    figure = Figure(figsize=(10, 0.45 * len(names) + 1.4))
    panels = figure.subplots(1, 2, sharey=True)
    columns = (("success", "success rate"), ("reward", "return"))
    for axis, (key, label) in zip(panels, columns, strict=True):
        means = [tasks[n][key]["mean"] for n in names]
        errors = [
            [m - tasks[n][key]["low"] for n, m in zip(names, means, strict=True)],
            [tasks[n][key]["high"] - m for n, m in zip(names, means, strict=True)],
        ]
        axis.barh(names, means, xerr=errors, color="#54aeff", ecolor="#24292f", capsize=3)
        axis.set_xlabel(f"{label} (95 % interval)")
        axis.grid(axis="x", alpha=0.3)
    panels[0].invert_yaxis()
    return _svg(figure)


#: Points drawn of a learning curve at most (a curve holds up to 10,000).
CURVE_POINTS = 500


def curve_chart(curve: LearningCurve) -> bytes:
    """The learning curve a submission carries, downsampled to :data:`CURVE_POINTS`.

    The metric's name is drawn as plain text: matplotlib would otherwise parse ``$...$``
    in it as mathtext, and a submitter's label is not markup.
    """
    from matplotlib.figure import Figure

    stride = max(1, math.ceil(len(curve.points) / CURVE_POINTS))
    points = curve.points[::stride]
    if points[-1] is not curve.points[-1]:
        points = [*points, curve.points[-1]]
    figure = Figure(figsize=(7, 3.5))
    axis = figure.subplots()
    axis.plot([p.step for p in points], [p.value for p in points], color="#0969da")
    axis.set_xlabel("training step")
    axis.set_ylabel(curve.metric, parse_math=False)
    axis.grid(alpha=0.3)
    return _svg(figure)
