"""Messages between processes: one JSON object per frame, read with a size cap and a deadline.

A frame is a 4-byte big-endian length and that many bytes of UTF-8 JSON holding one object.
The length comes first, so a reader knows the size of a message before it reads it: a
frame announced over the cap is refused without reading it, and whatever a writer sends
(garbage, a frame that never ends) costs the reader at most the cap and the deadline. A
reader takes exactly the bytes of the frame it is reading, never any of the next one, so
a descriptor that polls readable still holds the rest of the stream, and a process that
forks while reading leaves no buffered bytes behind in its copy.
"""

from __future__ import annotations

import json
import os
import re
import select
import struct
import time
from typing import Any

#: The largest frame a reader accepts by default, in bytes.
MAX_FRAME_BYTES = 1 << 20
_HEADER = struct.Struct(">I")


class ProtocolError(OSError):
    """The other end sent something that is not a frame of a JSON object within the cap.

    An ``OSError``, as a broken pipe is: either way the other end cannot be talked to.
    """


def encode(message: dict[str, Any]) -> bytes:
    """``message`` as one frame."""
    payload = json.dumps(message).encode()
    return _HEADER.pack(len(payload)) + payload


def wait_for(fd: int, timeout: float | None, *, write: bool = False) -> bool:
    """Whether ``fd`` can be read (or written) within ``timeout`` seconds (``None``: ever).

    ``poll``, not ``select``: a large process has descriptors past ``select``'s 1024.
    """
    poller = select.poll()
    poller.register(fd, select.POLLOUT if write else select.POLLIN)
    return bool(poller.poll(None if timeout is None else max(timeout, 0.0) * 1000))


class FrameReader:
    """Frames from a file descriptor, each within a size cap and a deadline.

    Args:
        fd: The descriptor read (not closed here).
        max_bytes: The largest frame accepted (its JSON text).
    """

    def __init__(self, fd: int, max_bytes: int = MAX_FRAME_BYTES) -> None:
        self.fd, self.max_bytes = fd, max_bytes
        self._read = bytearray()  # of the header, then of the payload
        self._size: int | None = None  # the payload's, once the header is read

    def receive(self, timeout: float | None) -> dict[str, Any] | None:
        """The next frame's object; ``None`` when the writer closed its end.

        A frame the writer began and never finished before closing its end (it died half
        way) is dropped: the end of the stream is all there is to say.

        Args:
            timeout: Seconds to wait for the whole frame (``None``: for ever). What has
                arrived is read once even past the deadline, so an answer already there is
                taken however late the reader comes for it; a frame half read when time
                runs out is kept for the next call.

        Raises:
            TimeoutError: No whole frame within ``timeout`` seconds.
            ProtocolError: A frame over ``max_bytes``, or not a JSON object (not UTF-8,
                not JSON, nested past the parser's depth, not an object).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            wanted = (_HEADER.size if self._size is None else self._size) - len(self._read)
            if wanted == 0 and self._size is None:
                (self._size,) = _HEADER.unpack(self._read)
                self._read.clear()
                if self._size > self.max_bytes:
                    raise ProtocolError(
                        f"the process answered too much: a frame of {self._size} bytes, "
                        f"over the limit of {self.max_bytes}"
                    )
                continue
            if wanted == 0:
                payload, self._read, self._size = self._read, bytearray(), None
                return _decode(payload)
            remaining = None if deadline is None else deadline - time.monotonic()
            if not wait_for(self.fd, remaining):
                raise TimeoutError("no whole frame in time")
            chunk = os.read(self.fd, min(wanted, 1 << 16))
            if not chunk:
                self._read, self._size = bytearray(), None
                return None
            self._read += chunk


#: A JSON escape of a UTF-16 surrogate: decoded alone, it is a string no encoder takes.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
#: A surrogate left in a decoded string (a pair has become one character already).
_SURROGATE = re.compile("[\ud800-\udfff]")


def _decode(payload: bytes | bytearray) -> dict[str, Any]:
    try:
        text = payload.decode()
        message = json.loads(text)
    except (ValueError, RecursionError):  # not UTF-8, not JSON, or nested past the depth
        message = None
    if not isinstance(message, dict):
        raise ProtocolError("the process answered garbage: a frame that is no JSON object")
    # A lone surrogate (``"\\ud800"``) would crash whatever encodes the text next (a
    # tokenizer, a UTF-8 log): it becomes U+FFFD, as an invalid byte would.
    return _scrub(message) if _SURROGATE_ESCAPE.search(text) else message


def _scrub(value: Any) -> Any:
    """``value`` with every lone surrogate in its strings (keys too) replaced by U+FFFD."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    if isinstance(value, dict):
        return {_scrub(k): _scrub(v) for k, v in value.items()}
    return value


def write_frame(fd: int, message: dict[str, Any], timeout: float | None) -> None:
    """Write ``message`` as one frame to ``fd`` within ``timeout`` seconds (``None``: ever).

    The deadline holds for a non-blocking ``fd``; a blocking one waits for the reader.

    Raises:
        TimeoutError: The reader did not take it in time (a full pipe).
        OSError: The reader is gone.
    """
    view = memoryview(encode(message))
    deadline = None if timeout is None else time.monotonic() + timeout
    while view:
        try:
            view = view[os.write(fd, view) :]
        except BlockingIOError:
            remaining = None if deadline is None else deadline - time.monotonic()
            if not wait_for(fd, remaining, write=True):
                raise TimeoutError("the reader took no frame in time") from None


__all__ = ["MAX_FRAME_BYTES", "FrameReader", "ProtocolError", "encode", "wait_for", "write_frame"]
