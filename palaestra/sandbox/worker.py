"""Start a sandbox worker process and take the pipes of each of its children.

Both sandboxes (snippets and policies) run a worker (``_zygote.py``), a
:class:`~palaestra.processes.Child` that forks a child for each snippet or episode. The
worker hands over, on a socket, a fresh pair of pipes for each such child, so that the
host talks to that child alone (in frames, see :mod:`palaestra.processes.frames`) and
nothing of one child can reach another's, nor pass through the worker.
"""

from __future__ import annotations

import base64
import os
import select
import socket
import sys
from collections.abc import Sequence
from typing import Any

from palaestra.processes import Child
from palaestra.sandbox import isolation, seccomp

#: Seconds a worker has to take its configuration and say it is ready.
START_SECONDS = 60.0
# The worker pre-imports numpy: its BLAS must not start threads that a fork would break.
_WORKER_ENV = {
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "PATH": "/usr/bin:/bin",
    "LANG": "C.UTF-8",
}


class Worker(Child):
    """A running sandbox worker: a :class:`Child` with a channel for its children's pipes.

    Args:
        command: The worker's command (``bwrap`` around it, or the bare interpreter).
        user: The host user it runs as (``None``: ours).

    Attributes:
        channel: The host's end of a datagram socket on which the worker hands over the
            pipes of each child it forks.
        channel_fd: The number of the worker's end of it, in the worker.
    """

    def __init__(self, command: Sequence[str], user: int | None) -> None:
        self.channel, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.channel_fd = theirs.fileno()
        try:
            super().__init__(command, env=_WORKER_ENV, cwd="/", pass_fds=(self.channel_fd,),
                             user=user)  # fmt: skip
        except BaseException:
            self.channel.close()
            raise
        finally:
            theirs.close()

    def receive_pipes(self, timeout: float) -> tuple[int, int]:
        """The next child's pipes from the channel: (requests to write, replies to read).

        The requests end is non-blocking (see :func:`~palaestra.processes.write_frame`).

        Raises:
            TimeoutError: None within ``timeout`` seconds.
            OSError: The worker is gone (its frames end first), or sent something else.
        """
        poller = select.poll()
        poller.register(self.channel.fileno(), select.POLLIN)
        poller.register(self.fileno(), select.POLLIN)
        events = dict(poller.poll(max(timeout, 0.0) * 1000))
        if self.channel.fileno() not in events:
            if events:  # its frames ended (or it spoke out of turn) before the pipes came
                raise OSError("the sandbox worker died")
            raise TimeoutError
        data, fds, _, _ = socket.recv_fds(self.channel, 16, 2)
        if data != b"e" or len(fds) != 2:
            for fd in fds:
                os.close(fd)
            raise OSError("the sandbox worker sent no pipes")
        for fd in fds:  # not for the processes this one starts
            os.set_inheritable(fd, False)
        os.set_blocking(fds[0], False)
        return fds[0], fds[1]

    def kill(self) -> None:
        """Kill the worker and everything it started, reap it, close its channel.

        Under ``bwrap`` its children live in a PID namespace that dies with it.
        """
        super().kill()
        self.channel.close()


def start_worker(
    config: dict[str, Any],
    *,
    allowed_imports: tuple[str, ...],
    unsafe: bool,
    python_layer: bool = True,
) -> Worker:
    """Start a worker and send it its first frame (``config`` plus what the worker needs).

    Args:
        config: The worker's configuration (a ``policy``, or nothing for snippets).
        allowed_imports: Modules untrusted code may import.
        unsafe: Run without the OS boundary (the user opted in; see ``isolation.require``).
        python_layer: Add the Python-level layer (audit hook, restricted builtins) on top
            of the OS boundary; ``False`` tests that boundary alone.
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
    worker = Worker(command, user)
    first["channel"] = worker.channel_fd
    try:
        worker.send(first, START_SECONDS)
    except OSError:
        pass  # it died at once (or took too long, and was killed): its handshake says so
    except BaseException:  # interrupted: nobody else will stop it
        worker.kill()
        raise
    return worker
