"""Stand-ins for a pathological replay, imported by the replay process by name."""


def spin(payload: object) -> tuple[str, str]:
    """Burn CPU for ever (a replay that never finishes)."""
    while True:
        pass


def answer(payload: object) -> tuple[str, str]:
    """Report the payload back as a mismatch (the pipe works both ways)."""
    return "mismatch", f"got {payload!r}"


def terminated(payload: object) -> tuple[str, str]:
    """Killed from outside mid-replay (a server stopped with SIGTERM)."""
    import os
    import signal
    import time

    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(10)
    return "ok", ""


def interrupted(payload: object) -> tuple[str, str]:
    """Ctrl-C reaches the replay process."""
    raise KeyboardInterrupt


def leave_a_helper(pid_file: str) -> tuple[str, str]:
    """Start a sleeping helper process (as an engine might) and answer without waiting."""
    import subprocess
    import sys
    from pathlib import Path

    helper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    Path(pid_file).write_text(str(helper.pid))
    return "ok", "left a helper"


def stall_mid_verdict(payload: object) -> tuple[str, str]:
    """Begin a verdict on the pipe and never finish it (a child stopped half-way)."""
    import gc
    import struct
    import time
    from multiprocessing.connection import Connection

    pipe = next(o for o in gc.get_objects() if isinstance(o, Connection) and o.writable)
    pipe._send(struct.pack("!i", 1 << 20) + b"half")  # the raw pipe, on purpose
    time.sleep(600)
    return "ok", ""


def no_verdict(payload: object) -> object:
    """Answer something that is not a (kind, message) pair."""
    return 42
