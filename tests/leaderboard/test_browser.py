"""The web page in a real headless Chromium (Debian's), driven by Playwright.

Needs ``/usr/bin/chromium`` (``make test`` installs Debian's package where it can) and the
``playwright`` Python package; no browser is downloaded.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from palaestra.leaderboard import Results, evaluate
from palaestra.leaderboard.db import open_database
from palaestra.leaderboard.live_client import evaluate_live
from palaestra.leaderboard.schema import CurvePoint, LearningCurve
from palaestra.leaderboard.store import create_token

from .conftest import SMALL
from .live import LiveServer

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# The flags a closed network needs: no background calls home (they are refused and slow
# every start), no sandbox as root, a fresh profile each time.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def populated(tmp_path_factory: pytest.TempPathFactory, suite_file: Path) -> Iterator[LiveServer]:
    """A live server with three verified submissions, one with a learning curve."""
    folder = tmp_path_factory.mktemp("browser")
    db = folder / "board.db"
    engine, sessions = open_database(str(db))
    token = create_token(sessions, "browser")
    engine.dispose()
    server = LiveServer(db, suite_file).start()
    headers = {"Authorization": f"Bearer {token}"}
    curve = LearningCurve(
        metric="return", points=[CurvePoint(step=k, value=k / 10) for k in range(10)]
    )
    ids = []
    for agent, name in (("random", "random <b>bold</b>"), ("oracle", "oracle"), ("ucb", "ucb")):
        tasks = None if agent == "random" else ["bandits"]  # the others play bandits only
        results: Results = evaluate(agent, SMALL, folder / f"{agent}.json", families=tasks,
                                    name=name, progress=False)  # fmt: skip
        if agent == "oracle":
            results.learning_curve = curve
        response = httpx.post(f"{server.url}/api/submissions",
                              content=results.model_dump_json(), headers=headers)  # fmt: skip
        assert response.status_code == 202, response.text
        ids.append(response.json()["id"])
    for submission in ids:
        for _ in range(200):
            status = httpx.get(f"{server.url}/api/submissions/{submission}").json()["status"]
            if status == "verified":
                break
            time.sleep(0.1)
    run = evaluate_live("random", server.url, token, SMALL.id, name="live random", progress=False)
    assert run.status == "finished"
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def test_sort_open_a_submission_and_screenshot(
    browser: object, populated: LiveServer, tmp_path: Path
) -> None:
    page = browser.new_page()  # type: ignore[attr-defined]
    page.goto(populated.url + "/?suite=test-suite")
    live = page.locator("#live tbody tr")
    assert live.count() == 1
    assert "1 started: 1 finished, 0 abandoned" in live.first.inner_text()
    assert page.locator("#replayed").count() == 0  # no file on hidden seeds
    table = page.locator("#dev")  # the three files, on the development seeds
    rows = table.locator("tbody tr")
    assert rows.count() == 3
    # The agent name with markup is shown as text, not rendered.
    assert page.get_by_text("random <b>bold</b>").count() == 1
    assert table.locator("b").count() == 0

    def column(index: int) -> list[str]:
        return [rows.nth(k).locator("td").nth(index).inner_text() for k in range(rows.count())]

    table.get_by_role("columnheader", name="Agent").click()
    assert column(1) == sorted(column(1), key=str.lower, reverse=True)
    table.get_by_role("columnheader", name="Agent").click()
    assert column(1) == sorted(column(1), key=str.lower)
    table.get_by_role("columnheader", name="social").click()  # only random played it
    assert column(5)[-1] == "–"
    overall = table.get_by_role("columnheader", name="Overall")
    overall.click()
    assert overall.get_attribute("aria-sort") == "descending"
    assert table.locator(".badge.verified").count() == 3
    assert table.locator(".badge.privileged").count() == 1  # the oracle

    page.get_by_role("link", name="oracle").click()
    page.wait_for_url("**/submissions/*")
    assert page.locator("#agent-name").inner_text() == "oracle"
    assert page.locator("#tasks tbody tr").count() == 1
    for plot in page.locator("img.plot").all():
        plot.scroll_into_view_if_needed()
        assert page.evaluate("(img) => img.complete && img.naturalWidth > 0", plot.element_handle())
    assert page.locator("img.plot").count() == 2  # per-task plot and learning curve
    shot = tmp_path / "submission.png"  # PALAESTRA_SHOTS keeps it for a look
    if os.environ.get("PALAESTRA_SHOTS"):
        shot = Path(os.environ["PALAESTRA_SHOTS"]) / "submission.png"
        page.goto(populated.url + "/?suite=test-suite")
        page.screenshot(path=str(shot.with_name("table.png")), full_page=True)
        page.go_back()
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    page.close()
