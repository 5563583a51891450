"""Capturing what is written to descriptors 1 and 2, by Python or by native code."""

import ctypes
import os
import subprocess
import sys

from palaestra.envs.fd_output import captured_output


def test_native_writes_are_captured_and_bounded() -> None:
    # (Under pytest, Python's print goes to pytest's own capture, not to descriptor 1.)
    libc = ctypes.CDLL(None)
    with captured_output(limit=8) as out:
        os.write(1, b"fd one ")
        os.write(2, b"fd two ")
        libc.printf(b"from C")
        libc.fflush(None)
    assert out.size == len("fd one fd two from C")
    assert out.head == b"fd one f"


def test_python_writes_are_captured_in_a_plain_interpreter() -> None:
    code = (
        "from palaestra.envs.fd_output import captured_output\n"
        "import sys\n"
        "with captured_output() as out:\n"
        "    print('to stdout'); sys.stderr.write('to stderr')\n"
        "assert out.head == b'to stdout\\nto stderr', out.head\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout == b"" and done.stderr == b""


def test_the_descriptors_are_restored_and_blocks_nest(capfd: object) -> None:
    before = os.fstat(1).st_ino, os.fstat(2).st_ino
    with captured_output() as outer:
        os.write(1, b"outer ")
        with captured_output() as inner:
            os.write(1, b"inner")
        os.write(2, b"again")
    assert (os.fstat(1).st_ino, os.fstat(2).st_ino) == before
    assert inner.head == b"inner" and outer.head == b"outer again"


def test_nothing_written_is_nothing_captured() -> None:
    with captured_output() as out:
        pass
    assert out.size == 0 and out.head == b""


def test_a_forked_child_captures_into_files_of_its_own() -> None:
    with captured_output():
        pass  # the parent has its file now
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: capture, report what it saw, leave at once
        with captured_output() as out:
            os.write(1, b"child")
        os.write(write, out.head)
        os._exit(0)
    with captured_output() as out:
        os.write(1, b"parent")
    os.waitpid(pid, 0)
    os.close(write)
    assert os.read(read, 100) == b"child" and out.head == b"parent"
