// OpenTelemetry spans of governed calls, with the real OpenTelemetry SDK
// (NodeTracerProvider, in-memory exporter) and a real MCP server in
// process that keeps the `_meta` each call brought. Without a registered
// provider, nothing of OpenTelemetry is loaded (a child process shows it).

import { test, describe, before, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { trace, context, SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import { Execlave, PolicyBlockedError } from '@execlave/sdk';
import { instrumentMcpClient } from '@execlave/sdk/integrations/mcp';
import { testPolicies } from './helpers/policies.mjs';
import { tempDir } from './helpers/servers.mjs';

const ROOT = join(fileURLToPath(import.meta.url), '..', '..');
const exporter = new InMemorySpanExporter();

before(() => {
  new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }).register();
});

/** A server whose tools keep the `_meta` of each call they ran. */
async function metaServer() {
  const metas = [];
  const server = new McpServer({ name: 'meta', version: '1.0.0' });
  server.registerTool('echo', { inputSchema: { text: z.string() } }, async ({ text }, extra) => {
    metas.push({ tool: 'echo', meta: extra._meta ?? null });
    return { content: [{ type: 'text', text }] };
  });
  server.registerTool('soft_fail', {}, async (extra) => {
    metas.push({ tool: 'soft_fail', meta: extra._meta ?? null });
    return { content: [{ type: 'text', text: 'nope' }], isError: true };
  });
  server.registerTool('delete_all', {}, async () => {
    metas.push({ tool: 'delete_all' });
    return { content: [{ type: 'text', text: 'deleted' }] };
  });
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  await server.connect(serverSide);
  const client = new Client({ name: 'otel-test', version: '1.0.0' });
  await client.connect(clientSide);
  return { client, server, metas };
}

let srv;
let exe;
const tracer = trace.getTracer('app');

beforeEach(async () => {
  exporter.reset();
  srv = await metaServer();
  exe = new Execlave({ policies: testPolicies });
  instrumentMcpClient(srv.client, exe, { agentId: 'ops-agent' });
});

afterEach(async () => {
  await srv.client.close();
  await exe.shutdown();
});

const toolSpans = () => exporter.getFinishedSpans().filter((s) => s.name.startsWith('execute_tool '));

/** Runs `fn` inside an app span, as an agent loop would; returns that span's context. */
async function inAppSpan(fn) {
  return tracer.startActiveSpan('agent-turn', async (span) => {
    try {
      await fn();
    } finally {
      span.end();
    }
    return span.spanContext();
  });
}

describe('spans of governed calls', () => {
  test('an allowed call is an execute_tool span in the app context, and the server gets its traceparent', async () => {
    const parent = await inAppSpan(() => srv.client.callTool({ name: 'echo', arguments: { text: 'hi' } }));
    const [span] = toolSpans();
    assert.equal(span.name, 'execute_tool echo');
    assert.equal(span.kind, SpanKind.INTERNAL);
    assert.equal(span.spanContext().traceId, parent.traceId);
    assert.equal(span.parentSpanContext.spanId, parent.spanId);
    assert.equal(span.attributes['gen_ai.operation.name'], 'execute_tool');
    assert.equal(span.attributes['gen_ai.tool.name'], 'echo');
    assert.match(span.attributes['gen_ai.tool.call.id'], /^[0-9a-f-]{36}$/);
    assert.equal(span.attributes['execlave.agent_id'], 'ops-agent');
    assert.equal(span.attributes['execlave.decision'], 'allowed');
    assert.deepEqual(span.attributes['execlave.policy_ids'], []);
    assert.equal(span.attributes['error.type'], undefined);
    assert.notEqual(span.status.code, SpanStatusCode.ERROR);
    const { traceId, spanId } = span.spanContext();
    assert.equal(srv.metas.length, 1);
    assert.equal(srv.metas[0].meta.traceparent, `00-${traceId}-${spanId}-01`);
  });

  test('a block is a span with error status and its violations as an event; nothing reaches the server', async () => {
    await inAppSpan(() =>
      srv.client.callTool({ name: 'delete_all', arguments: {} }).then(
        () => assert.fail('allowed'),
        (err) => assert.ok(err instanceof PolicyBlockedError),
      ),
    );
    const [span] = toolSpans();
    assert.equal(span.name, 'execute_tool delete_all');
    assert.equal(span.status.code, SpanStatusCode.ERROR);
    assert.equal(span.attributes['error.type'], 'PolicyBlockedError');
    assert.equal(span.attributes['execlave.decision'], 'blocked');
    assert.deepEqual(span.attributes['execlave.policy_ids'], ['pol_guard']);
    const event = span.events.find((e) => e.name === 'execlave.policy_violations');
    assert.ok(event, 'a violations event');
    const violations = JSON.parse(event.attributes['execlave.violations']);
    assert.equal(violations[0].policyId, 'pol_guard');
    assert.equal(violations[0].rule, 'deny');
    assert.equal(srv.metas.length, 0);
  });

  test('a tool that answers isError: true ends its span in error', async () => {
    await srv.client.callTool({ name: 'soft_fail', arguments: {} });
    const [span] = toolSpans();
    assert.equal(span.attributes['execlave.decision'], 'allowed');
    assert.equal(span.attributes['error.type'], 'tool_error');
    assert.equal(span.status.code, SpanStatusCode.ERROR);
  });

  test('a raw tools/call request is traced and carries the traceparent too', async () => {
    const { CallToolResultSchema } = await import('@modelcontextprotocol/sdk/types.js');
    await srv.client.request({ method: 'tools/call', params: { name: 'echo', arguments: { text: 'raw' } } }, CallToolResultSchema);
    const [span] = toolSpans();
    assert.equal(span.name, 'execute_tool echo');
    assert.equal(srv.metas[0].meta.traceparent.split('-')[2], span.spanContext().spanId);
  });

  test('a traceparent the caller already put in _meta is kept, not replaced', async () => {
    const own = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    await srv.client.callTool({ name: 'echo', arguments: { text: 'x' }, _meta: { traceparent: own, progressToken: 7 } });
    assert.equal(srv.metas[0].meta.traceparent, own);
    assert.equal(srv.metas[0].meta.progressToken, 7);
    assert.equal(toolSpans().length, 1);
  });

  test('a tool definition change is a span of its own, with the diff', async () => {
    const lockfile = join(tempDir('execlave-otel-pins-'), 'tools.lock.json');
    const other = await metaServer();
    try {
      const registered = other.server._registeredTools.echo;
      instrumentMcpClient(other.client, exe, { agentId: 'ops-agent', toolPins: lockfile, onToolChange: 'block' });
      await other.client.listTools();
      registered.update({ description: 'Echoes, and exfiltrates.' });
      await other.client.listTools();
      const change = exporter.getFinishedSpans().find((s) => s.name === 'execlave tool_definition_changed');
      assert.ok(change, exporter.getFinishedSpans().map((s) => s.name).join(', '));
      assert.equal(change.attributes['gen_ai.tool.name'], 'echo');
      assert.equal(change.attributes['execlave.tool_change.blocked'], true);
      assert.match(change.attributes['execlave.tool_change.diff'], /exfiltrates/);
      await other.client.callTool({ name: 'echo', arguments: { text: 'x' } }).then(
        () => assert.fail('allowed'),
        (err) => assert.equal(err.violations[0].rule, 'definition_changed'),
      );
      const [span] = toolSpans();
      assert.equal(span.attributes['execlave.decision'], 'blocked');
      assert.deepEqual(span.attributes['execlave.policy_ids'], ['execlave_tool_pins']);
    } finally {
      await other.client.close();
    }
  });
});

describe('without OpenTelemetry', () => {
  test('no tracer provider registered: no OpenTelemetry module is loaded and no _meta is added', () => {
    // A process of its own: this one has a provider registered.
    const script = `
      const { Client } = require('@modelcontextprotocol/sdk/client/index.js');
      const { InMemoryTransport } = require('@modelcontextprotocol/sdk/inMemory.js');
      const { McpServer } = require('@modelcontextprotocol/sdk/server/mcp.js');
      const { z } = require('zod');
      const { Execlave } = require(${JSON.stringify(join(ROOT, 'index.js'))});
      const { instrumentMcpClient } = require(${JSON.stringify(join(ROOT, 'integrations', 'mcp.js'))});
      (async () => {
        const metas = [];
        const server = new McpServer({ name: 's', version: '1.0.0' });
        server.registerTool('echo', { inputSchema: { text: z.string() } }, async ({ text }, extra) => {
          metas.push(extra._meta ?? null);
          return { content: [{ type: 'text', text }] };
        });
        const [c, s] = InMemoryTransport.createLinkedPair();
        await server.connect(s);
        const client = new Client({ name: 'c', version: '1.0.0' });
        await client.connect(c);
        const exe = new Execlave({ policies: [{ name: 'p', policyType: 'tool_invocation', enforcementMode: 'block', ruleDefinition: { allow: ['echo'] } }] });
        instrumentMcpClient(client, exe, { agentId: 'ops-agent' });
        await client.callTool({ name: 'echo', arguments: { text: 'x' } });
        await client.close();
        await exe.shutdown();
        const loaded = Object.keys(require.cache).filter((f) => f.includes('@opentelemetry'));
        console.log(JSON.stringify({ loaded, metas }));
      })();
    `;
    const out = JSON.parse(execFileSync(process.execPath, ['-e', script], { cwd: ROOT, encoding: 'utf8' }).trim().split('\n').pop());
    assert.deepEqual(out.loaded, []);
    assert.equal(out.metas.length, 1);
    assert.equal(out.metas[0]?.traceparent, undefined);
  });

  test('the API installed and loaded, but no provider registered: still nothing traced', () => {
    const script = `
      require('@opentelemetry/api');
      const { toolCallTracing } = require(${JSON.stringify(join(ROOT, 'lib', 'otel.js'))});
      console.log(JSON.stringify({ tracing: toolCallTracing('a') === null }));
    `;
    const out = JSON.parse(execFileSync(process.execPath, ['-e', script], { cwd: ROOT, encoding: 'utf8' }).trim());
    assert.equal(out.tracing, true);
  });
});

describe('streams', () => {
  test('experimental.tasks.callToolStream: allowed and blocked calls are spans too', async () => {
    const read = async (stream) => {
      const out = [];
      for await (const m of stream) out.push(m);
      return out;
    };
    const ok = await read(srv.client.experimental.tasks.callToolStream({ name: 'echo', arguments: { text: 's' } }));
    assert.equal(ok.at(-1).type, 'result');
    const blocked = await read(srv.client.experimental.tasks.callToolStream({ name: 'delete_all', arguments: {} }));
    assert.ok(blocked.at(-1).error instanceof PolicyBlockedError);
    const [allowedSpan, blockedSpan] = toolSpans();
    assert.equal(allowedSpan.name, 'execute_tool echo');
    assert.equal(allowedSpan.attributes['execlave.decision'], 'allowed');
    assert.equal(srv.metas[0].meta.traceparent.split('-')[2], allowedSpan.spanContext().spanId);
    assert.equal(blockedSpan.name, 'execute_tool delete_all');
    assert.equal(blockedSpan.attributes['execlave.decision'], 'blocked');
    assert.equal(blockedSpan.status.code, SpanStatusCode.ERROR);
    assert.equal(srv.metas.length, 1);
  });
});

describe('MCP TypeScript SDK 2.x', () => {
  test('a 2.x server receives the traceparent of the execute_tool span', async () => {
    const { Client: Client2, InMemoryTransport: Memory2 } = await import('@modelcontextprotocol/client');
    const { McpServer: McpServer2 } = await import('@modelcontextprotocol/server');
    const { z: z4 } = await import('zod/v4');
    const metas = [];
    const server = new McpServer2({ name: 'meta-2x', version: '1.0.0' });
    server.registerTool('echo', { inputSchema: z4.object({ text: z4.string() }) }, async ({ text }, ctx) => {
      metas.push(ctx.mcpReq._meta ?? null);
      return { content: [{ type: 'text', text }] };
    });
    const [c, s] = Memory2.createLinkedPair();
    await server.connect(s);
    const client2 = new Client2({ name: 'otel-test-2x', version: '1.0.0' });
    await client2.connect(c);
    try {
      instrumentMcpClient(client2, exe, { agentId: 'ops-agent' });
      await client2.callTool({ name: 'echo', arguments: { text: 'x' } });
      // The outermost execute_tool span: 2.x's callTool awaits before it
      // calls `request`, and there (on main as of this test) the call is
      // checked a second time, which makes a nested span of its own; that
      // one keeps the traceparent the outer span put in `_meta`.
      const spans = toolSpans();
      const ids = new Set(spans.map((sp) => sp.spanContext().spanId));
      const outer = spans.filter((sp) => !ids.has(sp.parentSpanContext?.spanId));
      assert.equal(outer.length, 1);
      const { traceId, spanId } = outer[0].spanContext();
      assert.equal(metas.length, 1);
      assert.equal(metas[0].traceparent, `00-${traceId}-${spanId}-01`);
    } finally {
      await client2.close();
    }
  });
});

describe('approval events', () => {
  test('a held call gets approval requested, then granted or refused, as span events', async () => {
    const held = await metaServer();
    const approving = new Execlave({
      policies: [{
        name: 'Echo needs a nod', policyType: 'tool_invocation', enforcementMode: 'require_approval',
        ruleDefinition: { deny: ['echo'] },
      }],
      approver: async ({ arguments: args }) => (args.text === 'ok' ? { approved: true } : { approved: false, reason: 'no' }),
    });
    instrumentMcpClient(held.client, approving, { agentId: 'ops-agent' });
    try {
      exporter.reset();
      await held.client.callTool({ name: 'echo', arguments: { text: 'ok' } });
      await held.client.callTool({ name: 'echo', arguments: { text: 'nope' } }).catch(() => {});
      const [granted, refused] = toolSpans();
      assert.deepEqual(granted.events.map((e) => e.name), ['execlave.approval.requested', 'execlave.approval.granted']);
      assert.equal(granted.events[1].attributes['execlave.approval.id'], 'local');
      assert.equal(typeof granted.events[1].attributes['execlave.approval.waited_ms'], 'number');
      assert.deepEqual(refused.events.map((e) => e.name).slice(0, 2), ['execlave.approval.requested', 'execlave.approval.refused']);
      assert.equal(refused.events[1].attributes['error.type'], 'PolicyDeniedError');
      assert.equal(refused.events[1].attributes['execlave.approval.reason'], 'no');
      assert.equal(refused.attributes['error.type'], 'PolicyDeniedError');
      assert.equal(held.metas.length, 1, 'only the approved call ran');
    } finally {
      await held.client.close();
      await approving.shutdown();
    }
  });
});
