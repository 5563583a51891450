"""Scripted opponents for the iterated dilemmas: the classic strategies of Axelrod's tournaments.

An opponent sees the moves played so far (``history``: one ``{agent: move}`` per round) and
returns its move as text. In public goods "cooperate" means contributing everything and
"defect" nothing; tit-for-tat matches the others' mean contribution of the last round.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from palaestra.envs.social.stage import MatrixGame, PublicGoods

Opponent = Callable[[str, Sequence[dict[str, Any]], Any, np.random.Generator], str]


def _cooperate(stage: MatrixGame | PublicGoods) -> str:
    return stage.cooperative if isinstance(stage, MatrixGame) else str(stage.endowment)


def _defect(stage: MatrixGame | PublicGoods) -> str:
    return str(stage.default)


def always_cooperate(
    me: str, history: Sequence[dict[str, Any]], stage: Any, rng: np.random.Generator
) -> str:
    """Always the cooperative move."""
    return _cooperate(stage)


def always_defect(
    me: str, history: Sequence[dict[str, Any]], stage: Any, rng: np.random.Generator
) -> str:
    """Always the default (non-cooperative) move."""
    return _defect(stage)


def tit_for_tat(
    me: str, history: Sequence[dict[str, Any]], stage: Any, rng: np.random.Generator
) -> str:
    """Cooperate first, then repeat what the others did last round."""
    if not history:
        return _cooperate(stage)
    others = [m for a, m in history[-1].items() if a != me]
    if isinstance(stage, PublicGoods):
        return str(round(sum(others) / len(others)))
    return str(others[0])


def grim_trigger(
    me: str, history: Sequence[dict[str, Any]], stage: Any, rng: np.random.Generator
) -> str:
    """Cooperate until anyone else fails to cooperate once, then defect forever."""
    cooperative = stage.cooperative if isinstance(stage, MatrixGame) else stage.endowment
    betrayed = any(m != cooperative for moves in history for a, m in moves.items() if a != me)
    return _defect(stage) if betrayed else _cooperate(stage)


def random_move(
    me: str, history: Sequence[dict[str, Any]], stage: Any, rng: np.random.Generator
) -> str:
    """A uniformly random move (contribution)."""
    if isinstance(stage, PublicGoods):
        return str(int(rng.integers(stage.endowment + 1)))
    return str(stage.actions[int(rng.integers(len(stage.actions)))])


OPPONENTS: dict[str, Opponent] = {
    "always_cooperate": always_cooperate,
    "always_defect": always_defect,
    "tit_for_tat": tit_for_tat,
    "grim_trigger": grim_trigger,
    "random": random_move,
}
