"""EPO, entropy-regularized policy optimization for multi-turn agents (Xu et al., 2025).

On top of GRPO's group advantages (``base``; EPO also sits on PPO), the loss adds a
trajectory-level entropy bonus and a smoothing penalty that keeps token entropy inside a
band around its historical mean:

* H: entropy of the policy at each action token;
* L_H: the mean over trajectories of the mean over turns of the mean over tokens of H;
* H̄: the cumulative mean of the per-iteration token-mean entropy over all past iterations;
* P = relu(κ_l·H̄ − H) + relu(H − κ_r·H̄); L_smooth = α · (the same mean of P);
* β_k = 1 + exp(−γ·k / ⌊K/2⌋) for iteration k of K;
* L = L_policy − λ·(L_H − β_k·L_smooth); no smoothing at k = 0 (no history yet).

The released code uses a constant indicator for the penalty, which has no gradient; this
implements the paper's differentiable relu form. The entropy history is checkpointed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from palaestra.algorithms.base import Aggregate, LossContext, TrainingSet
from palaestra.algorithms.batch import TokenBatch
from palaestra.algorithms.grpo import GRPO, GRPOConfig


@dataclass(frozen=True, kw_only=True)
class EPOConfig(GRPOConfig):
    """EPO settings (defaults: the paper's ALFWorld values).

    Attributes:
        entropy_weight: λ, weight of the entropy term (paper: 0.001).
        kappa_low: κ_l, lower edge of the band as a multiple of H̄ (paper: 0.0).
        kappa_high: κ_r, upper edge (paper: 2.0).
        schedule_gamma: γ of the smoothing schedule β_k (paper: 3.0).
        smoothing_weight: α (paper: 0.1 on ALFWorld, 0.05 on ScienceWorld).
    """

    entropy_weight: float = 0.001
    kappa_low: float = 0.0
    kappa_high: float = 2.0
    schedule_gamma: float = 3.0
    smoothing_weight: float = 0.1


def smoothing_penalty(
    entropy: torch.Tensor, mean: float, kappa_low: float, kappa_high: float
) -> torch.Tensor:
    """P = relu(κ_l·H̄ − H) + relu(H − κ_r·H̄), per token (0 inside the band)."""
    return torch.relu(kappa_low * mean - entropy) + torch.relu(entropy - kappa_high * mean)


def schedule(iteration: int, total: int, gamma: float) -> float:
    """β_k = 1 + exp(−γ·k / ⌊K/2⌋)."""
    return 1.0 + math.exp(-gamma * iteration / max(total // 2, 1))


def nested_mean_weights(batch: TokenBatch) -> torch.Tensor:
    """Token weights whose weighted sum is the trajectory → turn → token mean."""
    weights = torch.zeros_like(batch.loss_mask)
    selected = batch.loss_mask.bool()
    episodes = batch.episode[:, None].expand_as(batch.turn_index)[selected]
    turns = batch.turn_index[selected]
    # Tokens per (episode, turn), turns per episode, and episodes: all by tensor counting.
    pair = episodes * (int(turns.max()) + 1 if turns.numel() else 1) + turns
    _, pair_index, tokens_per_turn = torch.unique(pair, return_inverse=True, return_counts=True)
    turn_episode = torch.unique(torch.stack([episodes, turns]), dim=1)[0]
    turns_per_episode = torch.bincount(turn_episode)
    count = int((turns_per_episode > 0).sum())
    weights[selected] = 1.0 / (
        tokens_per_turn[pair_index].float() * turns_per_episode[episodes].float() * count
    )
    return weights


class EPO(GRPO):
    """GRPO plus EPO's entropy bonus and entropy smoothing."""

    name = "epo"
    config_class = EPOConfig
    config: EPOConfig

    def __init__(self, config: EPOConfig | None = None) -> None:
        super().__init__(config)
        self.entropy_history: list[float] = []
        self.total_iterations = 1
        self._weights = torch.zeros(0)

    def start(self, total_iterations: int, seed: int) -> None:
        """K of the schedule."""
        self.total_iterations = total_iterations

    def token_advantages(
        self, training: TrainingSet, batch: TokenBatch, values: torch.Tensor | None
    ) -> torch.Tensor:
        """GRPO's advantages; also prepares the trajectory/turn/token mean weights."""
        self._weights = nested_mean_weights(batch)
        return super().token_advantages(training, batch, values)

    def extra_loss(self, ctx: LossContext, aggregate: Aggregate) -> torch.Tensor:
        """−λ·(L_H − β_k·L_smooth) on this micro-batch's share of the nested mean.

        The batch's nested-mean weights are renormalized over the mini-batch, so each
        optimizer step carries the whole term, as the policy loss does.
        """
        share = self._weights[ctx.minibatch].sum().clamp(min=1e-12)
        weights = self._weights[ctx.rows][:, -ctx.mask.size(1) :] / share
        weights = weights.to(ctx.entropy.device)
        bonus = (weights * ctx.entropy).sum()
        if self.iteration > 0 and self.entropy_history:
            mean = sum(self.entropy_history) / len(self.entropy_history)
            penalty = smoothing_penalty(
                ctx.entropy, mean, self.config.kappa_low, self.config.kappa_high
            )
            beta = schedule(self.iteration, self.total_iterations, self.config.schedule_gamma)
            bonus = bonus - beta * self.config.smoothing_weight * (weights * penalty).sum()
        return -self.config.entropy_weight * bonus

    def end_iteration(self, metrics: dict[str, float]) -> dict[str, float]:
        """Record this iteration's token-mean entropy in the history."""
        out = super().end_iteration(metrics)
        if "entropy" in metrics:
            self.entropy_history.append(float(metrics["entropy"]))
        mean = sum(self.entropy_history) / max(len(self.entropy_history), 1)
        return {**out, "entropy_history_mean": mean}

    def state_dict(self) -> dict[str, Any]:
        """Iteration and entropy history."""
        return {**super().state_dict(), "entropy_history": list(self.entropy_history)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the iteration and entropy history."""
        super().load_state_dict(state)
        self.entropy_history = [float(v) for v in state.get("entropy_history", [])]
