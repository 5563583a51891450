"""Run an untrusted policy program (``policy(obs) -> action``) for one episode, sandboxed.

One worker process per policy per episode, started once and called every step (not one
process per call), with the layers of :mod:`palaestra.sandbox`: privileges dropped, no file
writes or new processes, an address-space limit, the per-episode CPU budget as the process's
hard CPU limit, a CPU-time timer per call, an audit hook refusing files, sockets,
subprocesses and imports outside the allowlist, and restricted builtins. The parent adds the
wall-clock limits: per call, and per episode in total. A policy gets the JSON text of its
observation and sends back an action name; it never sees the env, the rewards, the metrics
or another player's policy, which runs in a process of its own.
"""

from __future__ import annotations

import json
import select
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from typing import Any, Literal

from palaestra.errors import InvalidArgumentError
from palaestra.sandbox import _WORKER_ENV, _ZYGOTE

#: Modules a policy may import (``random`` is seeded by the harness).
POLICY_IMPORTS: tuple[str, ...] = ("math", "random", "itertools", "collections", "numpy")

Failure = Literal["load", "error", "timeout", "memory", "invalid", "crashed"]


@dataclass(frozen=True)
class PolicyLimits:
    """Limits of one policy in one episode.

    Attributes:
        call_cpu_seconds: CPU time of one call before it is interrupted.
        call_wall_seconds: Wall-clock time of one call before the process is killed.
        episode_cpu_seconds: CPU time of the whole episode (the process's hard limit).
        episode_wall_seconds: Wall-clock time of all calls of the episode together.
        load_cpu_seconds: CPU time to run the program's top level.
        memory_mb: Address space of the process, in MiB (numpy counts).
    """

    call_cpu_seconds: float = 0.5
    call_wall_seconds: float = 2.0
    episode_cpu_seconds: float = 20.0
    episode_wall_seconds: float = 60.0
    load_cpu_seconds: float = 2.0
    memory_mb: int = 768

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if value <= 0:
                raise InvalidArgumentError(f"PolicyLimits.{name} must be positive")


@dataclass(frozen=True)
class Outcome:
    """What one call gave: an action, or a failure with its message."""

    action: str | None
    failure: Failure | None = None
    error: str = ""


class PolicyProcess:
    """A policy program loaded in its own sandboxed process for one episode.

    Args:
        code: Python source defining ``policy(obs)``.
        seed: Seed of ``random`` and numpy's global generator in the process.
        limits: The limits.
        allowed_imports: Modules the program may import.
    """

    def __init__(
        self,
        code: str,
        *,
        seed: int = 0,
        limits: PolicyLimits | None = None,
        allowed_imports: tuple[str, ...] = POLICY_IMPORTS,
    ) -> None:
        self.limits = limits or PolicyLimits()
        self.spent = 0.0
        self.dead: Outcome | None = None
        self._process: subprocess.Popen[bytes] | None = subprocess.Popen(
            [sys.executable, "-I", str(_ZYGOTE)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=_WORKER_ENV,
            cwd="/",
        )
        config = {
            "allowed": list(allowed_imports),
            "policy": {"code": code, "seed": seed, "limits": asdict(self.limits)},
        }
        loaded = self._exchange(json.dumps(config), self.limits.load_cpu_seconds + 30.0)
        if loaded.failure is not None:
            failure: Failure = "load" if loaded.failure in ("error", "invalid") else loaded.failure
            self._kill(Outcome(None, failure, loaded.error))

    def act(self, observation: dict[str, Any]) -> Outcome:
        """The policy's action for ``observation`` (a dict of JSON types), or a failure.

        After a crash, a killed call or the episode's time budget, every later call fails
        at once with the same outcome.
        """
        if self.dead is not None:
            return self.dead
        budget = self.limits.episode_wall_seconds - self.spent
        if budget <= 0:
            return self._kill(Outcome(None, "timeout", "the episode's policy time is spent"))
        start = time.monotonic()
        capped = budget < self.limits.call_wall_seconds
        outcome = self._exchange(
            json.dumps(observation), min(self.limits.call_wall_seconds, budget)
        )
        self.spent += time.monotonic() - start
        if capped and outcome.failure == "timeout" and "wall-clock" in outcome.error:
            limit = self.limits.episode_wall_seconds
            outcome = Outcome(None, "timeout", f"the episode's policy time of {limit:g} s is spent")
            return self._kill(outcome)
        if outcome.failure in ("crashed",) or (
            outcome.failure == "timeout" and "wall-clock" in outcome.error
        ):
            return self._kill(outcome)
        return outcome

    def close(self) -> None:
        """Stop the process."""
        self._kill(self.dead or Outcome(None, "crashed", "closed"))

    def __enter__(self) -> PolicyProcess:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _exchange(self, line: str, timeout: float) -> Outcome:
        process = self._process
        if process is None or process.stdin is None or process.stdout is None:
            return Outcome(None, "crashed", "the policy process is gone")
        try:
            process.stdin.write(line.encode() + b"\n")
            process.stdin.flush()
            if not select.select([process.stdout], [], [], timeout)[0]:
                return Outcome(None, "timeout", f"wall-clock limit of {timeout:.3g} s exceeded")
            reply = process.stdout.readline(1 << 20)
        except OSError:
            reply = b""
        if not reply:
            return Outcome(None, "crashed", self._death())
        try:
            message = json.loads(reply)
        except ValueError:
            return Outcome(None, "crashed", "the policy process answered garbage")
        if not isinstance(message, dict):
            return Outcome(None, "crashed", "the policy process answered garbage")
        if "error" in message:
            kind = message.get("kind")
            known = ("error", "timeout", "memory", "invalid")
            return Outcome(None, kind if kind in known else "error", str(message["error"])[:500])
        if message.get("ready"):
            return Outcome(None)
        value = message.get("value")
        if not isinstance(value, str):
            return Outcome(None, "crashed", "the policy process answered garbage")
        return Outcome(value)

    def _death(self) -> str:
        process = self._process
        if process is None:
            return "the policy process is gone"
        try:
            code = process.wait(5)
        except subprocess.TimeoutExpired:
            return "the policy process stopped answering"
        if code == -9 or code == -24:  # SIGKILL or SIGXCPU from the CPU limit
            return "the episode's CPU time limit was exceeded"
        return f"the policy process died (exit status {code})"

    def _kill(self, outcome: Outcome) -> Outcome:
        self.dead = outcome
        process, self._process = self._process, None
        if process is not None:
            if process.poll() is None:
                process.kill()
            process.wait()
            for stream in (process.stdin, process.stdout):
                if stream is not None:
                    stream.close()
        return outcome

    def __del__(self) -> None:
        if getattr(self, "_process", None) is not None:
            self._kill(Outcome(None, "crashed", "collected"))
