"""Local require_approval policies (issue 20), in Python: evaluated locally;
what they would block waits for the client's approver (the asyncio loop
keeps serving); without one it is refused. Against the real
server-filesystem over stdio: the files on disk say which calls ran."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from execlave import (
    ApprovalTimeoutError,
    ApprovalVerificationError,
    Execlave,
    PolicyBlockedError,
    PolicyDeniedError,
)
from execlave.approvers import terminal_approver
from execlave.integrations.mcp import instrument_mcp_session
from support import is_error, read_audit_log, stdio_session

FILESYSTEM = "@modelcontextprotocol/server-filesystem/dist/index.js"

POLICIES = [
    {
        "name": "Writes need a human",
        "policyType": "tool_invocation",
        "enforcementMode": "require_approval",
        "ruleDefinition": {"deny": ["write_file"]},
    }
]


def governed_session(exe: Execlave, root: Path) -> Any:
    return stdio_session(
        FILESYSTEM,
        [str(root)],
        setup=lambda session: instrument_mcp_session(session, exe, agent_id="ops-agent"),
    )


async def write(session: Any, root: Path, name: str) -> Any:
    return await session.call_tool("write_file", {"path": str(root / name), "content": f"content of {name}"})


async def test_without_an_approver_the_call_is_refused(tmp_path: Path) -> None:
    root = tmp_path.resolve()
    with Execlave(policies=POLICIES, enforcement_on_outage="fail_open") as exe:
        async with governed_session(exe, root) as session:
            with pytest.raises(PolicyBlockedError) as raised:
                await write(session, root, "none.txt")
            assert not is_error(await session.call_tool("list_directory", {"path": str(root)}))
    assert "Writes need a human" in str(raised.value) and "approver" in str(raised.value)
    assert raised.value.violations[0]["rule"] == "approval_required"
    assert not (root / "none.txt").exists()


async def test_the_approver_decides_and_the_records_say_so(tmp_path: Path) -> None:
    root = tmp_path.resolve()
    log = tmp_path / "audit.jsonl"
    asked: list[dict[str, Any]] = []
    answers: dict[str, Any] = {}

    async def approver(request: dict[str, Any]) -> Any:
        asked.append(request)
        answer = answers[Path(request["arguments"]["path"]).name]
        if isinstance(answer, BaseException):
            raise answer
        if answer == "never":
            await asyncio.Event().wait()
        return answer

    answers.update(
        {
            "yes.txt": {"approved": True},
            "no.txt": {"approved": False, "reason": "not today"},
            "shape.txt": {"approved": "yes"},
            "boom.txt": RuntimeError("slack is down"),
            "late.txt": "never",
        }
    )
    with Execlave(policies=POLICIES, audit_log=log, approver=approver, approval_timeout_ms=400) as exe:
        async with governed_session(exe, root) as session:
            await write(session, root, "yes.txt")
            assert (root / "yes.txt").read_text() == "content of yes.txt"
            assert asked[0]["agent_id"] == "ops-agent" and asked[0]["tool"] == "write_file"
            assert asked[0]["violations"][0]["rule"] == "approval_required"

            with pytest.raises(PolicyDeniedError) as denied:
                await write(session, root, "no.txt")
            assert denied.value.reason == "not today" and denied.value.approval_request_id == "local"
            with pytest.raises(ApprovalVerificationError):
                await write(session, root, "shape.txt")
            with pytest.raises(ApprovalVerificationError) as boom:
                await write(session, root, "boom.txt")
            assert isinstance(boom.value.cause, RuntimeError)
            with pytest.raises(ApprovalTimeoutError):
                await write(session, root, "late.txt")

            # Cancelling the caller's task ends the wait; nothing is left pending.
            answers["cancel.txt"] = "never"
            task = asyncio.create_task(write(session, root, "cancel.txt"))
            while len(asked) < 6:
                # The loop keeps serving other calls while the approver thinks.
                assert not is_error(await session.call_tool("list_directory", {"path": str(root)}))
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            stats = exe.stats()
            assert stats["approvals_waiting"] == 0 and stats["approvals_granted"] == 1
    for name in ("no.txt", "shape.txt", "boom.txt", "late.txt", "cancel.txt"):
        assert not (root / name).exists(), name
    records = {Path(r["input"].split('"path":"')[1].split('"')[0]).name: r for r in read_audit_log(log) if r.get("input")}
    assert records["yes.txt"]["metadata"]["approval"]["outcome"] == "granted"
    assert records["no.txt"]["status"] == "policy_blocked"
    assert records["no.txt"]["errorType"] == "PolicyDeniedError"
    assert records["late.txt"]["errorType"] == "ApprovalTimeoutError"
    assert records["cancel.txt"]["errorType"] == "Cancelled"


async def test_terminal_approver_refuses_without_a_terminal(tmp_path: Path) -> None:
    approve = terminal_approver(str(tmp_path / "no-such-tty"))
    answer = await approve({"agent_id": "a", "tool": "t", "arguments": {}, "violations": [], "request_id": "local-1"})
    assert answer["approved"] is False and "no terminal" in answer["reason"]
    fake = tmp_path / "fake-tty"
    fake.write_text("n too risky\n")
    answer = await terminal_approver(str(fake))(
        {"agent_id": "a", "tool": "t", "arguments": {}, "violations": [], "request_id": "local-2"}
    )
    assert answer == {"approved": False, "reason": "too risky"}


def test_a_non_callable_approver_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="approver"):
        Execlave(policies=POLICIES, approver="yes")  # type: ignore[arg-type]
