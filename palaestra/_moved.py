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
}


class MovedModuleFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports an old module path as the module at its new path, with a DeprecationWarning."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        """A spec for the old paths only; every other import is left to the usual finders."""
        return importlib.util.spec_from_loader(fullname, self) if fullname in MOVED else None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        """The module at its new path (so both names are one module object)."""
        warnings.warn(
            f"{spec.name} moved to {MOVED[spec.name]}; the old path goes in the next release",
            DeprecationWarning,
            stacklevel=2,
        )
        return importlib.import_module(MOVED[spec.name])

    def exec_module(self, module: ModuleType) -> None:
        """Nothing to run: the module was imported at its new path."""


def install() -> None:
    """Put the finder on ``sys.meta_path`` once."""
    if not any(isinstance(finder, MovedModuleFinder) for finder in sys.meta_path):
        sys.meta_path.append(MovedModuleFinder())
