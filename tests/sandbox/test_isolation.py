"""The OS boundary is there, or untrusted code runs only by the user's explicit choice."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import gymnasium as gym
import pytest

import palaestra.sandbox as sandbox_module
from palaestra.agents.synthesis import evaluate_policy, social_game
from palaestra.agents.synthesis.loop import synthesize
from palaestra.cli import main
from palaestra.errors import InvalidArgumentError, SandboxUnavailableError
from palaestra.sandbox import Sandbox, isolation
from palaestra.sandbox.isolation import Isolation, UnsafeSandboxWarning
from palaestra.sandbox.policy import PolicyWorker
from tests.sandbox.conftest import ROOT, run_unprivileged

STAY = "def policy(obs):\n    return 'stay'"
MISSING = Isolation(("bubblewrap (bwrap is not on PATH)",))


def test_this_machine_has_the_boundary() -> None:
    assert isolation.report() == Isolation(())


def test_a_machine_without_bwrap_says_so() -> None:
    script = "from palaestra.sandbox import isolation\nprint(isolation.report().missing)"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env={**os.environ, "PATH": "/nonexistent"}, cwd=ROOT)  # fmt: skip
    assert done.stdout.strip() == "('bubblewrap (bwrap is not on PATH)',)", done.stderr


def test_a_missing_seccomp_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    from palaestra.sandbox import seccomp

    monkeypatch.setattr(seccomp, "available", lambda: "libseccomp through pyseccomp (x)")
    isolation.report.cache_clear()
    try:
        assert isolation.report().missing == ("libseccomp through pyseccomp (x)",)
    finally:
        isolation.report.cache_clear()


@pytest.fixture
def no_boundary(monkeypatch: pytest.MonkeyPatch) -> None:
    """A machine where the boundary cannot be built, and no opt-in in the environment."""
    monkeypatch.setattr(isolation, "report", lambda: MISSING)
    monkeypatch.delenv(isolation.UNSAFE_VARIABLE, raising=False)


@pytest.mark.usefixtures("no_boundary")
@pytest.mark.parametrize(
    "start",
    [
        lambda: Sandbox(),
        lambda: PolicyWorker(STAY),
        lambda: gym.make("palaestra/MathTool-v0"),
        lambda: evaluate_policy(STAY, social_game("palaestra/Gathering-v0")),
        lambda: synthesize(_never_called(), "palaestra/Gathering-v0", progress=False),
    ],
    ids=["sandbox", "policy-worker", "math-tool", "evaluate-policy", "synthesize"],
)
def test_no_untrusted_code_runs_without_the_boundary_or_an_opt_in(start: object) -> None:
    with pytest.raises(SandboxUnavailableError) as raised:
        start()  # type: ignore[operator]
    message = str(raised.value)
    assert "bwrap is not on PATH" in message and "unsafe_sandbox=True" in message


def _never_called() -> object:
    class Writer:
        def write(self, prompt: str) -> str:
            raise AssertionError("the writer was asked before the sandbox was checked")

    return Writer()


@pytest.mark.usefixtures("no_boundary")
def test_the_opt_in_runs_with_a_warning_naming_what_is_missing() -> None:
    isolation._warn_once.cache_clear()
    with pytest.warns(UnsafeSandboxWarning, match="bwrap is not on PATH"):
        box = Sandbox(unsafe_sandbox=True)
    with box:
        assert box.run("print(6 * 7)").output == "42\n"
        # Without the OS boundary the Python layer still stands.
        assert "not allowed" in (box.run("import os").error or "")
    with pytest.raises(InvalidArgumentError, match="needs the OS sandbox"):
        Sandbox(unsafe_sandbox=True, python_layer=False)


@pytest.mark.usefixtures("no_boundary")
def test_the_environment_variable_is_the_same_opt_in(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(isolation.UNSAFE_VARIABLE, "1")
    shared: dict[object, Sandbox] = {}  # this test's shared sandboxes, not the process's
    monkeypatch.setattr(sandbox_module, "_shared", shared)
    isolation._warn_once.cache_clear()
    with pytest.warns(UnsafeSandboxWarning, match="MathTool-v0 runs untrusted code WITHOUT"):
        env = gym.make("palaestra/MathTool-v0")
    env.reset(seed=0)
    with pytest.warns(UnsafeSandboxWarning, match="Python sandbox runs untrusted code"):
        observation, *_ = env.step("<python>\nprint(6 * 7)\n</python>")
    assert "42" in observation
    env.close()
    for box in shared.values():
        box.close()
    # An explicit False wins over the variable.
    with pytest.raises(SandboxUnavailableError):
        Sandbox(unsafe_sandbox=False)


def test_the_command_line_flag_sets_the_opt_in(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(isolation.UNSAFE_VARIABLE, raising=False)
    assert main(["--unsafe-sandbox", "envs"]) == 0
    assert os.environ[isolation.UNSAFE_VARIABLE] == "1"


def test_an_unopted_machine_fails_the_command_line_with_the_reason() -> None:
    script = textwrap.dedent(
        """
        from palaestra.cli import main
        raise SystemExit(main(["synthesize", "palaestra/Gathering-v0", "--iterations", "1",
                               "--no-progress", "--out", "/tmp/palaestra-no-sandbox"]))
        """
    )
    env = {k: v for k, v in os.environ.items() if k != isolation.UNSAFE_VARIABLE}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env={**env, "PATH": "/nonexistent"}, cwd=ROOT)  # fmt: skip
    assert done.returncode == 2
    assert "cannot isolate it" in " ".join(done.stdout.split())


def test_a_root_host_runs_the_sandbox_as_nobody_where_nobody_can_read_it() -> None:
    # Here /root is 0700, so the sandbox of a root host maps onto root (no capabilities);
    # with /root traversable, as on a system Python, it maps onto nobody.
    script = textwrap.dedent(
        """
        import os
        from pathlib import Path
        from palaestra.sandbox import Sandbox
        with Sandbox() as box:
            box.run("pass")
            pid = box.worker_pid
            inner = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()[0]
            status = Path(f"/proc/{inner}/status").read_text()
            uid = next(line.split()[1] for line in status.splitlines()
                       if line.startswith("Uid:"))
            print(os.getuid(), uid, box.run("print(6 * 7)").output.strip())
        """
    )
    done = run_unprivileged(script, drop=False)
    assert done.returncode == 0, done.stderr[-2000:]
    host, sandbox, answer = done.stdout.split()
    assert answer == "42"
    me = str(os.getuid())
    assert (host, sandbox) == (me, "65534" if me == "0" else me)


def test_who_can_read_what_is_bound() -> None:
    tmp_path = Path(tempfile.mkdtemp())  # pytest's own folder is not open to others
    inside = tmp_path / "open" / "lib"
    inside.mkdir(parents=True)
    (inside / "module.py").write_text("")
    for folder in (tmp_path, tmp_path / "open", inside):
        folder.chmod(0o755)
    (inside / "module.py").chmod(0o644)
    assert isolation._readable_by_others(inside / "module.py")
    tmp_path.chmod(0o700)
    try:
        assert not isolation._readable_by_others(inside / "module.py")
        command = ["bwrap", "--ro-bind", str(inside), str(inside), "--", "python"]
        assert isolation.host_user(command) is None
    finally:
        shutil.rmtree(tmp_path)
    if os.getuid() == 0:
        assert isolation.host_user(["bwrap", "--ro-bind", "/usr/lib", "/usr/lib"]) == 65534
