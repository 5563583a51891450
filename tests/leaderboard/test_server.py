"""The server's API: accepted and verified submissions, and every attack refused."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Callable

import pytest
from sqlalchemy import inspect, text

from palaestra.leaderboard import EpisodeResult, Results, evaluate
from palaestra.leaderboard.harness import HiddenSeeds, play_episode
from palaestra.leaderboard.store import challenge_seeds, get_submission

from .conftest import SMALL, Board


def test_submission_is_replayed_then_listed(board: Board, results_bytes: bytes) -> None:
    response = board.post(results_bytes)
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "pending"
    board.verify_all()
    status = board.client.get(f"/api/submissions/{response.json()['id']}").json()
    assert status["status"] == "verified" and status["reason"] == ""
    assert set(status["summary"]["families"]) == {"bandits", "social"}
    assert status["summary"]["tasks"]["bandit"]["success"]["n"] == 3
    table = board.client.get("/api/leaderboard/test-suite").json()
    assert [row["id"] for row in table] == [status["id"]]
    assert board.client.get("/api/health").json()["verified"] == 1


def test_aggregates_are_recomputed_not_trusted(board: Board, results: Results) -> None:
    inflated = results.tasks["bandit"].success.model_copy(update={"mean": 1.0})
    results.tasks["bandit"] = results.tasks["bandit"].model_copy(update={"success": inflated})
    response = board.post(results)
    board.verify_all()
    status = board.client.get(f"/api/submissions/{response.json()['id']}").json()
    true_rate = sum(e.success for e in results.episodes if e.task == "bandit") / 3
    assert status["summary"]["tasks"]["bandit"]["success"]["mean"] == pytest.approx(true_rate)


@pytest.mark.parametrize(
    "forge",
    [
        lambda r: r.episodes[0].rewards.__setitem__(0, r.episodes[0].rewards[0] + 1.0),
        lambda r: setattr(r.episodes[1], "success", not r.episodes[1].success),
        lambda r: r.episodes[0].actions.__setitem__(0, "Z"),
        lambda r: (r.episodes[3].actions.append("C"), r.episodes[3].rewards.append(3.0)),
    ],
    ids=["reward", "success", "action", "actions-after-end"],
)
def test_forged_episodes_are_rejected_naming_the_episode(
    board: Board, results: Results, forge: Callable[[Results], object]
) -> None:
    forge(results)
    response = board.post(results)
    assert response.status_code == 202
    board.verify_all()
    status = board.client.get(f"/api/submissions/{response.json()['id']}").json()
    assert status["status"] == "rejected"
    assert "episode " in status["reason"] and "seed" in status["reason"]
    assert board.client.get("/api/leaderboard/test-suite").json() == []


def test_episodes_played_on_other_seeds_are_rejected(board: Board, results: Results) -> None:
    # Play the suite with seeds shifted by 500, then label the episodes as the real ones.
    shifted = results.model_copy(deep=True)
    for episode in shifted.episodes:
        episode.seed += 500
    for k, episode in enumerate(shifted.episodes):
        task = dataclasses.asdict(SMALL.task(episode.task))
        played = EpisodeResult.model_validate(play_episode("random", task, episode.seed))
        shifted.episodes[k] = played.model_copy(update={"seed": results.episodes[k].seed})
    response = board.post(shifted)
    board.verify_all()
    status = board.client.get(f"/api/submissions/{response.json()['id']}").json()
    assert status["status"] == "rejected", status


@pytest.mark.parametrize(
    ("forge", "reason"),
    [
        (lambda r: setattr(r.episodes[0], "seed", 999_999), "not an episode of the suite"),
        (lambda r: r.episodes.pop(1), "episode missing"),
        (lambda r: r.episodes.append(r.episodes[0]), "appears twice"),
        (lambda r: setattr(r, "suite_hash", "0" * 64), "results are for suite"),
        (lambda r: setattr(r.episodes[0], "env", "palaestra/Bandit-Hard-v0"), "is not the task"),
        (lambda r: r.episodes.clear(), "no episodes"),
        (lambda r: setattr(r, "suite", "other-suite"), "no suite 'other-suite'"),
    ],
    ids=["other-seed", "missing", "duplicate", "suite-hash", "env", "empty", "suite"],
)
def test_wrong_episode_sets_are_refused_at_once(
    board: Board, results: Results, forge: Callable[[Results], object], reason: str
) -> None:
    forge(results)
    response = board.post(results)
    assert response.status_code in (404, 422)
    assert reason in response.json()["detail"]
    assert board.client.get("/api/health").json()["pending"] == 0


def test_a_whole_family_may_be_left_out(board: Board, results: Results) -> None:
    results.episodes = [e for e in results.episodes if e.task == "bandit"]
    assert board.post(results).status_code == 202


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"[]",
        b'{"schema_version": 1}',
        b"[" * 100_000 + b"]" * 100_000,
        b'{"episodes": "' + b"x" * 1000 + b'"}',
        json.dumps({"schema_version": 2}).encode(),
        b"\xff\xfe\x00garbage",
    ],
    ids=["empty", "text", "list", "partial", "deep", "wrong-type", "version", "binary"],
)
def test_malformed_files_are_refused(board: Board, body: bytes) -> None:
    response = board.post(body)
    assert response.status_code == 422
    assert response.json()["detail"].startswith("not a results file")


def test_non_finite_rewards_are_refused(board: Board, results_bytes: bytes) -> None:
    data = json.loads(results_bytes)
    data["episodes"][0]["rewards"][0] = float("nan")
    assert board.post(json.dumps(data)).status_code == 422


def test_oversized_bodies_are_refused(
    make_board: Callable[..., Board], results_bytes: bytes
) -> None:
    board = make_board(max_body_bytes=len(results_bytes) - 1)
    assert board.post(results_bytes).status_code == 413

    def chunks() -> object:  # no Content-Length: the limit holds on the stream too
        yield results_bytes[:100]
        yield results_bytes[100:]

    response = board.client.post("/api/submissions", content=chunks(), headers=board.headers())  # type: ignore[arg-type]
    assert response.status_code == 413
    assert board.client.get("/api/health").json()["pending"] == 0


@pytest.mark.parametrize(
    "header",
    [None, "Bearer", "Bearer wrong-token", "Basic abc", "Bearer " + "x" * 10_000, "bearer  "],
)
def test_missing_or_wrong_tokens_are_refused(
    board: Board, results_bytes: bytes, header: str | None
) -> None:
    headers = {"Authorization": header} if header is not None else {}
    response = board.client.post("/api/submissions", content=results_bytes, headers=headers)
    assert response.status_code == 401
    challenge = board.client.post("/api/challenges", json={"suite": "test-suite"}, headers=headers)
    assert challenge.status_code == 401


def test_revoked_tokens_are_refused(board: Board, results_bytes: bytes) -> None:
    from palaestra.leaderboard.store import revoke_token

    revoke_token(board.app.state.sessions, "alice")
    assert board.post(results_bytes).status_code == 401


def test_failed_authentications_are_rate_limited(
    make_board: Callable[..., Board], results_bytes: bytes
) -> None:
    board = make_board(auth_failures_per_minute=3)
    codes = [board.post(results_bytes, token="guess").status_code for _ in range(5)]
    assert codes == [401, 401, 401, 429, 429]


def test_submissions_are_rate_limited_per_token(
    make_board: Callable[..., Board], results: Results
) -> None:
    board = make_board(rate_limit=2)
    codes = []
    for k in range(3):
        results.agent.name = f"agent {k}"
        codes.append(board.post(results).status_code)
    assert codes == [202, 202, 429]
    response = board.post(results, token=board.new_token("bob"))
    assert response.status_code == 202  # another submitter has their own budget
    assert int(board.post(results).headers["retry-after"]) >= 1


def test_an_old_submission_cannot_be_replayed(board: Board, results_bytes: bytes) -> None:
    first = board.post(results_bytes)
    again = board.post(results_bytes, token=board.new_token("mallory"))
    assert again.status_code == 409
    assert f"submission {first.json()['id']}" in again.json()["detail"]


@pytest.mark.parametrize(
    "name",
    [
        "<script>alert('x')</script>",
        "'; DROP TABLE submissions; --",
        'Robert"); DELETE FROM tokens; --',
        "<img src=x onerror=alert(1)>",
    ],
)
def test_injection_in_names_is_stored_verbatim_and_escaped(
    board: Board, results: Results, name: str
) -> None:
    results.agent.name = name
    results.agent.description = name
    response = board.post(results)
    board.verify_all()
    status = board.client.get(f"/api/submissions/{response.json()['id']}").json()
    assert status["agent"] == name and status["status"] == "verified"
    for page in (board.client.get("/").text, board.client.get(status["url"]).text):
        assert "<script>alert" not in page and "<img src=x" not in page
        assert "&lt;" in page or "&#39;" in page or "&#34;" in page
    with board.app.state.sessions() as session:
        tables = set(inspect(session.get_bind()).get_table_names())
        assert {"submissions", "tokens", "challenges"} <= tables
        assert session.execute(text("select count(*) from tokens")).scalar() == 1


def _play_challenge(board: Board, tmp_path: object, token: str | None = None) -> Results:
    response = board.client.post(
        "/api/challenges", json={"suite": "test-suite"}, headers=board.headers(token)
    )
    assert response.status_code == 201, response.text
    data = response.json()
    challenge = HiddenSeeds(data["id"], data["seeds"])
    return evaluate(
        "random", SMALL, tmp_path / f"{data['id']}.json", challenge=challenge, progress=False
    )  # type: ignore[operator]


def test_hidden_seed_submissions_get_the_badge(board: Board, tmp_path: object) -> None:
    results = _play_challenge(board, tmp_path)
    assert {e.seed for e in results.episodes}.isdisjoint(range(2000))
    response = board.post(results)
    assert response.status_code == 202, response.text
    board.verify_all()
    status = board.client.get(f"/api/submissions/{response.json()['id']}").json()
    assert status["status"] == "verified" and status["hidden_seeds"] is True
    assert "hidden seeds" in board.client.get("/").text


def test_challenges_are_fresh_and_single_use(board: Board, tmp_path: object) -> None:
    results = _play_challenge(board, tmp_path)
    assert board.post(results).status_code == 202
    other = _play_challenge(board, tmp_path)  # the first one is used: fresh seeds
    assert {e.seed for e in results.episodes} != {e.seed for e in other.episodes}
    results.agent.name = "same seeds, new name"
    response = board.post(results)
    assert response.status_code == 409 and "challenge" in response.json()["detail"]


def test_one_open_challenge_per_token_and_suite(
    make_board: Callable[..., Board], tmp_path: object
) -> None:
    # Asking again while a challenge is open hands the same one out: no fresh seeds to
    # pick the best of. Every challenge a token was given is counted on its rows.
    board = make_board()

    def ask(on: Board, token: str | None = None) -> dict[str, object]:
        response = on.client.post(
            "/api/challenges", json={"suite": SMALL.id}, headers=on.headers(token)
        )
        assert response.status_code == 201
        return dict(response.json())

    first = ask(board)
    assert ask(board) == first
    assert ask(board, board.new_token("bob"))["id"] != first["id"]  # per token
    results = _play_challenge(board, tmp_path)
    assert results.challenge == first["id"]
    assert board.post(results).status_code == 202
    board.verify_all()
    assert ask(board)["id"] != first["id"]  # submitted: a new one
    (row,) = board.client.get(f"/api/leaderboard/{SMALL.id}").json()
    assert row["challenges"] == 2 and "2 challenges issued" in board.client.get("/").text
    several = make_board(open_challenges=2)
    assert len({ask(several)["id"] for _ in range(3)}) == 2


def test_challenge_seeds_must_be_the_ones_played(
    board: Board, tmp_path: object, results: Results
) -> None:
    played = _play_challenge(board, tmp_path)
    results.challenge = played.challenge  # development episodes under a hidden-seed claim
    response = board.post(results)
    assert (
        response.status_code == 422 and "not an episode of the suite" in response.json()["detail"]
    )


def test_challenges_of_others_unknown_or_expired_are_refused(
    make_board: Callable[..., Board], tmp_path: object
) -> None:
    board = make_board()
    results = _play_challenge(board, tmp_path)
    response = board.post(results, token=board.new_token("eve"))
    assert response.status_code == 422 and "unknown challenge" in response.json()["detail"]
    results.challenge = "0" * 32
    assert board.post(results).status_code == 422

    stale = make_board(challenge_lifetime=dt.timedelta(seconds=-1))
    response = stale.post(_play_challenge(stale, tmp_path))
    assert response.status_code == 422 and "expired" in response.json()["detail"]


def test_hidden_seeds_depend_on_the_server_secret() -> None:
    ours = challenge_seeds(SMALL, "a" * 32, b"one secret")
    assert ours == challenge_seeds(SMALL, "a" * 32, b"one secret")
    assert ours != challenge_seeds(SMALL, "a" * 32, b"another secret")
    assert ours != challenge_seeds(SMALL, "b" * 32, b"one secret")


def test_unknown_routes_and_suites(board: Board) -> None:
    assert board.client.get("/api/submissions/12345").status_code == 404
    assert board.client.get("/api/leaderboard/nope").status_code == 404
    assert board.client.get("/api/submissions/not-a-number").status_code == 422
    response = board.client.post("/api/challenges", json={"suite": "nope"}, headers=board.headers())
    assert response.status_code == 404
    bad = board.client.post("/api/challenges", content=b"{", headers=board.headers())
    assert bad.status_code == 422


def test_openapi_spec_lists_the_api(board: Board) -> None:
    spec = board.client.get("/openapi.json").json()
    assert {"/api/submissions", "/api/challenges", "/api/leaderboard/{suite_id}"} <= set(
        spec["paths"]
    )
    assert board.client.get("/docs").status_code == 200


def test_every_route_limits_its_body_before_parsing_or_authentication(
    make_board: Callable[..., Board],
) -> None:
    # 1 MB to the challenge route with no token at all: refused for its size (413), not
    # read, parsed or authenticated (which would say 401).
    board = make_board(max_request_bytes=1024)
    big = b'{"suite": "' + b"x" * 1_000_000 + b'"}'
    assert board.client.post("/api/challenges", content=big).status_code == 413

    def chunks() -> object:  # no Content-Length: counted as it streams
        for _ in range(100):
            yield b"x" * 10_000

    response = board.client.post("/api/challenges", content=chunks())  # type: ignore[arg-type]
    assert response.status_code == 413 and "larger than 1024 bytes" in response.json()["detail"]
    # Under the limit the route answers as before.
    assert board.client.post("/api/challenges", json={"suite": "x"}).status_code == 401


def test_rejected_submissions_keep_their_verdict_and_hash_not_their_file(
    board: Board, results: Results
) -> None:
    results.episodes[0].rewards[0] += 1.0
    row = board.post(results).json()
    board.verify_all()
    stored = get_submission(board.app.state.sessions, row["id"], with_body=True)
    assert stored is not None and stored.status == "rejected" and stored.body == ""
    assert stored.content_sha256 == row["sha256"] and stored.reason
    page = board.client.get(f"/submissions/{row['id']}")
    assert page.status_code == 200 and row["sha256"] in page.text and "not kept" in page.text
    assert board.client.get(f"/submissions/{row['id']}/curve.svg").status_code == 404


def test_each_token_has_a_storage_quota(
    make_board: Callable[..., Board], results_bytes: bytes
) -> None:
    board = make_board(storage_per_token_bytes=len(results_bytes) + 100)
    assert board.post(results_bytes).status_code == 202
    data = json.loads(results_bytes)
    data["agent"]["description"] = "a second file"
    response = board.post(json.dumps(data))
    assert response.status_code == 413 and "storage quota" in response.json()["detail"]
    data["agent"]["name"] = "bob's"
    assert board.post(json.dumps(data), token=board.new_token("bob")).status_code == 202


def test_the_storage_quota_counts_bytes_not_characters(
    make_board: Callable[..., Board], results_bytes: bytes
) -> None:
    data = json.loads(results_bytes)
    data["agent"]["description"] = "\U0001f600" * 400  # 400 characters, 1,600 bytes
    first = json.dumps(data, ensure_ascii=False).encode()
    data["agent"]["description"] = "second"
    second = json.dumps(data).encode()
    # Counted in characters the two would fit, with 1,100 to spare; in bytes they do not.
    board = make_board(storage_per_token_bytes=len(first) + len(second) - 100)
    assert board.post(first).status_code == 202
    response = board.post(second)
    assert response.status_code == 413 and "storage quota" in response.json()["detail"]


def test_api_datetimes_carry_their_utc_offset(board: Board, results: Results) -> None:
    # Stored naive (SQLite keeps no timezone); an RFC 3339 date-time needs its offset.
    row = board.post(results).json()
    board.verify_all()
    status = board.client.get(f"/api/submissions/{row['id']}").json()
    body = {"suite": "test-suite"}
    challenge = board.client.post("/api/challenges", json=body, headers=board.headers()).json()
    stamps = [status["created_at"], status["finished_at"], challenge["expires_at"]]
    stamps += [r["created_at"] for r in board.client.get("/api/leaderboard/test-suite").json()]
    assert all(s.endswith(("Z", "+00:00")) for s in stamps), stamps


def test_openapi_document_declares_the_results_body_and_every_refusal(board: Board) -> None:
    paths = board.client.get("/openapi.json").json()["paths"]
    submit = paths["/api/submissions"]["post"]
    body = submit["requestBody"]["content"]["application/json"]["schema"]
    # Written in place: a "#/$defs/..." reference would resolve against the document.
    assert "$ref" not in json.dumps(body) and set(body["required"]) >= {"agent", "episodes"}
    assert {"401", "404", "409", "413", "422", "429"} <= set(submit["responses"])
    assert {"400", "401", "404", "429"} <= set(paths["/api/challenges"]["post"]["responses"])
    problem = submit["responses"]["409"]["content"]["application/json"]["schema"]
    assert problem == {"$ref": "#/components/schemas/Problem"}
