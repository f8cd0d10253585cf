"""The MCP wrapper's rules against a real ClientSession and an in-process
server over memory streams."""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

import pytest
from execlave import Execlave
from execlave.errors import ExeclaveError, PolicyBlockedError
from execlave.integrations.mcp import instrument_mcp_session
from mcp import types
from support import MCP_MAJOR, TEST_POLICIES, in_memory_session, is_error, read_audit_log, text_of


def governed(exe: Execlave, **kwargs: Any) -> Any:
    return lambda session: instrument_mcp_session(session, exe, agent_id="ops-agent", **kwargs)


@pytest.fixture
def exe() -> Any:
    with Execlave(policies=TEST_POLICIES) as client:
        yield client


@pytest.fixture
def audited(tmp_path: Path) -> Any:
    log = tmp_path / "audit.jsonl"
    with Execlave(policies=TEST_POLICIES, audit_log=log, flush_interval_ms=60_000) as client:
        yield client, log


async def test_a_blocked_call_raises_and_never_reaches_the_server(exe: Execlave) -> None:
    async with in_memory_session(governed(exe)) as (session, ran):
        with pytest.raises(PolicyBlockedError) as info:
            await session.call_tool("delete_all", {})
        assert "delete_all" not in ran
        assert [(v["policyName"], v["rule"]) for v in info.value.violations] == [("Guard", "deny")]
        assert json.loads(json.dumps(info.value.violations))[0]["tool"] == "delete_all"
        assert "blocked by policy" in str(info.value)
        result = await session.call_tool("echo", {"text": "hi"})
        assert text_of(result) == "hi"
        assert ran["echo"] == [{"text": "hi"}]


async def test_both_call_shapes(exe: Execlave) -> None:
    async with in_memory_session(governed(exe)) as (session, ran):
        shapes = [
            session.call_tool("echo", {"text": "a"}),
            session.call_tool("echo", arguments={"text": "b"}),
            session.call_tool(name="echo", arguments={"text": "c"}),
            session.call_tool({"name": "echo", "arguments": {"text": "d"}}),  # type: ignore[arg-type]
        ]
        assert [text_of(await s) for s in shapes] == ["a", "b", "c", "d"]
        with pytest.raises(PolicyBlockedError):
            await session.call_tool({"name": "delete_all"})  # type: ignore[arg-type]
        assert "delete_all" not in ran


async def test_other_arguments_pass_through_unchanged(exe: Execlave) -> None:
    seen: list[tuple[tuple[Any, ...], dict[str, Any]]] = []

    def setup(session: Any) -> None:
        original = session.call_tool

        async def recording(*args: Any, **kwargs: Any) -> Any:
            seen.append((args, kwargs))
            return await original(*args, **kwargs)

        session.call_tool = recording
        instrument_mcp_session(session, exe, agent_id="ops-agent")

    progress_calls: list[Any] = []

    async def on_progress(progress: float, total: float | None, message: str | None = None) -> None:
        progress_calls.append(progress)

    timeout: Any = 5.0 if MCP_MAJOR >= 2 else datetime.timedelta(seconds=5)
    async with in_memory_session(setup) as (session, _):
        await session.call_tool("echo", {"text": "x"}, timeout, on_progress, meta={"trace": "t-1"})
        await session.call_tool(
            {"name": "echo", "arguments": {"text": "y"}},  # type: ignore[arg-type]
            read_timeout_seconds=timeout,
            progress_callback=on_progress,
        )
    (args1, kw1), (args2, kw2) = seen
    assert args1 == ("echo", {"text": "x"}, timeout, on_progress) and kw1 == {"meta": {"trace": "t-1"}}
    assert args1[3] is on_progress
    assert args2 == ("echo", {"text": "y"}) and kw2 == {"read_timeout_seconds": timeout, "progress_callback": on_progress}


async def test_idempotent(exe: Execlave) -> None:
    async with in_memory_session() as (session, ran):
        assert instrument_mcp_session(session, exe, agent_id="ops-agent") is session
        wrapped = session.call_tool
        assert instrument_mcp_session(session, exe, agent_id="ops-agent") is session
        assert session.call_tool is wrapped
        assert session._execlave_instrumented is True  # type: ignore[attr-defined]
        await session.call_tool("echo", {"text": "once"})
        assert exe.stats()["decisions"] == 1, "checked once, not once per wrapping"


async def test_send_request_is_governed_once(audited: Any) -> None:
    exe, log = audited
    async with in_memory_session(governed(exe)) as (session, ran):
        def raw(name: str, arguments: dict[str, Any] | None) -> Any:
            request = types.CallToolRequest(params=types.CallToolRequestParams(name=name, arguments=arguments))
            if MCP_MAJOR < 2:
                request = types.ClientRequest(request)
            return session.send_request(request, types.CallToolResult)

        with pytest.raises(PolicyBlockedError):
            await raw("delete_all", None)
        with pytest.raises(PolicyBlockedError):
            await raw("write_note", {"path": "/etc/passwd"})
        assert ran == {}
        result = await raw("echo", {"text": "raw"})
        assert text_of(result) == "raw"
        await session.call_tool("echo", {"text": "high"})
        assert exe.stats()["decisions"] == 4, "call_tool's own send_request is not checked again"
        exe.flush()
    statuses = [(r["metadata"]["toolName"], r["status"]) for r in read_audit_log(log)]
    assert statuses == [
        ("delete_all", "policy_blocked"),
        ("write_note", "policy_blocked"),
        ("echo", "success"),
        ("echo", "success"),
    ]


async def test_plain_arguments_decided_by_the_tool_name_are_sent_and_recorded_exactly(audited: Any) -> None:
    """No argument rule reads `inspect`'s arguments: a call with plain
    arguments is decided by its name and its arguments copied without JSON.
    The server gets, and the record shows, the arguments as they were when
    the call ran; a refused value still takes the full check."""
    exe, log = audited
    payloads: list[Any] = ["b", -7, 2**63, 1.5, True, None]
    async with in_memory_session(governed(exe)) as (session, ran):
        arguments: dict[str, Any] = {"payload": "a"}
        call = session.call_tool("inspect", arguments)
        arguments["payload"] = "b"  # before the call runs: what is sent
        await call
        arguments["payload"] = "c"  # after: changes nothing
        for payload in payloads[1:]:
            await session.call_tool("inspect", {"payload": payload})
        await session.call_tool("noop", None)
        with pytest.raises(ExeclaveError, match="not sent"):
            await session.call_tool("inspect", {"payload": "\ud800"})
        exe.flush()
    assert ran["inspect"] == [{"payload": p} for p in payloads]
    records = read_audit_log(log)
    assert [json.loads(r["input"]) for r in records[: len(payloads)]] == [{"payload": p} for p in payloads]
    assert "input" not in records[-1] or records[-1]["input"] is None
    assert [r["status"] for r in records] == ["success"] * (len(payloads) + 1)


async def test_warn_mode_and_monitor_mode(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    with Execlave(policies=TEST_POLICIES, audit_log=log) as exe:
        async with in_memory_session(governed(exe)) as (session, ran):
            result = await session.call_tool("echo", {"text": "my password"})
            assert text_of(result) == "my password"
        async with in_memory_session(governed(exe, enforce=False)) as (session, ran):
            await session.call_tool("delete_all", {})
            assert ran["delete_all"] == [{}], "monitor mode lets a violation through"
        exe.flush()
        records = read_audit_log(log)
        assert exe.stats()["warned"] == 2
    warnings = [[w["policyName"] for w in r["metadata"]["warnings"]] for r in records]
    assert warnings == [["Echo watch"], ["Guard"]]
    assert [r["status"] for r in records] == ["success", "success"]


async def test_array_arguments(exe: Execlave) -> None:
    async with in_memory_session(governed(exe)) as (session, ran):
        await session.call_tool("read_many", {"paths": ["/srv/notes/a", "/srv/notes/b"]})
        with pytest.raises(PolicyBlockedError) as info:
            await session.call_tool("read_many", {"paths": ["/srv/notes/a", "/srv/notes/../../etc/shadow"]})
        assert info.value.violations[0]["rule"] == "argument"
        with pytest.raises(PolicyBlockedError):
            # A tuple is sent as a JSON array, so it is checked as one.
            await session.call_tool("read_many", {"paths": ("/srv/notes/a", "/etc/shadow")})
        assert ran["read_many"] == [{"paths": ["/srv/notes/a", "/srv/notes/b"]}]


class Odd:
    pass


def cyclic() -> dict[str, Any]:
    d: dict[str, Any] = {}
    d["self"] = d
    return d


def deeply_nested(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("arguments", "as_sent"),
    [
        pytest.param({"payload": {1, 2}}, {"payload": [1, 2]}, id="set"),
        pytest.param({"payload": frozenset({"a"})}, {"payload": ["a"]}, id="frozenset"),
        pytest.param({"payload": b"bytes"}, {"payload": "bytes"}, id="bytes"),
        pytest.param({"payload": datetime.datetime(2026, 1, 1)}, {"payload": "2026-01-01T00:00:00"}, id="datetime"),
        pytest.param({"payload": Path("/srv/notes/a")}, {"payload": "/srv/notes/a"}, id="path"),
        pytest.param({"payload": float("nan")}, {"payload": None}, id="nan"),
        pytest.param({"payload": float("inf")}, {"payload": None}, id="infinity"),
    ],
)
async def test_arguments_are_sent_as_mcp_sends_them_unwrapped(exe: Execlave, arguments: Any, as_sent: Any) -> None:
    async with in_memory_session() as (bare, bare_ran):
        await bare.call_tool("inspect", arguments)
    async with in_memory_session(governed(exe)) as (session, ran):
        await session.call_tool("inspect", arguments)
    assert ran["inspect"] == bare_ran["inspect"] == [as_sent]


@pytest.mark.parametrize(
    "arguments",
    [
        pytest.param(cyclic(), id="cycle"),
        pytest.param({"payload": deeply_nested(100_000)}, id="very-deep"),
        pytest.param({"payload": Odd()}, id="object"),
        pytest.param({("tuple", "key"): 1}, id="tuple-key"),
        pytest.param(["not", "a", "dict"], id="list-as-arguments"),
        pytest.param({"payload": "\ud800"}, id="lone-surrogate"),
    ],
)
async def test_arguments_json_cannot_carry_are_refused_before_sending(exe: Execlave, arguments: Any) -> None:
    async with in_memory_session(governed(exe)) as (session, ran):
        with pytest.raises(ExeclaveError) as info:
            await session.call_tool("inspect", arguments)
        assert "not sent" in str(info.value)
        assert isinstance(info.value, (ValueError, TypeError))
        assert ran == {}


@pytest.mark.parametrize(
    ("name", "why"),
    [(None, "NoneType"), ("", "empty"), (42, "int"), (["echo"], "list")],
)
async def test_a_bad_tool_name_is_refused_before_sending(exe: Execlave, name: Any, why: str) -> None:
    async with in_memory_session(governed(exe)) as (session, ran):
        with pytest.raises(ExeclaveError, match=why):
            await session.call_tool(name, {})
        with pytest.raises(ExeclaveError, match=why):
            await session.call_tool({"name": name})  # type: ignore[arg-type]
        assert ran == {}


async def test_what_is_sent_is_what_was_checked(exe: Execlave) -> None:
    async with in_memory_session(governed(exe)) as (session, ran):
        # int keys become strings, tuples lists, str subclasses plain text:
        # the server receives the very JSON the core checked.
        class Tricky(str):
            def __str__(self) -> str:
                return "/etc/passwd"

        await session.call_tool("inspect", {"payload": {1: ("a", Tricky("/srv/notes/x"))}})
        assert ran["inspect"] == [{"payload": {"1": ["a", "/srv/notes/x"]}}]
        with pytest.raises(PolicyBlockedError):
            await session.call_tool("write_note", {"path": Tricky("/etc/passwd")})
        await session.call_tool("write_note", {"path": Tricky("/srv/notes/ok")})
        assert ran["write_note"] == [{"path": "/srv/notes/ok", "content": ""}]


async def test_a_mutation_after_the_check_does_not_change_what_is_sent(exe: Execlave) -> None:
    async with in_memory_session(governed(exe)) as (session, ran):
        arguments = {"path": "/srv/notes/a"}
        call = session.call_tool("write_note", arguments)
        arguments["path"] = "/etc/passwd"  # before the coroutine even starts: checked after, so blocked
        with pytest.raises(PolicyBlockedError):
            await call

        class Sneaky(dict):  # type: ignore[type-arg]
            def __init__(self) -> None:
                super().__init__(path="/srv/notes/b")
                self.reads = 0

            def items(self) -> Any:
                self.reads += 1
                return super().items()

        sneaky = Sneaky()
        await session.call_tool("write_note", sneaky)
        sneaky["path"] = "/etc/passwd"
        assert ran["write_note"] == [{"path": "/srv/notes/b", "content": ""}]


@pytest.mark.parametrize(
    ("make_session", "agent", "exe_ok", "message"),
    [
        (lambda: None, "ops-agent", True, "session is None"),
        (lambda: object(), "ops-agent", True, "no call_tool"),
        (lambda: "a string", "ops-agent", True, "no call_tool"),
        (None, "Ops_Agent", True, "agent"),
        (None, "", True, "agent"),
        (None, None, True, "agent_id"),
        (None, 7, True, "agent_id"),
        (None, "ops-agent", False, "Execlave client"),
    ],
)
async def test_wrap_time_errors(exe: Execlave, make_session: Any, agent: Any, exe_ok: bool, message: str) -> None:
    async with in_memory_session() as (session, ran):
        target = session if make_session is None else make_session()
        with pytest.raises(ExeclaveError, match=message):
            instrument_mcp_session(target, exe if exe_ok else None, agent_id=agent)  # type: ignore[arg-type]
        if make_session is None:
            assert getattr(session, "_execlave_instrumented", False) is False
            await session.call_tool("delete_all", {})  # not instrumented: nothing was half-done
            assert ran["delete_all"] == [{}]


async def test_the_audit_log_holds_one_trace_payload_per_call(audited: Any) -> None:
    exe, log = audited
    async with in_memory_session(governed(exe, session_id="s-1", user_id="u-1")) as (session, ran):
        answer = await session.call_tool("echo", {"text": "hello"})
        with pytest.raises(PolicyBlockedError):
            await session.call_tool("delete_all", {})
        result = await session.call_tool("soft_fail", {})
        assert is_error(result)
        exe.flush()
    records = read_audit_log(log)
    assert [r["status"] for r in records] == ["success", "policy_blocked", "error"]
    first = records[0]
    assert first["spanType"] == "tool" and first["agentId"] == "ops-agent"
    assert first["sessionId"] == "s-1" and first["userId"] == "u-1"
    assert json.loads(first["input"]) == {"text": "hello"}
    assert first["output"] == answer.model_dump_json(by_alias=True, exclude_none=True)
    assert first["metadata"]["toolName"] == "echo" and first["metadata"]["decidedBy"] == "local"
    assert first["durationMs"] >= 0
    assert records[1]["metadata"]["violations"][0]["policyName"] == "Guard"
    assert records[2]["errorMessage"]
    assert len({r["traceId"] for r in records}) == 3


async def test_a_call_that_raises_is_recorded_as_an_error_and_reraised(audited: Any) -> None:
    exe, log = audited
    async with in_memory_session(governed(exe)) as (session, ran):
        with pytest.raises(Exception) as info:
            await session.call_tool("sleep", {"seconds": 5}, read_timeout_seconds=_short_timeout())
        assert not isinstance(info.value, ExeclaveError)
        exe.flush()
    (record,) = read_audit_log(log)
    assert record["status"] == "error" and record["metadata"]["toolName"] == "sleep"
    assert json.loads(record["input"]) == {"seconds": 5}
    assert record["errorType"] == type(info.value).__name__


def _short_timeout() -> Any:
    return 0.2 if MCP_MAJOR >= 2 else datetime.timedelta(seconds=0.2)


async def test_a_shut_down_client_refuses_calls(exe: Execlave) -> None:
    async with in_memory_session(governed(exe)) as (session, ran):
        exe.shutdown()
        with pytest.raises(ExeclaveError, match="shut down"):
            await session.call_tool("echo", {"text": "late"})
        assert ran == {}
