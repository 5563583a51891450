"""Policy processes: one sandboxed process per policy and episode, called every step."""

from __future__ import annotations

import os
import time

import pytest

from palaestra.errors import InvalidArgumentError
from palaestra.processes import FrameReader
from palaestra.sandbox.policy import PolicyLimits, PolicyWorker

FAST = PolicyLimits(call_cpu_seconds=0.2, call_wall_seconds=1.0, episode_wall_seconds=5.0)
OBS = {"step": 0, "actions": ["stay", "forward"]}
SUBCLASSES = "().__class__.__base__.__subclasses__()"
OS_GLOBALS = f"[c for c in {SUBCLASSES} if c.__name__ == '_wrap_close'][0].__init__.__globals__"
#: A statement that writes the bytes of an expression as one frame to stdout.
FRAME = "p = {}; sys.stdout.buffer.write(struct.pack('>I', len(p)) + p)"


def run(
    code: str, calls: int = 2, limits: PolicyLimits = FAST
) -> list[tuple[str | None, str | None, str]]:
    with PolicyWorker(code, limits=limits) as process:
        process.start_episode(0)
        return [(o.action, o.failure, o.error) for o in (process.act(OBS) for _ in range(calls))]


def test_a_policy_keeps_its_state_across_calls() -> None:
    code = (
        "calls = 0\ndef policy(obs):\n    global calls\n    calls += 1\n"
        "    return 'forward' if calls > 1 else 'stay'"
    )
    assert [a for a, _, _ in run(code, 3)] == ["stay", "forward", "forward"]


def test_the_observation_is_a_copy() -> None:
    code = "def policy(obs):\n    obs['actions'].clear()\n    return 'stay'"
    observation = {"actions": ["stay"]}
    with PolicyWorker(code, limits=FAST) as process:
        process.start_episode(0)
        assert process.act(observation).action == "stay"
    assert observation == {"actions": ["stay"]}


def test_random_is_seeded_per_process() -> None:
    code = "import random\ndef policy(obs):\n    return str(random.random())"

    def first(seed: int) -> str | None:
        with PolicyWorker(code, limits=FAST) as process:
            process.start_episode(seed)
            return process.act(OBS).action

    assert first(1) == first(1) != first(2)


@pytest.mark.parametrize(
    ("code", "failure", "message"),
    [
        ("def policy(obs):\n    return 1 / 0", "error", "ZeroDivisionError"),
        ("def policy(obs):\n    return None", "invalid", "returned NoneType"),
        ("def policy(obs):\n    while True:\n        pass", "timeout", "CPU time"),
        ("def policy(obs):\n    x = bytearray(4 << 30)\n    return 'stay'", "memory", "memory"),
        ("def policy(obs):\n    raise SystemExit(0)", "error", "SystemExit"),
        ("import os\ndef policy(obs):\n    return 'stay'", "load", "'os' is not allowed"),
        ("x = 1", "load", "no function policy"),
        ("def policy(obs):\n    return (", "load", "SyntaxError"),
    ],
    ids=["raise", "none", "loop", "memory", "exit", "import", "no-policy", "syntax"],
)
def test_failures_are_reported_not_raised(code: str, failure: str, message: str) -> None:
    outcomes = run(code)
    assert all(f == failure and message in e for _, f, e in outcomes), outcomes


def test_swallowing_the_cpu_timer_gets_the_process_killed() -> None:
    code = (
        "def policy(obs):\n    while True:\n        try:\n            while True: pass\n"
        "        except BaseException: pass"
    )
    start = time.monotonic()
    outcomes = run(code, 3)
    assert time.monotonic() - start < 5
    # The CPU timer fires once per call; a policy that swallows it runs into the
    # wall-clock limit and its process is killed. Either way: timeouts, quickly.
    assert all(f == "timeout" for _, f, _ in outcomes)


def test_the_episode_time_budget_holds() -> None:
    code = (
        "def policy(obs):\n    x = 0\n    for _ in range(10**6):\n        x += 1\n    return 'stay'"
    )
    limits = PolicyLimits(call_cpu_seconds=5, call_wall_seconds=5, episode_wall_seconds=0.3)
    outcomes = run(code, 20, limits)
    assert outcomes[-1][1] == "timeout" and "spent" in outcomes[-1][2]


def test_the_episode_cpu_limit_kills_the_process() -> None:
    code = (
        "def policy(obs):\n    x = 0\n    for _ in range(40_000_000):\n        x += 1\n"
        "    return 'stay'"
    )
    limits = PolicyLimits(call_cpu_seconds=5, call_wall_seconds=10, episode_cpu_seconds=1,
                          episode_wall_seconds=30)  # fmt: skip
    # 12 calls of 4·10^7 additions are several CPU-seconds on any machine, far past the
    # episode's hard limit (1 s, plus 1): the kill cannot depend on the machine's speed.
    outcomes = run(code, 12, limits)
    assert outcomes[-1][1] == "crashed" and "CPU time limit" in outcomes[-1][2]


def test_limits_are_validated() -> None:
    for wrong in (0, float("nan"), float("inf"), 1e12):
        with pytest.raises(InvalidArgumentError, match="call_wall_seconds"):
            PolicyLimits(call_wall_seconds=wrong)


@pytest.mark.parametrize(
    ("answer", "failure"),
    [
        (FRAME.format("b'x' * (2 << 20)"), "crashed"),  # a 2 MB frame: over the size limit
        (FRAME.format("b'[' * 200_000"), "crashed"),  # nested past the JSON parser's depth
        (FRAME.format("b'not json'"), "crashed"),
        (FRAME.format("b'[1, 2]'"), "crashed"),  # JSON, but not an object
        (FRAME.format("b'\\xff\\xfe'"), "crashed"),  # not UTF-8
        ("print('not a frame')", "crashed"),
    ],
)
def test_what_the_child_answers_never_raises_in_the_host(answer: str, failure: str) -> None:
    # The host's reading of replies is the limit: a child made to answer anything (the
    # policy took over its process) gives a failed call, never an exception in the host.
    import subprocess
    import sys

    script = f"import struct, sys; {answer}; sys.stdout.flush()"
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
    assert child.stdout is not None
    worker = PolicyWorker("def policy(obs):\n    return 'stay'\n")
    worker._requests = os.open(os.devnull, os.O_WRONLY | os.O_NONBLOCK)
    worker._replies = FrameReader(os.dup(child.stdout.fileno()))
    try:
        outcome = worker.act({"step": 0})
    finally:
        worker.close()
        child.kill()
        child.wait()
        child.stdout.close()
    assert outcome.action is None and outcome.failure == failure, outcome


def test_a_program_that_blocks_while_loading_costs_the_load_limit_once() -> None:
    # Its top level blocks without using CPU: only the wall-clock limit ends it, and the
    # players' limits run side by side, not one after the other.
    code = (
        "import random\nr, w = random._os.pipe()\nrandom._os.read(r, 1)\n"
        "def policy(obs):\n    return 'stay'"
    )
    limits = PolicyLimits(load_wall_seconds=2.0)
    workers = [PolicyWorker(code, limits=limits) for _ in range(2)]
    start = time.monotonic()
    try:
        for worker in workers:
            worker.begin_episode(0)
        outcomes = [worker.episode_ready() for worker in workers]
    finally:
        for worker in workers:
            worker.close()
    assert all(o is not None and o.failure == "timeout" for o in outcomes)
    assert time.monotonic() - start < 2.0 * 1.5 + 2  # not one limit per player


def test_a_child_that_closes_its_replies_and_sleeps_costs_about_the_call_limit() -> None:
    # Its replies end, but it lives on: the worker is told to end the episode.
    code = "import os, time\ndef policy(obs):\n    os.closerange(3, 64)\n    time.sleep(1000)"
    with PolicyWorker(code, limits=FAST, python_layer=False) as worker:
        worker.start_episode(0)
        start = time.monotonic()
        outcome = worker.act({"step": 0})
        assert time.monotonic() - start < FAST.call_wall_seconds + 3.0
    assert outcome.failure == "crashed" and "stopped answering" in outcome.error


def test_an_episode_begun_and_never_awaited_does_not_leak_into_the_next() -> None:
    worker = PolicyWorker("def policy(obs):\n    return 'stay'", limits=FAST)
    try:
        worker.begin_episode(1)
        worker.end_episode()
        assert worker.start_episode(2) is None
        assert worker.act({"step": 0}).action == "stay"
    finally:
        worker.close()


def test_a_slow_player_does_not_time_out_the_one_that_answered() -> None:
    slow = PolicyWorker("import time\ndef policy(obs):\n    time.sleep(30)",
                        limits=FAST, python_layer=False)  # fmt: skip
    quick = PolicyWorker("def policy(obs):\n    return 'stay'", limits=FAST)
    try:
        for worker in (slow, quick):
            worker.start_episode(0)
        for worker in (slow, quick):
            worker.send({"step": 0})
        assert slow.receive().failure == "timeout"
        # Its answer came long ago, while the host waited on the slow one.
        assert quick.receive().action == "stay"
    finally:
        slow.close()
        quick.close()


@pytest.mark.parametrize(
    "code", ["x = " + "-" * 100_000 + "1", "+".join(["1"] * 200_000)], ids=["deep", "long"]
)
def test_code_the_compiler_cannot_take_is_a_load_failure(code: str) -> None:
    start = time.monotonic()
    with PolicyWorker(code, limits=FAST) as worker:
        failure = worker.start_episode(0)
    assert failure is not None and failure.failure == "load"
    assert time.monotonic() - start < 10


def test_an_interrupted_call_leaves_the_next_its_own_answer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    code = "calls = 0\ndef policy(obs):\n    return str(obs['i'])"
    with PolicyWorker(code, limits=FAST) as worker:
        worker.start_episode(0)
        with monkeypatch.context() as patch:
            patch.setattr(FrameReader, "receive", _interrupt)
            with pytest.raises(KeyboardInterrupt):
                worker.act({"i": 0})
        worker.start_episode(1)
        assert [worker.act({"i": i}).action for i in (1, 2)] == ["1", "2"]


def _interrupt(*args: object) -> None:
    raise KeyboardInterrupt
