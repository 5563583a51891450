"""A child process: its handshake, its frames, its deadlines, and the kill of its whole group."""

from __future__ import annotations

import json
import os
import struct
import sys
import time
from typing import Any

import pytest

from palaestra.processes import Child, FrameReader, ProtocolError, encode, write_frame
from tests.processes.helpers import gone, running

# What a test child runs first: the wire format spelled out on its own, so that these tests
# pin the format rather than trust the module under test to agree with itself.
PRELUDE = """
import json, os, struct, subprocess, sys, time
def frame(message):
    payload = json.dumps(message).encode()
    return struct.pack('>I', len(payload)) + payload
def send(message):
    os.write(1, frame(message))
def take(size):
    data = b''
    while len(data) < size:
        data += os.read(0, size - len(data))
    return data
def read():
    return json.loads(take(struct.unpack('>I', take(4))[0]))
"""
READY = "send({'ready': True})\n"


def start(script: str, **options: Any) -> Child:
    return Child([sys.executable, "-c", PRELUDE + script], **options)


def test_a_round_trip_after_the_handshake() -> None:
    child = start(READY + "while True:\n    send({'echo': read()})")
    try:
        child.wait_ready(30)
        assert child.ready
        for i in range(3):
            child.send({"i": i, "text": "é" * i}, 5)
            assert child.receive(5) == {"echo": {"i": i, "text": "é" * i}}
    finally:
        child.kill()
    assert not child.alive()


def test_receive_waits_for_the_handshake_and_takes_frames_one_at_a_time() -> None:
    child = start("os.write(1, frame({'ready': True}) + frame({'a': 1}) + frame({'b': 2}))")
    try:
        assert child.receive(30) == {"a": 1}
        assert child.ready
        assert child.receive(10) == {"b": 2}
        assert child.receive(10) is None  # the end
    finally:
        child.kill()


def test_a_large_frame_both_ways() -> None:
    child = start(READY + "send({'echo': read()})", max_frame_bytes=4 << 20)
    try:
        child.send({"x": "y" * (3 << 20)}, 30)  # far past a pipe's buffer
        assert child.receive(30) == {"echo": {"x": "y" * (3 << 20)}}
    finally:
        child.kill()


def test_a_child_that_never_becomes_ready_is_killed_at_the_deadline() -> None:
    child = start("time.sleep(60)")
    start_time = time.monotonic()
    with pytest.raises(TimeoutError):
        child.wait_ready(0.5)
    assert time.monotonic() - start_time < 5
    assert not child.ready and gone(child.pid)


@pytest.mark.parametrize(
    ("script", "said"),
    [("sys.exit(3)", "ended"), ("send({'result': 1})", "answered something else")],
    ids=["exits", "speaks-first"],
)
def test_a_child_without_a_handshake_is_a_protocol_error(script: str, said: str) -> None:
    child = start(script + "\ntime.sleep(60)")
    with pytest.raises(ProtocolError, match=f"the process {said} before it was ready"):
        child.receive(30)
    assert gone(child.pid)


def test_a_missed_deadline_kills_the_whole_process_tree() -> None:
    script = READY + (
        "grandchild = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        "send({'grandchild': grandchild.pid})\n"
        "read()\n"
        "time.sleep(60)\n"
    )
    child = start(script)
    message = child.receive(30)
    assert message is not None
    grandchild = message["grandchild"]
    assert running(child.pid) and running(grandchild)
    child.send({"question": 1}, 5)
    start_time = time.monotonic()
    with pytest.raises(TimeoutError):
        child.receive(0.5)
    assert time.monotonic() - start_time < 5
    assert gone(child.pid) and gone(grandchild)


def test_kill_takes_the_whole_process_tree() -> None:
    script = READY + (
        "grandchild = subprocess.Popen(['sleep', '60'])\n"
        "send({'grandchild': grandchild.pid})\n"
        "time.sleep(60)\n"
    )
    child = start(script)
    message = child.receive(30)
    assert message is not None
    child.kill()
    assert gone(child.pid) and gone(message["grandchild"])
    assert child.receive(1) is None  # its output ended with it
    with pytest.raises(BrokenPipeError):
        child.send({"late": True}, 1)


def test_a_child_that_dies_mid_message_ends_its_stream() -> None:
    # Half a frame, then death: the half is dropped, and nothing waits for the rest.
    child = start(READY + "os.write(1, struct.pack('>I', 100) + b'{\"partial\": ')\nos._exit(1)")
    start_time = time.monotonic()
    assert child.receive(30) is None
    assert time.monotonic() - start_time < 10
    child.kill()
    assert child.process.returncode == 1


def framed(payload: str) -> str:
    """A script line that writes the bytes ``payload`` (an expression) as one frame."""
    return f"payload = {payload}\nos.write(1, struct.pack('>I', len(payload)) + payload)"


@pytest.mark.parametrize(
    ("script", "answered"),
    [
        # Its first bytes read as a length, far over the cap.
        ("os.write(1, b'not a frame at all\\n')", "too much"),
        # Over the cap: refused before the frame comes.
        ("os.write(1, struct.pack('>I', (1 << 20) + 1))", "too much"),
        (framed("b'not json'"), "garbage"),
        (framed("b'[' * 200_000"), "garbage"),  # nested past the parser's depth
        (framed("b'[1, 2]'"), "garbage"),  # JSON, but not an object
        (framed('b\'{"a": "\\xff\\xfe"}\''), "garbage"),  # not UTF-8
        (framed("b''"), "garbage"),
    ],
    ids=["not-a-frame", "oversized", "not-json", "nested", "not-an-object", "not-utf8", "empty"],
)
def test_garbage_or_an_oversized_frame_is_a_protocol_error(script: str, answered: str) -> None:
    child = start(READY + script + "\ntime.sleep(60)")
    start_time = time.monotonic()
    with pytest.raises(ProtocolError, match=f"the process answered {answered}"):
        child.receive(30)
    assert time.monotonic() - start_time < 10  # refused as it came, not at the deadline
    assert gone(child.pid)


def test_a_slow_drip_times_out() -> None:
    script = READY + "os.write(1, struct.pack('>I', 100))\n"
    child = start(script + "for _ in range(100):\n    os.write(1, b' ')\n    time.sleep(0.1)")
    child.wait_ready(30)
    start_time = time.monotonic()
    with pytest.raises(TimeoutError):
        child.receive(1.0)
    assert time.monotonic() - start_time < 2.0
    assert gone(child.pid)


def test_a_child_that_reads_nothing_misses_the_send_deadline() -> None:
    child = start(READY + "time.sleep(60)")
    child.wait_ready(30)
    start_time = time.monotonic()
    with pytest.raises(TimeoutError):
        child.send({"x": "y" * (1 << 20)}, 0.5)  # more than the pipe holds
    assert time.monotonic() - start_time < 5
    assert gone(child.pid)


def test_the_environment_and_working_directory_are_the_callers_choice() -> None:
    script = READY + "send({'cwd': os.getcwd(), 'env': os.environ.get('PROBE')})\nread()"
    child = start(script, env={"PROBE": "here", "PATH": os.environ.get("PATH", "")}, cwd="/")
    try:
        assert child.receive(30) == {"cwd": "/", "env": "here"}
    finally:
        child.kill()


def test_a_frame_half_read_at_the_deadline_is_finished_by_the_next_read() -> None:
    read_end, write_end = os.pipe()
    try:
        reader = FrameReader(read_end)
        data = encode({"a": 1, "b": "two"})
        os.write(write_end, data[:6])
        with pytest.raises(TimeoutError):
            reader.receive(0.1)
        os.write(write_end, data[6:] + encode({"c": 3}))
        assert reader.receive(1) == {"a": 1, "b": "two"}
        assert reader.receive(1) == {"c": 3}
    finally:
        os.close(read_end)
        os.close(write_end)


def test_the_wire_format_is_a_length_and_json() -> None:
    assert encode({"ready": True}) == struct.pack(">I", 15) + json.dumps({"ready": True}).encode()
    read_end, write_end = os.pipe()
    try:
        write_frame(write_end, {"x": [1, 2]}, 1)
        os.close(write_end)
        write_end = -1
        reader = FrameReader(read_end)
        assert reader.receive(1) == {"x": [1, 2]}
        assert reader.receive(1) is None
    finally:
        os.close(read_end)
        if write_end >= 0:
            os.close(write_end)


def test_a_full_pipe_misses_the_write_deadline() -> None:
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    try:
        with pytest.raises(TimeoutError):
            write_frame(write_end, {"x": "y" * (1 << 20)}, 0.2)
    finally:
        os.close(read_end)
        os.close(write_end)


def test_kill_takes_what_a_dead_leader_started() -> None:
    # The child starts a helper and ends; once it is reaped (by a liveness check), a kill
    # still takes the helper, which lives on in the child's group.
    script = READY + (
        "helper = subprocess.Popen(['sleep', '60'])\nsend({'helper': helper.pid})\nos._exit(0)\n"
    )
    child = start(script)
    message = child.receive(30)
    assert message is not None
    deadline = time.monotonic() + 10
    while child.alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not child.alive() and running(message["helper"])
    child.kill()
    assert gone(message["helper"])


def test_a_lone_surrogate_arrives_as_a_replacement_character() -> None:
    # Valid JSON, but a string no encoder takes: whatever reads the output next (a
    # tokenizer, a UTF-8 log) would crash on it.
    child = start(
        READY
        + r"""send({'out': 'a\ud800b', 'pair': '\U0001f600', 'k\udfff': ['\udc00']})
time.sleep(30)
"""
    )
    message = child.receive(30)
    child.kill()
    assert message == {"out": "a\ufffdb", "pair": "\U0001f600", "k\ufffd": ["\ufffd"]}
    assert json.dumps(message, ensure_ascii=False).encode()  # encodable now
