// Control-plane mode against the project's test control plane (a real HTTP
// server on loopback speaking the documented wire format) and real MCP
// clients: sync, outages, server-side decisions, kill switch, records.

import { test, describe, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import {
  ApprovalVerificationError,
  Execlave,
  PolicyBlockedError,
  AgentPausedError,
  EnforcementUnavailableError,
  ExeclaveAuthError,
  ExeclaveError,
} from '@execlave/sdk';
import { instrumentMcpClient } from '@execlave/sdk/integrations/mcp';
import { startControlPlane } from '../test-control-plane/index.mjs';
import { inMemoryPair, tempDir } from './helpers/servers.mjs';
import { guard } from './helpers/policies.mjs';

const fast = { policyRefreshMs: 150, pollIntervalMs: 100, flushIntervalMs: 100, firstSyncTimeoutMs: 1500, requestTimeoutMs: 500 };
const cleanups = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()();
});

/** A governed in-process MCP client against `cp`, cleaned up after the test. */
async function governed(cp, options = {}, { closeControlPlane = true } = {}) {
  const exe = new Execlave({ apiKey: cp.apiKey, baseUrl: cp.url, ...fast, ...options });
  const pair = await inMemoryPair();
  instrumentMcpClient(pair.client, exe, { agentId: 'ops-agent' });
  cleanups.push(async () => {
    await pair.close();
    await exe.shutdown();
    if (closeControlPlane) await cp.close();
  });
  return { cp, exe, pair, client: pair.client };
}

async function setup({ policies = [guard], options = {}, cpOptions = {} } = {}) {
  return governed(await startControlPlane({ policies, ...cpOptions }), options);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const policiesGet = (cp) => cp.requests.filter((r) => r.method === 'GET' && r.path === '/api/v1/policies');

describe('policy sync', () => {
  test('server policies govern calls; the first call waits for the first sync', async () => {
    const { client, pair, cp } = await setup();
    await assert.rejects(client.callTool({ name: 'delete_all' }), PolicyBlockedError);
    const r = await client.callTool({ name: 'echo', arguments: { text: 'hi' } });
    assert.equal(r.content[0].text, 'hi');
    assert.equal(pair.ran.delete_all, undefined);
    // The key went as a bearer token and our product token as User-Agent.
    const req = policiesGet(cp)[0];
    assert.equal(req.headers.authorization, `Bearer ${cp.apiKey}`);
    assert.match(req.headers['user-agent'], /^execlave-/);
  });

  test('a policy change takes effect within one refresh; unchanged sets come back 304', async () => {
    const { client, cp } = await setup();
    await client.callTool({ name: 'noop' });
    await cp.waitFor(() => policiesGet(cp).some((r) => r.status === 304), { timeoutMs: 3000 });
    assert.ok(policiesGet(cp).some((r) => r.headers['if-none-match']));
    cp.setPolicies([{ ...guard, ruleDefinition: { ...guard.ruleDefinition, deny: ['delete_all', 'noop'] } }]);
    await sleep(400);
    await assert.rejects(client.callTool({ name: 'noop' }), PolicyBlockedError);
  });

  test('a policy the SDK cannot read leaves the calls it may apply to to the server; the rest apply', async () => {
    // Perhaps valid for a newer SDK; skipping it would drop what it guards.
    const unreadable = { id: 'pol_new', name: 'Newer', policyType: 'tool_invocation', enforcementMode: 'explode', appliesToAgents: ['ops-agent'] };
    const { client, exe, cp, pair } = await setup({ policies: [guard, unreadable] });
    await assert.rejects(client.callTool({ name: 'delete_all' }), PolicyBlockedError, 'the readable policy still applies locally');
    assert.equal(cp.enforceRequests.length, 0);
    await client.callTool({ name: 'noop' });
    assert.equal(cp.enforceRequests.length, 1, 'an allowed call was checked by the server too');
    cp.setEnforceResponse(200, {
      allowed: false,
      violations: [{ policyId: 'pol_new', policyName: 'Newer', policyType: 'tool_invocation', message: 'not now', enforcementMode: 'explode' }],
    });
    const err = await client.callTool({ name: 'noop' }).catch((e) => e);
    assert.ok(err instanceof PolicyBlockedError, String(err));
    assert.equal(err.violations[0].policyId, 'pol_new');
    assert.equal(pair.ran.noop, 1);
    assert.ok(exe.stats().policyWarnings >= 1);
  });

  test('policies scoped by internal agent id apply', async () => {
    const scoped = { ...guard, id: 'pol_int', appliesToAgents: ['agt_ops'], ruleDefinition: { deny: ['echo'] } };
    const { client } = await setup({ policies: [scoped] });
    await assert.rejects(client.callTool({ name: 'echo', arguments: { text: 'x' } }), PolicyBlockedError);
  });
});

describe('outages', () => {
  test('after a good sync, an outage changes no decision', async () => {
    const { client, cp, pair } = await setup();
    await client.callTool({ name: 'noop' });
    await cp.stop();
    await sleep(300);
    await assert.rejects(client.callTool({ name: 'delete_all' }), PolicyBlockedError);
    await assert.rejects(client.callTool({ name: 'not_on_allowlist' }), PolicyBlockedError);
    await client.callTool({ name: 'noop' });
    assert.equal(pair.ran.noop, 2);
    assert.equal(pair.ran.delete_all, undefined);
  });

  test('a restart during an outage still enforces, from the policy cache', async () => {
    const policyCachePath = join(tempDir(), 'policies.json');
    const { client, cp } = await setup({ options: { policyCachePath } });
    await client.callTool({ name: 'noop' });
    assert.ok(existsSync(policyCachePath));
    await cp.stop();
    const { exe: exe2, pair: pair2 } = await governed(cp, { policyCachePath, enforcementOnOutage: 'fail_open' }, { closeControlPlane: false });
    await assert.rejects(pair2.client.callTool({ name: 'delete_all' }), PolicyBlockedError);
    await pair2.client.callTool({ name: 'noop' });
    assert.equal(exe2.stats().bypassed, 0);
  });

  test('no policy set and no control plane: fail_open allows and reports the bypass', async () => {
    const cp = await startControlPlane({ policies: [guard] });
    await cp.stop();
    const events = [];
    const { exe, pair } = await governed(cp, { onEnforcementBypassed: (e) => events.push(e) });
    await pair.client.callTool({ name: 'delete_all' });
    assert.equal(pair.ran.delete_all, 1);
    assert.equal(events.length, 1);
    assert.match(events[0].reason, /no policy set/);
    assert.equal(events[0].tool, 'delete_all');
    assert.equal(exe.stats().bypassed, 1);
  });

  test('no policy set and no control plane: fail_closed refuses', async () => {
    const cp = await startControlPlane({ policies: [guard] });
    await cp.stop();
    const { pair } = await governed(cp, { enforcementOnOutage: 'fail_closed' });
    await assert.rejects(pair.client.callTool({ name: 'noop' }), (e) => e instanceof EnforcementUnavailableError && e.consecutiveFailures >= 1);
    assert.deepEqual(pair.ran, {});
  });

  test('garbage and huge answers give warnings, never an allow-all', async () => {
    for (const kind of ['malformed-json', 'wrong-shape', 'huge', 'html']) {
      const cp = await startControlPlane({ policies: [guard] });
      cp.garbage(kind, { match: /^\/api\/v1\/(policies|agents)/, method: 'GET' });
      const exe = new Execlave({ apiKey: cp.apiKey, baseUrl: cp.url, ...fast, enforcementOnOutage: 'fail_closed' });
      await assert.rejects(exe.enforcePolicy({ agentId: 'ops-agent', tools: ['delete_all'] }), EnforcementUnavailableError, kind);
      assert.ok(exe.stats().policySyncFailures >= 1, kind);
      await exe.shutdown();
      await cp.close();
    }
    // With a good set first, garbage later keeps it.
    const { exe, cp } = await setup();
    await assert.rejects(exe.enforcePolicy({ agentId: 'ops-agent', tools: ['delete_all'] }), PolicyBlockedError);
    cp.garbage('wrong-shape', { match: /^\/api\/v1\/policies$/, body: { data: [{ junk: 1 }] } });
    await sleep(400);
    await assert.rejects(exe.enforcePolicy({ agentId: 'ops-agent', tools: ['delete_all'] }), PolicyBlockedError);
  });

  test('the breaker opens after 3 failed decisions and half-opens after the cool-down', async () => {
    // The breaker guards the calls (server-side decisions, trace delivery);
    // policy refresh and status polls keep their own schedule (issue 10, item 10).
    const contentPolicy = { id: 'pol_pii', name: 'PII filter', policyType: 'content_filter', enforcementMode: 'block', appliesToAgents: ['ops-agent'], ruleDefinition: {} };
    const cp = await startControlPlane({ policies: [guard, contentPolicy] });
    const exe = new Execlave({ apiKey: cp.apiKey, baseUrl: cp.url, ...fast, policyRefreshMs: 50, pollIntervalMs: 50, circuitBreakerCooldownMs: 3000, enforcementOnOutage: 'fail_closed' });
    cleanups.push(async () => {
      await exe.shutdown();
      await cp.close();
    });
    await exe.enforcePolicy({ agentId: 'ops-agent', tools: ['noop'] });
    cp.setEnforceResponse(503, { error: { code: 'down', message: 'down' } });
    for (let i = 0; i < 3; i++) {
      await assert.rejects(exe.enforcePolicy({ agentId: 'ops-agent', tools: ['noop'] }), EnforcementUnavailableError);
    }
    const enforceCalls = () => cp.requestsTo('/api/v1/policies/enforce').length;
    assert.equal(enforceCalls(), 4);
    const polls = cp.requestsTo('/api/v1/agents/agt_ops/status-poll').length;
    for (let i = 0; i < 5; i++) {
      await assert.rejects(exe.enforcePolicy({ agentId: 'ops-agent', tools: ['noop'] }), (e) => e instanceof EnforcementUnavailableError && e.consecutiveFailures >= 3);
    }
    assert.equal(enforceCalls(), 4, 'no decision is asked for while the breaker is open');
    await sleep(300);
    assert.ok(cp.requestsTo('/api/v1/agents/agt_ops/status-poll').length > polls, 'the kill switch keeps polling');
    cp.setEnforceResponse(null);
    await sleep(3100);
    await exe.enforcePolicy({ agentId: 'ops-agent', tools: ['noop'] });
    assert.equal(enforceCalls(), 5, 'the half-open trial');
    await assert.rejects(exe.enforcePolicy({ agentId: 'ops-agent', tools: ['delete_all'] }), PolicyBlockedError);
  });

  test('a rejected key refuses every call with ExeclaveAuthError and never shows the key', async () => {
    const cp = await startControlPlane({ policies: [guard] });
    const key = 'exe_dev_wrong_key_0123456789';
    const exe = new Execlave({ apiKey: key, baseUrl: cp.url, ...fast });
    cleanups.push(async () => {
      await exe.shutdown();
      await cp.close();
    });
    const err = await exe.enforcePolicy({ agentId: 'ops-agent', tools: ['noop'] }).catch((e) => e);
    assert.ok(err instanceof ExeclaveAuthError, String(err));
    assert.ok(!err.message.includes(key));
  });

  test('plain http is refused for a non-loopback base URL', () => {
    assert.throws(() => new Execlave({ apiKey: 'exe_dev_x1y2z3', baseUrl: 'http://api.example.com' }), (e) => e instanceof ExeclaveError && /https/i.test(e.message) && !e.message.includes('exe_dev_x1y2z3'));
  });

  test('a non-ASCII base URL host is refused, naming its punycode form (issue 11: no Unicode IDNA tables)', () => {
    assert.throws(() => new Execlave({ apiKey: 'exe_dev_x1y2z3', baseUrl: 'https://bücher.example' }), (e) => e instanceof ExeclaveError && /xn--/.test(e.message) && !e.message.includes('exe_dev_x1y2z3'));
    // The same host written in punycode is accepted.
    const exe = new Execlave({ apiKey: 'exe_dev_x1y2z3', baseUrl: 'https://xn--bcher-kva.example' });
    return exe.shutdown();
  });

  test('signed requests are accepted by a control plane that requires them', async () => {
    const { client, cp } = await setup({ options: { signRequests: true }, cpOptions: { requireSignature: true } });
    await assert.rejects(client.callTool({ name: 'delete_all' }), PolicyBlockedError);
    assert.ok(cp.requests.length > 0 && cp.requests.every((r) => r.signedOk));
  });
});

describe('server-side decisions', () => {
  const contentPolicy = { id: 'pol_pii', name: 'PII filter', policyType: 'content_filter', enforcementMode: 'block', appliesToAgents: ['ops-agent'], ruleDefinition: {} };

  test('only agents with server-only policies pay the round trip', async () => {
    const { client, cp } = await setup({ policies: [guard] });
    await client.callTool({ name: 'noop' });
    assert.equal(cp.enforceRequests.length, 0);
    cp.setPolicies([guard, contentPolicy]);
    await sleep(400);
    await client.callTool({ name: 'echo', arguments: { text: 'hello' } });
    assert.equal(cp.enforceRequests.length, 1);
    const body = cp.enforceRequests[0];
    assert.equal(body.agentId, 'ops-agent');
    assert.deepEqual(body.tools, ['echo']);
    assert.deepEqual(body.metadata.toolArguments, { text: 'hello' });
    assert.equal(body.environment, 'production');
    assert.equal(typeof body.input, 'string');
    // A call the local engine blocks never reaches the server either.
    await assert.rejects(client.callTool({ name: 'delete_all' }), PolicyBlockedError);
    assert.equal(cp.enforceRequests.length, 1);
  });

  test('403, 202, 402 and 5xx answers', async () => {
    const { client, cp, pair, exe } = await setup({ policies: [guard, contentPolicy], options: { enforcementOnOutage: 'fail_closed' } });
    const v = { policyId: 'pol_pii', policyName: 'PII filter', policyType: 'content_filter', message: 'contains PII', enforcementMode: 'block', extraField: 7 };
    cp.setEnforceResponse(403, { allowed: false, violations: [v] });
    const err = await client.callTool({ name: 'echo', arguments: { text: 'ssn' } }).catch((e) => e);
    assert.ok(err instanceof PolicyBlockedError);
    assert.equal(err.violations[0].message, 'contains PII');
    assert.equal(err.violations[0].extraField, 7);
    // An approval nobody can find (the poll answers 404) is refused.
    cp.setEnforceResponse(202, { approvalRequestId: 'apr_1' });
    const err2 = await client.callTool({ name: 'echo', arguments: { text: 'x' } }).catch((e) => e);
    assert.ok(err2 instanceof ApprovalVerificationError, String(err2));
    assert.equal(err2.approvalRequestId, 'apr_1');
    cp.setEnforceResponse(402, { error: { resource: 'enforcements', current: 10, max: 10, message: 'limit' } });
    await assert.rejects(client.callTool({ name: 'echo', arguments: { text: 'x' } }), EnforcementUnavailableError);
    cp.setEnforceResponse(503, { error: { code: 'down', message: 'down' } });
    await assert.rejects(client.callTool({ name: 'echo', arguments: { text: 'x' } }), EnforcementUnavailableError);
    cp.setEnforceResponse(200, { allowed: true, warnings: [{ ...v, enforcementMode: 'warn' }] });
    const ok = await client.callTool({ name: 'echo', arguments: { text: 'fine' } });
    assert.equal(ok.content[0].text, 'fine');
    assert.equal(pair.ran.echo, 1);
    assert.ok(exe.stats().remoteDecisions >= 5);
  });

  test("enforcement: 'remote' asks the server on every call", async () => {
    const { client, cp } = await setup({ options: { enforcement: 'remote' } });
    for (let i = 0; i < 3; i++) await client.callTool({ name: 'noop' });
    assert.equal(cp.enforceRequests.length, 3);
  });
});

describe('kill switch', () => {
  test('pause stops calls within one poll; resume lets them through', async () => {
    const { client, cp, pair } = await setup();
    await client.callTool({ name: 'noop' });
    cp.pauseAgent('ops-agent', 'incident 42');
    await sleep(350);
    const err = await client.callTool({ name: 'noop' }).catch((e) => e);
    assert.ok(err instanceof AgentPausedError, String(err));
    assert.equal(err.agentId, 'ops-agent');
    assert.equal(err.reason, 'incident 42');
    cp.resumeAgent('ops-agent');
    await sleep(350);
    await client.callTool({ name: 'noop' });
    assert.equal(pair.ran.noop, 2);
  });
});

describe('records to the control plane', () => {
  test('every record arrives exactly once across 503 bursts', async () => {
    const { client, cp, exe } = await setup();
    cp.failNext(2, { match: '/api/v1/traces/ingest' });
    for (let i = 0; i < 20; i++) await client.callTool({ name: 'echo', arguments: { text: `n${i}` } });
    await assert.rejects(client.callTool({ name: 'delete_all' }), PolicyBlockedError);
    await exe.flush();
    const ids = cp.traces.map((t) => t.traceId);
    assert.equal(ids.length, 21);
    assert.equal(new Set(ids).size, 21);
    assert.equal(cp.traces.filter((t) => t.status === 'policy_blocked').length, 1);
    assert.ok(cp.traces.every((t) => t.agentId === 'ops-agent' && t.spanType === 'tool'));
  });

  test('shutdown delivers what was buffered', async () => {
    const cp = await startControlPlane({ policies: [guard] });
    const exe = new Execlave({ apiKey: cp.apiKey, baseUrl: cp.url, ...fast, flushIntervalMs: 60_000 });
    const pair = await inMemoryPair();
    instrumentMcpClient(pair.client, exe, { agentId: 'ops-agent' });
    for (let i = 0; i < 7; i++) await pair.client.callTool({ name: 'noop' });
    await pair.close();
    await exe.shutdown();
    assert.equal(cp.traces.length, 7);
    await cp.close();
  });

  test('a hung control plane does not hang shutdown past its timeout', async () => {
    const cp = await startControlPlane({ policies: [guard] });
    const exe = new Execlave({ apiKey: cp.apiKey, baseUrl: cp.url, ...fast, flushIntervalMs: 60_000, shutdownTimeoutMs: 500, requestTimeoutMs: 10_000 });
    await exe.enforcePolicy({ agentId: 'ops-agent', tools: ['noop'] });
    await assert.rejects(exe.enforcePolicy({ agentId: 'ops-agent', tools: ['delete_all'] }), PolicyBlockedError);
    cp.hang({ match: '/api/v1/traces/ingest' });
    const t0 = Date.now();
    await exe.shutdown();
    const took = Date.now() - t0;
    assert.ok(took < 3000, `shutdown took ${took} ms`);
    await cp.close();
  });

  test('a full buffer drops the oldest and counts it; 402 pauses sending', async () => {
    const cp = await startControlPlane({ policies: [guard] });
    cp.setStatus('/api/v1/traces/ingest', 402, { error: { resource: 'traces', current: 1, max: 1, message: 'Trace quota reached' } });
    const { exe, pair } = await governed(cp, { bufferSize: 5, batchSize: 2, flushIntervalMs: 50 });
    for (let i = 0; i < 12; i++) await pair.client.callTool({ name: 'noop' });
    await exe.flush();
    await sleep(300);
    const ingests = cp.requestsTo('/api/v1/traces/ingest').length;
    assert.equal(ingests, 1, 'one 402, then sending pauses');
    assert.ok(exe.stats().recordsDropped >= 7, JSON.stringify(exe.stats()));
    assert.equal(cp.traces.length, 0);
  });
});
