"""ALFWorld household tasks on ALFWorld's text engine (compiled, or TextWorld's PDDL backend)."""

from __future__ import annotations

import functools
import json
import logging
import re
import shutil
from pathlib import Path
from typing import Any, ClassVar

from palaestra.envs.alfworld import fast_engine
from palaestra.envs.alfworld.engine import (
    ENGINES,
    downward_plan,
    goal_of,
    load_game,
    plan,
    start_engine,
)
from palaestra.envs.alfworld.fast_engine import AmbiguousCommandError, UnsupportedGameError
from palaestra.envs.alfworld.games import (
    check_game,
    data_folder,
    generated_game,
    official_games,
)
from palaestra.envs.alfworld.generator import SPLITS, TASK_TYPES, task_type_name
from palaestra.envs.core import InvalidAction, TextEnv, Transition, shorten
from palaestra.envs.fd_output import silenced
from palaestra.envs.replay import ReplayedEngine
from palaestra.errors import InvalidArgumentError
from palaestra.optional import require

#: "put X in Y" / "put X on Y" / "put X in/on Y" (ALFWorld before 0.4) → "move X to Y".
_PUT = re.compile(r"put (.+?) (?:in/on|in|on|into|onto) (.+)")

_WELCOME = "-= Welcome to TextWorld, ALFRED! =-"

_log = logging.getLogger(__name__)

#: Longest plan the oracle searches for when it replans (the registered step limit).
_REPLAN_STEPS = 50

_INSTRUCTION = (
    "You are an agent in a household, in the middle of a room. Each turn, reply with exactly "
    "one of the available actions, such as 'go to countertop 1', 'open fridge 1', 'take apple "
    "1 from countertop 1', 'move apple 1 to fridge 1' (or 'put apple 1 in fridge 1'), 'heat "
    "apple 1 with microwave 1', 'cool apple 1 with fridge 1', 'clean apple 1 with sinkbasin "
    "1', 'use desklamp 1', 'examine apple 1', 'look' or 'inventory'."
)


class ALFWorldEnv(TextEnv):
    """An ALFWorld household task, played on ALFWorld's text engine.

    **Task.** One of ALFWorld's six task types ("put a clean apple in the fridge", "examine
    the alarmclock with the desklamp", ...), stated in the first observation and in
    ``info["instruction"]``. Tasks come from palaestra's offline generator
    (:mod:`palaestra.envs.alfworld.generator`: seeded households from the AI2-THOR floor
    plans ALFWorld uses, written as ALFWorld game folders with a shortest plan of at most 25
    commands as the walkthrough, verified by replay and cached on disk) or, with
    ``data_path`` (or ``$PALAESTRA_ALFWORLD_DATA``), from ALFWorld's official
    ``json_2.1.1`` games. The episode seed picks the task type (when several) and the game.

    **Action.** One of ``info["available_actions"]`` (ALFWorld's admissible commands).
    "put X in/on Y", the syntax before ALFWorld 0.4 used in the papers' prompts, is accepted
    as "move X to Y". Case, surrounding whitespace and a final period do not matter. Any
    other command is an invalid action: the observation is ALFWorld's "Nothing happens.".

    **Engine.** ``engine="fast"`` (the default) plays the game on its compiled form
    (:mod:`~palaestra.envs.alfworld.fast_engine`), hundreds of times faster per step than
    ``engine="pddl"``, ALFWorld's own stack (TextWorld's PDDL backend with ALFWorld's
    wrappers), and with the same observations, admissible commands, rewards and ends, which
    a differential test checks step by step. A game the fast engine cannot prove it plays
    exactly is played on the PDDL engine (logged).

    **Reward.** 1 when the task is done (the episode then terminates), else 0; an invalid
    action adds :data:`~palaestra.envs.core.INVALID_ACTION_PENALTY`. ``success``: the task
    is done. ``info["expert_action"]`` with ``expert=True``: ALFWorld's hand-coded expert's
    next command (computed every step).

    Args:
        task_type: One of ALFWorld's task types or its short name (``pick``, ``look``,
            ``clean``, ``heat``, ``cool``, ``pick_two``); ``None`` for all six.
        split: ``train`` or ``unseen`` (floor plans never used in train); with official
            data also ``seen`` (ALFWorld's ``valid_seen``).
        pool_size: Generated games per task type the episode seed chooses from.
        data_path: An official ALFWorld data folder (``json_2.1.1``) or a folder of game
            folders; overrides ``$PALAESTRA_ALFWORLD_DATA``.
        expert: Add ``expert_action`` to ``info`` (privileged).
        engine: ``"fast"`` or ``"pddl"`` (see **Engine**).
        **kwargs: :class:`~palaestra.envs.core.TextEnv` arguments.

    Version History:
        * v0: Initial version (ALFWorld 0.4 engine and grammar). Generator 2: walkthroughs
          are shortest plans of at most 25 commands, and draws without one are skipped (so
          some seeds give other households than generator 1 did); the oracle replans with
          the same search. ``engine="fast"`` (the default since) plays the same episodes as
          ``engine="pddl"``, ALFWorld's engine and the only one before.
    """

    max_action_length = 200
    #: A step of ALFWorld's PDDL engine takes 20-400 ms by household size (its text
    #: generation and admissible commands), of the fast engine under a millisecond; invalid
    #: actions cost less. 2 s bounds either with a margin.
    max_step_seconds = 2.0

    #: A household generated per episode: its index drawn from every one the generator can
    #: make (the pool of 100 per task type is public).
    unseen_game_kwargs: ClassVar[dict[str, Any]] = {"pool_size": 2**31 - 1}

    def __init__(
        self,
        *,
        task_type: str | None = None,
        split: str = "train",
        pool_size: int = 100,
        data_path: str | Path | None = None,
        expert: bool = False,
        engine: str = "fast",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        require("alfworld", "alfworld", "ALFWorld environments")
        if engine not in ENGINES:
            raise InvalidArgumentError(
                f"unknown ALFWorld engine {engine!r}; choose one of {ENGINES}"
            )
        self.engine = engine
        self.task_types = TASK_TYPES if task_type is None else (task_type_name(task_type),)
        if pool_size < 1:
            raise InvalidArgumentError(f"pool_size must be at least 1, got {pool_size}")
        self.pool_size = pool_size
        self.split = split
        self.expert = expert
        folder = data_folder(data_path)
        self.files = official_games(folder, split, self.task_types) if folder else None
        if self.files is None and split not in SPLITS:
            raise InvalidArgumentError(f"unknown ALFWorld split {split!r}; choose one of {SPLITS}")
        self._engines: dict[str, Any] = {}  # one of each kind for the env's life
        self._loaded: dict[str, Path] = {}  # the game in each
        self._kind = engine  # the engine playing this episode
        self._refused: set[Path] = set()  # games the fast engine refused
        #: The engine the oracle last planned on (the fast one unless it refused).
        self.oracle_engine = engine
        self._game: Path | None = None
        self._state: Any = None
        self._commands: list[str] = []
        self._walkthrough: list[str] = []
        self._on_walkthrough = True
        # The oracle's engines: the PDDL one (Fast Downward's planner, and the games the
        # fast engine refuses) started on demand, one for the env's life; a fast one per game.
        self._pddl_shadow = ReplayedEngine(
            functools.partial(start_engine, engine="pddl"), load=load_game
        )
        self._shadow = (
            ReplayedEngine(functools.partial(start_engine, engine="fast"))
            if engine == "fast"
            else self._pddl_shadow
        )

    # ------------------------------------------------------------------ episodes
    def choose_game(self) -> Path:
        """This episode's ``game.tw-pddl``, drawn with the episode's RNG (generated if needed)."""
        if self.files is not None:
            return self.files[int(self.np_random.integers(len(self.files)))]
        task_type = self.task_types[int(self.np_random.integers(len(self.task_types)))]
        return generated_game(self.split, task_type, int(self.np_random.integers(self.pool_size)))

    def _reset(self, options: dict[str, Any] | None) -> tuple[str, dict[str, Any]]:
        self._game = self.choose_game()
        data = check_game(self._game)
        walkthrough = data.get("walkthrough")
        self._walkthrough = [str(c) for c in walkthrough] if isinstance(walkthrough, list) else []
        self._commands, self._on_walkthrough = [], True
        self._start()
        text = (self._state.feedback or "").replace(_WELCOME, "").strip()
        task = text.rsplit("Your task is to:", 1)[-1].strip() if "Your task is to:" in text else ""
        info: dict[str, Any] = {"instruction": f"{_INSTRUCTION}\n\nYour task is to: {task}"}
        self._add_expert_action(info)
        return text, info

    def _start(self) -> None:
        assert self._game is not None
        # What the engine's native parts print never reaches the process's output.
        self._warning: str | None = None
        try:
            with silenced():
                self._start_engine()
        except Exception as exc:  # a game file with the keys but a broken domain or problem
            raise InvalidArgumentError(f"cannot load ALFWorld game {self._game}: {exc}") from exc
        if self._warning:  # logged here: inside silenced() the log's stream goes nowhere
            _log.warning(self._warning)

    def _start_engine(self) -> None:
        assert self._game is not None
        self._kind = self.engine
        if self.engine == "fast":
            try:
                self._state = self._engine_for("fast").reset()
                return
            except UnsupportedGameError as exc:
                if self._game not in self._refused:  # once per game, not every episode
                    self._refused.add(self._game)
                    self._warning = f"{self._game} plays on the pddl engine: {exc}"
        self._kind = "pddl"
        self._state = self._engine_for("pddl").reset()

    def _engine_for(self, kind: str) -> Any:
        """The env's engine of this kind, with this episode's game loaded."""
        assert self._game is not None
        engine = self._engines.get(kind)
        if engine is None:
            self._engines[kind] = start_engine(self._game, expert=self.expert, engine=kind)
        elif self._loaded.get(kind) != self._game:
            self._loaded.pop(kind, None)  # until the load succeeds: a failed one leaves it broken
            load_game(engine, self._game)
        self._loaded[kind] = self._game  # a reset of the loaded game needs no second load
        return self._engines[kind]

    def _continue_on_pddl(self) -> None:
        """Go on with the episode in the PDDL engine (its commands replayed there)."""
        self._kind = "pddl"
        with silenced():
            self._state = self._engine_for("pddl").reset()
            for command in self._commands:
                self._state, _, _ = self._engine.step(command)

    @property
    def _engine(self) -> Any:
        engine = self._engines.get(self._kind)
        if engine is None:
            raise RuntimeError("the env's engine is closed: reset the env first")
        return engine

    def _parse_action(self, text: str) -> str:
        command = " ".join(text.lower().split()).rstrip(".")
        put = _PUT.fullmatch(command)
        if put is not None:
            command = f"move {put.group(1)} to {put.group(2)}"
        if command not in (self._state.admissible_commands or []):
            raise InvalidAction(f"{shorten(text)} is not one of the available actions")
        return command

    def _step(self, action: str) -> Transition:
        if self._on_walkthrough and (
            len(self._commands) >= len(self._walkthrough)
            or self._walkthrough[len(self._commands)] != action
        ):
            self._on_walkthrough = False
        try:
            with silenced():
                self._state, _, done = self._engine.step(action)
        except AmbiguousCommandError as exc:
            # The fast engine refused the step before changing anything: the episode goes
            # on in the PDDL engine from where it is.
            _log.warning("%s continues on the pddl engine: %s", self._game, exc)
            self._continue_on_pddl()
            with silenced():
                self._state, _, done = self._engine.step(action)
        self._commands.append(action)
        won = bool(self._state["won"])
        info: dict[str, Any] = {}
        self._add_expert_action(info)
        return Transition(self._state.feedback.strip(), 1.0 if won else 0.0, won or done, info)

    def _invalid_transition(self, reason: str) -> Transition:
        info: dict[str, Any] = {}
        self._add_expert_action(info)
        return Transition("Nothing happens.", 0.0, False, info)

    # ------------------------------------------------------------------ state
    def _available_actions(self) -> list[str] | None:
        return list(self._state.admissible_commands) if self._state is not None else None

    def _add_expert_action(self, info: dict[str, Any]) -> None:
        if self.expert:
            plan = self._state.get("extra.expert_plan") or []
            if plan:
                info["expert_action"] = plan[0]

    def _success(self) -> bool:
        return bool(self._state is not None and self._state["won"])

    @property
    def max_return(self) -> float:
        """The task done."""
        return 1.0

    @property
    def game_file(self) -> Path | None:
        """This episode's ``game.tw-pddl`` (None before the first reset; privileged).

        Its folder also holds the task's ``traj_data.json``.
        """
        return self._game

    @property
    def commands(self) -> tuple[str, ...]:
        """The commands the engine carried out this episode, in order (invalid ones never)."""
        return tuple(self._commands)

    @property
    def walkthrough(self) -> tuple[str, ...]:
        """The plan :meth:`oracle_action` follows, from the start of the episode (privileged).

        The game's stored walkthrough after a reset; once the episode leaves it, the oracle's
        next call replaces it with the episode's commands so far followed by a new plan.
        """
        return tuple(self._walkthrough)

    @property
    def on_walkthrough(self) -> bool:
        """Whether every command so far followed :attr:`walkthrough`."""
        return self._on_walkthrough

    @property
    def task(self) -> dict[str, Any]:
        """The episode's ``traj_data.json`` (task type and targets; privileged)."""
        assert self._game is not None
        return dict(json.loads((self._game.parent / "traj_data.json").read_text()))

    def oracle_action(self) -> str:
        """The next command of the plan the episode follows: the walkthrough, or a new plan.

        Off the walkthrough, the planner that wrote it plans once from the current state, in
        a second engine that replays the episode's commands (started on the first such
        call); that plan is followed until the episode leaves it too. For a goal that planner
        does not model (official games with sliced objects), ALFWorld's Fast Downward
        planner is asked instead.
        """
        if not self._on_walkthrough or len(self._commands) >= len(self._walkthrough):
            assert self._game is not None
            self.oracle_engine = self.engine
            try:
                engine, _ = self._shadow.at(self._game, self._commands)
            except UnsupportedGameError:
                self.oracle_engine = "pddl"  # the fast engine refuses the game or a command
                engine, _ = self._pddl_shadow.at(self._game, self._commands)
            steps = plan(engine, goal_of(self.task), max_steps=_REPLAN_STEPS)
            if steps is None:  # a goal the search does not model, or nothing in reach
                engine, _ = self._pddl_shadow.at(self._game, self._commands)
                with silenced():  # Fast Downward is native code
                    steps = downward_plan(engine)
            self._walkthrough = [*self._commands, *steps]
            self._on_walkthrough = True
        if len(self._commands) < len(self._walkthrough):
            return self._walkthrough[len(self._commands)]
        return "look"  # the planner has no plan: the task is done

    # ------------------------------------------------------------------ lifecycle
    def close_engine(self) -> None:
        """Stop the env's engines."""
        with silenced():
            for engine in self._engines.values():
                engine.close()
        self._engines, self._loaded = {}, {}

    def discard_game(self) -> None:
        """Delete this episode's generated household (played with ``unseen_game_kwargs``)."""
        unseen = self.pool_size == self.unseen_game_kwargs["pool_size"]
        if self.files is None and unseen and self._game is not None:
            fast_engine.forget(self._game)  # its translation and compiled form too
            task = self._game.parent
            shutil.rmtree(task, ignore_errors=True)
            task.with_name(task.name + ".lock").unlink(missing_ok=True)

    def close(self) -> None:
        """Stop the engines."""
        self.close_engine()
        self._shadow.close()
        self._pddl_shadow.close()

    def __getstate__(self) -> dict[str, Any]:
        # The engine cannot be pickled: a copy reloads the game and replays the episode.
        return {**self.__dict__, "_engines": {}, "_state": None, "_loaded": {}}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        if self._game is not None:
            kind = self._kind
            self._start()
            if kind != self._kind:  # the episode had gone on in the PDDL engine
                self._continue_on_pddl()
                return
            with silenced():
                for command in self._commands:
                    self._state, _, _ = self._engine.step(command)
