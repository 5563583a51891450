"""Child processes: one way to start one, talk to it, bound its time and kill it.

* :mod:`~palaestra.processes.frames`: length-prefixed JSON frames, read within a size cap
  and a deadline;
* :class:`Child`: a process in its own process group, ready after a handshake, spoken to
  in frames over its stdin and stdout, killed with its group when an exchange fails;
* :class:`WorkerPool`: functions run in worker children, with a hard timeout per call;
  :class:`SharedPool`, one started on first use and shared by a whole process.

The sandboxes of :mod:`palaestra.sandbox` build their OS boundary around a :class:`Child`.

A kill takes the child's process group: everything it started, unless a process started a
session of its own (``setsid``), which leaves the group. Trusted code (the pool's tasks,
the envs' engines) does not; untrusted code runs in a sandbox, whose PID namespace dies
whole with it.
"""

from __future__ import annotations

from palaestra.processes.child import READY, Child, kill_group
from palaestra.processes.frames import (
    MAX_FRAME_BYTES,
    FrameReader,
    ProtocolError,
    encode,
    write_frame,
)
from palaestra.processes.pool import SharedPool, TaskResult, WorkerPool, usable_cores

__all__ = [
    "MAX_FRAME_BYTES",
    "READY",
    "Child",
    "FrameReader",
    "ProtocolError",
    "SharedPool",
    "TaskResult",
    "WorkerPool",
    "encode",
    "kill_group",
    "usable_cores",
    "write_frame",
]
