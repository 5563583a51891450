"""SALT, step-level advantage assignment via a trajectory graph.

A plug-in over a group-based estimator (``base``: GRPO, RLOO, or GiGPO's episode term). Per
group (episodes that share a seed), a graph is built: a node is a state key (the hash of
the normalized observation text, or with ``node="history"`` of the whole history prefix),
an edge is (state key, normalized action, next state key). The advantage of step (i, t) is
the mean of the trajectory advantages A_traj(j) over the occurrences (j, u) of the same
edge in the group (``averaging="occurrence"``), or over the distinct trajectories that
contain it (``averaging="trajectory"``: an episode that loops on an edge counts once). An
edge seen once keeps its trajectory's advantage; steps shared by winners and losers move
toward zero, steps unique to one side keep their sign.

The paper's body was not available when this was written: node identity and averaging are
config fields; the defaults (observation text, occurrence averaging) follow the abstract.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from palaestra.algorithms.base import Algorithm, PolicyLossConfig, episode_returns, group_normalized
from palaestra.algorithms.grpo import GRPOConfig
from palaestra.algorithms.rloo import RLOO
from palaestra.errors import InvalidArgumentError
from palaestra.rollout.records import Episode

BASES = ("grpo", "rloo", "gigpo")


@dataclass(frozen=True, kw_only=True)
class SALTConfig(GRPOConfig):
    """SALT settings.

    Attributes:
        base: Trajectory advantage estimator: grpo, rloo or gigpo (its episode term).
        node: State key: ``observation`` (the observation text) or ``history`` (the whole
            prefix of observations and actions).
        averaging: ``occurrence`` (every occurrence of an edge counts) or ``trajectory``
            (each trajectory containing the edge counts once).
    """

    base: Literal["grpo", "rloo", "gigpo"] = "grpo"
    node: Literal["observation", "history"] = "observation"
    averaging: Literal["occurrence", "trajectory"] = "occurrence"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.base not in BASES:
            raise InvalidArgumentError(f"SALT base must be one of {BASES}, got {self.base!r}")
        if self.node not in ("observation", "history"):
            raise InvalidArgumentError(f"node must be observation or history, got {self.node!r}")
        if self.averaging not in ("occurrence", "trajectory"):
            raise InvalidArgumentError(
                f"averaging must be occurrence or trajectory, got {self.averaging!r}"
            )


def normalize(text: str) -> str:
    """Lower case, single spaces: the identity of states and actions in the graph."""
    return re.sub(r"\s+", " ", text.strip().lower())


def _key(text: str) -> str:
    return hashlib.sha1(normalize(text).encode()).hexdigest()


class SALT(Algorithm):
    """Trajectory advantages averaged over shared edges of each group's trajectory graph."""

    name = "salt"
    config_class = SALTConfig
    config: SALTConfig

    def trajectory_advantages(self, episodes: Sequence[Episode]) -> list[float]:
        """A_traj of each episode from the base estimator."""
        if self.config.base == "rloo":
            rloo = RLOO(PolicyLossConfig())
            return [turns[0] if turns else 0.0 for turns in rloo.turn_advantages(episodes)]
        # GRPO, and GiGPO's episode term, are the group-normalized returns.
        return group_normalized(
            episode_returns(episodes), episodes, scale=self.config.scale_rewards
        )

    def edges(self, episode: Episode) -> list[tuple[str, str, str]]:
        """(state, action, next state) of every turn."""
        states = []
        history = ""
        for turn in episode.turns:
            history += f"\n{turn.observation}"
            states.append(_key(history if self.config.node == "history" else turn.observation))
            history += f"\n{turn.action}"
        nexts = [*states[1:], "<end>"]
        return [
            (state, normalize(turn.action), following)
            for state, turn, following in zip(states, episode.turns, nexts, strict=True)
        ]

    def turn_advantages(self, episodes: Sequence[Episode]) -> list[list[float]]:
        """Edge-averaged trajectory advantages for every turn."""
        trajectory = self.trajectory_advantages(episodes)
        occurrences: dict[tuple[int, tuple[str, str, str]], list[int]] = defaultdict(list)
        edges = [self.edges(e) for e in episodes]
        for i, episode in enumerate(episodes):
            for edge in edges[i]:
                occurrences[(episode.group, edge)].append(i)
        out = []
        for i, episode in enumerate(episodes):
            row = []
            for edge in edges[i]:
                members = occurrences[(episode.group, edge)]
                if self.config.averaging == "trajectory":
                    members = sorted(set(members))
                row.append(sum(trajectory[j] for j in members) / len(members))
            out.append(row)
        return out
