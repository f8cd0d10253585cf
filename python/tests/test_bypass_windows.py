"""Bypass windows (issue 22): calls that go ahead under fail_open without a
decision are reported to the control plane's audit log
(``POST /api/v1/sdk/bypass-windows``), grouped per (agent, reason). The real
MCP ClientSession, an in-process server, the test control plane on loopback."""

from __future__ import annotations

from typing import Any

from execlave import Execlave
from execlave.integrations.mcp import instrument_mcp_session
from support import in_memory_session

FAST = {
    "policy_refresh_ms": 150,
    "poll_interval_ms": 100,
    "flush_interval_ms": 100,
    "first_sync_timeout_ms": 3000,
    "request_timeout_ms": 500,
}

# Only the server evaluates it: calls of its agent ask POST /policies/enforce.
CONTENT_POLICY = {
    "id": "pol_pii",
    "name": "PII filter",
    "policyType": "content_filter",
    "enforcementMode": "block",
    "appliesToAgents": ["ops-agent"],
    "ruleDefinition": {},
}


def _governed(exe: Execlave) -> Any:
    return lambda session: instrument_mcp_session(session, exe, agent_id="ops-agent")


async def test_an_outage_during_fail_open_is_one_window_with_its_count(control_plane_factory: Any) -> None:
    cp = control_plane_factory(policies=[CONTENT_POLICY])
    told: list[dict[str, str]] = []
    exe = Execlave(api_key=cp.api_key, base_url=cp.url, on_enforcement_bypassed=told.append, **FAST)
    async with in_memory_session(_governed(exe)) as (session, ran):
        await session.call_tool("echo", {"text": "warm"})
        # Two failures, below the breaker's three: one window, server_error.
        cp.call("setStatus", "/api/v1/policies/enforce", 503, None, {"count": 2})
        for i in range(2):
            await session.call_tool("echo", {"text": f"x{i}"})
        assert len(ran["echo"]) == 3
    # Shutdown closes the window and sends it.
    exe.shutdown()
    windows = cp.call("bypassWindows")
    assert len(windows) == 1, windows
    assert windows[0]["agentId"] == "ops-agent"
    assert windows[0]["reason"] == "server_error"
    assert windows[0]["count"] == 2
    assert len(told) == 2, "the local callback stays"
    stats = exe.stats()
    assert stats["bypass_windows_sent"] == 1 and stats["bypassed"] == 2


async def test_report_bypasses_false_sends_nothing(control_plane_factory: Any) -> None:
    cp = control_plane_factory(policies=[CONTENT_POLICY])
    exe = Execlave(api_key=cp.api_key, base_url=cp.url, report_bypasses=False, **FAST)
    async with in_memory_session(_governed(exe)) as (session, _ran):
        await session.call_tool("echo", {"text": "warm"})
        cp.call("setStatus", "/api/v1/policies/enforce", 503)
        await session.call_tool("echo", {"text": "x"})
    exe.shutdown()
    assert cp.call("bypassWindows") == []
    assert exe.stats()["bypassed"] == 1


def test_the_new_switches_take_booleans_only() -> None:
    import pytest

    for name in ("report_bypasses", "scan_tool_outputs"):
        with pytest.raises(TypeError, match=f"{name} must be True or False"):
            Execlave(policies=[], **{name: "no"})
