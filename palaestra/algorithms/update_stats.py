"""What an update reports: loss, entropy, KL, and how far off-policy its steps went."""

from __future__ import annotations

import torch

from palaestra.algorithms.base import LossContext

#: The metrics of an update (all 0 when an iteration has nothing to train on).
UPDATE_KEYS = (
    "loss",
    "entropy",
    "kl",
    "clip_fraction",
    "ratio_mean",
    "ratio_max",
    "approx_kl",
    "covariance_fraction",
    "grad_norm",
    "optimizer_steps",
    "advantage_abs",
    "trained_tokens",
    "sequences",
)


class UpdateStats:
    """Sums over the trained tokens of every micro-batch of every optimizer step.

    Per token: ρ = exp(logπ_θ − logπ_old); ``approx_kl`` is the mean of (ρ − 1) − log ρ
    (the k3 estimator of KL(π_old || π_θ), as cleanrl reports it); ``clip_fraction`` the
    share of tokens whose ratio the loss clipped; ``covariance_fraction`` the share Clip-Cov
    or KL-Cov acted on.
    """

    def __init__(self) -> None:
        self.sums = dict.fromkeys(
            ("loss", "entropy", "kl", "clipped", "ratio", "approx_kl", "covariance", "tokens"), 0.0
        )
        self.ratio_max = 0.0
        self.grad_norms: list[float] = []

    @torch.no_grad()
    def add(
        self,
        ctx: LossContext,
        *,
        loss: torch.Tensor,
        kl: torch.Tensor,
        clipped: torch.Tensor,
        log_ratio: torch.Tensor | None = None,
    ) -> None:
        """Add one micro-batch.

        ``loss`` is its share of the mini-batch loss; ``log_ratio`` the one the loss used,
        where that is not against ``ctx.old_logprobs``.
        """
        mask = ctx.mask
        if log_ratio is None:
            log_ratio = ctx.logprobs - ctx.old_logprobs
        log_ratio = log_ratio.detach()
        ratio = torch.exp(log_ratio)
        sums = self.sums
        sums["loss"] += float(loss)
        sums["entropy"] += float((ctx.entropy * mask).sum())
        sums["kl"] += float((kl * mask).sum())
        sums["clipped"] += float((clipped * mask).sum())
        sums["ratio"] += float((ratio * mask).sum())
        sums["approx_kl"] += float((((ratio - 1) - log_ratio) * mask).sum())
        sums["covariance"] += float((ctx.covariance * mask).sum())
        sums["tokens"] += float(mask.sum())
        if mask.any():
            self.ratio_max = max(self.ratio_max, float(ratio[mask.bool()].max()))

    def merge(self, parts: list[UpdateStats]) -> None:
        """Become the sum of ``parts`` (every training process's statistics, this one's too).

        The processes took the same optimizer steps, so their gradient norms are the same.
        """
        self.sums = {key: sum(part.sums[key] for part in parts) for key in self.sums}
        self.ratio_max = max(part.ratio_max for part in parts)

    def step(self, grad_norm: float) -> None:
        """Record an optimizer step and its gradient norm (before clipping)."""
        self.grad_norms.append(grad_norm)

    def metrics(
        self, advantages: torch.Tensor, mask: torch.Tensor, *, sequences: int
    ) -> dict[str, float]:
        """The update's metrics (means over tokens; ``loss`` per optimizer step)."""
        tokens = max(self.sums["tokens"], 1.0)
        steps = max(len(self.grad_norms), 1)
        trained = float(mask.sum())
        return {
            "loss": self.sums["loss"] / steps,
            "entropy": self.sums["entropy"] / tokens,
            "kl": self.sums["kl"] / tokens,
            "clip_fraction": self.sums["clipped"] / tokens,
            "ratio_mean": self.sums["ratio"] / tokens,
            "ratio_max": self.ratio_max,
            "approx_kl": self.sums["approx_kl"] / tokens,
            "covariance_fraction": self.sums["covariance"] / tokens,
            "grad_norm": sum(self.grad_norms) / steps,
            "optimizer_steps": float(len(self.grad_norms)),
            "advantage_abs": float((advantages.abs() * mask).sum()) / max(trained, 1.0),
            "trained_tokens": trained,
            "sequences": float(sequences),
        }
