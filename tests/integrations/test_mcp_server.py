"""palaestra's tools over MCP: mcp's own client lists and calls them over stdio."""

import subprocess
import sys
from typing import Any

import anyio
import gymnasium as gym
import pytest
from mcp import Client, StdioServerParameters

from palaestra.envs.searchqa import SearchQAEnv
from palaestra.errors import InvalidArgumentError
from palaestra.integrations.mcp_server import build_server, main

SEARCHQA = "palaestra/SearchQA-v0"


def stdio(*args: str) -> StdioServerParameters:
    return StdioServerParameters(command=sys.executable, args=list(args))


def session(server: Any, calls: list[tuple[str, dict[str, Any]]]) -> tuple[Any, list[Any]]:
    """The tool listing and the results of ``calls``, from mcp's Client."""

    async def run() -> tuple[Any, list[Any]]:
        async with Client(server) as client:
            tools = await client.list_tools()
            return tools, [await client.call_tool(name, args) for name, args in calls]

    return anyio.run(run)


def text(result: Any) -> str:
    return "\n".join(block.text for block in result.content)


def test_search_over_stdio_shows_what_the_env_shows() -> None:
    env = gym.make(SEARCHQA, corpus_seed=1, top_k=2)
    env.reset(seed=0)
    base = env.unwrapped
    assert isinstance(base, SearchQAEnv)
    hop = base.question.hops[0]
    shown, *_ = env.step(f"search[{hop}]")
    command = stdio("-m", "palaestra.cli", "serve-mcp", SEARCHQA, "--env-kwargs",
                    '{"corpus_seed": 1, "top_k": 2}')  # fmt: skip
    tools, (found, empty, wrong) = session(
        command, [("search", {"query": hop}), ("search", {"query": "  "}), ("search", {"q": 1})]
    )
    (tool,) = tools.tools
    assert tool.name == "search" and "2 best-matching entries" in (tool.description or "")
    assert tool.input_schema["required"] == ["query"]
    assert shown.startswith(f"Results for {hop!r}:\n{text(found)}\n\n")
    assert not found.is_error
    # A tool's own failure reads as the tool says it, without MCPServer's prefix.
    assert empty.is_error and text(empty) == "the query is empty; give some words to search for"
    assert wrong.is_error and "query" in text(wrong)


def test_python_over_stdio_runs_in_the_sandbox() -> None:
    command = stdio("-m", "palaestra.integrations.mcp_server", "palaestra/MathTool-v0",
                    "--env-kwargs", '{"tool_output_chars": 50}')  # fmt: skip
    tools, (ok, error, long, escape) = session(
        command,
        [
            ("python", {"code": "import sympy\nprint(sympy.factorint(360))"}),
            ("python", {"code": "raise ValueError('nope')"}),
            ("python", {"code": "print('z' * 1000)"}),
            ("python", {"code": "import os\nprint(os.listdir('/'))"}),
        ],
    )
    assert [t.name for t in tools.tools] == ["python"]
    assert text(ok) == "Tool output:\n{2: 3, 3: 2, 5: 1}\n" and not ok.is_error
    # As MathTool-v0 shows it, without MCPServer's "Error executing tool python:".
    assert error.is_error and text(error) == "Tool output:\n(no output)\nError: ValueError: nope"
    assert "(output cut to 50 characters)" in text(long)
    assert escape.is_error and "os" in text(escape)


def test_in_process_server_and_refusals() -> None:
    server = build_server(SEARCHQA, {"people": 8})
    tools, (result,) = session(server, [("search", {"query": "born"})])
    assert [t.name for t in tools.tools] == ["search"]
    assert text(result).startswith("[1] ")
    with pytest.raises(InvalidArgumentError, match="has no tools to serve over MCP"):
        build_server("palaestra/Bandit-v0")


def test_bad_command_lines_exit_with_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["palaestra/Bandit-v0"]) == 2
    assert "has no tools to serve" in capsys.readouterr().err
    assert main([SEARCHQA, "--env-kwargs", "[1]"]) == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["palaestra/SerchQA-v0"], "Did you mean: `SearchQA`?"),
        ([SEARCHQA, "--env-kwargs", "[1]"], "error: "),
        (["palaestra/Bandit-v0"], "has no tools to serve over MCP"),
    ],
)
def test_serve_mcp_writes_its_errors_on_stderr_not_on_the_wire(
    args: list[str], message: str
) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "palaestra.cli", "serve-mcp", *args],
        capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60,
    )  # fmt: skip
    assert out.returncode == 2 and out.stdout == ""  # stdout is the MCP wire
    assert message in out.stderr
