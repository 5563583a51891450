"""Talking to a leaderboard server: hidden seeds for an evaluation, and submitting results."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from palaestra.errors import InvalidArgumentError, PalaestraError
from palaestra.leaderboard.harness import HiddenSeeds
from palaestra.optional import require


class SubmissionRefused(PalaestraError):  # noqa: N818 - the server's verdict
    """The server refused a request or rejected a submission; the message is its reason."""


def http_client(server: str, token: str | None, timeout: float) -> Any:
    """An ``httpx.Client`` for ``server``, sending ``token`` as the bearer token."""
    httpx = require("httpx", "leaderboard", "talking to a leaderboard server")

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=server.rstrip("/"), headers=headers, timeout=timeout)


def _send(call: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """One request; an unreachable server or a timeout is a clear error."""
    import httpx

    try:
        return checked(call(*args, **kwargs))
    except httpx.TransportError as exc:
        raise SubmissionRefused(f"cannot reach the leaderboard server: {exc}") from exc


def checked(response: Any) -> dict[str, Any]:
    """A response's JSON object, or :class:`SubmissionRefused` with the server's reason."""
    if response.is_success:
        try:
            return dict(response.json())
        except (ValueError, TypeError):
            raise SubmissionRefused(
                f"{response.url} did not answer as a leaderboard server does"
            ) from None
    try:
        detail = response.json().get("detail", response.text)
    except ValueError:
        detail = response.text
    raise SubmissionRefused(f"{response.status_code}: {detail}")


def request_challenge(server: str, token: str, suite: str, *, timeout: float = 30.0) -> HiddenSeeds:
    """Ask ``server`` for hidden seeds to play ``suite`` on (one submission's worth)."""
    with http_client(server, token, timeout) as client:
        data = _send(client.post, "/api/challenges", json={"suite": suite})
    return HiddenSeeds(id=data["id"], seeds={k: list(v) for k, v in data["seeds"].items()})


def submit(
    results: Path,
    server: str,
    token: str,
    *,
    wait: bool = True,
    timeout: float = 30.0,
    verify_timeout: float = 3600.0,
) -> dict[str, Any]:
    """Submit a results file; with ``wait``, poll until the server has replayed it.

    Returns:
        The submission's status (``status`` is ``verified``, or ``pending`` without
        ``wait``), with ``url`` made absolute.

    Raises:
        SubmissionRefused: The server refused the file, or its replay did not match; the
            message is the server's reason.
    """
    try:
        body = results.read_bytes()
    except OSError as exc:
        raise InvalidArgumentError(f"cannot read results file {results}: {exc}") from exc
    with http_client(server, token, timeout) as client:
        status = _send(
            client.post,
            "/api/submissions",
            content=body,
            headers={"Content-Type": "application/json"},
        )
        deadline = time.monotonic() + verify_timeout
        delay = 0.2
        while wait and status["status"] in ("pending", "verifying"):
            if time.monotonic() > deadline:
                raise SubmissionRefused(
                    f"submission {status['id']} still {status['status']} after {verify_timeout} s"
                )
            time.sleep(delay)
            delay = min(delay * 1.5, 5.0)
            status = _send(client.get, f"/api/submissions/{status['id']}")
    status["url"] = server.rstrip("/") + status["url"]
    if status["status"] == "rejected":
        raise SubmissionRefused(f"submission {status['id']} rejected: {status['reason']}")
    return status
