"""The hostile test server, and a check that no server outlives its test."""

import os
import sys
from pathlib import Path

from palaestra.envs.mcp.config import ServerConfig

HOSTILE = Path(__file__).with_name("hostile_server.py")


def hostile(mode: str = "ok", **env: str) -> ServerConfig:
    """The hostile server in ``mode`` (see hostile_server.py)."""
    return ServerConfig(sys.executable, (str(HOSTILE), mode), env)


def gone(pid: int) -> bool:
    """Whether no process (other than a zombie of ours) has this id."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except OSError:
        return True
