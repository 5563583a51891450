r"""IGPO, information-gain-based policy optimization (Wang et al., 2025).

Dense turn rewards from the policy's own belief in the ground truth. For episode i:

* p_{i,t} = exp(mean over the answer's tokens of log π_θ(answer_j | context after turn t,
  answer_<j)): the policy's length-normalized *probability* of the ground truth,
  teacher-forced without gradient, written the way the env's answers are written
  (``answer_template``: ``answer[...]``, ``\boxed{...}``); p_{i,0} uses the context before
  any turn;
* the information-gain reward of turn t (every turn but the last) is r^IG_{i,t} =
  p_{i,t} − p_{i,t−1}, a difference of probabilities as in the paper and the official code
  (a difference of log-probabilities would reorder the gains: from −6.9 to −2.3 is a
  larger log gain than from −1.2 to −0.7, but a smaller gain in probability);
* the last turn gets the outcome reward r^O_i (the episode's return);
* IG rewards are z-scored over all IG rewards of the group, outcome rewards over the
  group's outcomes, separately;
* the turn advantage is the discounted sum R̃_{i,t} = Σ_{k≥t} γ^{k−t} r̃_{i,k} (γ = 1).

It needs the ground-truth answer: environments expose it to trainers with
``expose_ground_truth=True`` (math, SearchQA). The teacher-forced scores of all contexts of
all episodes are computed together, in micro-batches, not one forward per episode.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from palaestra.algorithms.base import Algorithm, Scorer, group_indices
from palaestra.algorithms.grpo import GRPOConfig
from palaestra.errors import InvalidArgumentError
from palaestra.rollout.records import Episode


@dataclass(frozen=True, kw_only=True)
class IGPOConfig(GRPOConfig):
    """IGPO settings (defaults: the paper).

    Attributes:
        gamma: Discount of the turn-reward sum (paper: 1).
        kl_coef: KL to the reference policy (paper: 0.001).
    """

    gamma: float = 1.0
    kl_coef: float = 0.001


def information_gains(scores: Sequence[float]) -> list[float]:
    """p_t − p_{t−1} for consecutive mean log-prob scores s, with p = exp(s).

    One gain per turn but the last: the scores are those before each turn.
    """
    probabilities = [math.exp(score) for score in scores]
    return [later - earlier for earlier, later in itertools.pairwise(probabilities)]


def written_answer(episode: Episode) -> str:
    """The ground truth as the env's answers are written (its ``answer_template``)."""
    truth = str(episode.ground_truth)
    template = episode.answer_template
    return template.replace("{answer}", truth) if template else truth


def _zscores(values: list[float]) -> list[float]:
    if len(values) < 2:
        return [0.0] * len(values)
    x = torch.tensor(values, dtype=torch.float64)
    return ((x - x.mean()) / (x.std() + 1e-6)).tolist()


class IGPO(Algorithm):
    """Information-gain turn rewards plus the outcome reward, normalized per group."""

    name = "igpo"
    config_class = IGPOConfig
    config: IGPOConfig
    needs_scorer = True

    def __init__(self, config: IGPOConfig | None = None) -> None:
        super().__init__(config)
        self.scorer: Scorer | None = None
        self.tokenize: Callable[[str], list[int]] | None = None

    def check_env(self, env: Any) -> None:
        """The environment must expose the ground truth to the trainer."""
        _, info = env.reset(seed=0)
        if "ground_truth" not in info:
            name = env.spec.id if env.spec is not None else type(env.unwrapped).__name__
            raise InvalidArgumentError(
                f"IGPO needs the ground-truth answer, and {name} does not expose it: make the "
                'env with expose_ground_truth=True (--env-kwargs \'{"expose_ground_truth": '
                "true}'), on an env that has one (math, SearchQA)"
            )

    def attach_scorer(self, scorer: Scorer, tokenize: Callable[[str], list[int]]) -> None:
        """Give the algorithm the trainer's teacher-forced scorer and tokenizer."""
        self.scorer, self.tokenize = scorer, tokenize

    def turn_rewards(self, episodes: Sequence[Episode]) -> list[list[float]]:
        """Raw turn rewards: information gains, then the outcome on the last turn."""
        if self.scorer is None or self.tokenize is None:
            raise RuntimeError(
                "IGPO.attach_scorer(scorer, tokenize) must come first (the trainer calls it)"
            )
        requests: list[tuple[Sequence[int], Sequence[int]]] = []
        for episode in episodes:
            if episode.ground_truth is None:
                raise InvalidArgumentError("an episode has no ground truth; IGPO cannot score it")
            answer = self.tokenize(written_answer(episode))
            requests += [(turn.prompt_ids, answer) for turn in episode.turns]
        scores = self.scorer(requests) if requests else []
        rewards, k = [], 0
        for episode in episodes:
            s = scores[k : k + len(episode.turns)]
            k += len(episode.turns)
            rewards.append([*information_gains(s), episode.total_reward])
        return rewards

    def turn_advantages(self, episodes: Sequence[Episode]) -> list[list[float]]:
        """Discounted sums of the group-normalized IG and outcome rewards."""
        raw = self.turn_rewards(episodes)
        normalized = [list(r) for r in raw]
        for members in group_indices(episodes).values():
            gains = [(i, t) for i in members for t in range(len(raw[i]) - 1)]
            for (i, t), z in zip(gains, _zscores([raw[i][t] for i, t in gains]), strict=True):
                normalized[i][t] = z
            for i, z in zip(members, _zscores([raw[i][-1] for i in members]), strict=True):
                normalized[i][-1] = z
        out = []
        for rewards in normalized:
            running, row = 0.0, [0.0] * len(rewards)
            for t in range(len(rewards) - 1, -1, -1):
                running = rewards[t] + self.config.gamma * running
                row[t] = running
            out.append(row)
        return out
