"""GiGPO: episode and step groups, by hand."""

import pytest

from palaestra.algorithms import GiGPO, GiGPOConfig
from palaestra.algorithms.gigpo import discounted_returns
from palaestra.errors import InvalidArgumentError
from tests.algorithms.helpers import episode


def test_gigpo_step_groups() -> None:
    # Group 0: episode A visits s0, s1 and wins (reward 1 at its last turn); episode B visits
    # s0, s2 and loses. γ = 0.95, mean_norm (the default): no std in either term.
    # Episode term (returns 1 and 0, mean 0.5): ±0.5.
    # Step returns: A: s0 → 0.95, s1 → 1; B: s0 → 0, s2 → 0.
    # Step group {A@s0, B@s0}: mean 0.475 → A_step = +0.475 / −0.475; s1, s2 singletons → 0.
    a = episode([0.0, 1.0], observations=["s0", "s1"])
    b = episode([0.0, 0.0], observations=["s0", "s2"])
    other_group = episode([0.0, 0.0], group=1, observations=["s0", "s1"])
    advantages = GiGPO().turn_advantages([a, b, other_group])
    assert advantages[0] == pytest.approx([0.5 + 0.475, 0.5])
    assert advantages[1] == pytest.approx([-0.5 - 0.475, -0.5])
    assert advantages[2] == [0.0, 0.0]  # alone in its group: no shared steps, no baseline
    half = GiGPO(GiGPOConfig(step_weight=0.5)).turn_advantages([a, b])
    assert half[0] == pytest.approx([0.5 + 0.2375, 0.5])


def four_two_turn_episodes() -> list:
    # One group of four 2-turn episodes, all starting at the same observation; the winner
    # gets rewards [0, 1], the others [0, 0]; the second observations are all distinct.
    return [
        episode([0.0, 1.0] if k == 0 else [0.0, 0.0], observations=["start", f"second {k}"])
        for k in range(4)
    ]


@pytest.mark.parametrize(
    ("mode", "winner", "loser_first"),
    [("mean_norm", [1.4625, 0.75], -0.4875), ("mean_std_norm", [3.0, 1.5], -1.0)],
)
def test_gigpo_one_normalization_for_both_terms(
    mode: str, winner: list[float], loser_first: float
) -> None:
    # Returns 1, 0, 0, 0 (mean 0.25, sample std 0.5); step returns at the shared start
    # 0.95, 0, 0, 0 (mean 0.2375, std 0.475). mean_norm: 0.75 + 0.7125 = 1.4625, then 0.75;
    # a loser −0.25 − 0.2375. mean_std_norm: 1.5 + 1.5, then 1.5; a loser −0.5 − 0.5.
    advantages = GiGPO(GiGPOConfig(mode=mode)).turn_advantages(four_two_turn_episodes())  # type: ignore[arg-type]
    assert advantages[0] == pytest.approx(winner, abs=1e-4)
    assert advantages[1][0] == pytest.approx(loser_first, abs=1e-4)
    assert all(row[1] == pytest.approx(advantages[1][1]) for row in advantages[1:])


def test_gigpo_mode_is_validated() -> None:
    with pytest.raises(InvalidArgumentError, match="GiGPO mode must be mean_norm or mean_std_norm"):
        GiGPOConfig(mode="std")  # type: ignore[arg-type]


def test_discounted_returns() -> None:
    assert discounted_returns([1.0, 0.0, 2.0], 0.5) == [1.5, 1.0, 2.0]
