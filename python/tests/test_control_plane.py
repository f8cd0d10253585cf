"""Control-plane mode against the project's test control plane (a real HTTP
server on loopback, in a Node child process): policy sync, outage with the
last known good set, server-side decisions awaited without blocking the
event loop, the kill switch, records delivered exactly once."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from execlave import Execlave
from execlave.errors import AgentPausedError, EnforcementUnavailableError, ExeclaveAuthError, PolicyBlockedError
from execlave.integrations.mcp import instrument_mcp_session
from support import GUARD, in_memory_session, text_of

FAST = {
    "policy_refresh_ms": 150,
    "poll_interval_ms": 100,
    "flush_interval_ms": 100,
    "first_sync_timeout_ms": 3000,
    "request_timeout_ms": 500,
}

CONTENT_POLICY = {
    "id": "pol_pii",
    "name": "PII filter",
    "policyType": "content_filter",
    "enforcementMode": "block",
    "appliesToAgents": ["ops-agent"],
    "ruleDefinition": {},
}


def client_for(cp: Any, **options: Any) -> Execlave:
    return Execlave(api_key=cp.api_key, base_url=cp.url, **{**FAST, **options})


def governed(exe: Execlave) -> Callable[[Any], Any]:
    return lambda session: instrument_mcp_session(session, exe, agent_id="ops-agent")


async def eventually(check: Callable[[], Awaitable[bool]], what: str, attempts: int = 100) -> None:
    """Polls `check` (a background loop acts on its own schedule); no timing
    is asserted, only that it happens."""
    for _ in range(attempts):
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"never happened: {what}")


async def test_policy_sync_and_a_change_of_policies(control_plane_factory: Any) -> None:
    cp = control_plane_factory(policies=[GUARD])
    # A slow first sync: the first call waits for it, without blocking the loop.
    cp.call("delay", 400, {"match": "/api/v1/policies", "method": "GET", "count": 1})
    with client_for(cp) as exe:
        async with in_memory_session(governed(exe)) as (session, ran):
            ticks = 0

            async def ticker() -> None:
                nonlocal ticks
                while True:
                    ticks += 1
                    await asyncio.sleep(0)

            task = asyncio.create_task(ticker())
            with pytest.raises(PolicyBlockedError):
                await session.call_tool("delete_all", {})
            task.cancel()
            assert ticks > 0
            assert text_of(await session.call_tool("echo", {"text": "hi"})) == "hi"
            assert "delete_all" not in ran
            request = cp.call("requestsTo", "/api/v1/policies", "GET")[0]
            assert request["headers"]["authorization"] == f"Bearer {cp.api_key}"

            cp.call("setPolicies", [{**GUARD, "ruleDefinition": {"deny": ["echo"]}}])

            async def echo_blocked() -> bool:
                try:
                    await session.call_tool("echo", {"text": "x"})
                    return False
                except PolicyBlockedError:
                    return True

            await eventually(echo_blocked, "the new policy set applies")
            await session.call_tool("delete_all", {})
            assert ran["delete_all"] == [{}]
        assert exe.stats()["policy_syncs"] >= 2


async def test_an_outage_keeps_the_last_known_good_set(control_plane_factory: Any, tmp_path: Path) -> None:
    cp = control_plane_factory(policies=[GUARD])
    cache = tmp_path / "policies.json"
    with client_for(cp, policy_cache_path=cache) as exe:
        async with in_memory_session(governed(exe)) as (session, ran):
            await session.call_tool("noop", {})
            cp.call("stop")
            await eventually(lambda: _true_after(exe.stats()["policy_sync_failures"] > 0), "a failed sync")
            with pytest.raises(PolicyBlockedError):
                await session.call_tool("delete_all", {})
            with pytest.raises(PolicyBlockedError):
                await session.call_tool("not_on_allowlist", {})
            await session.call_tool("noop", {})
            assert len(ran["noop"]) == 2 and "delete_all" not in ran
    assert cache.exists()
    # A restart during the outage enforces from the on-disk cache.
    with client_for(cp, policy_cache_path=cache, enforcement_on_outage="fail_closed") as exe2:
        async with in_memory_session(governed(exe2)) as (session, ran):
            with pytest.raises(PolicyBlockedError):
                await session.call_tool("delete_all", {})
            await session.call_tool("noop", {})
            assert exe2.stats()["bypassed"] == 0
    # Without any set: fail_closed refuses, fail_open allows and reports it.
    with client_for(cp, enforcement_on_outage="fail_closed", first_sync_timeout_ms=300) as exe3:
        async with in_memory_session(governed(exe3)) as (session, ran):
            with pytest.raises(EnforcementUnavailableError):
                await session.call_tool("noop", {})
            assert ran == {}
    events: list[dict[str, str]] = []

    def on_bypass(event: dict[str, str]) -> None:
        events.append(event)
        raise RuntimeError("a broken callback does not change the call's fate")

    with client_for(cp, first_sync_timeout_ms=300, on_enforcement_bypassed=on_bypass) as exe4:
        async with in_memory_session(governed(exe4)) as (session, ran):
            await session.call_tool("delete_all", {})
            assert ran["delete_all"] == [{}]
    assert [e["tool"] for e in events] == ["delete_all"]
    assert events[0]["reason"] and events[0]["timestamp"]


async def _true_after(value: bool) -> bool:
    return value


async def test_server_side_decisions(control_plane_factory: Any) -> None:
    cp = control_plane_factory(policies=[GUARD, CONTENT_POLICY])
    with client_for(cp, enforcement_on_outage="fail_closed") as exe:
        async with in_memory_session(governed(exe)) as (session, ran):
            await session.call_tool("echo", {"text": "hello"})
            (body,) = cp.call("enforceRequests")
            assert body["agentId"] == "ops-agent" and body["tools"] == ["echo"]
            assert body["metadata"]["toolArguments"] == {"text": "hello"}
            violation = {
                "policyId": "pol_pii",
                "policyName": "PII filter",
                "policyType": "content_filter",
                "message": "contains PII",
                "enforcementMode": "block",
            }
            cp.call("setEnforceResponse", 403, {"allowed": False, "violations": [violation]})
            with pytest.raises(PolicyBlockedError) as info:
                await session.call_tool("echo", {"text": "ssn"})
            assert info.value.violations[0]["message"] == "contains PII"
            cp.call("setEnforceResponse", 503, {"error": {"code": "down", "message": "down"}})
            with pytest.raises(EnforcementUnavailableError):
                await session.call_tool("echo", {"text": "x"})
            # A call the local engine blocks never reaches the server.
            before = len(cp.call("enforceRequests"))
            with pytest.raises(PolicyBlockedError):
                await session.call_tool("delete_all", {})
            assert len(cp.call("enforceRequests")) == before
            assert ran["echo"] == [{"text": "hello"}]
        assert exe.stats()["remote_decisions"] >= 3


async def test_kill_switch(control_plane_factory: Any) -> None:
    cp = control_plane_factory(policies=[GUARD])
    with client_for(cp) as exe:
        async with in_memory_session(governed(exe)) as (session, ran):
            await session.call_tool("noop", {})
            cp.call("pauseAgent", "ops-agent", "incident 42")
            caught: list[AgentPausedError] = []

            async def paused() -> bool:
                try:
                    await session.call_tool("noop", {})
                    return False
                except AgentPausedError as err:
                    caught.append(err)
                    return True

            await eventually(paused, "the pause is seen")
            assert (caught[0].agent_id, caught[0].reason) == ("ops-agent", "incident 42")
            noop_runs = len(ran["noop"])
            cp.call("resumeAgent", "ops-agent")

            async def resumed() -> bool:
                try:
                    await session.call_tool("noop", {})
                    return True
                except AgentPausedError:
                    return False

            await eventually(resumed, "the resume is seen")
            assert len(ran["noop"]) == noop_runs + 1


async def test_records_arrive_exactly_once_across_503_bursts(control_plane_factory: Any) -> None:
    cp = control_plane_factory(policies=[GUARD])
    with client_for(cp) as exe:
        async with in_memory_session(governed(exe)) as (session, ran):
            cp.call("failNext", 2, {"match": "/api/v1/traces/ingest"})
            for i in range(20):
                await session.call_tool("echo", {"text": f"n{i}"})
            with pytest.raises(PolicyBlockedError):
                await session.call_tool("delete_all", {})
            exe.flush()
        traces = cp.traces()
    ids = [t["traceId"] for t in traces]
    assert len(ids) == 21 and len(set(ids)) == 21
    assert sum(t["status"] == "policy_blocked" for t in traces) == 1
    assert all(t["agentId"] == "ops-agent" and t["spanType"] == "tool" for t in traces)
    assert sorted(t["input"] for t in traces if t["status"] == "success") == sorted(
        f'{{"text":"n{i}"}}' for i in range(20)
    )


async def test_shutdown_delivers_what_was_buffered(control_plane_factory: Any) -> None:
    cp = control_plane_factory(policies=[GUARD])
    exe = client_for(cp, flush_interval_ms=60_000)
    async with in_memory_session(governed(exe)) as (session, ran):
        for _ in range(7):
            await session.call_tool("noop", {})
    exe.shutdown()
    assert len(cp.traces()) == 7


async def test_a_rejected_key_refuses_every_call_and_never_shows_the_key(control_plane_factory: Any) -> None:
    cp = control_plane_factory(policies=[GUARD])
    exe = Execlave(api_key="exe_dev_wrong_key", base_url=cp.url, **FAST)
    async with in_memory_session(governed(exe)) as (session, ran):
        with pytest.raises(ExeclaveAuthError) as info:
            await session.call_tool("noop", {})
        assert "exe_dev_wrong_key" not in str(info.value)
        assert ran == {}
    exe.shutdown()


async def test_a_raw_request_changed_while_its_decision_waits_is_sent_as_checked(
    control_plane_factory: Any,
) -> None:
    from mcp import types
    from support import MCP_MAJOR

    cp = control_plane_factory(policies=[GUARD])
    cp.call("delay", 400, {"match": "/api/v1/policies", "method": "GET", "count": 1})
    with client_for(cp) as exe:
        async with in_memory_session(governed(exe)) as (session, ran):
            arguments = {"path": "/srv/notes/ok.txt"}
            request: Any = types.CallToolRequest(
                params=types.CallToolRequestParams(name="write_note", arguments=arguments)
            )
            if MCP_MAJOR < 2:
                request = types.ClientRequest(request)
            call = asyncio.create_task(session.send_request(request, types.CallToolResult))
            for _ in range(5):
                await asyncio.sleep(0)  # the call is now waiting for the first sync
            assert not call.done()
            params = getattr(request, "root", request).params
            params.arguments["path"] = "/etc/passwd"
            await call
            assert ran["write_note"] == [{"path": "/srv/notes/ok.txt", "content": ""}]


def test_shutdown_against_a_hung_control_plane_is_bounded_and_frees_the_gil(control_plane_factory: Any) -> None:
    import threading

    cp = control_plane_factory(policies=[GUARD])
    exe = client_for(cp, flush_interval_ms=60_000, shutdown_timeout_ms=1500)
    with pytest.raises(PolicyBlockedError):
        exe.enforce_policy(agent_id="ops-agent", tools=["delete_all"])
    cp.call("hang", {"match": "/api/v1/traces/ingest"})
    returned = False

    def shut_down() -> None:
        nonlocal returned
        exe.shutdown()  # waits up to shutdown_timeout_ms on the hung ingest
        returned = True

    worker = threading.Thread(target=shut_down)
    worker.start()
    # This thread runs Python while the worker waits in Rust: it sees the
    # ingest request hang before shutdown has returned.
    seen_while_waiting = False
    while not returned:
        if cp.call("hungCount") > 0 and not returned:
            seen_while_waiting = True
            break
    worker.join()
    cp.call("hang", {"on": False})
    assert seen_while_waiting, "shutdown held the GIL while it waited"
    assert exe.stats()["records_written"] == 0
