"""GRPO's group-normalized advantages and the Dr. GRPO and DAPO presets."""

import math

import pytest

from palaestra.algorithms import DAPO, DR_GRPO, GRPO
from tests.algorithms.helpers import episode


def test_grpo_group_normalized_with_sample_std() -> None:
    # Group 0 returns 1, 0, 0, 1: mean 0.5, sample std sqrt(1/3) = 0.57735.
    # A = ±0.5 / (0.57735 + 1e-6) = ±0.866024. Group 1 (one episode): 0.
    episodes = [
        episode([1.0]),
        episode([0.0]),
        episode([0.0]),
        episode([0.5, 0.5]),
        episode([3.0], group=1),
    ]
    advantages = GRPO().turn_advantages(episodes)
    a = 0.5 / (math.sqrt(1 / 3) + 1e-6)
    assert advantages[0] == pytest.approx([a])
    assert advantages[1] == pytest.approx([-a])
    assert advantages[3] == pytest.approx([a, a])  # the same for every turn
    assert advantages[4] == [0.0]


def test_dr_grpo_drops_the_std() -> None:
    episodes = [episode([2.0]), episode([0.0]), episode([1.0])]
    # mean 1: A = 1, -1, 0
    assert GRPO(DR_GRPO).turn_advantages(episodes) == [[1.0], [-1.0], [0.0]]


def test_dapo_dynamic_sampling_drops_flat_groups() -> None:
    episodes = [episode([1.0]), episode([1.0]), episode([0.0], group=1), episode([1.0], group=1)]
    algorithm = GRPO(DAPO)
    kept = algorithm.select_episodes(episodes, sampler=None)  # type: ignore[arg-type]
    assert kept.episodes == episodes[2:] and kept.main == 2
    assert algorithm.end_iteration({}) == {"kept_fraction": 0.5}
    assert DAPO.clip_high == 0.28 and DAPO.loss_aggregation == "token_mean"
