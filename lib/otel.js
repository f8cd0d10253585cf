'use strict';

// OpenTelemetry spans for governed tool calls, when the app has
// OpenTelemetry: `@opentelemetry/api` is an optional peer, loaded only when
// a tracer provider is registered. Without one, nothing here is required
// and the wrapper's hot path has no tracing branch at all.
//
// Spans follow the GenAI semantic conventions for tool execution
// (`execute_tool {tool}`, `gen_ai.*` attributes, `error.type`), plus
// `execlave.*` attributes for the governance decision. The span's context
// goes to the server in `params._meta.traceparent`/`tracestate`, the keys
// the MCP specification reserves for W3C Trace Context.

const { randomUUID } = require('node:crypto');
const { EnforcementHaltError, PolicyBlockedError, AgentPausedError, EnforcementUnavailableError } = require('./errors');

// Where every copy of @opentelemetry/api 1.x keeps the registered globals
// (its documented cross-copy contract). Looking here first means an app
// without a registered provider never loads the API at all.
const OTEL_GLOBAL = Symbol.for('opentelemetry.js.api.1');

const TRACER_NAME = '@execlave/sdk';

/** The app's registered OpenTelemetry API, or null (none installed or no tracer provider registered). */
function registeredApi() {
  const registered = globalThis[OTEL_GLOBAL];
  if (registered === null || typeof registered !== 'object' || !registered.trace) return null;
  try {
    return require('@opentelemetry/api');
  } catch {
    return null;
  }
}

/** Tool-call spans for one wrapped client, or null when the app has no OpenTelemetry. */
function toolCallTracing(agentId) {
  const api = registeredApi();
  if (api === null) return null;
  let version = '0.0.0';
  try {
    version = require('../package.json').version;
  } catch {
    // A bundled copy without its package.json: the version is cosmetic.
  }
  return new ToolCallTracing(api, api.trace.getTracer(TRACER_NAME, version), agentId);
}

function decisionOf(err) {
  if (err instanceof PolicyBlockedError) return 'blocked';
  if (err instanceof AgentPausedError) return 'paused';
  if (err instanceof EnforcementUnavailableError) return 'unavailable';
  return 'refused';
}

class ToolCallTracing {
  #api;
  #tracer;
  #agentId;

  constructor(api, tracer, agentId) {
    this.#api = api;
    this.#tracer = tracer;
    this.#agentId = agentId;
  }

  /**
   * Starts the span of the call whose params (the wrapper's own, already
   * checked copy) are `params`, as a child of the app's current context,
   * and puts its trace context in `params._meta` unless the caller (or
   * its SDK) already put one there.
   */
  start(params) {
    const api = this.#api;
    const parent = api.context.active();
    const span = this.#tracer.startSpan(
      `execute_tool ${params.name}`,
      {
        kind: api.SpanKind.INTERNAL,
        attributes: {
          'gen_ai.operation.name': 'execute_tool',
          'gen_ai.tool.name': params.name,
          'gen_ai.tool.call.id': randomUUID(),
          'execlave.agent_id': this.#agentId,
        },
      },
      parent,
    );
    const context = api.trace.setSpan(parent, span);
    this.#propagate(context, span, params);
    return new ToolCallSpan(api, span, context);
  }

  /** A tool's definition changed or appeared (see lib/tool-pins.js): a span of its own, with the diff. */
  toolChanged(change) {
    const span = this.#tracer.startSpan(`execlave tool_definition_${change.kind}`, {
      kind: this.#api.SpanKind.INTERNAL,
      attributes: {
        'gen_ai.tool.name': change.tool,
        'execlave.agent_id': this.#agentId,
        'execlave.tool_change': change.kind,
        'execlave.tool_digest.pinned': change.pinnedDigest ?? '',
        'execlave.tool_digest.seen': change.seenDigest,
        'execlave.tool_change.blocked': change.blocked,
        'execlave.tool_change.diff': change.diff.join('\n'),
      },
    });
    if (change.blocked) span.setStatus({ code: this.#api.SpanStatusCode.ERROR, message: 'tool definition not pinned' });
    span.end();
  }

  #propagate(context, span, params) {
    const meta = params._meta;
    if (meta !== undefined && (meta === null || typeof meta !== 'object' || Array.isArray(meta))) return;
    if (meta !== undefined && Object.hasOwn(meta, 'traceparent')) return;
    const carrier = {};
    this.#api.propagation.inject(context, carrier);
    if (typeof carrier.traceparent !== 'string') {
      // No W3C propagator registered: the MCP spec asks for W3C Trace
      // Context in `_meta`, so write it from the span itself.
      const sc = span.spanContext();
      if (!this.#api.trace.isSpanContextValid(sc)) return;
      carrier.traceparent = `00-${sc.traceId}-${sc.spanId}-${(sc.traceFlags & 0xff).toString(16).padStart(2, '0')}`;
      const state = sc.traceState && sc.traceState.serialize();
      if (state) carrier.tracestate = state;
    }
    const next = meta === undefined ? {} : meta;
    next.traceparent = carrier.traceparent;
    if (typeof carrier.tracestate === 'string' && !Object.hasOwn(next, 'tracestate')) next.tracestate = carrier.tracestate;
    params._meta = next;
  }
}

/** One call's span, ended exactly once by `allowed`+`answered`/`threw`, or by `refused`. */
class ToolCallSpan {
  #api;
  #span;
  #context;
  #decided = false;
  #ended = false;

  constructor(api, span, context) {
    this.#api = api;
    this.#span = span;
    this.#context = context;
  }

  /** Runs `send` with the span as the current context, so that transport spans nest under it. */
  run(send) {
    return this.#api.context.with(this.#context, send);
  }

  // Approval events (an observer of lib/client.js): requested, then
  // granted or refused.
  approvalRequested(id) {
    this.#span.addEvent('execlave.approval.requested', { 'execlave.approval.id': String(id) });
  }

  approvalGranted(approval) {
    this.#span.addEvent('execlave.approval.granted', {
      'execlave.approval.id': String(approval.id),
      'execlave.approval.waited_ms': Number(approval.waitedMs) || 0,
    });
  }

  approvalRefused(err) {
    const attributes = { 'execlave.approval.id': String(err.approvalRequestId), 'error.type': String(err.name) };
    if (typeof err.reason === 'string') attributes['execlave.approval.reason'] = err.reason;
    this.#span.addEvent('execlave.approval.refused', attributes);
  }

  allowed() {
    this.#decided = true;
    this.#span.setAttribute('execlave.decision', 'allowed');
    this.#span.setAttribute('execlave.policy_ids', []);
  }

  /** Passes a stream's messages on, ending the span with its result or error (or when it stops early). */
  async *stream(messages) {
    try {
      for await (const message of messages) {
        if (message && message.type === 'result') this.answered(message.result);
        else if (message && message.type === 'error') this.threw(message.error);
        yield message;
      }
    } finally {
      if (!this.#ended) {
        this.#ended = true;
        this.#span.end();
      }
    }
  }

  answered(result) {
    if (this.#ended) return;
    this.#ended = true;
    let isError = false;
    try {
      isError = Boolean(result) && result.isError === true;
    } catch {
      // An answer that cannot be read does not say the tool failed.
    }
    if (isError) {
      this.#span.setAttribute('error.type', 'tool_error');
      this.#span.setStatus({ code: this.#api.SpanStatusCode.ERROR, message: 'the tool answered isError: true' });
    }
    this.#span.end();
  }

  /** The call threw: before its decision (a refusal, or odd input), or after it was sent. */
  threw(err) {
    if (this.#ended) return;
    this.#ended = true;
    const span = this.#span;
    if (!this.#decided && err instanceof EnforcementHaltError) {
      const violations = Array.isArray(err.violations) ? err.violations : [];
      span.setAttribute('execlave.decision', decisionOf(err));
      span.setAttribute('execlave.policy_ids', [...new Set(violations.map((v) => String(v.policyId)))]);
      if (violations.length > 0) {
        span.addEvent('execlave.policy_violations', {
          'execlave.violations': JSON.stringify(violations),
          'execlave.rules': violations.map((v) => String(v.rule ?? '')),
        });
      }
    }
    let type = 'Error';
    let message = '';
    try {
      type = (err && err.name) || typeof err;
      message = (err && err.message) || String(err);
    } catch {
      // An odd thrown value: the type alone.
    }
    span.setAttribute('error.type', String(type));
    span.setStatus({ code: this.#api.SpanStatusCode.ERROR, message: String(message) });
    span.end();
  }
}

module.exports = { toolCallTracing, OTEL_GLOBAL };
