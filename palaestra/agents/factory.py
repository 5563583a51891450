"""Build an agent from a short spec string, as the CLI and the leaderboard harness do."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym

from palaestra.agents.bandit import EpsilonGreedyAgent, ThompsonSamplingAgent, UCB1Agent
from palaestra.agents.base import Agent
from palaestra.agents.scripted import OracleAgent, RandomAgent
from palaestra.errors import UnknownNameError, did_you_mean

AgentFactory = Callable[[gym.Env[Any, Any], "int | None"], Agent]

#: Scripted agents by name: ``factory(env, seed) -> Agent``.
SCRIPTED_AGENTS: dict[str, AgentFactory] = {
    "random": lambda env, seed: RandomAgent(seed),
    "oracle": lambda env, seed: OracleAgent(env),
    "ucb": lambda env, seed: UCB1Agent(seed),
    "thompson": lambda env, seed: ThompsonSamplingAgent(seed),
    "epsilon-greedy": lambda env, seed: EpsilonGreedyAgent(seed),
}


def make_agent(spec: str, env: gym.Env[Any, Any], seed: int | None = None) -> Agent:
    """Return the agent named by ``spec`` for ``env``.

    Args:
        spec: A scripted agent name (``random``, ``oracle``, ``ucb``, ``thompson``,
            ``epsilon-greedy``), ``hf:MODEL`` (a local or hub model, see
            :mod:`palaestra.llm.models`) or ``openai:MODEL@URL`` (an OpenAI-compatible
            server; ``openai:MODEL`` for OpenAI itself).
        env: The environment the agent will play (the oracle reads its state).
        seed: Seed of the agent's own randomness.

    Raises:
        UnknownNameError: ``spec`` names no agent; the message suggests the closest.
    """
    kind, _, rest = spec.partition(":")
    if kind == "hf" and rest:
        from palaestra.llm.hf_agent import HFAgent

        return HFAgent.from_spec(rest, seed=seed or 0)
    if kind == "openai" and rest:
        from palaestra.llm.openai_agent import OpenAIChatAgent

        model, _, url = rest.partition("@")
        if not model:
            raise UnknownNameError(f"agent spec {spec!r} names no model; use openai:MODEL@URL")
        return OpenAIChatAgent(model, base_url=url or None)
    factory = SCRIPTED_AGENTS.get(spec)
    if factory is None:
        raise UnknownNameError(
            f"unknown agent {spec!r}{did_you_mean(spec, SCRIPTED_AGENTS)} "
            f"(choose from {', '.join(SCRIPTED_AGENTS)}, hf:MODEL or openai:MODEL@URL)"
        )
    return factory(env, seed)
