"""The sandbox: limits, isolation between snippets, recovery, copies."""

import copy
import os
import pickle
import signal
import time

import numpy as np
import pytest

from palaestra.errors import InvalidArgumentError
from palaestra.sandbox import Sandbox, SandboxLimits, shared_sandbox
from tests.sandbox.conftest import OS_GLOBALS


@pytest.fixture(scope="module")
def sandbox() -> Sandbox:
    with Sandbox(limits=SandboxLimits(cpu_seconds=1, wall_seconds=3, memory_mb=768)) as box:
        yield box


def test_runs_code_and_captures_output(sandbox: Sandbox) -> None:
    result = sandbox.run("import math\nprint(math.factorial(10))")
    assert result.ok and result.output == "3628800\n" and result.error is None


def test_exceptions_are_reported(sandbox: Sandbox) -> None:
    result = sandbox.run("print('before')\n1/0")
    assert result.status == "error" and result.output == "before\n"
    assert result.error == "ZeroDivisionError: division by zero"


def test_no_state_survives_between_snippets(sandbox: Sandbox) -> None:
    sandbox.run("import math\nmath.pi = 3\nsecret = 42")
    result = sandbox.run("import math\nprint(math.pi)\nprint('secret' in globals())")
    assert result.output == "3.141592653589793\nFalse\n"


def test_random_is_seeded(sandbox: Sandbox) -> None:
    code = "import random, numpy\nprint(random.random(), numpy.random.rand())"
    assert sandbox.run(code, seed=3).output == sandbox.run(code, seed=3).output
    assert sandbox.run(code, seed=3).output != sandbox.run(code, seed=4).output


def test_wall_clock_limit_kills_a_blocked_snippet(sandbox: Sandbox) -> None:
    # Blocking in C without using CPU: only the wall-clock limit can end it.
    code = (
        "g = [c for c in ().__class__.__base__.__subclasses__() if c.__name__ == '_wrap_close']"
        "[0].__init__.__globals__\nr, w = g['pipe']()\ng['read'](r, 1)"
    )
    result = sandbox.run(code)
    assert result.status == "timeout" and "wall-clock" in (result.error or "")


def test_swallowing_the_cpu_limit_does_not_help(sandbox: Sandbox) -> None:
    code = "while True:\n    try:\n        while True: pass\n    except BaseException: pass"
    assert sandbox.run(code).status == "timeout"


@pytest.mark.parametrize(
    "code",
    [
        "import ctypes",
        "g = [c for c in ().__class__.__base__.__subclasses__() if c.__name__ == '_wrap_close']"
        "[0].__init__.__globals__\nprint(g['listdir']('/'))",
        "g = [c for c in ().__class__.__base__.__subclasses__() if c.__name__ == '_wrap_close']"
        "[0].__init__.__globals__\nb = g['__builtins__']\nb['__import__']('ctypes').CDLL(None)",
        "f = lambda: 1\nf.__code__ = (lambda: 2).__code__",
        "__builtins__['__import__']('socket')",
    ],
    ids=["ctypes", "listdir", "dlopen", "code-patch", "socket"],
)
def test_escapes_are_refused(sandbox: Sandbox, code: str) -> None:
    result = sandbox.run(code)
    assert result.status == "error"
    assert "not allowed" in (result.error or "")


def test_worker_restarts_after_being_killed(sandbox: Sandbox) -> None:
    sandbox.run("pass")
    pid = sandbox.worker_pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    while sandbox.worker_pid is not None:
        time.sleep(0.01)
    assert sandbox.run("print(1)").output == "1\n"


def test_copies_get_their_own_worker(sandbox: Sandbox) -> None:
    for clone in (copy.deepcopy(sandbox), pickle.loads(pickle.dumps(sandbox))):
        assert clone.limits == sandbox.limits and clone.worker_pid is None
        assert clone.run("print(2)").output == "2\n"
        clone.close()


def test_shared_sandbox_is_per_settings() -> None:
    a = shared_sandbox()
    assert shared_sandbox() is a
    assert shared_sandbox(limits=SandboxLimits(cpu_seconds=0.5)) is not a


def test_limits_are_validated() -> None:
    with pytest.raises(InvalidArgumentError, match="cpu_seconds must be a number in"):
        SandboxLimits(cpu_seconds=0)


def test_arguments_are_checked_before_anything_runs(sandbox: Sandbox) -> None:
    with pytest.raises(InvalidArgumentError, match="code must be a string"):
        sandbox.run(b"print(1)")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="seed must be an integer"):
        sandbox.run("print(1)", seed=1.5)  # type: ignore[arg-type]
    assert sandbox.run("import random\nprint(random.random())", seed=np.int64(3)).ok
    with pytest.raises(InvalidArgumentError, match="wall_seconds"):
        SandboxLimits(wall_seconds=10**9)


def test_an_interrupted_run_leaves_no_report_for_the_next(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Ctrl-C (or a caller's own timeout) half-way through a run: the worker's report of
    # it must not be taken for the next run's.
    import palaestra.sandbox as module

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(module, "write_frame", interrupted)
        with pytest.raises(KeyboardInterrupt):
            sandbox.run("print(1)")
    slow = sandbox.run("g = " + OS_GLOBALS + "\nr, w = g['pipe']()\ng['read'](r, 1)")
    assert slow.status == "timeout" and "wall-clock" in (slow.error or "")
    assert sandbox.run("print(2)").output == "2\n"


def test_wide_characters_fill_the_output_limit_not_a_crash() -> None:
    with Sandbox(limits=SandboxLimits(max_output_chars=20_000)) as box:
        result = box.run("print('\\U0001F600' * 20_000)")
    assert result.ok and result.truncated and result.output == "\U0001f600" * 20_000
