"""Hand-computed token losses, their aggregation, and Clip-Cov / KL-Cov's token choices."""

import math

import pytest
import torch

from palaestra.algorithms.losses import (
    Normalizer,
    clip_cov_tokens,
    clipped_surrogate,
    kl_cov_loss,
    kl_cov_tokens,
    kl_k3,
    token_covariance,
    token_logprobs_and_entropy,
)


def test_clipped_surrogate_by_hand() -> None:
    # ratios 1.5, 0.5, 1.0 with A = +1, −1, +2 and ε = 0.2:
    # token 0: min(1.5, 1.2) * 1 = 1.2 → loss −1.2, clipped
    # token 1: A < 0: min(−0.5, −0.8) = −0.8 → loss 0.8, clipped
    # token 2: ratio 1 → loss −2, not clipped
    logp = torch.log(torch.tensor([1.5, 0.5, 1.0]))
    loss, clipped = clipped_surrogate(
        logp, torch.zeros(3), torch.tensor([1.0, -1.0, 2.0]), clip_low=0.2, clip_high=0.2
    )
    assert loss.tolist() == pytest.approx([-1.2, 0.8, -2.0])
    assert clipped.tolist() == [1.0, 1.0, 0.0]


def test_clip_higher_and_dual_clip() -> None:
    logp = torch.log(torch.tensor([1.25, 5.0]))
    loss, _ = clipped_surrogate(
        logp, torch.zeros(2), torch.tensor([1.0, -1.0]), clip_low=0.2, clip_high=0.28, dual_clip=3.0
    )
    # token 0: 1.25 < 1.28: unclipped → −1.25; token 1: −min(−5, −1.2) = 5, capped at 3.
    assert loss.tolist() == pytest.approx([-1.25, 3.0])


def test_kl_k3() -> None:
    # r = ref − logp = log 2: exp(r) − r − 1 = 2 − 0.693147 − 1 = 0.306853
    value = kl_k3(torch.tensor([0.0]), torch.log(torch.tensor([2.0])))
    assert value.item() == pytest.approx(0.306853, abs=1e-6)
    assert kl_k3(torch.tensor([0.3]), torch.tensor([0.3])).item() == 0.0


def test_logprobs_entropy_and_temperature() -> None:
    logits = torch.tensor([[[0.0, 0.0], [0.0, 2.0 * 0.6931472]]])
    logp, entropy = token_logprobs_and_entropy(logits, torch.tensor([[0, 1]]))
    assert logp[0].tolist() == pytest.approx([-0.693147, -0.223144], abs=1e-5)
    assert entropy[0, 0].item() == pytest.approx(0.693147, abs=1e-5)
    hot, _ = token_logprobs_and_entropy(logits, torch.tensor([[0, 1]]), temperature=2.0)
    assert hot[0, 1].item() == pytest.approx(-0.405465, abs=1e-5)  # log(2/3)


def test_aggregation_modes_by_hand() -> None:
    # Two sequences: losses [1, 3] (2 tokens) and [5, _] (1 token).
    loss = torch.tensor([[1.0, 3.0], [5.0, 100.0]])
    mask = torch.tensor([[1.0, 1.0], [1.0, 0.0]])
    token = Normalizer.for_batch("token_mean", mask).aggregate(loss, mask)
    seq = Normalizer.for_batch("seq_mean_token_mean", mask).aggregate(loss, mask)
    norm = Normalizer.for_batch("seq_mean_token_sum_norm", mask, norm_length=4).aggregate(
        loss, mask
    )
    assert token.item() == pytest.approx(9 / 3)  # (1 + 3 + 5) / 3
    assert seq.item() == pytest.approx((2 + 5) / 2)  # mean(2, 5)
    assert norm.item() == pytest.approx((4 / 4 + 5 / 4) / 2)
    # Dr. GRPO divides by a constant, never by a length measured on the batch.
    with pytest.raises(ValueError, match="needs a constant norm_length"):
        Normalizer.for_batch("seq_mean_token_sum_norm", mask)


def test_rows_without_trained_tokens_count_in_no_denominator() -> None:
    loss = torch.tensor([[1.0, 3.0], [5.0, 100.0], [7.0, 7.0]])
    mask = torch.tensor([[1.0, 1.0], [1.0, 0.0], [0.0, 0.0]])  # row 2: excluded
    for mode in ("token_mean", "seq_mean_token_mean", "seq_mean_token_sum_norm"):
        with_row = Normalizer.for_batch(mode, mask, 4).aggregate(loss, mask)  # type: ignore[arg-type]
        without = Normalizer.for_batch(mode, mask[:2], 4).aggregate(loss[:2], mask[:2])  # type: ignore[arg-type]
        assert with_row.item() == pytest.approx(without.item())


@pytest.mark.parametrize("mode", ["token_mean", "seq_mean_token_mean", "seq_mean_token_sum_norm"])
def test_micro_batches_add_up_to_the_batch(mode: str) -> None:
    generator = torch.Generator().manual_seed(0)
    loss = torch.rand(6, 5, generator=generator)
    mask = (torch.rand(6, 5, generator=generator) > 0.3).float()
    mask[:, 0] = 1
    normalizer = Normalizer.for_batch(mode, mask, 5)  # type: ignore[arg-type]
    whole = normalizer.aggregate(loss, mask)
    parts = sum(normalizer.aggregate(loss[k : k + 2], mask[k : k + 2]) for k in range(0, 6, 2))
    assert parts.item() == pytest.approx(whole.item())


def test_token_covariance_by_hand() -> None:
    # A = 1, -1, 3 (mean 1); logp = -1, -2, -3 (mean -2):
    # Cov = (0)(1), (-2)(0), (2)(-1) = 0, 0, -2; the masked-out 4th token is 0.
    cov = token_covariance(
        torch.tensor([1.0, -1.0, 3.0, 9.0]),
        torch.tensor([-1.0, -2.0, -3.0, 5.0]),
        torch.tensor([1.0, 1.0, 1.0, 0.0]),
    )
    assert cov.tolist() == [0.0, 0.0, -2.0, 0.0]


def test_clip_cov_chooses_ceil_r_n_tokens_inside_the_bounds() -> None:
    cov = torch.tensor([[0.5, 2.0, 3.0, 4.0, 7.0]])
    # ⌈0.3 · 5⌉ = 2 of the 3 candidates (Cov 2, 3, 4 inside (1, 5)).
    chosen = clip_cov_tokens(
        cov, torch.ones(1, 5), ratio=0.3, lower=1.0, upper=5.0, generator=torch.Generator()
    )
    assert chosen.sum() == 2 and chosen[0, 0] == 0 and chosen[0, 4] == 0


def test_kl_cov_chooses_the_top_fraction() -> None:
    cov = torch.tensor([[0.1, 5.0, 2.0, 9.0]])
    # ⌈0.5 · 4⌉ = 2 tokens with the largest Cov: positions 3 and 1.
    assert kl_cov_tokens(cov, torch.ones(1, 4), ratio=0.5).tolist() == [[0.0, 1.0, 0.0, 1.0]]


def test_kl_cov_penalty_at_ratio_one_and_a_half() -> None:
    # ρ = 1.5 (logp = log 1.5, old = 0), β = 1, token chosen: β|log ρ| = 0.4055, and its
    # derivative in logp is +1. With A = 0 the loss is the penalty alone.
    logp = torch.tensor([math.log(1.5)], requires_grad=True)
    penalty = kl_cov_loss(logp, torch.zeros(1), torch.zeros(1), torch.ones(1), coef=1.0)
    assert penalty.item() == pytest.approx(0.4055, abs=1e-4)
    penalty.sum().backward()
    assert logp.grad is not None and logp.grad.item() == pytest.approx(1.0)
    # With A = 2 the penalty is added to the unclipped −A·ρ = −3 (no clip at 1 + 0.2).
    logp.grad = None
    loss = kl_cov_loss(logp, torch.zeros(1), torch.full((1,), 2.0), torch.ones(1), coef=1.0)
    assert loss.item() == pytest.approx(-3.0 + 0.4055, abs=1e-4)
    loss.sum().backward()
    assert logp.grad.item() == pytest.approx(-3.0 + 1.0)
