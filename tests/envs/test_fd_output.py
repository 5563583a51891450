"""Keeping writes to descriptors 1 and 2 off the terminal, by Python or by native code."""

import ctypes
import os
import subprocess
import sys
import threading

import pytest

from palaestra.envs.fd_output import captured_output, silenced


def run(code: str, **env: str) -> subprocess.CompletedProcess[bytes]:
    """``code`` in a fresh interpreter, its output on pipes (C's stdio fully buffered)."""
    environment = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"} | env
    return subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60,
                          env=environment)  # fmt: skip


def test_native_writes_are_captured_and_bounded() -> None:
    libc = ctypes.CDLL(None)
    with captured_output(limit=8) as out:
        os.write(1, b"fd one ")
        os.write(2, b"fd two ")
        libc.printf(b"from C")
    assert out.size == len("fd one fd two from C")
    assert out.head == b"fd one f"


def test_buffered_writes_of_python_and_c_stay_on_their_side_of_the_block() -> None:
    done = run(
        "import ctypes, sys\n"
        "from palaestra.envs.fd_output import captured_output, silenced\n"
        "libc = ctypes.CDLL(None)\n"
        "print('before', end=''); libc.printf(b'-c-before')\n"
        "with captured_output() as out:\n"
        "    print('in', end=''); sys.stderr.write('!'); libc.printf(b'-c-in')\n"
        "with silenced():\n"
        "    print('hidden'); libc.printf(b'c-hidden')\n"
        "print('|after', end='')\n"
        "assert out.head == b'in!-c-in', out.head\n"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == b"before-c-before|after" and done.stderr == b""


def test_silenced_writes_go_nowhere_and_blocks_nest() -> None:
    before = os.fstat(1).st_ino, os.fstat(2).st_ino
    with captured_output() as out:
        os.write(1, b"seen ")
        with silenced():
            os.write(1, b"unseen")
            with silenced():
                os.write(2, b"unseen too")
        os.write(2, b"seen again")
    assert (os.fstat(1).st_ino, os.fstat(2).st_ino) == before
    assert out.head == b"seen seen again"


def test_silenced_blocks_overlap_across_threads() -> None:
    before = os.fstat(1).st_ino
    inside, leave = threading.Event(), threading.Event()

    def other() -> None:
        with silenced():
            inside.set()
            leave.wait(10)

    thread = threading.Thread(target=other)
    thread.start()
    inside.wait(10)
    with silenced():  # starts while the other runs, ends before it
        os.write(1, b"nowhere")
    assert os.fstat(1).st_ino != before  # the other thread's block still silences
    leave.set()
    thread.join(10)
    assert os.fstat(1).st_ino == before


def test_an_exception_in_the_block_restores_the_descriptors() -> None:
    before = os.fstat(1).st_ino, os.fstat(2).st_ino
    with pytest.raises(KeyError), silenced():
        raise KeyError("inside")
    with pytest.raises(KeyError), captured_output():
        raise KeyError("inside")
    assert (os.fstat(1).st_ino, os.fstat(2).st_ino) == before


def test_a_closed_descriptor_is_closed_again_and_the_other_kept() -> None:
    done = run(
        "import os\n"
        "from palaestra.envs.fd_output import captured_output, silenced\n"
        "os.close(2)\n"
        "with silenced():\n"
        "    os.write(1, b'hidden')\n"
        "with captured_output() as out:\n"
        "    os.write(1, b'caught')\n"
        "try:\n"
        "    os.fstat(2)\n"
        "except OSError:\n"
        "    os.write(1, b'fd 2 closed; ' + out.head)\n"
    )
    assert done.returncode == 0 and done.stdout == b"fd 2 closed; caught"


def test_a_forked_child_starts_with_no_block_running() -> None:
    read, write = os.pipe()
    with silenced():
        pid = os.fork()
        if pid == 0:  # the child: its own blocks work, whatever the parent was doing
            with captured_output() as out:
                os.write(1, b"child")
            os.write(write, out.head)
            os._exit(0)
    os.waitpid(pid, 0)
    os.close(write)
    assert os.read(read, 100) == b"child"
