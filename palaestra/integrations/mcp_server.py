"""The tools of palaestra's tool environments, served over MCP (stdio), with mcp's MCPServer.

``palaestra serve-mcp palaestra/SearchQA-v0`` (or ``python -m
palaestra.integrations.mcp_server palaestra/SearchQA-v0``) runs :func:`serve_mcp`: an MCP
server on its stdin and stdout whose tools are the environment's own:

* ``search(query)`` for :class:`~palaestra.envs.searchqa.SearchQAEnv` ids: the numbered
  documents the environment shows for ``search[query]``, from the same BM25 index over the
  same corpus (``--env-kwargs '{"corpus_seed": 1}'`` picks another);
* ``python(code)`` for :class:`~palaestra.envs.math.MathToolEnv` ids: the code runs in the
  same OS sandbox under the same limits as a tool call of the environment, and the result
  reads as it does there. A run that fails (an exception, a limit) is an ``isError`` result
  with the same text.

A tool's own failure (an empty query, a failed run) is an ``isError`` result whose text is
exactly the tool's report. Arguments that do not match a tool's input schema are rejected
by mcp's MCPServer before the tool runs, as an ``isError`` result of its own wording
(``Error executing tool NAME: ...``, pydantic's report).

Each tool is a pure function of its arguments (a snippet runs with seed 0), so a client
that replays its calls sees the same results. Nothing but MCP messages reaches stdout:
building the environment runs with stdout pointed at stderr, and mcp's stdio transport
diverts stray prints while it serves.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from typing import Annotated, Any

import gymnasium as gym
from mcp.server.mcpserver import MCPServer
from mcp_types import CallToolResult, TextContent
from pydantic import Field

from palaestra.envs.math.env import MathToolEnv, sandbox_report
from palaestra.envs.registration import parse_env_kwargs
from palaestra.envs.searchqa import SearchQAEnv
from palaestra.errors import InvalidArgumentError
from palaestra.sandbox import shared_sandbox

#: What :func:`build_server` serves, by the environment class that provides the tool.
SERVED = {"search": SearchQAEnv, "python": MathToolEnv}

SearchQuery = Annotated[str, Field(description="Words to look up, e.g. a person's name.")]
PythonCode = Annotated[str, Field(description="A Python program; print what you want to see.")]


def build_server(env_id: str, env_kwargs: Mapping[str, Any] | None = None) -> MCPServer:
    """An MCP server whose tool is the tool of ``gym.make(env_id, **env_kwargs)``.

    Args:
        env_id: A registered id of a SearchQA or MathTool environment.
        env_kwargs: ``gym.make`` keyword arguments (corpus, search depth, sandbox limits).

    Raises:
        InvalidArgumentError: The environment has no tool to serve. An unknown id or
            argument fails as ``gym.make`` fails on it.
    """
    env = gym.make(env_id, **dict(env_kwargs or {})).unwrapped
    from palaestra import __version__

    server = MCPServer(
        "palaestra",
        instructions=f"The tools of {env_id}.",
        version=__version__,
        # Warnings only, on stderr: info level logs every rejected call.
        log_level="WARNING",
    )
    if isinstance(env, SearchQAEnv):
        _add_search(server, env)
    elif isinstance(env, MathToolEnv):
        _add_python(server, env)
    else:
        env.close()
        raise InvalidArgumentError(
            f"{env_id} has no tools to serve over MCP; serve-mcp serves SearchQA ids "
            "(palaestra/SearchQA-v0: search) and MathTool ids (palaestra/MathTool-v0: python)"
        )
    return server


def _result(text: str, *, failed: bool = False) -> CallToolResult:
    """A tool's text as its result.

    Returned, not raised as mcp's ``ToolError``: MCPServer puts ``Error executing tool
    NAME:`` before the text of a raised failure, and a failure should read as it reads in
    the environment.
    """
    return CallToolResult(content=[TextContent(type="text", text=text)], is_error=failed)


def _add_search(server: MCPServer, env: SearchQAEnv) -> None:
    def search(query: SearchQuery) -> CallToolResult:
        if not query.strip():
            return _result("the query is empty; give some words to search for", failed=True)
        return _result(env.results_text(query))

    server.add_tool(
        search,
        name="search",
        description=(
            f"Search a private encyclopedia about invented people, cities and companies; "
            f"returns the {env.top_k} best-matching entries, numbered."
        ),
        structured_output=False,
    )


def _add_python(server: MCPServer, env: MathToolEnv) -> None:
    limits = env.tool_limits
    sandbox = shared_sandbox(limits=limits, unsafe_sandbox=env.unsafe_sandbox)

    def python(code: PythonCode) -> CallToolResult:
        result = sandbox.run(code, seed=0)
        return _result(sandbox_report(result, limits.max_output_chars), failed=not result.ok)

    server.add_tool(
        python,
        name="python",
        description=(
            "Run a Python program in a sandbox and see what it prints. Available modules: "
            "math, fractions, itertools, collections, statistics, numpy, sympy; no files, no "
            f"network; {limits.cpu_seconds:g} s of CPU time and {limits.wall_seconds:g} s in all."
        ),
        structured_output=False,
    )


@contextlib.contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """Point file descriptor 1 at stderr for a while: stdout is the MCP wire."""
    sys.stdout.flush()
    wire = os.dup(1)
    try:
        os.dup2(2, 1)
        try:
            yield
        finally:
            sys.stdout.flush()
            os.dup2(wire, 1)
    finally:
        os.close(wire)


def serve_mcp(env_id: str, env_kwargs: Mapping[str, Any] | None = None) -> None:
    """Serve the tool of ``env_id`` over MCP on stdin and stdout until stdin ends.

    Args:
        env_id: A registered id of a SearchQA or MathTool environment.
        env_kwargs: ``gym.make`` keyword arguments.
    """
    with _stdout_to_stderr():
        server = build_server(env_id, env_kwargs)
    server.run("stdio")


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m palaestra.integrations.mcp_server ENV_ID [--env-kwargs JSON]``.

    argparse, not the tyro CLI of :mod:`palaestra.cli` (a library module never imports the
    CLI); ``palaestra serve-mcp`` is the documented spelling of the same thing.
    """
    parser = argparse.ArgumentParser(
        prog="python -m palaestra.integrations.mcp_server",
        description="Serve a palaestra tool environment's tools over MCP (stdio).",
    )
    parser.add_argument("env_id", help="e.g. palaestra/SearchQA-v0 or palaestra/MathTool-v0")
    parser.add_argument("--env-kwargs", default="{}", help="JSON object of gym.make arguments")
    args = parser.parse_args(argv)
    import palaestra  # noqa: F401 - registers the environments

    try:
        serve_mcp(args.env_id, parse_env_kwargs(args.env_kwargs))
    except (InvalidArgumentError, gym.error.Error) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
