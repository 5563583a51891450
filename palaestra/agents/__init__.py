"""Agents: the protocol, scripted agents, classic bandit baselines and the agent factory."""

from palaestra.agents.bandit import EpsilonGreedyAgent, ThompsonSamplingAgent, UCB1Agent
from palaestra.agents.base import Agent
from palaestra.agents.factory import SCRIPTED_AGENTS, make_agent
from palaestra.agents.scripted import OracleAgent, RandomAgent

__all__ = [
    "SCRIPTED_AGENTS",
    "Agent",
    "EpsilonGreedyAgent",
    "OracleAgent",
    "RandomAgent",
    "ThompsonSamplingAgent",
    "UCB1Agent",
    "make_agent",
]
