"""The learning-curve plot: any accepted curve draws, is downsampled and drawn once."""

import json

import pytest

from palaestra.leaderboard import web
from palaestra.leaderboard.charts import curve_chart
from palaestra.leaderboard.schema import CurvePoint, LearningCurve
from tests.leaderboard.conftest import Board


def with_curve(results_bytes: bytes, metric: str, points: list[dict[str, object]]) -> str:
    data = json.loads(results_bytes)
    data["learning_curve"] = {"metric": metric, "points": points}
    return json.dumps(data)


@pytest.mark.parametrize(
    "points",
    [
        [{"step": 10**400, "value": 1.0}],  # a step no float holds
        [{"step": 2, "value": 1.0}, {"step": 1, "value": 2.0}],  # going back
        [{"step": 1, "value": 1.0}, {"step": 1, "value": 2.0}],  # repeated
        [{"step": 1, "value": 1.7e308}, {"step": 2, "value": -1.7e308}],  # no axis holds it
    ],
)
def test_bad_curves_are_refused_at_submission(
    board: Board, results_bytes: bytes, points: list[dict[str, object]]
) -> None:
    response = board.post(with_curve(results_bytes, "return", points))
    assert response.status_code == 422 and "learning_curve" in response.json()["detail"]


def test_labels_are_text_not_mathtext(board: Board, results_bytes: bytes) -> None:
    # Broken mathtext in the metric's name drew a 500 before; it is just a label.
    body = with_curve(results_bytes, r"$\frac{1}{$ %", [{"step": 1, "value": 0.5}])
    row = board.post(body).json()
    response = board.client.get(f"/submissions/{row['id']}/curve.svg")
    assert response.status_code == 200 and b"<svg" in response.content


def test_curves_are_downsampled_and_drawn_once(
    board: Board, results_bytes: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    many = LearningCurve(
        metric="return", points=[CurvePoint(step=k, value=k % 7) for k in range(10_000)]
    )
    assert curve_chart(many).count(b" L ") <= 510  # about 500 vertices of 10,000
    drawn: list[int] = []
    monkeypatch.setattr(web, "curve_chart", lambda curve: drawn.append(1) or b"<svg/>")
    body = with_curve(results_bytes, "return", [{"step": 1, "value": 0.5}])
    row = board.post(body).json()
    for _ in range(3):
        assert board.client.get(f"/submissions/{row['id']}/curve.svg").status_code == 200
    assert drawn == [1]


def test_ids_beyond_the_database_are_refused_not_a_500(board: Board) -> None:
    for path in ("/api/submissions/{}", "/submissions/{}", "/submissions/{}/curve.svg"):
        assert board.client.get(path.format(2**70)).status_code == 422


def test_a_page_seen_while_pending_shows_nothing_once_rejected(
    board: Board, results_bytes: bytes
) -> None:
    data = json.loads(results_bytes)
    data["episodes"][0]["rewards"][0] += 1.0
    body = with_curve(json.dumps(data).encode(), "return", [{"step": 1, "value": 0.5}])
    row = board.post(body).json()
    assert "Agent spec" in board.client.get(f"/submissions/{row['id']}").text  # pending
    assert board.client.get(f"/submissions/{row['id']}/curve.svg").status_code == 200
    board.verify_all()
    assert "Agent spec" not in board.client.get(f"/submissions/{row['id']}").text
    assert board.client.get(f"/submissions/{row['id']}/curve.svg").status_code == 404
