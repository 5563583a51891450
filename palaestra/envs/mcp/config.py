"""Which MCP server an environment talks to: a stdio command, given as a dict or JSON."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from palaestra.errors import InvalidArgumentError, did_you_mean

_FIELDS = ("command", "args", "env", "cwd")
#: Variables of this process that palaestra's own server needs (its sandbox opt-in, its
#: caches, where the package is).
_OWN_VARIABLES = ("PYTHONPATH", "HOME", "TMPDIR")


@dataclass(frozen=True)
class ServerConfig:
    """An MCP server started as a child process and spoken to over its stdin and stdout.

    The same fields as the ``mcpServers`` entries of MCP clients' configuration files.

    Attributes:
        command: The program.
        args: Its arguments.
        env: Variables added to the minimal environment it gets (``HOME``, ``LOGNAME``,
            ``PATH``, ``SHELL``, ``TERM``, ``USER``, as mcp's own client gives).
        cwd: Its working directory (``None``: this process's).
    """

    command: str
    args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: str | None = None

    @classmethod
    def parse(cls, value: ServerConfig | Mapping[str, Any] | str) -> ServerConfig:
        """A config from a dict or a JSON object (``{"command": ..., "args": [...]}``).

        Raises:
            InvalidArgumentError: Not an object, an unknown field, or a field of the wrong
                type; the message names the field.
        """
        if isinstance(value, ServerConfig):
            return value
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError as exc:
                raise InvalidArgumentError(f"server is not valid JSON: {exc.msg}") from exc
        if not isinstance(value, Mapping):
            raise InvalidArgumentError(
                f'server must be an object like {{"command": ..., "args": [...]}}, '
                f"got {value!r:.200}"
            )
        for key in value:
            if key not in _FIELDS:
                raise InvalidArgumentError(
                    f"server has an unknown field {key!r}{did_you_mean(str(key), _FIELDS)} "
                    f"Fields: {', '.join(_FIELDS)}."
                )
        command, args = value.get("command"), value.get("args", [])
        env, cwd = value.get("env") or {}, value.get("cwd")
        if not isinstance(command, str) or not command:
            raise InvalidArgumentError(f"server.command must be a program name, got {command!r}")
        if not isinstance(args, (list, tuple)) or not all(isinstance(a, str) for a in args):
            raise InvalidArgumentError(f"server.args must be a list of strings, got {args!r:.200}")
        if not isinstance(env, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in env.items()
        ):
            raise InvalidArgumentError(f"server.env must map strings to strings, got {env!r:.200}")
        if cwd is not None and not isinstance(cwd, str):
            raise InvalidArgumentError(f"server.cwd must be a folder or null, got {cwd!r}")
        return cls(command, tuple(args), dict(env), cwd)

    def to_dict(self) -> dict[str, Any]:
        """The config as JSON-ready data (what :meth:`parse` reads back)."""
        return {"command": self.command, "args": list(self.args), "env": dict(self.env),
                "cwd": self.cwd}  # fmt: skip


def palaestra_server(env_id: str, env_kwargs: Mapping[str, Any]) -> ServerConfig:
    """Palaestra's own server of ``env_id``'s tool (:mod:`palaestra.integrations.mcp_server`).

    Started with this interpreter, with the ``PALAESTRA_*`` variables of this process (the
    sandbox opt-in, cache folders), and this copy of palaestra first on ``PYTHONPATH``.
    """
    names = [k for k in os.environ if k.startswith("PALAESTRA_") or k in _OWN_VARIABLES]
    env = {k: os.environ[k] for k in sorted(names)}
    # This copy of palaestra, installed or not.
    source = str(Path(__file__).resolve().parents[3])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (source, env.get("PYTHONPATH")) if p)
    return ServerConfig(
        sys.executable,
        (
            "-m",
            "palaestra.integrations.mcp_server",
            env_id,
            "--env-kwargs",
            json.dumps(dict(env_kwargs), sort_keys=True),
        ),
        env,
    )
