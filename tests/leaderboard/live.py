"""A real leaderboard server in a subprocess (uvicorn on a free loopback port)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from palaestra.leaderboard.demo import free_port


class LiveServer:
    """``palaestra leaderboard serve`` on ``db``, accepting ``suite_file``."""

    def __init__(self, db: Path, suite_file: Path, *extra: str) -> None:
        self.db, self.suite_file, self.extra = db, suite_file, extra
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.log = db.with_suffix(f".{self.port}.log")

    def start(self) -> LiveServer:
        """Start and wait until it answers."""
        command = [sys.executable, "-m", "palaestra.cli", "leaderboard", "serve",
                   "--port", str(self.port), "--db", str(self.db),
                   "--suite", str(self.suite_file), *self.extra]  # fmt: skip
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


def cli_token(db: Path, name: str, capsys: pytest.CaptureFixture[str]) -> str:
    """A token for ``name`` made with ``palaestra leaderboard token create`` (its last line)."""
    from palaestra.cli import main

    assert main(["leaderboard", "token", "create", "--db", str(db), "--name", name]) == 0
    return capsys.readouterr().out.strip().splitlines()[-1]
