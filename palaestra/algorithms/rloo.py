"""RLOO, REINFORCE leave-one-out (Kool et al., 2019; Ahmadian et al., 2024).

A_i = R_i − mean_{j≠i} R_j over the group of episodes that share a seed: an unbiased
baseline that does not include the episode itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from palaestra.algorithms.base import (
    Algorithm,
    PolicyLossConfig,
    broadcast_episode,
    episode_returns,
    group_indices,
)
from palaestra.algorithms.losses import LossAggregation
from palaestra.rollout.records import Episode


@dataclass(frozen=True, kw_only=True)
class RLOOConfig(PolicyLossConfig):
    """RLOO settings: the shared policy-loss fields, token-mean aggregation."""

    loss_aggregation: LossAggregation = "token_mean"


class RLOO(Algorithm):
    """Leave-one-out baseline per group."""

    name = "rloo"
    config_class = RLOOConfig

    def turn_advantages(self, episodes: Sequence[Episode]) -> list[list[float]]:
        """R_i minus the mean return of the other members of its group."""
        returns = episode_returns(episodes)
        values = [0.0] * len(episodes)
        for members in group_indices(episodes).values():
            total, n = sum(returns[i] for i in members), len(members)
            for i in members:
                values[i] = returns[i] - (total - returns[i]) / (n - 1) if n > 1 else 0.0
        return broadcast_episode(values, episodes)
