// The wrapper's rules against the real MCP Client and an in-process server
// over InMemoryTransport: the server counts what really ran, so "blocked"
// means "never reached the server".

import { test, describe, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { CallToolResultSchema } from '@modelcontextprotocol/sdk/types.js';
import { Execlave, PolicyBlockedError, ExeclaveError, EnforcementHaltError } from '@execlave/sdk';
import { instrumentMcpClient } from '@execlave/sdk/integrations/mcp';
import { readAuditLog } from './helpers/audit-log.mjs';
import { governedPair } from './helpers/governed-pair.mjs';
import { inMemoryPair, tempDir } from './helpers/servers.mjs';
import { testPolicies } from './helpers/policies.mjs';

const require = createRequire(import.meta.url);

let pair;
let exe;
let auditLog;
let close;

beforeEach(async () => {
  ({ pair, exe, auditLog, close } = await governedPair({ sessionId: 'sess-1', userId: 'user-7' }));
});

afterEach(() => close());

function records() {
  return readAuditLog(auditLog);
}

async function rejectsBlocked(promise, rule) {
  const err = await promise.then(
    () => assert.fail('the call was allowed'),
    (e) => e,
  );
  assert.ok(err instanceof PolicyBlockedError, `expected PolicyBlockedError, got ${err && err.stack}`);
  assert.ok(err instanceof EnforcementHaltError);
  assert.equal(err.name, 'PolicyBlockedError');
  assert.ok(err.violations.length > 0);
  if (rule) assert.ok(err.violations.some((v) => v.rule === rule), JSON.stringify(err.violations));
  assert.match(err.message, /blocked by policy/);
  return err;
}

describe('allowed and blocked calls', () => {
  test('an allowed call returns the server result', async () => {
    const r = await pair.client.callTool({ name: 'echo', arguments: { text: 'hello' } });
    assert.equal(r.content[0].text, 'hello');
    assert.equal(pair.ran.echo, 1);
  });

  test('a denied tool rejects and never reaches the server', async () => {
    const err = await rejectsBlocked(pair.client.callTool({ name: 'delete_all', arguments: {} }), 'deny');
    assert.equal(err.violations[0].policyId, 'pol_guard');
    assert.equal(err.violations[0].tool, 'delete_all');
    assert.equal(pair.ran.delete_all, undefined);
  });

  test('a tool outside the allowlist is not_allowed', async () => {
    await rejectsBlocked(pair.client.callTool({ name: 'unknown_tool', arguments: {} }), 'not_allowed');
  });

  test('argument rules: path traversal, JSON Pointer numbers, arrays element by element', async () => {
    await pair.client.callTool({ name: 'write_note', arguments: { path: '/srv/notes/a.txt', content: 'x' } });
    assert.equal(pair.ran.write_note, 1);
    const err = await rejectsBlocked(
      pair.client.callTool({ name: 'write_note', arguments: { path: '/srv/notes/../../etc/passwd', content: 'x' } }),
      'argument',
    );
    assert.equal(err.violations[0].argument, 'path');
    assert.ok(!JSON.stringify(err.violations).includes('passwd'), 'violations must not copy the value');
    await pair.client.callTool({ name: 'refund', arguments: { order: { amount: 100 } } });
    await rejectsBlocked(pair.client.callTool({ name: 'refund', arguments: { order: { amount: 100.5 } } }), 'argument');
    await rejectsBlocked(pair.client.callTool({ name: 'refund', arguments: {} }), 'argument');
    await pair.client.callTool({ name: 'read_many', arguments: { paths: ['/srv/notes/a', '/srv/notes/b'] } });
    await rejectsBlocked(
      pair.client.callTool({ name: 'read_many', arguments: { paths: ['/srv/notes/a', '/home/u/.ssh/id_rsa'] } }),
      'argument',
    );
    assert.equal(pair.ran.write_note, 1);
    assert.equal(pair.ran.refund, 1);
    assert.equal(pair.ran.read_many, 1);
  });

  test('warn-mode policies let the call through and record the warning', async () => {
    const r = await pair.client.callTool({ name: 'echo', arguments: { text: 'my PASSWORD is x' } });
    assert.equal(r.content[0].text, 'my PASSWORD is x');
    await exe.flush();
    const rec = records().at(-1);
    assert.equal(rec.status, 'success');
    assert.equal(rec.metadata.decision, 'warned');
    assert.equal(rec.metadata.warnings[0].policyId, 'pol_echo_watch');
    assert.equal(exe.stats().warned, 1);
  });
});

describe('call shapes', () => {
  test('callTool(name, args) is accepted and forwarded as { name, arguments }', async () => {
    const r = await pair.client.callTool('echo', { text: 'positional' });
    assert.equal(r.content[0].text, 'positional');
    await rejectsBlocked(pair.client.callTool('delete_all', {}), 'deny');
  });

  test('extra arguments (result schema, request options) pass through unchanged', async () => {
    const controller = new AbortController();
    const r = await pair.client.callTool({ name: 'echo', arguments: { text: 'x' } }, CallToolResultSchema, {
      signal: controller.signal,
      timeout: 5000,
    });
    assert.equal(r.content[0].text, 'x');
  });

  test('raw request({ method: "tools/call" }) is governed too, once', async () => {
    const r = await pair.client.request(
      { method: 'tools/call', params: { name: 'echo', arguments: { text: 'raw' } } },
      CallToolResultSchema,
    );
    assert.equal(r.content[0].text, 'raw');
    await rejectsBlocked(
      pair.client.request({ method: 'tools/call', params: { name: 'delete_all', arguments: {} } }, CallToolResultSchema),
      'deny',
    );
    assert.equal(pair.ran.delete_all, undefined);
    // One decision per call: callTool does not count twice through request.
    await pair.client.callTool({ name: 'noop' });
    assert.equal(exe.stats().decisions, 3);
  });

  test('other requests are not governed', async () => {
    const tools = await pair.client.listTools();
    assert.ok(tools.tools.some((t) => t.name === 'noop'));
    assert.equal(exe.stats().decisions, 0);
  });

  test('arguments are checked and sent as one snapshot: a getter cannot change them after the check', async () => {
    let reads = 0;
    const sneaky = {
      content: 'x',
      get path() {
        reads += 1;
        return reads === 1 ? '/srv/notes/ok.txt' : '/etc/passwd';
      },
    };
    await pair.client.callTool({ name: 'write_note', arguments: sneaky });
    assert.equal(reads, 1);
    await exe.flush();
    assert.equal(JSON.parse(records().at(-1).input).path, '/srv/notes/ok.txt');
  });

  test('changing the arguments or the result after the call changes neither what was sent nor the record', async () => {
    const args = { text: 'sent' };
    const pending = pair.client.callTool({ name: 'echo', arguments: args });
    args.text = 'changed after the call';
    const result = await pending;
    assert.equal(result.content[0].text, 'sent');
    result.content[0].text = 'changed by the caller';
    await exe.flush();
    const rec = records().at(-1);
    assert.deepEqual(JSON.parse(rec.input), { text: 'sent' });
    assert.equal(JSON.parse(rec.output).content[0].text, 'sent');
  });
});

describe('wrapping', () => {
  test('is idempotent and marks the client with a non-enumerable flag', async () => {
    const again = instrumentMcpClient(pair.client, exe, { agentId: 'ops-agent' });
    assert.equal(again, pair.client);
    assert.equal(pair.client._execlave_instrumented, true);
    assert.ok(!Object.keys(pair.client).includes('_execlave_instrumented'));
    await pair.client.callTool({ name: 'noop' });
    assert.equal(exe.stats().decisions, 1);
  });

  test('bad wrap-time input throws a clear error', () => {
    const e = (fn, re) => assert.throws(fn, (err) => err instanceof ExeclaveError && re.test(err.message));
    e(() => instrumentMcpClient(null, exe, { agentId: 'ops-agent' }), /client must be an MCP Client/);
    e(() => instrumentMcpClient({}, exe, { agentId: 'ops-agent' }), /no callTool function/);
    e(() => instrumentMcpClient({ callTool() {} }, undefined, { agentId: 'ops-agent' }), /Execlave client/);
    e(() => instrumentMcpClient({ callTool() {} }, {}, { agentId: 'ops-agent' }), /Execlave client/);
    e(() => instrumentMcpClient({ callTool() {} }, exe), /agentId/);
    e(() => instrumentMcpClient({ callTool() {} }, exe, {}), /agentId/);
    for (const bad of ['Ops-Agent', 'ops_agent', 'ops agent', '', '-ops', 'ops--agent']) {
      e(() => instrumentMcpClient({ callTool() {} }, exe, { agentId: bad }), /kebab-case/);
    }
  });

  test('enforce: false records violations as warnings and lets the call through', async () => {
    const other = await inMemoryPair();
    instrumentMcpClient(other.client, exe, { agentId: 'ops-agent', enforce: false });
    const r = await other.client.callTool({ name: 'delete_all', arguments: {} });
    assert.equal(r.content[0].text, 'deleted');
    await exe.flush();
    const rec = records().at(-1);
    assert.equal(rec.metadata.decision, 'warned');
    assert.equal(rec.metadata.warnings[0].rule, 'deny');
    await other.close();
  });
});

describe('odd input never fails open', () => {
  const cases = [
    ['missing tool name', () => pair.client.callTool({ arguments: {} }), /tool name/],
    ['numeric tool name', () => pair.client.callTool({ name: 42, arguments: {} }), /tool name/],
    ['no params at all', () => pair.client.callTool(), /callTool takes/],
    ['raw request without params', () => pair.client.request({ method: 'tools/call' }, CallToolResultSchema), /without params/],
  ];
  for (const [label, call, re] of cases) {
    test(label, async () => {
      await assert.rejects(call(), (err) => err instanceof ExeclaveError && re.test(err.message));
      assert.deepEqual(pair.ran, {});
    });
  }

  test("the native shortcut answers odd input with 'take the full path', never a ticket", () => {
    const native = require('../lib/native.js');
    for (const args of [[], [0], ['0', '1'], [{}, null], [-1, 1], [0, 999_999]]) {
      assert.ok(native.decideByTool(...args) < 0, JSON.stringify(args));
    }
  });

  test('circular arguments', async () => {
    const args = { text: 'x' };
    args.self = args;
    await assert.rejects(
      pair.client.callTool({ name: 'echo', arguments: args }),
      (err) => err instanceof ExeclaveError && /cannot be serialised/.test(err.message),
    );
    assert.deepEqual(pair.ran, {});
  });

  test('BigInt arguments', async () => {
    await assert.rejects(
      pair.client.callTool({ name: 'refund', arguments: { order: { amount: 10n } } }),
      (err) => err instanceof ExeclaveError && /BigInt/.test(err.message),
    );
    assert.deepEqual(pair.ran, {});
  });

  test('deeply nested arguments fail closed where argument rules apply', async () => {
    let deep = { amount: 1 };
    for (let i = 0; i < 500; i++) deep = { inner: deep };
    const err = await rejectsBlocked(pair.client.callTool({ name: 'refund', arguments: { order: deep } }), 'argument');
    assert.match(err.violations[0].message, /could not be read/);
    // Deeper than JSON.stringify itself can go: a clear error, nothing sent.
    let deeper = {};
    for (let i = 0; i < 200_000; i++) deeper = { inner: deeper };
    await assert.rejects(
      pair.client.callTool({ name: 'echo', arguments: { text: 'x', deeper } }),
      (e) => e instanceof ExeclaveError && /cannot be serialised/.test(e.message),
    );
    assert.deepEqual(pair.ran, {});
  });

  test('huge arguments are checked in full and recorded bounded', async () => {
    const big = 'a'.repeat(5_000_000);
    const r = await pair.client.callTool({ name: 'echo', arguments: { text: `${big} password` } });
    assert.equal(r.content[0].text.length, 5_000_009);
    await exe.flush();
    const rec = records().at(-1);
    assert.equal(rec.metadata.decision, 'warned', 'the end of a huge argument was still checked');
    assert.ok(rec.input.length < 10_000 && rec.output.length < 10_000);
    assert.match(rec.input, /truncated/);
  });
});

describe('records', () => {
  test('one TracePayload per call with the outcome', async () => {
    await pair.client.callTool({ name: 'echo', arguments: { text: 'a' } });
    await rejectsBlocked(pair.client.callTool({ name: 'delete_all', arguments: {} }));
    await pair.client.callTool({ name: 'soft_fail' });
    await exe.flush();
    const recs = records();
    assert.equal(recs.length, 3);
    const [ok, blocked, soft] = recs;
    for (const r of recs) {
      assert.equal(r.agentId, 'ops-agent');
      assert.equal(r.sessionId, 'sess-1');
      assert.equal(r.userId, 'user-7');
      assert.equal(r.spanType, 'tool');
      assert.equal(r.environment, 'production');
      assert.match(r.traceId, /^[0-9a-f-]{36}$/);
      assert.ok(!Number.isNaN(Date.parse(r.timestamp)));
      assert.equal(typeof r.durationMs, 'number');
    }
    assert.equal(ok.status, 'success');
    assert.equal(ok.metadata.toolName, 'echo');
    assert.deepEqual(JSON.parse(ok.input), { text: 'a' });
    assert.equal(JSON.parse(ok.output).content[0].text, 'a');
    assert.equal(blocked.status, 'policy_blocked');
    assert.equal(blocked.metadata.violations[0].rule, 'deny');
    assert.equal(blocked.errorType, 'PolicyBlockedError');
    assert.equal(soft.status, 'error');
    const stats = exe.stats();
    assert.equal(stats.decisions, 3);
    assert.equal(stats.allowed, 2);
    assert.equal(stats.blocked, 1);
    assert.equal(stats.recordsWritten, 3);
    assert.equal(stats.recordsDropped, 0);
  });

  test('completions are handed over without an explicit flush, timed as the call itself', async () => {
    await pair.client.callTool({ name: 'noop' });
    // The completion is queued in JS and handed to Rust at the next turn of
    // the event loop; waiting here must not count as the call's duration.
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(exe.stats().decisions, 1);
    await exe.flush();
    const [rec] = records();
    assert.equal(rec.status, 'success');
    assert.ok(rec.durationMs >= 0 && rec.durationMs < 250, `durationMs ${rec.durationMs}`);
  });

  test('a call lasts from its decision to its answer', async () => {
    await pair.client.callTool({ name: 'sleep', arguments: { ms: 120 } });
    await exe.flush();
    const [rec] = records();
    assert.deepEqual(JSON.parse(rec.input), { ms: 120 });
    assert.ok(rec.durationMs >= 119 && rec.durationMs < 1000, `durationMs ${rec.durationMs}`);
  });

  test('a burst of concurrent calls, more than one hand-over batch, is recorded once each', async () => {
    const texts = Array.from({ length: 150 }, (_, i) => `call-${i}`);
    await Promise.all(texts.map((text) => pair.client.callTool({ name: 'echo', arguments: { text } })));
    await rejectsBlocked(pair.client.callTool({ name: 'delete_all', arguments: {} }));
    await exe.flush();
    const recs = records();
    assert.equal(recs.length, 151);
    assert.deepEqual(recs.slice(0, 150).map((r) => JSON.parse(r.input).text).sort(), [...texts].sort());
    assert.equal(recs.at(-1).status, 'policy_blocked', 'the refusal comes after the calls that ended before it');
    assert.equal(exe.stats().recordsWritten, 151);
  });

  test('a call that throws is recorded as error', async () => {
    await assert.rejects(pair.client.callTool({ name: 'noop' }, CallToolResultSchema, { signal: AbortSignal.abort() }));
    await exe.flush();
    const rec = records().at(-1);
    assert.equal(rec.status, 'error');
    assert.ok(rec.errorMessage);
  });

  test('a full buffer drops the oldest records and counts them', async () => {
    const small = new Execlave({ policies: testPolicies, auditLog: join(tempDir(), 'a.jsonl'), bufferSize: 3, flushIntervalMs: 60_000, batchSize: 1000 });
    const p = await inMemoryPair();
    instrumentMcpClient(p.client, small, { agentId: 'ops-agent' });
    for (let i = 0; i < 5; i++) await p.client.callTool({ name: 'noop' });
    await small.flush();
    assert.equal(small.stats().recordsDropped, 2);
    assert.equal(small.stats().recordsWritten, 3);
    await p.close();
    await small.shutdown();
  });
});

describe('enforcePolicy and lifecycle', () => {
  test('enforcePolicy makes the same decision without MCP', async () => {
    assert.deepEqual(await exe.enforcePolicy({ agentId: 'ops-agent', tools: ['echo'], arguments: { text: 'x' } }), {
      allowed: true,
      warnings: [],
    });
    const warned = await exe.enforcePolicy({ agentId: 'ops-agent', tools: ['echo'], arguments: { text: 'password' } });
    assert.equal(warned.warnings[0].policyId, 'pol_echo_watch');
    await rejectsBlocked(exe.enforcePolicy({ agentId: 'ops-agent', tools: ['delete_all'] }), 'deny');
    await rejectsBlocked(
      exe.enforcePolicy({ agentId: 'ops-agent', tools: ['write_note'], arguments: { path: '/etc/shadow' } }),
      'argument',
    );
    // Other agents are outside the guard's scope.
    await exe.enforcePolicy({ agentId: 'billing-agent', tools: ['delete_all'] });
    await assert.rejects(exe.enforcePolicy({ agentId: 'Bad Id', tools: ['x'] }), /kebab-case/);
    await assert.rejects(exe.enforcePolicy({ agentId: 'ops-agent', tools: [] }), /non-empty array/);
  });

  test('after shutdown, calls reject with ExeclaveError and reach no server', async () => {
    await exe.shutdown();
    await assert.rejects(
      pair.client.callTool({ name: 'echo', arguments: { text: 'late' } }),
      (err) => err instanceof ExeclaveError && /shut down/.test(err.message),
    );
    assert.deepEqual(pair.ran, {});
    await exe.shutdown(); // twice is fine
  });
});
