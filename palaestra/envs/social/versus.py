"""One player of a multi-agent game against scripted others, as a Gymnasium environment."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

from palaestra.envs.core import TextEnv, Transition, accepted_kwargs
from palaestra.envs.social.parallel import TextParallelEnv
from palaestra.errors import InvalidArgumentError, did_you_mean


def check_opponent(opponent: str, choices: Iterable[str]) -> str:
    """``opponent`` if it is one of ``choices``, else a clear error suggesting the closest."""
    names = list(choices)
    if opponent not in names:
        raise InvalidArgumentError(
            f"unknown opponent {opponent!r}{did_you_mean(opponent, names)} "
            f"Choose one of {', '.join(names)}."
        )
    return opponent


def split_arguments(game: type, kwargs: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``kwargs`` split into the ``game`` class's arguments and the rest (:class:`TextEnv`'s).

    A view takes every argument of its game by name (unknown names are refused before, by
    :meth:`TextEnv.__new__`, with the closest suggested), so none is listed twice.
    """
    names = accepted_kwargs(game) - {"render_mode"}
    return (
        {k: v for k, v in kwargs.items() if k in names},
        {k: v for k, v in kwargs.items() if k not in names},
    )


class VersusScripted(TextEnv):
    """The single-agent view: the agent is ``player_0`` of ``game``; the rest are scripted.

    Subclasses create ``self.game`` and implement :meth:`opponent_actions`. Invalid actions
    (structural ones included) play the game's default move, marked ``invalid_action``.
    """

    game: TextParallelEnv
    #: The game class whose keyword arguments the view forwards (checked by name).
    game_class: ClassVar[type]
    me: str = "player_0"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._info: dict[str, Any] = {}

    @property
    def default_move(self) -> str:
        """What an invalid action counts as."""
        raise NotImplementedError

    def opponent_actions(self) -> dict[str, str]:
        """The scripted players' actions this step."""
        raise NotImplementedError

    def _reset(self, options: dict[str, Any] | None) -> tuple[str, dict[str, Any]]:
        observations, infos = self.game.reset(seed=int(self.np_random.integers(2**31 - 1)))
        self._info = {}
        return observations[self.me], {"instruction": infos[self.me]["instruction"]}

    def _step(self, action: str) -> Transition:
        actions = self.opponent_actions()
        actions[self.me] = action
        observations, rewards, terminations, truncations, infos = self.game.step(actions)
        self._info = infos[self.me]
        info: dict[str, Any] = {}
        if self._info["invalid_action"]:
            info["invalid_action"] = True
            info["invalid_reason"] = f"not a valid move; it counted as {self.default_move}"
        # The game's fixed length is its own end, so the episode terminates there.
        done = terminations[self.me] or truncations[self.me]
        return Transition(observations[self.me], rewards[self.me], done, info)

    def _invalid_transition(self, reason: str) -> Transition:
        # A structurally bad action (empty, binary, too long) also plays the default move.
        transition = self._step("")
        transition.info["invalid_action"] = True
        transition.info["invalid_reason"] = reason
        return transition
