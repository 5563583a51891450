"""Tokens and rate limits."""

from __future__ import annotations

import pytest

from palaestra.leaderboard import auth


def test_rate_limiter_window_and_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]  # a clock the test moves: the limiter's window, not the machine's speed
    monkeypatch.setattr(auth.time, "monotonic", lambda: now[0])
    limiter = auth.RateLimiter(2, window=0.05)
    assert [limiter.allow("a"), limiter.allow("a")] == [0.0, 0.0]
    now[0] += 0.01
    assert limiter.allow("a") == pytest.approx(0.04)
    now[0] += 0.05
    assert limiter.allow("a") == 0.0
    for k in range(10_001):  # a flood of addresses is forgotten once it is quiet
        limiter.allow(f"address {k}")
    now[0] += 0.06
    limiter.allow("b")
    assert len(limiter) == 1
