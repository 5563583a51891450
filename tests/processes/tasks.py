"""Tasks for the pool tests, run in worker processes by import path."""

import os
import sys


def fork_then_answer(x: int) -> int:
    """Fork (as an engine or a library might) and return: only one answer must arrive."""
    os.fork()
    return x


def unsendable(kind: str) -> object:
    """A value JSON cannot carry, or an exit."""
    if kind == "object":
        return object()
    if kind == "circular":
        value: list[object] = []
        value.append(value)
        return value
    if kind == "exit":
        sys.exit(3)
    return kind
