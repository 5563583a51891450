"""Checkpoints of a run: written whole or not at all, the last few kept, resumed exactly."""

from __future__ import annotations

import os
import shutil
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from palaestra.algorithms.config import TrainConfig


class Checkpoints:
    """``<out>/checkpoints/step-NNNNNN``: the model folder and ``trainer.pt``.

    ``trainer.pt`` holds the optimizer, scheduler, both random generators (sampling and
    loss), the algorithm's state and the config, so a resumed run continues to the same
    numbers as an unbroken one.

    Args:
        out: The run folder.
        keep: How many recent checkpoints to keep.
    """

    def __init__(self, out: Path, keep: int) -> None:
        self.folder = out / "checkpoints"
        self.keep = keep

    def name(self, iteration: int) -> str:
        """The folder of the checkpoint after ``iteration`` iterations, for messages."""
        if not iteration:
            return "none (no checkpoint yet)"
        return str(self.folder / f"step-{iteration:06d}")

    def exist(self) -> bool:
        """Whether the run folder already holds checkpoints."""
        return self.folder.exists() and any(self.folder.iterdir())

    def save(
        self,
        iteration: int,
        *,
        policy: Any,
        tokenizer: Any,
        agent: Any,
        state: dict[str, Any],
        config: TrainConfig,
    ) -> None:
        """Write checkpoint ``iteration`` (``state``: the trainer's resumable state)."""
        final = self.folder / f"step-{iteration:06d}"
        staging = final.with_name(final.name + ".tmp")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        policy.save_pretrained(staging / "model")
        tokenizer.save_pretrained(staging / "model")
        agent.save_settings(staging / "model")  # `hf:<checkpoint>/model` plays as trained
        torch.save(
            {"iteration": iteration, **state, "config": asdict(config)}, staging / "trainer.pt"
        )
        shutil.rmtree(final, ignore_errors=True)
        os.replace(staging, final)  # a checkpoint is either complete or absent
        saved = sorted(p for p in self.folder.glob("step-*") if not p.name.endswith(".tmp"))
        for old in saved[: -self.keep]:
            shutil.rmtree(old, ignore_errors=True)

    def latest(self) -> tuple[Path, dict[str, Any]] | None:
        """The newest complete checkpoint's folder and ``trainer.pt`` contents."""
        saved = sorted(
            p
            for p in self.folder.glob("step-*")
            if (p / "trainer.pt").is_file() and not p.name.endswith(".tmp")
        )
        if not saved:
            return None
        state = torch.load(saved[-1] / "trainer.pt", map_location="cpu", weights_only=False)
        return saved[-1], state
