"""Importing optional dependencies with an error that names the extra to install."""

from __future__ import annotations

import importlib
from types import ModuleType

from palaestra.errors import InvalidArgumentError


def require(module: str, extra: str, who: str) -> ModuleType:
    """Import ``module``, or fail with ``who needs module: pip install 'palaestra[extra]'``."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise InvalidArgumentError(
            f"{who} needs {module}: pip install 'palaestra[{extra}]'"
        ) from exc
