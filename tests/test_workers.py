"""The worker pool kills tasks past their timeout and keeps serving."""

import time

from palaestra.workers import WorkerPool


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
