"""Social dilemmas: iterated matrix games and grid games, each in two forms.

Each game is a PettingZoo parallel environment (``...ParallelEnv``: every player acts each
step) and a Gymnasium single-agent view of it (``...Env``: ``player_0`` against scripted
players), side by side: :class:`MatrixGameParallelEnv` and :class:`MatrixGameEnv` for the
iterated matrix games and public goods, :class:`GridGameParallelEnv` and
:class:`GridGameEnv` for Gathering and Cleanup.
"""

import warnings
from typing import Any

from palaestra.envs.social.grid import MAPS, GridGameParallelEnv
from palaestra.envs.social.grid_view import GRID_OPPONENTS, GridGameEnv, greedy_harvester
from palaestra.envs.social.matrix import MatrixGameParallelEnv
from palaestra.envs.social.matrix_view import MatrixGameEnv
from palaestra.envs.social.metrics import gini, social_metrics
from palaestra.envs.social.opponents import OPPONENTS
from palaestra.envs.social.stage import GAMES, MatrixGame, PublicGoods, make_stage

__all__ = [
    "GAMES",
    "GRID_OPPONENTS",
    "MAPS",
    "OPPONENTS",
    "GridGameEnv",
    "GridGameParallelEnv",
    "MatrixGame",
    "MatrixGameEnv",
    "MatrixGameParallelEnv",
    "PublicGoods",
    "gini",
    "greedy_harvester",
    "make_stage",
    "social_metrics",
]

#: The earlier class names, still importable (with a warning) for one release.
_DEPRECATED = {
    "IteratedGameEnv": "MatrixGameParallelEnv",
    "DilemmaEnv": "MatrixGameEnv",
    "GridDilemmaEnv": "GridGameParallelEnv",
}


def __getattr__(name: str) -> Any:
    if name in _DEPRECATED:
        new = _DEPRECATED[name]
        warnings.warn(
            f"palaestra.envs.social.{name} is deprecated; use {new}",
            DeprecationWarning,
            stacklevel=2,
        )
        return globals()[new]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
