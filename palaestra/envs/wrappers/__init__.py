"""Wrappers for palaestra environments."""

from palaestra.envs.wrappers.episode_end import EpisodeEndInfo
from palaestra.envs.wrappers.numeric import NumericView

__all__ = ["EpisodeEndInfo", "NumericView"]
