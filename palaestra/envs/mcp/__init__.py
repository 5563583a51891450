"""Questions answered with the tools of any MCP server: ``palaestra/MCPTool-v0``.

:class:`MCPToolEnv` is the environment; :class:`ServerConfig` names a server (a stdio
command); :class:`ToolServer` drives one from synchronous code, with time and size limits.
Needs the ``mcp`` extra.
"""

from palaestra.optional import require

require("mcp", "mcp", "palaestra/MCPTool-v0")

from palaestra.envs.mcp.client import (  # noqa: E402
    ToolCallRefused,
    ToolOutput,
    ToolServer,
    ToolServerError,
    ToolSpec,
    UnsendableCall,
)
from palaestra.envs.mcp.config import ServerConfig  # noqa: E402
from palaestra.envs.mcp.env import MCPToolEnv  # noqa: E402

__all__ = [
    "MCPToolEnv",
    "ServerConfig",
    "ToolCallRefused",
    "ToolOutput",
    "ToolServer",
    "ToolServerError",
    "ToolSpec",
    "UnsendableCall",
]
