"""Helpers for the sandbox tests: find a sandbox's processes, run a script as another user."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from palaestra.sandbox import isolation

ROOT = Path(__file__).resolve().parents[2]
SUBCLASSES = "().__class__.__base__.__subclasses__()"
#: The ``os`` module's globals, reached through the object graph (no import needed).
OS_GLOBALS = f"[c for c in {SUBCLASSES} if c.__name__ == '_wrap_close'][0].__init__.__globals__"


@pytest.fixture(autouse=True)
def os_sandbox() -> None:
    """These tests are about the OS boundary: without it they fail, unless the user opted
    in to running without it (``PALAESTRA_UNSAFE_SANDBOX=1``), which skips them."""
    found = isolation.report()
    if not found.available:
        if isolation.unsafe_requested(None):
            pytest.skip(f"no OS sandbox here (opted out): {'; '.join(found.missing)}")
        pytest.fail(f"no OS sandbox here: {'; '.join(found.missing)}")


def pid_namespace(pid: int | None) -> str:
    """The PID namespace of a worker's sandbox (its ``bwrap`` runs the namespace's init)."""
    assert pid is not None, "no worker is running"
    for _ in range(100):
        with contextlib.suppress(OSError):
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
            if children:
                return os.readlink(f"/proc/{children[0]}/ns/pid")
        time.sleep(0.05)
    raise AssertionError("the worker has no sandbox")


def processes_in(namespace: str) -> list[int]:
    """Processes that live in PID namespace ``namespace`` (as the host numbers them)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if os.readlink(entry / "ns" / "pid") == namespace:
                    found.append(int(entry.name))
    return found


def gone(namespace: str, within: float = 5.0) -> bool:
    """Whether every process of ``namespace`` is gone within ``within`` seconds."""
    deadline = time.monotonic() + within
    while processes_in(namespace):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def run_unprivileged(
    script: str, timeout: float = 120, *, drop: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run ``script`` with this interpreter as an ordinary user (``nobody`` when we are root).

    As root, the script runs in a private mount namespace whose ``/root`` is made
    traversable (a ``tmpfs`` holding the folders of ``/root`` the interpreter and the
    project live in), so that ``nobody`` can start it, and under ``setpriv`` with no
    capabilities. With ``drop=False`` it stays root there: a root host whose interpreter
    others can read.
    """
    env = {"PATH": "/usr/bin:/bin", "HOME": "/tmp", "LANG": "C.UTF-8", "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-c", script]
    if os.getuid() != 0:
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)
    shown = sorted({Path(p).resolve().parts[2] for p in (sys.base_prefix, sys.prefix, ROOT)
                    if Path(p).resolve().parts[1:2] == ("root",)})  # fmt: skip
    steps = ["stash=$(mktemp -d)"]
    for name in shown:
        steps += [f"mkdir -p $stash/{name}", f"mount --bind /root/{name} $stash/{name}"]
    steps += ["mount -t tmpfs -o mode=0755 none /root"]
    for name in shown:
        steps += [f"mkdir -p /root/{name}", f"mount --bind $stash/{name} /root/{name}"]
    steps += [
        "exec setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all "
        '--bounding-set=-all -- "$@"'
        if drop
        else 'exec "$@"'
    ]
    wrapped = ["unshare", "--mount", "--propagation", "private", "--", "sh", "-ec",
               "; ".join(steps), "sh", *command]  # fmt: skip
    return subprocess.run(wrapped, capture_output=True, text=True, timeout=timeout, env=env)
