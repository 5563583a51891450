"""Replaying submissions on the server: a background thread that works through the queue.

Each replay runs in a child process under a CPU-time budget
(:mod:`~palaestra.leaderboard.replay_process`); the thread only waits for its verdict, so
requests are served at full speed while a pathological file is replayed.

A submission is stored as pending before the server answers, and verified afterwards, so a
slow replay never holds a request open and a server killed mid-replay picks the submission
up again when it restarts (its claim expires after ``lease``).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
from collections.abc import Callable
from typing import Any

from palaestra.leaderboard.harness import Mismatch, verify
from palaestra.leaderboard.replay_process import ReplayVerdict, run_limited
from palaestra.leaderboard.schema import Results
from palaestra.leaderboard.scoring import board_summary, scores_of
from palaestra.leaderboard.store import (
    Sessions,
    claim_next,
    finish,
    release_claim,
    release_claims,
)
from palaestra.leaderboard.suites import Suite

log = logging.getLogger("palaestra.leaderboard")


def leaderboard_summary(results: Results, suite: Suite) -> dict[str, Any]:
    """The aggregates the leaderboard shows, recomputed from the replayed episodes.

    Claimed aggregates in the file are ignored: only the episodes are trusted, and only
    after their replay.
    """
    families = {t.name: t.family for t in suite.tasks}
    return {
        **board_summary(scores_of(results), families),
        "hidden_seeds": results.challenge is not None,
        "privileged": results.privileged,
    }


def replay_file(payload: tuple[str, Suite, dict[str, list[int]] | None]) -> tuple[str, str]:
    """Parse, replay and summarize ``(results JSON, suite, seeds)`` in a replay process.

    All of a file's work happens here, out of the web process: ``("ok", summary JSON)`` or
    ``("mismatch", what)``.
    """
    body, suite, seeds = payload
    results = Results.model_validate_json(body)
    try:
        verify(results, suite, seeds)
    except Mismatch as exc:
        return "mismatch", str(exc)
    return "ok", json.dumps(leaderboard_summary(results, suite))


class Verifier:
    """Replays pending submissions one at a time in a daemon thread.

    Args:
        sessions: The database.
        suites: The suites the server accepts, by id.
        seeds_for: The seeds a submission must have been played on, from its challenge id
            (hidden ones for a challenge, the development ones, ``None``, otherwise).
        lease: How long a claim holds before another verifier may take the submission.
        poll: Seconds between looks at the queue when nobody wakes the thread.
        cpu_seconds: CPU time one submission's replay may use (in its own process).
    """

    def __init__(
        self,
        sessions: Sessions,
        suites: dict[str, Suite],
        seeds_for: Callable[[str | None, Suite], dict[str, list[int]] | None],
        *,
        lease: dt.timedelta = dt.timedelta(minutes=10),
        poll: float = 2.0,
        cpu_seconds: float = 900.0,
    ) -> None:
        self.sessions, self.suites, self.seeds_for = sessions, suites, seeds_for
        self.lease, self.poll, self.cpu_seconds = lease, poll, cpu_seconds
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the thread (idempotent); replays cut short by a stopped server start over.

        One server process verifies a database; with several, each restart re-queues the
        others' replays in progress too, which costs a replay twice but changes no verdict.
        """
        if self._thread is None or not self._thread.is_alive():
            released = release_claims(self.sessions)
            if released:
                log.info("%d interrupted replays queued again", released)
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name="verifier", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop after the replay in progress."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=60)

    def wake(self) -> None:
        """Look at the queue now (a submission just arrived)."""
        self._wake.set()

    def run_once(self) -> bool:
        """Verify the oldest pending submission.

        ``False`` when there is none, or when its replay was stopped from outside (a signal,
        a server shutting down): it goes back in the queue with its file, never rejected.
        """
        row = claim_next(self.sessions, self.lease)
        if row is None:
            return False
        suite = self.suites.get(row.suite)
        if suite is None:
            finish(self.sessions, row.id, reason=f"no suite {row.suite} here", summary=None)
            return True
        payload = (row.body, suite, self.seeds_for(row.challenge_id, suite))
        try:
            verdict = run_limited(
                "palaestra.leaderboard.verifier:replay_file", payload, cpu_seconds=self.cpu_seconds
            )
        except Exception:  # the server could not start a replay: not the file's fault
            log.exception("submission %d: no replay process; it stays queued", row.id)
            verdict = ReplayVerdict("interrupted", "no replay process")
        if verdict.kind == "interrupted":
            release_claim(self.sessions, row.id)
            log.info("submission %d: replay stopped (%s); queued again", row.id, verdict.message)
            return False  # look again after a pause, not in a tight loop
        if verdict.kind == "ok":
            finish(self.sessions, row.id, summary=json.loads(verdict.message))
            log.info("submission %d verified", row.id)
            return True
        reason = verdict.message
        if verdict.kind != "mismatch":
            reason = f"replay failed: {reason}"
        finish(self.sessions, row.id, reason=reason, summary=None)
        log.info("submission %d rejected: %s", row.id, reason)
        return True

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                while not self._stop.is_set() and self.run_once():
                    pass
            except Exception:  # the database went away: log, wait, try again
                log.exception("verifier error")
            self._wake.wait(self.poll)
            self._wake.clear()
