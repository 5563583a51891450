"""The leaderboard's web pages: the sortable table, submission pages and their plots.

Pages are rendered on the server with Jinja2 (autoescaping on: agent names and
descriptions come from submitters), and sorted in the browser by a few lines of JavaScript.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from importlib import resources
from types import SimpleNamespace
from typing import Annotated, Any

from fastapi import FastAPI, HTTPException, Path, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from palaestra.leaderboard import store
from palaestra.leaderboard.charts import curve_chart, task_chart
from palaestra.leaderboard.schema import Results
from palaestra.reporting import interval

#: A submission id as a path parameter: a database integer (larger ones are a 422).
SubmissionId = Annotated[int, Path(ge=0, le=2**63 - 1)]


def add_pages(
    app: FastAPI,
    *,
    status: Callable[[int], Any],
    table: Callable[[str], list[Any]],
) -> None:
    """Add ``/``, ``/submissions/{id}`` and the plots to ``app``."""
    package = resources.files("palaestra.leaderboard")
    templates = Jinja2Templates(directory=str(package / "templates"))
    templates.env.globals["interval"] = interval
    app.mount("/static", StaticFiles(directory=str(package / "static")), name="static")
    sessions, suites = app.state.sessions, app.state.suites

    def context(suite_id: str, **extra: Any) -> dict[str, Any]:
        return {"suite_ids": list(suites), "suite_id": suite_id, **extra}

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index(request: Request, suite: str | None = None) -> Response:
        suite_id = suite or next(iter(suites))
        if suite_id not in suites:
            raise HTTPException(404, f"no suite {suite_id!r}")
        rows = table(suite_id)
        families = list(dict.fromkeys(t.family for t in suites[suite_id].tasks))
        tiers = {
            "live": app.state.live_rows(suites[suite_id]),
            "replayed": [r for r in rows if r.tier == "replayed"],
            "dev": [r for r in rows if r.tier == "dev"],
        }
        return templates.TemplateResponse(
            request,
            "index.html",
            context(suite_id, suite=suites[suite_id], families=families, **tiers),
        )

    @app.get("/submissions/{submission_id}", response_class=HTMLResponse, include_in_schema=False)
    def submission_page(request: Request, submission_id: SubmissionId) -> Response:
        row = status(submission_id)
        facts = None if row.status == "rejected" else _facts(submission_id)
        return templates.TemplateResponse(
            request, "submission.html", context(row.suite, row=row, results=facts)
        )

    def _results(submission_id: int) -> Results:
        found = store.get_submission(sessions, submission_id, with_body=True)
        if found is None:
            raise HTTPException(404, f"no submission {submission_id}")
        if not found.body:
            raise HTTPException(404, f"submission {submission_id} was rejected; its file is gone")
        return Results.model_validate_json(found.body)

    @lru_cache(maxsize=256)  # the page's facts only: a results file can be 32 MiB
    def _facts(submission_id: int) -> SimpleNamespace:
        results = _results(submission_id)
        curve = results.learning_curve
        return SimpleNamespace(
            agent=results.agent,
            suite_hash=results.suite_hash,
            palaestra_version=results.palaestra_version,
            privileged=results.privileged,
            episodes=[None] * len(results.episodes),
            learning_curve=None if curve is None else SimpleNamespace(metric=curve.metric),
        )

    @app.get("/submissions/{submission_id}/tasks.svg", include_in_schema=False)
    def tasks_svg(submission_id: SubmissionId) -> Response:
        return Response(_task_svg(submission_id), media_type="image/svg+xml")

    @lru_cache(maxsize=256)  # a verified summary never changes: draw it once
    def _task_svg(submission_id: int) -> bytes:
        row = status(submission_id)
        if not row.summary:
            raise HTTPException(404, "the submission is not verified")
        return task_chart(row.summary["tasks"])

    @app.get("/submissions/{submission_id}/curve.svg", include_in_schema=False)
    def curve_svg(submission_id: SubmissionId) -> Response:
        drawn = None if status(submission_id).status == "rejected" else _curve_svg(submission_id)
        if drawn is None:
            raise HTTPException(404, "the submission has no learning curve to show")
        return Response(drawn, media_type="image/svg+xml")

    @lru_cache(maxsize=256)  # a submission's curve never changes: draw it once
    def _curve_svg(submission_id: int) -> bytes | None:
        # "No curve" is cached too: asking again never re-reads a large file.
        curve = _results(submission_id).learning_curve
        return None if curve is None else curve_chart(curve)
