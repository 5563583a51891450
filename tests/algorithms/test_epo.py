"""EPO: the smoothing penalty, its schedule, the nested-mean entropy bonus and its state."""

import math

import pytest
import torch

from palaestra.algorithms import EPO
from palaestra.algorithms.base import TrainingSet
from palaestra.algorithms.epo import nested_mean_weights, schedule, smoothing_penalty
from tests.algorithms.helpers import episode, loss_context, per_turn_batch


def test_epo_smoothing_penalty_gradient_outside_band_only() -> None:
    # Band [κ_l·H̄, κ_r·H̄] = [0.5, 2.0] for H̄ = 1, κ_l = 0.5, κ_r = 2.
    entropy = torch.tensor([0.2, 1.0, 1.9, 3.0], requires_grad=True)
    penalty = smoothing_penalty(entropy, 1.0, 0.5, 2.0)
    assert penalty.tolist() == pytest.approx([0.3, 0.0, 0.0, 1.0])
    penalty.sum().backward()
    assert entropy.grad is not None
    assert entropy.grad.tolist() == [-1.0, 0.0, 0.0, 1.0]


def test_epo_schedule() -> None:
    # β_k = 1 + exp(−3k / ⌊10/2⌋): k = 0 → 2, k = 5 → 1 + e^-3
    assert schedule(0, 10, 3.0) == 2.0
    assert schedule(5, 10, 3.0) == pytest.approx(1 + math.exp(-3))


def test_nested_mean_weights_by_hand() -> None:
    # Episode 0: two turns with 2 and 2 response tokens; episode 1: one turn of 2 tokens.
    # Trajectory → turn → token mean weights: ep0 tokens 1/(2·2·2) = 0.125, ep1 1/(2·1·2).
    batch = per_turn_batch([episode([0.0, 1.0]), episode([1.0])])
    weights = nested_mean_weights(batch)
    assert sorted(weights[batch.loss_mask.bool()].tolist()) == [0.125] * 4 + [0.25] * 2
    assert weights.sum().item() == pytest.approx(1.0)


def test_epo_state_round_trip_and_history() -> None:
    epo = EPO()
    epo.end_iteration({"entropy": 2.0})
    epo.end_iteration({"entropy": 1.0})
    restored = EPO()
    restored.load_state_dict(epo.state_dict())
    assert restored.entropy_history == [2.0, 1.0] and restored.iteration == 2


def test_epo_terms_are_renormalized_over_each_mini_batch() -> None:
    # Two episodes in two mini-batches of one row each: with entropy 1 everywhere each
    # mini-batch's bonus is the whole nested mean, 1, so its loss is −λ (no smoothing at k=0).
    episodes = [episode([1.0]), episode([0.0])]
    batch = per_turn_batch(episodes)
    epo = EPO()
    epo.token_advantages(TrainingSet.of(episodes), batch, None)
    for row in (0, 1):
        rows = torch.tensor([row])
        part = batch.select(rows)
        ones = torch.ones(part.loss_mask.shape)
        ctx = loss_context(part, ones, ones, part.loss_mask)
        ctx.rows = ctx.minibatch = rows
        ctx.entropy = ones
        assert epo.extra_loss(ctx, lambda v, m: v.sum()).item() == pytest.approx(-0.001)
