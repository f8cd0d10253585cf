// `onBlock: 'result'`: a policy block resolves to an `isError` tool result
// that says why, with the violations in `structuredContent`, for agent
// loops that feed tool errors back to the model. Real MCP client and an
// in-process server that counts what really ran; the test control plane
// for server-side blocks and the kill switch.

import { test, describe, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { CallToolResultSchema } from '@modelcontextprotocol/sdk/types.js';
import { Execlave, AgentPausedError, PolicyBlockedError } from '@execlave/sdk';
import { instrumentMcpClient } from '@execlave/sdk/integrations/mcp';
import { startControlPlane } from '../test-control-plane/index.mjs';
import { inMemoryPair } from './helpers/servers.mjs';
import { guard, testPolicies } from './helpers/policies.mjs';

const cleanups = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()();
});

async function local(onBlock) {
  const exe = new Execlave({ policies: testPolicies });
  const pair = await inMemoryPair();
  instrumentMcpClient(pair.client, exe, { agentId: 'ops-agent', ...(onBlock && { onBlock }) });
  cleanups.push(async () => {
    await pair.close();
    await exe.shutdown();
  });
  return { exe, pair, client: pair.client };
}

function assertBlockedResult(r, rule) {
  assert.equal(r.isError, true);
  assert.equal(r.content[0].type, 'text');
  assert.match(r.content[0].text, /not made: blocked by policy/);
  const { execlave } = r.structuredContent;
  assert.equal(execlave.decision, 'blocked');
  assert.ok(execlave.violations.some((v) => v.rule === rule), JSON.stringify(execlave.violations));
}

describe("onBlock: 'result'", () => {
  test('a denied tool and a bad argument resolve to isError results; the server is never contacted', async () => {
    const { client, pair, exe } = await local('result');
    assertBlockedResult(await client.callTool({ name: 'delete_all' }), 'deny');
    assertBlockedResult(await client.callTool('refund', { order: { amount: 5000 } }), 'argument');
    assertBlockedResult(
      await client.request({ method: 'tools/call', params: { name: 'delete_all', arguments: {} } }, CallToolResultSchema),
      'deny',
    );
    assert.equal(pair.ran.delete_all, undefined);
    assert.equal(pair.ran.refund, undefined);
    assert.equal(exe.stats().blocked, 3);
    // Allowed calls and the server's own errors are untouched.
    assert.equal((await client.callTool({ name: 'echo', arguments: { text: 'hi' } })).content[0].text, 'hi');
    const soft = await client.callTool({ name: 'soft_fail' });
    assert.equal(soft.isError, true);
    assert.equal(soft.content[0].text, 'nope');
    assert.equal(soft.structuredContent, undefined);
  });

  test('a streamed call ends with the result', async () => {
    const { client, pair } = await local('result');
    const messages = [];
    for await (const m of client.experimental.tasks.callToolStream({ name: 'delete_all', arguments: {} })) messages.push(m);
    assert.equal(messages.length, 1);
    assert.equal(messages[0].type, 'result');
    assertBlockedResult(messages[0].result, 'deny');
    assert.equal(pair.ran.delete_all, undefined);
  });

  test("the default, 'throw', rejects with PolicyBlockedError", async () => {
    const { client } = await local(undefined);
    await assert.rejects(client.callTool({ name: 'delete_all' }), PolicyBlockedError);
  });

  test('anything but throw or result is refused', async () => {
    const exe = new Execlave({ policies: [] });
    cleanups.push(() => exe.shutdown());
    assert.throws(() => instrumentMcpClient({ callTool: async () => ({}) }, exe, { agentId: 'a', onBlock: 'ignore' }), /onBlock must be 'throw' or 'result'/);
  });
});

describe("onBlock: 'result' with a control plane", () => {
  const fast = { policyRefreshMs: 150, pollIntervalMs: 100, flushIntervalMs: 100, firstSyncTimeoutMs: 1500, requestTimeoutMs: 500 };

  async function governed(policies) {
    const cp = await startControlPlane({ policies });
    const exe = new Execlave({ apiKey: cp.apiKey, baseUrl: cp.url, ...fast });
    const pair = await inMemoryPair();
    instrumentMcpClient(pair.client, exe, { agentId: 'ops-agent', onBlock: 'result' });
    cleanups.push(async () => {
      await pair.close();
      await exe.shutdown();
      await cp.close();
    });
    return { cp, pair, client: pair.client };
  }

  test("the server's block, decided after the call began, is a result too", async () => {
    const contentPolicy = { id: 'pol_pii', name: 'PII filter', policyType: 'content_filter', enforcementMode: 'block', appliesToAgents: ['ops-agent'], ruleDefinition: {} };
    const { cp, pair, client } = await governed([guard, contentPolicy]);
    cp.setEnforceResponse(200, {
      allowed: false,
      violations: [{ policyId: 'pol_pii', policyName: 'PII filter', policyType: 'content_filter', message: 'contains PII', enforcementMode: 'block', rule: 'pii' }],
      warnings: [],
    });
    const r = await client.callTool({ name: 'echo', arguments: { text: 'my card 4111' } });
    assertBlockedResult(r, 'pii');
    assert.equal(pair.ran.echo, undefined);
  });

  test('the kill switch still rejects: a paused agent is for the application, not the model', async () => {
    const { cp, pair, client } = await governed([guard]);
    await client.callTool({ name: 'noop' });
    cp.pauseAgent('ops-agent', 'incident 42');
    await new Promise((r) => setTimeout(r, 500));
    await assert.rejects(client.callTool({ name: 'noop' }), AgentPausedError);
    assert.equal(pair.ran.noop, 1);
  });
});
