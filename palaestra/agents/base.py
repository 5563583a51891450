"""The agent protocol every palaestra agent implements."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class Agent(Protocol):
    """Something that plays a text environment.

    ``reset`` receives ``info["instruction"]`` at the start of each episode; ``act``
    receives each observation with its ``info`` and returns the action text. Agents that
    serve many episodes at once (LLM agents on vector envs) add
    ``act_batch(observations, infos) -> list[str]``.
    """

    def reset(self, instruction: str) -> None:
        """Start a new episode whose task is described by ``instruction``."""
        ...

    def act(self, observation: str, info: dict[str, Any]) -> str:
        """Return the action for ``observation``."""
        ...
