"""require_approval from the service (issue 20), in Python: enforce answers
202, the call waits for a human on the core's runtime (the asyncio loop
keeps serving), the certificate is verified against the exact action
context, and only then does the real server-filesystem (over stdio) write.
Every other path leaves no file."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from execlave import (
    AgentPausedError,
    ApprovalTimeoutError,
    ApprovalVerificationError,
    CertificateMismatchError,
    EnforcementHaltError,
    Execlave,
    PolicyDeniedError,
)
from execlave.integrations.mcp import instrument_mcp_session
from support import is_error, stdio_session

FILESYSTEM = "@modelcontextprotocol/server-filesystem/dist/index.js"

FAST = {
    "policy_refresh_ms": 150,
    "poll_interval_ms": 100,
    "flush_interval_ms": 100,
    "first_sync_timeout_ms": 3000,
    "request_timeout_ms": 1000,
    "approval_poll_interval_ms": 40,
    "approval_timeout_ms": 5000,
}

# A control-plane policy in require_approval mode: the server decides.
NEEDS_APPROVAL = {
    "name": "Writes need a human",
    "policyType": "tool_invocation",
    "enforcementMode": "require_approval",
    "ruleDefinition": {"allow": ["write_file"]},
}


async def write(session: Any, root: Path, name: str) -> Any:
    return await session.call_tool("write_file", {"path": str(root / name), "content": f"content of {name}"})


async def polled(cp: Any, approval_id: str, times: int = 1) -> None:
    for _ in range(200):
        state = cp.call("approvalState", approval_id)
        if state and state["polls"] >= times:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{approval_id} was never polled")


@pytest.fixture
def setup(control_plane_factory: Any, tmp_path: Path) -> Any:
    cp = control_plane_factory(policies=[NEEDS_APPROVAL])
    root = tmp_path.resolve()

    def scripted(approval_id: str, **script: Any) -> None:
        cp.call("approval", approval_id, script)
        cp.call("requireApproval", approval_id, {"tool": "write_file"})

    return cp, root, scripted


def governed_session(exe: Execlave, root: Path) -> Any:
    return stdio_session(
        FILESYSTEM,
        [str(root)],
        setup=lambda session: instrument_mcp_session(session, exe, agent_id="ops-agent"),
    )


async def test_an_approved_write_writes_once_and_is_recorded(setup: Any) -> None:
    cp, root, scripted = setup
    scripted("apr_ok", pendingPolls=2, then="approved")
    with Execlave(api_key=cp.api_key, base_url=cp.url, **FAST) as exe:
        async with governed_session(exe, root) as session:
            result = await write(session, root, "ok.txt")
            assert not is_error(result)
            assert (root / "ok.txt").read_text() == "content of ok.txt"
            assert cp.call("approvalState", "apr_ok") == {"polls": 3, "verifies": 1, "used": True, "sealed": True}
            # Never cached: the same call asks again; the certificate is single use.
            with pytest.raises(CertificateMismatchError) as again:
                await write(session, root, "ok.txt")
            assert again.value.reason == "certificate_already_used"
        exe.flush()
        stats = exe.stats()
        assert stats["approvals_granted"] == 1 and stats["approvals_waiting"] == 0
    granted = [t for t in cp.traces() if t["status"] == "success" and "ok.txt" in (t.get("input") or "")]
    assert granted[0]["metadata"]["approval"]["outcome"] == "granted"
    assert granted[0]["metadata"]["approval"]["id"] == "apr_ok"


@pytest.mark.parametrize(
    ("script", "error", "reason"),
    [
        ({"then": "denied", "reason": "not on a Friday"}, PolicyDeniedError, "not on a Friday"),
        ({"then": "expired"}, ApprovalTimeoutError, "the approval request expired"),
        ({"then": "approved", "verify": {"valid": "true"}}, ApprovalVerificationError, None),
        ({"then": "approved", "verify": {"data": {"valid": False, "reason": "certificate_tampered"}}},
         CertificateMismatchError, "certificate_tampered"),
    ],
)
async def test_a_refused_approval_leaves_no_file(setup: Any, script: dict[str, Any], error: type, reason: Any) -> None:
    cp, root, scripted = setup
    scripted("apr_no", **script)
    with Execlave(api_key=cp.api_key, base_url=cp.url, **FAST) as exe:
        async with governed_session(exe, root) as session:
            with pytest.raises(error) as raised:
                await write(session, root, "no.txt")
    assert isinstance(raised.value, EnforcementHaltError)
    assert raised.value.approval_request_id == "apr_no"
    assert raised.value.reason == reason
    if error is ApprovalVerificationError:
        assert raised.value.cause
    assert not (root / "no.txt").exists()


async def test_a_mismatched_action_context_leaves_no_file(setup: Any) -> None:
    # Two writes under one approval: the first seals (and uses) it.
    cp, root, scripted = setup
    scripted("apr_shared", then="approved")
    with Execlave(api_key=cp.api_key, base_url=cp.url, **FAST) as exe:
        async with governed_session(exe, root) as session:
            await write(session, root, "first.txt")
            with pytest.raises(CertificateMismatchError) as raised:
                await write(session, root, "second.txt")
    assert raised.value.reason == "action_context_mismatch"
    assert not (root / "second.txt").exists()


async def test_a_poll_outage_longer_than_the_timeout_leaves_no_file(setup: Any) -> None:
    cp, root, scripted = setup
    scripted("apr_outage", then="approved")
    cp.call("setStatus", "/api/v1/approvals/", 503)
    with Execlave(api_key=cp.api_key, base_url=cp.url, **{**FAST, "approval_timeout_ms": 600}) as exe:
        async with governed_session(exe, root) as session:
            with pytest.raises(ApprovalTimeoutError):
                await write(session, root, "outage.txt")
    assert not (root / "outage.txt").exists()
    assert cp.call("approvalState", "apr_outage")["verifies"] == 0


async def test_cancelling_the_task_ends_the_wait_and_other_calls_flow(setup: Any) -> None:
    cp, root, scripted = setup
    scripted("apr_wait", then="pending")
    with Execlave(api_key=cp.api_key, base_url=cp.url, **FAST) as exe:
        async with governed_session(exe, root) as session:
            waiting = asyncio.create_task(write(session, root, "wait.txt"))
            await polled(cp, "apr_wait")
            # The loop keeps serving: other calls complete while one waits.
            for _ in range(5):
                listing = await session.call_tool("list_directory", {"path": str(root)})
                assert not is_error(listing)
            assert exe.stats()["approvals_waiting"] == 1
            waiting.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiting
            polls = cp.call("approvalState", "apr_wait")["polls"]
            await asyncio.sleep(0.2)
            assert cp.call("approvalState", "apr_wait")["polls"] == polls, "no poll after the cancel"
            assert cp.call("approvalState", "apr_wait")["verifies"] == 0
            assert exe.stats()["approvals_waiting"] == 0
        exe.flush()
    assert not (root / "wait.txt").exists()
    cancelled = [t for t in cp.traces() if t.get("errorType") == "Cancelled"]
    assert cancelled and cancelled[0]["metadata"]["approval"]["outcome"] == "cancelled"


async def test_a_pause_during_a_wait_refuses_at_once(setup: Any) -> None:
    cp, root, scripted = setup
    scripted("apr_pause", then="pending")
    with Execlave(api_key=cp.api_key, base_url=cp.url, **FAST) as exe:
        async with governed_session(exe, root) as session:
            waiting = asyncio.create_task(write(session, root, "pause.txt"))
            await polled(cp, "apr_pause")
            cp.call("pauseAgent", "ops-agent", "incident 7")
            with pytest.raises(AgentPausedError):
                await asyncio.wait_for(waiting, 3)
    assert not (root / "pause.txt").exists()


def test_bad_approval_options_are_refused_early() -> None:
    from execlave import ExeclaveError

    with pytest.raises(ExeclaveError, match="approvalTimeoutMs"):
        Execlave(policies=[], approval_timeout_ms=0)
