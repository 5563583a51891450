"""The sandbox's worker process (standard library only; run as a script by the client).

It runs inside the OS boundary of :mod:`palaestra.sandbox.isolation` (bubblewrap's
namespaces) unless the user opted out of it. It starts once, imports the allowed modules,
makes itself undumpable, tied to its parent's life (``PR_SET_PDEATHSIG``) and loads the
``worker`` seccomp filter; then it says it is ready (``{"ready": true}``) and serves
requests read as frames on stdin. The frames are those of :mod:`palaestra.processes.frames`
(a 4-byte big-endian length, then that much JSON), spelled out again in a few lines below:
the boundary shows this script nothing of palaestra, so it cannot import them. Each
request runs in a fresh child forked from this process, so nothing one snippet does
(patching a module, filling memory) survives into the next. The child, before running the
untrusted code:

* points fds 0-2 at /dev/null and closes every other fd but its two pipes;
* drops root privileges to ``nobody`` where it has them (without the OS boundary), sets
  ``PR_SET_PDEATHSIG`` after that, then resource limits: address space (memory), CPU time
  (a hard kill backstop), file size 0 (no writes), no new processes, few open files and
  pending signals;
* loads the ``child`` seccomp filter (no signals, pidfds, processes or limit changes);
* arms a CPU-time timer (``ITIMER_PROF``) that interrupts the code;
* adds the Python layer, defence in depth only: an audit hook, which cannot be removed,
  refusing file access, sockets, subprocesses, ``exec``, ctypes, frame and garbage
  collector introspection, imports of non-allowed modules and code patching, and builtins
  whose ``__import__`` only admits the allowed modules, without ``open``/``input``.

Each child gets two new pipes whose other ends this process hands to the host (over the
``channel`` socket): the host sends the code to the child and reads its result, as JSON,
never pickle, from it, so no snippet's code or output ever passes through this process.
This process, the child's parent, enforces the wall-clock limit by killing it and says
how it ended; the host applies the output limit.

Started with a ``policy`` in its first frame, the process instead serves one policy program
for a whole evaluation: a child forked per episode loads it and answers every step's call
(no fork per call), under the same layers; see :mod:`palaestra.sandbox.policy`.
"""

from __future__ import annotations

import base64
import builtins
import contextlib
import ctypes
import io
import json
import os
import random
import resource
import select
import signal
import struct
import sys
import time
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
        "sys._getframe",
        "sys._current_frames",
        "sys._current_exceptions",
        "gc.get_objects",
        "gc.get_referrers",
        "gc.get_referents",
        "code.__new__",
        "resource.setrlimit",
        "resource.prlimit",
        "os.setxattr",
        "os.removexattr",
    }
)
_PROTECTED_ATTRIBUTES = frozenset(
    {"__code__", "__globals__", "__closure__", "__defaults__", "__kwdefaults__", "__builtins__"}
)
# Frames reach the worker's own globals and locals (and the output buffer's limit).
_FRAME_ATTRIBUTES = frozenset({"tb_frame", "gi_frame", "cr_frame", "ag_frame", "f_back"})
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
    """The audit hook, with everything it uses bound in its closure.

    A snippet that reaches this module's globals (through a function's ``__globals__``)
    cannot change what it checks by rebinding a name.
    """
    blocked, protected, frames = _BLOCKED_EVENTS, _PROTECTED_ATTRIBUTES, _FRAME_ATTRIBUTES
    refuse, length, text = PermissionError, len, str

    def guard(event: str, args: tuple[Any, ...]) -> None:
        if event in blocked:
            raise refuse(f"sandbox: {event} is not allowed")
        if event == "import" and args and text(args[0]).split(".")[0] not in allowed:
            raise refuse(f"sandbox: importing {args[0]} is not allowed")
        if event == "object.__setattr__" and length(args) > 1 and args[1] in protected:
            raise refuse(f"sandbox: setting {args[1]} is not allowed")
        if event == "object.__getattr__" and length(args) > 1 and args[1] in frames:
            raise refuse(f"sandbox: reading {args[1]} is not allowed")

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
    # The same function with globals of its own: its __globals__ is not this module's.
    function: Any = type(restricted_import)
    namespace["__import__"] = function(
        restricted_import.__code__,
        {"__builtins__": namespace},
        "__import__",
        restricted_import.__defaults__,
        restricted_import.__closure__,
    )
    return namespace


# prctl(2) options and the seccomp mode.
_PR_SET_PDEATHSIG, _PR_SET_DUMPABLE, _PR_SET_SECCOMP, _PR_SET_NO_NEW_PRIVS = 1, 4, 22, 38
_SECCOMP_MODE_FILTER = 2


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def _prctl(option: int, *args: Any) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    padded = [*args, *[ctypes.c_ulong(0)] * (4 - len(args))]
    if libc.prctl(ctypes.c_int(option), *padded) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"prctl({option}): {os.strerror(errno)}")


def _load_filter(program: bytes) -> None:
    """Load a BPF program compiled by libseccomp in the host (see ``seccomp.py``)."""
    _prctl(_PR_SET_NO_NEW_PRIVS, ctypes.c_ulong(1))
    buffer = ctypes.create_string_buffer(program, len(program))
    fprog = _SockFprog(len(program) // 8, ctypes.cast(buffer, ctypes.c_void_p))
    _prctl(_PR_SET_SECCOMP, ctypes.c_ulong(_SECCOMP_MODE_FILTER), ctypes.byref(fprog))


def _die_with_parent() -> None:
    """SIGKILL this process when its parent dies (set after any change of credentials)."""
    parent = os.getppid()
    _prctl(_PR_SET_PDEATHSIG, ctypes.c_ulong(signal.SIGKILL))
    if os.getppid() != parent:  # the parent died before the line above
        os._exit(70)


def _harden_worker(filters: dict[str, str]) -> None:
    """Harden the worker once its modules are imported.

    It becomes undumpable (no process of the same user reads or writes its memory), dies
    with its parent and runs under the ``worker`` filter.
    """
    # A KeyboardInterrupt is the one signal a child could still get to this process (pid 1
    # of its namespace ignores the others); nothing here needs it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if not sys.platform.startswith("linux"):
        return
    _prctl(_PR_SET_DUMPABLE, ctypes.c_ulong(0))
    _die_with_parent()
    if "worker" in filters:
        _load_filter(base64.b64decode(filters["worker"]))


def _drop_privileges() -> None:
    if os.getuid() == 0:
        try:
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
        except OSError:
            pass  # no CAP_SETUID (a container): the other layers still apply


def _isolate_fds(*keep: int) -> None:
    """Point fds 0-2 at /dev/null and close every fd above them except ``keep``."""
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    low = 3
    for fd in sorted(keep):
        os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, 2**31 - 1)  # every fd, whatever its number (close_range(2) on Linux)


def _on_cpu_limit(signum: int, frame: Any) -> None:
    raise CpuTimeExceeded


_CHILD_FILES, _CHILD_SIGNALS = 64, 64


def _confine(config: dict[str, Any], memory_mb: float, cpu_hard: int, seed: int) -> None:
    """The OS-level part of a child's confinement, before any untrusted code runs.

    ``cpu_hard`` is the hard CPU-time limit in seconds: the kill backstop behind the timer.
    """
    random.seed(seed)
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed(seed % 2**32)
    _drop_privileges()
    if sys.platform.startswith("linux"):
        _die_with_parent()
    memory = int(memory_mb) * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_hard, cpu_hard))
    for limit in (resource.RLIMIT_FSIZE, resource.RLIMIT_NPROC, resource.RLIMIT_CORE):
        resource.setrlimit(limit, (0, 0))
    # Kernel objects charged to the host user (epoll watches, pipes, pending signals of
    # timers), which may be root's: a few, not the user's whole allowance.
    resource.setrlimit(resource.RLIMIT_NOFILE, (_CHILD_FILES, _CHILD_FILES))
    resource.setrlimit(resource.RLIMIT_SIGPENDING, (_CHILD_SIGNALS, _CHILD_SIGNALS))
    filters = config.get("seccomp") or {}
    if "child" in filters:
        _load_filter(base64.b64decode(filters["child"]))
    signal.signal(signal.SIGPROF, _on_cpu_limit)


def _namespace(config: dict[str, Any], allowed: frozenset[str], name: str) -> dict[str, Any]:
    """The untrusted code's globals; with the Python layer, its builtins and audit hook."""
    if not config.get("python_layer", True):
        return {"__name__": name}
    namespace = {"__builtins__": _safe_builtins(allowed), "__name__": name}
    sys.addaudithook(_make_guard(allowed))
    return namespace


def _child(config: dict[str, Any], allowed: frozenset[str], requests: int, results: int) -> None:
    """Run one snippet: read its request from the host, write the result back to it."""
    _isolate_fds(requests, results)
    request = _read_frame(requests)
    os.close(requests)
    limits = request["limits"]
    output = _BoundedOutput(int(limits["max_output_chars"]))
    sys.stdout = sys.stderr = output
    cpu_hard = int(limits["cpu_seconds"]) + 2
    _confine(config, limits["memory_mb"], cpu_hard, int(request.get("seed", 0)))
    namespace = _namespace(config, allowed, "__sandbox__")
    status, error = "ok", None
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
        status, error = "error", _one_line(exc)
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
    payload = {"status": status, "output": output.getvalue(), "error": error,
               "truncated": output.truncated}  # fmt: skip
    _write_frame(results, payload)


def _one_line(exc: BaseException) -> str:
    """``Type: message`` of an exception the untrusted code raised.

    Not through :mod:`traceback`, which walks the frames of chained exceptions (the Python
    layer refuses frame access); the message is the exception's own ``__str__``, which may
    itself fail.
    """
    kind = type(exc)
    name = kind.__qualname__
    if kind.__module__ not in ("builtins", "__main__", "__sandbox__", "__policy__"):
        name = f"{kind.__module__}.{name}"
    try:
        message = str(exc)
    except BaseException:
        message = "(the exception's message failed)"
    return (f"{name}: {message}" if message else name)[-500:]


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


_HEADER = struct.Struct(">I")


def _read_frame(fd: int) -> Any:
    """The next frame's object from the host, read straight from ``fd``; ``None`` at the end.

    Exactly the frame's bytes are read (no buffer a fork could duplicate, nothing of the
    next frame taken): a forked child may have to leave the rest to this process.
    """
    header = _read_exactly(fd, _HEADER.size)
    payload = None if header is None else _read_exactly(fd, _HEADER.unpack(header)[0])
    return None if payload is None else json.loads(payload)


def _read_exactly(fd: int, size: int) -> bytes | None:
    parts, wanted = [], size
    while wanted:
        chunk = os.read(fd, min(wanted, 1 << 16))
        if not chunk:
            return None
        parts.append(chunk)
        wanted -= len(chunk)
    return b"".join(parts)


def _write_frame(
    fd: int, message: dict[str, Any], *, dumps: Any = json.dumps, pack: Any = _HEADER.pack,
    length: Any = len, write: Any = os.write,
) -> None:  # fmt: skip
    """Write ``message`` as one frame.

    What it uses is bound when this module loads, not looked up in its globals: a snippet
    that rebinds them in its child (``len``, say) still has what it did reported.
    """
    payload = dumps(message).encode()
    view = memoryview(pack(length(payload)) + payload)
    while view:
        view = view[write(fd, view) :]


def _policy_episode(
    code: Any, seed: int, config: dict[str, Any], allowed: frozenset[str], requests: int,
    replies: int,
) -> None:  # fmt: skip
    """One episode of one policy, in a child forked for it (it never returns).

    The child loads the program in a fresh namespace, then answers one observation per
    frame of ``requests`` on ``replies`` until the host closes ``requests``. Both pipes are
    this episode's own: the host holds their other ends, this process has nothing else. The
    episode's CPU budget is the child's hard ``RLIMIT_CPU``; each call runs under its own
    CPU-time timer.
    """
    limits = config["policy"]["limits"]
    _isolate_fds(requests, replies)
    sys.stdout = sys.stderr = _BoundedOutput(0)  # what a policy prints is dropped
    _confine(config, limits["memory_mb"], int(limits["episode_cpu_seconds"]) + 1, seed)
    namespace = _namespace(config, allowed, "__policy__")
    loaded = _guarded_call(lambda c: exec(c, namespace), code, float(limits["load_cpu_seconds"]))
    policy = namespace.get("policy")
    if "error" in loaded:
        _write_frame(replies, loaded)
        return
    if not callable(policy):
        missing = "the code defines no function policy(obs)"
        _write_frame(replies, {"kind": "error", "error": missing})
        return
    _write_frame(replies, {"ready": True})
    call_cpu = float(limits["call_cpu_seconds"])
    while (message := _read_frame(requests)) is not None:
        outcome = _guarded_call(policy, message["obs"], call_cpu)
        if "value" in outcome:
            value = outcome["value"]
            if not isinstance(value, str):
                outcome = {"kind": "invalid", "error": f"policy returned {type(value).__name__}"}
            else:
                outcome = {"value": value[:100]}
        _write_frame(replies, outcome)


class _Child:
    """The worker's handle on a child (a snippet's, or an episode's): its pid and pidfd."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        try:
            self.pidfd: int | None = os.pidfd_open(pid)
        except (AttributeError, OSError):
            self.pidfd = None  # not Linux: polled

    def exited(self) -> str | None:
        """How the child ended, once it has (it is reaped then); else ``None``."""
        done, status = os.waitpid(self.pid, os.WNOHANG)
        if not done:
            return None
        if self.pidfd is not None:
            os.close(self.pidfd)
        if os.WIFSIGNALED(status):
            number = os.WTERMSIG(status)
            try:
                return signal.Signals(number).name
            except ValueError:  # a real-time signal: no name
                return f"signal {number}"
        return f"exit {os.WEXITSTATUS(status)}"

    def wait(self, timeout: float | None) -> str | None:
        """Wait up to ``timeout`` seconds (``None``: for ever) for the child to end."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while (ended := self.exited()) is None:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return None
            if self.pidfd is not None:
                select.select([self.pidfd], [], [], remaining)
            else:
                time.sleep(0.005 if remaining is None else min(remaining, 0.005))
        return ended

    def end(self, grace: float) -> str:
        """Give the child ``grace`` seconds to end (its requests are closed), then kill it.

        Returns how it ended; ``ended`` when this process had to kill it.
        """
        ended = self.wait(grace)
        if ended is None:
            os.kill(self.pid, signal.SIGKILL)
            self.wait(None)
            ended = "ended"
        return ended


def _policy_server(config: dict[str, Any], allowed: frozenset[str]) -> None:
    """Serve one policy program for a whole evaluation: a forked child per episode.

    Forking from this process (the program compiled, the allowed modules imported) costs
    a few milliseconds, against a tenth of a second for a new interpreter, and still gives
    every episode a fresh process. Each child gets two new pipes whose other ends go to the
    host over the ``channel`` socket: the host and the child talk directly, and nothing a
    child writes outlives it or reaches this process's frames to the host. At ``end`` (the
    host has closed the child's requests) the child gets a moment to return, then is
    killed. When a child ends, for any reason, this process says so (``{"ended": ...}``).
    """
    import socket

    control = 1
    channel = socket.socket(fileno=int(config["channel"]))
    failure: dict[str, Any] = {}
    try:
        code = compile(config["policy"]["code"], "<policy>", "exec")
    except Exception as exc:  # SyntaxError, and MemoryError or RecursionError on deep code
        code = None
        failure = {"kind": "error", "error": _one_line(exc)}
    episode: _Child | None = None
    while True:
        if episode is not None:
            watched = [0] + ([episode.pidfd] if episode.pidfd is not None else [])
            ready = select.select(watched, [], [], None if episode.pidfd is not None else 0.05)[0]
            if (episode.pidfd is None or episode.pidfd in ready) and (
                ended := episode.exited()
            ) is not None:
                episode = None
                _write_frame(control, {"ended": ended})
            if 0 not in ready:
                continue
        message = _read_frame(0)
        if message is None:
            if episode is not None:
                episode.end(0.0)
            return
        if episode is not None:  # "end", or a new episode without one
            _write_frame(control, {"ended": episode.end(1.0)})
            episode = None
        if "seed" not in message:
            continue
        requests, to_child = os.pipe()
        from_child, replies = os.pipe()
        if code is None:
            _write_frame(replies, failure)
        else:
            pid = os.fork()
            if pid == 0:
                status = 0
                try:
                    _policy_episode(code, int(message["seed"]), config, allowed, requests, replies)
                except BaseException:
                    status = 70
                os._exit(status)
            episode = _Child(pid)
        socket.send_fds(channel, [b"e"], [to_child, from_child])
        for fd in (requests, to_child, from_child, replies):
            os.close(fd)
        if code is None:
            _write_frame(control, {"ended": "not loaded"})


def _snippet_server(config: dict[str, Any], allowed: frozenset[str]) -> None:
    """Serve snippets: a forked child per ``run``, killed at its wall-clock limit.

    Each child gets two new pipes whose other ends go to the host over the ``channel``
    socket: the host sends the code straight to the child and reads its result from it,
    so no snippet's code or output ever passes through this process, whose memory every
    later child starts as a copy of. This process only says how the child ended.
    """
    import socket

    channel = socket.socket(fileno=int(config["channel"]))
    while (message := _read_frame(0)) is not None:
        requests, to_child = os.pipe()
        from_child, results = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child never returns
            status = 0
            try:
                _child(config, allowed, requests, results)
            except BaseException:
                status = 70
            os._exit(status)
        socket.send_fds(channel, [b"e"], [to_child, from_child])
        for fd in (requests, to_child, from_child, results):
            os.close(fd)
        child = _Child(pid)
        ended = child.wait(float(message["run"]["wall_seconds"]))
        if ended is None:
            os.kill(pid, signal.SIGKILL)
            child.wait(None)
            ended = "wall"
        _write_frame(1, {"ended": ended, "run": message["run"]["id"]})


def main() -> None:
    # Frames are read from the raw descriptor (see _read_frame): a buffered reader could
    # swallow a request meant for later, and a forked child would hold a copy of it.
    config = _read_frame(0)
    sys.path.extend(config.get("path", []))
    allowed = frozenset(config["allowed"])
    for name in config["allowed"]:
        # Allowed but not installed: importing it in a snippet then fails normally.
        with contextlib.suppress(ImportError):
            __import__(name)
    if "numpy" in sys.modules:
        # The first seeding of numpy's global generator imports and builds what it needs
        # (about 50 ms): do it once here, not in every forked child.
        sys.modules["numpy"].random.seed(0)
    _harden_worker(config.get("seccomp") or {})
    _write_frame(1, {"ready": True})
    if "policy" in config:
        _policy_server(config, allowed)
        return
    _snippet_server(config, allowed)


if __name__ == "__main__":
    main()
