"""Token-level losses shared by every algorithm: log-probs, entropy, clipped surrogate, KL.

Notation (see the algorithms documentation): ratio ρ = exp(logπ_θ − logπ_old); the base
token loss is ℓ(ρ, A) = −min(ρA, clip(ρ, 1−ε_low, 1+ε_high)·A), optionally dual-clipped
(for A < 0 the loss is capped at −c·A). Losses are aggregated over the tokens selected by a
mask in one of three ways:

* ``token_mean`` (DAPO): the sum over all tokens of the batch divided by their number;
* ``seq_mean_token_mean`` (original GRPO): the mean over sequences of each sequence's
  token mean;
* ``seq_mean_token_sum_norm`` (Dr. GRPO): the mean over sequences of each sequence's token
  sum divided by a constant length.

Aggregation is over the whole mini-batch (the sequences of one optimizer step) even when it
is split into micro-batches for memory: the denominators are computed once per mini-batch
and passed in (``Normalizer``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch

LossAggregation = Literal["token_mean", "seq_mean_token_mean", "seq_mean_token_sum_norm"]
LOSS_AGGREGATIONS: tuple[str, ...] = (
    "token_mean",
    "seq_mean_token_mean",
    "seq_mean_token_sum_norm",
)


def token_logprobs_and_entropy(
    logits: torch.Tensor, targets: torch.Tensor, temperature: float = 1.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-probability of each target token and the entropy of each position's distribution.

    Args:
        logits: ``[batch, length, vocab]``, where position t predicts ``targets[:, t]``.
        targets: ``[batch, length]`` token ids.
        temperature: The sampling temperature (the trained policy is the one sampled from).
    """
    log_probs = torch.log_softmax(logits.float() / temperature, dim=-1)
    chosen = log_probs.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    entropy = -(log_probs.exp() * log_probs).sum(-1)
    return chosen, entropy


def clipped_surrogate(
    logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    advantages: torch.Tensor,
    *,
    clip_low: float,
    clip_high: float,
    dual_clip: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token PPO-clip loss −min(ρA, clip(ρ)A) and whether each token was clipped.

    Args:
        logprobs: log π_θ of the taken tokens (with gradient).
        old_logprobs: log π_old of the same tokens.
        advantages: Token advantages.
        clip_low: ε_low.
        clip_high: ε_high.
        dual_clip: c of dual-clip PPO (caps the loss of negative-advantage tokens at −c·A).
    """
    ratio = torch.exp(logprobs - old_logprobs)
    unclipped = ratio * advantages
    clipped = torch.clamp(ratio, 1.0 - clip_low, 1.0 + clip_high) * advantages
    loss = -torch.minimum(unclipped, clipped)
    if dual_clip is not None:
        capped = torch.minimum(loss, -dual_clip * advantages)
        loss = torch.where(advantages < 0, capped, loss)
    was_clipped = (clipped < unclipped).float()
    return loss, was_clipped


def kl_k3(logprobs: torch.Tensor, ref_logprobs: torch.Tensor) -> torch.Tensor:
    """Schulman's k3 estimator of KL(π_θ || π_ref) per token: exp(r) − r − 1, r = ref − logπ."""
    delta = ref_logprobs - logprobs
    return torch.exp(delta) - delta - 1.0


@dataclass(frozen=True)
class Normalizer:
    """Denominators for aggregating a token loss over the micro-batches of one mini-batch.

    Attributes:
        mode: The aggregation mode.
        total_tokens: Masked tokens in the mini-batch.
        sequences: Sequences with a masked token in the mini-batch.
        norm_length: The constant length of ``seq_mean_token_sum_norm``.
    """

    mode: LossAggregation
    total_tokens: float
    sequences: float
    norm_length: float

    @classmethod
    def for_batch(
        cls, mode: LossAggregation, mask: torch.Tensor, norm_length: float | None = None
    ) -> Normalizer:
        """Denominators of ``mode`` for the rows whose loss mask is ``mask`` ([seqs, length]).

        Rows without a masked token (not trained, or excluded from this loss term) count
        in no denominator. ``norm_length`` is required by ``seq_mean_token_sum_norm``: Dr.
        GRPO divides by a constant, never by a length measured on the batch.
        """
        if mode == "seq_mean_token_sum_norm" and not norm_length:
            raise ValueError("seq_mean_token_sum_norm needs a constant norm_length")
        lengths = mask.sum(-1)
        return cls(
            mode=mode,
            total_tokens=max(float(lengths.sum()), 1.0),
            sequences=max(float((lengths > 0).sum()), 1.0),
            norm_length=float(norm_length or 1.0),
        )

    def aggregate(self, token_loss: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """This micro-batch's share of the mini-batch loss (shares add up to the whole)."""
        masked = token_loss * mask
        if self.mode == "token_mean":
            return masked.sum() / self.total_tokens
        if self.mode == "seq_mean_token_mean":
            per_sequence = masked.sum(-1) / mask.sum(-1).clamp(min=1)
            return per_sequence.sum() / self.sequences
        return (masked.sum(-1) / self.norm_length).sum() / self.sequences


def token_covariance(
    advantages: torch.Tensor,
    logprobs: torch.Tensor,
    mask: torch.Tensor,
) -> torch.Tensor:
    """Cov_k = (A_k − mean A)(logπ_k − mean logπ) over the masked tokens (0 elsewhere).

    The covariance that drives entropy collapse (Cui et al., 2025, "The Entropy Mechanism of
    Reinforcement Learning for Reasoning Language Models"); detached.
    """
    selected = mask.bool()
    if not selected.any():
        return torch.zeros_like(advantages)
    a, lp = advantages.detach(), logprobs.detach()
    centred = (a - a[selected].float().mean()) * (lp - lp[selected].float().mean())
    return centred * mask


def clip_cov_tokens(
    covariance: torch.Tensor,
    mask: torch.Tensor,
    *,
    ratio: float,
    lower: float,
    upper: float,
    generator: torch.Generator,
) -> torch.Tensor:
    """Clip-Cov's choice: a random ⌈ratio·N⌉ of the N masked tokens with lower < Cov < upper.

    Returns a 0/1 tensor of the chosen tokens; their loss passes no gradient.
    """
    flat = (mask.bool() & (covariance > lower) & (covariance < upper)).flatten()
    candidates = torch.nonzero(flat).flatten().cpu()
    count = math.ceil(ratio * int(mask.sum()))
    chosen = torch.zeros(mask.numel())
    if count and len(candidates):
        order = torch.randperm(len(candidates), generator=generator)[:count]
        chosen[candidates[order]] = 1.0
    return chosen.view(mask.shape).to(mask.device)


def kl_cov_tokens(covariance: torch.Tensor, mask: torch.Tensor, *, ratio: float) -> torch.Tensor:
    """KL-Cov's choice: the top ⌈ratio·N⌉ (at least one) of the N masked tokens by Cov."""
    chosen = torch.zeros_like(mask)
    positions = torch.nonzero(mask.bool().flatten()).flatten()
    values = covariance.flatten()[positions].detach().float().cpu()
    if not len(values):
        return chosen
    count = min(max(1, math.ceil(ratio * len(values))), len(values))
    top = torch.topk(values, count).indices
    chosen.view(-1)[positions[top.to(positions.device)]] = 1.0
    return chosen


def kl_cov_loss(
    logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    advantages: torch.Tensor,
    chosen: torch.Tensor,
    *,
    coef: float,
) -> torch.Tensor:
    """KL-Cov's token loss: the unclipped −A·ρ, plus β·|log ρ| on the chosen tokens.

    As in the reference implementation (verl's ``compute_policy_loss_kl_cov``), the KL
    penalty takes the place of the ratio clip: no token is clipped.
    """
    log_ratio = logprobs - old_logprobs
    return -advantages * torch.exp(log_ratio) + coef * log_ratio.abs() * chosen
