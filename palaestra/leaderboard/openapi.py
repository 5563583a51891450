"""What the API's OpenAPI document says beyond the routes: refusals, timestamps, links.

Kept apart from the routes so that every route module declares its refusals and shows its
timestamps the same way.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel

from palaestra.leaderboard.db import as_utc

#: A stored datetime as the API shows it: with its UTC offset (see :func:`.db.as_utc`).
UtcDatetime = Annotated[dt.datetime, AfterValidator(as_utc)]


class Problem(BaseModel):
    """Body of a refusal: what is wrong, and how to fix it."""

    detail: str


def refusals(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` of a route that may refuse with ``codes``.

    422 is always among them: a malformed parameter or body is a :class:`Problem` too
    (:func:`validation_problem`), not FastAPI's list of errors.
    """
    return {code: {"model": Problem} for code in sorted({*codes, 422})}


def validation_problem(errors: list[dict[str, Any]]) -> Problem:
    """A request that fails validation, as one sentence per error (the first few).

    FastAPI's own answer echoes the input, and fails (a 500) on a body that is not UTF-8:
    this one says where and what only.
    """
    parts = []
    for error in errors[:5]:
        where = ".".join(str(p) for p in error.get("loc", ()))
        parts.append(f"{where}: {error.get('msg', 'invalid')}")
    return Problem(detail="; ".join(parts)[:1000] or "the request is malformed")


#: OpenAPI links from ``GET /api/suites`` to the operations taking a suite id, so that
#: clients and schema-driven tools (schemathesis' stateful tests) can chain them.
SUITE_LINKS = {
    "leaderboard": {
        "operationRef": "#/paths/~1api~1leaderboard~1{suite_id}/get",
        "parameters": {"suite_id": "$response.body#/0/id"},
    },
    "challenge": {
        "operationRef": "#/paths/~1api~1challenges/post",
        "requestBody": {"suite": "$response.body#/0/id"},
    },
    "live": {
        "operationRef": "#/paths/~1api~1live~1sessions/post",
        "requestBody": {"suite": "$response.body#/0/id", "agent": "my agent"},
    },
    "live_table": {
        "operationRef": "#/paths/~1api~1leaderboard~1{suite_id}~1live/get",
        "parameters": {"suite_id": "$response.body#/0/id"},
    },
}


def inlined(schema: dict[str, Any]) -> dict[str, Any]:
    """A pydantic JSON schema with its ``$defs`` written in place of their references.

    An OpenAPI document resolves ``#/$defs/...`` against its own root, so a schema placed
    in it by hand (``openapi_extra``) cannot keep its ``$defs`` aside.
    """
    defs = schema.get("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, list):
            return [inline(item) for item in node]
        if not isinstance(node, dict):
            return node
        if "$ref" in node:
            siblings = {k: inline(v) for k, v in node.items() if k != "$ref"}
            return {**inline(defs[node["$ref"].removeprefix("#/$defs/")]), **siblings}
        return {k: inline(v) for k, v in node.items() if k != "$defs"}

    return {k: inline(v) for k, v in schema.items() if k != "$defs"}
