"""Who a request comes from: bearer tokens, checked and rate-limited per token and address."""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Annotated

from fastapi import Depends, HTTPException, Request

from palaestra.leaderboard import store
from palaestra.leaderboard.db import Token


class RateLimiter:
    """At most ``limit`` events per key in any 60-second window (in memory, per process)."""

    def __init__(self, limit: int, window: float = 60.0) -> None:
        self.limit, self.window = limit, window
        self._events: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        """Keys remembered (a flood of keys is forgotten once it is quiet)."""
        return len(self._events)

    def allow(self, key: str) -> float:
        """Record an event; 0 when allowed, else the seconds until one is."""
        now = time.monotonic()
        with self._lock:
            if len(self._events) > 10_000:  # many addresses: forget the quiet ones
                self._events = {
                    k: v for k, v in self._events.items() if v and v[-1] > now - self.window
                }
            events = self._events.setdefault(key, deque())
            while events and events[0] <= now - self.window:
                events.popleft()
            if len(events) >= self.limit:
                return events[0] + self.window - now
            events.append(now)
            return 0.0


def _authenticate(request: Request, live: bool) -> Token:
    """The token of a request (``Authorization: Bearer TOKEN``), rate-limited.

    Failed attempts are limited per client address, so tokens cannot be guessed quickly;
    requests with a valid token are limited per token: live play (a request per step) on
    its own, higher limit.
    """
    state = request.app.state
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    row = store.find_token(state.sessions, token.strip()) if scheme.lower() == "bearer" else None
    if row is None:
        address = request.client.host if request.client else "?"
        wait = state.per_address.allow(address)
        if wait:
            raise refuse(429, "too many failed authentications", **retry_after(wait))
        raise refuse(401, "a valid token is needed (Authorization: Bearer TOKEN)")
    limiter, per_minute = (
        (state.per_token_live, state.config.live_rate_limit)
        if live
        else (state.per_token, state.config.rate_limit)
    )
    wait = limiter.allow(str(row.id))
    if wait:
        raise refuse(429, f"rate limit: {per_minute} requests a minute", **retry_after(wait))
    return row


def authenticated(request: Request) -> Token:
    """The token of a request to submit or ask for seeds (see :func:`_authenticate`)."""
    return _authenticate(request, live=False)


def live_authenticated(request: Request) -> Token:
    """The token of a live-play request (see :func:`_authenticate`)."""
    return _authenticate(request, live=True)


#: A route parameter that authenticates the request.
Auth = Annotated[Token, Depends(authenticated)]
#: The same for live play, under the live rate limit.
LiveAuth = Annotated[Token, Depends(live_authenticated)]


def retry_after(wait: float) -> dict[str, str]:
    """The ``Retry-After`` header for a wait of ``wait`` seconds."""
    return {"Retry-After": str(max(1, round(wait)))}


def refuse(status: int, detail: str, **headers: str) -> HTTPException:
    """An HTTP error with ``detail`` as its JSON ``detail``."""
    return HTTPException(status_code=status, detail=detail, headers=headers or None)
