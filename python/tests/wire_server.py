"""A stdio MCP server for test_wire.py: one tool, ``inspect``, that takes
anything. The test runs it behind ``tee``, which keeps the bytes the client
sent."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from support import MCP_MAJOR  # noqa: E402

if MCP_MAJOR >= 2:
    from mcp.server.mcpserver import MCPServer as HighLevel
else:
    from mcp.server.fastmcp import FastMCP as HighLevel

server = HighLevel("execlave-wire")


@server.tool()
def inspect(payload: Any = None) -> str:
    return "ok"


if __name__ == "__main__":
    server.run()
