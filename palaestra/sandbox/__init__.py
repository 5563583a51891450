"""Run untrusted Python (LLM-written tool calls and policies) in an OS sandbox.

The boundary comes from the operating system (see :mod:`palaestra.sandbox.isolation`):

* a worker process started once under bubblewrap, in its own user, PID, network, mount,
  IPC, UTS and cgroup namespaces, which sees only the system libraries, the interpreter
  and the allowed packages (no project folder, data, home or network), and dies with its
  host;
* seccomp filters: the worker may not run programs, open sockets, trace, mount or make
  namespaces; each child it forks for a snippet also may not signal, fork or change limits;
* a fresh child per snippet, so no state survives from one snippet to the next, with
  resource limits (CPU time, address space, no file writes, no new processes) and a
  wall-clock limit enforced by killing it;
* each child talks to the host over two pipes of its own, in frames of a bounded size
  (:mod:`palaestra.processes.frames`), so its code and result never pass through the
  worker (whose memory later children start as copies of);
* output and result size limits enforced in the host.

On top, as defence in depth only, a Python layer: an audit hook and builtins whose
``__import__`` admits only the allowlist. Where the OS boundary cannot be built, untrusted
code runs only with ``unsafe_sandbox=True`` (or ``PALAESTRA_UNSAFE_SANDBOX=1``), with a
warning naming what is missing. What the boundary is not: protection against kernel bugs,
or a limit on the host's CPU beyond each snippet's own limits.
"""

from __future__ import annotations

import operator
import os
import threading
from dataclasses import asdict, dataclass
from typing import Any, Literal

from palaestra.errors import InvalidArgumentError
from palaestra.processes import FrameReader, write_frame
from palaestra.sandbox import isolation
from palaestra.sandbox.isolation import Isolation
from palaestra.sandbox.worker import START_SECONDS, Worker, start_worker

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

# Past a day a time limit is no limit, and poll(2) overflows in a few weeks.
_MAX_LIMIT = 86_400

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
            value = getattr(self, name)
            if not isinstance(value, int | float) or not 0 < value <= _MAX_LIMIT:
                raise InvalidArgumentError(
                    f"SandboxLimits.{name} must be a number in (0, {_MAX_LIMIT}], not {value!r}"
                )


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
        unsafe_sandbox: Run without the OS boundary where it cannot be built (``None``:
            ``PALAESTRA_UNSAFE_SANDBOX``); without it, such a machine raises
            :class:`~palaestra.errors.SandboxUnavailableError`.
        python_layer: Add the Python-level checks on top of the OS boundary; ``False``
            (refused without the boundary) tests that the boundary holds alone.

    Raises:
        SandboxUnavailableError: The OS boundary cannot be built and there is no opt-in.
    """

    def __init__(
        self,
        allowed_imports: tuple[str, ...] = DEFAULT_ALLOWED_IMPORTS,
        limits: SandboxLimits | None = None,
        *,
        unsafe_sandbox: bool | None = None,
        python_layer: bool = True,
    ) -> None:
        self.allowed_imports = tuple(allowed_imports)
        self.limits = limits or SandboxLimits()
        self.unsafe_sandbox, self.python_layer = unsafe_sandbox, python_layer
        self._unsafe = isolation.require(unsafe_sandbox, "the Python sandbox")
        if self._unsafe and not python_layer:
            raise InvalidArgumentError("python_layer=False needs the OS sandbox")
        self._worker: Worker | None = None
        self._runs = 0
        self._lock = threading.Lock()

    @property
    def worker_pid(self) -> int | None:
        """Process id of the running worker (the boundary's outer process); ``None`` if none."""
        worker = self._worker
        return worker.pid if worker is not None and worker.alive() else None

    def run(self, code: str, *, seed: int = 0) -> SandboxResult:
        """Run ``code``; ``random`` (and numpy's global generator) are seeded with ``seed``.

        Raises:
            InvalidArgumentError: ``code`` is not a string or ``seed`` not an integer.
        """
        if not isinstance(code, str):
            raise InvalidArgumentError(f"code must be a string, not {type(code).__name__}")
        try:
            seed = operator.index(seed)
        except TypeError:
            raise InvalidArgumentError(f"seed must be an integer, not {seed!r}") from None
        request = {"code": code, "seed": seed, "limits": asdict(self.limits)}
        with self._lock:
            for _ in range(2):
                try:
                    return self._run_once(self._running(), request)
                except (OSError, TimeoutError):
                    # The worker died or answered garbage (it never should; a snippet
                    # dies in its own child): restart it.
                    self._stop()
                except BaseException:
                    # Interrupted half-way (Ctrl-C, a caller's timeout): the worker's
                    # report of this run would be read as the next one's.
                    self._stop()
                    raise
        return SandboxResult("crashed", "", "the sandbox worker died")

    def _run_once(self, worker: Worker, request: dict[str, Any]) -> SandboxResult:
        """One snippet in a fresh child of ``worker``; OSError/TimeoutError: the worker failed.

        The request goes straight to the child and the result comes straight from it, over
        pipes of the child's own; the worker only says how the child ended.
        """
        wall = self.limits.wall_seconds
        self._runs += 1
        worker.send({"run": {"wall_seconds": wall, "id": self._runs}}, 10.0)
        to_child, from_child = worker.receive_pipes(10.0)
        # A result is at most the output (12 bytes a character in JSON: a surrogate pair of
        # escapes) and a short error.
        reader = FrameReader(from_child, max_bytes=self.limits.max_output_chars * 12 + 65536)
        try:
            write_frame(to_child, request, wall)
            os.close(to_child)
            to_child = -1
            try:
                reply = reader.receive(wall + 5.0)
            except (OSError, TimeoutError):
                reply = None  # too long, garbage, or silent: how it ended says why
        except (OSError, TimeoutError):
            reply = None  # it stopped reading (or is gone) before taking its code
        finally:
            for fd in (to_child, from_child):
                if fd >= 0:
                    os.close(fd)
        ended = worker.receive(wall + 10.0)
        if ended is None or "ended" not in ended or ended.get("run") != self._runs:
            raise OSError("the sandbox worker died, or answered for another run")
        if ended["ended"] == "wall":  # killed at the limit, whatever it wrote before
            return self._failure("wall")
        return self._result(reply) or self._failure(str(ended["ended"]))

    def _failure(self, ended: str) -> SandboxResult:
        """The result of a child that gave none, from how it ended."""
        limits = self.limits
        if ended == "wall":
            return SandboxResult(
                "timeout", "", f"wall-clock limit of {limits.wall_seconds} s exceeded"
            )
        if ended in ("SIGXCPU", "SIGKILL"):
            return SandboxResult("timeout", "", "CPU time limit exceeded")
        if ended.startswith("exit "):
            return SandboxResult(
                "crashed", "", f"the process exited with status {ended[5:]} and no result"
            )
        return SandboxResult("crashed", "", f"the process died of {ended[:40]}")

    def _result(self, reply: dict[str, Any] | None) -> SandboxResult | None:
        """The worker's answer as a result, limits applied again; ``None`` if not one."""
        if reply is None or set(reply) != {"status", "output", "error", "truncated"}:
            return None
        status, output, error = reply["status"], reply["output"], reply["error"]
        if status not in ("ok", "error", "timeout", "memory", "crashed"):
            return None
        if not isinstance(output, str) or not (error is None or isinstance(error, str)):
            return None
        limit = self.limits.max_output_chars
        truncated = reply["truncated"] is True or len(output) > limit
        return SandboxResult(status, output[:limit], None if error is None else error[:500],
                             truncated)  # fmt: skip

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
        return {
            "allowed_imports": self.allowed_imports,
            "limits": self.limits,
            "unsafe_sandbox": self.unsafe_sandbox,
            "python_layer": self.python_layer,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["allowed_imports"], state["limits"],  # type: ignore[misc]
                      unsafe_sandbox=state["unsafe_sandbox"],
                      python_layer=state["python_layer"])  # fmt: skip

    def _running(self) -> Worker:
        if self._worker is not None and self._worker.alive():
            return self._worker
        self._stop()
        worker = start_worker({}, allowed_imports=self.allowed_imports, unsafe=self._unsafe,
                              python_layer=self.python_layer)  # fmt: skip
        try:
            worker.wait_ready(START_SECONDS)
        except OSError as exc:  # it ended, answered something else, or took too long
            raise RuntimeError("the sandbox worker failed to start") from exc
        except BaseException:  # interrupted while it starts: not ours yet, so stop it here
            worker.kill()
            raise
        self._worker = worker
        return worker

    def _stop(self) -> None:
        worker, self._worker = getattr(self, "_worker", None), None
        if worker is not None:
            worker.kill()


_shared: dict[tuple[int, tuple[str, ...], SandboxLimits, bool | None], Sandbox] = {}


def shared_sandbox(
    allowed_imports: tuple[str, ...] = DEFAULT_ALLOWED_IMPORTS,
    limits: SandboxLimits | None = None,
    *,
    unsafe_sandbox: bool | None = None,
) -> Sandbox:
    """Return this process's sandbox for these settings (one worker shared by many envs).

    Keyed by process id too, so a forked process (a vector env's worker) starts its own.
    """
    key = (os.getpid(), tuple(allowed_imports), limits or SandboxLimits(), unsafe_sandbox)
    sandbox = _shared.get(key)
    if sandbox is None:
        sandbox = _shared[key] = Sandbox(key[1], key[2], unsafe_sandbox=unsafe_sandbox)
    return sandbox


__all__ = [
    "DEFAULT_ALLOWED_IMPORTS",
    "Isolation",
    "Sandbox",
    "SandboxLimits",
    "SandboxResult",
    "shared_sandbox",
]
