"""Stage games: payoff tables against hand-computed ones, move parsing, metrics."""

from typing import Any

import pytest

from palaestra.envs.social import GAMES, PublicGoods, gini, make_stage, social_metrics
from palaestra.errors import InvalidArgumentError


@pytest.mark.parametrize(
    ("game", "table"),
    [
        # (mine, theirs) -> (my payoff, their payoff), written out from the textbook tables.
        ("prisoners_dilemma", {("cooperate", "cooperate"): (3, 3), ("cooperate", "defect"): (0, 5),
                               ("defect", "cooperate"): (5, 0), ("defect", "defect"): (1, 1)}),
        ("stag_hunt", {("stag", "stag"): (4, 4), ("stag", "hare"): (0, 3),
                       ("hare", "stag"): (3, 0), ("hare", "hare"): (2, 2)}),
        ("chicken", {("swerve", "swerve"): (3, 3), ("swerve", "straight"): (1, 4),
                     ("straight", "swerve"): (4, 1), ("straight", "straight"): (0, 0)}),
    ],
)  # fmt: skip
def test_payoff_tables(game: str, table: dict[tuple[str, str], tuple[int, int]]) -> None:
    stage = GAMES[game]
    for moves, expected in table.items():
        assert stage.rewards(list(moves)) == list(expected)


def test_public_goods_payoffs_by_hand() -> None:
    stage = PublicGoods(n_players=4, endowment=10, multiplier=1.6)
    # Pot 10 + 5 + 0 + 3 = 18, times 1.6 = 28.8, shared by 4 = 7.2 each.
    assert stage.rewards([10, 5, 0, 3]) == pytest.approx([7.2, 12.2, 17.2, 14.2])
    assert stage.efficient_reward == 16.0


def test_custom_payoffs() -> None:
    stage = make_stage("prisoners_dilemma", payoffs=[2, -1, 4, 0])
    assert stage.rewards(["defect", "cooperate"]) == [4.0, -1.0]
    with pytest.raises(InvalidArgumentError, match="four numbers"):
        make_stage("prisoners_dilemma", payoffs=[1, 2, 3])
    with pytest.raises(InvalidArgumentError, match="unknown game 'poker'"):
        make_stage("poker")


@pytest.mark.parametrize(
    ("text", "move"),
    [("cooperate", "cooperate"), ("  Defect. ", "defect"), ("**COOPERATE**", "cooperate"),
     ("c", None), ("I cooperate", None), ("", None), ("defect defect", None), ("🙂", None)],
)  # fmt: skip
def test_matrix_move_parsing(text: str, move: str | None) -> None:
    assert GAMES["prisoners_dilemma"].parse(text) == move


@pytest.mark.parametrize(
    ("text", "amount"),
    [("7", 7), ("I put in 10.", 10), ("0", 0), ("11", None), ("-1", None), ("3 or 4", None),
     ("2.5", None), ("1e309", None), ("nothing", None), ("4.0", 4)],
)  # fmt: skip
def test_contribution_parsing(text: str, amount: Any) -> None:
    assert PublicGoods().parse(text) == amount


def test_gini_and_social_metrics_by_hand() -> None:
    assert gini([1, 1, 1]) == 0.0
    # |0-4| twice over 2 * 2 * 4: 8 / 16 = 0.5.
    assert gini([0, 4]) == 0.5
    rewards = [{"a": 3.0, "b": 3.0}, {"a": 0.0, "b": 5.0}]
    metrics = social_metrics(rewards, ["a", "b"], tagged_steps={"b": 1})
    assert metrics["efficiency"] == 5.5  # (3 + 8) / 2 steps
    # Returns 3 and 8: |3 - 8| counted both ways, 10 / (2 * 2 * 11).
    assert metrics["equality"] == pytest.approx(1 - 10 / 44)
    assert metrics["sustainability"] == pytest.approx((0 + 0 + 1) / 3)
    assert metrics["peace"] == 3.0
