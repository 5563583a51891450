"""The sandbox's worker process (standard library only; run as a script by the client).

It starts once, imports the allowed modules, then serves requests read as JSON lines on
stdin. Each request runs in a fresh child forked from this process, so nothing one snippet
does (patching a module, filling memory) survives into the next. The child, before running
the untrusted code:

* points fds 0-2 at /dev/null and closes every other fd but its result pipe;
* drops root privileges to ``nobody`` where it has them, then sets resource limits:
  address space (memory), CPU time (a hard kill backstop), file size 0 (no writes),
  no new processes;
* arms a CPU-time timer (``ITIMER_PROF``) that interrupts the code;
* installs an audit hook, which cannot be removed, refusing file access, sockets,
  subprocesses, forks, ``exec``, ctypes calls, new imports of non-allowed modules and
  code patching;
* runs the code with builtins whose ``__import__`` only admits the allowed modules and
  without ``open``/``input``/``breakpoint``.

The parent of the child (this process) enforces the wall-clock limit by killing it. Results
travel back as JSON, never pickle: the child runs untrusted code.

Started with a ``policy`` in its first line, the process instead serves one policy program
for a whole evaluation: a child forked per episode loads it and answers every step's call
(no fork per call), under the same layers; see :mod:`palaestra.sandbox.policy`.
"""

from __future__ import annotations

import builtins
import contextlib
import io
import json
import os
import random
import resource
import select
import signal
import sys
import time
import traceback
from typing import Any

_BLOCKED_EVENTS = frozenset(
    {
        "open",
        "os.system",
        "os.exec",
        "os.posix_spawn",
        "os.spawn",
        "os.fork",
        "os.forkpty",
        "os.kill",
        "os.killpg",
        "os.remove",
        "os.rename",
        "os.rmdir",
        "os.mkdir",
        "os.chmod",
        "os.chown",
        "os.chdir",
        "os.symlink",
        "os.link",
        "os.truncate",
        "os.listdir",
        "os.scandir",
        "os.walk",
        "os.putenv",
        "os.unsetenv",
        "os.startfile",
        "os.utime",
        "shutil.copyfile",
        "shutil.rmtree",
        "subprocess.Popen",
        "socket.__new__",
        "socket.connect",
        "socket.bind",
        "socket.getaddrinfo",
        "socket.gethostbyname",
        "ctypes.dlopen",
        "ctypes.dlsym",
        "ctypes.cdata",
        "ctypes.call_function",
        "ctypes.addressof",
        "ctypes.string_at",
        "ctypes.wstring_at",
        "mmap.__new__",
        "pty.spawn",
        "webbrowser.open",
        "urllib.Request",
        "sys.settrace",
        "sys.setprofile",
        "sys.remote_exec",
    }
)
_PROTECTED_ATTRIBUTES = frozenset(
    {"__code__", "__globals__", "__closure__", "__defaults__", "__kwdefaults__", "__builtins__"}
)
_REMOVED_BUILTINS = ("open", "input", "breakpoint", "help", "exit", "quit", "copyright", "credits")


class CpuTimeExceeded(BaseException):
    """Raised in the child by the CPU-time timer (a BaseException: harder to swallow)."""


class _BoundedOutput(io.TextIOBase):
    """stdout/stderr replacement that keeps the first ``limit`` characters."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.parts: list[str] = []
        self.size = 0
        self.truncated = False

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        room = self.limit - self.size
        if room <= 0:
            self.truncated = self.truncated or bool(text)
            return len(text)
        if len(text) > room:
            self.truncated = True
        kept = text[:room]
        self.parts.append(kept)
        self.size += len(kept)
        return len(text)

    def getvalue(self) -> str:
        return "".join(self.parts)


def _make_guard(allowed: frozenset[str]) -> Any:
    def guard(event: str, args: tuple[Any, ...]) -> None:
        if event in _BLOCKED_EVENTS:
            raise PermissionError(f"sandbox: {event} is not allowed")
        if event == "import" and args and args[0].split(".")[0] not in allowed:
            raise PermissionError(f"sandbox: importing {args[0]} is not allowed")
        if event == "object.__setattr__" and len(args) > 1 and args[1] in _PROTECTED_ATTRIBUTES:
            raise PermissionError(f"sandbox: setting {args[1]} is not allowed")

    return guard


def _safe_builtins(allowed: frozenset[str]) -> dict[str, Any]:
    real_import = builtins.__import__

    def restricted_import(
        name: str, globals: Any = None, locals: Any = None, fromlist: Any = (), level: int = 0
    ) -> Any:
        if level != 0 or name.split(".")[0] not in allowed:
            raise ImportError(f"sandbox: import of {name!r} is not allowed")
        return real_import(name, globals, locals, fromlist, level)

    namespace = dict(vars(builtins))
    for name in _REMOVED_BUILTINS:
        namespace.pop(name, None)
    namespace["__import__"] = restricted_import
    return namespace


def _drop_privileges() -> None:
    if os.getuid() == 0:
        try:
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
        except OSError:
            pass  # no CAP_SETUID (a container): the other layers still apply


def _set_limits(limits: dict[str, Any]) -> None:
    memory = int(limits["memory_mb"]) * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    cpu_hard = int(limits["cpu_seconds"]) + 2
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_hard, cpu_hard))
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _isolate_fds(*keep: int) -> None:
    """Point fds 0-2 at /dev/null and close every fd above them except ``keep``."""
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    low = 3
    for fd in sorted(keep):
        os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, 65536)


def _child(request: dict[str, Any], allowed: frozenset[str], result_fd: int) -> None:
    _isolate_fds(result_fd)
    limits = request["limits"]
    output = _BoundedOutput(int(limits["max_output_chars"]))
    sys.stdout = sys.stderr = output
    random.seed(request.get("seed", 0))
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed(request.get("seed", 0))
    _drop_privileges()
    _set_limits(limits)

    def on_cpu_limit(signum: int, frame: Any) -> None:
        raise CpuTimeExceeded

    signal.signal(signal.SIGPROF, on_cpu_limit)
    namespace = {"__builtins__": _safe_builtins(allowed), "__name__": "__sandbox__"}
    status, error = "ok", None
    sys.addaudithook(_make_guard(allowed))
    signal.setitimer(signal.ITIMER_PROF, float(limits["cpu_seconds"]))
    try:
        exec(compile(request["code"], "<sandbox>", "exec"), namespace)
    except CpuTimeExceeded:
        status, error = "timeout", f"CPU time limit of {limits['cpu_seconds']} s exceeded"
    except MemoryError:
        status, error = "memory", f"memory limit of {limits['memory_mb']} MB exceeded"
    except SystemExit:
        pass
    except BaseException as exc:
        status = "error"
        error = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
    payload = json.dumps(
        {
            "status": status,
            "output": output.getvalue(),
            "error": error,
            "truncated": output.truncated,
        }
    ).encode()
    view = memoryview(payload)
    while view:
        view = view[os.write(result_fd, view) :]


def _run(request: dict[str, Any], allowed: frozenset[str]) -> dict[str, Any]:
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child never returns
        code = 0
        try:
            os.close(read_fd)
            _child(request, allowed, write_fd)
        except BaseException:
            code = 70
        os._exit(code)
    os.close(write_fd)
    limits = request["limits"]
    cap = int(limits["max_output_chars"]) * 8 + 65536
    deadline = time.monotonic() + float(limits["wall_seconds"])
    chunks, size, timed_out = [], 0, False
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            timed_out = True
            break
        ready, _, _ = select.select([read_fd], [], [], remaining)
        if not ready:
            continue
        data = os.read(read_fd, 65536)
        if not data:
            break
        chunks.append(data)
        size += len(data)
        if size > cap:
            break
    os.close(read_fd)
    if timed_out or size > cap:
        os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    if timed_out:
        return {
            "status": "timeout",
            "output": "",
            "truncated": False,
            "error": f"wall-clock limit of {limits['wall_seconds']} s exceeded",
        }
    try:
        result = json.loads(b"".join(chunks))
        if not isinstance(result, dict) or set(result) != {
            "status",
            "output",
            "error",
            "truncated",
        }:
            raise ValueError
        return result
    except ValueError:
        pass
    if os.WIFSIGNALED(status):
        sig = signal.Signals(os.WTERMSIG(status)).name
        reason = {"SIGXCPU": "CPU time limit exceeded", "SIGKILL": "killed (CPU time limit)"}
        return {
            "status": "timeout" if sig in reason else "crashed",
            "output": "",
            "truncated": False,
            "error": reason.get(sig, f"the process died of {sig}"),
        }
    return {
        "status": "crashed",
        "output": "",
        "truncated": False,
        "error": f"the process exited with status {os.WEXITSTATUS(status)} and no result",
    }


def _one_line(exc: BaseException) -> str:
    return "".join(traceback.format_exception_only(type(exc), exc)).strip()[-500:]


def _guarded_call(function: Any, argument: Any, cpu_seconds: float) -> dict[str, Any]:
    """``function(argument)`` under a CPU-time timer; the outcome as a JSON-able dict."""
    signal.setitimer(signal.ITIMER_PROF, cpu_seconds)
    try:
        value = function(argument)
    except CpuTimeExceeded:
        return {"kind": "timeout", "error": f"CPU time limit of {cpu_seconds} s exceeded"}
    except MemoryError:
        return {"kind": "memory", "error": "memory limit exceeded"}
    except BaseException as exc:  # SystemExit and KeyboardInterrupt too: the policy's own
        return {"kind": "error", "error": _one_line(exc)}
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
    return {"value": value}


class _Lines:
    """JSON lines read straight from a file descriptor (no buffer a fork could duplicate)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.pending = b""

    def read(self) -> Any:
        while b"\n" not in self.pending:
            chunk = os.read(self.fd, 1 << 16)
            if not chunk:
                return None
            self.pending += chunk
        line, _, self.pending = self.pending.partition(b"\n")
        return json.loads(line)


def _write_line(fd: int, message: dict[str, Any]) -> None:
    view = memoryview((json.dumps(message) + "\n").encode())
    while view:
        view = view[os.write(fd, view) :]


def _policy_episode(
    code: Any, seed: int, limits: dict[str, Any], allowed: frozenset[str], lines: _Lines,
    replies: int,
) -> None:  # fmt: skip
    """One episode of one policy, in a child forked for it (it never returns).

    The child loads the program in a fresh namespace, then answers one observation per
    line until told the episode is over. The episode's CPU budget is the child's hard
    ``RLIMIT_CPU``; each call runs under its own CPU-time timer.
    """
    lines.fd, replies = os.dup(lines.fd), os.dup(replies)  # fds 0-2 go to /dev/null next
    _isolate_fds(lines.fd, replies)
    sys.stdout = sys.stderr = _BoundedOutput(0)  # what a policy prints is dropped
    random.seed(seed)
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed(seed % 2**32)
    _drop_privileges()
    memory = int(limits["memory_mb"]) * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    cpu_hard = int(limits["episode_cpu_seconds"]) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_hard, cpu_hard))
    for limit in (resource.RLIMIT_FSIZE, resource.RLIMIT_NPROC, resource.RLIMIT_CORE):
        resource.setrlimit(limit, (0, 0))

    def on_cpu_limit(signum: int, frame: Any) -> None:
        raise CpuTimeExceeded

    signal.signal(signal.SIGPROF, on_cpu_limit)
    namespace: dict[str, Any] = {"__builtins__": _safe_builtins(allowed), "__name__": "__policy__"}
    sys.addaudithook(_make_guard(allowed))
    loaded = _guarded_call(lambda c: exec(c, namespace), code, float(limits["load_cpu_seconds"]))
    policy = namespace.get("policy")
    if "error" in loaded:
        _write_line(replies, loaded)
        return
    if not callable(policy):
        _write_line(replies, {"kind": "error", "error": "the code defines no function policy(obs)"})
        return
    _write_line(replies, {"ready": True, "pid": os.getpid()})
    call_cpu = float(limits["call_cpu_seconds"])
    while True:
        message = lines.read()
        if message is None or "end" in message:
            return
        outcome = _guarded_call(policy, message["obs"], call_cpu)
        if "value" in outcome:
            value = outcome["value"]
            if not isinstance(value, str):
                outcome = {"kind": "invalid", "error": f"policy returned {type(value).__name__}"}
            else:
                outcome = {"value": value[:100]}
        _write_line(replies, outcome)


def _policy_server(config: dict[str, Any], allowed: frozenset[str], lines: _Lines) -> None:
    """Serve one policy program for a whole evaluation: a forked child per episode.

    Forking from this process (the program compiled, the allowed modules imported) costs
    a few milliseconds, against a tenth of a second for a new interpreter, and still gives
    every episode a fresh process. When a child ends, for any reason, this process says so
    (``{"ended": ...}``) and waits for the next episode.
    """
    replies = 1
    failure: dict[str, Any] = {}
    try:
        code = compile(config["code"], "<policy>", "exec")
    except (SyntaxError, ValueError) as exc:
        code = None
        failure = {"kind": "error", "error": _one_line(exc)}
    while True:
        message = lines.read()
        if message is None:
            return
        if "seed" not in message:
            continue  # an "end" for a child that had died already
        if code is None:
            _write_line(replies, failure)
            _write_line(replies, {"ended": "not loaded"})
            continue
        pid = os.fork()
        if pid == 0:
            status = 0
            try:
                _policy_episode(code, int(message["seed"]), config["limits"], allowed,
                                lines, replies)  # fmt: skip
            except BaseException:
                status = 70
            os._exit(status)
        _, status = os.waitpid(pid, 0)
        if os.WIFSIGNALED(status):
            ended = signal.Signals(os.WTERMSIG(status)).name
        else:
            ended = f"exit {os.WEXITSTATUS(status)}"
        _write_line(replies, {"ended": ended})


def main() -> None:
    # Lines are read from the raw descriptor: a policy server's children share it, and a
    # buffered reader could swallow a request meant for the next one.
    lines = _Lines(0)
    config = lines.read()
    allowed = frozenset(config["allowed"])
    for name in config["allowed"]:
        # Allowed but not installed: importing it in a snippet then fails normally.
        with contextlib.suppress(ImportError):
            __import__(name)
    if "numpy" in sys.modules:
        # The first seeding of numpy's global generator imports and builds what it needs
        # (about 50 ms): do it once here, not in every forked child.
        sys.modules["numpy"].random.seed(0)
    if "policy" in config:
        _policy_server(config["policy"], allowed, lines)
        return
    sys.stdout.write('{"ready": true}\n')
    sys.stdout.flush()
    while (request := lines.read()) is not None:
        result = _run(request, allowed)
        sys.stdout.write(json.dumps(result) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
