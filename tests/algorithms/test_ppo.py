"""PPO: GAE and token advantages over turns, by hand."""

import pytest
import torch

from palaestra.algorithms import PPO, PPOConfig
from palaestra.algorithms.base import TrainingSet
from palaestra.algorithms.ppo import gae
from tests.algorithms.helpers import episode, per_turn_batch


def test_gae_by_hand() -> None:
    # rewards 0, 1; values 0.5, 0.2; γ = 1, λ = 0.5.
    # δ_1 = 1 - 0.2 = 0.8; A_1 = 0.8. δ_0 = 0 + 0.2 - 0.5 = -0.3; A_0 = -0.3 + 0.5 * 0.8 = 0.1.
    assert gae([0.0, 1.0], [0.5, 0.2], 1.0, 0.5) == pytest.approx([0.1, 0.8])


def test_ppo_token_advantages_over_turns() -> None:
    # One episode, two turns of two response tokens, rewards 0 then 1, values all 0,
    # γ = λ = 1: every action token's advantage is the return to go, 1 (not whitened).
    ep = episode([0.0, 1.0])
    batch = per_turn_batch([ep])
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
