"""Agentic entropy-balanced policy optimization (AEPO, Dong et al., 2025).

For tool-using, multi-turn agents, on top of GRPO's group advantages:

* **entropy-balanced clipping**: for tokens with A > 0 and ρ > 1 + ε_high, PPO's clipped term
  is a constant with no gradient; here it is (1 + ε_high)·ρ/sg(ρ)·A, which has the value of
  the clipped term but keeps a gradient (so high-entropy, explorative tokens still learn);
  negative advantages use dual-clip with c = 3;
* **entropy-aware advantage**: Ã = A·(1 + a·z(H)), with z the detached z-score of the
  tokens' entropy over the batch's action tokens (sampling entropies), a = 0.2.

The paper's entropy-balanced rollout (branching from high-entropy turns) is off by default
in the released scripts and is not implemented here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from palaestra.agents.records import Episode
from palaestra.algorithms.batch import TokenBatch
from palaestra.algorithms.grpo import GRPO, GRPOConfig


@dataclass(frozen=True, kw_only=True)
class AgenticAEPOConfig(GRPOConfig):
    """Agentic AEPO settings (defaults: the paper and its released scripts).

    Attributes:
        clip_high: ε_high (0.28 in the released scripts).
        dual_clip: c of dual-clip for negative advantages (3).
        entropy_advantage_weight: a of the entropy-aware advantage (0.2).
    """

    clip_high: float = 0.28
    dual_clip: float | None = 3.0
    loss_aggregation: str = "token_mean"  # type: ignore[assignment]
    entropy_advantage_weight: float = 0.2


def entropy_balanced_surrogate(
    logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    advantages: torch.Tensor,
    *,
    clip_low: float,
    clip_high: float,
    dual_clip: float | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token loss with gradient-preserving clipping of positive advantages."""
    ratio = torch.exp(logprobs - old_logprobs)
    # Same value as the clipped ratio, but the gradient of ρ flows (scaled by (1+ε)/ρ).
    soft_high = (1.0 + clip_high) * ratio / ratio.detach()
    clipped_ratio = torch.where(
        ratio > 1.0 + clip_high, soft_high, torch.clamp(ratio, 1.0 - clip_low, 1.0 + clip_high)
    )
    unclipped = ratio * advantages
    clipped = clipped_ratio * advantages
    loss = -torch.minimum(unclipped, clipped)
    if dual_clip is not None:
        loss = torch.where(advantages < 0, torch.minimum(loss, -dual_clip * advantages), loss)
    return loss, (clipped < unclipped).float()


class AgenticAEPO(GRPO):
    """GRPO with entropy-balanced clipping and entropy-aware advantages."""

    name = "aepo_agentic"
    config_class = AgenticAEPOConfig
    config: AgenticAEPOConfig
    surrogate = staticmethod(entropy_balanced_surrogate)

    def token_advantages(
        self, episodes: Sequence[Episode], batch: TokenBatch, values: torch.Tensor | None
    ) -> torch.Tensor:
        """A·(1 + a·z(H)) with H the sampling entropy of each action token."""
        advantages = super().token_advantages(episodes, batch, values)
        entropy = batch.broadcast_tokens(
            [[h for t in e.turns for h in t.entropies] for e in episodes]
        )
        selected = batch.loss_mask.bool()
        if selected.sum() < 2:
            return advantages
        values_h = entropy[selected]
        z = torch.zeros_like(entropy)
        z[selected] = (values_h - values_h.mean()) / (values_h.std() + 1e-8)
        return advantages * (1.0 + self.config.entropy_advantage_weight * z) * batch.loss_mask
