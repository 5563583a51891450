"""TextWorld text adventures on the real TextWorld engine (Inform 7 games played by jericho)."""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from palaestra.envs.core import InvalidAction, TextEnv, Transition, shorten
from palaestra.envs.fd_output import silenced
from palaestra.envs.replay import ReplayedEngine
from palaestra.envs.textworld.games import GameSpec, game_path
from palaestra.errors import InvalidArgumentError
from palaestra.optional import require

#: Interpreter commands that act on the session rather than the story: they would save
#: files, rewind or end the game, open a yes/no prompt, change how later turns print
#: (verbose, brief, notify), or run another command than the one sent (again, oops).
#: Agents may not send them; they never reach the interpreter.
META_COMMANDS = frozenset(
    [
        "quit",
        "q",
        "restart",
        "restore",
        "save",
        "undo",
        "script",
        "unscript",
        "transcript",
        "noscript",
        "notranscript",
        "verbose",
        "brief",
        "superbrief",
        "short",
        "long",
        "normal",
        "notify",
        "again",
        "g",
        "oops",
        "o",
        "restrict",
    ]
)

#: A second command in one action: Inform runs "take key. go north" or "... then ..." as two.
_CHAINED = re.compile(r"[.;]\s*\S|\bthen\b", re.I)

#: Lines of the ASCII-art title TextWorld prints before the story.
_BANNER_LINE = re.compile(r"^[\s_|$\\/<>]*$")

#: The interpreter's trailing prompt and status line ("> ... -= Kitchen =-0/5"), and its
#: end-of-game question (the episode ends there; the agent cannot answer it).
_PROMPT_TAIL = re.compile(r"\n>[^\n]*$|\s*Would you like to RESTART, RESTORE[^\n]*$")

_INSTRUCTION = (
    "You are playing a text adventure game. Each turn, reply with one command for the game's "
    "parser, such as 'go north', 'take key', 'open door', 'examine table', 'inventory' or "
    "'look'; the game answers with what happens."
)


def strip_banner(text: str) -> str:
    """Drop TextWorld's ASCII-art title from the first observation of a game."""
    lines = text.splitlines()
    start = 0
    while start < len(lines) and _BANNER_LINE.match(lines[start]):
        start += 1
    return "\n".join(lines[start:]).strip()


def clean_feedback(text: str) -> str:
    """The game's reply without the interpreter's prompt, status line and restart question."""
    previous = None
    while previous != text:
        previous, text = text, _PROMPT_TAIL.sub("", text.rstrip())
    return text.strip()


def _first_byte(path: Path) -> bytes:
    with path.open("rb") as handle:
        return handle.read(1)


def game_files(games: str | Path | Sequence[str | Path]) -> list[Path]:
    """The ``.z8`` game files named by a file, a folder of them, or a list of files."""
    paths = [Path(games)] if isinstance(games, str | Path) else [Path(g) for g in games]
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            inside = sorted(path.glob("*.z8"))
            if not inside:
                raise InvalidArgumentError(f"no .z8 game files in folder {path}")
            found.extend(inside)
        elif not path.is_file():
            raise InvalidArgumentError(f"game file {path} does not exist")
        elif path.suffix != ".z8" or _first_byte(path) != b"\x08":
            raise InvalidArgumentError(f"{path} is not a TextWorld game (a compiled .z8 file)")
        else:
            found.append(path)
    if not found:
        raise InvalidArgumentError("games is empty; pass a .z8 file, a folder or a list")
    return found


def request_infos(*, expert: bool = False) -> Any:
    """The information palaestra asks TextWorld's engine for at every step."""
    import textworld

    return textworld.EnvInfos(
        admissible_commands=True,
        won=True,
        lost=True,
        score=True,
        max_score=True,
        moves=True,
        objective=True,
        extras=["walkthrough"],
        policy_commands=expert,
    )


def _start_planner(game: Path) -> Any:
    """An interpreter on ``game`` that tracks quests and reports the planner's commands."""
    import textworld

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return textworld.start(str(game), request_infos=textworld.EnvInfos(policy_commands=True))


def _seed_engine(engine: Any) -> None:
    """Seed the interpreter's own RNG the same way every episode."""
    engine.seed(0)


class TextWorldEnv(TextEnv):
    """A TextWorld text adventure, generated offline and played on the real engine.

    **Task.** The game's objective (find the coin, cook the meal, put the lettuce on the
    stove, ...) is told in the first observation and in ``info["instruction"]``. Games come
    from TextWorld's own generator, seeded and cached on disk
    (:mod:`palaestra.envs.textworld.games`), or from the user's ``.z8`` files (``games``).
    The episode seed picks the game from a pool of ``pool_size`` generation seeds, or, with
    ``pool_size=None``, generates a new one per seed.

    **Action.** One parser command per step ("take old key from chest drawer"). Whitespace is
    collapsed; non-ASCII text, several chained commands ("take key. go north", "... then
    ..."), commas (an order or a list to Inform: "me, quit"), backslashes (the interpreter's
    own escapes), interpreter commands (:data:`META_COMMANDS`: save, restore, restart, undo,
    quit, script, verbose, again, ...), TextWorld's ``tw-`` verbs and structurally bad text
    are invalid actions that never reach the interpreter, which runs with descriptors 1 and 2
    silenced (:func:`~palaestra.envs.fd_output.silenced`). A command the game rejects
    ("That's not a verb I recognise.", "You can't see any such thing.") shows the game's reply
    and counts as invalid (it took no game turn).

    **Observation.** The game's reply. ``info["available_actions"]``: TextWorld's admissible
    commands (for generated games). ``info["expert_action"]`` with ``expert=True``: the next
    command of TextWorld's planner (its ``policy_commands``).

    **Reward.** The change in game score (points for quest progress); an invalid action
    adds :data:`~palaestra.envs.core.INVALID_ACTION_PENALTY`. The episode terminates when
    the game is won or lost. ``success``: won. ``episode_metrics``: ``score``,
    ``max_score``, ``moves``, ``invalid_actions``.

    Args:
        challenge: ``simple``, ``coin_collector``, ``treasure_hunter``, ``cooking`` or
            ``custom`` (:data:`~palaestra.envs.textworld.games.CHALLENGES`).
        settings: The challenge's generation settings, e.g. ``{"level": 5}`` or, for
            ``custom``, ``{"world_size": 5, "nb_objects": 10, "quest_length": 5}``
            (:data:`~palaestra.envs.textworld.games.DEFAULT_SETTINGS`).
        pool_size: Number of distinct games the episode seed chooses from; ``None``
            generates a new game for every episode seed.
        pool_seed: Offset of the pool's generation seeds (another pool of games).
        games: The user's own ``.z8`` game file, folder of them, or list (instead of
            generated games; ``available_actions`` and the oracle need TextWorld's ``.json``
            beside each file).
        expert: Add ``expert_action`` to ``info`` (privileged; costs a planner call a step).
        **kwargs: :class:`~palaestra.envs.core.TextEnv` arguments.

    Version History:
        * v0: Initial version (TextWorld 1.7 engine).
    """

    free_text_actions = True
    max_action_length = 196  # jericho cuts longer commands (197 bytes with its newline)
    #: A step runs TextWorld's interpreter (a few ms) and, on a game's first use, may
    #: regenerate nothing: 1 s bounds a step on any action with a wide margin.
    max_step_seconds = 1.0

    #: A game generated per episode from its seed (the pool of 100 is public).
    unseen_game_kwargs: ClassVar[dict[str, Any]] = {"pool_size": None}

    def __init__(
        self,
        *,
        challenge: str = "simple",
        settings: dict[str, Any] | None = None,
        pool_size: int | None = 100,
        pool_seed: int = 0,
        games: str | Path | Sequence[str | Path] | None = None,
        expert: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        require("textworld", "textworld", "TextWorld environments")
        if pool_size is not None and pool_size < 1:
            raise InvalidArgumentError(f"pool_size must be at least 1 or None, got {pool_size}")
        self.spec_template = GameSpec(challenge, settings or {})  # checks the settings now
        self.pool_size = pool_size
        self.pool_seed = pool_seed
        self.files = game_files(games) if games is not None else None
        self.expert = expert
        self._infos = request_infos(expert=expert)
        self._engine: Any = None
        self._loaded: Path | None = None
        self._game: Path | None = None
        self._commands: list[str] = []
        self._state: Any = None
        self._walk = 0  # walkthrough commands played so far
        self._on_walkthrough = True
        # The oracle's planner off the walkthrough: a second interpreter, started on demand.
        self._planner = ReplayedEngine(_start_planner, _seed_engine)

    # ------------------------------------------------------------------ episodes
    def choose_game(self) -> Path:
        """The game of this episode, drawn with the episode's RNG (generated if needed)."""
        if self.files is not None:
            return self.files[int(self.np_random.integers(len(self.files)))]
        if self.pool_size is None:
            seed = int(self.np_random.integers(2**31 - 1))
        else:
            seed = self.pool_seed + int(self.np_random.integers(self.pool_size))
        template = self.spec_template
        return game_path(GameSpec(template.challenge, template.settings, seed))

    def _reset(self, options: dict[str, Any] | None) -> tuple[str, dict[str, Any]]:
        self._game = self.choose_game()
        self._commands = []
        self._walk, self._on_walkthrough = 0, True
        self._start()
        objective = self._state.get("objective") or ""
        instruction = _INSTRUCTION + (f"\n\nYour task: {objective.strip()}" if objective else "")
        info: dict[str, Any] = {"instruction": instruction}
        self._add_expert_action(info)
        observation = clean_feedback(strip_banner(self._state.feedback or ""))
        if not observation:
            raise InvalidArgumentError(f"game {self._game} printed nothing at start: not a game?")
        return observation, info

    def _start(self) -> None:
        """Load (if another game) and restart the engine on the episode's game."""
        with silenced():  # the interpreter is C: it prints past sys.stdout
            self._start_engine()

    def _start_engine(self) -> None:
        import textworld

        assert self._game is not None
        if self._engine is None or self._loaded != self._game:
            self.close()
            try:
                with warnings.catch_warnings():
                    # jericho knows only famous games; TextWorld's wrappers track score and
                    # moves of its own games from their .json instead.
                    warnings.simplefilter("ignore", UserWarning)
                    self._engine = textworld.start(str(self._game), request_infos=self._infos)
            except Exception as exc:  # a file that passed the checks but is not a game
                raise InvalidArgumentError(f"cannot load game {self._game}: {exc}") from exc
            self._loaded = self._game
        _seed_engine(self._engine)
        self._state = self._engine.reset()

    def _parse_action(self, text: str) -> str:
        command = " ".join(text.split()).rstrip(".!?").strip()
        if not command:
            raise InvalidAction("the action has no command in it")
        if not command.isascii():
            # The Z-machine reads ASCII commands; other characters reach it as bytes that it
            # cuts mid-character, and no TextWorld word contains them.
            raise InvalidAction(f"{shorten(command)} has characters the game cannot read")
        if "\\" in command:
            # The interpreter reads a backslash as one of its own escape commands ("\\help"
            # printed its help text forever); no TextWorld command contains one.
            raise InvalidAction(f"{shorten(command)} has a backslash, which the game cannot read")
        if _CHAINED.search(command):
            raise InvalidAction(f"{shorten(command)} chains several commands; send one per turn")
        if "," in command:
            # Inform reads "me, quit" or "save," as an order or a list: the session commands
            # below would get past the check of the first word (no TextWorld command has one).
            raise InvalidAction(f"{shorten(command)} has a comma; send one plain command")
        first = command.split()[0].lower()
        if first in META_COMMANDS or first.startswith("tw-"):  # TextWorld's framework verbs
            raise InvalidAction(
                f"{shorten(command)} is an interpreter command, not part of the game"
            )
        return command

    def _step(self, action: str) -> Transition:
        before_score, before_moves = self._score, self._state.get("moves")
        if self._on_walkthrough:  # once off it, the walkthrough is not looked at again
            walkthrough, position = self._walkthrough_position()
            if position < len(walkthrough) and walkthrough[position] == action:
                self._walk = position + 1
            else:
                self._on_walkthrough = False
        with silenced():
            self._state, _, done = self._engine.step(action)
        self._commands.append(action)
        info: dict[str, Any] = {}
        moves = self._state.get("moves")
        if moves is not None and moves == before_moves and not done:
            info["invalid_action"] = True
            info["invalid_reason"] = "the game did not carry out the command"
        self._add_expert_action(info)
        feedback = clean_feedback(self._state.feedback or "") or "(The game printed nothing.)"
        return Transition(feedback, float(self._score - before_score), bool(done), info)

    def _invalid_transition(self, reason: str) -> Transition:
        info: dict[str, Any] = {}
        self._add_expert_action(info)
        return Transition(f"Invalid action: {reason}.", 0.0, False, info)

    # ------------------------------------------------------------------ state
    @property
    def _score(self) -> int:
        return int(self._state.get("score") or 0)

    def _available_actions(self) -> list[str] | None:
        commands = self._state.get("admissible_commands") if self._state is not None else None
        return sorted(commands) if commands else None

    def _add_expert_action(self, info: dict[str, Any]) -> None:
        if self.expert:
            policy = self._state.get("policy_commands")
            if policy:
                info["expert_action"] = policy[0]

    def _success(self) -> bool:
        return bool(self._state is not None and self._state.get("won"))

    def _metrics(self) -> dict[str, float]:
        state = self._state
        return {
            "score": float(self._score),
            "max_score": float(state.get("max_score") or 0),
            "moves": float(state.get("moves") or 0),
        }

    @property
    def commands(self) -> tuple[str, ...]:
        """The commands sent to the game this episode, in order.

        Actions refused before they reach the interpreter (an interpreter command, a chain of
        commands, characters it cannot read) are not among them.
        """
        return tuple(self._commands)

    @property
    def on_walkthrough(self) -> bool:
        """Whether every command so far followed the game's walkthrough.

        While it does, :meth:`oracle_action` plays the walkthrough's next command; once a
        command leaves it, the oracle asks TextWorld's planner instead.
        """
        return self._on_walkthrough

    @property
    def max_return(self) -> float | None:
        """The game's maximum score."""
        maximum = self._state.get("max_score") if self._state is not None else None
        return float(maximum) if maximum is not None else None

    def oracle_action(self) -> str:
        """The walkthrough's next command while the episode follows it, else the planner's.

        Walkthrough commands that are not admissible now are skipped: TextWorld's
        walkthroughs sometimes repeat one (a second "open fridge") that the game refuses. Off
        the walkthrough, TextWorld's planner (its ``policy_commands``) replans from the
        current state; without ``expert=True`` a second interpreter with quest tracking is
        started on the first such call and kept in step by replaying the episode's commands.

        Raises:
            RuntimeError: The game has no walkthrough or plan (a user's game without its
                ``.json``), or the game is already over.
        """
        if self._on_walkthrough:
            walkthrough, position = self._walkthrough_position()
            if position < len(walkthrough):
                return str(walkthrough[position])
        plan = self._plan()
        if not plan:
            raise RuntimeError(f"no walkthrough or plan for game {self._game}")
        return str(plan[0])

    def _plan(self) -> list[str]:
        """TextWorld's planner commands from the current state."""
        if self.expert:
            return list(self._state.get("policy_commands") or [])
        assert self._game is not None
        state = self._planner.state(self._game, self._commands)
        return list(state.get("policy_commands") or [])

    def _walkthrough_position(self) -> tuple[list[str], int]:
        """The walkthrough and the index of its next command admissible now."""
        walkthrough = list(self._state.get("extra.walkthrough") or [])
        admissible = set(self._state.get("admissible_commands") or [])
        position = self._walk
        while (
            admissible and position < len(walkthrough) and walkthrough[position] not in admissible
        ):
            position += 1
        return walkthrough, position

    # ------------------------------------------------------------------ lifecycle
    def discard_game(self) -> None:
        """Delete this episode's generated game (with ``pool_size=None`` only)."""
        if self.files is None and self.pool_size is None and self._game is not None:
            for suffix in (".z8", ".json", ".lock"):
                self._game.with_suffix(suffix).unlink(missing_ok=True)

    def close(self) -> None:
        """Stop the game interpreters."""
        if self._engine is not None:
            with silenced():
                self._engine.close()
            self._engine = None
            self._loaded = None
        self._planner.close()

    def __getstate__(self) -> dict[str, Any]:
        # The interpreter cannot be pickled: a copy reloads the game and replays the
        # episode's commands (the engine is deterministic), which restores the same state.
        state = dict(self.__dict__)
        state.update(_engine=None, _loaded=None, _state=None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        if self._game is not None:
            commands, self._commands = self._commands, []
            self._start()
            with silenced():
                for command in commands:
                    self._state, _, _ = self._engine.step(command)
                    self._commands.append(command)
