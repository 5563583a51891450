"""ToolServer: any MCP server driven from sync code, every failure bounded and reported."""

import copy
import gc
import os
import pickle
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from palaestra.envs.mcp.client import ToolCallRefused, ToolServer, ToolServerError, UnsendableCall
from palaestra.envs.mcp.config import ServerConfig
from tests.envs.mcp.helpers import HOSTILE, gone, hostile


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
        ("invalid", "the MCP server's answer is not valid MCP (content: "),
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


@pytest.mark.parametrize("mode", ["redos", "expo"])
def test_an_output_schema_is_never_run_so_a_call_keeps_its_deadline(mode: str) -> None:
    # jsonschema would take minutes on either, holding the GIL past any deadline.
    server = make(hostile(mode))
    try:
        server.start()
        for _ in range(2):
            start = time.monotonic()
            assert server.call("echo", {"text": "x"}).text == "x"
            assert time.monotonic() - start < 1.0
        assert server.running
    finally:
        start = time.monotonic()
        server.close()
        assert time.monotonic() - start < 1.0


def test_a_loop_held_past_a_call_is_left_behind_and_the_next_call_gets_a_new_one() -> None:
    # Something (once: a schema check) holds the loop's thread: the call times out, and the
    # next call must not queue behind it and be misreported as a server that did not start.
    server = make(hostile(), call_timeout_s=0.5)
    try:
        server.start()
        first = server.pid
        loop = server._loop
        assert loop is not None and first is not None
        loop.call_soon_threadsafe(time.sleep, 6.0)
        start = time.monotonic()
        with pytest.raises(ToolServerError, match=r"did not answer within 0\.5 s"):
            server.call("echo", {"text": "x"})
        assert time.monotonic() - start < 4.0 and gone(first)
        assert server._loop is not loop
        assert server.call("echo", {"text": "back"}).text == "back"
    finally:
        start = time.monotonic()
        server.close()
        assert time.monotonic() - start < 1.0


@pytest.mark.parametrize("mode", ["redos", "ok"])
def test_close_right_after_a_timeout_is_prompt(mode: str) -> None:
    server = make(hostile(mode), call_timeout_s=0.5)
    server.start()
    with pytest.raises(ToolServerError, match="did not answer"):
        server.call("hang", {})
    start = time.monotonic()
    server.close()
    assert time.monotonic() - start < 1.0


def test_a_call_that_cannot_be_written_sends_nothing() -> None:
    server = make(hostile())
    try:
        deep: object = "x"
        for _ in range(300):  # past pydantic's serialization depth
            deep = [deep]
        with pytest.raises(UnsendableCall, match="cannot be written as an MCP request"):
            server.call("echo", {"text": deep})
        assert server.pid is None  # not even started for it
        server.start()
        pid = server.pid
        with pytest.raises(UnsendableCall):
            server.call("echo", {"text": deep})
        assert server.running and server.pid == pid
    finally:
        server.close()


def test_duplicate_names_across_pages_keep_the_first() -> None:
    server = make(hostile("duplicates"))
    try:
        names = [tool.name for tool in server.start()]
        assert names == [
            "echo", "hang", "crash", "garbage", "flood", "big", "fail", "reject", "invalid"
        ]  # fmt: skip
    finally:
        server.close()


@pytest.mark.parametrize(
    ("config", "reason"),
    [
        (
            ServerConfig(sys.executable, (str(HOSTILE), "ok"), cwd="/no/such/folder"),
            "no folder '/no/such/folder' (the server's cwd)",
        ),
        (hostile("bad_listing"), "the MCP server's answer is not valid MCP (tools.0.name: "),
        (ServerConfig("/etc"), "'/etc' cannot be run (Permission denied)"),
    ],
)
def test_why_a_server_did_not_start_is_said_exactly(config: ServerConfig, reason: str) -> None:
    server = make(config)
    try:
        with pytest.raises(ToolServerError, match=re.escape(reason)):
            server.start()
    finally:
        server.close()


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_an_unclosed_server_leaves_no_file_descriptor() -> None:
    before = open_fds()
    for _ in range(3):
        server = make(hostile())
        server.start()
        pid = server.pid
        assert pid is not None
        del server
        gc.collect()
        deadline = time.monotonic() + 3
        while not gone(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
    deadline = time.monotonic() + 3
    while open_fds() > before and time.monotonic() < deadline:
        time.sleep(0.05)  # the loop's thread closes the loop once it stops
    assert open_fds() <= before


#: Run in a fresh interpreter (a fork of pytest would run pytest's exit hooks): a forked
#: child that exits normally, then one that uses the server, must leave the parent's alone.
FORK_SCRIPT = """
import os, sys
from palaestra.envs.mcp.client import ToolServer
from palaestra.envs.mcp.config import ServerConfig
server = ToolServer(ServerConfig(sys.executable, (sys.argv[1], "ok")), start_timeout_s=5.0,
                    call_timeout_s=2.0, max_output_chars=100, max_message_bytes=1 << 20)
server.start()
parent = server.pid
child = os.fork()
if child == 0:
    sys.exit(0)  # atexit: its copy of the finalizer
os.waitpid(child, 0)
print("after exit", server.running, server.pid == parent)
read, write = os.pipe()
child = os.fork()
if child == 0:
    line = f"{server.running} {server.call('echo', {'text': 'child'}).text} {server.pid != parent}"
    server.close()
    os.write(write, line.encode())
    os._exit(0)
os.waitpid(child, 0)
print("child", os.read(read, 100).decode())
print("after use", server.running, server.pid == parent, server.call("echo", {"text": "p"}).text)
server.close()
"""


def test_a_fork_never_touches_the_parents_server() -> None:
    out = subprocess.run(
        [sys.executable, "-c", FORK_SCRIPT, str(HOSTILE)],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert out.stdout.splitlines() == [
        "after exit True True",
        "child False child True",
        "after use True True p",
    ], out.stderr
