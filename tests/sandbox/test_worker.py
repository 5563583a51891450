"""A worker's lines are read with a size cap and a deadline; workers live as long as the host."""

from __future__ import annotations

import contextlib
import os
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from palaestra.sandbox import Sandbox
from palaestra.sandbox.policy import PolicyWorker
from palaestra.sandbox.worker import MAX_LINE_BYTES, Worker


def fake(script: str) -> Worker:
    """A "worker" that runs ``script`` (a stand-in for a worker taken over by its code)."""
    command = [sys.executable, "-c", f"import sys, time\n{script}\nsys.stdout.flush()"]
    return Worker(subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                   start_new_session=True))  # fmt: skip


def test_lines_come_one_at_a_time_even_when_sent_together() -> None:
    worker = fake('print(\'{"a": 1}\\n{"b": 2}\')')
    try:
        assert worker.receive(10) == {"a": 1}
        assert worker.receive(10) == {"b": 2}
        assert worker.receive(10) is None  # the end
    finally:
        worker.stop()


@pytest.mark.parametrize(
    "script",
    [
        f"sys.stdout.write('x' * {MAX_LINE_BYTES + 10})",  # never a newline
        "print('[' * 200_000)",
        "print('not json')",
        "print('[1, 2]')",
        "sys.stdout.buffer.write(b'\\xff\\xfe\\n')",
    ],
    ids=["endless", "nested", "not-json", "not-an-object", "not-utf8"],
)
def test_what_is_not_a_json_object_line_is_an_os_error(script: str) -> None:
    worker = fake(script)
    try:
        with pytest.raises(OSError, match="answered"):
            worker.receive(10)
    finally:
        worker.stop()


def test_a_slow_drip_times_out() -> None:
    worker = fake("for _ in range(100):\n    sys.stdout.write('x'); sys.stdout.flush()\n"
                  "    time.sleep(0.1)")  # fmt: skip
    start = time.monotonic()
    try:
        with pytest.raises(TimeoutError):
            worker.receive(1.0)
        assert time.monotonic() - start < 2.0
    finally:
        worker.stop()


def test_a_worker_started_from_a_thread_outlives_the_thread() -> None:
    # The kernel ties a sandbox's life to the thread that started it.
    with Sandbox() as box:
        thread = threading.Thread(target=box.run, args=("pass",))
        thread.start()
        thread.join()
        time.sleep(0.5)
        assert box._worker is not None and box._worker.alive()
        worker = box._worker
        assert box.run("print(1)").output == "1\n"
        assert box._worker is worker


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
