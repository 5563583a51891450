"""Episodes to training sequences: the two layouts, and rows into mini-batches."""

from pathlib import Path

import pytest
import torch

from palaestra.algorithms import GRPO
from palaestra.algorithms.batch import mini_batch_rows
from palaestra.algorithms.trainer import Trainer
from tests.algorithms.helpers import Alternating, config


def test_layouts_agree_on_one_turn_episodes(tmp_path: Path) -> None:
    losses = []
    for layout in ("concat", "per_turn"):
        trainer = Trainer(config(tmp_path / layout, steps=1, layout=layout), Alternating())
        losses.append(trainer.iteration(0)["loss"])
    assert losses[0] == pytest.approx(losses[1], abs=1e-6)


def test_multi_turn_per_turn_with_history_window(tmp_path: Path) -> None:
    run = config(
        tmp_path,
        env="palaestra/Bandit-TwoArmed-v0",
        env_kwargs='{"horizon": 3}',
        layout="per_turn",
        history=1,
    )
    metrics = Trainer(run, Alternating()).iteration(0)
    assert metrics["sequences"] == 2 * 4 * 3  # one sample per turn
    assert metrics["episode_turns"] == 3


def test_grpo_default_has_four_mini_batches_of_whole_groups() -> None:
    # 8 main rows and 3 extra rows in 4 mini-batches: each takes a quarter of both.
    extra = torch.tensor([False] * 8 + [True] * 3)
    parts = mini_batch_rows(extra, 4)
    assert [p.tolist() for p in parts] == [[0, 1, 8], [2, 3, 9], [4, 5, 10], [6, 7]]
    assert GRPO().config.clip_high == 0.2
