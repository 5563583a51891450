"""The small interface every algorithm implements over the shared trainer.

An algorithm is one file: a frozen, keyword-only config dataclass whose defaults are the
paper's, and a subclass of :class:`Algorithm` that supplies turn-level advantages (or
token-level ones) and, if it needs to, a token loss of its own, an extra loss term, a filter
on the rollout, trainable parameters (a value head) and state that survives checkpoints.
The trainer does the rest: rollouts, batching, the forward pass, loss aggregation, the
optimizer, logging and checkpoints.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import torch

from palaestra.agents.records import Episode
from palaestra.algorithms.batch import TokenBatch
from palaestra.algorithms.losses import LOSS_AGGREGATIONS, LossAggregation, clipped_surrogate
from palaestra.errors import InvalidArgumentError


@dataclass(frozen=True, kw_only=True)
class PolicyLossConfig:
    """Loss settings shared by every algorithm (defaults: the original GRPO paper).

    Attributes:
        clip_low: ε_low of the clipped surrogate (PPO, GRPO: 0.2).
        clip_high: ε_high (0.2; DAPO's clip-higher uses 0.28).
        dual_clip: c of dual-clip PPO for negative advantages (None: off).
        loss_aggregation: ``token_mean`` (DAPO), ``seq_mean_token_mean`` (GRPO) or
            ``seq_mean_token_sum_norm`` (Dr. GRPO).
        loss_norm_length: The constant length of ``seq_mean_token_sum_norm`` (None: the
            longest response of the batch).
        kl_coef: Weight of the k3 KL to the frozen initial policy (GRPO: 0.04; DAPO and
            Dr. GRPO: 0).
        entropy_coef: Weight of a token-entropy bonus (0: off).
        covariance_control: ``none``, ``clip_cov`` or ``kl_cov`` (Cui et al., 2025): keep
            the tokens whose advantage and log-prob covary most from collapsing entropy.
        clip_cov_ratio: Clip-Cov: fraction r of tokens detached (paper: 2e-4).
        clip_cov_lower: Clip-Cov: lower covariance bound (paper: 1).
        clip_cov_upper: Clip-Cov: upper covariance bound (paper: 5).
        kl_cov_ratio: KL-Cov: fraction k of tokens penalized (paper: 0.002).
        kl_cov_coef: KL-Cov: β (paper: 1).
    """

    clip_low: float = 0.2
    clip_high: float = 0.2
    dual_clip: float | None = None
    loss_aggregation: LossAggregation = "seq_mean_token_mean"
    loss_norm_length: int | None = None
    kl_coef: float = 0.0
    entropy_coef: float = 0.0
    covariance_control: Literal["none", "clip_cov", "kl_cov"] = "none"
    clip_cov_ratio: float = 2e-4
    clip_cov_lower: float = 1.0
    clip_cov_upper: float = 5.0
    kl_cov_ratio: float = 0.002
    kl_cov_coef: float = 1.0

    def __post_init__(self) -> None:
        if self.covariance_control not in ("none", "clip_cov", "kl_cov"):
            raise InvalidArgumentError(
                "covariance_control must be none, clip_cov or kl_cov, "
                f"got {self.covariance_control!r}"
            )
        if self.loss_aggregation not in LOSS_AGGREGATIONS:
            raise InvalidArgumentError(
                f"loss_aggregation must be one of {LOSS_AGGREGATIONS}, "
                f"got {self.loss_aggregation!r}"
            )
        if not (0 <= self.clip_low < 1 and self.clip_high >= 0):
            raise InvalidArgumentError("clip_low must lie in [0, 1) and clip_high be >= 0")
        if self.dual_clip is not None and self.dual_clip <= 1:
            raise InvalidArgumentError(f"dual_clip must be > 1, got {self.dual_clip}")
        if self.kl_coef < 0:
            raise InvalidArgumentError(f"kl_coef must be >= 0, got {self.kl_coef}")


@dataclass
class LossContext:
    """What a loss hook sees for one micro-batch.

    Attributes:
        batch: The micro-batch.
        rows: Its rows in the whole batch.
        logprobs: log π_θ of the targets (with gradient).
        old_logprobs: log π_old of the targets.
        entropy: Entropy of π_θ at each target position (with gradient).
        advantages: Token advantages.
        mask: The loss mask.
        hidden: Last hidden states ``[n, L-1, H]`` (only for algorithms with values).
        extras: Anything the trainer adds (reference log-probs, iteration, ...).
    """

    batch: TokenBatch
    rows: torch.Tensor
    logprobs: torch.Tensor
    old_logprobs: torch.Tensor
    entropy: torch.Tensor
    advantages: torch.Tensor
    mask: torch.Tensor
    hidden: torch.Tensor | None = None
    extras: dict[str, Any] = field(default_factory=dict)


class Algorithm:
    """Base class: GRPO-style clipped loss on turn advantages broadcast to tokens.

    Subclasses set ``name`` and ``config_class`` and implement :meth:`turn_advantages`
    (or :meth:`token_advantages`).

    Args:
        config: The algorithm's config.
    """

    name: ClassVar[str] = ""
    config_class: ClassVar[type[PolicyLossConfig]] = PolicyLossConfig
    #: Whether the trainer must run a no-grad pass for values (hidden states) first.
    needs_values: ClassVar[bool] = False
    #: The per-token policy loss (PPO-clip; agentic AEPO swaps in its own).
    surrogate: ClassVar[Callable[..., tuple[torch.Tensor, torch.Tensor]]] = staticmethod(
        clipped_surrogate
    )

    def __init__(self, config: PolicyLossConfig | None = None) -> None:
        self.config = config or self.config_class()
        self.iteration = 0

    # ------------------------------------------------------------------ hooks

    def check_env(self, env: Any) -> None:
        """Fail at config time if the environment cannot support this algorithm."""

    def start(self, total_iterations: int) -> None:
        """Called once before training with the run's number of iterations (schedules)."""

    def filter_episodes(self, episodes: list[Episode]) -> list[Episode]:
        """Drop episodes before training (DAPO's dynamic sampling); default: keep all."""
        return episodes

    def training_episodes(
        self, episodes: list[Episode], play: Callable[[int, float], list[Episode]]
    ) -> list[Episode]:
        """The episodes to train on; default: the rollout.

        Algorithms add others (regularization sets, replays) or swap them in for rollout rows.

        Args:
            episodes: The iteration's (filtered) rollout.
            play: ``play(groups, temperature)`` plays that many more seeds x group size
                episodes at that temperature (seeds and group ids of their own).
        """
        return episodes

    def turn_advantages(self, episodes: Sequence[Episode]) -> list[list[float]]:
        """Advantage of every turn of every episode."""
        raise NotImplementedError

    def token_advantages(
        self, episodes: Sequence[Episode], batch: TokenBatch, values: torch.Tensor | None
    ) -> torch.Tensor:
        """Token advantages ``[n, L-1]``; default: turn advantages broadcast to tokens."""
        return batch.broadcast(self.turn_advantages(episodes))

    def token_loss(self, ctx: LossContext) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-token loss and a 0/1 clipped indicator from the class's ``surrogate``."""
        return type(self).surrogate(
            ctx.logprobs,
            ctx.old_logprobs,
            ctx.advantages,
            clip_low=self.config.clip_low,
            clip_high=self.config.clip_high,
            dual_clip=self.config.dual_clip,
        )

    def extra_loss(self, ctx: LossContext, aggregate: Any) -> torch.Tensor | None:
        """An extra loss term for the micro-batch (``aggregate(token_values, mask)``)."""
        return None

    def parameters(self) -> list[torch.nn.Parameter]:
        """Trainable parameters the algorithm owns (a value head)."""
        return []

    def end_iteration(self, metrics: dict[str, float]) -> dict[str, float]:
        """Called after each update; may return metrics to log. Advances ``iteration``."""
        self.iteration += 1
        return {}

    def state_dict(self) -> dict[str, Any]:
        """State that must survive a checkpoint."""
        return {"iteration": self.iteration}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`."""
        self.iteration = int(state.get("iteration", 0))


# ---------------------------------------------------------------------- helpers


def episode_returns(episodes: Sequence[Episode]) -> list[float]:
    """Undiscounted return of each episode."""
    return [e.total_reward for e in episodes]


def group_indices(episodes: Sequence[Episode]) -> dict[int, list[int]]:
    """Episode indices by group id, in order."""
    groups: dict[int, list[int]] = defaultdict(list)
    for index, episode in enumerate(episodes):
        groups[episode.group].append(index)
    return dict(groups)


def group_normalized(
    values: Sequence[float], episodes: Sequence[Episode], *, scale: bool, eps: float = 1e-6
) -> list[float]:
    """(x − group mean) / (group std + eps), or without the std when ``scale`` is false.

    The standard deviation is the sample (unbiased, n − 1) one, as in the GRPO reference
    implementations (``torch.std``); a group of one has advantage 0.
    """
    out = [0.0] * len(values)
    for members in group_indices(episodes).values():
        x = torch.tensor([values[i] for i in members], dtype=torch.float64)
        if len(members) < 2:
            continue
        centred = x - x.mean()
        if scale:
            centred = centred / (x.std() + eps)
        for i, value in zip(members, centred.tolist(), strict=True):
            out[i] = value
    return out


def broadcast_episode(values: Sequence[float], episodes: Sequence[Episode]) -> list[list[float]]:
    """The same value for every turn of each episode."""
    return [[value] * len(e.turns) for value, e in zip(values, episodes, strict=True)]
