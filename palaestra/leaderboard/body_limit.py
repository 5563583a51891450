"""Request-body size and time limits on every route, before parsing and authentication."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyLimit:
    """ASGI middleware: refuse a body larger than its route's limit (413) or slower (408).

    A declared ``Content-Length`` over the limit is refused before the app sees the
    request; a streamed body is counted as it arrives and refused as soon as it passes the
    limit, so no route reads, parses or authenticates more than its limit. A body still
    arriving ``seconds`` after the request began is refused too: a client that sends half
    a request and stalls does not hold the server.

    Args:
        app: The application.
        default: Limit of every route not in ``routes``, in bytes.
        routes: Limits of particular paths (the results upload), in bytes.
        seconds: Time allowed to receive a whole body.
    """

    def __init__(
        self, app: ASGIApp, *, default: int, routes: Mapping[str, int], seconds: float = 60.0
    ) -> None:
        self.app, self.default, self.routes, self.seconds = app, default, dict(routes), seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one request (other scopes pass through)."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.routes.get(scope["path"], self.default)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await _too_large(limit)(scope, receive, send)
            return
        size = 0
        deadline = time.monotonic() + self.seconds

        async def counted() -> Message:
            nonlocal size
            try:
                message = await asyncio.wait_for(receive(), max(deadline - time.monotonic(), 0))
            except TimeoutError:
                raise HTTPException(408, f"the body took longer than {self.seconds:g} s") from None
            if message["type"] == "http.request":
                size += len(message.get("body", b""))
                if size > limit:
                    # Raised inside the app: its exception handling answers 413.
                    raise HTTPException(413, _detail(limit))
            return message

        await self.app(scope, counted, send)


def _detail(limit: int) -> str:
    return f"the body is larger than {limit} bytes"


def _too_large(limit: int) -> Any:
    return JSONResponse({"detail": _detail(limit)}, status_code=413)
