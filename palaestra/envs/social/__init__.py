"""Social dilemmas: iterated matrix games and public goods (PettingZoo), single-agent views."""

from palaestra.envs.social.grid import MAPS, GridDilemmaEnv
from palaestra.envs.social.grid_view import GRID_OPPONENTS, GridGameEnv, greedy_harvester
from palaestra.envs.social.iterated import IteratedGameEnv
from palaestra.envs.social.metrics import gini, social_metrics
from palaestra.envs.social.opponents import OPPONENTS
from palaestra.envs.social.single import DilemmaEnv
from palaestra.envs.social.stage import GAMES, MatrixGame, PublicGoods, make_stage

__all__ = [
    "GAMES",
    "GRID_OPPONENTS",
    "MAPS",
    "OPPONENTS",
    "DilemmaEnv",
    "GridDilemmaEnv",
    "GridGameEnv",
    "IteratedGameEnv",
    "MatrixGame",
    "PublicGoods",
    "gini",
    "greedy_harvester",
    "make_stage",
    "social_metrics",
]
