"""Tokens and rate limits."""

from __future__ import annotations

from pathlib import Path

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


def test_tokens_are_prefixed_so_no_command_line_reads_them_as_options(tmp_path: Path) -> None:
    from palaestra.leaderboard.db import open_database
    from palaestra.leaderboard.store import TOKEN_PREFIX, create_token

    engine, sessions = open_database(str(tmp_path / "t.db"))
    try:
        tokens = [create_token(sessions, f"user {k}") for k in range(64)]
    finally:
        engine.dispose()
    assert all(t.startswith(TOKEN_PREFIX) and len(t) > 40 for t in tokens)
