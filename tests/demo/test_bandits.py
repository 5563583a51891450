"""The bandit part of the demo: regret curves through the text interface."""

import numpy as np

from palaestra.demo import bandit_regret


def test_the_oracle_has_no_regret_and_random_some() -> None:
    records, oracle = bandit_regret("palaestra/Bandit-TwoArmed-v0", "oracle", episodes=3)
    _, random = bandit_regret("palaestra/Bandit-TwoArmed-v0", "random", episodes=3)
    assert len(records) == 3 and oracle.shape == (30,)
    assert np.all(oracle == 0.0)
    assert np.all(np.diff(random) >= 0) and random[-1] > 0  # cumulative, and it grows
    assert random[-1] == np.mean([r.metrics["regret"] for r in bandit_regret(
        "palaestra/Bandit-TwoArmed-v0", "random", episodes=3)[0]])  # fmt: skip
