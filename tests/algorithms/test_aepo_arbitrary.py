"""Arbitrary-entropy AEPO: the temperature controller, the regularization set and its loss."""

import math

import pytest
import torch

from palaestra.algorithms import ArbitraryAEPO, ArbitraryAEPOConfig
from palaestra.errors import InvalidArgumentError
from tests.algorithms.helpers import PAIR_ADVANTAGE, episode, loss_context, per_turn_batch


class FakeSampler:
    """Answers regularization rollouts with fixed episodes and records what was asked."""

    groups, group_size = 1, 2

    def __init__(self, rewards: tuple[float, ...]) -> None:
        self.rewards = rewards
        self.asked: list[tuple[int | None, float | None, int]] = []

    def rollout(
        self, groups: int | None = None, *, temperature: float | None = None, stream: int = 0
    ) -> list:
        self.asked.append((groups, temperature, stream))
        return [episode([r], group=100_000) for r in self.rewards]


def test_arbitrary_aepo_steers_the_temperature() -> None:
    aepo = ArbitraryAEPO()
    assert aepo.choose_temperature(None) == 1.2  # no measurement yet: explore
    assert aepo.choose_temperature(0.3) == 1.2  # below the 0.5 target: sample hotter
    assert aepo.choose_temperature(0.7) == 0.8  # above: colder
    main = [episode([1.0]), episode([0.0])]
    for ep in main:
        ep.turns[0].entropies = [0.2, 0.4]
    sampler = FakeSampler((1.0, 0.0))
    training = aepo.select_episodes(main, sampler)  # type: ignore[arg-type]
    # Measured entropy 0.3 < 0.5: one group (⌈0.25 · 1⌉) at T = 1.2, its own stream.
    assert sampler.asked == [(1, 1.2, 1)] and aepo.last_entropy == pytest.approx(0.3)
    assert len(training.episodes) == 4 and training.main == 2 and training.extra_weight == 1.0
    batch = per_turn_batch(training.episodes)
    advantages = aepo.token_advantages(training, batch, None)
    a = PAIR_ADVANTAGE
    # Main samples keep both signs; the regularization set keeps only the positive one.
    assert advantages[:, -1].tolist() == pytest.approx([a, -a, a, 0.0])


def test_arbitrary_aepo_released_weighting_sets_a_to_one() -> None:
    aepo = ArbitraryAEPO(ArbitraryAEPOConfig(regularization_advantage="one"))
    training = aepo.select_episodes([episode([1.0]), episode([0.0])], FakeSampler((1.0, 0.0)))  # type: ignore[arg-type]
    batch = per_turn_batch(training.episodes)
    a = PAIR_ADVANTAGE
    assert aepo.token_advantages(training, batch, None)[:, -1].tolist() == pytest.approx(
        [a, -a, 1.0, 0.0]
    )
    with pytest.raises(InvalidArgumentError, match="regularization_advantage must be"):
        ArbitraryAEPOConfig(regularization_advantage="two")  # type: ignore[arg-type]


def test_arbitrary_aepo_replacement_scheme() -> None:
    aepo = ArbitraryAEPO(ArbitraryAEPOConfig(replace_rows=4))
    main = [episode([r]) for r in (1.0, 0.0, 1.0, 0.0)]
    for ep in main:
        ep.turns[0].entropies = [0.1]
    # Three winners above a regularization group mean of 0.5.
    sampler = FakeSampler((1.0, 1.0, 0.0, 0.0, 0.0, 1.0))
    training = aepo.select_episodes(main, sampler)  # type: ignore[arg-type]
    # Below target: up to 4 rows may go; three regularization samples have A > 0, so the
    # last three main rows are replaced and the first keeps its full-group advantage.
    assert training.episodes[:1] == main[:1] and len(training.episodes) == 4
    assert training.main == 1
    a = 0.5 / (math.sqrt(1 / 3) + 1e-6)  # main group {1, 0, 1, 0}: std √(1/3)
    b = 0.5 / (math.sqrt(0.3) + 1e-6)  # regularization group of six: std √0.3
    batch = per_turn_batch(training.episodes)
    assert aepo.token_advantages(training, batch, None)[:, -1].tolist() == pytest.approx(
        [a, b, b, b]
    )
    # Above target only half as many rows (2) are replaced.
    for ep in main:
        ep.turns[0].entropies = [0.9]
    assert aepo.select_episodes(main, sampler).main == 2  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="replace_rows"):
        ArbitraryAEPOConfig(replace_rows=-1)


def test_arbitrary_aepo_reinforce_term_on_regularization_rows() -> None:
    batch = per_turn_batch([episode([1.0]), episode([1.0])])
    logprobs = torch.full(batch.loss_mask.shape, -0.5, requires_grad=True)
    extra = torch.tensor([[False], [True]])
    ctx = loss_context(batch, logprobs, logprobs.detach(), batch.loss_mask * 2.0, extra=extra)
    loss = ArbitraryAEPO().token_loss(ctx).loss
    (loss * batch.loss_mask).sum().backward()
    assert logprobs.grad is not None
    # Row 1 (regularization): −A·logπ = −2 · (−0.5) = 1 per token, gradient −2 (α is the
    # extra term's weight, applied by the trainer).
    assert loss[1][batch.loss_mask[1].bool()].tolist() == [1.0, 1.0]
    assert logprobs.grad[1][batch.loss_mask[1].bool()].tolist() == [-2.0, -2.0]
    # Row 0 (main): the clipped surrogate at ratio 1, −A = −2, gradient −2 as well.
    assert loss[0][batch.loss_mask[0].bool()].tolist() == [-2.0, -2.0]
