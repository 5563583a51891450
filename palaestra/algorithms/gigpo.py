"""GiGPO, group-in-group policy optimization (Feng et al., 2025).

A(i, t) = A_episode(i) + ω · A_step(i, t). The episode term compares episode i's return
with its group's (same seed). For the step term, the turns of one group whose current
observation text is identical form a step group (the paper's anchor states), and the
discounted return from each such turn, Σ_{k≥t} γ^{k−t} r_k with γ = 0.95, is compared with
its step group's; a step seen only once gets 0.

Both terms use the same normalization, as in the paper and verl-agent: ``mean_norm``
subtracts the group's mean (verl-agent's default), ``mean_std_norm`` also divides by the
group's standard deviation (the sample one, + 1e-6). A step group of one gets 0, as the
algorithm description says; verl-agent's code keeps such a step's raw discounted return
instead (its mean and std of one member are set to 0 and 1).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch

from palaestra.algorithms.base import Algorithm, PolicyLossConfig, episode_returns, group_normalized
from palaestra.errors import InvalidArgumentError
from palaestra.rollout.records import Episode

GiGPOMode = Literal["mean_norm", "mean_std_norm"]


@dataclass(frozen=True, kw_only=True)
class GiGPOConfig(PolicyLossConfig):
    """GiGPO settings (defaults: the paper and verl-agent).

    Attributes:
        step_weight: ω, weight of the step-level advantage (paper: 1).
        gamma: Discount of the step returns (paper: 0.95).
        mode: ``mean_norm`` (subtract the group mean in both terms; verl-agent's default)
            or ``mean_std_norm`` (also divide by the group's std in both).
    """

    step_weight: float = 1.0
    gamma: float = 0.95
    mode: GiGPOMode = "mean_norm"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.mode not in ("mean_norm", "mean_std_norm"):
            raise InvalidArgumentError(
                f"GiGPO mode must be mean_norm or mean_std_norm, got {self.mode!r}"
            )


def discounted_returns(rewards: Sequence[float], gamma: float) -> list[float]:
    """G_t = Σ_{k≥t} γ^{k−t} r_k for every t."""
    out, running = [0.0] * len(rewards), 0.0
    for t in range(len(rewards) - 1, -1, -1):
        running = rewards[t] + gamma * running
        out[t] = running
    return out


class GiGPO(Algorithm):
    """Episode-level plus step-level (anchor-state) group advantages."""

    name = "gigpo"
    config_class = GiGPOConfig
    config: GiGPOConfig

    def turn_advantages(self, episodes: Sequence[Episode]) -> list[list[float]]:
        """A_episode + ω A_step for every turn."""
        scale = self.config.mode == "mean_std_norm"
        episode_term = group_normalized(episode_returns(episodes), episodes, scale=scale)
        step_term = self.step_advantages(episodes)
        return [
            [episode_term[i] + self.config.step_weight * a for a in step_term[i]]
            for i in range(len(episodes))
        ]

    def step_advantages(self, episodes: Sequence[Episode]) -> list[list[float]]:
        """A_step for every turn (0 for turns whose state no other turn of the group shares)."""
        returns = [
            discounted_returns([t.reward for t in e.turns], self.config.gamma) for e in episodes
        ]
        anchors: dict[tuple[int, str], list[tuple[int, int]]] = defaultdict(list)
        for i, episode in enumerate(episodes):
            for t, turn in enumerate(episode.turns):
                anchors[(episode.group, turn.observation)].append((i, t))
        out = [[0.0] * len(e.turns) for e in episodes]
        for members in anchors.values():
            if len(members) < 2:
                continue
            values = torch.tensor([returns[i][t] for i, t in members], dtype=torch.float64)
            centred = values - values.mean()
            if self.config.mode == "mean_std_norm":
                centred = centred / (values.std() + 1e-6)
            for (i, t), value in zip(members, centred.tolist(), strict=True):
                out[i][t] = value
        return out
