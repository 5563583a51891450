"""OpenAIChatAgent against a real OpenAI-compatible server (`transformers serve`, tiny model)
on loopback, and against local servers that fail in the ways real ones do."""

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import gymnasium as gym
import pytest

import palaestra
from palaestra.llm.models import resolve_model
from palaestra.llm.openai_agent import AgentServerError, OpenAIChatAgent
from palaestra.llm.prompting import PromptConfig
from palaestra.rollout import run_episodes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def served_tiny(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    model = resolve_model("tiny").location
    port = free_port()
    cache = tmp_path_factory.mktemp("hf-cache")
    exe = Path(sys.executable).with_name("transformers")
    command = [
        str(exe) if exe.exists() else shutil.which("transformers") or "transformers",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        model,
    ]
    env = {**os.environ, "HF_HUB_CACHE": str(cache), "HF_HUB_OFFLINE": "1"}
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if server.poll() is not None:
                pytest.fail(f"transformers serve exited: {server.stderr.read().decode()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=1) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                time.sleep(0.5)
        else:
            pytest.fail("transformers serve did not start within 120 s")
        yield f"{url}/v1", model
    finally:
        server.kill()
        server.wait()


def test_plays_through_a_real_server(served_tiny: tuple[str, str]) -> None:
    url, model = served_tiny
    agent = OpenAIChatAgent(
        model, base_url=url, max_tokens=6, concurrency=3, prompt=PromptConfig(extract="choice")
    )
    records = run_episodes(
        "palaestra/Bandit-TwoArmed-v0",
        agent,
        seeds=[0, 1, 2],
        env_kwargs={"horizon": 3},
        batch_size=agent.max_batch_size,
    )
    assert [r.seed for r in records] == [0, 1, 2]
    assert all(r.length == 3 and r.terminated for r in records)
    assert all("regret" in r.metrics for r in records)


def test_agent_protocol_and_factory(served_tiny: tuple[str, str]) -> None:
    url, model = served_tiny
    agent = palaestra.agents.make_agent(f"openai:{model}@{url}", gym.make("palaestra/Math-v0"))
    record = palaestra.run_episode(gym.make("palaestra/Math-v0"), agent, seed=0)
    assert record.length == 1 and isinstance(record.actions[0], str)


def test_writes_policies_for_synthesis_through_a_real_server(
    served_tiny: tuple[str, str],
) -> None:
    from palaestra.agents.synthesis import synthesize
    from palaestra.agents.synthesis.loop import make_writer

    url, model = served_tiny
    writer = make_writer(f"openai:{model}@{url}")
    result = synthesize(writer, "palaestra/Gathering-v0", iterations=1, episodes=1,
                        progress=False)  # fmt: skip
    candidate = result.candidates[0]
    assert candidate.reply and candidate.feedback  # garbage from the tiny model, told so


class Behaviour:
    """What the fake-failure server does; counts requests."""

    def __init__(self, mode: str, good_after: int = 0) -> None:
        self.mode = mode
        self.requests = 0
        self.good_after = good_after


def completion(text: str) -> bytes:
    return json.dumps(
        {
            "id": "x",
            "object": "chat.completion",
            "created": 0,
            "model": "m",
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "message": {"role": "assistant", "content": text},
                }
            ],
        }
    ).encode()


@pytest.fixture
def failing_server() -> Iterator[tuple[str, Behaviour]]:
    behaviour = Behaviour("ok")

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", 0)))
            behaviour.requests += 1
            mode = behaviour.mode
            if behaviour.good_after and behaviour.requests > behaviour.good_after:
                mode = "down"
            status, body, kind = 200, completion("A"), "application/json"
            if mode == "500":
                status, body = 500, b'{"error": {"message": "boom"}}'
            elif mode == "401":
                status, body = 401, b'{"error": {"message": "bad key"}}'
            elif mode == "garbage":
                body, kind = b"\x00\xffnot json at all", "text/html"
            elif mode == "no_choices":
                body = b'{"id": "x", "object": "chat.completion", "choices": []}'
            elif mode == "empty":
                body = completion("")
            elif mode == "slow":
                time.sleep(2)
            elif mode == "down":
                status, body = 503, b"{}"
            self.send_response(status)
            self.send_header("content-type", kind)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1", behaviour
    finally:
        server.shutdown()
        server.server_close()


def agent_for(url: str, **kwargs: object) -> OpenAIChatAgent:
    kwargs.setdefault("max_retries", 2)
    kwargs.setdefault("timeout", 5.0)
    return OpenAIChatAgent("m", base_url=url, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("mode", "message", "attempts"),
    [
        ("500", "failed after 3 attempts: InternalServerError", 3),
        ("401", "refused the API key \\(HTTP 401\\)", 1),
        ("garbage", "failed after 3 attempts", 3),
        ("no_choices", "failed after 3 attempts: ValueError: the response has no choices", 3),
    ],
)
def test_server_failures_give_clear_errors_after_bounded_retries(
    failing_server: tuple[str, Behaviour], mode: str, message: str, attempts: int
) -> None:
    url, behaviour = failing_server
    behaviour.mode = mode
    agent = agent_for(url)
    agent.reset("Play.")
    start = time.monotonic()
    with pytest.raises(AgentServerError, match=message):
        agent.act("Round 1.", {})
    assert behaviour.requests == attempts
    assert time.monotonic() - start < 30


def test_slow_server_times_out(failing_server: tuple[str, Behaviour]) -> None:
    url, behaviour = failing_server
    behaviour.mode = "slow"
    agent = agent_for(url, timeout=0.3, max_retries=1)
    agent.reset("Play.")
    with pytest.raises(AgentServerError, match="failed after 2 attempts: APITimeoutError"):
        agent.act("Round 1.", {})


def test_server_down() -> None:
    agent = agent_for(f"http://127.0.0.1:{free_port()}/v1", max_retries=1)
    agent.reset("Play.")
    with pytest.raises(AgentServerError, match="APIConnectionError"):
        agent.act("Round 1.", {})


def test_empty_reply_is_an_invalid_action(failing_server: tuple[str, Behaviour]) -> None:
    url, behaviour = failing_server
    behaviour.mode = "empty"
    record = palaestra.run_episode(
        gym.make("palaestra/Bandit-v0", horizon=2), agent_for(url), seed=0
    )
    assert record.invalid_actions == 2


def test_finished_episodes_are_kept_when_the_server_dies(
    failing_server: tuple[str, Behaviour],
) -> None:
    url, behaviour = failing_server
    behaviour.good_after = 6  # two 3-round episodes, then 503s
    agent = agent_for(url, concurrency=1, max_retries=0)
    with pytest.raises(AgentServerError) as info:
        run_episodes(
            "palaestra/Bandit-TwoArmed-v0",
            agent,
            seeds=[0, 1, 2, 3],
            env_kwargs={"horizon": 3},
            batch_size=agent.max_batch_size,
        )
    assert [r.seed for r in info.value.completed] == [0, 1]
    assert all(r.length == 3 for r in info.value.completed)


def test_cli_reports_completed_then_fails(
    failing_server: tuple[str, Behaviour], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url, behaviour = failing_server
    behaviour.good_after = 8 * 30 + 10  # 8 episodes run at once: they finish, the 9th fails
    out = tmp_path / "records.json"
    code = palaestra.cli.main(
        [
            "run",
            "palaestra/Bandit-TwoArmed-v0",
            "--agent",
            f"openai:m@{url}",
            "--episodes",
            "9",
            "--out",
            str(out),
        ]
    )
    assert code == 2
    kept = json.loads(out.read_text())
    assert 1 <= len(kept) < 9  # scheduling decides how many finished before the failure
    assert all(len(record["actions"]) == 30 for record in kept)
    assert "error:" in capsys.readouterr().out
