"""Capturing what native code writes to the process's standard output and error.

Game interpreters written in C (jericho's frotz) print with ``printf``, past Python's
``sys.stdout``: only pointing file descriptors 1 and 2 somewhere else catches it.
:func:`captured_output` does that around a block, keeps the first ``limit`` bytes written and
counts the rest. Environments wrap their engines' calls in it, so an engine never writes to
the terminal or a log; :mod:`palaestra.testing` uses it to check that a step writes nothing.

The descriptors belong to the whole process: while a block runs, what another thread writes
to them is captured too (and dropped). Blocks are serialized by a lock, and nest.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO

_lock = threading.RLock()
# One private file per nesting depth, kept for the process's life and emptied after each
# block: a block costs a few system calls, not a file's creation.
_sinks: list[IO[bytes]] = []
_depth = 0


def _forget_sinks() -> None:
    """In a forked child: files of its own (the parent's are shared), and a fresh lock."""
    global _depth, _lock
    _sinks.clear()
    _depth = 0
    _lock = threading.RLock()


os.register_at_fork(after_in_child=_forget_sinks)


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
def captured_output(limit: int = 4096) -> Iterator[CapturedOutput]:
    """Send what the block writes to descriptors 1 and 2 to a private file, not the terminal.

    Args:
        limit: Bytes of it kept in ``head``; the file is emptied when the block ends.
    """
    global _depth
    captured = CapturedOutput()
    with _lock:
        if len(_sinks) <= _depth:
            _sinks.append(tempfile.TemporaryFile())  # noqa: SIM115 - kept, see _sinks
        sink = _sinks[_depth]
        _depth += 1
        _flush()
        saved = os.dup(1), os.dup(2)
        try:
            os.dup2(sink.fileno(), 1)
            os.dup2(sink.fileno(), 2)
            yield captured
        finally:
            _flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
            _depth -= 1
            captured.size = os.fstat(sink.fileno()).st_size
            if captured.size:
                sink.seek(0)
                captured.head = sink.read(limit)
                sink.seek(0)
                sink.truncate()


def _flush() -> None:
    """Python's buffered writes go out before the descriptors change, not after."""
    for stream in (sys.stdout, sys.stderr):
        # A stream replaced by something without flush, closed, or detached.
        with contextlib.suppress(AttributeError, ValueError, OSError):
            stream.flush()
