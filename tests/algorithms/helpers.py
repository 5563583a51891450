"""Shared pieces of the algorithm tests.

Hand-built episodes, batches and loss contexts; a small run on the letter bandit; the
gradient of each optimizer step of an iteration.
"""

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from palaestra.algorithms import GRPO
from palaestra.algorithms.base import Algorithm, LossContext
from palaestra.algorithms.batch import TokenBatch, build_samples
from palaestra.algorithms.trainer import TrainConfig, Trainer
from palaestra.rollout.records import Episode, Turn

#: GRPO's advantage, ±, of each episode of a group of two with returns 1 and 0 (sample std).
PAIR_ADVANTAGE = 0.5 / (math.sqrt(0.5) + 1e-6)

BANDIT = {
    "env": "palaestra/Bandit-v0",
    "env_kwargs": '{"horizon": 1, "means": [0.1, 0.2, 0.9, 0.3, 0.2]}',
}


def episode(rewards: list[float], group: int = 0, observations: list[str] | None = None) -> Episode:
    observations = observations or [f"s{t}" for t in range(len(rewards))]
    turns = [
        Turn(
            prompt_ids=[1, 2],
            response_ids=[3, 4],
            logprobs=[-1.0, -1.0],
            entropies=[1.0, 1.0],
            observation=obs,
            response="a",
            action="a",
            reward=r,
        )
        for obs, r in zip(observations, rewards, strict=True)
    ]
    return Episode(env_id="test", seed=group, instruction="", turns=turns, group=group)


def per_turn_batch(episodes: Sequence[Episode]) -> TokenBatch:
    """``episodes`` in the ``per_turn`` layout, padded with token 0."""
    return TokenBatch.collate(build_samples(episodes, "per_turn"), pad_id=0)


def loss_context(
    batch: TokenBatch,
    logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    advantages: torch.Tensor,
    *,
    extra: torch.Tensor | None = None,
    covariance: torch.Tensor | None = None,
) -> LossContext:
    """A loss context over the whole of ``batch`` (one micro-batch, one mini-batch)."""
    rows = torch.arange(batch.loss_mask.size(0))
    return LossContext(
        batch=batch,
        rows=rows,
        minibatch=rows,
        logprobs=logprobs,
        old_logprobs=old_logprobs,
        sample_logprobs=batch.sample_logprobs,
        entropy=torch.zeros_like(logprobs),
        advantages=advantages,
        mask=batch.loss_mask,
        extra=extra if extra is not None else torch.zeros(len(rows), 1, dtype=torch.bool),
        covariance=covariance if covariance is not None else torch.zeros_like(batch.loss_mask),
    )


def config(tmp_path: Path, **kwargs: Any) -> TrainConfig:
    """A two-iteration run on the 5-armed letter bandit; ``kwargs`` override."""
    base: dict[str, Any] = {
        **BANDIT,
        "steps": 2,
        "groups": 2,
        "group_size": 4,
        "max_new_tokens": 4,
        "extract": "choice",
        "out": tmp_path / "run",
        "progress": False,
        "tensorboard": False,
        "micro_batch_size": 4,
    }
    return TrainConfig(**{**base, **kwargs})


class Alternating(GRPO):
    """Advantages +1 / −1 by episode: every parameter gets a gradient."""

    def turn_advantages(self, episodes: Sequence[Episode]) -> list[list[float]]:
        return [[1.0 if i % 2 else -1.0] * len(e.turns) for i, e in enumerate(episodes)]


def weights(model: Any) -> dict[str, torch.Tensor]:
    """A copy of every trainable parameter, by name."""
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


def step_gradients(trainer: Trainer) -> list[torch.Tensor]:
    """The gradient at each optimizer step of one iteration (the whole policy, flattened)."""
    grads: list[torch.Tensor] = []
    step = trainer.optimizer.step

    def recording_step(*args: Any, **kwargs: Any) -> Any:
        params = [p for g in trainer.optimizer.param_groups for p in g["params"]]
        grads.append(torch.cat([p.grad.flatten() for p in params if p.grad is not None]))
        return step(*args, **kwargs)

    trainer.optimizer.step = recording_step  # type: ignore[method-assign]
    try:
        trainer.iteration(0)
    finally:
        trainer.optimizer.step = step  # type: ignore[method-assign]
    return grads


def off_policy_gradients(tmp_path: Path, algorithm: Algorithm, name: str) -> list[torch.Tensor]:
    """The step gradients of an iteration whose later mini-batches are well off-policy."""
    # 32 episodes in 4 mini-batches of 8; a learning rate that moves the policy visibly, so
    # later mini-batches hold ratios on both sides of every clip edge.
    run = config(tmp_path / name, lr=0.02, groups=4, group_size=8, max_new_tokens=8)
    return step_gradients(Trainer(run, algorithm))


def close(a: torch.Tensor, b: torch.Tensor) -> bool:
    return torch.allclose(a, b, atol=1e-7, rtol=1e-5)
