"""A child process that talks in frames over its stdin and stdout, and dies with its group.

The processes palaestra talks to (the workers of a :class:`~palaestra.processes.WorkerPool`,
a sandbox's worker) are each one of these:

* started in a session and process group of its own, from one long-lived thread (see
  :func:`_spawn`), with its stderr discarded;
* ready once it has sent ``{"ready": true}`` (the handshake), its first frame;
* talked to in frames (:mod:`palaestra.processes.frames`): every send and every receive
  has a deadline, and what it answers is read within a size cap;
* killed with its whole process group, and reaped, when an exchange fails: a missed
  deadline or a frame that breaks the protocol leaves it in a state nobody knows, so it
  goes, with whatever it started, rather than answer the next exchange with this one's
  leftovers.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Collection, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from palaestra.processes.frames import MAX_FRAME_BYTES, FrameReader, ProtocolError, write_frame

#: The handshake: a child's first frame, once it can take requests.
READY: dict[str, Any] = {"ready": True}

_spawners: dict[int, ThreadPoolExecutor] = {}
_spawners_lock = threading.Lock()


def _forget_spawners() -> None:
    global _spawners_lock
    _spawners.clear()  # a forked child has none of its parent's threads
    _spawners_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_spawners)


def _spawn(command: Sequence[str], **options: Any) -> subprocess.Popen[bytes]:
    """``subprocess.Popen`` from one thread that lives as long as this process.

    A child may ask to die with its parent (``PR_SET_PDEATHSIG``; a sandbox does), and for
    the kernel the parent is the thread that started it: a child started from a
    short-lived thread would die with that thread.
    """
    with _spawners_lock:
        spawner = _spawners.get(os.getpid())
        if spawner is None:
            spawner = ThreadPoolExecutor(1, thread_name_prefix="palaestra-spawner")
            _spawners[os.getpid()] = spawner

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen(command, **options)

    started = spawner.submit(start)
    try:
        return started.result()
    except BaseException:
        # Interrupted while the process starts: it is ours to stop once it exists.
        started.add_done_callback(_kill_started)
        raise


def _kill_started(started: Future[subprocess.Popen[bytes]]) -> None:
    if started.exception() is None:
        _kill(started.result())


def kill_group(pid: int) -> None:
    """SIGKILL every process of the group that ``pid`` leads (none left: nothing to do).

    Call it before the leader is reaped: until then its pid, and so the group's id, cannot
    be reused.
    """
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _kill(process: subprocess.Popen[bytes]) -> None:
    """Kill ``process`` and its process group, reap it and close its pipes.

    It leads its group. The group is killed even when the leader has died and been reaped
    already (what it started may live on): while a member lives, the kernel does not hand
    the group's id to a new process; with none left, the id would have to come round the
    whole pid space to name another group.
    """
    kill_group(process.pid)
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
    process.wait()
    for stream in (process.stdin, process.stdout):
        if stream is not None:
            # Closing flushes what was buffered for a process that is gone.
            with contextlib.suppress(OSError):
                stream.close()


class Child:
    """A child process, spoken to in frames over its stdin and stdout.

    Starting one does not wait for it: :meth:`wait_ready` (or the first :meth:`receive`)
    does. Any exchange that fails by deadline or by protocol kills it (:meth:`kill`).

    Args:
        command: The program and its arguments.
        env: Its environment (``None``: this process's).
        cwd: Its working directory (``None``: this process's).
        pass_fds: Descriptors it inherits besides stdin and stdout.
        user: The user and group it runs as, with no other groups (``None``: ours).
        max_frame_bytes: The largest frame read from it.

    Attributes:
        process: The process (its pid is its process group's too).
        ready: Whether its handshake came.
    """

    def __init__(
        self,
        command: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        pass_fds: Collection[int] = (),
        user: int | None = None,
        max_frame_bytes: int = MAX_FRAME_BYTES,
    ) -> None:
        identity = {} if user is None else {"user": user, "group": user, "extra_groups": []}
        self.process = _spawn(
            list(command),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            bufsize=0,
            env=env,
            cwd=cwd,
            pass_fds=tuple(pass_fds),
            start_new_session=True,
            **identity,
        )
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self._requests = self.process.stdin.fileno()
        os.set_blocking(self._requests, False)  # so that a send keeps its deadline
        self._replies = FrameReader(self.process.stdout.fileno(), max_frame_bytes)
        self._killed = False
        self.ready = False

    @property
    def pid(self) -> int:
        """The process id (also its process group's)."""
        return self.process.pid

    def fileno(self) -> int:
        """The descriptor its frames are read from (readable: a frame, or its end, comes)."""
        return self._replies.fd

    def alive(self) -> bool:
        """Whether the process is running."""
        return self.process.poll() is None

    def wait_ready(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for the handshake (at once if it came already).

        Raises:
            TimeoutError: It did not come in time (the child is killed).
            ProtocolError: The child ended first, or said something else first (killed).
        """
        if self.ready:
            return
        message = self._read(timeout)
        if message != READY:
            self.kill()
            said = "ended" if message is None else "answered something else"
            raise ProtocolError(f"the process {said} before it was ready")
        self.ready = True

    def send(self, message: dict[str, Any], timeout: float) -> None:
        """Write ``message`` as one frame within ``timeout`` seconds.

        Raises:
            TimeoutError: It did not take the frame in time (the child is killed).
            OSError: It is gone (its stdin closed).
        """
        if self._killed:
            raise BrokenPipeError("the process was killed")
        try:
            write_frame(self._requests, message, timeout)
        except TimeoutError:
            self.kill()
            raise

    def receive(self, timeout: float) -> dict[str, Any] | None:
        """Its next frame after the handshake, within ``timeout`` seconds; ``None`` at its end.

        Waits for the handshake first if it has not come (see :meth:`wait_ready`), within
        the same deadline.

        Raises:
            TimeoutError: No whole frame in time (the child is killed).
            ProtocolError: A frame over the cap or not a JSON object, or no handshake
                (killed).
        """
        deadline = time.monotonic() + timeout
        if not self.ready:
            self.wait_ready(timeout)
        return self._read(deadline - time.monotonic())

    def kill(self) -> None:
        """Kill the process and everything in its process group, and reap it."""
        self._killed = True
        _kill(self.process)

    def _read(self, timeout: float) -> dict[str, Any] | None:
        if self._killed:
            return None
        try:
            return self._replies.receive(timeout)
        except OSError:  # late, or garbage (ProtocolError); TimeoutError is an OSError too
            self.kill()
            raise


__all__ = ["READY", "Child"]
