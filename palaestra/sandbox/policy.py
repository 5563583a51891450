"""Run an untrusted policy program (``policy(obs) -> action``) for an evaluation, sandboxed.

One worker process per policy copy (per player) for a whole evaluation; it forks a fresh
child for every episode, which loads the program and answers every step (one process per
call would cost a new process each step). The layers of :mod:`palaestra.sandbox` apply:
the OS boundary (namespaces, seccomp filters); in the child no file writes or new
processes, an address-space limit, the per-episode CPU budget as the child's hard CPU
limit, a CPU-time timer per call; and the Python layer. The host adds the wall-clock
limits, per call and per episode, and the reply size limit: a malformed, oversized or
undecodable reply is a failed call, never an exception. A policy gets the
JSON text of its observation and sends back an action name: it never sees the env, the
rewards, the metrics or another player's policy, which runs in processes of its own.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any, Literal

from palaestra.errors import InvalidArgumentError
from palaestra.sandbox import isolation
from palaestra.sandbox.worker import Worker, start_worker

#: Modules a policy may import (``random`` is seeded by the harness).
POLICY_IMPORTS: tuple[str, ...] = ("math", "random", "itertools", "collections", "numpy")

#: The longest action kept from a policy's answer.
MAX_ACTION_CHARS = 100

Failure = Literal["load", "error", "timeout", "memory", "invalid", "crashed"]


@dataclass(frozen=True)
class PolicyLimits:
    """Limits of one policy in one episode.

    Attributes:
        call_cpu_seconds: CPU time of one call before it is interrupted.
        call_wall_seconds: Wall-clock time of one call before the episode's process is
            killed.
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


class PolicyWorker:
    """A policy program's sandbox for one player over many episodes.

    Call :meth:`start_episode` before each episode, then :meth:`act` every step, then
    :meth:`end_episode`. Each has two halves (:meth:`begin_episode` and
    :meth:`episode_ready`, :meth:`send` and :meth:`receive`, :meth:`finish_episode` and
    :meth:`episode_finished`), so that several players' processes work at once.

    Args:
        code: Python source defining ``policy(obs)``.
        limits: The limits.
        allowed_imports: Modules the program may import.
        unsafe_sandbox: Run without the OS boundary where it cannot be built (``None``:
            ``PALAESTRA_UNSAFE_SANDBOX``).
        python_layer: Add the Python-level checks on top of the OS boundary; ``False``
            tests the boundary alone.

    Raises:
        SandboxUnavailableError: The OS boundary cannot be built and there is no opt-in.
    """

    def __init__(
        self,
        code: str,
        *,
        limits: PolicyLimits | None = None,
        allowed_imports: tuple[str, ...] = POLICY_IMPORTS,
        unsafe_sandbox: bool | None = None,
        python_layer: bool = True,
    ) -> None:
        self.limits = limits or PolicyLimits()
        self.code, self.allowed_imports = code, allowed_imports
        self._unsafe = isolation.require(unsafe_sandbox, "the policy sandbox")
        if self._unsafe and not python_layer:
            raise InvalidArgumentError("python_layer=False needs the OS sandbox")
        self.python_layer = python_layer
        self._process: Worker | None = None
        self._in_episode = False
        self._starting = False
        self._sent_at: float | None = None
        self.spent = 0.0
        self.dead: Outcome | None = None

    # ------------------------------------------------------------------ episodes
    def start_episode(self, seed: int) -> Outcome | None:
        """Fork a fresh child for an episode (seeding ``random`` with ``seed``).

        Returns:
            ``None`` when the program loaded, else the failure every call of the episode
            will get (``load``, or the kind of limit it hit while loading).
        """
        self.begin_episode(seed)
        return self.episode_ready()

    def begin_episode(self, seed: int) -> None:
        """The first half of :meth:`start_episode`: ask for the child, do not wait."""
        self.end_episode()
        self.dead, self.spent = None, 0.0
        self._starting = False
        try:
            self._write(self._worker(), {"seed": seed})
            self._starting = True
        except OSError as exc:
            self._stop()
            self._fail(Outcome(None, "crashed", f"the sandbox worker failed: {exc}"))

    def episode_ready(self) -> Outcome | None:
        """The second half of :meth:`start_episode`: wait for the program to load."""
        if not self._starting or self._process is None:
            return self.dead
        self._starting = False
        try:
            reply = self._read(self._process, self.limits.load_cpu_seconds + 30.0)
        except (OSError, TimeoutError) as exc:
            self._stop()
            return self._fail(Outcome(None, "crashed", f"the sandbox worker failed: {exc!r}"))
        if reply is None or reply.get("ended"):
            return self._fail(Outcome(None, "crashed", "the policy process died while loading"))
        self._in_episode = True
        if reply.get("ready"):
            return None
        kind = reply.get("kind")
        failure: Failure = "load" if kind not in ("timeout", "memory") else kind
        return self._fail(Outcome(None, failure, str(reply.get("error", ""))[:500]))

    def end_episode(self) -> None:
        """Let the episode's child go (the worker stays for the next episode)."""
        self.finish_episode()
        self.episode_finished()

    def finish_episode(self) -> None:
        """The first half of :meth:`end_episode`: tell the child, do not wait."""
        if not self._in_episode or self._process is None:
            return
        try:
            if self.dead is None:
                self._write(self._process, {"end": True})
        except OSError:
            self._stop()

    def episode_finished(self) -> None:
        """The second half of :meth:`end_episode`: wait until the child is gone."""
        if not self._in_episode:
            return
        self._in_episode = False
        if self._process is None:
            return
        try:
            self._drain_to_end(self._process)
        except (OSError, TimeoutError):
            self._stop()

    # ------------------------------------------------------------------ calls
    def act(self, observation: dict[str, Any]) -> Outcome:
        """The policy's action for ``observation`` (a dict of JSON types), or a failure."""
        self.send(observation)
        return self.receive()

    def send(self, observation: dict[str, Any]) -> None:
        """Hand the policy ``observation``; :meth:`receive` gets the answer."""
        if self.dead is not None or self._process is None:
            return
        try:
            self._write(self._process, {"obs": observation})
            self._sent_at = time.monotonic()
        except OSError:
            self._fail(Outcome(None, "crashed", "the policy process is gone"))

    def receive(self) -> Outcome:
        """The answer to the last :meth:`send`.

        After a crash, a killed call or the episode's time budget, every later call of the
        episode fails at once with the same outcome.
        """
        if self.dead is not None:
            return self.dead
        process, sent = self._process, self._sent_at
        if process is None or sent is None:
            return self._fail(Outcome(None, "crashed", "nothing was asked"))
        self._sent_at = None
        budget = self.limits.episode_wall_seconds - self.spent
        wait = min(self.limits.call_wall_seconds, budget) - (time.monotonic() - sent)
        try:
            reply = self._read(process, max(wait, 0.0))
        except TimeoutError:
            self.spent += time.monotonic() - sent
            if budget < self.limits.call_wall_seconds:
                spent = f"the episode's policy time of {self.limits.episode_wall_seconds:g} s"
                return self._fail(Outcome(None, "timeout", f"{spent} is spent"))
            limit = self.limits.call_wall_seconds
            return self._fail(Outcome(None, "timeout", f"wall-clock limit of {limit:g} s exceeded"))
        except OSError as exc:  # (after TimeoutError, a subclass) too long an answer, a pipe
            self.spent += time.monotonic() - sent
            self._stop()
            return self._fail(Outcome(None, "crashed", str(exc)))
        self.spent += time.monotonic() - sent
        if reply is None:
            self._stop()
            return self._fail(Outcome(None, "crashed", "the sandbox worker died"))
        if "ended" in reply:
            self._in_episode = False  # the child is gone and reaped already
            cause = reply["ended"]
            if cause in ("SIGKILL", "SIGXCPU"):
                return self._fail(
                    Outcome(None, "crashed", "the episode's CPU time limit was exceeded")
                )
            return self._fail(Outcome(None, "crashed", f"the policy process died ({cause})"))
        if "error" in reply:
            kind = reply.get("kind")
            known = ("error", "timeout", "memory", "invalid")
            return Outcome(None, kind if kind in known else "error", str(reply["error"])[:500])
        value = reply.get("value")
        if not isinstance(value, str):
            return Outcome(None, "invalid", "the policy answered garbage")
        return Outcome(value[:MAX_ACTION_CHARS])

    def close(self) -> None:
        """Stop the worker."""
        self.end_episode()
        self._stop()

    def __enter__(self) -> PolicyWorker:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def __del__(self) -> None:
        if getattr(self, "_process", None) is not None:
            self._stop()

    # ------------------------------------------------------------------ plumbing
    def _worker(self) -> Worker:
        if self._process is not None and self._process.alive():
            return self._process
        self._stop()
        config = {"policy": {"code": self.code, "limits": asdict(self.limits)}}
        self._process = start_worker(
            config,
            allowed_imports=self.allowed_imports,
            unsafe=self._unsafe,
            python_layer=self.python_layer,
        )
        return self._process

    def _write(self, process: Worker, message: dict[str, Any]) -> None:
        process.send(message)

    def _read(self, process: Worker, timeout: float) -> dict[str, Any] | None:
        """One JSON line from the worker; ``None`` at its end; TimeoutError after timeout."""
        return process.receive(timeout)

    def _drain_to_end(self, process: Worker) -> None:
        """Read what the episode's child still said until the worker reports its end."""
        while True:
            reply = self._read(process, self.limits.call_wall_seconds + 10.0)
            if reply is None:
                raise OSError("the sandbox worker died")
            if "ended" in reply:
                return

    def _fail(self, outcome: Outcome) -> Outcome:
        """Every later call of the episode gets ``outcome``.

        A call past its wall-clock limit may be stuck anywhere (in C code, or swallowing
        the CPU timer): the worker and the episode's child are killed together, and the
        next episode starts a new worker.
        """
        self.dead = outcome
        if outcome.failure == "timeout" and self._in_episode:
            self._stop()
        return outcome

    def _stop(self) -> None:
        self._in_episode = False
        process, self._process = self._process, None
        if process is not None:
            process.stop()
