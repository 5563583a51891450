"""A pool of worker processes whose tasks have a hard timeout.

A task that runs past its timeout has its worker killed and replaced, so a call that spins
in C code (where no signal reaches it) still ends. Workers are :class:`Child` processes
(``python -m palaestra.processes.worker_main``), not ``multiprocessing`` children:
``spawn`` and ``forkserver`` would re-import the user's ``__main__`` script in every
worker, and ``fork`` copies a parent that may hold threads (torch, pebble) and locks.
"""

from __future__ import annotations

import atexit
import itertools
import os
import selectors
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from palaestra.processes.child import Child
from palaestra.processes.frames import wait_for

#: The largest result a worker may send back, in bytes (reading one takes about three
#: times as much memory while it is decoded).
MAX_RESULT_BYTES = 1 << 28
# A worker imports its function's module (and runs the initializer) within this time.
_START_SECONDS = 60.0
# Workers that die before their handshake this many times in a row cannot start at all.
_FAILED_STARTS = 3


@dataclass(frozen=True)
class TaskResult:
    """Outcome of one task.

    Attributes:
        ok: Whether the function returned.
        value: Its return value (JSON round-tripped) when ``ok``.
        error: ``"timeout"``, ``"crashed"`` or ``"ExceptionName: message"`` otherwise.
    """

    ok: bool
    value: Any = None
    error: str | None = None


@dataclass(eq=False)  # each worker is itself, whatever it is doing
class _Worker:
    """A worker process and what it is doing: starting, running ``task``, or idle."""

    child: Child
    deadline: float  # of its handshake, then of its task
    task: int | None = None
    request: int | None = None  # the id its answer must carry


class _Map:
    """One :meth:`WorkerPool.map` call: the tasks, their results, the workers' events."""

    def __init__(self, tasks: Sequence[Sequence[Any]], timeout: float) -> None:
        self.tasks, self.timeout = tasks, timeout
        self.results: list[TaskResult | None] = [None] * len(tasks)
        self.queue = deque(range(len(tasks)))
        self.selector = selectors.DefaultSelector()

    def done(self) -> bool:
        return all(result is not None for result in self.results)


class WorkerPool:
    """Runs ``module:function`` on JSON-able arguments in worker processes.

    Args:
        target: ``"package.module:function"``, importable by the workers.
        workers: Number of worker processes.
        initializer: ``"package.module:function"`` each worker calls once at start.
        memory_bytes: Address-space limit of each worker (``None``: no limit).
        environment: Variables set for the workers on top of this process's environment.
    """

    def __init__(
        self,
        target: str,
        *,
        workers: int,
        initializer: str | None = None,
        memory_bytes: int | None = None,
        environment: Mapping[str, str] | None = None,
    ) -> None:
        self._argv = [
            sys.executable,
            "-m",
            "palaestra.processes.worker_main",
            target,
            initializer or "",
            str(memory_bytes or 0),
        ]
        self._size = max(1, workers)
        self._environment = dict(environment or {})
        self._workers: list[_Worker] = []
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._failed_starts = 0  # workers that died before their handshake, in a row
        self._requests = itertools.count()  # an id per request, never reused

    def map(self, tasks: Sequence[Sequence[Any]], timeout: float) -> list[TaskResult]:
        """Run the function on every argument tuple; each call gets ``timeout`` seconds."""
        with self._lock:
            return self._map(tasks, timeout)

    def close(self) -> None:
        """Stop every worker."""
        with self._lock:
            if self._pid == os.getpid():
                for worker in self._workers:
                    worker.child.kill()
            self._workers = []

    def __del__(self) -> None:
        if getattr(self, "_pid", None) == os.getpid():
            for worker in getattr(self, "_workers", []):
                worker.child.kill()

    def _map(self, tasks: Sequence[Sequence[Any]], timeout: float) -> list[TaskResult]:
        if self._pid != os.getpid():  # forked: the workers belong to the parent
            self._workers, self._pid = [], os.getpid()
        for worker in list(self._workers):
            # Dead, or ready and with something to say while idle (a frame a task wrote).
            said = worker.child.ready and wait_for(worker.child.fileno(), 0.0)
            if not worker.child.alive() or said:
                self._drop(worker)
        while len(self._workers) < min(self._size, len(tasks)):
            self._workers.append(self._start())
        run = _Map(tasks, timeout)
        try:
            for worker in self._workers:
                run.selector.register(worker.child.fileno(), selectors.EVENT_READ, worker)
            for worker in list(self._workers):
                self._dispatch(worker, run)
            while not run.done():
                waiting = [w for w in self._workers if w.task is not None or not w.child.ready]
                wait = min((w.deadline for w in waiting), default=time.monotonic() + 1.0)
                readable = {key.data for key, _ in run.selector.select(wait - time.monotonic())}
                now = time.monotonic()
                for worker in list(self._workers):
                    if worker in readable or (worker in waiting and now > worker.deadline):
                        self._collect(worker, run)
        finally:
            run.selector.close()
            # Interrupted (Ctrl-C, a caller's timeout): a busy worker's answer would be
            # taken for the next call's.
            for worker in list(self._workers):
                if worker.task is not None:
                    self._drop(worker)
        return [r for r in run.results if r is not None]

    def _start(self) -> _Worker:
        env = {**os.environ, **self._environment} if self._environment else None
        child = Child(self._argv, max_frame_bytes=MAX_RESULT_BYTES, env=env)
        return _Worker(child, time.monotonic() + _START_SECONDS)

    def _collect(self, worker: _Worker, run: _Map) -> None:
        """Take what ``worker`` sent (or its missed deadline): a handshake, a result, its end."""
        child, remaining = worker.child, worker.deadline - time.monotonic()
        try:
            if not child.ready:
                child.wait_ready(remaining)
                self._failed_starts = 0
                self._dispatch(worker, run)
                return
            reply = child.receive(remaining)
        except TimeoutError:
            self._fail(worker, run, "timeout")
            return
        except OSError:  # what it sent is no frame, or it ended before its handshake
            self._fail(worker, run, "crashed")
            return
        if reply is None or worker.task is None or reply.get("id") != worker.request:
            # It ended, spoke while idle, or answered another call (a task wrote frames
            # of its own): nothing it says can be trusted any more.
            self._fail(worker, run, "crashed")
            return
        ok, value, error = bool(reply.get("ok")), reply.get("value"), reply.get("error")
        run.results[worker.task] = TaskResult(ok, value, error)
        worker.task = None
        self._dispatch(worker, run)

    def _dispatch(self, worker: _Worker, run: _Map) -> None:
        """Give an idle worker the next task, if there is one."""
        if not worker.child.ready or worker.task is not None or not run.queue:
            return
        worker.task, worker.request = run.queue.popleft(), next(self._requests)
        worker.deadline = time.monotonic() + run.timeout
        try:
            worker.child.send({"id": worker.request, "args": list(run.tasks[worker.task])},
                              run.timeout)  # fmt: skip
        except TimeoutError:  # it does not read (and is killed)
            self._fail(worker, run, "timeout")
        except OSError:  # gone
            self._fail(worker, run, "crashed")

    def _fail(self, worker: _Worker, run: _Map, failure: str) -> None:
        """``worker`` failed its task (or its start): report it, replace the worker."""
        if worker.task is not None:
            run.results[worker.task] = TaskResult(False, error=failure)
        self._failed_starts = 0 if worker.child.ready else self._failed_starts + 1
        if self._failed_starts >= _FAILED_STARTS:  # it cannot start at all: fail, don't spin
            while run.queue:
                run.results[run.queue.popleft()] = TaskResult(False, error="worker failed to start")
        run.selector.unregister(worker.child.fileno())
        self._drop(worker)
        if run.queue:
            fresh = self._start()
            self._workers.append(fresh)
            run.selector.register(fresh.child.fileno(), selectors.EVENT_READ, fresh)

    def _drop(self, worker: _Worker) -> None:
        worker.child.kill()
        self._workers.remove(worker)


def usable_cores() -> int:
    """Cores this process may run on (a container or taskset may allow fewer than exist)."""
    return len(os.sched_getaffinity(0))


class SharedPool:
    """Worker pools that start on first use and serve the whole process.

    Many cheap objects (graders, environments, their copies) share a bounded set of
    workers, so a thousand environments do not start a thousand processes. Up to
    ``concurrency`` callers (threads) run at once, each on a :class:`WorkerPool` of its
    own, so a caller whose task runs to its timeout does not hold the others up. Pools
    stop at exit, start again on the next task after :meth:`close`, and a forked child
    starts its own (the parent's workers, and any lock a parent thread held at the fork,
    stay the parent's).

    Args:
        target: ``"package.module:function"``, importable by the workers.
        workers: Worker processes of each pool.
        concurrency: Pools, i.e. callers served at once; more wait for a free one.
        initializer: ``"package.module:function"`` each worker calls once at start.
        memory_bytes: Address-space limit of each worker (``None``: no limit).
        environment: Variables set for the workers on top of this process's environment.
        before_start: Called before the first pool starts, e.g. to check here, not only in
            the workers, that an optional package is installed, so the error names it.
    """

    def __init__(
        self,
        target: str,
        *,
        workers: int,
        concurrency: int = 1,
        initializer: str | None = None,
        memory_bytes: int | None = None,
        environment: Mapping[str, str] | None = None,
        before_start: Callable[[], object] | None = None,
    ) -> None:
        self._target = target
        self._options: dict[str, Any] = {
            "workers": workers,
            "initializer": initializer,
            "memory_bytes": memory_bytes,
            "environment": environment,
        }
        self._concurrency = max(1, concurrency)
        self._before_start = before_start
        self._reset()
        atexit.register(self.close)
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        self._condition = threading.Condition()
        self._idle: list[WorkerPool] = []
        self._started = 0  # pools that exist, idle or busy
        self._generation = 0  # bumped by close(): busy pools of an older one are closed

    def map(self, tasks: Sequence[Sequence[Any]], timeout: float) -> list[TaskResult]:
        """Run the function on every argument tuple; each call gets ``timeout`` seconds."""
        pool, generation = self._acquire()
        try:
            return pool.map(tasks, timeout)
        finally:
            self._release(pool, generation)

    def close(self) -> None:
        """Stop the workers (they start again on the next task)."""
        with self._condition:
            idle, self._idle = self._idle, []
            self._started -= len(idle)
            self._generation += 1
        for pool in idle:
            pool.close()

    def _acquire(self) -> tuple[WorkerPool, int]:
        with self._condition:
            while not self._idle and self._started >= self._concurrency:
                self._condition.wait()
            if self._idle:
                return self._idle.pop(), self._generation
            if self._before_start is not None:
                self._before_start()
            self._started += 1
            return WorkerPool(self._target, **self._options), self._generation

    def _release(self, pool: WorkerPool, generation: int) -> None:
        with self._condition:
            current = generation == self._generation
            if current:
                self._idle.append(pool)
            else:  # close() ran while it worked
                self._started -= 1
            self._condition.notify()
        if not current:
            pool.close()
