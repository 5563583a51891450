"""Schema fuzzing of a live leaderboard server, from the OpenAPI document it serves.

schemathesis generates valid and invalid requests for every operation of ``/openapi.json``
and checks every answer: no 5xx, a status code the document declares, the declared content
type and headers, and a body matching the declared schema. The server is the real one
(``palaestra leaderboard serve`` under uvicorn), with a token so authenticated routes are
fuzzed past authentication, and a verified and a rejected submission so the read routes
have rows to return.

The stateful test chains operations along the document's links: the ones the server
declares (a suite id from ``GET /api/suites`` into ``GET /api/leaderboard/{suite_id}``
and ``POST /api/challenges``) and the ones schemathesis infers from the response schemas
(a row's id into ``GET /api/submissions/{submission_id}``, ...), and asserts that values
from earlier answers reached real rows.

The web pages are not in the document (``include_in_schema=False``); a Hypothesis test
asks for them with ids and suite names of every kind.

Runs are deterministic (derandomized Hypothesis, no example database) and bounded.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import httpx
import hypothesis
import pytest
import schemathesis
from hypothesis import strategies as st
from schemathesis.core.failures import FailureGroup
from schemathesis.generation.stateful.state_machine import StepInput, StepOutput

from palaestra.leaderboard.db import open_database
from palaestra.leaderboard.schema import CurvePoint, LearningCurve, Results
from palaestra.leaderboard.store import create_token

from .live import LiveServer

#: Examples per operation in the fuzzing phase, and stateful scenarios: enough to find the
#: shallow faults on every run while the whole module stays well under a minute.
MAX_EXAMPLES = 50
SCENARIOS = 30

#: What every answer must satisfy.
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
)


@dataclass
class Seeded:
    """A live server holding a verified and a rejected submission, and its token."""

    server: LiveServer
    token: str
    submissions: list[int]

    @property
    def url(self) -> str:
        """The server's base URL."""
        return self.server.url


@pytest.fixture(scope="module")
def seeded(
    tmp_path_factory: pytest.TempPathFactory, suite_file: Path, results_bytes: bytes
) -> Iterator[Seeded]:
    """A live server, its token, one verified submission (with a curve) and one rejected."""
    db = tmp_path_factory.mktemp("fuzz") / "board.db"
    engine, sessions = open_database(str(db))
    token = create_token(sessions, "fuzzer")
    engine.dispose()
    # Far above what fuzzing sends in a minute: answers are about the input, not 429s.
    server = LiveServer(db, suite_file, "--rate-limit", "1000000").start()
    headers = {"Authorization": f"Bearer {token}"}
    verified = Results.model_validate_json(results_bytes)
    verified.learning_curve = LearningCurve(
        metric="return", points=[CurvePoint(step=k, value=k / 4) for k in range(5)]
    )
    forged = Results.model_validate_json(results_bytes)
    forged.episodes[0].rewards[0] += 1.0  # passes the cheap checks, fails the replay
    ids = []
    try:
        for results in (verified, forged):
            response = httpx.post(
                f"{server.url}/api/submissions", content=results.model_dump_json(), headers=headers
            )
            assert response.status_code == 202, response.text
            ids.append(response.json()["id"])
        challenge = httpx.post(
            f"{server.url}/api/challenges", json={"suite": "test-suite"}, headers=headers
        )
        assert challenge.status_code == 201, challenge.text
        statuses = _wait_verified(server.url, ids)
        assert statuses == ["verified", "rejected"], statuses
        yield Seeded(server, token, ids)
    finally:
        server.stop()


def _wait_verified(url: str, ids: list[int], timeout: float = 60.0) -> list[str]:
    deadline = time.monotonic() + timeout
    while True:
        statuses = [httpx.get(f"{url}/api/submissions/{i}").json()["status"] for i in ids]
        if set(statuses) <= {"verified", "rejected"} or time.monotonic() > deadline:
            return statuses
        time.sleep(0.1)


def _config(seeded: Seeded) -> schemathesis.Config:
    return schemathesis.Config.from_dict(
        {
            "base-url": seeded.url,
            "headers": {"Authorization": f"Bearer {seeded.token}"},
            "checks": {"enabled": False, **{name: {"enabled": True} for name in CHECKS}},
        }
    )


#: Bounded, deterministic runs: derandomized, and no example database (a failure stored by
#: an earlier run would be replayed first and make runs differ).
SETTINGS = hypothesis.settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(hypothesis.HealthCheck),
)


@pytest.fixture(scope="module")
def api(seeded: Seeded) -> schemathesis.BaseSchema:
    """The OpenAPI document the live server serves, set up to fuzz it."""
    return schemathesis.openapi.from_url(f"{seeded.url}/openapi.json", config=_config(seeded))


def test_every_operation_answers_as_its_document_says(api: schemathesis.BaseSchema) -> None:
    # One test over the operations the server reports (schemathesis' lazy pytest loader,
    # ``schemathesis.pytest.from_fixture``, does not run under pytest 9); every operation
    # runs, and the failures of all of them are reported together.
    failures: dict[str, BaseException] = {}
    tested: list[str] = []
    for path in api:
        for operation in api[path].values():
            # Invalid requests too: they must be refused as documented, never crash.
            cases = st.one_of(
                operation.as_strategy(schemathesis.GenerationMode.POSITIVE),
                operation.as_strategy(schemathesis.GenerationMode.NEGATIVE),
            )

            @SETTINGS
            @hypothesis.given(case=cases)
            def answers(case: schemathesis.Case) -> None:
                case.call_and_validate()

            tested.append(operation.label)
            try:
                answers()
            except (Exception, FailureGroup) as exc:  # FailureGroup: a BaseExceptionGroup
                failures[operation.label] = exc
    assert "POST /api/submissions" in tested and "GET /api/suites" in tested, tested
    assert not failures, "\n\n".join(f"{label}: {exc}" for label, exc in failures.items())


def test_chained_operations_answer_as_the_document_says(api: schemathesis.BaseSchema) -> None:
    linked: dict[str, list[int]] = {}  # status codes of the steps a link fed

    class Workflow(api.as_state_machine()):
        def step(self, input: StepInput) -> StepOutput:
            output = super().step(input)
            if input.transition is not None and input.is_applied:
                label = input.case.operation.label
                linked.setdefault(label, []).append(output.response.status_code)
            return output

    # Ten steps a scenario: a live session's delete needs its start earlier in the same
    # scenario, and the server's answers (its random ids and hidden seeds) steer which
    # chains are drawn; at six steps a run reached the delete about once, and a run on a
    # loaded machine not at all.
    Workflow.run(
        settings=hypothesis.settings(SETTINGS, max_examples=SCENARIOS, stateful_step_count=10)
    )
    # Values taken from earlier answers reach real rows: a seeded submission is found.
    assert 200 in linked.get("GET /api/leaderboard/{suite_id}", []), linked
    assert 201 in linked.get("POST /api/challenges", []), linked
    assert 200 in linked.get("GET /api/submissions/{submission_id}", []), linked
    # ... and a live session started from a listed suite is reached again by its id.
    assert 201 in linked.get("POST /api/live/sessions", []), linked
    assert 200 in linked.get("DELETE /api/live/sessions/{session_id}", []), linked


PAGES = ("/submissions/{}", "/submissions/{}/tasks.svg", "/submissions/{}/curve.svg")
STATIC = "/static/{}"


@st.composite
def _page(draw: st.DrawFn, ids: list[int]) -> str:
    if draw(st.booleans()):
        suite = draw(st.one_of(st.just("test-suite"), st.text(max_size=30)))
        return "/?" + str(httpx.QueryParams({"suite": suite}))
    submission = draw(
        st.one_of(
            st.sampled_from(ids).map(str),
            st.sampled_from([0, -1, 2**63 - 1, 2**63, 2**70]).map(str),
            st.integers().map(str),
            st.text(min_size=1, max_size=20).map(lambda s: quote(s, safe="")),
        )
    )
    return draw(st.sampled_from([*PAGES, STATIC])).format(submission)


def test_web_pages_never_fail_on_any_id_or_suite(seeded: Seeded) -> None:
    seen: dict[int, int] = {}

    @hypothesis.settings(max_examples=100, deadline=None, derandomize=True, database=None)
    @hypothesis.given(path=_page(seeded.submissions))
    def fetch(path: str) -> None:
        response = httpx.get(seeded.url + path)
        assert response.status_code < 500, (path, response.status_code, response.text[:300])
        seen[response.status_code] = seen.get(response.status_code, 0) + 1
        if path.startswith(STATIC[:-2]):
            return
        if response.status_code == 200:
            kind = "image/svg+xml" if path.endswith(".svg") else "text/html"
            assert response.headers["content-type"].startswith(kind), path
        else:  # a refusal the page's reader can act on
            assert json.loads(response.text)["detail"], path

    fetch()
    assert {200, 404, 422} <= set(seen), seen
