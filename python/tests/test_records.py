"""What becomes of records: flush() and shutdown() report it (issue 19 item
4), a failed audit-log write counts as dropped, never written (issue 18
item 10)."""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

import pytest
from execlave import Execlave
from execlave.errors import PolicyBlockedError

from support import TEST_POLICIES, read_audit_log


def refuse(exe: Execlave) -> None:
    """One refused call, whether enforce_policy is sync or a coroutine."""
    with pytest.raises(PolicyBlockedError):
        result = exe.enforce_policy(agent_id="ops-agent", tools=["delete_all"])
        if asyncio.iscoroutine(result):
            asyncio.run(result)


def test_flush_and_shutdown_report_what_was_written(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    exe = Execlave(policies=TEST_POLICIES, audit_log=log, flush_interval_ms=60_000)
    for _ in range(3):
        refuse(exe)
    assert exe.flush() == {"written": 3, "dropped": 0, "undelivered": 0}
    refuse(exe)
    assert exe.shutdown() == {"written": 1, "dropped": 0, "undelivered": 0}
    assert exe.shutdown() == {"written": 0, "dropped": 0, "undelivered": 0}, "nothing left"
    assert len(read_audit_log(log)) == 4
    assert exe.stats()["records_undelivered"] == 0


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_failed_audit_log_write_counts_as_dropped(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="execlave")
    exe = Execlave(policies=TEST_POLICIES, audit_log="/dev/full", flush_interval_ms=60_000)
    for _ in range(2):
        refuse(exe)
    assert exe.flush() == {"written": 0, "dropped": 2, "undelivered": 0}
    refuse(exe)
    assert exe.flush() == {"written": 0, "dropped": 1, "undelivered": 0}
    stats = exe.stats()
    assert (stats["records_written"], stats["records_dropped"]) == (0, 3)
    exe.shutdown()  # the core's lines have reached `logging` when it returns
    said = [r.getMessage() for r in caplog.records if "cannot write the audit log" in r.getMessage()]
    assert len(said) == 1, "once per failure episode"


def _governed(exe: Execlave):  # type: ignore[no-untyped-def]
    from execlave.integrations.mcp import instrument_mcp_session

    return lambda session: instrument_mcp_session(session, exe, agent_id="ops-agent")


def test_a_call_in_flight_at_shutdown_is_recorded(tmp_path: Path) -> None:
    """Issue 18 item 8: shutdown waits (bounded) for calls already sent; one
    that ends in time is recorded as it ended, one still open after the
    timeout as sent with its outcome unknown."""
    from support import in_memory_session

    async def scenario(log: Path, seconds: float, timeout_ms: int) -> dict[str, int]:
        exe = Execlave(
            policies=TEST_POLICIES, audit_log=log, flush_interval_ms=60_000, shutdown_timeout_ms=timeout_ms
        )
        async with in_memory_session(_governed(exe)) as (session, _ran):
            call = asyncio.ensure_future(session.call_tool("sleep", {"seconds": seconds}))
            await asyncio.sleep(0.05)
            # From another thread, as a signal handler's would: the event
            # loop goes on and the call can end meanwhile.
            report = await asyncio.to_thread(exe.shutdown)
            await call
        return report

    ended = tmp_path / "ended.jsonl"
    assert asyncio.run(scenario(ended, 0.3, 5_000))["written"] == 1
    [record] = read_audit_log(ended)
    assert (record["metadata"]["toolName"], record["status"]) == ("sleep", "success")

    open_log = tmp_path / "open.jsonl"
    assert asyncio.run(scenario(open_log, 1.0, 200))["written"] == 1
    [record] = read_audit_log(open_log)
    assert record["errorType"] == "Incomplete"
    assert "still open at shutdown" in record["errorMessage"]


def test_fifty_clients_dropped_without_shutdown_leave_fifty_records(tmp_path: Path) -> None:
    """Issue 18 item 9: a client collected without shutdown() delivers what
    it buffered (on a thread of its own, bounded)."""
    import gc

    from execlave import _native

    log = tmp_path / "audit.jsonl"

    def once() -> None:
        exe = Execlave(policies=TEST_POLICIES, audit_log=log, flush_interval_ms=60_000)
        refuse(exe)

    for _ in range(50):
        once()
    gc.collect()
    assert _native.wait_for_drains(10_000) == 0
    assert len(read_audit_log(log)) == 50
