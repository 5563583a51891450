"""Start a sandbox worker process and read its answers, trusting nothing it says.

Both sandboxes (snippets and policies) talk to a worker (``_zygote.py``) over its stdin and
stdout, one JSON object a line. A policy worker also hands over, on a socket, a fresh pair
of pipes for each episode's child, so that the host talks to that child alone and nothing
of one episode's child can reach another's. Every line is read here with a size cap and a
deadline, and anything that is not a JSON object is an ``OSError`` like a broken pipe: the
caller treats the worker as crashed.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from palaestra.sandbox import isolation, seccomp

#: The longest line a worker or a child may send by default (a policy's reply), in bytes.
MAX_LINE_BYTES = 1 << 20
# The worker pre-imports numpy: its BLAS must not start threads that a fork would break.
_WORKER_ENV = {
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "PATH": "/usr/bin:/bin",
    "LANG": "C.UTF-8",
}


_spawners: dict[int, ThreadPoolExecutor] = {}
_spawners_lock = threading.Lock()


def _forget_spawners() -> None:
    global _spawners_lock
    _spawners.clear()  # a forked child has none of its parent's threads
    _spawners_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_spawners)


def _popen(command: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
    """``subprocess.Popen`` from one thread that lives as long as this process.

    A sandbox dies with its parent (``PR_SET_PDEATHSIG``), and for the kernel the parent
    is the thread that started it: a worker started from a short-lived thread would die
    with that thread.
    """
    with _spawners_lock:
        spawner = _spawners.get(os.getpid())
        if spawner is None:
            spawner = ThreadPoolExecutor(1, thread_name_prefix="palaestra-sandbox-spawner")
            _spawners[os.getpid()] = spawner

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen(command, **kwargs)

    started = spawner.submit(start)
    try:
        return started.result()
    except BaseException:
        # Interrupted while the process starts: it is ours to stop once it exists.
        started.add_done_callback(_kill_started)
        raise


def _kill_started(started: Future[subprocess.Popen[bytes]]) -> None:
    if started.exception() is None:
        Worker(started.result()).stop()


def ready(fd: int, timeout: float, *, write: bool = False) -> bool:
    """Whether ``fd`` can be read (or written) within ``timeout`` seconds.

    ``poll``, not ``select``: a large host process has descriptors past ``select``'s 1024.
    """
    poller = select.poll()
    poller.register(fd, select.POLLOUT if write else select.POLLIN)
    return bool(poller.poll(max(timeout, 0.0) * 1000))


class LineReader:
    """JSON-object lines from a file descriptor, each within a size cap and a deadline.

    Args:
        fd: The descriptor read (not closed here).
        max_bytes: The longest line accepted.
    """

    def __init__(self, fd: int, max_bytes: int = MAX_LINE_BYTES) -> None:
        self.fd, self.max_bytes = fd, max_bytes
        self._pending = b""

    def receive(self, timeout: float) -> dict[str, Any] | None:
        """The next line as a dict; ``None`` when the writer closed its end.

        Raises:
            TimeoutError: No whole line within ``timeout`` seconds.
            OSError: A line longer than ``max_bytes``, or not a JSON object (not
                UTF-8, not JSON, nested past the parser's depth, not an object).
        """
        deadline = time.monotonic() + timeout
        while b"\n" not in self._pending:
            remaining = deadline - time.monotonic()
            # Looked at once even past the deadline: an answer already there is taken (the
            # host may have been busy with another player until now).
            if not ready(self.fd, remaining):
                raise TimeoutError
            chunk = os.read(self.fd, 1 << 16)
            if not chunk:
                return None
            self._pending += chunk
            if len(self._pending) > self.max_bytes:
                raise OSError("the sandbox answered too much")
        line, _, self._pending = self._pending.partition(b"\n")
        try:
            message = json.loads(line)
        except (ValueError, RecursionError):  # not JSON, or nested past the parser's depth
            message = None
        if not isinstance(message, dict):
            raise OSError("the sandbox answered garbage")
        return message


def write_line(fd: int, message: dict[str, Any], timeout: float) -> None:
    """Write one JSON line to a non-blocking ``fd`` within ``timeout`` seconds.

    Raises:
        TimeoutError: The reader did not take it in time (a full pipe).
        OSError: The reader is gone.
    """
    view = memoryview(json.dumps(message).encode() + b"\n")
    deadline = time.monotonic() + timeout
    while view:
        try:
            view = view[os.write(fd, view) :]
        except BlockingIOError:
            remaining = deadline - time.monotonic()
            if not ready(fd, remaining, write=True):
                raise TimeoutError from None


class Worker:
    """A running worker: its process, its control lines and, for policies, its channel.

    Args:
        process: The worker process (``bwrap`` around it, or the bare interpreter).
        channel: The host's end of a datagram socket on which the worker hands over the
            pipes of each episode's child (policies only).
    """

    def __init__(
        self, process: subprocess.Popen[bytes], channel: socket.socket | None = None
    ) -> None:
        self.process, self.channel = process, channel
        assert process.stdout is not None
        self._lines = LineReader(process.stdout.fileno())

    def alive(self) -> bool:
        """Whether the process is running."""
        return self.process.poll() is None

    def send(self, message: dict[str, Any]) -> None:
        """Write one JSON line (``OSError`` when the worker is gone)."""
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(message).encode() + b"\n")
        self.process.stdin.flush()

    def receive(self, timeout: float) -> dict[str, Any] | None:
        """The worker's next line (see :meth:`LineReader.receive`)."""
        return self._lines.receive(timeout)

    def receive_pipes(self, timeout: float) -> tuple[int, int]:
        """The next child's pipes from the channel: (requests to write, replies to read).

        The requests end is non-blocking (see :func:`write_line`).

        Raises:
            TimeoutError: None within ``timeout`` seconds.
            OSError: The worker is gone (its lines end first), or sent something else.
        """
        assert self.channel is not None
        assert self.process.stdout is not None
        poller = select.poll()
        poller.register(self.channel.fileno(), select.POLLIN)
        poller.register(self.process.stdout.fileno(), select.POLLIN)
        events = dict(poller.poll(max(timeout, 0.0) * 1000))
        if self.channel.fileno() not in events:
            if events:  # its lines ended (or spoke out of turn) before the pipes came
                raise OSError("the sandbox worker died")
            raise TimeoutError
        data, fds, _, _ = socket.recv_fds(self.channel, 16, 2)
        if data != b"e" or len(fds) != 2:
            for fd in fds:
                os.close(fd)
            raise OSError("the sandbox worker sent no pipes")
        os.set_blocking(fds[0], False)
        return fds[0], fds[1]

    def stop(self) -> None:
        """Kill the worker and everything it started, and reap it.

        The worker leads its own process group, and under ``bwrap`` its children live in a
        PID namespace that dies with it. Its pid stays ours until reaped below, so the
        group killed is the right one.
        """
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
        self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                # Closing flushes what was buffered for a process that is gone.
                with contextlib.suppress(OSError):
                    stream.close()
        if self.channel is not None:
            self.channel.close()


def start_worker(
    config: dict[str, Any],
    *,
    allowed_imports: tuple[str, ...],
    unsafe: bool,
    python_layer: bool = True,
    channel: bool = False,
) -> Worker:
    """Start a worker and send it its first line (``config`` plus what the worker needs).

    Args:
        config: The worker's configuration (a ``policy``, or nothing for snippets).
        allowed_imports: Modules untrusted code may import.
        unsafe: Run without the OS boundary (the user opted in; see ``isolation.require``).
        python_layer: Add the Python-level layer (audit hook, restricted builtins) on top
            of the OS boundary; ``False`` tests that boundary alone.
        channel: Give the worker a socket to hand over each episode's pipes on.
    """
    command = [sys.executable, "-I", str(isolation.ZYGOTE)]
    first = {**config, "allowed": list(allowed_imports), "python_layer": python_layer}
    user = None
    if not unsafe:
        command = isolation.wrap([sys.executable, "-I", "-S", str(isolation.ZYGOTE)],
                                 allowed_imports=allowed_imports)  # fmt: skip
        first["path"] = [isolation.PACKAGES_DIR]
        user = isolation.host_user(command)
    if sys.platform.startswith("linux") and seccomp.available() is None:
        first["seccomp"] = {k: base64.b64encode(v).decode() for k, v in seccomp.filters().items()}
    ours = theirs = None
    if channel:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        first["channel"] = theirs.fileno()
    try:
        process = _popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=_WORKER_ENV,
            cwd="/",
            start_new_session=True,
            pass_fds=() if theirs is None else (theirs.fileno(),),
            **isolation.as_user(user),
        )
    finally:
        if theirs is not None:
            theirs.close()
    worker = Worker(process, ours)
    try:
        worker.send(first)
    except OSError:
        pass  # it died at once: the first read reports it
    except BaseException:  # interrupted: nobody else will stop it
        worker.stop()
        raise
    return worker
