"""Starting ALFWorld's text engine: TextWorld's PDDL backend with ALFWorld's own wrappers."""

from __future__ import annotations

import contextlib
import functools
import io
import random
import threading
import warnings
from pathlib import Path
from typing import Any

from palaestra.envs.alfworld.planner import SEARCHED_TASK_TYPES as _SEARCHED
from palaestra.envs.alfworld.planner import Fact, Goal, shortest_plan


def start_engine(game_file: Path, *, expert: bool = False) -> Any:
    """A loaded ALFWorld game: ``PddlEnv`` + ``AlfredDemangler`` + ``AlfredInfos`` (+ expert).

    This is the wrapper stack of ALFWorld's ``AlfredTWEnv``, without ``textworld.gym``'s
    process pool: name demangling ("apple 1"), the game file in the infos and, with
    ``expert=True``, the hand-coded expert's next command as ``extra.expert_plan``. The
    planner is available at any state through :func:`plan`.
    """
    import textworld

    _cache_text_templates()
    _cache_translations()
    from textworld.envs import PddlEnv

    # ALFWorld's modules print and warn on import (termcolor banners, deprecations).
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        from alfworld.agents.environment.alfred_tw_env import (
            AlfredDemangler,
            AlfredExpert,
            AlfredExpertType,
            AlfredInfos,
        )

    infos = textworld.EnvInfos(won=True, admissible_commands=True, extras=["gamefile"])
    env: Any = AlfredInfos(AlfredDemangler(PddlEnv(infos), shuffle=False))
    if expert:
        infos.extras.append("expert_plan")
        env = _SeededExpert(AlfredExpert(env, expert_type=AlfredExpertType.HANDCODED))
    load_game(env, game_file)
    return env


def load_game(engine: Any, game_file: Path) -> None:
    """Load ``game_file`` into a running engine (the next ``reset`` starts it)."""
    with warnings.catch_warnings():
        # TextWorld's loader reads the game with an unclosed open(); not ours to fix here.
        warnings.simplefilter("ignore", ResourceWarning)
        engine.load(str(game_file))


def plan(engine: Any, goal: Goal | None, max_steps: int) -> list[str] | None:
    """The shortest plan from the engine's current state, as the engine's text commands.

    The search (:func:`~palaestra.envs.alfworld.planner.shortest_plan`) runs on the facts of
    the engine's PDDL state; its operators are written out with the grammar's command
    templates and the demangled names, exactly as the engine lists its admissible commands.
    ``None`` when no plan of at most ``max_steps`` commands reaches the goal, or for a goal
    the search does not model (``goal`` is ``None``).
    """
    if goal is None:
        return None
    state = engine._pddl_state
    facts = [Fact(f.name, tuple(a.name for a in f.arguments)) for f in state.facts]
    operators = shortest_plan(facts, goal, max_steps)
    if operators is None:
        return None
    commands = state.plan_to_templated_actions(
        [" ".join(o) for o in operators], engine._entity_infos
    )
    return [str(c) for c in commands]


def downward_plan(engine: Any) -> list[str]:
    """Fast Downward's plan from the engine's current state (ALFWorld's planner expert).

    The general planner for goals :func:`plan` does not model (official games with sliced
    objects, say); its search can take minutes in large households. ``[]`` when it finds
    no plan.
    """
    return [str(c) for c in engine._pddl_state.replan(engine._entity_infos)]


def goal_of(traj_data: dict[str, Any]) -> Goal | None:
    """The goal of a game from its ``traj_data.json``, if the search models it.

    ``None`` for goals it does not: other task types, sliced objects and movable
    containers (``mrecep_target``) of some official games.
    """
    params = traj_data.get("pddl_params") or {}
    if (
        traj_data.get("task_type") not in _SEARCHED
        or params.get("object_sliced")
        or params.get("mrecep_target")
    ):
        return None
    return Goal(
        task_type=str(traj_data.get("task_type", "")),
        object_target=str(params.get("object_target", "")),
        parent_target=str(params.get("parent_target", "")),
        toggle_target=str(params.get("toggle_target", "")),
    )


@functools.cache
def _cache_text_templates() -> None:
    """Parse each of the grammar's text templates once instead of at every use.

    TextWorld's PDDL backend re-parses a template (with a tatsu PEG parser) every time it
    writes a sentence, which was most of the time of a reset and of a step. The parse tree of
    a template never changes, so it is cached; every use still converts it into fresh
    symbols (the engine mutates those), which is cheap.
    """
    from textworld.envs.pddl import textgen

    parser = textgen._PARSER
    cache: dict[tuple[str, str], Any] = {}

    def cached(text: str, rule_name: str, **kwargs: Any) -> Any:
        key = (text, rule_name)
        if kwargs.get("trace") or key not in cache:
            cache[key] = parser.parse(text, rule_name=rule_name, **kwargs)
        return textgen._Converter().walk(cache[key])

    textgen._parse_and_convert = cached


#: Translations kept per process, two per game (plain and optimized): 16 games, each a
#: few MB.
TRANSLATIONS_KEPT = 32


@functools.cache
def _cache_translations() -> None:
    """Translate each PDDL problem to Fast Downward's SAS form once per process.

    TextWorld's PDDL backend translates the game's problem twice (plain and optimized) every
    time it builds a state, that is at every load and every reset: 0.3-1 s each, most of a
    reset. The translation is a pure function of the domain and problem texts, and its
    results are only read, so the last :data:`TRANSLATIONS_KEPT` are kept; resetting the
    same game again (a GRPO group, an evaluation's episodes) then translates nothing.
    """
    import fast_downward

    cached = functools.lru_cache(maxsize=TRANSLATIONS_KEPT)(fast_downward.pddl2sas)
    # The translator sets module-wide options (and sys.argv) while it runs: one at a time,
    # or a result made under another thread's options would be kept for good.
    lock = threading.Lock()

    def translate(*args: Any, **kwargs: Any) -> Any:
        with lock:
            return cached(*args, **kwargs)

    translate.cache_info = cached.cache_info  # type: ignore[attr-defined]
    fast_downward.pddl2sas = translate


class _SeededExpert:
    """ALFWorld's expert with its random choices made deterministic.

    The hand-coded expert breaks ties with the global ``random`` module. Each reset and step
    runs with ``random`` seeded from the step number and command, and the caller's
    ``random`` state is restored afterwards.
    """

    def __init__(self, env: Any) -> None:
        self._env = env
        self._steps = 0

    def _seeded(self, key: str, call: Any) -> Any:
        state = random.getstate()
        random.seed(key)
        try:
            return call()
        finally:
            random.setstate(state)

    def reset(self) -> Any:
        """Reset the game and the expert."""
        self._steps = 0
        return self._seeded("reset", self._env.reset)

    def step(self, command: str) -> Any:
        """Play ``command``; the expert plans its next one."""
        self._steps += 1
        return self._seeded(f"{self._steps}:{command}", lambda: self._env.step(command))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._env, name)
