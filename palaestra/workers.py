"""A pool of worker processes whose tasks have a hard timeout.

A task that runs past its timeout has its worker killed and replaced, so a call that spins
in C code (where no signal reaches it) still ends. Workers are plain subprocesses
(``python -m palaestra._worker_main``) that exchange JSON lines with the pool, not
``multiprocessing`` children: ``spawn`` and ``forkserver`` would re-import the user's
``__main__`` script in every worker, and ``fork`` copies a parent that may hold threads
(torch, pebble) and locks.
"""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


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


class _Worker:
    def __init__(self, argv: list[str]) -> None:
        self.process = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            bufsize=0,
        )
        self.ready = False
        self.buffer = b""
        self.task: int | None = None
        self.deadline = 0.0

    def send(self, task: int, args: Sequence[Any], timeout: float) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(list(args)).encode() + b"\n")
        self.task = task
        self.deadline = time.monotonic() + timeout

    def read_lines(self) -> list[bytes]:
        assert self.process.stdout is not None
        data = os.read(self.process.stdout.fileno(), 1 << 16)
        if not data:
            raise EOFError
        self.buffer += data
        *lines, self.buffer = self.buffer.split(b"\n")
        return lines

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                stream.close()


class WorkerPool:
    """Runs ``module:function`` on JSON-able arguments in worker processes.

    Args:
        target: ``"package.module:function"``, importable by the workers.
        workers: Number of worker processes.
        initializer: ``"package.module:function"`` each worker calls once at start.
        memory_bytes: Address-space limit of each worker (``None``: no limit).
    """

    def __init__(
        self,
        target: str,
        *,
        workers: int,
        initializer: str | None = None,
        memory_bytes: int | None = None,
    ) -> None:
        self._argv = [
            sys.executable,
            "-m",
            "palaestra._worker_main",
            target,
            initializer or "",
            str(memory_bytes or 0),
        ]
        self._size = max(1, workers)
        self._workers: list[_Worker] = []
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._failed_starts = 0  # workers that died before saying ready, in a row

    def map(self, tasks: Sequence[Sequence[Any]], timeout: float) -> list[TaskResult]:
        """Run the function on every argument tuple; each call gets ``timeout`` seconds."""
        with self._lock:
            return self._map(tasks, timeout)

    def close(self) -> None:
        """Stop every worker."""
        with self._lock:
            if self._pid == os.getpid():
                for worker in self._workers:
                    worker.kill()
            self._workers = []

    def __del__(self) -> None:
        if getattr(self, "_pid", None) == os.getpid():
            for worker in getattr(self, "_workers", []):
                worker.kill()

    def _map(self, tasks: Sequence[Sequence[Any]], timeout: float) -> list[TaskResult]:
        if self._pid != os.getpid():  # forked: the workers belong to the parent
            self._workers, self._pid = [], os.getpid()
        self._workers = [w for w in self._workers if w.process.poll() is None]
        while len(self._workers) < min(self._size, len(tasks)):
            self._workers.append(_Worker(self._argv))
        results: list[TaskResult | None] = [None] * len(tasks)
        queue = deque(range(len(tasks)))
        selector = selectors.DefaultSelector()
        for worker in self._workers:
            assert worker.process.stdout is not None
            selector.register(worker.process.stdout, selectors.EVENT_READ, worker)
            self._dispatch(worker, queue, tasks, timeout)
        try:
            while any(r is None for r in results):
                busy = [w for w in self._workers if w.task is not None]
                wait = min((w.deadline for w in busy), default=time.monotonic() + 1.0)
                for key, _ in selector.select(max(0.0, wait - time.monotonic())):
                    self._receive(key.fileobj, key.data, selector, queue, tasks, timeout, results)
                for worker in list(self._workers):
                    if worker.task is not None and time.monotonic() > worker.deadline:
                        results[worker.task] = TaskResult(False, error="timeout")
                        self._replace(worker, selector, queue, tasks, timeout)
        finally:
            selector.close()
        return [r for r in results if r is not None]

    def _receive(
        self,
        stream: Any,
        worker: _Worker,
        selector: selectors.BaseSelector,
        queue: deque[int],
        tasks: Sequence[Sequence[Any]],
        timeout: float,
        results: list[TaskResult | None],
    ) -> None:
        try:
            lines = worker.read_lines()
        except (EOFError, OSError):
            if worker.task is not None:
                results[worker.task] = TaskResult(False, error="crashed")
            self._failed_starts = 0 if worker.ready else self._failed_starts + 1
            if self._failed_starts >= 3:  # the worker cannot start at all: fail, don't spin
                while queue:
                    results[queue.popleft()] = TaskResult(False, error="worker failed to start")
            self._replace(worker, selector, queue, tasks, timeout)
            return
        for line in lines:
            message = json.loads(line)
            if message.get("ready"):
                worker.ready = True
                self._failed_starts = 0
            elif worker.task is not None:
                results[worker.task] = TaskResult(
                    bool(message["ok"]), message.get("value"), message.get("error")
                )
                worker.task = None
        self._dispatch(worker, queue, tasks, timeout)

    def _dispatch(
        self, worker: _Worker, queue: deque[int], tasks: Sequence[Sequence[Any]], timeout: float
    ) -> None:
        if worker.ready and worker.task is None and queue:
            index = queue.popleft()
            worker.send(index, tasks[index], timeout)

    def _replace(
        self,
        worker: _Worker,
        selector: selectors.BaseSelector,
        queue: deque[int],
        tasks: Sequence[Sequence[Any]],
        timeout: float,
    ) -> None:
        assert worker.process.stdout is not None
        selector.unregister(worker.process.stdout)
        worker.kill()
        self._workers.remove(worker)
        if queue:
            fresh = _Worker(self._argv)
            self._workers.append(fresh)
            assert fresh.process.stdout is not None
            selector.register(fresh.process.stdout, selectors.EVENT_READ, fresh)
