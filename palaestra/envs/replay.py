"""A second game engine kept in step with an episode by replaying its commands.

Text-game engines (TextWorld's interpreter, ALFWorld's PDDL engine) compute expensive
privileged information (a planner's next command, ALFWorld's hand-coded expert) only when
asked to for every step. Environments that need it rarely (an oracle queried now and then)
start this shadow engine on demand instead and replay the episode's commands into it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from palaestra.envs.fd_output import silenced


class ReplayedEngine:
    """An engine started on demand that follows an episode's commands.

    Args:
        start: ``start(game) -> engine`` for an engine with ``seed``-less ``reset()`` and
            ``step(command) -> (state, score, done)``, as TextWorld's are.
        before_reset: Called with the engine before each reset (e.g. to seed it).
        load: ``load(engine, game)`` loads another game into the running engine instead of
            starting a new one, for engines that are costly to start or never free what
            they load (ALFWorld's).
    """

    def __init__(
        self,
        start: Callable[[Path], Any],
        before_reset: Callable[[Any], None] | None = None,
        *,
        load: Callable[[Any, Path], None] | None = None,
    ) -> None:
        self._start = start
        self._before_reset = before_reset
        self._load = load
        self._engine: Any = None
        self._game: Path | None = None
        self._state: Any = None
        self._done: list[str] = []

    def state(self, game: Path, commands: list[str]) -> Any:
        """The engine's state after playing ``commands`` from the start of ``game``."""
        return self.at(game, commands)[1]

    def at(self, game: Path, commands: list[str]) -> tuple[Any, Any]:
        """The engine and its state after playing ``commands`` from the start of ``game``.

        What the engine prints on the process's standard output or error is dropped.
        """
        with silenced():
            return self._at(game, commands)

    def _at(self, game: Path, commands: list[str]) -> tuple[Any, Any]:
        if self._engine is None or self._game != game:
            self._game = None  # until the game is in: a failed load leaves the engine broken
            if self._engine is not None and self._load is not None:
                self._load(self._engine, game)
            else:
                self.close()
                self._engine = self._start(game)
            self._game = game
            self._reset()
        elif self._state is None or commands[: len(self._done)] != self._done:
            self._reset()  # a new episode, or this one went elsewhere: replay from the start
        for command in commands[len(self._done) :]:
            self._state, _, _ = self._engine.step(command)
            self._done.append(command)
        return self._engine, self._state

    def _reset(self) -> None:
        if self._before_reset is not None:
            self._before_reset(self._engine)
        self._state = self._engine.reset()
        self._done = []

    def close(self) -> None:
        """Stop the engine."""
        if self._engine is not None:
            with silenced():
                self._engine.close()
        self._engine = self._game = self._state = None
        self._done = []

    def __getstate__(self) -> dict[str, Any]:
        # Engines cannot be pickled; a copy starts its own on demand.
        return {**self.__dict__, "_engine": None, "_game": None, "_state": None, "_done": []}
