"""Where palaestra keeps generated files (tiny models, generated games)."""

from __future__ import annotations

import os
from collections.abc import Callable
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


#: Files that passed a validity check, with their (mtime, size) at the time.
_CHECKED: dict[tuple[Path, ...], tuple[tuple[int, int], ...]] = {}


def still_valid(paths: tuple[Path, ...], check: Callable[[], bool]) -> bool:
    """Whether ``check()`` holds for ``paths``, re-running it only when one of them changed.

    Cached games are validated on every episode's reset; parsing them each time would cost
    more than the reset. A file that changes (damaged, regenerated) changes its modification
    time or size, which makes the check run again.
    """
    try:
        stamps = tuple((s.st_mtime_ns, s.st_size) for s in (p.stat() for p in paths))
    except OSError:
        return False
    if _CHECKED.get(paths) == stamps:
        return True
    if not check():
        return False
    _CHECKED[paths] = stamps
    return True
