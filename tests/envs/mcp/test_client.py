"""ToolServer: any MCP server driven from sync code, every failure bounded and reported."""

import copy
import pickle
import re
import time
from pathlib import Path

import pytest

from palaestra.envs.mcp.client import ToolCallRefused, ToolServer, ToolServerError
from palaestra.envs.mcp.config import ServerConfig
from tests.envs.mcp.helpers import gone, hostile


def make(config: ServerConfig, **limits: float) -> ToolServer:
    settings = {"start_timeout_s": 5.0, "call_timeout_s": 1.0, "max_output_chars": 1000,
                "max_message_bytes": 1 << 20, **limits}  # fmt: skip
    return ToolServer(config, **settings)  # type: ignore[arg-type]


def test_lists_and_calls_tools() -> None:
    server = make(hostile())
    try:
        tools = server.start()
        assert [t.name for t in tools][:2] == ["echo", "hang"]
        assert tools[0].input_schema["required"] == ["text"]
        output = server.call("echo", {"text": "héllo"})
        assert (output.text, output.is_error, output.truncated) == ("héllo", False, False)
        big = server.call("big", {})
        assert big.truncated and len(big.text) == 1000
        assert server.call("fail", {}).is_error
        with pytest.raises(ToolCallRefused, match="no, thanks"):
            server.call("reject", {})
        assert server.running  # a refusal leaves the server up
    finally:
        server.close()


@pytest.mark.parametrize(
    ("tool", "reason"),
    [
        ("hang", "did not answer within 1 s"),
        ("crash", "exited (status 1)"),
        ("garbage", "not JSON-RPC: 'Traceback"),
        ("flood", "message of over 1048576 bytes"),
    ],
)
def test_a_failure_mid_session_stops_the_server_and_the_next_call_restarts_it(
    tool: str, reason: str
) -> None:
    server = make(hostile())
    try:
        server.start()
        first = server.pid
        assert first is not None
        start = time.monotonic()
        with pytest.raises(ToolServerError, match=re.escape(reason)):
            server.call(tool, {})
        assert time.monotonic() - start < 4.0
        assert not server.running and gone(first)
        assert server.call("echo", {"text": "back"}).text == "back"
        assert server.pid not in (None, first)
    finally:
        server.close()


@pytest.mark.parametrize(
    ("config", "reason"),
    [
        (ServerConfig("/no/such/program"), "no program '/no/such/program'"),
        (hostile("exit"), "exited (status 3)"),
        (hostile("hang"), "did not start within 1 s"),
        (hostile("garbage"), "not JSON-RPC"),
        (hostile("flood"), "over 1048576 bytes"),
    ],
)
def test_a_server_that_does_not_start_is_reported_in_time(
    config: ServerConfig, reason: str
) -> None:
    server = make(config, start_timeout_s=1.0)
    try:
        start = time.monotonic()
        with pytest.raises(ToolServerError, match=re.escape(reason)):
            server.start()
        assert time.monotonic() - start < 4.0
        assert server.pid is None
    finally:
        server.close()


def test_close_kills_the_whole_process_group(tmp_path: Path) -> None:
    pid_file = tmp_path / "grandchild"
    server = make(hostile("spawn", HOSTILE_PID_FILE=str(pid_file)))
    server.start()
    leader = server.pid
    grandchild = int(pid_file.read_text())
    assert leader is not None and not gone(grandchild)
    server.close()
    server.close()  # idempotent
    deadline = time.monotonic() + 3
    while not (gone(leader) and gone(grandchild)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert gone(leader) and gone(grandchild)


def test_an_unclosed_server_dies_with_its_owner() -> None:
    server = make(hostile())
    server.start()
    pid = server.pid
    assert pid is not None
    del server  # collected: its finalizer kills the server and stops the loop
    deadline = time.monotonic() + 3
    while not gone(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert gone(pid)


def test_a_copy_starts_its_own_server() -> None:
    server = make(hostile())
    try:
        server.start()
        for clone in (pickle.loads(pickle.dumps(server)), copy.deepcopy(server)):
            try:
                assert clone.pid is None
                assert clone.call("echo", {"text": "x"}).text == "x"
                assert clone.pid != server.pid
            finally:
                clone.close()
        assert server.running
    finally:
        server.close()
