"""Plots of curves (regret, learning, entropy), written as PNG files with matplotlib."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from palaestra.optional import require


def plot_curves(
    panels: Mapping[str, Mapping[str, np.ndarray]],
    path: Path,
    *,
    xlabel: str,
    ylabel: str,
    title: str = "",
) -> Path:
    """Draw one panel per key of ``panels``, one line per curve in it, and save a PNG.

    Args:
        panels: ``{panel title: {line label: y values}}``; x is 1, 2, ...
        path: Output file.
        xlabel: Label of every x axis.
        ylabel: Label of every y axis.
        title: Figure title.

    Returns:
        ``path``.
    """
    matplotlib = require("matplotlib", "plot", "plots")
    matplotlib.use("Agg")  # files only; never needs a display
    import matplotlib.pyplot as plt

    n = len(panels)
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 3.6 * rows), squeeze=False)
    for ax, (name, curves) in zip(axes.flat, panels.items(), strict=False):
        for label, values in curves.items():
            ax.plot(np.arange(1, len(values) + 1), values, label=label)
        ax.set_title(name, fontsize=10)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
