"""Starting ALFWorld's text engine: TextWorld's PDDL backend with ALFWorld's own wrappers."""

from __future__ import annotations

import contextlib
import functools
import io
import random
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from palaestra.envs.alfworld import translation
from palaestra.envs.alfworld.fast_engine import FastEngine
from palaestra.envs.alfworld.planner import SEARCHED_TASK_TYPES as _SEARCHED
from palaestra.envs.alfworld.planner import Fact, Goal, shortest_plan

#: The engines an ALFWorld env can play on: compiled (the default) and ALFWorld's own.
ENGINES = ("fast", "pddl")


def start_engine(game_file: Path, *, expert: bool = False, engine: str = "pddl") -> Any:
    """A loaded ALFWorld game on one of :data:`ENGINES`.

    ``"pddl"`` is the wrapper stack of ALFWorld's ``AlfredTWEnv`` without
    ``textworld.gym``'s process pool: TextWorld's ``PddlEnv`` with ``AlfredDemangler``
    (names such as "apple 1") and ``AlfredInfos`` (the game file in the infos); its
    translations come from :mod:`~palaestra.envs.alfworld.translation`. ``"fast"`` is
    :class:`~palaestra.envs.alfworld.fast_engine.FastEngine` on the compiled game, with the
    same states; it raises
    :class:`~palaestra.envs.alfworld.fast_engine.UnsupportedGameError` for a game it cannot
    prove it plays exactly. With ``expert=True`` either is wrapped in ALFWorld's hand-coded
    expert, whose next command is ``extra.expert_plan``. The planner is available at any
    state through :func:`plan`.
    """
    import textworld

    install_text_templates()
    translation.install()
    infos = textworld.EnvInfos(won=True, admissible_commands=True, extras=["gamefile"])
    if engine == "fast":
        env: Any = FastEngine(infos)
    elif engine == "pddl":
        from textworld.envs import PddlEnv

        pddl = PddlEnv(infos)
        pddl.downward_lib = translation.deferred_replanning(pddl.downward_lib)
        alfred = _alfred()
        env = alfred.AlfredInfos(alfred.AlfredDemangler(_translating(pddl), shuffle=False))
    else:
        raise ValueError(f"unknown ALFWorld engine {engine!r}; choose one of {ENGINES}")
    if expert:
        alfred = _alfred()
        infos.extras.append("expert_plan")
        env = _SeededExpert(alfred.AlfredExpert(env, expert_type=alfred.AlfredExpertType.HANDCODED))
    load_game(env, game_file)
    return env


def _translating(env: Any) -> Any:
    """TextWorld's ``PddlEnv`` loading and resetting on palaestra's cached translations."""
    from textworld.core import Wrapper

    class Translating(Wrapper):  # type: ignore[misc]
        def load(self, path: str) -> None:
            with translation.palaestra_engine():
                self._wrapped_env.load(path)

        def reset(self) -> Any:
            with translation.palaestra_engine():
                return self._wrapped_env.reset()

    return Translating(env)


@contextlib.contextmanager
def _quiet_import() -> Iterator[None]:
    """ALFWorld's modules print and warn on import (termcolor banners, deprecations)."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        yield


def _alfred() -> Any:
    """ALFWorld's engine wrappers."""
    with _quiet_import():
        from alfworld.agents.environment import alfred_tw_env
    return alfred_tw_env


def demangled_names(types: dict[str, str]) -> dict[str, str]:
    """ALFWorld's display names of a game's entities ("apple_bar__minus_01..." → "apple 1")."""
    from textworld.generator.game import EntityInfo

    with _quiet_import():
        from alfworld.agents.utils.misc import Demangler

    infos = {i: EntityInfo(i, t) for i, t in types.items()}
    demangler = Demangler(game_infos=infos, shuffle=False)
    return {i: demangler.demangle_alfred_name(i) for i in types}


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
    inner = innermost(engine)
    if isinstance(inner, FastEngine):
        facts = [Fact(name, args) for name, args in inner.planner_facts()]
    else:
        state = engine._pddl_state
        facts = [Fact(f.name, tuple(a.name for a in f.arguments)) for f in state.facts]
    # Sorted: the search reads some relations into dicts (the last fact wins), and the
    # engines hold their facts in different orders (sets, in the PDDL engine).
    operators = shortest_plan(sorted(facts), goal, max_steps)
    if operators is None:
        return None
    steps = [" ".join(o) for o in operators]
    if isinstance(inner, FastEngine):
        return inner.templated(steps)
    return [str(c) for c in state.plan_to_templated_actions(steps, engine._entity_infos)]


def innermost(engine: Any) -> Any:
    """The engine under its wrappers (ALFWorld's, TextWorld's and the seeded expert)."""
    while True:
        inner = vars(engine).get("_wrapped_env") or vars(engine).get("_env")
        if inner is None:
            return engine
        engine = inner


def downward_plan(engine: Any) -> list[str]:
    """Fast Downward's plan from the engine's current state (ALFWorld's planner expert).

    The general planner for goals :func:`plan` does not model (official games with sliced
    objects, say); its search can take minutes in large households. ``[]`` when it finds
    no plan. Needs the ``"pddl"`` engine.
    """
    if isinstance(innermost(engine), FastEngine):
        raise TypeError("Fast Downward's planner runs on the pddl engine")
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
def install_text_templates() -> None:
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
