"""OpenTelemetry spans for governed tool calls, as the Node SDK's: GenAI
conventions (``execute_tool {tool}``, ``gen_ai.*``), the governance
decision in ``execlave.*``, exported to the SDK's in-memory exporter; and
no tracing at all without a registered tracer provider."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("opentelemetry.sdk")

from execlave import Execlave  # noqa: E402
from execlave.errors import PolicyBlockedError, PolicyDeniedError  # noqa: E402
from execlave.integrations.mcp import instrument_mcp_session  # noqa: E402
from mcp import types  # noqa: E402
from opentelemetry import trace  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # noqa: E402
from support import TEST_POLICIES, in_memory_session  # noqa: E402


def _unset_provider() -> None:
    # The API sets its global provider once per process; the suite's other
    # tests run without one.
    trace._TRACER_PROVIDER = None  # type: ignore[attr-defined]
    trace._TRACER_PROVIDER_SET_ONCE._done = False  # type: ignore[attr-defined]


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    exported = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exported))
    _unset_provider()
    trace.set_tracer_provider(provider)
    yield exported
    _unset_provider()


@pytest.fixture
def exe() -> Any:
    with Execlave(policies=TEST_POLICIES) as client:
        yield client


def governed(exe: Execlave, **kwargs: Any) -> Any:
    return lambda session: instrument_mcp_session(session, exe, agent_id="ops-agent", **kwargs)


async def test_allowed_blocked_and_failed_calls_have_spans(exe: Execlave, exporter: InMemorySpanExporter) -> None:
    tracer = trace.get_tracer("app")
    async with in_memory_session(governed(exe)) as (session, ran):
        with tracer.start_as_current_span("agent turn") as parent:
            await session.call_tool("echo", {"text": "hi"})
            with pytest.raises(PolicyBlockedError):
                await session.call_tool("delete_all", {})
            await session.call_tool("soft_fail", {})
    spans = {s.name: s for s in exporter.get_finished_spans() if s.name.startswith("execute_tool")}
    assert set(spans) == {"execute_tool echo", "execute_tool delete_all", "execute_tool soft_fail"}
    echo = spans["execute_tool echo"]
    assert echo.attributes is not None
    assert echo.attributes["gen_ai.operation.name"] == "execute_tool"
    assert echo.attributes["gen_ai.tool.name"] == "echo"
    assert echo.attributes["gen_ai.tool.call.id"]
    assert echo.attributes["execlave.agent_id"] == "ops-agent"
    assert echo.attributes["execlave.decision"] == "allowed"
    assert echo.parent is not None and echo.parent.span_id == parent.get_span_context().span_id
    assert echo.status.status_code == trace.StatusCode.UNSET

    blocked = spans["execute_tool delete_all"]
    assert blocked.attributes is not None
    assert blocked.attributes["execlave.decision"] == "blocked"
    assert blocked.attributes["execlave.policy_ids"] == ("pol_guard",)
    assert blocked.attributes["error.type"] == "PolicyBlockedError"
    assert blocked.status.status_code == trace.StatusCode.ERROR
    event = blocked.events[0]
    assert event.name == "execlave.policy_violations" and event.attributes is not None
    assert json.loads(str(event.attributes["execlave.violations"]))[0]["policyId"] == "pol_guard"

    failed = spans["execute_tool soft_fail"]
    assert failed.attributes is not None
    assert failed.attributes["error.type"] == "tool_error"
    assert failed.status.status_code == trace.StatusCode.ERROR


async def test_an_in_band_block_and_a_raw_request_have_spans(exe: Execlave, exporter: InMemorySpanExporter) -> None:
    async with in_memory_session(governed(exe, on_block="result")) as (session, ran):
        result = await session.call_tool("delete_all", {})
        assert result.isError if hasattr(result, "isError") else result.is_error
        request = types.CallToolRequest(params=types.CallToolRequestParams(name="noop", arguments={}))
        await session.send_request(request, types.CallToolResult)  # type: ignore[arg-type]
    spans = [s for s in exporter.get_finished_spans() if s.name.startswith("execute_tool")]
    assert [s.name for s in spans] == ["execute_tool delete_all", "execute_tool noop"]
    assert spans[0].attributes is not None and spans[0].attributes["execlave.decision"] == "blocked"
    assert spans[1].attributes is not None and spans[1].attributes["execlave.decision"] == "allowed"


async def test_the_span_context_goes_to_the_server_in_meta(exe: Execlave, exporter: InMemorySpanExporter) -> None:
    sent: list[Any] = []

    def watch_then_govern(session: Any) -> None:
        original = session.send_request

        def send_request(request: Any, *args: Any, **kwargs: Any) -> Any:
            sent.append(request)
            return original(request, *args, **kwargs)

        session.send_request = send_request
        instrument_mcp_session(session, exe, agent_id="ops-agent")

    async with in_memory_session(watch_then_govern) as (session, ran):
        await session.call_tool("echo", {"text": "hi"})
        await session.call_tool("echo", {"text": "mine"}, meta={"traceparent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01"})
    calls = [r for r in sent if getattr(getattr(r, "params", None), "name", None) == "echo"]
    dumped = [c.model_dump(by_alias=True, mode="json", exclude_none=True)["params"].get("_meta", {}) for c in calls]
    span = next(s for s in exporter.get_finished_spans() if s.name == "execute_tool echo")
    context = span.context
    assert dumped[0]["traceparent"] == f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}"
    assert dumped[1]["traceparent"] == "00-" + "1" * 32 + "-" + "2" * 16 + "-01"  # the caller's own stays


async def test_no_provider_no_tracing(exe: Execlave) -> None:
    _unset_provider()
    async with in_memory_session(governed(exe)) as (session, ran):
        assert session.call_tool.__name__ == "call_tool"
        await session.call_tool("echo", {"text": "hi"})


async def test_approvals_are_span_events(exporter: InMemorySpanExporter) -> None:
    # As the Node SDK's spans: requested, then granted or refused.
    needs_approval = [
        {
            "name": "Echo needs a human",
            "policyType": "tool_invocation",
            "enforcementMode": "require_approval",
            "ruleDefinition": {"deny": ["echo"]},
        }
    ]
    answers = iter([{"approved": True}, {"approved": False, "reason": "not today"}])
    with Execlave(policies=needs_approval, approver=lambda request: next(answers)) as client:
        async with in_memory_session(governed(client)) as (session, ran):
            await session.call_tool("echo", {"text": "yes"})
            with pytest.raises(PolicyDeniedError):
                await session.call_tool("echo", {"text": "no"})
    granted, refused = [s for s in exporter.get_finished_spans() if s.name == "execute_tool echo"]
    assert [e.name for e in granted.events] == ["execlave.approval.requested", "execlave.approval.granted"]
    assert granted.events[0].attributes == {"execlave.approval.id": "local"}
    assert granted.events[1].attributes is not None
    assert granted.events[1].attributes["execlave.approval.id"] == "local"
    assert granted.events[1].attributes["execlave.approval.waited_ms"] >= 0
    assert [e.name for e in refused.events][:2] == ["execlave.approval.requested", "execlave.approval.refused"]
    assert refused.events[1].attributes is not None
    assert refused.events[1].attributes["error.type"] == "PolicyDeniedError"
    assert refused.events[1].attributes["execlave.approval.reason"] == "not today"
