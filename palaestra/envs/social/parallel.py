"""What the text-based PettingZoo parallel environments share: spaces, step type, lifecycle."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any, TypeAlias

from pettingzoo import ParallelEnv

from palaestra.envs.core import TextSpace
from palaestra.errors import InvalidArgumentError

#: ``step``'s result: observations, rewards, terminations, truncations and infos per agent.
ParallelStep: TypeAlias = tuple[
    dict[str, str],
    dict[str, float],
    dict[str, bool],
    dict[str, bool],
    dict[str, dict[str, Any]],
]


class TextParallelEnv(ParallelEnv[str, str, str]):  # type: ignore[misc]  # untyped base
    """A PettingZoo parallel environment whose observations and actions are text."""

    agents: list[str]

    @functools.cache  # noqa: B019 - one space per agent, as PettingZoo's examples do
    def observation_space(self, agent: str) -> TextSpace:
        """Text observations."""
        return TextSpace(8192)

    @functools.cache  # noqa: B019
    def action_space(self, agent: str) -> TextSpace:
        """Text actions."""
        return TextSpace(1024)

    @staticmethod
    def check_render_mode(render_mode: str | None) -> None:
        """Only ``None`` and ``"ansi"`` are supported."""
        if render_mode not in (None, "ansi"):
            raise InvalidArgumentError(f"render_mode must be None or 'ansi', got {render_mode!r}")

    def check_running(self) -> None:
        """Raise when ``step`` is called after the end of an episode."""
        if not self.agents:
            raise RuntimeError("the episode is over; call reset()")

    def check_step(self, actions: object) -> None:
        """Raise a clear error for a ``step`` call the API does not allow.

        After the end of an episode, and for anything but a mapping of agent names to
        actions (a string, a list). What an agent's action says is never an error: a
        missing, non-text or unreadable action is that agent's invalid action.
        """
        self.check_running()
        if not isinstance(actions, Mapping):
            raise InvalidArgumentError(
                f"step() takes a dict of actions keyed by agent ({', '.join(self.agents)}), "
                f"got {type(actions).__name__}"
            )

    def close(self) -> None:
        """Nothing to release."""
