"""Entry point of a :class:`palaestra.processes.WorkerPool` worker process.

Usage (by the pool only):
``python -m palaestra.processes.worker_main MODULE:FUNC [MODULE:INIT] BYTES``. After the
handshake it reads one ``{"id": n, "args": [...]}`` frame at a time on stdin and writes one
``{"id": n, "ok": ..., "value" or "error": ...}`` frame for each on stdout. A copy of the
worker that a task forks ends when its task returns, so only the worker answers.
"""

from __future__ import annotations

import importlib
import os
import resource
import sys
from collections.abc import Callable
from typing import Any

from palaestra.processes.child import READY
from palaestra.processes.frames import FrameReader, encode, write_frame

#: The largest request a worker reads (the pool's tasks are its own, so only a backstop).
MAX_REQUEST_BYTES = 1 << 30


def _resolve(path: str) -> Callable[..., Any]:
    module, _, name = path.partition(":")
    function: Callable[..., Any] = getattr(importlib.import_module(module), name)
    return function


def _call(function: Callable[..., Any], args: list[Any]) -> dict[str, Any]:
    """The reply to one call: its value, or why there is none (raised, or not sendable)."""
    try:
        reply = {"ok": True, "value": function(*args)}
        encode(reply)  # a value JSON cannot carry is the task's error, not the worker's end
        return reply
    except (Exception, SystemExit) as exc:
        return {"ok": False, "error": _describe(exc)}


def _describe(exc: BaseException) -> str:
    try:
        text = str(exc)
    except Exception:  # an exception whose message itself raises
        text = "(no message)"
    return f"{type(exc).__name__}: {text[:200]}"


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
    worker = os.getpid()
    while (request := requests.receive(None)) is not None:
        reply = _call(function, list(request["args"]))
        if os.getpid() != worker:  # a fork of the task's: the worker answers, not its copy
            os._exit(0)
        write_frame(replies, {"id": request["id"], **reply}, None)


if __name__ == "__main__":
    main()
