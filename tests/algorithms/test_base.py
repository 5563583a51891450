"""The algorithm interface's defaults: loss settings, covariance control and its token loss."""

import pytest
import torch

from palaestra.algorithms import GRPO, GRPOConfig
from palaestra.algorithms.losses import token_covariance
from palaestra.errors import InvalidArgumentError
from tests.algorithms.helpers import episode, loss_context, per_turn_batch


def test_algorithm_config_is_validated() -> None:
    with pytest.raises(InvalidArgumentError, match="loss_aggregation must be one of"):
        GRPOConfig(loss_aggregation="sum")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="dual_clip must be > 1"):
        GRPOConfig(dual_clip=0.5)


def test_covariance_control_is_validated() -> None:
    with pytest.raises(InvalidArgumentError, match="covariance_control must be"):
        GRPOConfig(covariance_control="clip")  # type: ignore[arg-type]


def test_clip_cov_token_loss_keeps_the_value_and_drops_the_gradient() -> None:
    batch = per_turn_batch([episode([1.0])])
    logprobs = torch.zeros(batch.loss_mask.shape, requires_grad=True)
    chosen = torch.zeros_like(batch.loss_mask)
    chosen[0, -1] = 1.0
    ctx = loss_context(batch, logprobs, logprobs.detach(), batch.loss_mask, covariance=chosen)
    loss = GRPO(GRPOConfig(covariance_control="clip_cov")).token_loss(ctx).loss
    (loss * batch.loss_mask).sum().backward()
    assert logprobs.grad is not None
    assert logprobs.grad[0, -2:].tolist() == [-1.0, 0.0]  # the chosen last token: no gradient
    assert loss[0, -2:].tolist() == [-1.0, -1.0]


def test_covariance_is_over_the_whole_batch() -> None:
    # A = [[2, 2], [−1, −1]], logp = [[−0.1, −0.2], [−3, −3.2]]: mean A 0.5, mean logp
    # −1.625; Cov = (A − 0.5)(logp + 1.625) = [[2.29, 2.14], [2.06, 2.36]]. With r = 0.5,
    # lb = 1, ub = 5 all four are candidates and exactly ⌈0.5 · 4⌉ = 2 are chosen.
    advantages = torch.tensor([[2.0, 2.0], [-1.0, -1.0]])
    logprobs = torch.tensor([[-0.1, -0.2], [-3.0, -3.2]])
    mask = torch.ones(2, 2)
    cov = token_covariance(advantages, logprobs, mask)
    assert cov.flatten().tolist() == pytest.approx([2.2875, 2.1375, 2.0625, 2.3625])
    config = GRPOConfig(
        covariance_control="clip_cov", clip_cov_ratio=0.5, clip_cov_lower=1.0, clip_cov_upper=5.0
    )
    chosen = GRPO(config).covariance_tokens(
        advantages, logprobs, mask, torch.zeros(2, dtype=torch.bool), torch.Generator()
    )
    assert chosen.sum() == 2
