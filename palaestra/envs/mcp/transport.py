"""A stdio transport for mcp's client that holds a hostile server to bounds.

mcp's own ``stdio_client`` joins a server's output into lines without a size limit (a
server that writes without a newline grows the buffer, and rejoining it costs quadratic
time), logs every unparseable line, lets the server write to our stderr, and takes up to
4 s to stop a server that ignores the end of its input. This one, for
:class:`~palaestra.envs.mcp.client.ToolServer`:

* starts the server in a process group of its own, with its stderr discarded;
* reads its stdout a line at a time within ``max_line_bytes`` (asyncio's stream limit: a
  longer line is an error, never a bigger buffer), so reading is linear in what it writes;
* treats anything that is not a JSON-RPC message as the end of the connection (the MCP
  spec forbids servers to write anything else to stdout), and records why in
  :attr:`StdioConnection.failure`;
* on exit closes the server's stdin, gives it ``grace_seconds`` to leave, and kills its
  whole process group.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import anyio
import mcp_types
from mcp.client.stdio import get_default_environment
from mcp.shared.message import SessionMessage

from palaestra.envs.core import shorten
from palaestra.envs.mcp.config import ServerConfig
from palaestra.processes import kill_group


class StdioConnection:
    """One server process and the transport over its pipes (enter it with ``async with``).

    Args:
        config: The server's command.
        max_line_bytes: The longest message read from it.
        grace_seconds: How long it may take to leave once its stdin is closed.
        pids: A list its process id is kept in while it runs (for a finalizer that kills
            what was not stopped).

    Attributes:
        process: The process, once started.
        failure: Why the connection ended on our side (a line too long, not JSON-RPC, its
            stdin closed), ``None`` otherwise.
    """

    def __init__(
        self,
        config: ServerConfig,
        max_line_bytes: int,
        grace_seconds: float,
        pids: list[int] | None = None,
    ) -> None:
        self.config = config
        self.pids = pids if pids is not None else []
        self.max_line_bytes = max_line_bytes
        self.grace_seconds = grace_seconds
        self.process: asyncio.subprocess.Process | None = None
        self.failure: str | None = None
        self._context: contextlib.AbstractAsyncContextManager[Any] | None = None

    async def __aenter__(self) -> Any:
        self._context = self._run()
        return await self._context.__aenter__()

    async def __aexit__(self, *exc: Any) -> bool | None:
        assert self._context is not None
        return await self._context.__aexit__(*exc)

    @contextlib.asynccontextmanager
    async def _run(self) -> AsyncIterator[Any]:
        config = self.config
        self.process = process = await asyncio.create_subprocess_exec(
            config.command,
            *config.args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            env={**get_default_environment(), **config.env},
            cwd=config.cwd,
            start_new_session=True,
            limit=self.max_line_bytes,
        )
        self.pids.append(process.pid)
        try:
            reader_send, reader = anyio.create_memory_object_stream[SessionMessage | Exception](0)
            writer, writer_receive = anyio.create_memory_object_stream[SessionMessage](0)
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(self._read, process, reader_send)
                tasks.start_soon(self._write, process, writer_receive, reader_send)
                try:
                    yield reader, writer
                finally:
                    tasks.cancel_scope.cancel()
            for stream in (reader, writer, reader_send, writer_receive):
                stream.close()
        finally:
            with anyio.CancelScope(shield=True):
                await self._stop(process)

    async def _read(self, process: asyncio.subprocess.Process, send: Any) -> None:
        assert process.stdout is not None
        async with send:
            while True:
                try:
                    line = await process.stdout.readline()
                except ValueError:  # asyncio's limit: the line is longer than we read
                    self.failure = f"the server wrote a message of over {self.max_line_bytes} bytes"
                    return
                except (OSError, asyncio.IncompleteReadError):
                    return
                if not line:
                    return
                if not line.strip():
                    continue
                try:
                    message = mcp_types.jsonrpc_message_adapter.validate_json(line, by_name=False)
                except ValueError:
                    text = line[:80].decode("utf-8", "replace")
                    self.failure = (
                        f"the server wrote something that is not JSON-RPC: {shorten(text)}"
                    )
                    return
                try:
                    await send.send(SessionMessage(message))
                except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                    return

    async def _write(
        self, process: asyncio.subprocess.Process, receive: Any, reader_send: Any
    ) -> None:
        assert process.stdin is not None
        try:
            async with receive:
                async for message in receive:
                    text = message.message.model_dump_json(by_alias=True, exclude_unset=True)
                    process.stdin.write(text.encode("utf-8", "surrogatepass") + b"\n")
                    await process.stdin.drain()
        except (OSError, anyio.ClosedResourceError, anyio.BrokenResourceError):
            self.failure = self.failure or "the server closed its input"
            await reader_send.aclose()  # so that waiting requests end now
        except Exception as exc:  # a message that cannot be written: the session is over
            self.failure = self.failure or f"a message could not be sent ({exc!s:.200})"
            await reader_send.aclose()

    async def _stop(self, process: asyncio.subprocess.Process) -> None:
        """Close its stdin, wait ``grace_seconds`` for it to leave, then kill its group."""
        if process.stdin is not None:
            with contextlib.suppress(OSError):
                process.stdin.close()
        await _exited(process, self.grace_seconds)
        kill_group(process.pid)  # what it started too, if it left before them
        await _exited(process, 2.0)
        # The pipes' transport stays open while a reader is paused on a full buffer (a
        # flood), and would be closed by the garbage collector on a loop that is gone.
        transport = getattr(process, "_transport", None)
        if transport is not None:
            transport.close()
        with contextlib.suppress(ValueError):
            self.pids.remove(process.pid)


async def _exited(process: asyncio.subprocess.Process, timeout: float) -> bool:
    """Whether the process ended within ``timeout`` seconds.

    Its return code is polled: ``process.wait()`` also waits for the end of its output,
    which never comes while the reader is paused on a full buffer.
    """
    deadline = asyncio.get_running_loop().time() + timeout
    while process.returncode is None:
        if asyncio.get_running_loop().time() >= deadline:
            return False
        await asyncio.sleep(0.01)
    return True
