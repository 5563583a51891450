"""Keeping native code's writes off the process's standard output and error.

Game interpreters written in C (jericho's frotz) print with ``printf``, past Python's
``sys.stdout``: only pointing file descriptors 1 and 2 somewhere else stops it.

* :func:`silenced` points them at ``/dev/null`` while a block runs: engines' calls run in
  it, so an engine never writes to the terminal or a log, and however much it prints costs
  no memory and no disk. Blocks nest and may overlap across threads: the first to start
  redirects, the last to end restores.
* :func:`captured_output` points them at a private file and reports what was written (how
  much, and its first bytes): :mod:`palaestra.testing` checks with it that a step writes
  nothing. A capture holds a lock for its whole block, so a silenced block that another
  thread starts meanwhile waits for it.

Both flush Python's and C's buffered output before they switch, so what was written before
a block is not caught in it, and what a block wrote does not come out after it. A
descriptor that was closed is closed again afterwards.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import os
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

_lock = threading.RLock()
_silenced = 0  # silenced blocks running, in every thread
_restore: tuple[int | None, int | None] = (None, None)  # what the first of them saved
_libc = ctypes.CDLL(None)


def _after_fork() -> None:
    """A forked child starts with no block running and a lock no thread can be holding."""
    global _lock, _silenced
    _lock, _silenced = threading.RLock(), 0


os.register_at_fork(after_in_child=_after_fork)


@dataclass
class CapturedOutput:
    """What a block wrote to descriptors 1 and 2 (filled in when the block ends).

    Attributes:
        size: Bytes written, in all.
        head: The first ``limit`` of them.
    """

    size: int = 0
    head: bytes = b""


@contextmanager
def silenced() -> Iterator[None]:
    """Send what is written to descriptors 1 and 2 during the block to ``/dev/null``."""
    global _silenced, _restore
    with _lock:
        if _silenced == 0:
            _restore = _point_at(os.devnull)
        _silenced += 1
    try:
        yield
    finally:
        with _lock:
            _silenced -= 1
            if _silenced == 0:
                _put_back(_restore)


@contextmanager
def captured_output(limit: int = 4096) -> Iterator[CapturedOutput]:
    """Send what the block writes to descriptors 1 and 2 to a private file, and report it.

    Args:
        limit: Bytes of it kept in ``head`` (at least 0).
    """
    global _silenced, _restore
    captured = CapturedOutput()
    limit = max(0, limit)
    with _lock, tempfile.TemporaryFile() as sink:
        # Silenced blocks inside this one (its thread's: the lock keeps others out) redirect
        # and restore on their own; those outside it resume as they were.
        outer = _silenced, _restore
        _silenced = 0
        saved = _point_at(sink.fileno())
        try:
            yield captured
        finally:
            _put_back(saved)
            _silenced, _restore = outer
            captured.size = os.fstat(sink.fileno()).st_size
            sink.seek(0)
            captured.head = sink.read(limit)


def _point_at(target: str | int) -> tuple[int | None, int | None]:
    """Point descriptors 1 and 2 at ``target``; return copies of what they were."""
    _flush()
    saved = _save(1), _save(2)
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CLOEXEC) if isinstance(target, str) else target
        try:
            os.dup2(fd, 1)
            os.dup2(fd, 2)
        finally:
            if isinstance(target, str):
                os.close(fd)
    except BaseException:
        _put_back(saved)
        raise
    return saved


def _put_back(saved: tuple[int | None, int | None]) -> None:
    """Point descriptors 1 and 2 back at what ``saved`` holds (closed if they were)."""
    _flush()
    for fd, copy in zip((1, 2), saved, strict=True):
        if copy is None:
            with contextlib.suppress(OSError):
                os.close(fd)
        else:
            os.dup2(copy, fd)
            os.close(copy)


def _save(fd: int) -> int | None:
    """A copy of ``fd`` above the standard three (``None`` if it is not open)."""
    try:
        return fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3)
    except OSError:
        return None


def _flush() -> None:
    """Buffered writes, Python's and C's, go out before the descriptors change."""
    for stream in (sys.stdout, sys.stderr):
        # A stream replaced by something without flush, closed, or detached.
        with contextlib.suppress(AttributeError, ValueError, OSError):
            stream.flush()
    _libc.fflush(None)
