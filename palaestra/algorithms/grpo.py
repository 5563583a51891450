"""GRPO (Shao et al., 2024), with the Dr. GRPO and DAPO options.

A_i = (R_i − mean_G R) / (std_G R + 1e-6), the same for every action token of episode i,
where G is the group of episodes that share a seed. Options:

* Dr. GRPO (Liu et al., 2025): ``scale_rewards=False`` (no std) and
  ``loss_aggregation="seq_mean_token_sum_norm"``;
* DAPO (Yu et al., 2025): clip-higher ``clip_high=0.28``, ``token_mean`` aggregation, no KL,
  and dynamic sampling (``dynamic_sampling=True`` drops groups whose rewards are all equal:
  they carry no signal). DAPO refills the batch by sampling more groups; palaestra drops
  them and logs ``kept_fraction``, so one iteration costs one rollout.

``palaestra train dr_grpo`` and ``palaestra train dapo`` start from those presets.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from palaestra.algorithms.base import (
    Algorithm,
    PolicyLossConfig,
    Sampler,
    TrainingSet,
    broadcast_episode,
    episode_returns,
    group_indices,
    group_normalized,
)
from palaestra.rollout.records import Episode


@dataclass(frozen=True, kw_only=True)
class GRPOConfig(PolicyLossConfig):
    """GRPO settings (defaults: the GRPO paper, with KL off as in most recent recipes).

    Attributes:
        scale_rewards: Divide by the group's reward std (GRPO); Dr. GRPO turns it off.
        dynamic_sampling: Drop groups whose rewards are all equal (DAPO).
    """

    scale_rewards: bool = True
    dynamic_sampling: bool = False


#: ``palaestra train dr_grpo``: no std scaling, constant-length token-sum normalization, no KL.
DR_GRPO = GRPOConfig(scale_rewards=False, loss_aggregation="seq_mean_token_sum_norm")
#: ``palaestra train dapo``: clip-higher, token-mean, no KL, dynamic sampling.
DAPO = GRPOConfig(clip_high=0.28, loss_aggregation="token_mean", dynamic_sampling=True)


class GRPO(Algorithm):
    """Group-relative advantages on whole episodes."""

    name = "grpo"
    config_class = GRPOConfig
    config: GRPOConfig

    def __init__(self, config: GRPOConfig | None = None) -> None:
        super().__init__(config)
        self.kept_fraction = 1.0

    def select_episodes(self, episodes: list[Episode], sampler: Sampler) -> TrainingSet:
        """The rollout; with dynamic sampling, only the groups whose returns differ."""
        return TrainingSet.of(self.informative(episodes))

    def informative(self, episodes: list[Episode]) -> list[Episode]:
        """With dynamic sampling, the episodes of groups whose returns differ; else all."""
        if not self.config.dynamic_sampling:
            return episodes
        returns = episode_returns(episodes)
        keep = set()
        for members in group_indices(episodes).values():
            if len({round(returns[i], 9) for i in members}) > 1:
                keep.update(members)
        self.kept_fraction = len(keep) / max(len(episodes), 1)
        return [e for i, e in enumerate(episodes) if i in keep]

    def turn_advantages(self, episodes: Sequence[Episode]) -> list[list[float]]:
        """Group-normalized episode returns, the same for every turn."""
        values = group_normalized(
            episode_returns(episodes), episodes, scale=self.config.scale_rewards
        )
        return broadcast_episode(values, episodes)

    def end_iteration(self, metrics: dict[str, float]) -> dict[str, float]:
        """Report the fraction of episodes dynamic sampling kept."""
        super().end_iteration(metrics)
        return {"kept_fraction": self.kept_fraction} if self.config.dynamic_sampling else {}
