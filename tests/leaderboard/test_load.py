"""A real server under load: concurrent submissions, and a crash in the middle of writes."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from palaestra.leaderboard import Results
from palaestra.leaderboard.db import open_database
from palaestra.leaderboard.store import create_token

from .live import LiveServer


def _token(db: Path, name: str = "load") -> str:
    engine, sessions = open_database(str(db))
    try:
        return create_token(sessions, name)
    finally:
        engine.dispose()


def _bodies(results_bytes: bytes, count: int, prefix: str) -> list[bytes]:
    base = Results.model_validate_json(results_bytes)
    bodies = []
    for k in range(count):
        base.agent.name = f"{prefix} {k}"
        bodies.append(base.model_dump_json().encode())
    return bodies


def _wait_verified(server: LiveServer, ids: set[int], timeout: float = 120) -> dict[int, str]:
    deadline = time.monotonic() + timeout
    states: dict[int, str] = {}
    while time.monotonic() < deadline:
        states = {i: httpx.get(f"{server.url}/api/submissions/{i}").json()["status"] for i in ids}
        if all(s in ("verified", "rejected") for s in states.values()):
            break
        time.sleep(0.5)
    return states


def test_200_concurrent_submissions_none_lost_none_duplicated(
    tmp_path: Path, suite_file: Path, results_bytes: bytes
) -> None:
    db = tmp_path / "load.db"
    token = _token(db)
    server = LiveServer(db, suite_file, "--rate-limit", "1000").start()
    try:
        bodies = _bodies(results_bytes, 200, "concurrent")
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

        def post(body: bytes) -> httpx.Response:
            return httpx.post(f"{server.url}/api/submissions", content=body, headers=headers,
                              timeout=120)  # fmt: skip

        with ThreadPoolExecutor(max_workers=50) as pool:
            first = list(pool.map(post, bodies))
            second = list(pool.map(post, bodies))  # every one again, as retries would
        assert [r.status_code for r in first] == [202] * 200
        ids = {r.json()["id"] for r in first}
        assert len(ids) == 200
        assert [r.status_code for r in second] == [409] * 200
        assert {int(r.json()["detail"].rsplit(" ", 1)[1]) for r in second} == ids
        states = _wait_verified(server, ids)
        assert set(states.values()) == {"verified"}
        table = httpx.get(f"{server.url}/api/leaderboard/test-suite").json()
        assert sorted(row["id"] for row in table) == sorted(ids)
    finally:
        server.stop()


def test_server_killed_mid_write_loses_no_accepted_submission(
    tmp_path: Path, suite_file: Path, results_bytes: bytes
) -> None:
    db = tmp_path / "crash.db"
    token = _token(db)
    server = LiveServer(db, suite_file, "--rate-limit", "1000").start()
    accepted: list[int] = []
    stop = threading.Event()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    bodies = iter(_bodies(results_bytes, 10_000, "crash"))

    def hammer() -> None:
        with httpx.Client(timeout=30) as client:
            while not stop.is_set():
                try:
                    response = client.post(f"{server.url}/api/submissions",
                                           content=next(bodies), headers=headers)  # fmt: skip
                except httpx.HTTPError:
                    return  # the server is gone mid-request: not acknowledged, may be lost
                if response.status_code == 202:
                    accepted.append(response.json()["id"])

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 60
    while len(accepted) < 40 and time.monotonic() < deadline:
        time.sleep(0.05)
    server.kill()
    stop.set()
    for thread in threads:
        thread.join(30)
    assert len(accepted) >= 40, server.log.read_text()[-2000:]

    restarted = LiveServer(db, suite_file).start()
    try:
        states = _wait_verified(restarted, set(accepted))
        assert set(states.values()) == {"verified"}, states
    finally:
        restarted.stop()


def test_restart_keeps_tokens_and_table(
    tmp_path: Path, suite_file: Path, results_bytes: bytes
) -> None:
    db = tmp_path / "restart.db"
    token = _token(db)
    server = LiveServer(db, suite_file).start()
    try:
        response = httpx.post(f"{server.url}/api/submissions", content=results_bytes,
                              headers={"Authorization": f"Bearer {token}"})  # fmt: skip
        assert response.status_code == 202
        assert _wait_verified(server, {response.json()["id"]}) == {1: "verified"}
    finally:
        server.stop()
    again = LiveServer(db, suite_file).start()
    try:
        assert len(httpx.get(f"{again.url}/api/leaderboard/test-suite").json()) == 1
        retry = httpx.post(f"{again.url}/api/submissions", content=results_bytes,
                           headers={"Authorization": f"Bearer {token}"})  # fmt: skip
        assert retry.status_code == 409
    finally:
        again.stop()
