"""OpenTelemetry spans for governed tool calls, when the application has
OpenTelemetry: ``opentelemetry-api`` is optional, looked at only when the
application imported it and registered a tracer provider. Without one,
nothing here is imported and the wrapper's call path has no tracing step
at all (the traced ``call_tool`` replaces the plain one only when tracing
is on).

Spans follow the GenAI semantic conventions for tool execution, as the
Node SDK's (``lib/otel.js``): ``execute_tool {tool}``, ``gen_ai.*``
attributes, ``error.type``, plus ``execlave.*`` attributes for the
governance decision (``execlave.decision``: ``allowed``, ``blocked``,
``paused``, ``unavailable`` or ``refused``; ``execlave.policy_ids``; an
``execlave.policy_violations`` event)."""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .._call_observer import current_call_observer
from ..errors import AgentPausedError, EnforcementHaltError, EnforcementUnavailableError, PolicyBlockedError

__all__ = ["tool_call_tracing", "ToolCallTracing", "TRACER_NAME"]

TRACER_NAME = "execlave-sdk"


def tool_call_tracing(agent_id: str) -> ToolCallTracing | None:
    """Tool-call spans for one governed session, or None when the
    application has no OpenTelemetry tracer provider."""
    if "opentelemetry.trace" not in sys.modules:
        return None  # never imported: no provider can be registered
    try:
        from opentelemetry import trace
    except ImportError:  # pragma: no cover - it was imported
        return None
    provider = trace.get_tracer_provider()
    if type(provider).__name__ in ("ProxyTracerProvider", "NoOpTracerProvider"):
        return None
    try:
        from importlib.metadata import version

        sdk_version = version("execlave-sdk")
    except Exception:
        sdk_version = "0.0.0"  # cosmetic
    return ToolCallTracing(trace, trace.get_tracer(TRACER_NAME, sdk_version), agent_id)


def _decision_of(err: BaseException) -> str:
    if isinstance(err, PolicyBlockedError):
        return "blocked"
    if isinstance(err, AgentPausedError):
        return "paused"
    if isinstance(err, EnforcementUnavailableError):
        return "unavailable"
    return "refused"


def _in_band_violations(result: Any) -> list[dict[str, Any]] | None:
    """The violations of an ``on_block="result"`` refusal, or None for any
    other answer."""
    fields = getattr(result, "__dict__", None)
    if not isinstance(fields, dict):
        return None
    content = fields.get("structured_content", fields.get("structuredContent"))
    block = content.get("execlave") if isinstance(content, dict) else None
    if isinstance(block, dict) and block.get("decision") == "blocked":
        violations = block.get("violations")
        return violations if isinstance(violations, list) else []
    return None


class ToolCallTracing:
    def __init__(self, trace: Any, tracer: Any, agent_id: str) -> None:
        self._trace = trace
        self._tracer = tracer
        self._agent_id = agent_id

    def start(self, tool: object) -> ToolCallSpan:
        """The span of one call, a child of the application's current span."""
        name = tool if isinstance(tool, str) else str(tool)
        span = self._tracer.start_span(
            f"execute_tool {name}",
            kind=self._trace.SpanKind.INTERNAL,
            attributes={
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": name,
                "gen_ai.tool.call.id": str(uuid.uuid4()),
                "execlave.agent_id": self._agent_id,
            },
        )
        return ToolCallSpan(self._trace, span)


class ToolCallSpan:
    """One call's span, ended exactly once by ``answered`` or ``threw``."""

    def __init__(self, trace: Any, span: Any) -> None:
        self._trace = trace
        self._span = span
        self._ended = False

    def trace_meta(self, meta: object) -> object:
        """The request's ``_meta`` with the span's W3C trace context
        (``traceparent``, ``tracestate``: the keys the MCP specification
        reserves for it), unless the caller put one there. A copy: the
        caller's dict is not changed. Anything but a dict or None is left
        as it is."""
        if meta is not None and not isinstance(meta, dict):
            return meta
        if meta is not None and "traceparent" in meta:
            return meta
        carrier: dict[str, str] = {}
        from opentelemetry import propagate

        propagate.inject(carrier, context=self._trace.set_span_in_context(self._span))
        if not isinstance(carrier.get("traceparent"), str):
            # No W3C propagator configured: written from the span itself.
            context = self._span.get_span_context()
            if not context.is_valid:
                return meta
            carrier = {"traceparent": f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}"}
            state = context.trace_state.to_header() if context.trace_state else ""
            if state:
                carrier["tracestate"] = state
        traced = dict(meta or {})
        traced["traceparent"] = carrier["traceparent"]
        if "tracestate" in carrier and "tracestate" not in traced:
            traced["tracestate"] = carrier["tracestate"]
        return traced

    @contextmanager
    def current(self) -> Iterator[None]:
        """The span as the current one while the call runs, so that the
        transport's own spans nest under it, and the call's observer (the
        client tells it about approvals)."""
        observing = current_call_observer.set(self)
        try:
            with self._trace.use_span(
                self._span, end_on_exit=False, record_exception=False, set_status_on_exception=False
            ):
                yield
        finally:
            current_call_observer.reset(observing)

    # Approval events (the client's observer, as the Node SDK's): requested,
    # then granted or refused.
    def approval_requested(self, approval_id: str) -> None:
        self._span.add_event("execlave.approval.requested", {"execlave.approval.id": approval_id})

    def approval_granted(self, approval_id: str, waited_ms: float) -> None:
        self._span.add_event(
            "execlave.approval.granted",
            {"execlave.approval.id": approval_id, "execlave.approval.waited_ms": waited_ms},
        )

    def approval_refused(self, error: Any) -> None:
        attributes = {
            "execlave.approval.id": str(error.approval_request_id),
            "error.type": type(error).__name__,
        }
        reason = getattr(error, "reason", None)
        if isinstance(reason, str):
            attributes["execlave.approval.reason"] = reason
        self._span.add_event("execlave.approval.refused", attributes)

    def _refused(self, decision: str, violations: list[dict[str, Any]]) -> None:
        span = self._span
        span.set_attribute("execlave.decision", decision)
        span.set_attribute("execlave.policy_ids", sorted({str(v.get("policyId")) for v in violations}))
        if violations:
            span.add_event(
                "execlave.policy_violations",
                {
                    "execlave.violations": json.dumps(violations, default=str),
                    "execlave.rules": [str(v.get("rule") or "") for v in violations],
                },
            )

    def answered(self, result: Any) -> None:
        if self._ended:
            return
        self._ended = True
        span = self._span
        violations = _in_band_violations(result)
        if violations is not None:
            self._refused("blocked", violations)
        else:
            span.set_attribute("execlave.decision", "allowed")
            span.set_attribute("execlave.policy_ids", [])
        fields = getattr(result, "__dict__", None)
        is_error = isinstance(fields, dict) and fields.get("is_error", fields.get("isError")) is True
        if is_error:
            span.set_attribute("error.type", "tool_error")
            span.set_status(self._trace.Status(self._trace.StatusCode.ERROR, "the tool answered isError: true"))
        span.end()

    def threw(self, err: BaseException) -> None:
        if self._ended:
            return
        self._ended = True
        span = self._span
        if isinstance(err, EnforcementHaltError):
            violations = getattr(err, "violations", None)
            self._refused(_decision_of(err), violations if isinstance(violations, list) else [])
        else:
            # Decided and sent: the server or the transport failed.
            span.set_attribute("execlave.decision", "allowed")
            span.set_attribute("execlave.policy_ids", [])
        span.set_attribute("error.type", type(err).__name__)
        span.set_status(self._trace.Status(self._trace.StatusCode.ERROR, str(err)))
        span.end()
