"""Old module paths of modules that moved, importable for one more release with a warning."""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import warnings
from collections.abc import Sequence
from types import ModuleType
from typing import Any

#: Old module path -> where the module lives now.
MOVED = {
    "palaestra.runner": "palaestra.rollout.loop",
    "palaestra.agents.records": "palaestra.rollout.records",
    "palaestra.agents.base": "palaestra.rollout.agent",
    "palaestra.agents.hf": "palaestra.llm.hf_agent",
    "palaestra.agents.openai_agent": "palaestra.llm.openai_agent",
    "palaestra.agents.models": "palaestra.llm.models",
    "palaestra.agents.generation": "palaestra.llm.generation",
    "palaestra.agents.prompting": "palaestra.llm.prompting",
    "palaestra.agents.chat_check": "palaestra.llm.chat_check",
    "palaestra.agents.numeric": "palaestra.envs.wrappers.numeric",
    "palaestra.agents.baselines": "palaestra.baselines.training",
    "palaestra.workers": "palaestra.processes.pool",
    "palaestra.leaderboard.demo": "palaestra.demo.leaderboard",
    "palaestra.envs.social.iterated": "palaestra.envs.social.matrix",
    "palaestra.envs.social.single": "palaestra.envs.social.matrix_view",
}


#: Names that changed with their module: old module -> {old name: "module:new name"}.
RENAMED = {
    "palaestra.runner": {
        "EpisodeRecord": "palaestra.rollout.records:Episode",
        "summarize": "palaestra.rollout.records:summarize_episodes",
    },
}


class MovedModuleFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports an old module path as a view of the module at its new path.

    The old path is a module of its own (the new module keeps its name and spec) whose
    attributes are the new module's, and whose renamed names resolve to their new ones;
    importing it warns once.
    """

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        """A spec for the old paths only; every other import is left to the usual finders."""
        return importlib.util.spec_from_loader(fullname, self) if fullname in MOVED else None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> None:
        """The default module object."""

    def exec_module(self, module: ModuleType) -> None:
        """Warn, and make ``module`` look up its attributes in the new module."""
        old, new = module.__name__, importlib.import_module(MOVED[module.__name__])
        warnings.warn(
            f"{old} moved to {new.__name__}; the old path goes in the next release",
            DeprecationWarning,
            stacklevel=2,
        )
        renamed = RENAMED.get(old, {})

        def attribute(name: str) -> Any:
            if name in renamed:
                where, _, new_name = renamed[name].partition(":")
                warnings.warn(
                    f"{old}.{name} is now {where}.{new_name}", DeprecationWarning, stacklevel=2
                )
                return getattr(importlib.import_module(where), new_name)
            return getattr(new, name)

        module.__getattr__ = attribute  # type: ignore[method-assign]
        module.__doc__ = new.__doc__


def install() -> None:
    """Put the finder on ``sys.meta_path`` once."""
    if not any(isinstance(finder, MovedModuleFinder) for finder in sys.meta_path):
        sys.meta_path.append(MovedModuleFinder())
