"""The record of an episode, whoever played it: turns with what was seen, done and sampled.

One :class:`Episode` describes an episode of any agent on any environment. Scripted agents
leave the token fields of their turns empty; LLM agents fill them with the exact ids they
sampled, which the trainer trains on as they are (nothing is re-tokenized). With the
full-history prompt (the default) every turn's prompt extends the previous prompt and
response, so an episode is also one token sequence (:func:`concat_tokens`) whose loss mask
selects exactly the sampled response tokens.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Turn:
    """One agent turn: the observation answered, the action taken, and what it earned.

    Attributes:
        observation: The observation the turn answered.
        action: The action sent to the environment (``""`` if none could be extracted
            from an LLM's reply).
        response: An LLM agent's whole reply (the action is extracted from it); ``""``
            for other agents.
        prompt_ids: Token ids the model was conditioned on (the whole chat so far).
        response_ids: Token ids it sampled, end-of-turn token included when it stopped.
        logprobs: Log-probability of each response token under the sampling distribution.
        entropies: Entropy of the sampling distribution at each response token.
        reward: The environment's reward for the step.
        invalid_action: Whether the environment found the action invalid.
        finish_reason: ``stop`` (end-of-turn token) or ``length`` (token limit).
        info: The step's ``info`` (privileged keys included, for trainers).
    """

    observation: Any
    action: Any
    response: str = ""
    prompt_ids: list[int] = field(default_factory=list)
    response_ids: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    entropies: list[float] = field(default_factory=list)
    reward: float = 0.0
    invalid_action: bool = False
    finish_reason: str = "stop"
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class Episode:
    """A whole episode.

    Attributes:
        env_id: Registered id of the environment (``None`` for unregistered ones).
        seed: Reset seed; episodes with the same seed form a group.
        instruction: ``info["instruction"]`` at reset.
        turns: The turns in order.
        success: ``info["success"]`` at the end (``False`` if the env did not say).
        terminated: Whether the task ended (rather than being cut by a step limit).
        metrics: ``info["episode_metrics"]`` at the end.
        group: Group id (GRPO groups: same seed, same group).
        ground_truth: ``info["ground_truth"]`` where the env exposes it (for IGPO).
        answer_template: ``info["answer_template"]``: how the env's answers are written.
    """

    env_id: str | None
    seed: int | None
    instruction: str = ""
    turns: list[Turn] = field(default_factory=list)
    success: bool = False
    terminated: bool = False
    metrics: dict[str, float] = field(default_factory=dict)
    group: int = 0
    ground_truth: str | None = None
    answer_template: str | None = None

    @property
    def actions(self) -> list[Any]:
        """The actions in order."""
        return [t.action for t in self.turns]

    @property
    def rewards(self) -> list[float]:
        """The reward of each step."""
        return [t.reward for t in self.turns]

    @property
    def total_reward(self) -> float:
        """Sum of the rewards (the undiscounted return)."""
        return float(sum(t.reward for t in self.turns))

    @property
    def length(self) -> int:
        """Number of steps."""
        return len(self.turns)

    @property
    def invalid_actions(self) -> int:
        """Number of steps whose action was invalid."""
        return sum(t.invalid_action for t in self.turns)

    @property
    def response_tokens(self) -> int:
        """Number of sampled tokens."""
        return sum(len(t.response_ids) for t in self.turns)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready outcome: id, seed, actions, rewards, success, metrics (no tokens)."""
        return {
            "env_id": self.env_id,
            "seed": self.seed,
            "actions": [a if isinstance(a, str) else _plain(a) for a in self.actions],
            "rewards": self.rewards,
            "success": self.success,
            "terminated": self.terminated,
            "metrics": dict(self.metrics),
            "invalid_actions": self.invalid_actions,
        }


def _plain(value: Any) -> Any:
    """A numpy scalar or array as the JSON value it stands for."""
    return value.tolist() if isinstance(value, np.ndarray | np.generic) else value


def summarize_episodes(episodes: Sequence[Episode]) -> dict[str, float]:
    """Mean figures over ``episodes``.

    Returns:
        ``episodes``, ``return`` and ``return_std``, ``success_rate``, ``length``,
        ``invalid_rate`` (invalid steps per step), and the mean of every episode metric.
    """
    if not episodes:
        return {"episodes": 0.0}
    returns = [e.total_reward for e in episodes]
    steps = sum(e.length for e in episodes)
    summary = {
        "episodes": float(len(episodes)),
        "return": float(sum(returns) / len(returns)),
        "return_std": float(np.std(returns)),
        "success_rate": sum(e.success for e in episodes) / len(episodes),
        "length": steps / len(episodes),
        "invalid_rate": sum(e.invalid_actions for e in episodes) / max(steps, 1),
    }
    keys = sorted({k for e in episodes for k in e.metrics} - {"invalid_actions"})
    for key in keys:
        values = [e.metrics[key] for e in episodes if key in e.metrics]
        summary[key] = sum(values) / len(values)
    return summary


#: Seeds of run seed ``s`` start at ``s x SEED_STRIDE``, so runs of different seeds play
#: different episodes (for their first million): palaestra's trainer and its TRL adapter.
SEED_STRIDE = 1_000_003


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


def concat_logprobs(episode: Episode, loss_mask: Sequence[int]) -> list[float]:
    """The sampling log-prob of each token of ``episode``'s ``concat`` sequence (0 off the mask).

    Args:
        episode: The episode.
        loss_mask: The sequence's loss mask (from :func:`concat_tokens`), or a slice of it
            that holds every sampled token.

    Raises:
        ValueError: The mask does not select exactly the episode's sampled tokens.
    """
    logprobs = [0.0] * len(loss_mask)
    positions = [p for p, m in enumerate(loss_mask) if m]
    flat = [lp for turn in episode.turns for lp in turn.logprobs]
    for position, logprob in zip(positions, flat, strict=True):
        logprobs[position] = logprob
    return logprobs
