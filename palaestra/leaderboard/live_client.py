"""Playing a live session: any palaestra agent against a leaderboard server's envs.

Each episode is a :class:`LiveEpisodeEnv`, a Gymnasium env whose steps go to the server,
and is played by :func:`palaestra.rollout.run_episode` like any other env. A run that was
cut off (a dropped connection, a killed process) is resumed by running the same command
again: the server hands back the open session, finished episodes are skipped, and an
episode cut off midway is replayed to the agent from its committed steps before play goes
on, so the agent's history is whole.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym

from palaestra.envs.core import TextSpace
from palaestra.errors import InvalidArgumentError, RemoteEnvError
from palaestra.leaderboard.client import SubmissionRefused, checked, http_client
from palaestra.leaderboard.harness import PRIVILEGED_AGENTS, agent_for
from palaestra.progress import track
from palaestra.rollout import Episode, run_episode

#: Longest observation and action a live episode's spaces hold.
MAX_TEXT = 1 << 20


@dataclass
class _Connection:
    """Requests to one server with retries (a step sent twice is answered the same).

    Transport errors and 5xx answers are retried ``retries`` times with a doubling wait; a
    429 (a request of this token still in progress, or the rate limit) waits as the server
    asks, for at most ``busy_seconds`` in all.
    """

    client: Any
    retries: int = 5
    backoff: float = 0.5
    busy_seconds: float = 300.0

    def call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        import httpx

        delay, failures, waited = self.backoff, 0, 0.0
        while True:
            try:
                response = self.client.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                failures += 1
                if failures > self.retries:
                    raise RemoteEnvError(
                        f"lost the leaderboard server ({exc}); run the same command again "
                        "to resume the session"
                    ) from exc
                time.sleep(delay)
                delay *= 2
                continue
            if response.status_code == 429 and waited < self.busy_seconds:
                wait = min(float(response.headers.get("Retry-After", 1)), 30.0)
                time.sleep(wait)
                waited += wait
                continue
            if response.status_code >= 500 and failures < self.retries:
                failures += 1
                time.sleep(delay)
                delay *= 2
                continue
            return checked(response)


class LiveEpisodeEnv(gym.Env[str, str]):
    """One episode of a live session, played on the server.

    ``reset`` starts the episode (the seed is the server's: the argument is ignored);
    ``step`` commits an action. After a cut-off, the steps the server holds already are
    answered from its record, so an agent re-run from the start sees what it saw before;
    an action that differs from the committed one does not change it.

    Args:
        connection: The server.
        session: The session id.
        position: The episode's position in the session.
    """

    metadata: dict[str, Any] = {"render_modes": []}  # noqa: RUF012 - Gymnasium's convention

    def __init__(self, connection: _Connection, session: str, position: int) -> None:
        self._connection = connection
        self._path = f"/api/live/sessions/{session}/episodes/{position}"
        self.observation_space = TextSpace(MAX_TEXT)
        self.action_space = TextSpace(MAX_TEXT)
        self._committed: list[dict[str, Any]] = []
        self._step = 0
        self.diverged = 0  # re-run actions that differ from the committed ones

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[str, dict[str, Any]]:
        """Start the episode on the server (or read back how far it got)."""
        super().reset(seed=seed)
        view = self._connection.call("POST", self._path + "/start")
        self._committed, self._step = list(view["steps"]), 0
        return str(view["observation"]), dict(view["info"])

    def step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        """Commit ``action`` (or answer from the record for a step committed already)."""
        if self._step < len(self._committed):
            done = self._committed[self._step]
            self.diverged += done["action"] != action
        else:
            done = self._connection.call(
                "POST", self._path + "/step", json={"step": self._step, "action": str(action)}
            )
        self._step += 1
        return (
            str(done["observation"]),
            float(done["reward"]),
            bool(done["terminated"]),
            bool(done["truncated"]),
            dict(done["info"]),
        )


@dataclass
class LiveRun:
    """What a live evaluation did.

    Attributes:
        session: The session id.
        status: The session's status at the end (``finished`` when every episode ended).
        resumed: Whether an open session was picked up.
        records: The episodes played (or read back) by this run.
        diverged: Re-run actions that differed from the committed ones after a cut-off.
    """

    session: str
    status: str
    resumed: bool
    records: list[Episode] = field(default_factory=list)
    diverged: int = 0


def evaluate_live(
    agent_spec: str,
    server: str,
    token: str,
    suite: str,
    *,
    name: str | None = None,
    families: list[str] | None = None,
    progress: bool = True,
    timeout: float = 120.0,
) -> LiveRun:
    """Play a live session of ``agent_spec`` on ``suite`` through ``server``.

    Args:
        agent_spec: An agent spec (see :func:`palaestra.agents.factory.make_agent`). The
            oracle cannot play: it reads the env's state, which stays on the server.
        server: The leaderboard server's URL.
        token: A submitter's token.
        suite: The suite id.
        name: The agent's display name (default: the spec).
        families: Only these env families (all by default); the others count as 0.
        progress: Show a progress bar.
        timeout: Seconds per request.

    Raises:
        SubmissionRefused: The server refused (its reason is the message).
        RemoteEnvError: The server stayed unreachable; running again resumes.
    """
    if agent_spec in PRIVILEGED_AGENTS:
        raise InvalidArgumentError(
            f"the {agent_spec} agent reads the env's state, which stays on the server in a "
            "live session: it cannot play live"
        )
    with http_client(server, token, timeout) as client:
        connection = _Connection(client)
        body: dict[str, Any] = {"suite": suite, "agent": name or agent_spec}
        if families is not None:
            body["families"] = families
        view = connection.call("POST", "/api/live/sessions", json=body)
        run = LiveRun(session=view["id"], status=view["status"], resumed=view["resumed"])
        todo = [e for e in view["episodes"] if not e["ended"]]
        for episode in track(todo, description="live episodes", enabled=progress):
            env = LiveEpisodeEnv(connection, run.session, episode["position"])
            # The agent's own seed is fixed by the episode, so a re-run samples the same.
            digest = hashlib.sha256(f"{run.session}/{episode['position']}".encode()).digest()
            agent = agent_for(agent_spec, env, int.from_bytes(digest[:4], "big") >> 1)
            record = run_episode(env, agent)
            record.env_id = episode["env"]
            run.records.append(record)
            run.diverged += env.diverged
        run.status = connection.call("GET", f"/api/live/sessions/{run.session}")["status"]
    return run


__all__ = ["LiveEpisodeEnv", "LiveRun", "RemoteEnvError", "SubmissionRefused", "evaluate_live"]
