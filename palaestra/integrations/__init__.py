"""Bridges between palaestra and other environment ecosystems.

:mod:`palaestra.integrations.openenv_server` serves any registered palaestra environment
to OpenEnv clients (``palaestra serve-env ID``); :mod:`palaestra.integrations.openenv_env`
plays any OpenEnv server as a Gymnasium environment (``palaestra/OpenEnv-v0``). Both need
the ``openenv`` extra. :mod:`palaestra.integrations.mcp_server` serves the tools of the tool
environments (SearchQA's search, MathTool's sandboxed Python) over MCP
(``palaestra serve-mcp ID``; the ``mcp`` extra); ``palaestra/MCPTool-v0``
(:mod:`palaestra.envs.mcp`) plays any MCP server's tools.
"""
