// Issue 22, bypass windows: calls that go ahead under fail_open without a
// decision are reported to the control plane's audit log
// (POST /api/v1/sdk/bypass-windows), grouped per (agent, reason). Real MCP
// Client, an in-process MCP server, the test control plane on loopback.

import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { Execlave } from '@execlave/sdk';
import { instrumentMcpClient } from '@execlave/sdk/integrations/mcp';
import { startControlPlane } from '../test-control-plane/index.mjs';
import { inMemoryPair } from './helpers/servers.mjs';

const fast = { policyRefreshMs: 100, pollIntervalMs: 100, flushIntervalMs: 100, firstSyncTimeoutMs: 1500, requestTimeoutMs: 500 };
// A policy only the server evaluates: calls of its agent ask POST /policies/enforce.
const contentPolicy = { id: 'pol_pii', name: 'PII filter', policyType: 'content_filter', enforcementMode: 'block', appliesToAgents: ['ops-agent'], ruleDefinition: {} };

const cleanups = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()();
});

async function governed(options) {
  const cp = await startControlPlane({ policies: [contentPolicy] });
  const bypasses = [];
  const exe = new Execlave({ apiKey: cp.apiKey, baseUrl: cp.url, ...fast, onEnforcementBypassed: (e) => bypasses.push(e), ...options });
  const pair = await inMemoryPair();
  instrumentMcpClient(pair.client, exe, { agentId: 'ops-agent' });
  cleanups.push(async () => {
    await pair.close();
    await exe.shutdown();
    await cp.close();
  });
  return { cp, exe, pair, bypasses };
}

test('an outage during fail_open is reported as one window with the right count', async () => {
  const { cp, exe, pair, bypasses } = await governed({});
  await pair.client.callTool({ name: 'echo', arguments: { text: 'warm' } }); // first sync done, server answers
  // Two calls fail (below the breaker's three): one window, reason server_error.
  cp.setStatus('/api/v1/policies/enforce', 503, undefined, { count: 2 });
  for (let i = 0; i < 2; i++) {
    const r = await pair.client.callTool({ name: 'echo', arguments: { text: `x${i}` } });
    assert.equal(r.isError, undefined);
  }
  assert.equal(bypasses.length, 2, 'the local callback stays');
  // The server answers again: the window closes, and is sent within 10 s.
  await pair.client.callTool({ name: 'echo', arguments: { text: 'back' } });
  await cp.waitFor(() => cp.bypassWindows.length > 0, { timeoutMs: 15_000 });
  const windows = cp.bypassWindows;
  assert.equal(windows.length, 1, JSON.stringify(windows));
  assert.equal(windows[0].agentId, 'ops-agent');
  assert.equal(windows[0].reason, 'server_error');
  assert.equal(windows[0].count, 2);
  assert.equal(cp.bypassReports[0].sdk.version.length > 0, true);
  // Counted once the SDK has read the answer (just after the server kept it).
  await cp.waitFor(() => exe.stats().bypassWindowsSent === 1);
  assert.equal(exe.stats().bypassed, 2);
});

test('open windows go at shutdown; reportBypasses: false sends none', async () => {
  for (const reportBypasses of [true, false]) {
    const { cp, exe, pair } = await governed({ reportBypasses });
    await pair.client.callTool({ name: 'echo', arguments: { text: 'warm' } });
    cp.setStatus('/api/v1/policies/enforce', 503);
    await pair.client.callTool({ name: 'echo', arguments: { text: 'x' } });
    await exe.shutdown();
    assert.equal(cp.bypassWindows.length, reportBypasses ? 1 : 0, `reportBypasses ${reportBypasses}`);
    if (reportBypasses) assert.equal(cp.bypassWindows[0].count, 1);
    await cp.close();
  }
});
