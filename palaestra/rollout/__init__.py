"""Playing agents on environments: the agent protocols, the episode record and the loop.

:func:`play` is the one rollout loop: any :class:`BatchAgent` (the LLM agents, or plain
:class:`Agent` objects through :class:`PerEpisode`) on a list of environments, a vector env
or an :class:`EnvPool` (environments held by other processes), every episode recorded as
an :class:`Episode` of :class:`Turn` objects.
"""

from palaestra.rollout.agent import Agent, BatchAgent, PerEpisode, ReplayingAgent, as_batch_agent
from palaestra.rollout.envs import EnvPool
from palaestra.rollout.loop import (
    DEFAULT_MAX_STEPS,
    AgentError,
    AgentFactory,
    play,
    run_episode,
    run_episodes,
)
from palaestra.rollout.records import Episode, Turn, summarize_episodes

__all__ = [
    "DEFAULT_MAX_STEPS",
    "Agent",
    "AgentError",
    "AgentFactory",
    "BatchAgent",
    "EnvPool",
    "Episode",
    "PerEpisode",
    "ReplayingAgent",
    "Turn",
    "as_batch_agent",
    "play",
    "run_episode",
    "run_episodes",
    "summarize_episodes",
]
