"""Starting ALFWorld's text engine: TextWorld's PDDL backend with ALFWorld's own wrappers."""

from __future__ import annotations

import contextlib
import functools
import io
import random
import warnings
from pathlib import Path
from typing import Any


def start_engine(game_file: Path, *, expert: bool = False) -> Any:
    """A loaded ALFWorld game: ``PddlEnv`` + ``AlfredDemangler`` + ``AlfredInfos`` (+ expert).

    This is the wrapper stack of ALFWorld's ``AlfredTWEnv``, without ``textworld.gym``'s
    process pool: name demangling ("apple 1"), the game file in the infos and, with
    ``expert=True``, the hand-coded expert's next command as ``extra.expert_plan``.
    """
    import textworld
    from textworld.envs import PddlEnv

    _cache_text_templates()

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
    with warnings.catch_warnings():
        # TextWorld's loader reads the game with an unclosed open(); not ours to fix here.
        warnings.simplefilter("ignore", ResourceWarning)
        env.load(str(game_file))
    return env


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
