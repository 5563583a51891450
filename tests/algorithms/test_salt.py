"""SALT: step advantages shared along the group's trajectory graph, by hand."""

import pytest

from palaestra.algorithms import SALT, SALTConfig
from palaestra.errors import InvalidArgumentError
from tests.algorithms.helpers import PAIR_ADVANTAGE, episode


def test_salt_shared_step_gets_the_mean_of_winner_and_loser() -> None:
    # Winner W and loser L share the first edge (s0, go, s1); then their paths differ.
    # GRPO A_traj (returns 1, 0): ±0.5 / (0.707107 + 1e-6) = ±0.707106.
    # Shared edge: mean(+a, −a) = 0; unique edges keep ±a.
    win = episode([0.0, 1.0], observations=["s0", "s1"])
    lose = episode([0.0, 0.0], observations=["s0", "s1"])
    win.turns[1].action, lose.turns[1].action = "take key", "eat key"
    a = PAIR_ADVANTAGE
    advantages = SALT().turn_advantages([win, lose])
    assert advantages[0] == pytest.approx([0.0, a])
    assert advantages[1] == pytest.approx([0.0, -a])


def test_salt_occurrence_versus_trajectory_averaging() -> None:
    # W loops the shared edge (s0, go, s0) twice, L once. A_traj = +a / −a.
    # occurrence: (a + a − a) / 3 = a/3 on every shared step; trajectory: (a − a) / 2 = 0.
    win = episode([0.0, 0.0, 1.0], observations=["s0", "s0", "s0"])
    lose = episode([0.0, 0.0], observations=["s0", "s0"])
    for turn in (*win.turns[:2], lose.turns[0]):
        turn.action = "go"
    win.turns[2].action, lose.turns[1].action = "win", "lose"
    a = PAIR_ADVANTAGE
    occurrence = SALT().turn_advantages([win, lose])
    trajectory = SALT(SALTConfig(averaging="trajectory")).turn_advantages([win, lose])
    assert occurrence[0][:2] == pytest.approx([a / 3, a / 3]) and occurrence[1][0] == pytest.approx(
        a / 3
    )
    assert trajectory[0][:2] == pytest.approx([0.0, 0.0])


def test_salt_history_nodes_and_rloo_base() -> None:
    # With history nodes the second step differs (different pasts), so nothing is shared
    # after the first step; RLOO base: returns 1, 0 → A = 1, −1.
    w = episode([0.0, 1.0], observations=["s0", "s1"])
    l_ = episode([0.0, 0.0], observations=["s0", "s1"])
    w.turns[0].action, l_.turns[0].action = "left", "right"
    history = SALT(SALTConfig(node="history", base="rloo")).turn_advantages([w, l_])
    assert history == [[1.0, 1.0], [-1.0, -1.0]]
    with pytest.raises(InvalidArgumentError, match="SALT base must be one of"):
        SALTConfig(base="ppo")  # type: ignore[arg-type]
