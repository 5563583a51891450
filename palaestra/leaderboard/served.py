"""A leaderboard server in a subprocess on a free loopback port, for tests and benchmarks.

The real thing (``palaestra leaderboard serve``, uvicorn), in a process of its own, so that
a client in this process measures or attacks it as a remote one would, and a test can kill it
as a crash would.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def free_port() -> int:
    """A loopback port nobody listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    """``palaestra leaderboard serve`` on ``db`` in a subprocess, accepting ``suite``.

    Args:
        db: The SQLite file.
        suite: A suite id or a suite file.
        extra: More ``serve`` options, e.g. ``"--rate-limit", "1000000"``.
    """

    def __init__(self, db: Path, suite: Path | str, *extra: str) -> None:
        self.db, self.suite, self.extra = db, suite, extra
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.log = db.with_suffix(f".{self.port}.log")

    def start(self) -> ServerProcess:
        """Start and wait until it answers."""
        command = [sys.executable, "-m", "palaestra.cli", "leaderboard", "serve",
                   "--port", str(self.port), "--db", str(self.db),
                   "--suite", str(self.suite), *self.extra]  # fmt: skip
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=log, env=env)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(self.url + "/api/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError(f"server did not start: {self.log.read_text()[-2000:]}")

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flush, as a crash or an OOM kill would."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(30)

    def stop(self) -> None:
        """Stop gracefully."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()
