"""Playing agents on environments: the episode record and the rollout loop."""

from palaestra.rollout.loop import EpisodeRecord, run_episode, run_episodes, summarize_episodes
from palaestra.rollout.records import Episode, Turn

__all__ = ["Episode", "EpisodeRecord", "Turn", "run_episode", "run_episodes", "summarize_episodes"]
