"""The worker pool kills tasks past their timeout and keeps serving."""

import os
import select
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

import palaestra.processes.pool as pool_module
from palaestra.processes import SharedPool, WorkerPool


def test_results_in_order_and_errors_reported() -> None:
    pool = WorkerPool("math:sqrt", workers=2)
    try:
        results = pool.map([(4,), (9,), (-1,), ("x",)], timeout=5)
        assert [r.ok for r in results] == [True, True, False, False]
        assert results[1].value == 3.0
        assert results[2].error == "ValueError: math domain error"
        assert results[3].error.startswith("TypeError")
    finally:
        pool.close()


def test_timeout_kills_and_replaces_worker() -> None:
    pool = WorkerPool("time:sleep", workers=2)
    try:
        pool.map([(0,)], timeout=10)  # workers started
        start = time.monotonic()
        results = pool.map([(30,), (0,), (30,), (0,)], timeout=0.5)
        assert time.monotonic() - start < 10
        assert [r.error for r in results] == ["timeout", None, "timeout", None]
        assert all(r.ok for r in pool.map([(0,)] * 3, timeout=10))
    finally:
        pool.close()


def test_crashing_worker_is_reported_and_replaced() -> None:
    pool = WorkerPool("os:_exit", workers=1)
    try:
        assert pool.map([(3,)], timeout=5)[0].error == "crashed"
    finally:
        pool.close()


def test_worker_that_cannot_start_fails_cleanly() -> None:
    pool = WorkerPool("no_such_module_xyz:function", workers=1)
    try:
        results = pool.map([(1,), (2,)], timeout=5)
        assert all(not r.ok for r in results)
    finally:
        pool.close()


def test_memory_limit() -> None:
    pool = WorkerPool("builtins:bytearray", workers=1, memory_bytes=512 << 20)
    try:
        result = pool.map([(2 << 30,)], timeout=10)[0]
        assert result.error == "MemoryError: "
    finally:
        pool.close()


def test_what_a_task_prints_does_not_reach_the_pool() -> None:
    pool = WorkerPool("builtins:print", workers=1)
    try:
        results = pool.map([("hello",), ("x" * 100_000,)], timeout=10)
        assert [(r.ok, r.value) for r in results] == [(True, None), (True, None)]
    finally:
        pool.close()


def test_a_worker_that_never_says_ready_fails_cleanly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pool_module, "_START_SECONDS", 0.5)
    pool = WorkerPool("math:sqrt", workers=1, initializer="signal:pause")  # blocks for ever
    try:
        start = time.monotonic()
        results = pool.map([(1,), (2,)], timeout=5)
        assert time.monotonic() - start < 20
        assert [r.error for r in results] == ["worker failed to start"] * 2
    finally:
        pool.close()


def test_an_interrupted_map_leaves_no_answer_for_the_next() -> None:
    def interrupt(*_: object) -> None:
        raise KeyboardInterrupt

    pool = WorkerPool("subprocess:getoutput", workers=1)
    previous = signal.signal(signal.SIGALRM, interrupt)
    try:
        pool.map([("true",)], timeout=10)  # started
        signal.setitimer(signal.ITIMER_REAL, 0.3)
        with pytest.raises(KeyboardInterrupt):
            pool.map([("sleep 2; echo first",)], timeout=10)
        assert [r.value for r in pool.map([("echo second",)], timeout=10)] == ["second"]
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        pool.close()


def test_a_task_that_forks_gets_its_own_answer_every_time() -> None:
    pool = WorkerPool("tests.processes.tasks:fork_then_answer", workers=1)
    try:
        for call in range(6):
            assert pool.map([(call,)], timeout=10)[0].value == call
    finally:
        pool.close()


def test_a_value_that_cannot_be_sent_is_the_tasks_error_not_a_crash() -> None:
    pool = WorkerPool("tests.processes.tasks:unsendable", workers=1)
    try:
        results = pool.map([("object",), ("circular",), ("exit",), ("fine",)], timeout=10)
        assert results[0].error is not None and results[0].error.startswith("TypeError")
        assert results[1].error is not None and results[1].error.startswith("ValueError")
        assert results[2].error == "SystemExit: 3"
        assert results[3].value == "fine"
    finally:
        pool.close()


def test_a_shared_pool_serves_callers_at_once_and_after_close() -> None:
    # One caller's task runs to its timeout; the other's, on a pool of its own, does not
    # wait for it.
    shared = SharedPool("time:sleep", workers=1, concurrency=2)
    try:
        with ThreadPoolExecutor(2) as threads:
            slow = threads.submit(shared.map, [(30,)], 3.0)
            time.sleep(0.2)
            start = time.monotonic()
            assert shared.map([(0,)], 10.0)[0].ok
            quick = time.monotonic() - start
            assert slow.result()[0].error == "timeout"
        assert quick < 2.5  # not the 3 s the other caller's task takes
        shared.close()
        assert shared.map([(0,)], 10.0)[0].ok  # starts again
    finally:
        shared.close()


def test_a_shared_pool_closed_while_busy_does_not_lose_its_places() -> None:
    shared = SharedPool("time:sleep", workers=1, concurrency=1)
    try:
        with ThreadPoolExecutor(1) as threads:
            busy = threads.submit(shared.map, [(0.5,)], 10.0)
            time.sleep(0.2)
            shared.close()
            assert busy.result()[0].ok
        # The busy pool was closed on its return, and its place is free again.
        assert shared.map([(0,)], 10.0)[0].ok
    finally:
        shared.close()


def test_a_forked_child_starts_its_own_pool_even_with_a_call_in_flight() -> None:
    # A thread is inside map() (holding the pool's locks) when the process forks: the
    # child must not inherit the held locks nor the parent's workers.
    shared = SharedPool("time:sleep", workers=1, concurrency=1)
    try:
        with ThreadPoolExecutor(1) as threads:
            busy = threads.submit(shared.map, [(2,)], 10.0)
            time.sleep(0.5)
            read, write = os.pipe()
            pid = os.fork()
            if pid == 0:  # the child: one call, then report and leave at once
                ok = shared.map([(0,)], 10.0)[0].ok
                shared.close()
                os.write(write, b"ok" if ok else b"no")
                os._exit(0)
            os.close(write)
            ready = select.select([read], [], [], 30)[0]
            answer = os.read(read, 2) if ready else b"hung"
            os.waitpid(pid, 0)
            assert answer == b"ok"
            assert busy.result()[0].ok
    finally:
        shared.close()
