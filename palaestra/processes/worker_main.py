"""Entry point of a :class:`palaestra.processes.WorkerPool` worker process.

Usage (by the pool only):
``python -m palaestra.processes.worker_main MODULE:FUNC [MODULE:INIT] BYTES``. After the
handshake it reads one ``{"args": [...]}`` frame at a time on stdin and writes one
``{"ok": ..., "value" or "error": ...}`` frame for each on stdout.
"""

from __future__ import annotations

import importlib
import os
import resource
import sys
from collections.abc import Callable
from typing import Any

from palaestra.processes.child import READY
from palaestra.processes.frames import FrameReader, write_frame

#: The largest request a worker reads (the pool's tasks are its own, so only a backstop).
MAX_REQUEST_BYTES = 1 << 30


def _resolve(path: str) -> Callable[..., Any]:
    module, _, name = path.partition(":")
    function: Callable[..., Any] = getattr(importlib.import_module(module), name)
    return function


def _call(function: Callable[..., Any], args: list[Any]) -> dict[str, Any]:
    try:
        return {"ok": True, "value": function(*args)}
    except Exception as exc:
        return {"ok": False, "error": f"{type(exc).__name__}: {str(exc)[:200]}"}


def main() -> None:
    """Serve the pool: import, say ready, answer each request until stdin ends."""
    target, initializer, memory = sys.argv[1], sys.argv[2], int(sys.argv[3])
    # The frames get stdout's pipe to themselves: what the function prints goes to stderr
    # (discarded), not into the middle of a frame.
    replies = os.dup(1)
    os.dup2(2, 1)
    if memory:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    if initializer:
        _resolve(initializer)()
    function = _resolve(target)
    write_frame(replies, READY, None)
    requests = FrameReader(0, MAX_REQUEST_BYTES)
    while (request := requests.receive(None)) is not None:
        write_frame(replies, _call(function, list(request["args"])), None)


if __name__ == "__main__":
    main()
