"""Replays in a child process with a CPU-time budget, so the web process stays responsive.

The verifier thread only waits on a pipe: the replay's Python runs in a process of its own,
forked from a clean fork server (never from the threaded web process; every replay starts
with the envs' imports done), in a process group of its own that is killed whole at the end,
under ``RLIMIT_CPU``; a replay that would use more CPU than its budget is killed by the
kernel and its submission rejected, naming the budget.
"""

from __future__ import annotations

import importlib
import multiprocessing
import os
import pickle
import resource
import threading
import traceback
from dataclasses import dataclass
from typing import Any

from palaestra.processes import kill_group

#: What a child reports: ``ok``, ``mismatch`` (a verdict) or ``error`` (the replay failed).
Outcome = tuple[str, str]


@dataclass(frozen=True)
class ReplayVerdict:
    """How a replay in a child process ended.

    Attributes:
        kind: ``ok``, ``mismatch``, ``error``, ``cpu`` (out of budget), ``timeout``, or
            ``interrupted``: the replay was stopped from outside (a signal, the server
            shutting down) and says nothing about the submission.
        message: The mismatch, the error or the budget, in words (at most 2,000
            characters); for ``ok``, what the function returned with it.
    """

    kind: str
    message: str = ""


def _context() -> Any:
    context = multiprocessing.get_context("forkserver")
    # Loaded once in the fork server: every replay forks with the envs' imports done.
    context.set_forkserver_preload(["palaestra.leaderboard.verifier"])
    return context


def _child(target: str, payload: Any, cpu_seconds: int, pipe: Any) -> None:
    os.setsid()  # a group of its own: killed whole, with anything an engine started
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))
    os.nice(10)  # on a busy machine, requests go before replays
    module, name = target.split(":")
    try:
        pipe.send(getattr(importlib.import_module(module), name)(payload))
    except (KeyboardInterrupt, SystemExit):  # stopped from outside: no verdict
        pipe.send(("interrupted", "the replay was stopped"))
    except BaseException as exc:  # a failure of the replay itself: the submitter's verdict
        pipe.send(("error", f"{type(exc).__name__}: {exc}"[:2000]))
        traceback.print_exc()
    finally:
        pipe.close()


def run_limited(target: str, payload: Any, *, cpu_seconds: float) -> ReplayVerdict:
    """Run ``module:function(payload)`` (returning an :data:`Outcome`) in a child process.

    Args:
        target: The function, by import path (the child imports it).
        payload: Its argument (pickled).
        cpu_seconds: CPU time the child may use (whole seconds, at least 1); wall time is
            bounded at four times that, for a child that sleeps or blocks.
    """
    budget = max(1, round(cpu_seconds))
    wall = 4 * budget + 5
    context = _context()
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=_child, args=(target, payload, budget, sender), daemon=True)
    child.start()
    sender.close()
    assert child.pid is not None
    # A verdict begun and never finished would hold ``recv`` (it has no deadline): at the
    # wall limit the child's group is killed, which ends any read.
    expired, pid = threading.Event(), child.pid

    def expire() -> None:
        expired.set()
        kill_group(pid)

    timer = threading.Timer(wall, expire)
    timer.daemon = True
    timer.start()
    try:
        if not receiver.poll(wall):
            expired.set()
        else:
            kind, message = receiver.recv()
            # A verdict's words are bounded; an ``ok`` carries the child's summary whole.
            return ReplayVerdict(str(kind), str(message) if kind == "ok" else str(message)[:2000])
    except (EOFError, OSError, pickle.UnpicklingError):  # the child died, at most mid-word
        pass
    except (TypeError, ValueError):  # an answer that is no (kind, message) pair
        return ReplayVerdict("error", "the replay answered something that is not a verdict")
    finally:
        timer.cancel()
        receiver.close()
        # The child leads its group: everything it started goes with it. (The fork server
        # reaps it, maybe already; its group's id stays unused while a member lives, and
        # would have to come round the whole pid space to name another group.)
        kill_group(pid)
        child.join(5)
    if expired.is_set() or child.exitcode is None:
        return ReplayVerdict("timeout", f"the replay took longer than {wall} s")
    if child.exitcode in (-24, -9):  # SIGXCPU at the soft limit, SIGKILL at the hard one
        return ReplayVerdict("cpu", f"the replay used more than {budget} s of CPU time")
    if child.exitcode < 0:  # another signal: from outside
        return ReplayVerdict("interrupted", f"the replay was stopped by signal {-child.exitcode}")
    return ReplayVerdict("error", f"the replay process ended with code {child.exitcode}")
