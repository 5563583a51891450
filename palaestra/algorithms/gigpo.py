"""GiGPO, group-in-group policy optimization (Feng et al., 2025).

A(i, t) = A_episode(i) + ω · A_step(i, t). The episode term is GRPO's group-normalized
return. For the step term, the turns of one group (same seed) whose current observation
text is identical form a step group (the paper's anchor states); A_step is the discounted
return from that turn, Σ_{k≥t} γ^{k−t} r_k with γ = 0.95, minus the step group's mean; a step
seen only once gets 0. The paper also offers std-normalizing the step term
(``step_scale``, off by default here as in the algorithms reference).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from palaestra.agents.records import Episode
from palaestra.algorithms.base import Algorithm, PolicyLossConfig, episode_returns, group_normalized


@dataclass(frozen=True, kw_only=True)
class GiGPOConfig(PolicyLossConfig):
    """GiGPO settings (defaults: the paper).

    Attributes:
        step_weight: ω, weight of the step-level advantage (paper: 1).
        gamma: Discount of the step returns (paper: 0.95).
        scale_rewards: Std-normalize the episode term (GRPO).
        step_scale: Std-normalize the step term within its step group.
    """

    step_weight: float = 1.0
    gamma: float = 0.95
    scale_rewards: bool = True
    step_scale: bool = False


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
        episode_term = group_normalized(
            episode_returns(episodes), episodes, scale=self.config.scale_rewards
        )
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
            values = [returns[i][t] for i, t in members]
            mean = sum(values) / len(values)
            std = (sum((v - mean) ** 2 for v in values) / (len(values) - 1)) ** 0.5
            for (i, t), value in zip(members, values, strict=True):
                centred = value - mean
                out[i][t] = centred / (std + 1e-6) if self.config.step_scale else centred
        return out
