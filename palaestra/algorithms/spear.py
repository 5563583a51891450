"""SPEAR, self-imitation with progressive exploration for agentic RL (Qin et al., 2025).

* **Tool-call reward, annealed**: R = R_outcome + μ_k·R_tool, R_tool = min(1, 0.1·number of
  tool calls), μ_k = (cos(πk/K_t) + 1)/2 for k ≤ K_t, then 0: early on the agent is paid to
  use its tools, later only to succeed.
* **Self-imitation**: trajectories with positive advantage go to a replay buffer (capacity
  2048; entries older than ``tolerate_steps`` iterations are dropped), and a FIFO D_R keeps
  per-group mean rewards (10,240). Once the buffer holds ``replay_size`` trajectories, each
  iteration replays that many: recalibrated advantage Ã = R − median(D_R), only Ã > 0 kept,
  PPO-clip loss against the stored collection-time log-probs, weighted by
  γ_k = c·(1 − cos(πk/K_r))/2 for k ≤ K_r, then c.
* **Clip-Cov** on both losses, each over its own tokens (on-policy: r = 2e-4, lb 1, ub 5;
  replay: r = 0.02, lb 1, ub 40).
* The loss is L_on + γ_k·L_replay, each term aggregated over its own tokens; replays whose
  recalibrated advantage is 0 enter neither term nor any denominator.
* The base estimator (``base``: GRPO, RLOO or GiGPO) runs on the shaped rewards, Dr. GRPO
  style by default (no std, no KL, ε 0.2/0.28).

Buffer, reward FIFO, schedules' step and the Clip-Cov generator are checkpointed.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import statistics
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

import torch

from palaestra.algorithms.base import (
    Algorithm,
    LossContext,
    Sampler,
    TokenLoss,
    TrainingSet,
    broadcast_episode,
    group_indices,
)
from palaestra.algorithms.gigpo import GiGPO, GiGPOConfig, GiGPOMode
from palaestra.algorithms.grpo import GRPO, GRPOConfig
from palaestra.algorithms.losses import clip_cov_tokens, token_covariance
from palaestra.algorithms.rloo import RLOO, RLOOConfig
from palaestra.errors import InvalidArgumentError
from palaestra.rollout.records import Episode

#: Episode metrics that count tool calls, in order of preference.
TOOL_METRICS = ("tool_calls", "searches")


@dataclass(frozen=True, kw_only=True)
class SPEARConfig(GRPOConfig):
    """SPEAR settings (defaults: the paper's ALFWorld recipe).

    Attributes:
        base: On-policy advantage estimator: grpo, rloo or gigpo.
        tool_reward: Add the annealed tool-call reward (needs an env that counts tool calls).
        tool_warmup: K_t, iterations over which μ_k anneals to 0 (200).
        buffer_capacity: Replay buffer size (2048).
        tolerate_steps: Buffer entries older than this many iterations are dropped (10).
        reward_fifo: Size of D_R, the FIFO of group mean rewards (10,240).
        replay_size: Trajectories replayed per iteration once the buffer holds that many.
        replay_warmup: K_r, iterations over which the replay weight rises to c (100).
        replay_coef: c (1).
        replay_clip_cov_ratio: Clip-Cov r on the replay loss (0.02).
        replay_clip_cov_upper: Clip-Cov ub on the replay loss (40).
    """

    base: Literal["grpo", "rloo", "gigpo"] = "grpo"
    scale_rewards: bool = False
    clip_high: float = 0.28
    covariance_control: Literal["none", "clip_cov", "kl_cov"] = "clip_cov"
    tool_reward: bool = True
    tool_warmup: int = 200
    buffer_capacity: int = 2048
    tolerate_steps: int = 10
    reward_fifo: int = 10_240
    replay_size: int = 16
    replay_warmup: int = 100
    replay_coef: float = 1.0
    replay_clip_cov_ratio: float = 0.02
    replay_clip_cov_upper: float = 40.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.covariance_control == "kl_cov":
            raise InvalidArgumentError(
                "SPEAR uses Clip-Cov (or none): KL-Cov drops the ratio clip, and replays of "
                "trajectories up to tolerate_steps iterations old need it"
            )
        if self.base not in ("grpo", "rloo", "gigpo"):
            raise InvalidArgumentError(f"SPEAR base must be grpo, rloo or gigpo, got {self.base!r}")
        for name in (
            "tool_warmup",
            "buffer_capacity",
            "reward_fifo",
            "replay_size",
            "replay_warmup",
        ):
            if getattr(self, name) < 1:
                raise InvalidArgumentError(f"{name} must be >= 1, got {getattr(self, name)}")


def tool_weight(iteration: int, warmup: int) -> float:
    """μ_k = (cos(πk/K_t) + 1)/2 for k ≤ K_t, then 0."""
    return (math.cos(math.pi * iteration / warmup) + 1) / 2 if iteration <= warmup else 0.0


def replay_weight(iteration: int, warmup: int, coef: float) -> float:
    """γ_k = c·(1 − cos(πk/K_r))/2 for k ≤ K_r, then c."""
    return coef * (1 - math.cos(math.pi * iteration / warmup)) / 2 if iteration <= warmup else coef


@dataclass
class BufferEntry:
    """A replayable trajectory and the iteration it was collected in."""

    episode: Episode
    iteration: int


class SPEAR(Algorithm):
    """Base estimator on tool-shaped rewards, plus self-imitation from a replay buffer."""

    name = "spear"
    config_class = SPEARConfig
    config: SPEARConfig

    def __init__(self, config: SPEARConfig | None = None) -> None:
        super().__init__(config)
        self.buffer: deque[BufferEntry] = deque(maxlen=self.config.buffer_capacity)
        self.group_rewards: deque[float] = deque(maxlen=self.config.reward_fifo)
        self.generator = torch.Generator().manual_seed(0)
        self.tool_metric: str | None = None

    def check_env(self, env: Any) -> None:
        """The tool reward needs an env that counts tool calls in its episode metrics."""
        if not self.config.tool_reward:
            return
        env.reset(seed=0)
        metrics = (
            env.unwrapped.episode_metrics() if hasattr(env.unwrapped, "episode_metrics") else {}
        )
        found = [m for m in TOOL_METRICS if m in metrics]
        if not found:
            name = env.spec.id if env.spec is not None else type(env.unwrapped).__name__
            raise InvalidArgumentError(
                f"SPEAR's tool reward needs tool calls, and {name} counts none (its episode "
                f"metrics have no {' or '.join(TOOL_METRICS)}); use a tool env (SearchQA, "
                "MathTool) or --algo.no-tool-reward"
            )
        self.tool_metric = found[0]

    def shaped_return(self, episode: Episode) -> float:
        """R_outcome + μ_k·min(1, 0.1·tool calls)."""
        reward = episode.total_reward
        if self.config.tool_reward and self.tool_metric is not None:
            calls = episode.metrics.get(self.tool_metric, 0.0)
            reward += tool_weight(self.iteration, self.config.tool_warmup) * min(1.0, 0.1 * calls)
        return reward

    def select_episodes(self, episodes: list[Episode], sampler: Sampler) -> TrainingSet:
        """The rollout, plus ``replay_size`` buffered trajectories once there are enough.

        Stale entries are dropped first; replays are the extra term, weighted by γ_k.
        """
        while (
            self.buffer and self.iteration - self.buffer[0].iteration > self.config.tolerate_steps
        ):
            self.buffer.popleft()
        replayed = []
        if len(self.buffer) >= self.config.replay_size:
            picks = torch.randperm(len(self.buffer), generator=self.generator)
            for k, index in enumerate(sorted(picks[: self.config.replay_size].tolist())):
                episode = copy.copy(self.buffer[index].episode)
                episode.group = -1 - k  # never mixed into an on-policy group
                replayed.append(episode)
        weight = replay_weight(self.iteration, self.config.replay_warmup, self.config.replay_coef)
        training = TrainingSet(episodes + replayed, main=len(episodes), extra_weight=weight)
        training.advantages = self.training_advantages(training)
        return training

    def turn_advantages(self, episodes: Sequence[Episode]) -> list[list[float]]:
        """The base estimator's advantages on tool-shaped returns (no replay, no buffer)."""
        shaped = [replace(e, turns=[copy.copy(t) for t in e.turns]) for e in episodes]
        for original, episode in zip(episodes, shaped, strict=True):
            extra = self.shaped_return(original) - original.total_reward
            if episode.turns:
                episode.turns[-1].reward += extra
        return self._base().turn_advantages(shaped)

    def training_advantages(self, training: TrainingSet) -> list[list[float]]:
        """Base advantages on the rollout; Ã⁺ = max(0, R − median(D_R)) on replays.

        Then the rollout's groups enter D_R and its positive-advantage trajectories the
        buffer (after the replays were scored against the groups seen before): call it
        once per iteration (:meth:`select_episodes` does).
        """
        main, replayed = training.episodes[: training.main], training.extra
        advantages = self.turn_advantages(main)
        median = statistics.median(self.group_rewards) if self.group_rewards else 0.0
        recalibrated = [max(0.0, e.total_reward - median) for e in replayed]
        advantages += broadcast_episode(recalibrated, replayed)
        for members in group_indices(main).values():
            self.group_rewards.append(sum(main[i].total_reward for i in members) / len(members))
        for episode, row in zip(main, advantages[: len(main)], strict=True):
            if row and row[0] > 0:
                self.buffer.append(BufferEntry(episode, self.iteration))
        return advantages

    def covariance_tokens(
        self,
        advantages: torch.Tensor,
        logprobs: torch.Tensor,
        mask: torch.Tensor,
        extra: torch.Tensor,
        generator: torch.Generator,
    ) -> torch.Tensor:
        """Clip-Cov on each loss, over its own tokens.

        On-policy rows use (r, lb, ub), replayed rows (r = 0.02, lb, ub = 40).
        """
        if self.config.covariance_control != "clip_cov":
            return super().covariance_tokens(advantages, logprobs, mask, extra, generator)
        chosen = torch.zeros_like(mask)
        for rows, ratio, upper in (
            (~extra, self.config.clip_cov_ratio, self.config.clip_cov_upper),
            (extra, self.config.replay_clip_cov_ratio, self.config.replay_clip_cov_upper),
        ):
            part = mask * rows[:, None]
            covariance = token_covariance(advantages, logprobs, part)
            chosen += clip_cov_tokens(
                covariance,
                part,
                ratio=ratio,
                lower=self.config.clip_cov_lower,
                upper=upper,
                generator=generator,
            )
        return chosen

    def token_loss(self, ctx: LossContext) -> TokenLoss:
        """PPO-clip with Clip-Cov; replay rows against their collection-time log-probs."""
        old = torch.where(ctx.extra, ctx.sample_logprobs, ctx.old_logprobs)
        loss, clipped, _ = super().token_loss(dataclasses.replace(ctx, old_logprobs=old))
        return TokenLoss(loss, clipped, ctx.logprobs - old)

    def start(self, total_iterations: int, seed: int) -> None:
        """Seed the replay choice from the run."""
        self.generator.manual_seed(seed)

    def end_iteration(self, metrics: dict[str, float]) -> dict[str, float]:
        """Advance the schedules; report buffer size and schedule weights."""
        report = {
            "buffer_size": float(len(self.buffer)),
            "tool_weight": tool_weight(self.iteration, self.config.tool_warmup),
            "replay_weight": replay_weight(
                self.iteration, self.config.replay_warmup, self.config.replay_coef
            ),
        }
        super().end_iteration(metrics)
        return report

    def state_dict(self) -> dict[str, Any]:
        """Iteration, buffer, reward FIFO and the Clip-Cov generator."""
        return {
            **super().state_dict(),
            "buffer": [(e.episode, e.iteration) for e in self.buffer],
            "group_rewards": list(self.group_rewards),
            "generator": self.generator.get_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`."""
        super().load_state_dict(state)
        self.buffer = deque(
            (BufferEntry(e, k) for e, k in state.get("buffer", [])),
            maxlen=self.config.buffer_capacity,
        )
        self.group_rewards = deque(state.get("group_rewards", []), maxlen=self.config.reward_fifo)
        if "generator" in state:
            self.generator.set_state(state["generator"])

    def _base(self) -> Algorithm:
        if self.config.base == "rloo":
            return RLOO(RLOOConfig())
        if self.config.base == "gigpo":
            mode: GiGPOMode = "mean_std_norm" if self.config.scale_rewards else "mean_norm"
            return GiGPO(GiGPOConfig(mode=mode))
        return GRPO(GRPOConfig(scale_rewards=self.config.scale_rewards))
