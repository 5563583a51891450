"""Fast Downward's translation of an ALFWorld game, kept in memory and on disk.

TextWorld's PDDL backend translates a game's problem into Fast Downward's SAS form twice
(plain and optimized for replanning) each time it builds a state, that is at every load and
every reset: 0.1-1 s each, most of a reset. The translation is a pure function of the domain
and problem texts and of the translator's version, so :func:`translate` keeps the SAS text
of the last :data:`TRANSLATIONS_KEPT` in memory and every one on disk (zlib-compressed,
under ``$PALAESTRA_CACHE_DIR/alfworld/sas/``), keyed by a hash of all three. The parsed
task that comes with it is cheap to rebuild (a few milliseconds) and is rebuilt.

:func:`install` puts :func:`translate` in place of ``fast_downward.pddl2sas`` for palaestra's
engines, and makes their optimized translation lazy: TextWorld loads it into the planner
library at every reset, but it is read only when the engine replans
(:func:`deferred_replanning`), so a cold reset translates once, not twice. Only calls made
inside :func:`palaestra_engine` are served so; anyone else in the process (ALFWorld's own
``AlfredTWEnv``, say) gets Fast Downward's function unchanged.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import sys
import threading
import zlib
from collections import OrderedDict
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

from palaestra.paths import cache_dir

#: Translations kept in memory per process (plain and optimized count apart).
TRANSLATIONS_KEPT = 32

#: Bumped when what is stored changes.
_FORMAT = 1

# The translator sets module-wide options (and sys.argv) while it runs: one at a time.
_lock = threading.RLock()


def _new_lock() -> None:
    # A child forked while another thread translated would wait for it forever.
    global _lock
    _lock = threading.RLock()


os.register_at_fork(after_in_child=_new_lock)
_memory: OrderedDict[str, tuple[Any, str]] = OrderedDict()
_runs = [0]
_ours = threading.local()


@contextlib.contextmanager
def palaestra_engine() -> Iterator[None]:
    """Translations asked for in this block (this thread) come from the caches, lazily."""
    _ours.depth = getattr(_ours, "depth", 0) + 1
    try:
        yield
    finally:
        _ours.depth -= 1


def translator_runs() -> int:
    """How many times this process ran the translator (cache misses on memory and disk)."""
    return _runs[0]


@functools.cache
def translator_version() -> str:
    """The installed Fast Downward translator (part of every cache key)."""
    return f"fast-downward-textworld {metadata.version('fast-downward-textworld')}/{_FORMAT}"


def cache_key(domain: str, problem: str, *, optimize: bool) -> str:
    """The key of a translation: the texts, the options and the translator's version."""
    digest = hashlib.sha256()
    for part in (translator_version(), "optimized" if optimize else "plain", domain, problem):
        digest.update(part.encode())
        digest.update(b"\0")
    return digest.hexdigest()


def translate(
    domain: str, problem: str, verbose: bool = False, optimize: bool = False
) -> tuple[Any, str]:
    """``fast_downward.pddl2sas`` with memory and disk caches: ``(task, sas)``.

    The task is Fast Downward's parsed and normalized task; callers only read it.
    """
    key = cache_key(domain, problem, optimize=optimize)
    with _lock:
        if key in _memory:
            _memory.move_to_end(key)
            return _memory[key]
        path = _path(key)
        sas = _read(path)
        if sas is None:
            task, sas = _run_translator(domain, problem, verbose=verbose, optimize=optimize)
            _write(path, sas)
        else:
            task = parse_task(domain, problem)
        _memory[key] = (task, sas)
        while len(_memory) > TRANSLATIONS_KEPT:
            _memory.popitem(last=False)
        return task, sas


def forget(domain: str, problem: str) -> None:
    """Drop both translations of a problem from memory and disk (a one-off game's)."""
    for optimize in (False, True):
        key = cache_key(domain, problem, optimize=optimize)
        with _lock:
            _memory.pop(key, None)
        _path(key).unlink(missing_ok=True)


def _path(key: str) -> Path:
    return cache_dir("alfworld", "sas") / f"{key}.sas.z"


def parse_task(domain: str, problem: str) -> Any:
    """Fast Downward's parsed and normalized task (what ``pddl2sas`` returns with the SAS)."""
    with _lock, _translator_argv():
        from fast_downward.translate import normalize
        from fast_downward.translate.pddl_parser import lisp_parser, parsing_functions

        task = parsing_functions.parse_task(
            lisp_parser.parse_nested_list(domain.split("\n")),
            lisp_parser.parse_nested_list(problem.split("\n")),
        )
        normalize.normalize(task)
        return task


def _run_translator(domain: str, problem: str, *, verbose: bool, optimize: bool) -> Any:
    _runs[0] += 1
    with _translator_argv():
        return _original_pddl2sas()(domain, problem, verbose=verbose, optimize=optimize)


@functools.cache
def _original_pddl2sas() -> Any:
    from fast_downward.interface import pddl2sas

    return pddl2sas


class _translator_argv:  # noqa: N801 - a context manager used like a function
    """The translator's option module parses ``sys.argv`` on import: give it its own."""

    def __enter__(self) -> None:
        self._argv = sys.argv
        sys.argv = ["translate.py", "domain", "task"]

    def __exit__(self, *exc: object) -> None:
        sys.argv = self._argv


def _read(path: Path) -> str | None:
    try:
        return zlib.decompress(path.read_bytes()).decode()
    except (OSError, zlib.error, UnicodeDecodeError):
        return None  # missing or damaged: translated again and rewritten


def _write(path: Path, sas: str) -> None:
    # Written under a private name, then renamed: a reader never sees half a file.
    partial = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.part")
    try:
        partial.write_bytes(zlib.compress(sas.encode(), 6))
        partial.replace(path)
    except OSError:
        partial.unlink(missing_ok=True)  # a read-only cache: translated again next time


class _Deferred:
    """An optimized translation not made yet (stands in for its SAS text)."""

    def __init__(self, domain: str, problem: str, verbose: bool) -> None:
        self.domain, self.problem, self.verbose = domain, problem, verbose

    def encode(self, *_: Any) -> _Deferred:
        return self  # TextWorld encodes the text before handing it to the library

    def text(self) -> str:
        return translate(self.domain, self.problem, self.verbose, optimize=True)[1]


def _pddl2sas(
    domain: str, problem: str, verbose: bool = False, optimize: bool = False
) -> tuple[Any, Any]:
    if not getattr(_ours, "depth", 0):
        result: tuple[Any, Any] = _original_pddl2sas()(
            domain, problem, verbose=verbose, optimize=optimize
        )
        return result
    if optimize:
        # TextWorld's PddlState only hands it to load_sas_replan (deferred_replanning's).
        return None, _Deferred(domain, problem, verbose)
    return translate(domain, problem, verbose)


class deferred_replanning:  # noqa: N801 - wraps a library object
    """Fast Downward's library, loading the replanning task only when it replans.

    ``load_sas_replan`` only stores its text in the library, and only ``replan`` reads it,
    so a :class:`_Deferred` translation is made and handed over on the first ``replan``.
    """

    def __init__(self, lib: Any) -> None:
        self._lib = lib
        self._pending: _Deferred | None = None

    def load_sas_replan(self, sas: Any) -> None:
        """Keep a deferred translation for later; hand a real one to the library now."""
        if isinstance(sas, _Deferred):
            self._pending = sas
        else:
            self._pending = None
            self._lib.load_sas_replan(sas)

    def replan(self, *args: Any) -> Any:
        """Load the deferred translation if one waits, then replan."""
        if self._pending is not None:
            self._lib.load_sas_replan(self._pending.text().encode())
            self._pending = None
        return self._lib.replan(*args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._lib, name)


@functools.cache
def install() -> None:
    """Make ``fast_downward.pddl2sas`` :func:`translate` inside :func:`palaestra_engine`.

    Engines that load and reset in that block must wrap their library in
    :class:`deferred_replanning` (``start_engine`` does).
    """
    import fast_downward

    _original_pddl2sas()
    fast_downward.pddl2sas = _pddl2sas
