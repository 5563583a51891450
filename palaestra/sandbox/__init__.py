"""Run untrusted Python (LLM-written tool calls and policies) in a hardened subprocess.

Layers, each enough to stop something the others might miss:

* a separate worker process, started once (``python -I``), which forks a fresh child for
  every snippet, so no state survives from one snippet to the next;
* resource limits in the child: CPU time (a timer that interrupts the code, plus a hard
  ``RLIMIT_CPU``), address space, no file writes, no new processes; root privileges are
  dropped to ``nobody`` where the worker has them;
* a wall-clock limit enforced by killing the child;
* a Python audit hook that refuses file access, sockets, subprocesses, forks, ``exec``,
  ctypes, imports outside the allowlist and patching of function code;
* builtins without ``open``/``input`` and with an ``__import__`` that admits only the
  allowlist.

Output travels back as JSON, and only the first ``max_output_chars`` characters are kept.
Python-level sandboxes can be escaped by a determined attacker with a kernel or interpreter
bug; run palaestra's sandboxes inside a container too when the code is truly adversarial.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from palaestra.errors import InvalidArgumentError

#: Modules a snippet may import by default (computation only).
DEFAULT_ALLOWED_IMPORTS: tuple[str, ...] = (
    "math",
    "cmath",
    "fractions",
    "decimal",
    "itertools",
    "functools",
    "collections",
    "statistics",
    "random",
    "re",
    "string",
    "heapq",
    "bisect",
    "numpy",
    "sympy",
)

_ZYGOTE = Path(__file__).with_name("_zygote.py")
# The worker pre-imports numpy: its BLAS must not start threads that a fork would break.
_WORKER_ENV = {
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "PATH": "/usr/bin:/bin",
    "LANG": "C.UTF-8",
}


def spawn_worker(*, new_session: bool = False) -> subprocess.Popen[bytes]:
    """Start a sandbox worker (``_zygote.py``, isolated mode, bytes on its pipes).

    Args:
        new_session: Make it the leader of a new process group, so that it can be killed
            together with the children it forks.
    """
    return subprocess.Popen(
        [sys.executable, "-I", str(_ZYGOTE)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=_WORKER_ENV,
        cwd="/",
        start_new_session=new_session,
    )


Status = Literal["ok", "error", "timeout", "memory", "crashed"]


@dataclass(frozen=True)
class SandboxLimits:
    """Per-snippet limits.

    Attributes:
        cpu_seconds: CPU time before the snippet is interrupted.
        wall_seconds: Wall-clock time before the snippet is killed.
        memory_mb: Address-space limit of the child, in MiB (the preloaded modules count).
        max_output_chars: Characters of stdout/stderr kept.
    """

    cpu_seconds: float = 2.0
    wall_seconds: float = 5.0
    memory_mb: int = 768
    max_output_chars: int = 4000

    def __post_init__(self) -> None:
        for name in ("cpu_seconds", "wall_seconds", "memory_mb", "max_output_chars"):
            if getattr(self, name) <= 0:
                raise InvalidArgumentError(f"SandboxLimits.{name} must be positive")


@dataclass(frozen=True)
class SandboxResult:
    """What a snippet did.

    Attributes:
        status: ``ok``; ``error`` (it raised); ``timeout`` (CPU or wall-clock limit);
            ``memory`` (memory limit); ``crashed`` (the process died otherwise).
        output: Its stdout and stderr, cut to ``max_output_chars``.
        error: The exception or limit, in one line, when ``status`` is not ``ok``.
        truncated: Whether output was cut.
    """

    status: Status
    output: str
    error: str | None = None
    truncated: bool = False

    @property
    def ok(self) -> bool:
        """Whether the snippet ran to completion."""
        return self.status == "ok"


class Sandbox:
    """A worker process that runs Python snippets under the limits above.

    Thread-safe; one snippet runs at a time. The worker starts on first use and restarts
    by itself if it dies.

    Args:
        allowed_imports: Top-level modules snippets may import.
        limits: Per-snippet limits.
    """

    def __init__(
        self,
        allowed_imports: tuple[str, ...] = DEFAULT_ALLOWED_IMPORTS,
        limits: SandboxLimits | None = None,
    ) -> None:
        self.allowed_imports = tuple(allowed_imports)
        self.limits = limits or SandboxLimits()
        self._process: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()

    def run(self, code: str, *, seed: int = 0) -> SandboxResult:
        """Run ``code``; ``random`` (and numpy's global generator) are seeded with ``seed``."""
        request = json.dumps({"code": code, "seed": seed, "limits": asdict(self.limits)})
        with self._lock:
            for attempt in range(2):
                process = self._worker()
                try:
                    assert process.stdin is not None
                    assert process.stdout is not None
                    process.stdin.write(request.encode() + b"\n")
                    process.stdin.flush()
                    # The worker kills a snippet at wall_seconds; more than that plus a
                    # margin means the worker itself is stuck.
                    timeout = self.limits.wall_seconds + 10.0
                    if select.select([process.stdout], [], [], timeout)[0]:
                        line = process.stdout.readline()
                        if line:
                            return SandboxResult(**json.loads(line))
                except (OSError, ValueError, TypeError, RecursionError):
                    pass  # a dead pipe or an answer that is not a result: restart below
                # The worker died (it never should; a snippet dies in its own child): restart.
                self._stop()
                if attempt == 1:
                    break
        return SandboxResult("crashed", "", "the sandbox worker died")

    def close(self) -> None:
        """Stop the worker process."""
        with self._lock:
            self._stop()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        self._stop()

    def __getstate__(self) -> dict[str, object]:
        # A copy gets its own worker.
        return {"allowed_imports": self.allowed_imports, "limits": self.limits}

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__init__(state["allowed_imports"], state["limits"])  # type: ignore[misc]

    def _worker(self) -> subprocess.Popen[bytes]:
        if self._process is not None and self._process.poll() is None:
            return self._process
        process = spawn_worker()
        assert process.stdin is not None
        assert process.stdout is not None
        process.stdin.write(json.dumps({"allowed": list(self.allowed_imports)}).encode() + b"\n")
        process.stdin.flush()
        if json.loads(process.stdout.readline() or "{}") != {"ready": True}:
            process.kill()
            raise RuntimeError("the sandbox worker failed to start")
        self._process = process
        return process

    def _stop(self) -> None:
        process, self._process = getattr(self, "_process", None), None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()
        if process is not None:
            for stream in (process.stdin, process.stdout):
                if stream is not None:
                    stream.close()


_shared: dict[tuple[int, tuple[str, ...], SandboxLimits], Sandbox] = {}


def shared_sandbox(
    allowed_imports: tuple[str, ...] = DEFAULT_ALLOWED_IMPORTS, limits: SandboxLimits | None = None
) -> Sandbox:
    """Return this process's sandbox for these settings (one worker shared by many envs).

    Keyed by process id too, so a forked process (a vector env's worker) starts its own.
    """
    key = (os.getpid(), tuple(allowed_imports), limits or SandboxLimits())
    sandbox = _shared.get(key)
    if sandbox is None:
        sandbox = _shared[key] = Sandbox(key[1], key[2])
    return sandbox


__all__ = [
    "DEFAULT_ALLOWED_IMPORTS",
    "Sandbox",
    "SandboxLimits",
    "SandboxResult",
    "shared_sandbox",
]
