"""Where palaestra keeps generated files (tiny models, generated games)."""

from __future__ import annotations

import os
from pathlib import Path

#: Environment variable that overrides the cache folder.
CACHE_ENV = "PALAESTRA_CACHE_DIR"


def cache_dir(*parts: str) -> Path:
    """Return (and create) ``<cache>/<parts...>``.

    ``<cache>`` is ``$PALAESTRA_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/palaestra``, else
    ``~/.cache/palaestra`` (the XDG convention on Linux; macOS and Windows users who want
    their platform's folder set the variable).
    """
    root = os.environ.get(CACHE_ENV)
    if root:
        base = Path(root)
    else:
        xdg = os.environ.get("XDG_CACHE_HOME")
        base = (Path(xdg) if xdg else Path.home() / ".cache") / "palaestra"
    path = base.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path
