"""Both directions of the OpenEnv bridge, with the real openenv-core.

A ``palaestra serve-env palaestra/Bandit-v0`` subprocess is played by openenv's own client
and by ``palaestra/OpenEnv-v0``; servers in this process (openenv-core's app in a uvicorn
thread) serve MathFeedback, a server that hangs, and one that goes away.
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

import palaestra.testing
from palaestra.cli import main
from palaestra.errors import InvalidArgumentError, RemoteEnvError
from palaestra.leaderboard.served import free_port

README = Path(__file__).resolve().parents[2] / "README.md"
BANDIT = "palaestra/Bandit-v0"


# ---------------------------------------------------------------------- servers


@pytest.fixture(scope="module")
def bandit_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``palaestra serve-env palaestra/Bandit-v0`` in a subprocess on a free port."""
    import httpx

    port = free_port()
    log = tmp_path_factory.mktemp("serve-env") / "server.log"
    command = [sys.executable, "-m", "palaestra.cli", "serve-env", BANDIT,
               "--port", str(port), "--max-sessions", "16"]  # fmt: skip
    with log.open("wb") as out:
        server = subprocess.Popen(command, stdout=out, stderr=out, env=os.environ.copy())
    url = f"http://127.0.0.1:{port}"
    try:
        # openenv takes seconds to import: this process imports it while the server does.
        importlib.import_module("openenv.core.generic_client")
        deadline = time.monotonic() + 60
        while True:
            if server.poll() is not None:
                pytest.fail(f"serve-env exited: {log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    pytest.fail(f"serve-env did not start: {log.read_text()[-2000:]}")
                time.sleep(0.1)
        yield url
    finally:
        server.terminate()
        server.wait(30)
    # A session's end must not leave a traceback in the server's log.
    assert "Traceback" not in log.read_text()


class ThreadServer:
    """An ASGI app served by uvicorn in a thread of this process."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="error")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> ThreadServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(30)


@pytest.fixture(scope="module")
def math_url() -> Iterator[str]:
    from palaestra.integrations.openenv_server import build_app

    with ThreadServer(build_app("palaestra/MathFeedback-v0", max_sessions=4)) as server:
        yield server.url


def client_for(url: str) -> Any:
    from openenv.core.generic_client import GenericEnvClient

    return GenericEnvClient(base_url=url, message_timeout_s=30).sync()


# ---------------------------------------------------------------------- openenv's client


def local_episode(seed: int, actions: list[str]) -> list[tuple[Any, ...]]:
    """(text, reward, done, truncated, info) of each step of the local env, JSON-safe."""
    from palaestra.envs.json_info import json_safe

    env = gym.make(BANDIT)
    text, info = env.reset(seed=seed)
    trace: list[tuple[Any, ...]] = [(text, None, False, False, json_safe(info))]
    for action in actions:
        text, reward, terminated, truncated, info = env.step(action)
        trace.append((text, reward, terminated or truncated, truncated, json_safe(info)))
    env.close()
    return trace


def remote_episode(url: str, seed: int, actions: list[str]) -> list[tuple[Any, ...]]:
    """The same, played through openenv's GenericEnvClient on a session of its own."""
    with client_for(url) as client:
        result = client.reset(seed=seed)
        steps = [result]
        for action in actions:
            steps.append(client.step({"text": action}))
    return [
        (r.observation["text"], r.reward, r.done, r.observation["truncated"], r.observation["info"])
        for r in steps
    ]


#: A whole Bandit-v0 episode (50 rounds), two invalid actions among them.
ACTIONS = [*"ABCDE" * 9, "banana", "", "C", "arm b", "A"]


def test_openenv_client_plays_the_local_episode(bandit_url: str) -> None:
    remote = remote_episode(bandit_url, 7, ACTIONS)
    assert remote == local_episode(7, ACTIONS)
    assert remote[-1][2] is True and remote[-1][3] is False  # terminated, not truncated
    assert (
        remote[-1][4]["success"] in (True, False) and "regret" in remote[-1][4]["episode_metrics"]
    )


def test_state_names_episode_steps_and_env(bandit_url: str) -> None:
    with client_for(bandit_url) as client:
        client.reset(seed=1, episode_id="episode-1")
        for action in "ABC":
            client.step({"text": action})
        assert client.state() == {
            "episode_id": "episode-1",
            "step_count": 3,
            "env_id": BANDIT,
        }
        client.reset(seed=2)
        state = client.state()
    assert state["step_count"] == 0 and state["episode_id"] not in (None, "episode-1")


def test_concurrent_sessions_do_not_interfere(bandit_url: str) -> None:
    rng = np.random.default_rng(0)
    plans = {seed: [str(a) for a in rng.choice(list("ABCDE"), 50)] for seed in (11, 12, 13)}
    with ThreadPoolExecutor(3) as pool:
        played = pool.map(lambda seed: remote_episode(bandit_url, seed, plans[seed]), plans)
        remote = dict(zip(plans, played, strict=True))
    for seed, actions in plans.items():
        assert remote[seed] == local_episode(seed, actions)
    assert remote[11] != remote[12]


def test_hostile_messages_get_errors_and_the_server_keeps_serving(bandit_url: str) -> None:
    import httpx
    from websockets.sync.client import connect

    from palaestra.integrations.openenv_server import MAX_ACTION_LENGTH

    ws_url = bandit_url.replace("http://", "ws://") + "/ws"
    with connect(ws_url, max_size=None) as ws:

        def send(message: Any) -> dict[str, Any]:
            ws.send(message if isinstance(message, str) else json.dumps(message))
            answer: dict[str, Any] = json.loads(ws.recv(timeout=10))
            return answer

        def error(message: Any, code: str, text: str = "") -> None:
            answer = send(message)
            assert answer["type"] == "error", answer
            assert answer["data"]["code"] == code
            assert text in answer["data"]["message"]

        step = {"type": "step", "data": {"text": "A"}}
        error(step, "EXECUTION_ERROR", "step before reset")
        assert send({"type": "reset", "data": {"seed": 0}})["type"] == "observation"
        error({"type": "step", "data": {"text": 3}}, "VALIDATION_ERROR")
        error({"type": "step", "data": {"text": None}}, "VALIDATION_ERROR")
        error({"type": "step", "data": {"txt": "A"}}, "VALIDATION_ERROR")
        error({"type": "step", "data": {"text": "A" * (MAX_ACTION_LENGTH + 1)}}, "VALIDATION_ERROR")
        error({"type": "dance"}, "UNKNOWN_TYPE", "Unknown message type")
        error("{not json", "INVALID_JSON")
        error({"type": "reset", "data": {"seed": -1}}, "EXECUTION_ERROR", "non-negative")
        error({"type": "reset", "data": {"sed": 1}}, "EXECUTION_ERROR", "did you mean 'seed'")
        # Up to the limit, text reaches the environment, which answers it as a bad action.
        answer = send({"type": "step", "data": {"text": "A" * MAX_ACTION_LENGTH}})
        assert answer["data"]["observation"]["info"]["invalid_action"] is True
        assert answer["data"]["reward"] == pytest.approx(-0.1)
        # The session survived all of it: play the episode to its end, then once more.
        for _ in range(49):
            answer = send(step)
        assert answer["type"] == "observation" and answer["data"]["done"] is True
        error(step, "EXECUTION_ERROR", "the episode has ended")
        assert send({"type": "reset", "data": {"seed": 0}})["type"] == "observation"
        # A lone surrogate (valid JSON, not UTF-8) is text like any other: U+FFFD, answered.
        answer = send(json.dumps({"type": "step", "data": {"text": "\ud800"}}))
        assert answer["data"]["observation"]["info"]["invalid_action"] is True
    # OpenEnv's stateless HTTP /step says why it cannot step.
    response = httpx.post(f"{bandit_url}/step", json={"action": {"text": "A"}})
    assert response.status_code == 409 and "WebSocket" in response.json()["detail"]
    assert remote_episode(bandit_url, 3, ["A", "B"]) == local_episode(3, ["A", "B"])


# ---------------------------------------------------------------------- palaestra/OpenEnv-v0


def test_adapter_passes_the_conformance_suite(bandit_url: str) -> None:
    palaestra.testing.check("palaestra/OpenEnv-v0", kwargs={"url": bandit_url})


def canonical_episode(env: gym.Env[str, str], seed: int, answers: list[str]) -> list[str]:
    """Every result of an episode, as text that is equal only for identical results."""
    observation, info = env.reset(seed=seed)
    trace = [json.dumps([observation, info], sort_keys=True)]
    for answer in answers:
        result = env.step(answer)
        trace.append(json.dumps(result, sort_keys=True))
        if result[2] or result[3]:
            break
    return trace


def test_multi_turn_episodes_are_byte_identical_to_the_local_env(math_url: str) -> None:
    local = gym.make("palaestra/MathFeedback-v0")
    # ws:// works as well as http://.
    remote = gym.make("palaestra/OpenEnv-v0", url=math_url.replace("http://", "ws://"))
    try:
        for seed in range(3):
            local.reset(seed=seed)
            answers = ["41", "no answer here", local.unwrapped.oracle_action()]
            expected = canonical_episode(local, seed, answers)
            assert canonical_episode(remote, seed, answers) == expected
            assert len(expected) == 4 and '"success": true' in expected[-1]
    finally:
        local.close()
        remote.close()


def test_an_unanswered_url_is_a_clear_error() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(RemoteEnvError, match=f"no OpenEnv server answers at {url}"):
        gym.make("palaestra/OpenEnv-v0", url=url, connect_timeout_s=2)
    with pytest.raises(InvalidArgumentError, match="url must start with"):
        gym.make("palaestra/OpenEnv-v0", url="127.0.0.1:8001")


def test_a_hung_server_is_bounded_by_the_message_timeout() -> None:
    from openenv.core.env_server.http_server import create_app

    from palaestra.integrations.openenv_server import (
        TextAction,
        TextEnvironment,
        TextEnvObservation,
    )

    release = threading.Event()

    class Hanging(TextEnvironment):
        def step(self, action: TextAction, timeout_s: float | None = None, **kwargs: Any) -> Any:
            release.wait(30)
            return super().step(action)

    app = create_app(functools.partial(Hanging, BANDIT), TextAction, TextEnvObservation)
    with ThreadServer(app) as server:
        env = gym.make("palaestra/OpenEnv-v0", url=server.url, message_timeout_s=0.5)
        try:
            env.reset(seed=0)
            start = time.monotonic()
            with pytest.raises(RemoteEnvError, match=r"step failed: no answer within 0.5 s"):
                env.step("A")
            assert time.monotonic() - start < 5
        finally:
            release.set()
            env.close()


def test_a_dropped_connection_is_a_clear_error() -> None:
    from palaestra.integrations.openenv_server import build_app

    server = ThreadServer(build_app(BANDIT, max_sessions=1))
    with server:
        env = gym.make("palaestra/OpenEnv-v0", url=server.url, connect_timeout_s=2)
        env.reset(seed=0)
        env.step("A")
        second = gym.make("palaestra/OpenEnv-v0", url=server.url, connect_timeout_s=2)
        # Which of the two the client sees depends on whether the refusal or the close
        # arrives first.
        with pytest.raises(RemoteEnvError, match=r"reset failed: .*(at capacity|session limit)"):
            second.reset(seed=0)
        second.close()
    try:
        with pytest.raises(RemoteEnvError, match=f"OpenEnv server at {server.url}: step failed"):
            env.step("B")
        with pytest.raises(RemoteEnvError, match="reset failed"):
            env.reset(seed=0)
    finally:
        env.close()


# ---------------------------------------------------------------------- the command and docs


def test_serve_env_unknown_id_suggests_the_closest(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve-env", "palaestra/Bandt-v0"]) == 2
    assert "Did you mean: `Bandit`" in capsys.readouterr().out


def test_serve_env_rejects_kwargs_that_are_not_a_json_object(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["serve-env", BANDIT, "--env-kwargs", "[1]"]) == 2
    assert "env_kwargs must be a JSON object" in capsys.readouterr().out


def test_readme_openenv_examples_run(bandit_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    section = README.read_text().split("## OpenEnv\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```py\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 2, "the README's OpenEnv section lost its examples"
    for block in blocks:
        exec(compile(block.replace("http://127.0.0.1:8001", bandit_url), "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert "You are playing a 5-armed bandit" in out and "'regret'" in out
    assert "'step_count': 50" in out and "You pulled B" in out


def test_a_server_that_trickles_its_schema_is_bounded() -> None:
    async def trickle(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json")]})  # fmt: skip
        for _ in range(15):  # a byte at a time: every read is quick, the whole (3 s) is not
            await send({"type": "http.response.body", "body": b" ", "more_body": True})
            await asyncio.sleep(0.2)
        await send({"type": "http.response.body", "body": b"{}"})

    with ThreadServer(trickle) as server:
        start = time.monotonic()
        with pytest.raises(RemoteEnvError, match="GET /schema took over 1 s"):
            gym.make("palaestra/OpenEnv-v0", url=server.url, connect_timeout_s=1)
        assert time.monotonic() - start < 5


def test_idle_sessions_are_closed_so_others_get_in() -> None:
    from palaestra.integrations.openenv_server import build_app

    with ThreadServer(build_app(BANDIT, max_sessions=1, idle_seconds=0.5)) as server:
        idle = gym.make("palaestra/OpenEnv-v0", url=server.url, connect_timeout_s=2)
        idle.reset(seed=0)  # holds the only session, then says nothing
        time.sleep(6)  # the reaper looks every 5 s at least
        other = gym.make("palaestra/OpenEnv-v0", url=server.url, connect_timeout_s=2)
        try:
            assert other.reset(seed=1)[0]
        finally:
            other.close()
            idle.close()


def test_a_server_that_trickles_its_headers_is_bounded() -> None:
    import socket

    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    stop = threading.Event()

    def trickle() -> None:
        connection, _ = listener.accept()
        connection.sendall(b"HTTP/1.1 200 OK\r\n")
        while not stop.wait(0.2):  # a header line now and then, never the blank line
            try:
                connection.sendall(b"X-Pad: y\r\n")
            except OSError:
                break
        connection.close()

    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    try:
        start = time.monotonic()
        with pytest.raises(RemoteEnvError, match="GET /schema took over 1 s"):
            gym.make("palaestra/OpenEnv-v0", url=f"http://127.0.0.1:{port}", connect_timeout_s=1)
        assert time.monotonic() - start < 5
    finally:
        stop.set()
        listener.close()
