"""RLOO's leave-one-out baseline, by hand."""

from palaestra.algorithms import RLOO
from tests.algorithms.helpers import episode


def test_rloo_leave_one_out() -> None:
    # Returns 1, 2, 6: A_1 = 1 - (2+6)/2 = -3, A_2 = 2 - 3.5 = -1.5, A_3 = 6 - 1.5 = 4.5
    episodes = [episode([1.0]), episode([2.0]), episode([6.0]), episode([5.0], group=9)]
    assert RLOO().turn_advantages(episodes) == [[-3.0], [-1.5], [4.5], [0.0]]
