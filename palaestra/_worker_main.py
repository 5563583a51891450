"""Entry point of a :class:`palaestra.workers.WorkerPool` worker process.

Usage (by the pool only): ``python -m palaestra._worker_main MODULE:FUNC [MODULE:INIT] BYTES``.
Reads one JSON argument list per line on stdin, writes one JSON result per line on stdout.
"""

from __future__ import annotations

import importlib
import json
import resource
import sys
from collections.abc import Callable
from typing import Any


def _resolve(path: str) -> Callable[..., Any]:
    module, _, name = path.partition(":")
    function: Callable[..., Any] = getattr(importlib.import_module(module), name)
    return function


def main() -> None:
    target, initializer, memory = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if memory:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    if initializer:
        _resolve(initializer)()
    function = _resolve(target)
    out = sys.stdout
    out.write('{"ready": true}\n')
    out.flush()
    for line in sys.stdin:
        try:
            message = {"ok": True, "value": function(*json.loads(line))}
        except Exception as exc:
            message = {"ok": False, "error": f"{type(exc).__name__}: {str(exc)[:200]}"}
        out.write(json.dumps(message) + "\n")
        out.flush()


if __name__ == "__main__":
    main()
