"""The leaderboard server in a subprocess, and tokens made with the command line."""

from __future__ import annotations

from pathlib import Path

import pytest

from palaestra.leaderboard.served import ServerProcess

#: The server in a subprocess, as the tests name it.
LiveServer = ServerProcess


def cli_token(db: Path, name: str, capsys: pytest.CaptureFixture[str]) -> str:
    """A token for ``name`` made with ``palaestra leaderboard token create`` (its last line)."""
    from palaestra.cli import main

    assert main(["leaderboard", "token", "create", "--db", str(db), "--name", name]) == 0
    return capsys.readouterr().out.strip().splitlines()[-1]
