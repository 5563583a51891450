"""A run's logs: ``metrics.jsonl`` (one row per iteration), TensorBoard and ``curves.png``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """The rows of a run's ``metrics.jsonl``."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


class RunLog:
    """Appends each iteration's metrics to ``metrics.jsonl`` (and TensorBoard) in ``out``.

    Args:
        out: The run folder.
        tensorboard: Also write TensorBoard logs (when tensorboard is installed).
        enabled: Whether this process writes (only the main one does).
    """

    def __init__(self, out: Path, *, tensorboard: bool, enabled: bool) -> None:
        self.path = out / "metrics.jsonl"
        self.out = out
        self.tensorboard = tensorboard
        self.enabled = enabled
        self._writer: Any = None

    def log(self, iteration: int, metrics: dict[str, float]) -> None:
        """Write the metrics of iteration ``iteration`` (0-based; rows count from 1)."""
        if not self.enabled:
            return
        row = {"iteration": iteration + 1, **{k: round(float(v), 6) for k, v in metrics.items()}}
        with open(self.path, "a") as handle:
            handle.write(json.dumps(row) + "\n")
        if self.tensorboard:
            if self._writer is None:
                self._writer = _tensorboard(self.out / "tensorboard")
            if self._writer is not None:
                for key, value in metrics.items():
                    self._writer.add_scalar(key, value, iteration + 1)

    def truncate(self, iteration: int) -> None:
        """Drop rows after ``iteration``: on resume they belong to the killed run."""
        if self.path.exists():
            kept = [r for r in read_metrics(self.path) if r["iteration"] <= iteration]
            self.path.write_text("".join(json.dumps(r) + "\n" for r in kept))

    def close(self) -> None:
        """Flush and close TensorBoard."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def plot(self, title: str) -> None:
        """Draw ``curves.png``.

        Panels: return and success, token entropy, and the update's clip fraction and
        approximate KL, per iteration.
        """
        rows = read_metrics(self.path)
        if not self.enabled or not rows:
            return
        import numpy as np

        from palaestra.plots import plot_curves

        def series(key: str) -> np.ndarray:
            return np.asarray([r.get(key, float("nan")) for r in rows], dtype=float)

        plot_curves(
            {
                "reward and success": {
                    "return": series("return"),
                    "success rate": series("success_rate"),
                },
                "token entropy": {"entropy": series("entropy")},
                "off-policy update": {
                    "clip fraction": series("clip_fraction"),
                    "approx. KL": series("approx_kl"),
                },
            },
            self.out / "curves.png",
            xlabel="iteration",
            ylabel="",
            title=title,
        )


def _tensorboard(folder: Path) -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # tensorboard is optional
        return None
    return SummaryWriter(str(folder))
