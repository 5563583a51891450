"""The small interface every algorithm implements over the shared trainer.

An algorithm is one file: a frozen, keyword-only config dataclass whose defaults are the
paper's, and a subclass of :class:`Algorithm` that supplies turn-level advantages (or
token-level ones) and, if it needs to, any of the other hooks :class:`Algorithm` declares:
its own rollout (through a :class:`Sampler`), the episodes to train on (a
:class:`TrainingSet`), a token loss, the tokens covariance control acts on, an extra loss
term, a value head, a scorer and state that survives checkpoints. The trainer does the
rest: rollouts, batching, the forward passes, mini-batches, loss aggregation, the
optimizer, logging and checkpoints.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, NamedTuple, Protocol

import torch

from palaestra.algorithms.batch import TokenBatch
from palaestra.algorithms.losses import (
    LOSS_AGGREGATIONS,
    LossAggregation,
    clip_cov_tokens,
    clipped_surrogate,
    kl_cov_loss,
    kl_cov_tokens,
    token_covariance,
)
from palaestra.errors import InvalidArgumentError
from palaestra.rollout.records import Episode, Turn


@dataclass(frozen=True, kw_only=True)
class PolicyLossConfig:
    """Loss settings shared by every algorithm (defaults: the original GRPO paper).

    Attributes:
        clip_low: ε_low of the clipped surrogate (PPO, GRPO: 0.2).
        clip_high: ε_high (0.2; DAPO's clip-higher uses 0.28).
        dual_clip: c of dual-clip PPO for negative advantages (None: off).
        loss_aggregation: ``token_mean`` (DAPO), ``seq_mean_token_mean`` (GRPO) or
            ``seq_mean_token_sum_norm`` (Dr. GRPO).
        loss_norm_length: The constant of ``seq_mean_token_sum_norm`` (None: the token
            budget of a sequence, ``max_new_tokens`` x the most turns it can hold).
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


class Sampler(Protocol):
    """How an algorithm asks the trainer for episodes (all played on the current policy).

    Attributes:
        groups: Seeds per iteration.
        group_size: Episodes per seed (G).
    """

    groups: int
    group_size: int

    def rollout(
        self, groups: int | None = None, *, temperature: float | None = None, stream: int = 0
    ) -> list[Episode]:
        """``groups`` seeds x ``group_size`` episodes.

        ``stream`` 1 gives extra rollouts seeds and group ids of their own.
        """
        ...

    def seeds(self, groups: int | None = None, *, stream: int = 0) -> list[int]:
        """The seed of each of this iteration's groups (``rollout`` plays these)."""
        ...

    def play(
        self,
        seeds: Sequence[int],
        group_ids: Sequence[int],
        *,
        prefixes: Sequence[Sequence[Turn]] | None = None,
        temperature: float | None = None,
    ) -> list[Episode]:
        """One episode per seed.

        An episode with a prefix replays those turns first (the same tokens, the same
        actions) and samples from there on: a branch.
        """
        ...


@dataclass
class TrainingSet:
    """The episodes one update trains on.

    The first ``main`` are on-policy rollout episodes (the policy loss); the rest are an
    extra term (replays, regularization samples), aggregated over their own tokens and
    weighted by ``extra_weight``. Extra episodes whose advantage is zero everywhere enter
    no loss and no denominator.

    Attributes:
        episodes: Main episodes, then extra ones.
        main: How many are main.
        extra_weight: Weight of the extra term.
        advantages: Turn advantages already computed while selecting (for instance over
            full groups before rows were dropped); None: the algorithm computes them.
    """

    episodes: list[Episode]
    main: int
    extra_weight: float = 1.0
    advantages: list[list[float]] | None = None

    @classmethod
    def of(cls, episodes: Sequence[Episode]) -> TrainingSet:
        """A set of main episodes only."""
        return cls(list(episodes), main=len(episodes))

    @property
    def extra(self) -> list[Episode]:
        """The extra episodes."""
        return self.episodes[self.main :]


class TokenLoss(NamedTuple):
    """What a token loss returns.

    Attributes:
        loss: The per-token loss.
        clipped: 0/1: the tokens whose ratio the loss clipped.
        log_ratio: log π_θ − log π_old as the loss used it (None: against
            ``ctx.old_logprobs``); the update's ratio statistics follow it.
    """

    loss: torch.Tensor
    clipped: torch.Tensor
    log_ratio: torch.Tensor | None = None


@dataclass
class LossContext:
    """What a loss hook sees for one micro-batch (tensors ``[n, L-1]`` unless noted).

    Attributes:
        batch: The micro-batch.
        rows: Its rows in the whole batch (``[n]``).
        minibatch: The rows of its mini-batch (one optimizer step) in the whole batch.
        logprobs: log π_θ of the targets (with gradient).
        old_logprobs: log π_old of the targets (the policy that sampled).
        sample_logprobs: Log-probs recorded when the tokens were sampled (for replays, the
            policy of an earlier iteration).
        entropy: Entropy of π_θ at each target position (with gradient).
        advantages: Token advantages.
        mask: The loss mask.
        extra: ``[n, 1]`` whether each row belongs to the extra term.
        covariance: 0/1: tokens chosen by Clip-Cov or KL-Cov over the whole batch.
        ref_logprobs: log π_ref, where the run has a KL term.
        hidden: Last hidden states ``[n, L-1, H]`` (only for algorithms with values).
        iteration: The iteration.
    """

    batch: TokenBatch
    rows: torch.Tensor
    minibatch: torch.Tensor
    logprobs: torch.Tensor
    old_logprobs: torch.Tensor
    sample_logprobs: torch.Tensor
    entropy: torch.Tensor
    advantages: torch.Tensor
    mask: torch.Tensor
    extra: torch.Tensor
    covariance: torch.Tensor
    ref_logprobs: torch.Tensor | None = None
    hidden: torch.Tensor | None = None
    iteration: int = 0


Aggregate = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Scorer = Callable[[Sequence[tuple[Sequence[int], Sequence[int]]]], list[float]]


class Algorithm:
    """Base class: GRPO-style clipped loss on turn advantages broadcast to tokens.

    Every hook the trainer calls is declared here, with a default; subclasses set ``name``
    and ``config_class`` and implement :meth:`turn_advantages` (or :meth:`token_advantages`).
    In the order the trainer calls them in an iteration: :meth:`rollout`,
    :meth:`select_episodes`, :meth:`token_advantages`, :meth:`covariance_tokens`, then per
    micro-batch :meth:`token_loss` and :meth:`extra_loss`, and :meth:`end_iteration`.

    Args:
        config: The algorithm's config.
    """

    name: ClassVar[str] = ""
    config_class: ClassVar[type[PolicyLossConfig]] = PolicyLossConfig
    #: Whether the trainer must build a value head and pass values (PPO).
    needs_values: ClassVar[bool] = False
    #: Whether the trainer must attach its teacher-forced scorer (IGPO).
    needs_scorer: ClassVar[bool] = False
    #: The per-token policy loss (PPO-clip; agentic AEPO swaps in its own).
    surrogate: ClassVar[Callable[..., tuple[torch.Tensor, torch.Tensor]]] = staticmethod(
        clipped_surrogate
    )

    def __init__(self, config: PolicyLossConfig | None = None) -> None:
        self.config = config or self.config_class()
        self.iteration = 0

    # ------------------------------------------------------------------ set-up hooks

    def check_env(self, env: Any) -> None:
        """Fail at config time if the environment cannot support this algorithm."""

    def start(self, total_iterations: int, seed: int) -> None:
        """Called once before training.

        Args:
            total_iterations: The run's iterations (for schedules).
            seed: Seed of the algorithm's own randomness (different on each process).
        """

    def build_value_head(self, hidden_size: int) -> None:
        """Create the value head for a model of width ``hidden_size`` (``needs_values``)."""
        raise NotImplementedError(f"{self.name} has no value head")

    def values(self, hidden: torch.Tensor) -> torch.Tensor:
        """V at every position ``[n, L-1]`` from the last hidden states (``needs_values``)."""
        raise NotImplementedError(f"{self.name} has no value head")

    def attach_scorer(self, scorer: Scorer, tokenize: Callable[[str], list[int]]) -> None:
        """Receive the trainer's teacher-forced scorer and tokenizer (``needs_scorer``)."""

    # ------------------------------------------------------------------ iteration hooks

    def rollout(self, sampler: Sampler) -> list[Episode]:
        """The iteration's rollout; default: ``groups`` seeds x ``group_size`` episodes."""
        return sampler.rollout()

    def select_episodes(self, episodes: list[Episode], sampler: Sampler) -> TrainingSet:
        """The episodes to train on; default: the whole rollout.

        Algorithms drop groups (DAPO's dynamic sampling) or add an extra term (replays,
        regularization sets sampled through ``sampler``).
        """
        return TrainingSet.of(episodes)

    def turn_advantages(self, episodes: Sequence[Episode]) -> list[list[float]]:
        """Advantage of every turn of every episode."""
        raise NotImplementedError

    def token_advantages(
        self, training: TrainingSet, batch: TokenBatch, values: torch.Tensor | None
    ) -> torch.Tensor:
        """Token advantages ``[n, L-1]``; default: turn advantages broadcast to tokens."""
        if training.advantages is not None:
            return batch.broadcast(training.advantages)
        return batch.broadcast(self.turn_advantages(training.episodes))

    def covariance_tokens(
        self,
        advantages: torch.Tensor,
        logprobs: torch.Tensor,
        mask: torch.Tensor,
        extra: torch.Tensor,
        generator: torch.Generator,
    ) -> torch.Tensor:
        """Tokens Clip-Cov or KL-Cov act on, chosen once over the whole batch.

        Cov is computed over all the batch's action tokens, whatever the micro-batch size
        (every training process holds the whole batch).

        Args:
            advantages: Token advantages of the whole batch.
            logprobs: Log-probs of the policy that sampled (the pre-pass).
            mask: The loss mask.
            extra: ``[n]`` rows of the extra term.
            generator: Seeded randomness of Clip-Cov's choice (the same on every process).
        """
        config = self.config
        if config.covariance_control == "none":
            return torch.zeros_like(mask)
        covariance = token_covariance(advantages, logprobs, mask)
        if config.covariance_control == "kl_cov":
            return kl_cov_tokens(covariance, mask, ratio=config.kl_cov_ratio)
        return clip_cov_tokens(
            covariance,
            mask,
            ratio=config.clip_cov_ratio,
            lower=config.clip_cov_lower,
            upper=config.clip_cov_upper,
            generator=generator,
        )

    def token_loss(self, ctx: LossContext) -> TokenLoss:
        """Per-token policy loss: the class's ``surrogate``, with covariance control.

        Clip-Cov passes no gradient through its chosen tokens; KL-Cov replaces the clip by
        the unclipped −A·ρ plus β·|log ρ| on its chosen tokens (as in the reference code).
        """
        config = self.config
        if config.covariance_control == "kl_cov":
            loss = kl_cov_loss(
                ctx.logprobs,
                ctx.old_logprobs,
                ctx.advantages,
                ctx.covariance,
                coef=config.kl_cov_coef,
            )
            return TokenLoss(loss, torch.zeros_like(loss))
        loss, clipped = type(self).surrogate(
            ctx.logprobs,
            ctx.old_logprobs,
            ctx.advantages,
            clip_low=config.clip_low,
            clip_high=config.clip_high,
            dual_clip=config.dual_clip,
        )
        if config.covariance_control == "clip_cov":
            loss = torch.where(ctx.covariance.bool(), loss.detach(), loss)
        return TokenLoss(loss, clipped)

    def extra_loss(self, ctx: LossContext, aggregate: Aggregate) -> torch.Tensor | None:
        """An extra loss term for the micro-batch.

        ``aggregate(token_values, mask)`` gives the micro-batch's share of the mini-batch
        mean over the main term's tokens.
        """
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
