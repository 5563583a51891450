"""Social dilemmas: iterated matrix games and public goods (PettingZoo), single-agent views."""

from palaestra.envs.social.iterated import IteratedGameEnv
from palaestra.envs.social.metrics import gini, social_metrics
from palaestra.envs.social.opponents import OPPONENTS
from palaestra.envs.social.single import DilemmaEnv
from palaestra.envs.social.stage import GAMES, MatrixGame, PublicGoods, make_stage

__all__ = [
    "GAMES",
    "OPPONENTS",
    "DilemmaEnv",
    "IteratedGameEnv",
    "MatrixGame",
    "PublicGoods",
    "gini",
    "make_stage",
    "social_metrics",
]
