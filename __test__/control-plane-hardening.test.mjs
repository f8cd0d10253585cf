// Issue 10, items 4-8, 10, 11, 16, 18: the control-plane paths that let
// calls through or leaked text, each probed with the real MCP Client, an
// in-process MCP server that counts what really ran, and the project's
// test control plane (real HTTP on loopback, with fault injection).

import { test, describe, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import {
  Execlave,
  ExeclaveError,
  PolicyBlockedError,
  ApprovalVerificationError,
  AgentPausedError,
  EnforcementUnavailableError,
} from '@execlave/sdk';
import { instrumentMcpClient } from '@execlave/sdk/integrations/mcp';
import { startControlPlane } from '../test-control-plane/index.mjs';
import { inMemoryPair } from './helpers/servers.mjs';
import { guard } from './helpers/policies.mjs';

const fast = { policyRefreshMs: 100, pollIntervalMs: 100, flushIntervalMs: 100, firstSyncTimeoutMs: 1500, requestTimeoutMs: 500 };
const cleanups = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()();
});

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// A policy only the server evaluates: calls of its agent ask POST /policies/enforce.
const contentPolicy = { id: 'pol_pii', name: 'PII filter', policyType: 'content_filter', enforcementMode: 'block', appliesToAgents: ['ops-agent'], ruleDefinition: {} };
// A policy this SDK cannot read (perhaps valid for a newer one).
const unreadable = { id: 'pol_new', name: 'Newer', policyType: 'tool_invocation', enforcementMode: 'explode', appliesToAgents: ['ops-agent'] };
const serverBlock = (message = 'blocked by the server') => ({
  allowed: false,
  violations: [{ policyId: 'pol_srv', policyName: 'Server', policyType: 'content_filter', message, enforcementMode: 'block' }],
});

/** A governed in-process MCP client against `cp`; everything is closed after the test. */
async function governed(cp, options = {}, { agentId = 'ops-agent', enforce = true } = {}) {
  const exe = new Execlave({ apiKey: cp.apiKey, baseUrl: cp.url, ...fast, ...options });
  const pair = await inMemoryPair();
  instrumentMcpClient(pair.client, exe, { agentId, enforce });
  cleanups.push(async () => {
    await pair.close();
    await exe.shutdown();
    await cp.close();
  });
  return { cp, exe, pair, client: pair.client };
}

/** Runs helpers/stderr-child.mjs with `config`; resolves { stdout lines (parsed), stderr text }. */
function runChild(config) {
  const script = fileURLToPath(new URL('./helpers/stderr-child.mjs', import.meta.url));
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [script, JSON.stringify(config)], { timeout: 20_000 }, (err, stdout, stderr) => {
      if (err) { reject(Object.assign(err, { stderr })); return; }
      resolve({ lines: stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)), stderr });
    });
  });
}

describe('item 4: only outages are outages on POST /policies/enforce', () => {
  for (const status of [400, 404, 409, 413, 422, 302]) {
    test(`HTTP ${status} refuses the call even with fail_open, naming the status`, async () => {
      const cp = await startControlPlane({ policies: [guard, contentPolicy] });
      const bypasses = [];
      const { client, pair, exe } = await governed(cp, { enforcementOnOutage: 'fail_open', onEnforcementBypassed: (e) => bypasses.push(e) });
      cp.setEnforceResponse(status, { error: { code: 'nope', message: 'refused' } });
      const err = await client.callTool({ name: 'echo', arguments: { text: 'x' } }).catch((e) => e);
      assert.ok(err instanceof EnforcementUnavailableError, `HTTP ${status}: ${err}`);
      assert.match(err.message, new RegExp(`\\b${status}\\b`));
      assert.equal(pair.ran.echo, undefined, 'the MCP server never saw the call');
      assert.equal(bypasses.length, 0);
      assert.equal(exe.stats().bypassed, 0);
    });
  }

  test('a 2 MiB argument that draws a 413 is refused, not let through by fail_open', async () => {
    const cp = await startControlPlane({ policies: [guard, contentPolicy], maxBodyBytes: 1024 * 1024 });
    const { client, pair } = await governed(cp, { enforcementOnOutage: 'fail_open' });
    const err = await client.callTool({ name: 'echo', arguments: { text: 'x'.repeat(2 * 1024 * 1024) } }).catch((e) => e);
    assert.ok(err instanceof EnforcementUnavailableError, String(err));
    assert.match(err.message, /413/);
    assert.equal(pair.ran.echo, undefined);
  });

  test('5xx and 429 stay outages: fail_open lets the call through and reports it', async () => {
    const cp = await startControlPlane({ policies: [guard, contentPolicy] });
    const bypasses = [];
    const { client, pair } = await governed(cp, { enforcementOnOutage: 'fail_open', onEnforcementBypassed: (e) => bypasses.push(e) });
    for (const status of [503, 429]) {
      cp.setEnforceResponse(status, { error: { code: 'busy', message: 'later' } });
      await client.callTool({ name: 'echo', arguments: { text: 'x' } });
    }
    assert.equal(pair.ran.echo, 2);
    assert.equal(bypasses.length, 2);
  });
});

describe('item 5: unreadable policies never turn into allow-all', () => {
  test('at first sync, an answer with only unreadable policies sends the calls to the server', async () => {
    const cp = await startControlPlane({ policies: [unreadable] });
    const { client, pair, exe } = await governed(cp, { enforcementOnOutage: 'fail_open' });
    cp.setEnforceResponse(200, serverBlock());
    await assert.rejects(client.callTool({ name: 'noop' }), PolicyBlockedError);
    assert.equal(pair.ran.noop, undefined);
    assert.ok(cp.enforceRequests.length >= 1, 'the server was asked');
    assert.equal(exe.stats().bypassed, 0);
    assert.equal(exe.stats().unreadablePolicies, 1);
  });

  test('after a good sync, an answer with only unreadable policies sends the calls to the server', async () => {
    const cp = await startControlPlane({ policies: [guard] });
    const { client, pair, exe } = await governed(cp, { enforcementOnOutage: 'fail_open' });
    await client.callTool({ name: 'noop' });
    assert.equal(cp.enforceRequests.length, 0);
    cp.setPolicies([unreadable]);
    cp.setEnforceResponse(200, serverBlock());
    await cp.waitFor(() => exe.stats().unreadablePolicies === 1, { timeoutMs: 3000 });
    await assert.rejects(client.callTool({ name: 'noop' }), PolicyBlockedError);
    assert.equal(pair.ran.noop, 1);
    // The last good set still holds as well: it never loosens on garbage.
    await assert.rejects(client.callTool({ name: 'delete_all' }), PolicyBlockedError);
    assert.equal(pair.ran.delete_all, undefined);
  });

  test('a warning is shown once on stderr even with debug: false', async () => {
    const cp = await startControlPlane({ policies: [unreadable] });
    cleanups.push(() => cp.close());
    const { stderr, lines } = await runChild({
      options: { apiKey: cp.apiKey, baseUrl: cp.url, ...fast, debug: false },
      tools: ['noop'],
      repeat: 4,
      waitMs: 150,
    });
    const warnings = stderr.split('\n').filter((l) => /unreadable|cannot be read|cannot read/i.test(l));
    assert.equal(warnings.length, 1, stderr);
    assert.match(warnings[0], /server|control plane/i);
    assert.equal(lines.at(-1).stats.unreadablePolicies, 1);
  });
});

describe("item 6: enforcement: 'remote' asks the server even when GET /policies fails", () => {
  test('the server decides every call; nothing is bypassed', async () => {
    const cp = await startControlPlane({ policies: [guard] });
    cp.setStatus(/^\/api\/v1\/policies$/, 503, undefined, { method: 'GET' });
    cp.setEnforceResponse(200, serverBlock());
    const { client, pair, exe } = await governed(cp, { enforcement: 'remote', enforcementOnOutage: 'fail_open' });
    await assert.rejects(client.callTool({ name: 'noop' }), PolicyBlockedError);
    assert.equal(pair.ran.noop, undefined);
    assert.equal(cp.enforceRequests.length, 1);
    cp.setEnforceResponse(200, { allowed: true });
    await client.callTool({ name: 'noop' });
    assert.equal(cp.enforceRequests.length, 2);
    assert.equal(exe.stats().bypassed, 0);
  });
});

describe('item 7: agent lookup is retried until found', () => {
  test('an agent created after the SDK started gets its pause and its internal-id policies', async () => {
    const cp = await startControlPlane({ policies: [] });
    const { client, pair } = await governed(cp, {}, { agentId: 'late-agent' });
    await client.callTool({ name: 'noop' });
    assert.equal(pair.ran.noop, 1);
    const agent = cp.addAgent({ agentId: 'late-agent' });
    cp.setPolicies([{ ...guard, id: 'pol_late', appliesToAgents: [agent.id], ruleDefinition: { deny: ['echo'] } }]);
    await cp.waitFor(() => cp.requestsTo(`/api/v1/agents/${agent.id}/status-poll`).some((r) => r.status === 200), { timeoutMs: 3000 });
    await sleep(250);
    await assert.rejects(client.callTool({ name: 'echo', arguments: { text: 'x' } }), PolicyBlockedError);
    cp.pauseAgent('late-agent', 'created late, paused');
    await sleep(350);
    const err = await client.callTool({ name: 'noop' }).catch((e) => e);
    assert.ok(err instanceof AgentPausedError, String(err));
    assert.equal(pair.ran.noop, 1);
  });
});

describe('item 8: shutdown never allows', () => {
  test('a call waiting on a remote decision is refused with the shut-down error', async () => {
    const cp = await startControlPlane({ policies: [guard, contentPolicy] });
    const { client, pair, exe } = await governed(cp, { enforcementOnOutage: 'fail_open', requestTimeoutMs: 5000 });
    await client.callTool({ name: 'noop' }); // synced
    cp.hang({ match: '/api/v1/policies/enforce' });
    const call = client.callTool({ name: 'echo', arguments: { text: 'x' } }).catch((e) => e);
    await cp.waitFor(() => cp.hungCount === 1);
    await exe.shutdown();
    const err = await call;
    assert.ok(err instanceof ExeclaveError && /shut down/.test(err.message), String(err));
    assert.ok(!(err instanceof EnforcementUnavailableError));
    assert.equal(pair.ran.echo, undefined, 'the call never reached the MCP server');
    assert.equal(exe.stats().bypassed, 0);
  });

  test('a call waiting on the first sync is refused with the shut-down error', async () => {
    const cp = await startControlPlane({ policies: [guard] });
    cp.hang({ match: /^\/api\/v1\/(policies|agents)/, method: 'GET' });
    const { client, pair, exe } = await governed(cp, { enforcementOnOutage: 'fail_open', requestTimeoutMs: 5000, firstSyncTimeoutMs: 5000 });
    const call = client.callTool({ name: 'noop' }).catch((e) => e);
    await cp.waitFor(() => cp.hungCount >= 1);
    await exe.shutdown();
    const err = await call;
    assert.ok(err instanceof ExeclaveError && /shut down/.test(err.message), String(err));
    assert.equal(pair.ran.noop, undefined);
    assert.equal(exe.stats().bypassed, 0);
  });
});

describe('item 10: the kill switch keeps watching through and after an outage', () => {
  test('a pause made during an outage applies within pollIntervalMs + 1 s of the control plane answering again', async () => {
    const pollIntervalMs = 100;
    const cp = await startControlPlane({ policies: [guard] });
    // Default breaker settings (3 failures, 60 s cool-down).
    const { client, pair } = await governed(cp, { pollIntervalMs, policyRefreshMs: 100 });
    await client.callTool({ name: 'noop' });
    cp.setStatus('/api/v1', 503);
    // Well past the breaker's threshold of 3 failures.
    await cp.waitFor(() => cp.requests.filter((r) => r.status === 503).length >= 6, { timeoutMs: 3000 });
    cp.pauseAgent('ops-agent', 'paused during the outage');
    cp.clearFaults();
    await sleep(pollIntervalMs + 1000);
    const err = await client.callTool({ name: 'noop' }).catch((e) => e);
    assert.ok(err instanceof AgentPausedError, String(err));
    assert.equal(pair.ran.noop, 1);
  });

  test('a policy change made just after an outage applies within the bound too', async () => {
    const cp = await startControlPlane({ policies: [guard] });
    const { client } = await governed(cp, { pollIntervalMs: 100, policyRefreshMs: 100 });
    await client.callTool({ name: 'noop' });
    cp.setStatus('/api/v1', 503);
    await cp.waitFor(() => cp.requests.filter((r) => r.status === 503).length >= 6, { timeoutMs: 3000 });
    cp.clearFaults();
    cp.setPolicies([{ ...guard, ruleDefinition: { ...guard.ruleDefinition, deny: ['delete_all', 'noop'] } }]);
    await sleep(100 + 1000);
    await assert.rejects(client.callTool({ name: 'noop' }), PolicyBlockedError);
  });

  test('polls retry on their own schedule while the control plane is down, never slower than their interval', async () => {
    const cp = await startControlPlane({ policies: [guard] });
    const { client } = await governed(cp, { pollIntervalMs: 100, policyRefreshMs: 100 });
    await client.callTool({ name: 'noop' });
    cp.setStatus('/api/v1', 503);
    await cp.waitFor(() => cp.requests.filter((r) => r.status === 503).length >= 4, { timeoutMs: 3000 });
    const before = cp.requestsTo('/api/v1/agents/agt_ops/status-poll').length;
    await sleep(1000);
    // One poll per 100 ms at most, so at least a few in a second even on a loaded machine.
    assert.ok(cp.requestsTo('/api/v1/agents/agt_ops/status-poll').length - before >= 3);
  });
});

describe('item 11: monitor mode is monitor mode', () => {
  for (const [status, body] of [[403, serverBlock('contains PII')], [202, { approvalRequestId: 'apr_9' }]]) {
    test(`with enforce: false, a server ${status} becomes a warning`, async () => {
      const cp = await startControlPlane({ policies: [guard, contentPolicy] });
      const { client, pair, exe } = await governed(cp, {}, { enforce: false });
      cp.setEnforceResponse(status, body);
      const r = await client.callTool({ name: 'echo', arguments: { text: 'ssn' } });
      assert.equal(r.content[0].text, 'ssn');
      assert.equal(pair.ran.echo, 1);
      await exe.flush();
      const trace = cp.traces.find((t) => t.metadata?.toolName === 'echo');
      assert.ok(trace, JSON.stringify(cp.traces));
      assert.equal(trace.status, 'success');
      assert.equal(trace.metadata.decision, 'warned');
      assert.ok(trace.metadata.warnings.length >= 1);
      assert.ok(exe.stats().warned >= 1);
    });
  }
});

describe('item 16: the API key never leaks, whoever writes the text', () => {
  test('server text carrying the key in any case is redacted from errors and records', async () => {
    const cp = await startControlPlane({ policies: [guard, contentPolicy] });
    const key = cp.apiKey;
    const { client, exe } = await governed(cp, { enforcementOnOutage: 'fail_closed' });
    const mixed = key.split('').map((c, i) => (i % 2 ? c.toUpperCase() : c)).join('');
    cp.setEnforceResponse(403, serverBlock(`denied for ${key} / ${key.toUpperCase()} / ${mixed}`));
    const blocked = await client.callTool({ name: 'echo', arguments: { text: 'x' } }).catch((e) => e);
    assert.ok(blocked instanceof PolicyBlockedError, String(blocked));
    cp.setEnforceResponse(400, { error: { code: 'bad', message: `bad request from ${key.toUpperCase()}` } });
    const refused = await client.callTool({ name: 'echo', arguments: { text: 'y' } }).catch((e) => e);
    assert.ok(refused instanceof ExeclaveError, String(refused));
    cp.setEnforceResponse(202, { approvalRequestId: `apr_${mixed}` });
    const approval = await client.callTool({ name: 'echo', arguments: { text: 'z' } }).catch((e) => e);
    assert.ok(approval instanceof ApprovalVerificationError, String(approval));
    await exe.flush();
    const lower = key.toLowerCase();
    for (const [what, text] of [
      ['blocked message', blocked.message],
      ['blocked violations', JSON.stringify(blocked.violations)],
      ['refused message', refused.message],
      ['approval', JSON.stringify([approval.message, approval.approvalRequestId, String(approval.cause)])],
      ['records', JSON.stringify(cp.traces)],
    ]) {
      assert.ok(!text.toLowerCase().includes(lower), `the key leaked into the ${what}: ${text}`);
    }
    assert.ok(cp.traces.length >= 2);
  });

  test('debug lines never show the key either', async () => {
    const cp = await startControlPlane({ policies: [guard, contentPolicy] });
    cleanups.push(() => cp.close());
    const key = cp.apiKey;
    cp.setEnforceResponse(400, { error: { code: 'bad', message: `bad request from ${key.toUpperCase()}` } });
    const { stderr } = await runChild({
      options: { apiKey: key, baseUrl: cp.url, ...fast, debug: true, enforcementOnOutage: 'fail_closed' },
      tools: ['echo'],
    });
    assert.match(stderr, /\[execlave\]/, 'debug output was on');
    assert.ok(!stderr.toLowerCase().includes(key.toLowerCase()), stderr);
  });
});

describe('item 18: debug lines escape caller text', () => {
  test('a tool name with newlines and control characters cannot forge a log line', async () => {
    const cp = await startControlPlane({ policies: [guard] });
    await cp.stop();
    cleanups.push(() => cp.close());
    const forged = ['noop\n[execlave] FAKE policies disabled', 'noop\r[execlave] FAKE carriage', 'noop\u2028[execlave] FAKE separator', 'noop\u001b[2K[execlave] FAKE ansi'];
    const { stderr, lines } = await runChild({
      options: { apiKey: cp.apiKey, baseUrl: cp.url, ...fast, firstSyncTimeoutMs: 300, requestTimeoutMs: 200, debug: true, enforcementOnOutage: 'fail_open' },
      tools: forged,
    });
    assert.equal(lines.filter((l) => l.ok).length, forged.length, 'fail_open let them through (and said so)');
    assert.match(stderr, /bypassed/);
    for (const line of stderr.split(/\r\n|\n|\r|\u2028|\u2029/)) {
      assert.ok(!/^\s*\[execlave\] FAKE/.test(line), `forged line: ${JSON.stringify(line)}`);
    }
    assert.ok(!stderr.includes('\u001b'), 'no raw escape character on stderr');
  });
});
