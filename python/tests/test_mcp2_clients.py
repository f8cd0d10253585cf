"""mcp 2.x: the high-level ``mcp.Client`` and ``ClientSessionGroup`` call
through the session, so instrumenting the session governs them."""

from __future__ import annotations

from typing import Any

import pytest
from execlave import Execlave
from execlave.errors import PolicyBlockedError
from execlave.integrations.mcp import instrument_mcp_session
from support import MCP_MAJOR, TEST_POLICIES, build_server, in_memory_session, text_of

pytestmark = pytest.mark.skipif(MCP_MAJOR < 2, reason="mcp.Client and its in-process transport are mcp 2.x")


async def test_mcp_client_is_governed_through_its_session() -> None:
    from mcp import Client

    ran: dict[str, list[Any]] = {}
    with Execlave(policies=TEST_POLICIES) as exe:
        async with Client(build_server(ran)) as client:
            instrument_mcp_session(client.session, exe, agent_id="ops-agent")
            with pytest.raises(PolicyBlockedError):
                await client.call_tool("delete_all", {})
            assert text_of(await client.call_tool("echo", {"text": "via Client"})) == "via Client"
        assert "delete_all" not in ran
        assert exe.stats()["decisions"] == 2


async def test_client_session_group_is_governed_through_its_sessions() -> None:
    from mcp import types
    from mcp.client.session_group import ClientSessionGroup

    with Execlave(policies=TEST_POLICIES) as exe:
        # The group learns its tools from list_tools: with hide_blocked_tools
        # (the default) it never hears of a tool the policies refuse by name.
        setup = lambda s: instrument_mcp_session(s, exe, agent_id="ops-agent")  # noqa: E731
        async with in_memory_session(setup) as (session, ran):
            group = ClientSessionGroup()
            await group.connect_with_session(types.Implementation(name="test", version="1"), session)
            assert "delete_all" not in group.tools and "echo" in group.tools
        # Listed anyway, a refused tool is still refused when the group calls it.
        setup = lambda s: instrument_mcp_session(s, exe, agent_id="ops-agent", hide_blocked_tools=False)  # noqa: E731
        async with in_memory_session(setup) as (session, ran):
            group = ClientSessionGroup()
            await group.connect_with_session(types.Implementation(name="test", version="1"), session)
            with pytest.raises(PolicyBlockedError):
                await group.call_tool("delete_all", {})
            assert text_of(await group.call_tool("echo", {"text": "via group"})) == "via group"
            assert "delete_all" not in ran
