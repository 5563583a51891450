"""Agentic entropy-balanced policy optimization (AEPO, Dong et al., 2025).

For tool-using, multi-turn agents, on top of GRPO's group advantages:

* **entropy-balanced clipping**: for tokens with A > 0 and ρ > 1 + ε_high, PPO's clipped term
  is a constant with no gradient; here it is (1 + ε_high)·ρ/sg(ρ)·A, which has the value of
  the clipped term but keeps a gradient (so high-entropy, explorative tokens still learn);
  negative advantages use dual-clip with c = 3;
* **entropy-aware advantage**: Ã = A·(1 + a·z(H)), with z the detached z-score of the
  tokens' entropy over the batch's action tokens (sampling entropies), a = 0.2.

* **entropy-balanced rollout** (``entropy_balanced_rollout``; off by default, as in the
  released scripts): of the k = ``group_size`` samples of a question, m are fresh rollouts
  and k − m branch from high-entropy tool-call steps of those. *Entropy pre-monitoring*:
  one probe rollout per question measures H_root, the mean entropy of the first 20 reply
  tokens at the question, and H_tool, the same after each tool or environment response;
  m = clip(⌊k·σ(β·(H_root − H_tool))⌋ + 1, 1, k) (β = 0.5): the more uncertain the tool
  steps are compared with the question, the more of the budget goes to branching. *Branching
  with a penalty for consecutive branches*: a step t ≥ 1 of a fresh rollout (one that
  follows a tool response) is branched with probability
  clip(0.5 + 0.2·(H_t − H_root) − 0.05·l, 0, 1), where l is the number of branches already
  taken from that rollout; a branch replays the rollout's first t turns and samples from
  there. Budget no sweep fills becomes fresh rollouts.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Any

import torch

from palaestra.algorithms.base import Sampler, TrainingSet
from palaestra.algorithms.batch import TokenBatch
from palaestra.algorithms.grpo import GRPO, GRPOConfig
from palaestra.algorithms.losses import LossAggregation
from palaestra.errors import InvalidArgumentError
from palaestra.rollout.records import Episode, Turn


@dataclass(frozen=True, kw_only=True)
class AgenticAEPOConfig(GRPOConfig):
    """Agentic AEPO settings (defaults: the paper and its released scripts).

    Attributes:
        clip_high: ε_high (0.28 in the released scripts).
        dual_clip: c of dual-clip for negative advantages (3).
        entropy_advantage_weight: a of the entropy-aware advantage (0.2).
        entropy_balanced_rollout: Split each group into fresh rollouts and branches by
            entropy (off in the released scripts).
        rollout_beta: β of the fresh-rollout share m (0.5).
        branch_probability: Base probability of branching at a tool-call step (0.5).
        branch_entropy_weight: Weight of the entropy rise H_t − H_root in it (0.2).
        branch_penalty: Probability taken off per earlier branch of the same rollout (0.05).
        monitor_tokens: Reply tokens whose entropy measures a step (20).
    """

    clip_high: float = 0.28
    dual_clip: float | None = 3.0
    loss_aggregation: LossAggregation = "token_mean"
    entropy_advantage_weight: float = 0.2
    entropy_balanced_rollout: bool = False
    rollout_beta: float = 0.5
    branch_probability: float = 0.5
    branch_entropy_weight: float = 0.2
    branch_penalty: float = 0.05
    monitor_tokens: int = 20

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.covariance_control == "kl_cov":
            raise InvalidArgumentError(
                "agentic AEPO's entropy-balanced clipping is its ratio clip, which KL-Cov "
                "replaces: use covariance_control clip_cov or none"
            )


def fresh_rollouts(k: int, beta: float, root_entropy: float, tool_entropy: float) -> int:
    """M = clip(⌊k·σ(β·(H_root − H_tool))⌋ + 1, 1, k): fresh samples of a k-sample group."""
    share = 1.0 / (1.0 + math.exp(-beta * (root_entropy - tool_entropy)))
    return min(max(math.floor(k * share) + 1, 1), k)


def head_entropy(turn: Turn, tokens: int) -> float:
    """Mean sampling entropy of the first ``tokens`` tokens of a reply (0 if empty)."""
    head = turn.entropies[:tokens]
    return sum(head) / len(head) if head else 0.0


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

    def __init__(self, config: AgenticAEPOConfig | None = None) -> None:
        super().__init__(config)
        self.generator = torch.Generator().manual_seed(0)
        self.rollout_counts = {"fresh": 0.0, "branches": 0.0}

    def rollout(self, sampler: Sampler) -> list[Episode]:
        """The entropy-balanced rollout when it is on; otherwise the plain one."""
        if not self.config.entropy_balanced_rollout:
            return sampler.rollout()
        config, k = self.config, sampler.group_size
        seeds = sampler.seeds()
        groups = list(range(len(seeds)))
        probes = sampler.play(seeds, groups)
        roots, fresh_counts = [], []
        for probe in probes:
            root = head_entropy(probe.turns[0], config.monitor_tokens) if probe.turns else 0.0
            tool_steps = [head_entropy(t, config.monitor_tokens) for t in probe.turns[1:]]
            tool = sum(tool_steps) / len(tool_steps) if tool_steps else root
            roots.append(root)
            fresh_counts.append(fresh_rollouts(k, config.rollout_beta, root, tool))
        more = [g for g in groups for _ in range(fresh_counts[g] - 1)]
        fresh = probes + sampler.play([seeds[g] for g in more], more)
        by_group: dict[int, list[Episode]] = {g: [] for g in groups}
        for episode in fresh:
            by_group[episode.group].append(episode)
        last: list[tuple[int, list[Turn]]] = []
        for g in groups:
            points = self.branch_points(by_group[g], k - fresh_counts[g], roots[g])
            last += [(g, parent.turns[:t]) for parent, t in points]
            last += [(g, [])] * (k - fresh_counts[g] - len(points))
        played = sampler.play(
            [seeds[g] for g, _ in last], [g for g, _ in last], prefixes=[p for _, p in last]
        )
        branches = sum(1 for _, prefix in last if prefix)
        self.rollout_counts = {
            "fresh": float(len(fresh) + len(last) - branches),
            "branches": float(branches),
        }
        return sorted(fresh + played, key=lambda e: e.group)

    def branch_points(
        self, fresh: list[Episode], budget: int, root_entropy: float
    ) -> list[tuple[Episode, int]]:
        """Up to ``budget`` (rollout, step) pairs to branch at, drawn by entropy.

        Candidates are the steps t ≥ 1 (after a tool or environment response) of the fresh
        rollouts, in order; each sweep over them branches a step with probability
        clip(p + w·(H_t − H_root) − c·l, 0, 1), where l counts the branches already taken
        along that rollout (branches are made from fresh rollouts only, so a rollout's
        chain of branching steps is its own). Three sweeps at most; the rest of the budget
        is left to fresh rollouts.
        """
        config = self.config
        candidates = [(e, t) for e in fresh for t in range(1, len(e.turns))]
        chosen: list[tuple[Episode, int]] = []
        taken: Counter[int] = Counter()
        for _ in range(3):
            for episode, t in candidates:
                if len(chosen) >= budget:
                    return chosen
                rise = head_entropy(episode.turns[t], config.monitor_tokens) - root_entropy
                probability = (
                    config.branch_probability
                    + config.branch_entropy_weight * rise
                    - config.branch_penalty * taken[id(episode)]
                )
                if float(torch.rand((), generator=self.generator)) < probability:
                    chosen.append((episode, t))
                    taken[id(episode)] += 1
        return chosen

    def start(self, total_iterations: int, seed: int) -> None:
        """Seed the branching draws from the run."""
        self.generator.manual_seed(seed)

    def end_iteration(self, metrics: dict[str, float]) -> dict[str, float]:
        """Report the rollout's fresh and branched episodes when balancing is on."""
        out = super().end_iteration(metrics)
        if self.config.entropy_balanced_rollout:
            out.update(
                fresh_rollouts=self.rollout_counts["fresh"],
                branches=self.rollout_counts["branches"],
            )
        return out

    def state_dict(self) -> dict[str, Any]:
        """Iteration and the branching generator."""
        return {**super().state_dict(), "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`."""
        super().load_state_dict(state)
        if "generator" in state:
            self.generator.set_state(state["generator"])

    def token_advantages(
        self, training: TrainingSet, batch: TokenBatch, values: torch.Tensor | None
    ) -> torch.Tensor:
        """A·(1 + a·z(H)) with H the sampling entropy of each action token."""
        advantages = super().token_advantages(training, batch, values)
        entropy = batch.broadcast_tokens(
            [[h for t in e.turns for h in t.entropies] for e in training.episodes]
        )
        selected = batch.loss_mask.bool()
        if selected.sum() < 2:
            return advantages
        values_h = entropy[selected]
        z = torch.zeros_like(entropy)
        z[selected] = (values_h - values_h.mean()) / (values_h.std() + 1e-8)
        return advantages * (1.0 + self.config.entropy_advantage_weight * z) * batch.loss_mask
