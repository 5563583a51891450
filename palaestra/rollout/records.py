"""What an LLM rollout records: episodes of turns with the exact tokens that were sampled.

The trainer trains on these ids as they are; nothing is re-tokenized. With the full-history
prompt (the default) every turn's prompt extends the previous prompt and response, so an
episode is also one token sequence (:func:`concat_tokens`) whose loss mask selects exactly
the sampled response tokens.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from palaestra.rollout.loop import EpisodeRecord


@dataclass
class Turn:
    """One agent turn.

    Attributes:
        prompt_ids: Token ids the model was conditioned on (the whole chat so far).
        response_ids: Token ids it sampled, end-of-turn token included when it stopped.
        logprobs: Log-probability of each response token under the sampling distribution.
        entropies: Entropy of the sampling distribution at each response token.
        observation: The observation text the turn answered.
        response: The decoded response.
        action: The action sent to the environment (``""`` if none could be extracted).
        reward: The environment's reward for the step.
        invalid_action: Whether the environment found the action invalid.
        finish_reason: ``stop`` (end-of-turn token) or ``length`` (token limit).
        info: The step's ``info`` (privileged keys included, for trainers).
    """

    prompt_ids: list[int]
    response_ids: list[int]
    logprobs: list[float]
    entropies: list[float]
    observation: str
    response: str
    action: str
    reward: float = 0.0
    invalid_action: bool = False
    finish_reason: str = "stop"
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class Episode:
    """A whole episode played by an LLM agent.

    Attributes:
        env_id: Registered id of the environment.
        seed: Reset seed; episodes with the same seed form a group.
        instruction: ``info["instruction"]`` at reset.
        turns: The turns in order.
        success: ``info["success"]`` at the end.
        terminated: Whether the task ended (not cut by a limit).
        metrics: ``info["episode_metrics"]`` at the end.
        group: Group id (GRPO groups: same seed, same group).
        ground_truth: ``info["ground_truth"]`` where the env exposes it (for IGPO).
        answer_template: ``info["answer_template"]``: how the env's answers are written.
    """

    env_id: str | None
    seed: int | None
    instruction: str
    turns: list[Turn] = field(default_factory=list)
    success: bool = False
    terminated: bool = False
    metrics: dict[str, float] = field(default_factory=dict)
    group: int = 0
    ground_truth: str | None = None
    answer_template: str | None = None

    @property
    def total_reward(self) -> float:
        """Sum of the turn rewards."""
        return float(sum(t.reward for t in self.turns))

    @property
    def response_tokens(self) -> int:
        """Number of sampled tokens."""
        return sum(len(t.response_ids) for t in self.turns)

    def to_record(self) -> EpisodeRecord:
        """The same episode as a runner record (actions, rewards, outcome; no tokens)."""
        return EpisodeRecord(
            env_id=self.env_id,
            seed=self.seed,
            actions=[t.action for t in self.turns],
            rewards=[t.reward for t in self.turns],
            success=self.success,
            terminated=self.terminated,
            metrics=dict(self.metrics),
            invalid_actions=sum(t.invalid_action for t in self.turns),
        )


class PrefixError(ValueError):
    """A turn's prompt does not extend the previous prompt and response."""


def concat_tokens(episode: Episode) -> tuple[list[int], list[int], list[int]]:
    """The episode as one sequence: ids, loss mask (1 on sampled tokens) and turn index.

    Raises:
        PrefixError: A prompt does not extend the previous prompt + response (windowed
            history, or a chat template that rewrites earlier turns): use the ``per_turn``
            layout for such episodes.
    """
    if not episode.turns:
        return [], [], []
    first = episode.turns[0]
    ids = list(first.prompt_ids)
    mask = [0] * len(ids)
    turn_of = [-1] * len(ids)
    for index, turn in enumerate(episode.turns):
        if index > 0:
            if turn.prompt_ids[: len(ids)] != ids:
                position = next(
                    (
                        k
                        for k, (a, b) in enumerate(zip(turn.prompt_ids, ids, strict=False))
                        if a != b
                    ),
                    min(len(ids), len(turn.prompt_ids)),
                )
                raise PrefixError(
                    f"turn {index}: the prompt differs from the previous prompt + response at "
                    f"token {position}"
                )
            extra = turn.prompt_ids[len(ids) :]
            ids += extra
            mask += [0] * len(extra)
            turn_of += [-1] * len(extra)
        ids += turn.response_ids
        mask += [1] * len(turn.response_ids)
        turn_of += [index] * len(turn.response_ids)
    return ids, mask, turn_of
