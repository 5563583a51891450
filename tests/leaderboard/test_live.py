"""Live evaluation: episodes played through the server, committed step by step, scored whole."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import pytest

from palaestra.agents.factory import make_agent
from palaestra.errors import InvalidArgumentError
from palaestra.leaderboard import Results, evaluate
from palaestra.leaderboard.live_client import LiveEpisodeEnv, _Connection
from palaestra.leaderboard.live_env import advance
from palaestra.leaderboard.live_store import live_seed
from palaestra.leaderboard.scoring import board_summary
from palaestra.rollout import Episode, run_episode

from .conftest import SMALL, Board

SECRET = b"test secret"  # the boards' secret (conftest)


def start(board: Board, token: str | None = None, **body: Any) -> Any:
    return board.client.post(
        "/api/live/sessions",
        json={"suite": SMALL.id, "agent": "random", **body},
        headers=board.headers(token),
    )


def play_session(board: Board, agent: str, token: str | None = None) -> list[Episode]:
    """Play every episode of the token's session with ``agent`` through the API."""
    view = start(board, token, agent=agent).json()
    board.client.headers.update(board.headers(token))
    connection = _Connection(board.client)
    records = []
    for episode in view["episodes"]:
        env = LiveEpisodeEnv(connection, view["id"], episode["position"])
        records.append(run_episode(env, make_agent(agent, env, seed=episode["position"])))
    return records


def test_a_session_plays_every_episode_and_finishes(make_board: Callable[..., Board]) -> None:
    board = make_board(rate_limit=3)
    response = start(board)
    assert response.status_code == 201, response.text
    view = response.json()
    assert view["status"] == "open" and not view["resumed"]
    assert [e["task"] for e in view["episodes"]] == ["bandit"] * 3 + ["pd"] * 2
    records = play_session(board, "random")
    assert len(records) == 5 and all(r.length > 0 for r in records)
    # Steps are under the live rate limit, not the one of submissions and challenges.
    assert sum(r.length for r in records) > 5 * board.app.state.config.rate_limit
    session = board.client.get(f"/api/live/sessions/{view['id']}", headers=board.headers())
    assert session.json()["status"] == "finished"
    assert all(e["ended"] for e in session.json()["episodes"])


def test_the_server_plays_the_real_env_on_seeds_it_keeps(board: Board) -> None:
    view = start(board).json()
    (record, *_) = play_session(board, "random")
    seed = live_seed(SECRET, view["id"], 0)
    assert seed.bit_length() > 64  # too wide to search for the seed behind an observation
    env = gym.make("palaestra/Bandit-v0", horizon=5)
    env.reset(seed=seed)
    rewards = [float(env.step(action)[1]) for action in record.actions]
    assert rewards == record.rewards
    # No response hands the seeds out.
    texts = [start(board).text, board.client.get(f"/api/live/sessions/{view['id']}").text]
    assert all(str(seed) not in text for text in texts)


def test_a_step_is_committed_once_and_in_order(board: Board) -> None:
    view = start(board).json()
    base = f"/api/live/sessions/{view['id']}/episodes/0"
    headers = board.headers()
    step = board.client.post(base + "/step", json={"step": 0, "action": "A"}, headers=headers)
    assert step.status_code == 409 and "start episode 0" in step.text
    first = board.client.post(base + "/start", headers=headers).json()
    assert first["steps"] == [] and "A" in first["info"]["available_actions"]
    answer = board.client.post(base + "/step", json={"step": 0, "action": "A"}, headers=headers)
    assert answer.status_code == 200
    again = board.client.post(base + "/step", json={"step": 0, "action": "A"}, headers=headers)
    assert again.json() == answer.json()  # a retry after a lost reply
    other = board.client.post(base + "/step", json={"step": 0, "action": "B"}, headers=headers)
    assert other.status_code == 409 and "another action" in other.text
    ahead = board.client.post(base + "/step", json={"step": 5, "action": "B"}, headers=headers)
    assert ahead.status_code == 409 and "step 1 is next" in ahead.text
    # Starting again does not draw a new episode: it returns the history.
    resumed = board.client.post(base + "/start", headers=headers).json()
    assert resumed["observation"] == first["observation"]
    assert [s["action"] for s in resumed["steps"]] == ["A"]


def test_sessions_are_private_to_their_token(board: Board) -> None:
    view = start(board).json()
    bob = board.new_token("bob")
    for method, path in (
        ("GET", f"/api/live/sessions/{view['id']}"),
        ("POST", f"/api/live/sessions/{view['id']}/episodes/0/start"),
        ("DELETE", f"/api/live/sessions/{view['id']}"),
    ):
        assert board.client.request(method, path, headers=board.headers(bob)).status_code == 404
    assert board.client.get(f"/api/live/sessions/{view['id']}").status_code == 401


def test_one_open_session_per_token_and_suite_resumed(board: Board) -> None:
    first = start(board).json()
    again = start(board).json()
    assert again["id"] == first["id"] and again["resumed"]
    clash = start(board, agent="ucb")
    assert clash.status_code == 409 and "open session" in clash.text
    board.client.delete(f"/api/live/sessions/{first['id']}", headers=board.headers())
    assert start(board, agent="ucb").json()["id"] != first["id"]


def test_best_of_n_sessions_is_shown_and_does_not_raise_the_score(board: Board) -> None:
    tasks = ["bandit"] * 3 + ["pd"] * 2
    families = {t.name: t.family for t in SMALL.tasks}
    sessions = []
    for k in range(4):
        records = play_session(board, "random")
        (entry,) = board.client.get(f"/api/leaderboard/{SMALL.id}/live").json()
        assert entry["sessions_finished"] == k + 1  # the cached table follows
        played = zip(tasks, records, strict=True)
        sessions.append([(t, (r.total_reward, r.success)) for t, r in played])
    (entry,) = board.client.get(f"/api/leaderboard/{SMALL.id}/live").json()
    assert (entry["sessions_started"], entry["sessions_finished"]) == (4, 4)

    def summary(played: list[tuple[str, tuple[float, bool]]]) -> dict[str, Any]:
        scores: dict[str, list[tuple[float, bool]]] = {}
        for task, score in played:
            scores.setdefault(task, []).append(score)
        return board_summary(scores, families)

    # The entry is every session, episode for episode: never the best of them.
    assert entry["summary"] == summary([e for session in sessions for e in session])
    best = max(summary(session)["overall"]["mean"] for session in sessions)
    assert entry["summary"]["overall"]["mean"] <= best
    page = board.client.get(f"/?suite={SMALL.id}").text
    assert "4 started: 4 finished, 0 abandoned" in page


def test_abandoned_sessions_count_their_unplayed_episodes_as_failures(board: Board) -> None:
    view = start(board, agent="oracle-lookalike-free").json()
    base = f"/api/live/sessions/{view['id']}"
    board.client.post(base + "/episodes/0/start", headers=board.headers())
    gone = board.client.delete(base, headers=board.headers())
    assert gone.json()["status"] == "abandoned"
    late = board.client.post(base + "/episodes/0/step", json={"step": 0, "action": "A"},
                             headers=board.headers())  # fmt: skip
    assert late.status_code == 409 and "abandoned" in late.text
    (entry,) = board.client.get(f"/api/leaderboard/{SMALL.id}/live").json()
    assert entry["sessions_abandoned"] == 1
    assert entry["summary"]["episodes"] == 5
    assert entry["summary"]["overall"]["mean"] == 0.0


@pytest.mark.parametrize("limit", ["live_idle", "live_lifetime"])
def test_idle_and_old_sessions_are_abandoned(make_board: Callable[..., Board], limit: str) -> None:
    board = make_board(**{limit: dt.timedelta(seconds=0)})
    view = start(board).json()
    # At once, by the next request on the session: a late step is refused.
    late = board.client.post(f"/api/live/sessions/{view['id']}/episodes/0/start",
                             headers=board.headers())  # fmt: skip
    assert late.status_code == 409 and "abandoned" in late.text
    (entry,) = board.client.get(f"/api/leaderboard/{SMALL.id}/live").json()
    assert entry["sessions_abandoned"] == 1


def test_a_token_starts_a_bounded_number_of_sessions(make_board: Callable[..., Board]) -> None:
    board = make_board(live_sessions_per_token=2)
    for _ in range(2):
        view = start(board).json()
        board.client.delete(f"/api/live/sessions/{view['id']}", headers=board.headers())
    third = start(board)
    assert third.status_code == 409 and "the most one token may" in third.text


@pytest.mark.parametrize("positions", [(0, 1), (0, 0)], ids=["two episodes", "one episode"])
def test_a_token_plays_one_env_request_at_a_time(board: Board, positions: tuple[int, int]) -> None:
    import threading
    import time

    envs = board.app.state.live_envs
    real = envs.advance

    def slow(*args: Any, **kwargs: Any) -> Any:
        time.sleep(0.5)
        return real(*args, **kwargs)

    envs.advance = slow
    view = start(board).json()
    codes: list[int] = []

    def start_episode(position: int) -> None:
        path = f"/api/live/sessions/{view['id']}/episodes/{position}/start"
        codes.append(board.client.post(path, headers=board.headers()).status_code)

    # Requests of one token do not queue up (holding request threads), even on one episode.
    threads = [threading.Thread(target=start_episode, args=(k,)) for k in positions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(codes) == [200, 429]


def test_a_token_over_its_quota_costs_no_env_work(
    make_board: Callable[..., Board], results_bytes: bytes
) -> None:
    board = make_board(storage_per_token_bytes=len(results_bytes))
    view = start(board).json()  # opened while the token stores nothing
    assert board.post(results_bytes).status_code == 202  # then the quota is used up
    calls: list[object] = []
    envs = board.app.state.live_envs
    real = envs.advance
    envs.advance = lambda *a, **k: calls.append(a) or real(*a, **k)
    path = f"/api/live/sessions/{view['id']}/episodes/0/start"
    refused = board.client.post(path, headers=board.headers())
    assert refused.status_code == 413 and "the episode was not started" in refused.text
    board.client.delete(f"/api/live/sessions/{view['id']}", headers=board.headers())
    refused = start(board, agent="another")
    assert refused.status_code == 413 and "no session was started" in refused.text
    assert calls == []  # refused before any env was made


def test_a_session_of_a_changed_suite_is_given_up_for_a_new_one(
    make_board: Callable[..., Board], tmp_path: Any
) -> None:
    from palaestra.leaderboard import parse_suite

    from .conftest import SUITE_DATA

    board = make_board()
    old = start(board).json()
    changed = parse_suite(
        {**SUITE_DATA, "description": "Changed."} | {"tasks": SUITE_DATA["tasks"][:1]}
    )
    board.app.state.suites[SMALL.id] = changed
    path = f"/api/live/sessions/{old['id']}/episodes/0/start"
    assert board.client.post(path, headers=board.headers()).status_code == 409
    fresh = start(board).json()
    assert fresh["id"] != old["id"] and not fresh["resumed"]
    status = board.client.get(f"/api/live/sessions/{old['id']}", headers=board.headers())
    assert status.status_code == 409  # its suite is gone: it can only be abandoned
    gone = board.client.delete(f"/api/live/sessions/{old['id']}", headers=board.headers())
    assert gone.json()["status"] == "abandoned"


def test_a_session_needs_a_family(board: Board) -> None:
    response = start(board, families=[])
    assert response.status_code == 422 and "at least one family" in response.text


def test_one_open_session_per_token_and_suite_in_the_database(board: Board) -> None:
    from sqlalchemy.exc import IntegrityError

    from palaestra.leaderboard.db import LiveSession
    from palaestra.leaderboard.store import find_token

    token = find_token(board.app.state.sessions, board.token)
    assert token is not None
    with board.app.state.sessions() as session:
        for k in range(2):
            row = LiveSession(id=f"{k:032x}", token_id=token.id, suite=SMALL.id,
                              suite_hash=SMALL.hash, agent_name="x", status="open")  # fmt: skip
            session.add(row)
        with pytest.raises(IntegrityError):
            session.commit()


def test_envs_of_public_game_pools_play_unseen_games_live() -> None:
    from palaestra.leaderboard.live_env import live_kwargs

    assert live_kwargs("palaestra/TextWorld-v0", {"pool_size": 4}) == {"pool_size": None}
    assert live_kwargs("palaestra/ALFWorld-v0", {})["pool_size"] == 2**31 - 1
    assert live_kwargs("palaestra/Bandit-v0", {"horizon": 5}) == {"horizon": 5}


def test_the_relabelled_oracle_reaches_the_replayed_tier_never_the_live_one(
    board: Board, tmp_path: Any
) -> None:
    challenge = board.client.post("/api/challenges", json={"suite": SMALL.id},
                                  headers=board.headers()).json()  # fmt: skip
    from palaestra.leaderboard.harness import HiddenSeeds

    out = tmp_path / "oracle.json"
    results = evaluate("oracle", SMALL, out, families=["bandits"], progress=False,
                       challenge=HiddenSeeds(challenge["id"], challenge["seeds"]))  # fmt: skip
    forged = results.model_copy(update={"privileged": []})
    forged.agent.name, forged.agent.spec = "random", "random"
    assert board.post(Results.model_validate(forged.model_dump())).status_code == 202
    board.verify_all()
    (row,) = board.client.get(f"/api/leaderboard/{SMALL.id}").json()
    assert row["status"] == "verified" and row["tier"] == "replayed" and row["rank"] == 1
    assert board.client.get(f"/api/leaderboard/{SMALL.id}/live").json() == []
    page = board.client.get(f"/?suite={SMALL.id}").text
    assert "The actions replay; who chose them is" in page
    # Live, the oracle has no env to read.
    view = start(board).json()
    env = LiveEpisodeEnv(_Connection(board.client), view["id"], 0)
    with pytest.raises(InvalidArgumentError, match="no oracle"):
        make_agent("oracle", env)


def test_tiers_rank_separately(board: Board, results: Results) -> None:
    assert board.post(results).status_code == 202  # development seeds
    board.verify_all()
    (row,) = board.client.get(f"/api/leaderboard/{SMALL.id}").json()
    assert (row["tier"], row["rank"]) == ("dev", 1)


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/api/live/sessions", {"suite": SMALL.id, "agent": "a\u202egnp.exe"}, 422),
        ("/api/live/sessions", {"suite": SMALL.id, "agent": "x", "families": ["nope"]}, 422),
        ("/api/live/sessions", {"suite": "nope", "agent": "x"}, 404),
        ("/api/live/sessions", {"suite": SMALL.id}, 422),
        ("/api/live/sessions/NOT-AN-ID/episodes/0/start", None, 422),
        ("/api/live/sessions/" + "0" * 32 + "/episodes/0/start", None, 404),
        ("/api/live/sessions/" + "0" * 32 + "/episodes/-1/start", None, 422),
        ("/api/live/sessions/" + "0" * 32 + "/episodes/99999999999/start", None, 422),
    ],
)
def test_hostile_requests_are_refused(board: Board, path: str, body: Any, status: int) -> None:
    assert board.client.post(path, json=body, headers=board.headers()).status_code == status


def test_hostile_steps_are_refused_without_committing(board: Board) -> None:
    view = start(board).json()
    base = f"/api/live/sessions/{view['id']}/episodes/0"
    board.client.post(base + "/start", headers=board.headers())
    hostile = [{"step": 0, "action": "A" * 40_000}, {"step": -1, "action": "A"}, {"step": 0},
               {"step": "zero", "action": "A"}, {"step": 0, "action": 7}]  # fmt: skip
    for body in hostile:
        response = board.client.post(base + "/step", json=body, headers=board.headers())
        assert response.status_code == 422, body
    raw = board.client.post(base + "/step", content=b"\xff{", headers=board.headers())
    assert raw.status_code == 422
    nul = board.client.post(base + "/step", json={"step": 0, "action": "A\x00"},
                            headers=board.headers())  # fmt: skip
    assert nul.status_code == 422 and "NUL" in nul.text
    weird = board.client.post(base + "/step", json={"step": 0, "action": "\\help ((((a*)*)*)"},
                              headers=board.headers())  # fmt: skip
    assert weird.status_code == 200 and weird.json()["info"]["invalid_action"] is True


def test_privileged_tasks_cannot_be_played_live(make_board: Callable[..., Board]) -> None:
    from palaestra.leaderboard import parse_suite

    data = {"id": "priv", "description": "", "tasks": [
        {"name": "m", "family": "math", "env": "palaestra/Math-Arithmetic-v0",
         "kwargs": {"expose_ground_truth": True}, "episodes": 1}]}  # fmt: skip
    board = make_board(suites=[parse_suite(data)])
    response = board.client.post("/api/live/sessions", json={"suite": "priv", "agent": "x"},
                                 headers=board.headers())  # fmt: skip
    assert response.status_code == 422 and "expose_ground_truth" in response.text


def test_a_worker_rebuilds_an_env_it_does_not_hold_to_the_same_state() -> None:
    actions = ["A", "B", "C"]
    fresh = advance("palaestra/Bandit-v0", {"horizon": 5}, 7, "k1", actions)
    stepped = [advance("palaestra/Bandit-v0", {"horizon": 5}, 7, "k2", actions[:n])
               for n in range(4)]  # fmt: skip
    assert stepped[-1] == fresh
    # A held env with another history is not reused.
    advance("palaestra/Bandit-v0", {"horizon": 5}, 7, "k3", ["E", "E"])
    assert advance("palaestra/Bandit-v0", {"horizon": 5}, 7, "k3", actions) == fresh


def test_episode_starts_count_in_the_storage_quota(make_board: Callable[..., Board]) -> None:
    board = make_board(storage_per_token_bytes=100)
    view = start(board).json()
    response = board.client.post(f"/api/live/sessions/{view['id']}/episodes/0/start",
                                 headers=board.headers())  # fmt: skip
    assert response.status_code == 413 and "not started" in response.text


def test_live_steps_count_in_the_storage_quota(make_board: Callable[..., Board]) -> None:
    board = make_board(storage_per_token_bytes=4200)  # the start and two 1.5 kB steps fit
    view = start(board).json()
    base = f"/api/live/sessions/{view['id']}/episodes/0"
    board.client.post(base + "/start", headers=board.headers())
    answers = [
        board.client.post(
            base + "/step", json={"step": k, "action": "A" * 1000}, headers=board.headers()
        )
        for k in range(3)
    ]
    assert [a.status_code for a in answers[:2]] == [200, 200]
    assert answers[2].status_code == 413 and "not committed" in answers[2].text
    resumed = board.client.post(base + "/start", headers=board.headers()).json()
    assert len(resumed["steps"]) == 2
