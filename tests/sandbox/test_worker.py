"""Sandbox workers live as long as the host, and a host with many files still reaches them.

How a worker's frames are read (size cap, deadline) is :mod:`tests.processes.test_child`'s.
"""

from __future__ import annotations

import contextlib
import os
import resource
import threading
import time
from pathlib import Path

from palaestra.sandbox import Sandbox
from palaestra.sandbox.policy import PolicyWorker


def test_a_worker_started_from_a_thread_outlives_the_thread() -> None:
    # The kernel ties a sandbox's life to the thread that started it.
    with Sandbox() as box:
        thread = threading.Thread(target=box.run, args=("pass",))
        thread.start()
        thread.join()
        time.sleep(0.5)
        worker = box.worker_pid
        assert worker is not None
        assert box.run("print(1)").output == "1\n"
        assert box.worker_pid == worker


def test_a_host_with_many_open_files_still_talks_to_its_sandboxes() -> None:
    # select() takes descriptors below 1024 only; a big host process has more open.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
    opened = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    try:
        with Sandbox() as box:
            assert box.run("print(1)").output == "1\n"
        with PolicyWorker("def policy(obs):\n    return 'stay'") as worker:
            worker.start_episode(0)
            assert worker.act({"step": 0}).action == "stay"
    finally:
        for fd in opened:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_a_run_interrupted_while_its_worker_starts_leaves_no_worker() -> None:
    import signal

    def interrupt(*_: object) -> None:
        raise KeyboardInterrupt

    before = set(_children_named("bwrap"))  # other tests' sandboxes in this process
    previous = signal.signal(signal.SIGALRM, interrupt)
    try:
        for delay in (0.02, 0.1, 0.3):
            box = Sandbox()
            signal.setitimer(signal.ITIMER_REAL, delay)
            try:
                box.run("print(1)")
            except KeyboardInterrupt:
                pass
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            box.close()
    finally:
        signal.signal(signal.SIGALRM, previous)
    time.sleep(1.0)
    assert set(_children_named("bwrap")) - before == set()


def _children_named(name: str) -> list[int]:
    pid = os.getpid()
    found = []
    for task in os.listdir(f"/proc/{pid}/task"):
        for child in Path(f"/proc/{pid}/task/{task}/children").read_text().split():
            with contextlib.suppress(OSError):
                if Path(f"/proc/{child}/comm").read_text().strip() == name:
                    found.append(int(child))
    return found
