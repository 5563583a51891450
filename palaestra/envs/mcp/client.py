"""An MCP server driven from synchronous code: start, list tools, call, stop, all bounded.

:class:`ToolServer` runs mcp's own ``Client`` on an event loop in a thread of its own (one
per server), over the transport of :mod:`palaestra.envs.mcp.transport`. The calling thread
waits for each exchange with a deadline; an exchange that misses it, or a server that
dies or answers garbage, kills the server's process group from the calling thread (which
needs nothing from the loop), and the next exchange starts a new server. Every failure is
a :class:`ToolServerError` whose message says what happened, for an observation.

Nothing the server sends is interpreted by more than pydantic's parsing of MCP's types
(linear in the message, which the transport bounds): a ``tools/call`` goes out as a plain
request, not through ``Client.call_tool``, which validates a result's structured content
against the tool's ``outputSchema`` with jsonschema on the loop thread, where a schema's
regular expression or an exponential ``anyOf``/``$ref`` holds the GIL past any deadline.

A :class:`ToolServer` belongs to the process that made it: in a forked child it never
touches the parent's server (nor its loop, which has no thread there) and starts a server
of its own if it is used.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import math
import os
import re
import threading
import time
import weakref
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

import anyio
import mcp_types
import pydantic
from mcp import Client
from mcp.shared.exceptions import MCPError

from palaestra.envs.mcp.config import ServerConfig
from palaestra.envs.mcp.transport import StdioConnection
from palaestra.processes import kill_group

_T = TypeVar("_T")
#: Pages of a tool listing read at most (a server whose cursor never ends cannot hang us).
MAX_TOOL_PAGES = 20
#: Tools kept from a listing.
MAX_TOOLS = 64
#: Characters of a tool's description kept.
MAX_DESCRIPTION_CHARS = 1000
#: MCP's rule for tool names; a listed tool whose name breaks it is left out.
TOOL_NAME = re.compile(r"[A-Za-z0-9_.\-]{1,128}")


class ToolServerError(Exception):
    """The server could not start, did not answer in time, died, or broke the protocol.

    Args:
        reason: What happened, in words for an agent.
        sent: Whether a call had been sent to the server when it failed.
    """

    def __init__(self, reason: str, *, sent: bool = False) -> None:
        super().__init__(reason)
        self.sent = sent


class ToolCallRefused(Exception):  # noqa: N818 - the server's answer, not our error
    """The server answered a call with a JSON-RPC error (unknown tool, bad arguments)."""


class UnsendableCall(ValueError):  # noqa: N818 - a verdict on the call, like ToolCallRefused
    """The call cannot be written as an MCP request (nothing was sent; the server runs on)."""


@dataclass(frozen=True)
class ToolSpec:
    """A tool as the server lists it.

    Attributes:
        name: What a call names.
        description: What it does (empty where the server says nothing).
        input_schema: The JSON schema of its arguments.
    """

    name: str
    description: str
    input_schema: dict[str, Any]


@dataclass(frozen=True)
class ToolOutput:
    """What a call returned, as text.

    Attributes:
        text: The result's content, cut to the output limit.
        is_error: The server marked it a failure of the tool (``isError``).
        truncated: Whether the text was cut.
    """

    text: str
    is_error: bool
    truncated: bool


class ToolServer:
    """One MCP server over stdio, started on first use and restarted after a failure.

    Args:
        config: The server's command.
        start_timeout_s: Longest wait for it to start and list its tools.
        call_timeout_s: Longest wait for the answer to one call.
        max_output_chars: Characters of a result kept.
        max_message_bytes: Longest message read from the server.
    """

    def __init__(
        self,
        config: ServerConfig,
        *,
        start_timeout_s: float,
        call_timeout_s: float,
        max_output_chars: int,
        max_message_bytes: int,
    ) -> None:
        self.config = config
        self.start_timeout_s = start_timeout_s
        self.call_timeout_s = call_timeout_s
        self.max_output_chars = max_output_chars
        self.max_message_bytes = max_message_bytes
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._client: Client | None = None
        self._connection: StdioConnection | None = None
        self._stop_event: asyncio.Event | None = None
        self._task: concurrent.futures.Future[None] | None = None
        self._finalizer: weakref.finalize[Any, Any] | None = None
        self._pids: list[int] = []  # the server's, while it runs (for the finalizer)
        self._owner = os.getpid()
        self.tools: list[ToolSpec] = []

    @property
    def running(self) -> bool:
        """Whether a server of this process is connected and its process alive."""
        connection = self._connection
        return (
            self._owner == os.getpid()
            and self._client is not None
            and connection is not None
            and connection.process is not None
            and connection.process.returncode is None
            and connection.failure is None
        )

    @property
    def pid(self) -> int | None:
        """The server's process id (its process group's too), while one runs."""
        connection = self._connection if self._owner == os.getpid() else None
        process = connection.process if connection is not None else None
        return process.pid if process is not None and process.returncode is None else None

    def start(self) -> list[ToolSpec]:
        """Start the server unless it runs, and return its tools.

        Raises:
            ToolServerError: It did not start, or did not list its tools, within
                ``start_timeout_s`` (it is stopped).
        """
        if self.running:
            return self.tools
        self.stop()
        loop = self._running_loop()
        started: concurrent.futures.Future[tuple[Client, list[ToolSpec]]]
        started = concurrent.futures.Future()
        self._stop_event = stop = asyncio.Event()
        self._connection = connection = StdioConnection(
            self.config, self.max_message_bytes, grace_seconds=0.3, pids=self._pids
        )
        self._task = asyncio.run_coroutine_threadsafe(
            _hold(connection, stop, started, self.start_timeout_s), loop
        )
        try:
            self._client, self.tools = started.result(self.start_timeout_s)
        except concurrent.futures.TimeoutError:
            self.stop()
            raise ToolServerError(
                f"the MCP server did not start within {self.start_timeout_s:g} s"
            ) from None
        except Exception as exc:
            reason = self._failure(exc, "start")
            self.stop()
            raise ToolServerError(f"the MCP server did not start: {reason}") from exc
        return self.tools

    def call(self, name: str, arguments: dict[str, Any]) -> ToolOutput:
        """Call tool ``name`` (starting the server if it does not run).

        Args:
            name: The tool's name, as the server lists it.
            arguments: Its arguments (checked against its input schema already).

        Returns:
            What the tool answered: its content, and whether it is an ``isError`` result.

        Raises:
            UnsendableCall: The call cannot be written as a request (checked first: nothing
                is sent, and the server is not started for it).
            ToolServerError: The server failed (it is stopped, and restarts on next use).
                ``sent`` says whether the call had gone out (not when the start failed).
            ToolCallRefused: It answered with a JSON-RPC error; it keeps running.
        """
        request = call_request(name, arguments)
        self.start()
        client = self._client
        assert client is not None
        try:
            result = self._wait(_send_call(client, request), self.call_timeout_s)
        except concurrent.futures.TimeoutError:
            self.stop()
            raise ToolServerError(
                f"the MCP server did not answer within {self.call_timeout_s:g} s; it was "
                "stopped and restarts at the next call",
                sent=True,
            ) from None
        except MCPError as exc:
            if exc.code != mcp_types.CONNECTION_CLOSED:
                raise ToolCallRefused(
                    text_of(f"{exc.error.message} (error {exc.code})")[:500]
                ) from exc
            reason = self._failure(exc, "call")
            self.stop()
            raise ToolServerError(f"{reason}; it restarts at the next call", sent=True) from exc
        except Exception as exc:
            reason = self._failure(exc, "call")
            self.stop()
            raise ToolServerError(f"{reason}; it restarts at the next call", sent=True) from exc
        text, truncated = _result_text(result, self.max_output_chars)
        return ToolOutput(text, bool(result.is_error), truncated)

    def stop(self) -> None:
        """Stop the server (its whole process group); the loop thread stays for a restart.

        In a forked child, the parent's server and loop are forgotten, never touched.
        """
        if self._owner != os.getpid():
            self._forget_parent()
            return
        connection, self._connection = self._connection, None
        self._client = None
        process = connection.process if connection is not None else None
        if process is not None and process.returncode is None:
            kill_group(process.pid)  # at once, from this thread: the loop may be stuck
        loop, stop, task = self._loop, self._stop_event, self._task
        self._stop_event = self._task = None
        if loop is not None and stop is not None and loop.is_running():
            loop.call_soon_threadsafe(stop.set)
        if task is not None:
            try:
                task.result(3.0)  # the transport's bounded clean-up
            except concurrent.futures.TimeoutError:
                # The loop does not get to it: something holds its thread. A restart gets a
                # loop of its own rather than waiting behind it (the old thread is a daemon).
                self._drop_loop(wait_s=0.0)
            except Exception:  # how the session ended was reported already
                pass

    def close(self) -> None:
        """Stop the server and the loop thread (idempotent)."""
        self.stop()
        self._drop_loop(wait_s=2.0)

    # ------------------------------------------------------------------ internals

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        if self._owner != os.getpid():
            self._forget_parent()
        if self._loop is None:
            loop = asyncio.new_event_loop()
            thread = threading.Thread(
                target=_serve, args=(loop,), name="palaestra-mcp-client", daemon=True
            )
            thread.start()
            self._loop, self._thread = loop, thread
            # A server never outlives its env: killed when the env is collected unclosed,
            # or when the interpreter exits (by this process only, not by a fork of it).
            self._finalizer = weakref.finalize(self, _shut_down, loop, self._pids, self._owner)
        return self._loop

    def _forget_parent(self) -> None:
        """In a forked child: drop the parent's server, loop and finalizer, touching none.

        The child has none of the parent's threads, so the loop does not run here; the
        server is the parent's to stop.
        """
        if self._finalizer is not None:
            self._finalizer.detach()  # this process's copy of it
        self._loop = self._thread = self._client = self._connection = None
        self._stop_event = self._task = None
        self._finalizer, self._pids = None, []
        self._owner = os.getpid()

    def _drop_loop(self, wait_s: float) -> None:
        """Kill what still runs, stop the loop (its thread closes it), and forget both."""
        thread, finalizer = self._thread, self._finalizer
        self._loop = self._thread = self._finalizer = None
        if finalizer is not None:
            finalizer()
        if thread is not None and wait_s > 0 and thread is not threading.current_thread():
            thread.join(wait_s)

    def _wait(self, coroutine: Coroutine[Any, Any, _T], timeout: float) -> _T:
        loop = self._loop
        assert loop is not None
        future = asyncio.run_coroutine_threadsafe(coroutine, loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise

    def _failure(self, exc: BaseException, what: str) -> str:
        """What went wrong, for an observation.

        In order: the transport's record, an answer that is not MCP, the process's exit,
        the exception.
        """
        connection = self._connection
        if connection is not None and connection.failure is not None:
            return connection.failure
        invalid = _validation_error(exc)
        if invalid is not None:
            # Checked before the exit: the client ends the session, and the server leaves.
            errors = invalid.errors(include_url=False, include_input=False)
            first = errors[0] if errors else {"loc": (), "msg": str(invalid)}
            where = ".".join(str(part) for part in first["loc"]) or "the message"
            reason = f"the MCP server's answer is not valid MCP ({where}: {first['msg']})"
            return text_of(reason)[:300]
        process = connection.process if connection is not None else None
        if process is not None:
            # Its output ends a moment before the loop learns that it exited.
            deadline = time.monotonic() + 0.5
            while process.returncode is None and time.monotonic() < deadline:
                time.sleep(0.01)
            if process.returncode is not None:
                return f"the MCP server exited (status {process.returncode})"
        if process is None and isinstance(exc, OSError):  # it did not start
            cwd = self.config.cwd
            if cwd is not None and (exc.filename == cwd or not os.path.isdir(cwd)):
                return f"no folder {cwd!r} (the server's cwd)"
            if isinstance(exc, FileNotFoundError):
                return f"no program {self.config.command!r}"
            return (
                f"{(exc.filename or self.config.command)!r} cannot be run ({exc.strerror or exc})"
            )
        if isinstance(exc, MCPError) and exc.code == mcp_types.CONNECTION_CLOSED:
            return "the MCP server closed the connection"
        text = str(exc) or type(exc).__name__
        return f"the {what} failed ({type(exc).__name__}: {text[:200]})"

    def __getstate__(self) -> dict[str, Any]:
        """The settings only: a copy starts a server of its own."""
        return {
            "config": self.config,
            "start_timeout_s": self.start_timeout_s,
            "call_timeout_s": self.call_timeout_s,
            "max_output_chars": self.max_output_chars,
            "max_message_bytes": self.max_message_bytes,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state.pop("config"), **state)  # type: ignore[misc]

    def __deepcopy__(self, memo: dict[int, Any]) -> ToolServer:
        copy = ToolServer.__new__(ToolServer)
        copy.__setstate__(self.__getstate__())
        return copy


def _shut_down(loop: asyncio.AbstractEventLoop, pids: list[int], owner: int) -> None:
    """Kill the servers of a :class:`ToolServer` nobody closed, and stop its loop.

    Only in the process that started them: a forked child that exits runs its copy of this
    finalizer too, and must not kill its parent's servers.
    """
    if os.getpid() != owner:
        return
    for pid in list(pids):
        kill_group(pid)
    with contextlib.suppress(RuntimeError):  # closed already
        loop.call_soon_threadsafe(loop.stop)


def _serve(loop: asyncio.AbstractEventLoop) -> None:
    """Run ``loop`` until it is stopped, end what still runs in it, and close it.

    Closing it here, in its own thread, releases its file descriptors (its selector and
    wake-up pipe) however the :class:`ToolServer` ended: closed, or collected unclosed.
    """
    try:
        loop.run_forever()
    finally:
        tasks = asyncio.all_tasks(loop)
        for task in tasks:
            task.cancel()
        if tasks:  # a session left open: its transport kills and waits for its server
            with contextlib.suppress(BaseException):
                loop.run_until_complete(asyncio.wait(tasks, timeout=3.0))
        loop.close()


async def _hold(
    connection: StdioConnection,
    stop: asyncio.Event,
    started: concurrent.futures.Future[tuple[Client, list[ToolSpec]]],
    timeout: float,
) -> None:
    """Open the session, list the tools, and hold the session open until ``stop``.

    A function, not a method: the loop holds it, and must not hold the
    :class:`ToolServer` (whose finalizer stops a server nobody closed).
    """
    try:
        # Bounded here too, so that nothing of a server that hangs stays in the loop. The
        # scope holds the whole session: a cancel scope may not end inside a task group.
        # A second later than the caller's deadline, so the caller's report comes first.
        with anyio.CancelScope(deadline=anyio.current_time() + timeout + 1.0) as scope:
            async with Client(connection, cache=None) as client:
                tools = await _list_tools(client)
                scope.deadline = math.inf
                if not started.done():
                    started.set_result((client, tools))
                await stop.wait()
        if not started.done():
            started.set_exception(TimeoutError(f"no handshake within {timeout:g} s"))
    except BaseException as exc:
        if not started.done():
            started.set_exception(exc if isinstance(exc, Exception) else RuntimeError(exc))
        if not isinstance(exc, Exception):
            raise


async def _send_call(
    client: Client, request: mcp_types.CallToolRequest
) -> mcp_types.CallToolResult:
    """Send ``request`` and parse the result with MCP's types, nothing more.

    Not ``client.call_tool``: it validates structured content against the tool's
    ``outputSchema`` with jsonschema, in this loop's thread (see the module docstring).
    """
    return await client.session.send_request(request, mcp_types.CallToolResult)


def call_request(name: str, arguments: dict[str, Any]) -> mcp_types.CallToolRequest:
    """The ``tools/call`` request for a call, once it is known to serialize.

    Serialized here as the session and the transport will serialize it, so that a value
    pydantic cannot write (nested past its depth limit, say) is the caller's error, found
    before anything is sent, and not a failure of the session.

    Raises:
        UnsendableCall: It cannot be written.
    """
    try:
        request = mcp_types.CallToolRequest(
            params=mcp_types.CallToolRequestParams(name=name, arguments=arguments)
        )
        data = request.model_dump(by_alias=True, mode="json", exclude_none=True)
        message = mcp_types.JSONRPCRequest(
            jsonrpc="2.0", id=0, method=data["method"], params=data.get("params")
        )
        message.model_dump_json(by_alias=True, exclude_unset=True).encode("utf-8")
    except (ValueError, TypeError, RecursionError) as exc:  # pydantic's errors are ValueErrors
        raise UnsendableCall(
            f"the call of {text_of(name)[:128]!r} cannot be written as an MCP request "
            f"({text_of(str(exc))[:200]})"
        ) from None
    return request


async def _list_tools(client: Client) -> list[ToolSpec]:
    tools: list[ToolSpec] = []
    names: set[str] = set()
    cursor: str | None = None
    for _ in range(MAX_TOOL_PAGES):
        page = await client.list_tools(cursor=cursor)
        for tool in page.tools:
            if not TOOL_NAME.fullmatch(tool.name) or tool.name in names:
                continue  # MCP's rule for names: one a call can name, and names one tool
            names.add(tool.name)
            schema = tool.input_schema if isinstance(tool.input_schema, dict) else {}
            try:
                text_of(json.dumps(schema))  # it must serialize, into the instruction
            except (ValueError, RecursionError):
                schema = {}
            description = text_of(tool.description or "")[:MAX_DESCRIPTION_CHARS]
            tools.append(ToolSpec(tool.name, description, dict(schema)))
        cursor = page.next_cursor
        if cursor is None or len(tools) >= MAX_TOOLS:
            break
    return tools[:MAX_TOOLS]


def _validation_error(exc: BaseException) -> pydantic.ValidationError | None:
    """The pydantic error behind ``exc`` (raised, its cause, or in an exception group)."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending:
        item = pending.pop()
        if item is None or id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, pydantic.ValidationError):
            return item
        grouped = getattr(item, "exceptions", None)  # an exception group (3.11, anyio's)
        if isinstance(grouped, tuple):
            pending.extend(e for e in grouped if isinstance(e, BaseException))
        pending.append(item.__cause__)
    return None


def _result_text(result: mcp_types.CallToolResult, limit: int) -> tuple[str, bool]:
    """The result's content as text, cut to ``limit`` characters."""
    parts: list[str] = []
    size = 0
    for block in result.content:
        if size > limit:
            break
        part = _block_text(block)
        parts.append(part)
        size += len(part) + 1
    if not parts and result.structured_content is not None:
        parts.append(json.dumps(result.structured_content, ensure_ascii=False)[: limit + 1])
    text = text_of("\n".join(parts))
    return text[:limit], len(text) > limit


def text_of(text: str) -> str:
    """``text`` with lone surrogates (JSON can carry them; no text can) replaced by ``?``."""
    return text.encode("utf-8", "replace").decode("utf-8")


def _block_text(block: Any) -> str:
    if isinstance(block, mcp_types.TextContent):
        return block.text
    if isinstance(block, (mcp_types.ImageContent, mcp_types.AudioContent)):
        return f"[{block.type}: {block.mime_type}, {len(block.data)} characters of base64]"
    if isinstance(block, mcp_types.ResourceLink):
        return f"[resource link: {block.uri}]"
    if isinstance(block, mcp_types.EmbeddedResource):
        resource = block.resource
        if isinstance(resource, mcp_types.TextResourceContents):
            return resource.text
        return f"[resource: {resource.uri}]"
    return f"[{getattr(block, 'type', 'unknown')} content]"
