"""Wrappers for palaestra environments."""

from palaestra.envs.wrappers.episode_end import EpisodeEndInfo

__all__ = ["EpisodeEndInfo"]
