"""The body limits: size before parsing, and time for a client that stalls mid-body."""

import asyncio
from typing import Any

from fastapi import FastAPI, Request

from palaestra.leaderboard.body_limit import BodyLimit


def echo_app() -> FastAPI:
    app = FastAPI()

    @app.post("/echo")
    async def echo(request: Request) -> dict[str, int]:
        return {"bytes": len(await request.body())}

    return app


def call(app: Any, chunks: list[bytes], *, stall: float = 0.0, length: int | None = None) -> int:
    """POST ``chunks`` to /echo (stalling ``stall`` s before the last); the status sent."""
    headers = [] if length is None else [(b"content-length", str(length).encode())]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "path": "/echo",
        "raw_path": b"/echo",
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
        "scheme": "http",
    }
    pending = list(chunks)
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if len(pending) == 1 and stall:
            await asyncio.sleep(stall)
        body = pending.pop(0) if pending else b""
        return {"type": "http.request", "body": body, "more_body": bool(pending)}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return int(next(m["status"] for m in sent if m["type"] == "http.response.start"))


def test_sizes_and_stalls() -> None:
    app = BodyLimit(echo_app(), default=100, routes={}, seconds=0.2)
    assert call(app, [b"x" * 50, b"y" * 40]) == 200
    assert call(app, [b"x" * 60, b"y" * 60]) == 413  # streamed past the limit
    assert call(app, [b"x"], length=10_000) == 413  # declared past it: never read
    # Half a body, then silence: refused when the time is up, not held open.
    assert call(app, [b"x" * 10, b"y" * 10], stall=5.0) == 408
