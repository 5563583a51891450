"""Bandit rules: payouts, regret by hand, parsing, invalid rounds, contexts, arguments."""

from typing import Any

import gymnasium as gym
import numpy as np
import pytest

from palaestra.envs.bandit import BanditEnv, ContextualBanditEnv, arm_labels
from palaestra.envs.core import INVALID_ACTION_PENALTY
from palaestra.errors import InvalidArgumentError


def play(env: BanditEnv, actions: list[str]) -> list[tuple[str, float, bool, bool, dict[str, Any]]]:
    return [env.step(a) for a in actions]


def test_regret_and_optimal_rate_by_hand() -> None:
    # Means 0.2 / 0.5 / 0.9 (best C). Pulls A, B, C, C: regret 0.7 + 0.4 + 0 + 0 = 1.1,
    # optimal rate 2/4; success: C pulled in both rounds of the second half.
    env = BanditEnv(n_arms=3, horizon=4, means=[0.2, 0.5, 0.9])
    env.reset(seed=3)
    *_, (_, _, terminated, _, info) = play(env, ["A", "B", "C", "C"])
    assert terminated
    assert info["episode_metrics"]["regret"] == pytest.approx(1.1)
    assert info["episode_metrics"]["optimal_arm_rate"] == pytest.approx(0.5)
    assert info["success"] is True


def test_bernoulli_payouts_follow_means() -> None:
    env = BanditEnv(n_arms=2, horizon=4000, means=[0.0, 0.3])
    env.reset(seed=0)
    rewards = [env.step("B")[1] for _ in range(4000)]
    assert set(rewards) <= {0.0, 1.0}
    assert np.mean(rewards) == pytest.approx(0.3, abs=0.03)
    env.reset(seed=0)
    assert all(env.step("A")[1] == 0.0 for _ in range(100))


def test_gaussian_payouts() -> None:
    env = BanditEnv(
        n_arms=2, horizon=5000, distribution="gaussian", means=[1.0, -1.0], noise_std=0.5
    )
    env.reset(seed=0)
    rewards = np.array([env.step("A")[1] for _ in range(5000)])
    assert rewards.mean() == pytest.approx(1.0, abs=0.03)
    assert rewards.std() == pytest.approx(0.5, abs=0.03)


def test_seed_fixes_means_and_payouts() -> None:
    a, b = BanditEnv(), BanditEnv()
    a.reset(seed=11)
    b.reset(seed=11)
    np.testing.assert_array_equal(a.means, b.means)
    assert [a.step("A")[1] for _ in range(20)] == [b.step("A")[1] for _ in range(20)]
    b.reset(seed=12)
    assert not np.array_equal(a.means, b.means)


def test_gap_variant_has_exact_gap() -> None:
    env = gym.make("palaestra/Bandit-Hard-v0").unwrapped
    for seed in range(5):
        env.reset(seed=seed)
        means = np.sort(env.means[0])
        assert means[-1] - means[-2] == pytest.approx(0.1)
        assert means[0] == pytest.approx(means[-2])
        assert means[0] >= 0.0 and means[-1] <= 1.0


@pytest.mark.parametrize("text", ["B", "b", "arm B", "Arm b", "'B'", "[B].", "  B  ", "`b`", "B!"])
def test_accepted_spellings(text: str) -> None:
    env = BanditEnv(n_arms=3, means=[0.1, 0.2, 0.3])
    env.reset(seed=0)
    info = env.step(text)[4]
    assert info["invalid_action"] is False and info["arm"] == "B"


@pytest.mark.parametrize("text", ["D", "AB", "arm", "2", "B or C", "pull B please"])
def test_rejected_spellings(text: str) -> None:
    env = BanditEnv(n_arms=3, means=[0.1, 0.2, 0.3])
    env.reset(seed=0)
    _, reward, _, _, info = env.step(text)
    assert info["invalid_action"] is True
    assert "answer with one of A, B, C" in info["invalid_reason"]
    assert reward == INVALID_ACTION_PENALTY


def test_invalid_round_is_lost_and_counts_as_worst_arm() -> None:
    env = BanditEnv(n_arms=3, horizon=2, means=[0.2, 0.5, 0.9])
    env.reset(seed=0)
    obs, _, terminated, _, _ = env.step("nonsense")
    assert "Round 2 of 2" in obs and not terminated
    *_, info = env.step("C")
    assert info["episode_metrics"]["regret"] == pytest.approx(0.7)
    assert info["episode_metrics"]["invalid_actions"] == 1.0


def test_observation_shows_history() -> None:
    env = BanditEnv(n_arms=2, horizon=10, means=[1.0, 0.0])
    env.reset(seed=0)
    play(env, ["A", "A", "B"])
    obs = env.step("A")[0]
    assert "You pulled A and got 1." in obs
    assert "A: 3 pulls, average 1.00 | B: 1 pull, average 0.00" in obs
    assert "Latest pulls (oldest first): A:1, A:1, B:0, A:1" in obs
    assert obs.endswith("Choose an arm: A, B.")


def test_many_arms_use_numbers() -> None:
    assert arm_labels(3) == ["A", "B", "C"]
    assert arm_labels(30)[:3] == ["1", "2", "3"]
    env = BanditEnv(n_arms=30)
    env.reset(seed=0)
    assert env.step("arm 17")[4]["arm"] == "17"


def test_contextual_best_arm_depends_on_context() -> None:
    env = ContextualBanditEnv(n_arms=3, n_contexts=2, horizon=200)
    _, info = env.reset(seed=1)
    assert info["context"].startswith("The visitor is")
    assert env.means.shape == (2, 3)
    contexts = set()
    total_regret_by_oracle = 0.0
    for _ in range(200):
        contexts.add(info.get("context"))
        _, _, terminated, _, info = env.step(env.oracle_action())
        if terminated:
            total_regret_by_oracle = info["episode_metrics"]["regret"]
    assert len(contexts - {None}) == 2
    assert total_regret_by_oracle == 0.0


def test_contextual_observation_is_per_context() -> None:
    env = ContextualBanditEnv(n_arms=2, n_contexts=2, horizon=50, means=[0.5, 0.5])
    obs, info = env.reset(seed=0)
    assert f"Context: {info['context']}" in obs
    assert "History in this context: A: 0 pulls" in obs


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_arms": 1}, "n_arms must be at least 2"),
        ({"horizon": 0}, "horizon must be at least 1"),
        ({"distribution": "bernouli"}, "did you mean 'bernoulli'"),
        ({"means": [0.1]}, "means has 1 values; n_arms is 5"),
        ({"n_arms": 2, "means": [0.1, 1.5]}, r"must lie in \[0, 1\]"),
        ({"gap": 0.7}, "gap must be in"),
        ({"gap": 0.1, "means": [0.1] * 5}, "either means or gap"),
        ({"noise_std": 0}, "noise_std must be positive"),
    ],
)
def test_bad_arguments(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        BanditEnv(**kwargs)


def test_bad_arguments_through_gym_make_name_the_id() -> None:
    with pytest.raises(InvalidArgumentError, match="palaestra/Bandit-v0"):
        gym.make("palaestra/Bandit-v0", n_arms=1)
    with pytest.raises(InvalidArgumentError, match="n_contexts must be between 2 and 12"):
        gym.make("palaestra/ContextualBandit-v0", n_contexts=40)
