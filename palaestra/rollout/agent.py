"""What the rollout loop drives: the agent protocols, and one-episode agents as a batch.

:class:`Agent` is the protocol a person writing a policy implements: ``reset`` with the
episode's instruction, then ``act`` on each observation. :class:`BatchAgent` is the one
protocol :func:`palaestra.rollout.play` drives: it plays many episodes at once, so an LLM
agent can batch its generation across them, and returns a whole :class:`Turn` per step (the
exact tokens it sampled, where it has any). :class:`PerEpisode` makes one plain agent per
episode into a batch agent; the LLM agents implement :class:`BatchAgent` themselves.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from palaestra.errors import InvalidArgumentError
from palaestra.rollout.records import Turn


@runtime_checkable
class Agent(Protocol):
    """Something that plays one episode of an environment at a time.

    ``reset`` receives ``info["instruction"]`` at the start of each episode; ``act``
    receives each observation with its ``info`` and returns the action.
    """

    def reset(self, instruction: str) -> None:
        """Start a new episode whose task is described by ``instruction``."""
        ...

    def act(self, observation: Any, info: dict[str, Any]) -> Any:
        """Return the action for ``observation``."""
        ...


@runtime_checkable
class BatchAgent(Protocol):
    """Something that plays many episodes at once, in lockstep.

    ``start`` begins one episode per instruction (episode ``k`` is the ``k``-th from then
    on); ``respond`` takes a turn in each listed episode that is still running. Returning
    ``None`` for an episode ends it as truncated (an LLM whose context is full). ``finish``
    comes after the last turn, whether the episodes ended or the rollout failed.

    Attributes:
        max_batch_size: Most episodes it plays at once.
    """

    max_batch_size: int

    def start(self, instructions: Sequence[str]) -> None:
        """Begin one episode per instruction."""
        ...

    def respond(
        self, episodes: Sequence[int], observations: Sequence[Any], infos: Sequence[dict[str, Any]]
    ) -> list[Turn | None]:
        """One turn (the action, and the tokens sampled if any) for each listed episode."""
        ...

    def finish(self) -> None:
        """The episodes begun by ``start`` are over: free what they hold (a KV cache)."""
        ...


@runtime_checkable
class ReplayingAgent(BatchAgent, Protocol):
    """A batch agent that can continue an earlier episode from a prefix of its turns."""

    def replay(self, episode: int, observation: Any, info: dict[str, Any], turn: Turn) -> Turn:
        """Take ``turn`` (an earlier reply) as episode ``episode``'s reply to ``observation``.

        Returns:
            The turn as this episode's record (its prompt as this agent builds it).
        """
        ...


class PerEpisode:
    """One :class:`Agent` per episode, played as a :class:`BatchAgent`.

    Args:
        agents: The agent of each episode, in order (the same object may not appear twice:
            an agent keeps one episode's state).
    """

    def __init__(self, agents: Sequence[Agent]) -> None:
        if len({id(a) for a in agents}) != len(agents):
            raise InvalidArgumentError(
                "one agent object per episode: an agent keeps the state of one episode"
            )
        self.agents = list(agents)
        self.max_batch_size = len(self.agents)

    def start(self, instructions: Sequence[str]) -> None:
        """Reset each episode's agent with its instruction."""
        if len(instructions) != len(self.agents):
            raise InvalidArgumentError(
                f"{len(instructions)} episodes for {len(self.agents)} agents"
            )
        for agent, instruction in zip(self.agents, instructions, strict=True):
            agent.reset(instruction)

    def respond(
        self, episodes: Sequence[int], observations: Sequence[Any], infos: Sequence[dict[str, Any]]
    ) -> list[Turn | None]:
        """Each listed episode's agent acts on its observation."""
        return [
            Turn(observation=o, action=self.agents[k].act(o, i))
            for k, o, i in zip(episodes, observations, infos, strict=True)
        ]

    def finish(self) -> None:
        """Nothing to free: a plain agent's episode state is its own, reset by ``reset``."""


def as_batch_agent(agent: Agent | BatchAgent | Sequence[Agent], episodes: int) -> BatchAgent:
    """``agent`` as a batch agent for ``episodes`` episodes at once.

    A batch agent is used as it is; a list gives one agent per episode; a single plain
    agent can play one episode at a time only.
    """
    if isinstance(agent, BatchAgent):
        return agent
    if isinstance(agent, Sequence):
        return PerEpisode(agent)
    if episodes != 1:
        raise InvalidArgumentError(
            f"one {type(agent).__name__} cannot play {episodes} episodes at once; give one "
            "agent per episode"
        )
    return PerEpisode([agent])
