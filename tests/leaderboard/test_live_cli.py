"""``palaestra leaderboard evaluate``: live play against a real server, resumed after cut-offs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import gymnasium as gym
import httpx
import pytest

from palaestra.cli import main
from palaestra.leaderboard.live_store import live_seed

from .conftest import SMALL
from .live import LiveServer, cli_token


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, suite_file: Path) -> Iterator[LiveServer]:
    live = LiveServer(tmp_path_factory.mktemp("live") / "board.db", suite_file).start()
    yield live
    live.stop()


def _evaluate(server: LiveServer, token: str, agent: str, *extra: str) -> int:
    """The command for the token's agent (named after the token: names are a submitter's)."""
    return main(["leaderboard", "evaluate", "--agent", agent, "--server", server.url,
                 "--token", token, "--name", f"{agent} of {token[:6]}", "--no-progress",
                 *extra])  # fmt: skip


def test_live_play_from_the_command_line(
    server: LiveServer, capsys: pytest.CaptureFixture[str]
) -> None:
    token = cli_token(server.db, "live-cli", capsys)
    assert _evaluate(server, token, "random", "--live", "--suite", SMALL.id) == 0
    assert "finished: 5 episodes played here" in capsys.readouterr().out
    table = httpx.get(f"{server.url}/api/leaderboard/{SMALL.id}/live").json()
    assert [e["submitter"] for e in table] == ["live-cli"]


def test_the_oracle_cannot_play_live(
    server: LiveServer, capsys: pytest.CaptureFixture[str]
) -> None:
    token = cli_token(server.db, "oracle-cli", capsys)
    assert _evaluate(server, token, "oracle", "--live", "--suite", SMALL.id) == 2
    assert "cannot play live" in capsys.readouterr().out


def test_without_live_the_hidden_seeds_are_played_here_and_submitted(
    server: LiveServer, suite_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    token = cli_token(server.db, "offline-cli", capsys)
    out = str(tmp_path / "r.json")
    assert _evaluate(server, token, "random", "--suite", str(suite_file), "--out", out) == 0
    assert "verified" in capsys.readouterr().out
    rows = httpx.get(f"{server.url}/api/leaderboard/{SMALL.id}").json()
    assert any(r["submitter"] == "offline-cli" and r["tier"] == "replayed" for r in rows)


def test_a_run_cut_off_mid_episode_resumes_with_the_committed_steps(
    server: LiveServer, suite_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    token = cli_token(server.db, "resume-cli", capsys)
    headers = {"Authorization": f"Bearer {token}"}
    body = {"suite": SMALL.id, "agent": f"random of {token[:6]}"}
    view = httpx.post(f"{server.url}/api/live/sessions", headers=headers, json=body).json()
    base = f"{server.url}/api/live/sessions/{view['id']}/episodes/0"
    httpx.post(base + "/start", headers=headers)
    # Not an arm: the random agent, re-run over these steps, never picks it.
    for step, action in enumerate(["F", "F"]):
        httpx.post(base + "/step", headers=headers, json={"step": step, "action": action})
    assert _evaluate(server, token, "random", "--live", "--suite", str(suite_file)) == 0
    out = " ".join(capsys.readouterr().out.split())  # as printed, unwrapped
    assert "finished (resumed)" in out and "the committed actions stand" in out
    episode = httpx.post(base + "/start", headers=headers).json()
    assert [s["action"] for s in episode["steps"]][:2] == ["F", "F"] and episode["ended"]


def test_a_server_killed_mid_episode_goes_on_from_the_committed_state(
    tmp_path: Path, suite_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "killed.db"
    token = cli_token(db, "killed", capsys)
    headers = {"Authorization": f"Bearer {token}"}
    first = LiveServer(db, suite_file).start()
    view = httpx.post(f"{first.url}/api/live/sessions", headers=headers,
                      json={"suite": SMALL.id, "agent": "random"}).json()  # fmt: skip
    path = f"/api/live/sessions/{view['id']}/episodes/0"
    start = httpx.post(first.url + path + "/start", headers=headers).json()
    actions = ["A", "B", "C", "D", "E"]
    answers = [httpx.post(first.url + path + "/step", headers=headers,
                          json={"step": 0, "action": actions[0]}).json()]  # fmt: skip
    first.kill()
    second = LiveServer(db, suite_file).start()
    try:
        resumed = httpx.post(second.url + path + "/start", headers=headers).json()
        assert resumed["observation"] == start["observation"] and len(resumed["steps"]) == 1
        for step, action in enumerate(actions[1:], 1):
            answers.append(httpx.post(second.url + path + "/step", headers=headers,
                                      json={"step": step, "action": action}).json())  # fmt: skip
    finally:
        second.stop()
    # The same as one unbroken episode on the hidden seed.
    secret = (tmp_path / "killed.db.secret").read_text().strip().encode()
    env = gym.make("palaestra/Bandit-v0", horizon=5)
    observation, _ = env.reset(seed=live_seed(secret, view["id"], 0))
    assert observation == start["observation"]
    for action, answer in zip(actions, answers, strict=True):
        observation, reward, terminated, truncated, _ = env.step(action)
        assert (observation, reward) == (answer["observation"], answer["reward"])
        assert (terminated, truncated) == (answer["terminated"], answer["truncated"])
