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

import functools
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal, TypeVar, cast

from palaestra.errors import InvalidArgumentError
from palaestra.processes import FrameReader, write_frame
from palaestra.sandbox import isolation
from palaestra.sandbox.worker import Worker, start_worker

#: Modules a policy may import (``random`` is seeded by the harness).
POLICY_IMPORTS: tuple[str, ...] = ("math", "random", "itertools", "collections", "numpy")

#: The longest action kept from a policy's answer.
MAX_ACTION_CHARS = 100

_Method = TypeVar("_Method", bound=Callable[..., Any])

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
        load_wall_seconds: Wall-clock time from the start of an episode until the program
            is loaded (a top level that blocks uses no CPU).
        memory_mb: Address space of the process, in MiB (numpy counts).
    """

    call_cpu_seconds: float = 0.5
    call_wall_seconds: float = 2.0
    episode_cpu_seconds: float = 20.0
    episode_wall_seconds: float = 60.0
    load_cpu_seconds: float = 2.0
    load_wall_seconds: float = 10.0
    memory_mb: int = 768

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if not isinstance(value, int | float) or not 0 < value <= 86_400:
                raise InvalidArgumentError(
                    f"PolicyLimits.{name} must be a number in (0, 86400], not {value!r}"
                )


@dataclass(frozen=True)
class Outcome:
    """What one call gave: an action, or a failure with its message."""

    action: str | None
    failure: Failure | None = None
    error: str = ""


def _stops_when_interrupted(method: _Method) -> _Method:
    """Stop the worker when ``method`` is interrupted (Ctrl-C, a caller's timeout).

    Half-way through, what is on its way in the pipes would be read as the next call's.
    """

    @functools.wraps(method)
    def wrapped(self: PolicyWorker, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except BaseException:
            self._stop()
            raise

    return cast(_Method, wrapped)


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
        # This episode's pipes to its child: requests written, replies read.
        self._requests: int | None = None
        self._replies: FrameReader | None = None
        self._in_episode = False  # the worker has an episode it will report "ended" for
        self._starting = False
        self._begun_at = 0.0
        self._sent_at: float | None = None
        self.spent = 0.0
        self.dead: Outcome | None = None

    @property
    def worker_pid(self) -> int | None:
        """Process id of the running worker (the boundary's outer process); ``None`` if none."""
        process = self._process
        return process.pid if process is not None and process.alive() else None

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
            self._worker().send({"seed": seed}, self.limits.load_wall_seconds)
            self._starting = self._in_episode = True
            # Players' episodes start together: their load times run side by side.
            self._begun_at = time.monotonic()
        except OSError as exc:
            self._stop()
            self._fail(Outcome(None, "crashed", f"the sandbox worker failed: {exc}"))

    @_stops_when_interrupted
    def episode_ready(self) -> Outcome | None:
        """The second half of :meth:`start_episode`: wait for the program to load."""
        if not self._starting or self._process is None:
            return self.dead
        self._starting = False
        # A new worker first imports its modules (numpy: a few tenths of a second).
        deadline = self._begun_at + self.limits.load_wall_seconds
        try:
            self._process.wait_ready(deadline - time.monotonic())
            self._requests, replies = self._process.receive_pipes(deadline - time.monotonic())
            self._replies = FrameReader(replies)
            reply = self._replies.receive(max(deadline - time.monotonic(), 0.0))
        except TimeoutError:
            self._stop()
            limit = self.limits.load_wall_seconds
            return self._fail(Outcome(None, "timeout", f"loading took over {limit:g} s"))
        except OSError as exc:
            self._stop()
            return self._fail(Outcome(None, "crashed", f"the sandbox worker failed: {exc}"))
        if reply is None:
            return self._fail(Outcome(None, "crashed", "the policy process died while loading"))
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
        if self._starting:  # begun, never waited for: its pipes are still on their way
            self._stop()
            return
        self._close_pipes()  # the child reads the end of its requests and returns
        if not self._in_episode or self._process is None:
            return
        try:
            self._process.send({"end": True}, self.limits.call_wall_seconds)
        except OSError:
            self._stop()

    @_stops_when_interrupted
    def episode_finished(self) -> None:
        """The second half of :meth:`end_episode`: wait until the child is gone.

        One deadline for all of it; past it, the worker is killed.
        """
        if not self._in_episode or self._process is None:
            return
        try:
            self._await_end(self.limits.call_wall_seconds + 10.0)
        except (OSError, TimeoutError):
            self._stop()

    # ------------------------------------------------------------------ calls
    def act(self, observation: dict[str, Any]) -> Outcome:
        """The policy's action for ``observation`` (a dict of JSON types), or a failure."""
        self.send(observation)
        return self.receive()

    @_stops_when_interrupted
    def send(self, observation: dict[str, Any]) -> None:
        """Hand the policy ``observation``; :meth:`receive` gets the answer."""
        if self.dead is not None or self._requests is None:
            return
        self._sent_at = time.monotonic()
        try:
            write_frame(self._requests, {"obs": observation}, self.limits.call_wall_seconds)
        except TimeoutError:  # it does not read what it is sent
            self._stop()
            self._fail(Outcome(None, "crashed", "the policy process stopped reading"))
        except OSError:  # gone: receive() says why
            pass

    @_stops_when_interrupted
    def receive(self) -> Outcome:
        """The answer to the last :meth:`send`.

        After a crash, a killed call or the episode's time budget, every later call of the
        episode fails at once with the same outcome.
        """
        if self.dead is not None:
            return self.dead
        replies, sent = self._replies, self._sent_at
        if replies is None or sent is None:
            return self._fail(Outcome(None, "crashed", "nothing was asked"))
        self._sent_at = None
        budget = self.limits.episode_wall_seconds - self.spent
        wait = min(self.limits.call_wall_seconds, budget) - (time.monotonic() - sent)
        try:
            reply = replies.receive(max(wait, 0.0))
        except TimeoutError:
            self.spent += time.monotonic() - sent
            if budget < self.limits.call_wall_seconds:
                spent = f"the episode's policy time of {self.limits.episode_wall_seconds:g} s"
                return self._fail(Outcome(None, "timeout", f"{spent} is spent"))
            limit = self.limits.call_wall_seconds
            return self._fail(Outcome(None, "timeout", f"wall-clock limit of {limit:g} s exceeded"))
        except OSError as exc:  # (after TimeoutError, a subclass) too long an answer, garbage
            self.spent += time.monotonic() - sent
            self._stop()
            return self._fail(Outcome(None, "crashed", str(exc)))
        self.spent += time.monotonic() - sent
        if reply is None:
            return self._fail(Outcome(None, "crashed", self._death()))
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

    def _death(self) -> str:
        """Why the episode's child's replies ended: the worker's word on it.

        The child may live on (it closed its pipe): the worker is told to end the episode,
        which kills it after a second, so this waits a few seconds at most.
        """
        self._close_pipes()
        try:
            if self._in_episode and self._process is not None:
                self._process.send({"end": True}, 3.0)
            cause = self._await_end(3.0)
        except (OSError, TimeoutError):
            self._stop()
            return "the sandbox worker died"
        if cause in ("SIGKILL", "SIGXCPU"):
            return "the episode's CPU time limit was exceeded"
        if cause == "ended":
            return "the policy process stopped answering and was ended"
        return f"the policy process died ({cause})"

    def _await_end(self, timeout: float) -> str:
        """Read the worker's frames until it reports the episode's end; return its cause."""
        assert self._process is not None
        deadline = time.monotonic() + timeout
        while True:
            message = self._process.receive(max(deadline - time.monotonic(), 0.0))
            if message is None:
                raise OSError("the sandbox worker died")
            if "ended" in message:
                self._in_episode = False
                return str(message["ended"])[:100]

    def _close_pipes(self) -> None:
        requests, self._requests, replies, self._replies = self._requests, None, self._replies, None
        for fd in (requests, None if replies is None else replies.fd):
            if fd is not None:
                os.close(fd)

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
        self._in_episode = self._starting = False
        self._close_pipes()
        process, self._process = self._process, None
        if process is not None:
            process.kill()
