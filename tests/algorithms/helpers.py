"""Hand-built episodes and loss contexts for algorithm tests."""

import torch

from palaestra.algorithms.base import LossContext
from palaestra.algorithms.batch import TokenBatch
from palaestra.rollout.records import Episode, Turn


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
