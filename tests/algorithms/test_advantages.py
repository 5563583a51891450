"""Hand-computed advantages of the baselines."""

import math

import pytest
import torch

from palaestra.algorithms import DAPO, DR_GRPO, GRPO, PPO, RLOO, GiGPO, GiGPOConfig, PPOConfig
from palaestra.algorithms.base import TrainingSet
from palaestra.algorithms.batch import TokenBatch, build_samples
from palaestra.algorithms.gigpo import discounted_returns
from palaestra.algorithms.ppo import gae
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


def test_rloo_leave_one_out() -> None:
    # Returns 1, 2, 6: A_1 = 1 - (2+6)/2 = -3, A_2 = 2 - 3.5 = -1.5, A_3 = 6 - 1.5 = 4.5
    episodes = [episode([1.0]), episode([2.0]), episode([6.0]), episode([5.0], group=9)]
    assert RLOO().turn_advantages(episodes) == [[-3.0], [-1.5], [4.5], [0.0]]


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
    from palaestra.errors import InvalidArgumentError

    with pytest.raises(InvalidArgumentError, match="GiGPO mode must be mean_norm or mean_std_norm"):
        GiGPOConfig(mode="std")  # type: ignore[arg-type]


def test_discounted_returns() -> None:
    assert discounted_returns([1.0, 0.0, 2.0], 0.5) == [1.5, 1.0, 2.0]


def test_gae_by_hand() -> None:
    # rewards 0, 1; values 0.5, 0.2; γ = 1, λ = 0.5.
    # δ_1 = 1 - 0.2 = 0.8; A_1 = 0.8. δ_0 = 0 + 0.2 - 0.5 = -0.3; A_0 = -0.3 + 0.5 * 0.8 = 0.1.
    assert gae([0.0, 1.0], [0.5, 0.2], 1.0, 0.5) == pytest.approx([0.1, 0.8])


def test_ppo_token_advantages_over_turns() -> None:
    # One episode, two turns of two response tokens, rewards 0 then 1, values all 0,
    # γ = λ = 1: every action token's advantage is the return to go, 1 (not whitened).
    ep = episode([0.0, 1.0])
    batch = TokenBatch.collate(build_samples([ep], "per_turn"), pad_id=0)
    ppo = PPO(PPOConfig(gamma=1.0, lam=1.0, whiten_advantages=False))
    advantages = ppo.token_advantages(
        TrainingSet.of([ep]), batch, torch.zeros(batch.loss_mask.shape)
    )
    assert advantages[batch.loss_mask.bool()].tolist() == [1.0, 1.0, 1.0, 1.0]
    discounted = PPO(PPOConfig(gamma=0.5, lam=1.0, whiten_advantages=False))
    advantages = discounted.token_advantages(
        TrainingSet.of([ep]), batch, torch.zeros(batch.loss_mask.shape)
    )
    # Four action tokens, reward on the last: 0.125, 0.25, 0.5, 1.
    assert advantages[batch.loss_mask.bool()].tolist() == [0.125, 0.25, 0.5, 1.0]
