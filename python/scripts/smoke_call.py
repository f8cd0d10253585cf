"""A governed call with the installed wheel: one allowed and one blocked
call to server-everything over stdio. Exits non-zero on any surprise."""

import asyncio
import sys
from pathlib import Path

import execlave
from execlave import Execlave, PolicyBlockedError
from execlave.integrations.mcp import instrument_mcp_session
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

SERVER = Path(__file__).resolve().parents[2] / "node_modules/@modelcontextprotocol/server-everything/dist/index.js"
POLICY = {
    "name": "Smoke",
    "policyType": "tool_invocation",
    "enforcementMode": "block",
    "ruleDefinition": {"allow": ["echo"]},
}


async def main() -> None:
    assert "site-packages" in execlave.__file__, f"not the installed wheel: {execlave.__file__}"
    with Execlave(policies=[POLICY]) as exe:
        params = StdioServerParameters(command="node", args=[str(SERVER), "stdio"])
        async with stdio_client(params) as (read, write):
            async with ClientSession(read, write) as session:
                instrument_mcp_session(session, exe, agent_id="smoke-agent")
                await session.initialize()
                result = await session.call_tool("echo", {"message": "smoke"})
                assert "smoke" in result.content[0].text  # type: ignore[union-attr]
                try:
                    await session.call_tool("get-sum", {"a": 1, "b": 2})
                except PolicyBlockedError as exc:
                    assert exc.violations[0]["rule"] == "not_allowed"
                else:
                    sys.exit("get-sum was not blocked")
        stats = exe.stats()
    assert (stats["allowed"], stats["blocked"]) == (1, 1), stats
    print(f"wheel smoke test passed: {execlave.__file__}")


asyncio.run(main())
