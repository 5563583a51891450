"""Arbitrary entropy policy optimization (AEPO, Wang et al., 2025): entropy at a chosen target.

No entropy bonus. Each iteration, besides the main rollouts (at the run's temperature, 1),
a regularization set of a quarter of the prompts is sampled at temperature T: T_high (1.2)
when the last measured token entropy is below the target H_target, T_low (0.8) otherwise.
Its samples with positive group advantage are trained with a REINFORCE term of weight α,
−α·A·log π, aggregated over their own tokens; the main samples with GRPO's clipped loss.
Regularization samples without a positive advantage enter no loss and no denominator.
Sampling hotter raises entropy and colder lowers it, so entropy is pulled toward the
target. The "last measured" entropy is the mean sampling entropy of this iteration's main
rollout.

The released code instead replaces rows of the batch with the positive regularization
samples: up to 60, half as many above the target. The weighted term is the default here;
``replace_rows`` switches to the replacement scheme. Replaced rows are dropped after the main
advantages are computed, so the rows that stay keep their full-group advantages.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import torch

from palaestra.algorithms.base import LossContext, Sampler, TokenLoss, TrainingSet, group_indices
from palaestra.algorithms.grpo import GRPO, GRPOConfig
from palaestra.errors import InvalidArgumentError
from palaestra.rollout.records import Episode


@dataclass(frozen=True, kw_only=True)
class ArbitraryAEPOConfig(GRPOConfig):
    """Arbitrary-entropy AEPO settings (defaults: the paper).

    Attributes:
        target_entropy: H_target (0.5).
        temperature_high: T when entropy is below target (1.2).
        temperature_low: T when entropy is at or above target (0.8).
        regularization_fraction: Share of the prompts (groups) in the regularization set
            (a quarter).
        regularization_weight: α of the REINFORCE term.
        replace_rows: 0 for the weighted term; otherwise the released code's scheme: up to
            this many rows of the rollout (half as many above the target) are replaced by
            positive-advantage regularization samples (released value: 60).
        regularization_advantage: The advantage of a positive regularization sample:
            ``group`` (the paper's: its group-normalized advantage, so better samples pull
            harder) or ``one`` (the released code's: A := 1 for every positive sample).
            Default ``group``: the paper's equation, which keeps the REINFORCE term on the
            same scale as the policy loss whatever the group size.
    """

    target_entropy: float = 0.5
    temperature_high: float = 1.2
    temperature_low: float = 0.8
    regularization_fraction: float = 0.25
    regularization_weight: float = 1.0
    replace_rows: int = 0
    regularization_advantage: Literal["group", "one"] = "group"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.replace_rows < 0:
            raise InvalidArgumentError(f"replace_rows must be >= 0, got {self.replace_rows}")
        if self.regularization_advantage not in ("group", "one"):
            raise InvalidArgumentError(
                "regularization_advantage must be group or one, got "
                f"{self.regularization_advantage!r}"
            )


class ArbitraryAEPO(GRPO):
    """GRPO plus a temperature-steered, positive-advantage REINFORCE regularization set."""

    name = "aepo_arbitrary"
    config_class = ArbitraryAEPOConfig
    config: ArbitraryAEPOConfig

    def __init__(self, config: ArbitraryAEPOConfig | None = None) -> None:
        super().__init__(config)
        self.last_entropy: float | None = None
        self.temperature = 0.0

    def choose_temperature(self, entropy: float | None) -> float:
        """T_high below the target (or with no measurement yet), else T_low."""
        if entropy is None or entropy < self.config.target_entropy:
            return self.config.temperature_high
        return self.config.temperature_low

    def select_episodes(self, episodes: list[Episode], sampler: Sampler) -> TrainingSet:
        """Measure the rollout's entropy, sample the regularization set, add or swap it in."""
        tokens = [h for e in episodes for t in e.turns for h in t.entropies]
        if tokens:
            self.last_entropy = sum(tokens) / len(tokens)
        self.temperature = self.choose_temperature(self.last_entropy)
        groups = max(
            1, math.ceil(self.config.regularization_fraction * len(group_indices(episodes)))
        )
        regular = sampler.rollout(groups, temperature=self.temperature, stream=1)
        # Advantages of each set within its own full groups, before any row is dropped.
        main_advantages = super().turn_advantages(episodes)
        advantages = [
            [self._regularization_advantage(a) for a in row]
            for row in super().turn_advantages(regular)
        ]
        if self.config.replace_rows:
            limit = self.config.replace_rows
            if self.last_entropy is not None and self.last_entropy >= self.config.target_entropy:
                limit //= 2
            positive = [i for i, row in enumerate(advantages) if any(a > 0 for a in row)]
            chosen = positive[: min(limit, len(episodes))]
            regular = [regular[i] for i in chosen]
            advantages = [advantages[i] for i in chosen]
            episodes = episodes[: len(episodes) - len(chosen)]
        return TrainingSet(
            episodes + regular,
            main=len(episodes),
            extra_weight=self.config.regularization_weight,
            advantages=main_advantages[: len(episodes)] + advantages,
        )

    def _regularization_advantage(self, advantage: float) -> float:
        if advantage <= 0:
            return 0.0
        return 1.0 if self.config.regularization_advantage == "one" else advantage

    def token_loss(self, ctx: LossContext) -> TokenLoss:
        """Clipped loss on main rows; REINFORCE −A·log π on regularization rows.

        α, the REINFORCE term's weight, is the training set's ``extra_weight``.
        """
        loss, clipped, _ = super().token_loss(ctx)
        reinforce = -ctx.advantages * ctx.logprobs
        return TokenLoss(torch.where(ctx.extra, reinforce, loss), clipped * (~ctx.extra))

    def end_iteration(self, metrics: dict[str, float]) -> dict[str, float]:
        """Report the measured entropy and the regularization temperature."""
        out = super().end_iteration(metrics)
        return {
            **out,
            "measured_entropy": self.last_entropy or 0.0,
            "regularization_temperature": self.temperature,
        }

    def state_dict(self) -> dict[str, Any]:
        """Iteration and last measured entropy."""
        return {**super().state_dict(), "last_entropy": self.last_entropy}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the iteration and last measured entropy."""
        super().load_state_dict(state)
        self.last_entropy = state.get("last_entropy")
