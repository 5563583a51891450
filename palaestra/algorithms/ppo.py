"""PPO with a value head and GAE over action tokens (Schulman et al., 2017), for comparison.

A linear value head on the policy's last hidden state estimates V at every response token.
GAE runs over the episode's response tokens only, in order across turns (observation and
template tokens are not actions): the reward of a turn sits on its last token, δ_t =
r_t + γ V_{t+1} − V_t with V = 0 after the last token, A_t = Σ (γλ)^k δ_{t+k}. Advantages
are whitened over the batch; the value loss is ½ (V − (A + V_old))², clipped as in PPO2.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from palaestra.algorithms.base import (
    Aggregate,
    Algorithm,
    LossContext,
    PolicyLossConfig,
    TrainingSet,
)
from palaestra.algorithms.batch import TokenBatch
from palaestra.algorithms.losses import LossAggregation


@dataclass(frozen=True, kw_only=True)
class PPOConfig(PolicyLossConfig):
    """PPO settings (defaults: PPO2 and the RLHF/agent PPO recipes).

    Attributes:
        gamma: Discount across action tokens (1: episodic tasks).
        lam: GAE λ (0.95).
        value_coef: Weight of the value loss (0.5).
        value_clip: Clip range of the value update (0.2).
        whiten_advantages: Normalize advantages over the batch.
    """

    loss_aggregation: LossAggregation = "token_mean"
    gamma: float = 1.0
    lam: float = 0.95
    value_coef: float = 0.5
    value_clip: float = 0.2
    whiten_advantages: bool = True


def gae(rewards: Sequence[float], values: Sequence[float], gamma: float, lam: float) -> list[float]:
    """Generalized advantage estimates for one trajectory (V = 0 after its end)."""
    advantages, running = [0.0] * len(rewards), 0.0
    for t in range(len(rewards) - 1, -1, -1):
        next_value = values[t + 1] if t + 1 < len(values) else 0.0
        delta = rewards[t] + gamma * next_value - values[t]
        running = delta + gamma * lam * running
        advantages[t] = running
    return advantages


class PPO(Algorithm):
    """Token-level PPO with a learned value head."""

    name = "ppo"
    config_class = PPOConfig
    config: PPOConfig
    needs_values = True

    def __init__(self, config: PPOConfig | None = None, hidden_size: int | None = None) -> None:
        super().__init__(config)
        self.value_head: torch.nn.Linear | None = None
        if hidden_size is not None:
            self.build_value_head(hidden_size)
        self._returns = torch.zeros(0)
        self._old_values = torch.zeros(0)

    def build_value_head(self, hidden_size: int) -> None:
        """Create the value head for a model of width ``hidden_size`` (zero-initialized)."""
        self.value_head = torch.nn.Linear(hidden_size, 1)
        torch.nn.init.zeros_(self.value_head.weight)
        torch.nn.init.zeros_(self.value_head.bias)

    def values(self, hidden: torch.Tensor) -> torch.Tensor:
        """V at every position, ``[n, L-1]``."""
        assert self.value_head is not None, "call build_value_head(hidden_size) first"
        values: torch.Tensor = self.value_head(hidden.float()).squeeze(-1)
        return values

    def token_advantages(
        self, training: TrainingSet, batch: TokenBatch, values: torch.Tensor | None
    ) -> torch.Tensor:
        """GAE over each episode's response tokens, in turn order across samples."""
        assert values is not None, "PPO needs the value pass"
        episodes = training.episodes
        advantages = torch.zeros_like(batch.loss_mask)
        for episode_index in range(len(episodes)):
            rows = torch.nonzero(batch.episode == episode_index).flatten().tolist()
            positions = [
                (int(batch.turn_index[r, p]), r, p)
                for r in rows
                for p in torch.nonzero(batch.loss_mask[r]).flatten().tolist()
            ]
            positions.sort()
            if not positions:
                continue
            rewards = [0.0] * len(positions)
            turns = episodes[episode_index].turns
            for k, (turn, _, _) in enumerate(positions):
                last_of_turn = k + 1 == len(positions) or positions[k + 1][0] != turn
                if last_of_turn:
                    rewards[k] = turns[turn].reward
            trajectory = [float(values[r, p]) for _, r, p in positions]
            for (_, r, p), a in zip(
                positions, gae(rewards, trajectory, self.config.gamma, self.config.lam), strict=True
            ):
                advantages[r, p] = a
        self._old_values = values.detach() * batch.loss_mask
        self._returns = (advantages + self._old_values) * batch.loss_mask
        if self.config.whiten_advantages:
            selected = advantages[batch.loss_mask.bool()]
            if selected.numel() > 1:
                advantages = (advantages - selected.mean()) / (selected.std() + 1e-8)
        return advantages * batch.loss_mask

    def extra_loss(self, ctx: LossContext, aggregate: Aggregate) -> torch.Tensor:
        """Clipped value loss on the micro-batch."""
        assert ctx.hidden is not None
        values = self.values(ctx.hidden)
        width = values.size(1)
        returns = self._returns[ctx.rows][:, -width:]
        old = self._old_values[ctx.rows][:, -width:]
        clipped = old + (values - old).clamp(-self.config.value_clip, self.config.value_clip)
        loss = 0.5 * torch.maximum((values - returns) ** 2, (clipped - returns) ** 2)
        value_loss: torch.Tensor = self.config.value_coef * aggregate(loss, ctx.mask)
        return value_loss

    def parameters(self) -> list[torch.nn.Parameter]:
        """The value head's weights."""
        return list(self.value_head.parameters()) if self.value_head is not None else []

    def state_dict(self) -> dict[str, Any]:
        """Iteration and value head."""
        state = super().state_dict()
        if self.value_head is not None:
            state["value_head"] = self.value_head.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the iteration and value head."""
        super().load_state_dict(state)
        if "value_head" in state and self.value_head is not None:
            self.value_head.load_state_dict(state["value_head"])
