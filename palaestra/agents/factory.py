"""Build an agent from a short spec string, as the CLI and the leaderboard harness do."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym

from palaestra.agents.bandit import EpsilonGreedyAgent, ThompsonSamplingAgent, UCB1Agent
from palaestra.agents.scripted import OracleAgent, RandomAgent
from palaestra.errors import InvalidArgumentError, UnknownNameError, did_you_mean
from palaestra.optional import require
from palaestra.rollout import Agent, AgentFactory, BatchAgent, Episode, run_episodes

#: Scripted agents by name: ``factory(env, seed) -> Agent``.
SCRIPTED_AGENTS: dict[str, AgentFactory] = {
    "random": lambda env, seed: RandomAgent(seed),
    "oracle": lambda env, seed: OracleAgent(env),
    "ucb": lambda env, seed: UCB1Agent(seed),
    "thompson": lambda env, seed: ThompsonSamplingAgent(seed),
    "epsilon-greedy": lambda env, seed: EpsilonGreedyAgent(seed),
}


def make_agent(
    spec: str, env: gym.Env[Any, Any] | None, seed: int | None = None
) -> Agent | BatchAgent:
    """Return the agent named by ``spec`` for ``env``.

    Args:
        spec: A scripted agent name (``random``, ``oracle``, ``ucb``, ``thompson``,
            ``epsilon-greedy``), ``hf:MODEL`` (a local or hub model, see
            :mod:`palaestra.llm.models`) or ``openai:MODEL@URL`` (an OpenAI-compatible
            server; ``openai:MODEL`` for OpenAI itself).
        env: The environment the agent will play (the oracle reads its state; LLM agents
            need none).
        seed: Seed of the agent's own randomness.

    Raises:
        UnknownNameError: ``spec`` names no agent; the message suggests the closest.
    """
    kind, _, rest = spec.partition(":")
    if kind == "hf" and rest:
        require("torch", "llm", "an hf: agent")
        require("transformers", "llm", "an hf: agent")
        from palaestra.llm.hf_agent import HFAgent

        return HFAgent.from_spec(rest, seed=seed or 0)
    if kind == "openai" and rest:
        require("openai", "llm", "an openai: agent")
        from palaestra.llm.openai_agent import OpenAIChatAgent

        model, _, url = rest.partition("@")
        if not model:
            raise UnknownNameError(f"agent spec {spec!r} names no model; use openai:MODEL@URL")
        return OpenAIChatAgent(model, base_url=url or None)
    if env is None:
        raise InvalidArgumentError(f"agent {spec!r} needs the environment it will play")
    return _scripted(spec)(env, seed)


def _scripted(spec: str) -> AgentFactory:
    factory = SCRIPTED_AGENTS.get(spec)
    if factory is None:
        raise UnknownNameError(
            f"unknown agent {spec!r}{did_you_mean(spec, SCRIPTED_AGENTS)} "
            f"(choose from {', '.join(SCRIPTED_AGENTS)}, hf:MODEL or openai:MODEL@URL)"
        )
    return factory


def play_agent(
    spec: str,
    env_id: str,
    seeds: Sequence[int],
    *,
    env_kwargs: dict[str, Any] | None = None,
    progress: bool = False,
) -> list[Episode]:
    """Play one episode of ``env_id`` per seed with the agent ``spec`` names.

    An LLM agent (``hf:``, ``openai:``) is made once, seeded with the first seed, and plays
    ``max_batch_size`` episodes at once; a scripted agent is made fresh for every episode,
    seeded with the episode's seed, so each episode is the same whatever else is played.

    Raises:
        UnknownNameError: ``spec`` names no agent.
        AgentError: An LLM agent's server failed; ``completed`` holds the finished episodes.
    """
    kind, _, rest = spec.partition(":")
    if kind in {"hf", "openai"} and rest:
        agent = make_agent(spec, None, seed=seeds[0] if seeds else 0)
        assert isinstance(agent, BatchAgent)
        return run_episodes(env_id, agent, seeds=seeds, env_kwargs=env_kwargs,
                            batch_size=agent.max_batch_size, progress=progress)  # fmt: skip
    return run_episodes(
        env_id, _scripted(spec), seeds=seeds, env_kwargs=env_kwargs, progress=progress
    )
