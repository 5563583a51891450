"""Importing optional dependencies with an error that names the extra to install."""

from __future__ import annotations

import importlib
from types import ModuleType

from palaestra.errors import DependencyNotInstalled


def require(module: str, extra: str, who: str) -> ModuleType:
    """Import ``module``, or fail with ``who needs module: pip install 'palaestra[extra]'``.

    Raises:
        DependencyNotInstalled: ``module`` cannot be imported.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise DependencyNotInstalled(
            f"{who} needs {module}: pip install 'palaestra[{extra}]'"
        ) from exc
