"""Agents: the protocols, scripted agents, classic bandit baselines and the agent factory.

The protocols are defined by the rollout loop that drives them (:mod:`palaestra.rollout`)
and exported here, where agents are written.
"""

from palaestra.agents.bandit import EpsilonGreedyAgent, ThompsonSamplingAgent, UCB1Agent
from palaestra.agents.factory import SCRIPTED_AGENTS, make_agent, play_agent
from palaestra.agents.scripted import OracleAgent, RandomAgent
from palaestra.rollout import Agent, BatchAgent, PerEpisode

__all__ = [
    "SCRIPTED_AGENTS",
    "Agent",
    "BatchAgent",
    "EpsilonGreedyAgent",
    "OracleAgent",
    "PerEpisode",
    "RandomAgent",
    "ThompsonSamplingAgent",
    "UCB1Agent",
    "make_agent",
    "play_agent",
]
