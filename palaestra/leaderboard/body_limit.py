"""A request-body size limit on every route, before parsing and before authentication."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyLimit:
    """ASGI middleware: refuse (413) a body larger than its route's limit.

    A declared ``Content-Length`` over the limit is refused before the app sees the
    request; a streamed body is counted as it arrives and refused as soon as it passes the
    limit, so no route reads, parses or authenticates more than its limit.

    Args:
        app: The application.
        default: Limit of every route not in ``routes``, in bytes.
        routes: Limits of particular paths (the results upload), in bytes.
    """

    def __init__(self, app: ASGIApp, *, default: int, routes: Mapping[str, int]) -> None:
        self.app, self.default, self.routes = app, default, dict(routes)

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

        async def counted() -> Message:
            nonlocal size
            message = await receive()
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
