"""Attacks on the sandboxes, each from a review of the Python-only sandbox.

After every attack: the host is alive, no process of the sandbox remains, and a normal
snippet or the reference policy still gives exactly its usual result. Attacks that need
the whole interpreter run with ``python_layer=False``: the code then holds what an escape
from the Python layer (a rewritten guard, raw memory through numpy) would give, and only
the OS boundary stands.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import textwrap
import time

import gymnasium as gym
import pytest

from palaestra.agents.synthesis import REFERENCE_POLICIES, evaluate_policy, social_game
from palaestra.agents.synthesis.loop import ScriptedWriter, synthesize
from palaestra.envs.math import SAMPLE_DATA
from palaestra.processes import encode
from palaestra.sandbox import Sandbox, SandboxLimits
from palaestra.sandbox.policy import PolicyLimits, PolicyWorker
from tests.sandbox.conftest import (
    OS_GLOBALS,
    ROOT,
    SUBCLASSES,
    gone,
    pid_namespace,
    processes_in,
    run_unprivileged,
)

LIMITS = SandboxLimits(cpu_seconds=1, wall_seconds=3)
GOLD = SAMPLE_DATA / "sample_math.jsonl"
# The worker's own globals, reached through a class it defines.
WORKER_GLOBALS = f"[c for c in {SUBCLASSES} if c.__name__ == '_Child'][0].wait.__globals__"


@pytest.fixture(scope="module")
def bare() -> Sandbox:
    """A sandbox without the Python layer: the OS boundary alone."""
    with Sandbox(limits=LIMITS, python_layer=False) as box:
        yield box


@pytest.fixture(scope="module")
def guarded() -> Sandbox:
    with Sandbox(limits=LIMITS) as box:
        yield box


def assert_intact(box: Sandbox) -> None:
    """A normal snippet gives its usual result, and the worker has no other process."""
    assert box.run("import math\nprint(math.factorial(10))").output == "3628800\n"
    assert len(processes_in(pid_namespace(box.worker_pid))) == 1


# ---------------------------------------------------------------- the Python layer
def test_rewriting_the_guards_globals_does_not_switch_it_off(guarded: Sandbox) -> None:
    code = (
        "__import__.__globals__['_BLOCKED_EVENTS'] = frozenset()\n"
        f"z = {WORKER_GLOBALS}\n"
        "z['_BLOCKED_EVENTS'] = frozenset()\n"
        "z['_PROTECTED_ATTRIBUTES'] = frozenset()\n"
        "z['len'] = lambda *a: 0\n"
        f"g = {OS_GLOBALS}\n"
        "g['execv']('/bin/sh', ['sh', '-c', 'echo escaped'])"
    )
    result = guarded.run(code)
    assert result.status == "error" and "os.exec is not allowed" in (result.error or "")
    assert_intact(guarded)


def test_the_import_function_does_not_expose_the_worker(guarded: Sandbox) -> None:
    result = guarded.run("print(sorted(__import__.__globals__))")
    assert result.output == "['__builtins__']\n"


def test_frames_cannot_be_walked(guarded: Sandbox) -> None:
    # A frame walk reached the child's output buffer and raised its limit.
    code = "try:\n    1 / 0\nexcept ZeroDivisionError as e:\n    e.__traceback__.tb_frame"
    result = guarded.run(code)
    assert result.error == "PermissionError: sandbox: reading tb_frame is not allowed"


def test_raw_memory_switches_the_python_layer_off_and_the_os_boundary_still_holds(
    guarded: Sandbox,
) -> None:
    # numpy's __array_interface__ writes anywhere: here, into the hash table of the very
    # set of events the audit hook refuses. The Python layer is then gone for this child;
    # what it reaches is the OS boundary's.
    code = textwrap.dedent(
        f"""
        import random, numpy as np
        os = random._os
        class Raw:
            def __init__(self, address, size):
                self.__array_interface__ = {{'shape': (size,), 'typestr': '<u8',
                                             'data': (address, False), 'version': 3}}
        def memory(address, size):
            return np.asarray(Raw(address, size))
        blocked = os.sys.modules['__main__']._BLOCKED_EVENTS
        header = memory(id(blocked), 6)
        memory(int(header[5]), 2 * (int(header[4]) + 1))[:] = 0
        header[2] = header[3] = 0
        print(sorted(os.listdir('/')))  # the audit hook refused this before
        for attempt in ("os.open('/etc/passwd', 0)", "os.open({str(GOLD)!r}, 0)",
                        "os.execv('/bin/sh', ['sh'])", "os.kill(1, 9)", "os.fork()",
                        "os.setsid()"):
            try:
                eval(attempt)
                print('ESCAPED', attempt)
            except Exception as error:
                print(type(error).__name__)
        """
    )
    lines = guarded.run(code).output.splitlines()
    assert "etc" in lines[0] and "home" not in lines[0] and "work" not in lines[0]
    assert lines[1:] == ["FileNotFoundError", "FileNotFoundError", "PermissionError",
                         "PermissionError", "PermissionError", "PermissionError"]  # fmt: skip
    assert_intact(guarded)


def test_raw_memory_through_numpy_stays_in_the_child(guarded: Sandbox) -> None:
    raw = (
        "import numpy as np\n"
        "class Raw:\n"
        "    def __init__(self, address, size):\n"
        "        self.__array_interface__ = {'data': (address, False), 'shape': (size,),\n"
        "                                    'typestr': '|u1', 'version': 3}\n"
    )
    # Writing into an immutable bytes object: numpy gives raw memory access the Python
    # layer cannot see.
    written = guarded.run(raw + "b = b'immutable!'\nnp.asarray(Raw(id(b) + 32, 10))[:] = 88\n"
                          "print(b)")  # fmt: skip
    assert written.output == "b'XXXXXXXXXX'\n"
    crashed = guarded.run(raw + "np.asarray(Raw(4096, 8))[:] = 1")
    assert crashed.status == "crashed" and "SIGSEGV" in (crashed.error or "")
    assert_intact(guarded)


# ---------------------------------------------------------------- the OS boundary alone
@pytest.mark.parametrize(
    ("code", "error"),
    [
        ("import os\nos.execv('/bin/sh', ['sh'])", "PermissionError"),
        (f"import os\nos.execv({sys.executable!r}, ['python'])", "PermissionError"),
        ("import socket\nsocket.socket()", "PermissionError"),
        ("import socket\nsocket.socketpair()", "PermissionError"),
        ("open('/etc/passwd')", "FileNotFoundError"),
        (f"open({str(GOLD)!r})", "FileNotFoundError"),
        (f"import os\nos.listdir({str(ROOT)!r})", "FileNotFoundError"),
        ("import os\nos.listdir(os.path.expanduser('~'))", "FileNotFoundError"),
        ("open('/x', 'w')", "OSError: [Errno 30] Read-only file system"),
        (f"open({os.path.dirname(os.__file__) + '/x'!r}, 'w')", "OSError"),  # read-only
        ("open('/dev/shm/x', 'w')", "FileNotFoundError"),  # no shared-memory folder
        ("import ctypes\nassert ctypes.CDLL(None).shmget(0, 4096, 0o1600) >= 0, 'shm'",
         "AssertionError: shm"),  # System V memory outlives the child
        ("import os\nos.fork()", "PermissionError"),
        ("import os\nos.setsid()", "PermissionError"),
        ("import os\nos.setpgid(0, 0)", "PermissionError"),
        ("import os\nos.kill(os.getppid(), 9)", "PermissionError"),
        ("import os\nos.kill(1, 9)", "PermissionError"),
        ("import os, signal\nsignal.pidfd_send_signal(os.pidfd_open(1), 9)", "PermissionError"),
        ("import os, resource\nresource.prlimit(os.getppid(), resource.RLIMIT_NOFILE, (3, 3))",
         "PermissionError"),
        # Lowering a limit is always allowed, but not here (Python says EPERM this way).
        ("import resource\nresource.setrlimit(resource.RLIMIT_CPU, (1, 1))", "ValueError"),
        ("import ctypes\nassert ctypes.CDLL(None).unshare(0x10000000) == 0, 'unshare'",
         "AssertionError: unshare"),
        ("import ctypes\nassert ctypes.CDLL(None).ptrace(16, 1, 0, 0) == 0, 'ptrace'",
         "AssertionError: ptrace"),
        ("import ctypes\nassert ctypes.CDLL(None).mount(b'x', b'/tmp', b'tmpfs', 0, 0) == 0, 'm'",
         "AssertionError: m"),
        # The worker slowed for good: its later children inherit its priority and CPUs.
        ("import os\nos.sched_setscheduler(1, os.SCHED_IDLE, os.sched_param(0))",
         "PermissionError"),
        ("import os\nos.setpriority(os.PRIO_PROCESS, 1, 19)", "PermissionError"),
        ("import os\nos.sched_setaffinity(1, {0})", "PermissionError"),
        # The worker's memory and pipes through /proc (once bwrap's init was open to this).
        ("open('/proc/1/mem', 'r+b')", "FileNotFoundError"),
        ("open('/proc/1/fd/1', 'wb')", "FileNotFoundError"),
        # Signals the kernel sends for a file descriptor (SIGKILL to the worker).
        ("import fcntl, os\nr, w = os.pipe()\nfcntl.fcntl(r, fcntl.F_SETOWN, 1)",
         "PermissionError"),
        ("import fcntl, os\nr, w = os.pipe()\nfcntl.fcntl(r, fcntl.F_SETSIG, 9)",
         "PermissionError"),
        ("import fcntl, os, struct, termios\nr, w = os.pipe()\n"
         "fcntl.ioctl(r, termios.FIOASYNC, struct.pack('i', 1))", "PermissionError"),
        # The kernel reads fcntl's command as 32 bits: a high bit set must not slip past.
        ("import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\nr, w = os.pipe()\n"
         "assert libc.syscall(72, r, (1 << 32) | 8, 1) == 0, ctypes.get_errno()",
         "AssertionError: 1"),
        ("open('/dev/ptmx', 'rb')", "FileNotFoundError"),  # the machine's pseudo-terminals
        # The host's device nodes, which the sandbox's user may own (root's, here).
        ("import os\nos.chmod('/dev/null', 0o666)", "PermissionError"),
        ("import os\nos.utime('/dev/null', (0, 0))", "PermissionError"),
        ("import os\nos.setxattr('/dev/null', 'user.x', b'1')", "PermissionError"),
        # What other sandboxes (or the next snippet) could see: locks, events, page cache.
        ("import fcntl\nfcntl.flock(open('/etc/ld.so.cache'), fcntl.LOCK_EX)", "PermissionError"),
        ("import fcntl, struct\nfcntl.fcntl(open('/etc/ld.so.cache'), fcntl.F_SETLK,"
         " struct.pack('hhqqi', fcntl.F_RDLCK, 0, 0, 0, 0))", "PermissionError"),
        ("import ctypes\nassert ctypes.CDLL(None).inotify_init() >= 0, 'inotify'",
         "AssertionError: inotify"),
        ("import os\nos.posix_fadvise(os.open('/etc/ld.so.cache', 0), 0, 0, 4)",
         "PermissionError"),
        ("import ctypes\nassert ctypes.CDLL(None).syscall(451, 0, 0, 0, 0) == 0, 'cachestat'",
         "AssertionError: cachestat"),
        ("import mmap, os\nmmap.mmap(os.open('/etc/ld.so.cache', 0), 4096,"
         " mmap.MAP_SHARED, mmap.PROT_READ)", "PermissionError"),
        # Kernel objects charged to the host user (here root): a few, not its allowance.
        ("import os\nfor _ in range(100):\n    os.pipe()", "OSError: [Errno 24]"),
    ],
    ids=["exec-shell", "exec-python", "socket", "socketpair", "etc-passwd", "gold-answers",
         "project", "home", "write-file", "write-read-only", "write-shm", "sysv-shm", "fork",
         "setsid", "setpgid", "kill-parent", "kill-init", "pidfd", "prlimit-parent",
         "setrlimit", "unshare", "ptrace", "mount", "sched-idle", "nice", "affinity",
         "proc-mem", "proc-fd", "f-setown", "f-setsig", "fioasync", "f-setown-high-bits",
         "ptmx", "chmod-device", "utime-device", "xattr-device", "flock", "posix-lock",
         "inotify", "fadvise", "cachestat", "mmap-shared", "many-files"],
)  # fmt: skip
def test_the_os_boundary_holds_alone(bare: Sandbox, code: str, error: str) -> None:
    result = bare.run(code)
    assert result.status == "error" and (result.error or "").startswith(error), result
    assert_intact(bare)


def test_the_file_system_shows_only_the_interpreter_and_allowed_packages(bare: Sandbox) -> None:
    code = textwrap.dedent(
        """
        import os, sys
        print(sorted(os.listdir('/')))
        print(sorted(os.listdir('/etc')), sorted(os.listdir('/sandbox')))
        print(sorted(p.split('-')[0] for p in os.listdir('/sandbox/packages')))
        print(os.listdir(os.path.dirname(os.__file__) + '/site-packages'))
        print(os.getpid() > 1, os.getppid(), os.path.exists('/proc'))
        """
    )
    lines = bare.run(code).output.splitlines()
    interpreter_top = os.path.realpath(sys.executable).split("/")[1]
    assert set(eval(lines[0])) <= {"dev", "etc", "lib", "lib64", "lib32", "libx32", "sandbox",
                                   "usr", interpreter_top}  # fmt: skip
    assert lines[1] == "['ld.so.cache'] ['packages', 'zygote.py']"
    assert set(eval(lines[2])) == {"mpmath", "numpy", "numpy.libs", "sympy", "isympy.py"}
    assert lines[3] == "[]"  # the interpreter's own site-packages are hidden
    # The worker is the namespace's init (no process of bwrap's to reach); no /proc.
    assert lines[4] == "True 1 False"


def test_nothing_anywhere_is_writable(bare: Sandbox) -> None:
    # A hidden site-packages folder once was a writable tmpfs: a name made there carried
    # state to the next snippet, and a snippet could fill the machine's memory with them.
    code = textwrap.dedent(
        """
        import os, site
        folders = ['/', '/dev', '/etc', '/sandbox', '/sandbox/packages', '/usr/lib',
                   os.path.dirname(os.__file__), os.path.dirname(os.__file__) + '/site-packages',
                   '/usr/lib/python3/dist-packages']
        for folder in folders:
            if not os.path.isdir(folder):
                continue
            for make in (os.mkdir, os.mkfifo, lambda p: os.symlink('/', p)):
                try:
                    make(folder + '/made')
                    print('WRITABLE', folder)
                except OSError as error:
                    assert error.errno in (13, 30), error  # EACCES, EROFS
        print('done')
        """
    )
    assert bare.run(code).output == "done\n"


MEMORY_SCAN = textwrap.dedent(
    r"""
    import ctypes, gc, os, re
    libc = ctypes.CDLL(None, use_errno=True)
    libc.write.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t]
    libc.sbrk.restype = ctypes.c_void_p
    probe, sink = os.pipe()
    PAGE = 4096
    def mapped(address):  # write(2) says EFAULT where a read would crash
        if address <= 0 or libc.write(sink, address, 1) != 1:
            return False
        os.read(probe, 1)
        return True
    def region(address):
        address &= ~(PAGE - 1)
        if not mapped(address):
            return None
        low = high = address
        while mapped(low - PAGE) and address - low < 1 << 30:
            low -= PAGE
        while mapped(high + PAGE) and high - address < 1 << 30:
            high += PAGE
        return low, high + PAGE
    seeds = [libc.sbrk(0) - 16, id(1), id(gc), id(os), id(re), id(ctypes), id(object())]
    seeds += [id(o) for o in gc.get_objects()[::5000]]
    regions = set()
    for seed in seeds:
        if not any(low <= seed < high for low, high in regions) and (found := region(seed)):
            regions.add(found)
    pattern = re.compile(rb"SECRET_(CODE|OUTPUT)_[0-9]{6}")
    hits = set()
    for low, high in regions:
        for start in range(low, high, 1 << 24):
            chunk = ctypes.string_at(start, min(high - start, (1 << 24) + 256))
            hits.update(m.group().decode() for m in pattern.finditer(chunk))
    print(sum(high - low for low, high in regions) >> 20, sorted(hits))
    """
)


def test_a_child_dead_of_a_nameless_signal_leaves_the_worker_alone(bare: Sandbox) -> None:
    # A real-time signal has no name in Python's signal.Signals: the worker once died of
    # the ValueError while saying how its child ended.
    code = textwrap.dedent(
        """
        import ctypes, time
        libc = ctypes.CDLL(None)
        event = (ctypes.c_int * 16)()
        event[2], event[3] = 40, 0  # sigev_signo 40, SIGEV_SIGNAL
        timer = ctypes.c_void_p()
        assert libc.timer_create(0, event, ctypes.byref(timer)) == 0
        libc.timer_settime(timer, 0, (ctypes.c_long * 4)(0, 0, 0, 1_000_000), None)
        time.sleep(2)
        """
    )
    bare.run("pass")
    worker = bare.worker_pid
    result = bare.run(code)
    assert result.status == "crashed" and result.error == "the process died of signal 40"
    assert bare.worker_pid == worker
    assert_intact(bare)


def test_no_snippet_leaves_its_code_or_output_where_the_next_can_read_it() -> None:
    # The worker once read every snippet's code and result itself; every later child,
    # forked from it, started with those freed but uncleared buffers in its memory.
    with Sandbox(limits=SandboxLimits(cpu_seconds=5, wall_seconds=10),
                 python_layer=False) as box:  # fmt: skip
        box.run("secret = 'SECRET_CODE_' + '271828'[:0] + 'SECRET_CODE_314159'\n"
                "print('SECRET_OUTPUT_' + '161803')")  # fmt: skip
        box.run("print(sum(range(10)))")
        scanned, hits = box.run(MEMORY_SCAN).output.split(maxsplit=1)
    assert int(scanned) > 10  # MiB of the child's heap and more, read
    assert hits.strip() == "[]"


def test_output_limits_hold_when_the_child_changes_its_own(bare: Sandbox) -> None:
    code = "import sys\nsys.stdout.limit = 10**9\nprint('x' * 50_000)"
    result = bare.run(code)
    assert result.ok and len(result.output) == LIMITS.max_output_chars and result.truncated


# ---------------------------------------------------------------- lifetimes
def test_a_child_that_closes_its_result_pipe_is_killed_at_the_deadline(guarded: Sandbox) -> None:
    # It closes the pipe its result goes back on, then blocks: the worker once waited for
    # it forever (31 s for one tool call).
    code = (
        f"g = {OS_GLOBALS}\n"
        "for fd in range(3, 64):\n"
        "    try:\n        g['close'](fd)\n    except OSError:\n        pass\n"
        "r, w = g['pipe']()\ng['read'](r, 1)"
    )
    start = time.monotonic()
    result = guarded.run(code)
    assert time.monotonic() - start < LIMITS.wall_seconds + 1.5
    assert result.status == "timeout"
    namespace = pid_namespace(guarded.worker_pid)
    assert len(processes_in(namespace)) == 1  # the worker: the child is gone
    assert_intact(guarded)


def test_nothing_outlives_a_killed_host() -> None:
    # The host starts a snippet that sleeps, then dies by SIGKILL (no cleanup runs).
    script = textwrap.dedent(
        """
        import sys, threading, time
        from palaestra.sandbox import Sandbox, SandboxLimits
        from tests.sandbox.conftest import pid_namespace
        box = Sandbox(limits=SandboxLimits(wall_seconds=120, cpu_seconds=100),
                      python_layer=False)
        box.run("pass")
        print(pid_namespace(box.worker_pid), flush=True)
        threading.Thread(target=box.run, args=("import time\\ntime.sleep(100)",)).start()
        time.sleep(100)
        """
    )
    host = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                            cwd=ROOT)  # fmt: skip
    assert host.stdout is not None
    namespace = host.stdout.readline().strip()
    assert namespace.startswith("pid:[")
    time.sleep(0.5)
    assert len(processes_in(namespace)) == 2  # the worker and the sleeping child
    host.send_signal(signal.SIGKILL)
    host.wait()
    assert gone(namespace)


def test_a_policy_cannot_leave_the_process_group_or_outlive_the_worker() -> None:
    # os.setsid() once took a policy out of the group the host kills (orphans remained).
    code = (
        f"g = {OS_GLOBALS}\n"
        "def policy(obs):\n"
        "    try:\n        g['setsid']()\n        return 'ESCAPED'\n"
        "    except OSError as error:\n        return 'stay' if error.errno == 1 else 'what'\n"
    )
    worker = PolicyWorker(code, limits=PolicyLimits(call_wall_seconds=2))
    worker.start_episode(0)
    assert worker.act({"step": 0}).action == "stay"
    namespace = pid_namespace(worker.worker_pid)
    worker.close()
    assert gone(namespace)


# ---------------------------------------------------------------- the host
WRITE_ALL = (
    f"g = {OS_GLOBALS}\n"
    "def policy(obs):\n"
    "    for fd in range(64):\n"
    "        try:\n            g['write'](fd, PAYLOAD)\n        except OSError:\n"
    "            pass\n"
    "    return 'stay'\n"
)
# Frames (a length, then that much) of a flood, of nesting past the parser's depth, and of
# bytes that are not UTF-8.
PAYLOADS = (
    "(2 << 20).to_bytes(4, 'big') + b'x' * (2 << 20)",
    "(200_000).to_bytes(4, 'big') + b'[' * 200_000",
    "(2).to_bytes(4, 'big') + b'\\xff\\xfe'",
)


def test_a_flood_or_a_nested_reply_is_a_failed_call_never_a_crash() -> None:
    game = social_game("palaestra/Gathering-v0")
    for payload in PAYLOADS:
        result = evaluate_policy(f"PAYLOAD = {payload}\n{WRITE_ALL}", game, episodes=1)
        assert result.steps > 0 and result.failures["crashed"] == result.steps
    reference = evaluate_policy(REFERENCE_POLICIES["greedy"], game, episodes=1)
    assert reference == evaluate_policy(REFERENCE_POLICIES["greedy"], game, episodes=1)
    assert sum(reference.failures.values()) == 0


def test_synthesize_never_raises_because_of_a_policy() -> None:
    replies = [f"```python\nPAYLOAD = {p}\n{WRITE_ALL}```" for p in PAYLOADS]
    writer = ScriptedWriter([*replies, f"```python\n{REFERENCE_POLICIES['greedy']}```"])
    result = synthesize(writer, "palaestra/Gathering-v0", iterations=4, episodes=1,
                        progress=False)  # fmt: skip
    evaluations = [c.evaluation for c in result.candidates]
    assert all(e is not None for e in evaluations)
    assert [e.failures["crashed"] == e.steps for e in evaluations] == [True] * 3 + [False]
    assert result.best is result.candidates[3]


def test_a_math_tool_step_cannot_read_the_gold_answers() -> None:
    env = gym.make("palaestra/MathTool-v0")
    env.reset(seed=0)
    read = f"g = {OS_GLOBALS}\nprint(g['read'](g['open']({str(GOLD)!r}, 0), 200))"
    observation, *_ = env.step(f"<python>\n{read}\n</python>")
    assert "open is not allowed" in observation
    assert "question" not in observation and 'answer"' not in observation
    env.close()


# ---------------------------------------------------------------- as an ordinary user
PARENT_ATTACKS = {
    "pidfd-group": "import os, signal\n"
    "signal.pidfd_send_signal(os.pidfd_open(os.getpgid(0)), signal.SIGKILL)",
    "kill-host": "import os\nos.kill(HOST, 9)",
    "killpg": "import os\nos.killpg(0, 9)",
    "kill-all": "import os\nos.kill(-1, 9)",
    "prlimit-host": "import resource\nresource.prlimit(HOST, resource.RLIMIT_NOFILE, (3, 3))",
    "prlimit-parent": "import os, resource\n"
    "resource.prlimit(os.getppid(), resource.RLIMIT_NOFILE, (3, 3))",
}
BATTERY = textwrap.dedent(
    f"""
    import json, os, resource
    from palaestra.sandbox import Sandbox
    attacks = {PARENT_ATTACKS!r}
    with Sandbox(python_layer=False) as box:
        errors = {{name: box.run(code.replace("HOST", str(os.getpid()))).error
                  for name, code in attacks.items()}}
        after = box.run("print(6 * 7)").output
    print(json.dumps({{"uid": os.getuid(), "errors": errors, "after": after,
                      "nofile": resource.getrlimit(resource.RLIMIT_NOFILE)}}))
    """
)


def test_killing_or_limiting_the_host_fails_for_root_and_other_users_alike() -> None:
    unprivileged = run_unprivileged(BATTERY)
    assert unprivileged.returncode == 0, unprivileged.stderr[-2000:]  # the host lived
    other = json.loads(unprivileged.stdout)
    assert other["uid"] != 0 and other["after"] == "42\n"
    assert other["nofile"] == list(resource.getrlimit(resource.RLIMIT_NOFILE))
    assert set(other["errors"].values()) == {"PermissionError: [Errno 1] Operation not permitted"}
    here = subprocess.run([sys.executable, "-c", BATTERY], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)  # fmt: skip
    assert here.returncode == 0, here.stderr[-2000:]
    assert json.loads(here.stdout)["errors"] == other["errors"]


FORGED = b"".join(
    encode(message)
    for message in ({"ended": "exit 0"}, {"ready": True}, {"noise": 1}, {"value": "forged"})
)


def test_a_policy_that_forges_the_protocol_cannot_hang_the_host_or_outlive_its_episode() -> None:
    # The child once shared the host's pipes both ways: it answered for the worker
    # ("ended", "ready"), kept serving later episodes in one process, and a line a second
    # kept the host waiting for ever. Its lines now reach only its own episode.
    code = (
        "import random\n"
        "calls = 0\n"
        "def policy(obs):\n"
        "    global calls\n"
        "    calls += 1\n"
        "    if calls == 1:\n"
        "        return 'stay'\n"
        "    while True:\n"
        "        try:\n"
        "            for fd in range(3, 16):\n"
        "                try:\n"
        f"                    random._os.write(fd, {FORGED!r})\n"
        "                except OSError:\n"
        "                    pass\n"
        "            x = 0\n"
        "            while x < 10**6:\n"
        "                x += 1\n"
        "        except BaseException:\n"
        "            pass\n"
    )
    limits = PolicyLimits(call_wall_seconds=1, episode_wall_seconds=5)
    start = time.monotonic()
    with PolicyWorker(code, limits=limits) as worker:
        for episode in range(3):
            worker.start_episode(episode)
            namespace = pid_namespace(worker.worker_pid)
            assert len(processes_in(namespace)) <= 2  # the worker and this episode's child
            outcomes = [worker.act({"step": step}) for step in range(3)]
            # A fresh process each episode, and nothing of the last one in its pipes.
            assert outcomes[0].action == "stay"
            assert [o.failure for o in outcomes[1:]] == ["invalid", "invalid"]  # not "ended"
    assert time.monotonic() - start < 60
    assert gone(namespace)


def test_a_forged_result_before_the_wall_limit_is_not_taken(guarded: Sandbox) -> None:
    # The snippet writes a well-formed "ok" result on its result pipe itself, then blocks
    # until the wall limit kills it: the run timed out, whatever it wrote.
    code = textwrap.dedent(
        """
        import random
        os = random._os
        result = None
        for fd in range(3, 64):
            try:
                os.write(fd, b"")
                result = fd
            except OSError:
                pass
        body = b'{"status": "ok", "output": "forged", "error": null, "truncated": false}'
        os.write(result, len(body).to_bytes(4, "big") + body)
        r, w = os.pipe()
        os.read(r, 1)
        """
    )
    result = guarded.run(code)
    assert result.status == "timeout" and result.output == ""
    assert_intact(guarded)


def test_a_lone_surrogate_in_the_output_arrives_replaced(guarded: Sandbox) -> None:
    result = guarded.run("print('a' + chr(0xD800) + 'b')")
    assert result.status == "ok" and result.output == "a\ufffdb\n"
    assert result.output.encode()  # a tokenizer or a UTF-8 log takes it
