// `hideBlockedTools` (default true): listings leave out the tools the
// agent's policies refuse by name, against real servers: the npm
// server-everything over stdio, an in-process server that pages its tool
// list, and the test control plane for policy changes and server-side
// policies.

import { test, describe, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { CallToolRequestSchema, ListToolsRequestSchema, ListToolsResultSchema } from '@modelcontextprotocol/sdk/types.js';
import { Execlave, PolicyBlockedError } from '@execlave/sdk';
import { instrumentMcpClient } from '@execlave/sdk/integrations/mcp';
import { startControlPlane } from '../test-control-plane/index.mjs';
import { everythingClient, inMemoryPair } from './helpers/servers.mjs';
import { guard } from './helpers/policies.mjs';

const cleanups = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()();
});

const everythingGuard = {
  name: 'Everything guard',
  policyType: 'tool_invocation',
  enforcementMode: 'block',
  ruleDefinition: {
    deny: ['get-env', 'trigger-*'],
    arguments: [{ tools: ['get-sum'], argument: 'a', kind: 'number', min: 0, max: 1000 }],
  },
};

async function everything(wrapOptions = {}, policies = [everythingGuard]) {
  const exe = new Execlave({ policies });
  const client = instrumentMcpClient(await everythingClient(), exe, { agentId: 'ops-agent', ...wrapOptions });
  cleanups.push(async () => {
    await client.close();
    await exe.shutdown();
  });
  return { exe, client };
}

const names = (result) => result.tools.map((t) => t.name);

describe('server-everything over stdio', () => {
  test('listTools and a raw tools/list leave out denied tools; argument-ruled tools stay; hidden tools are counted', async () => {
    const { exe, client } = await everything();
    const listed = names(await client.listTools());
    assert.ok(listed.includes('echo') && listed.includes('get-sum'), listed.join());
    assert.ok(!listed.includes('get-env'), 'a denied tool is hidden');
    assert.ok(!listed.some((n) => n.startsWith('trigger-')), 'tools a deny pattern matches are hidden');
    const hiddenByList = exe.stats().toolsHidden;
    assert.ok(hiddenByList >= 2, `toolsHidden = ${hiddenByList}`);

    const raw = await client.request({ method: 'tools/list', params: {} }, ListToolsResultSchema);
    assert.deepEqual(names(raw), listed, 'a raw tools/list is filtered the same way');
    assert.equal(exe.stats().toolsHidden, 2 * hiddenByList);
    assert.equal(exe.stats().decisions, 0, 'listing decides no call');

    // Hidden is not allowed-if-called: a call by name is still refused.
    await assert.rejects(client.callTool({ name: 'get-env', arguments: {} }), PolicyBlockedError);
  });

  test('hideBlockedTools: false lists every tool the server has', async () => {
    const { exe, client } = await everything({ hideBlockedTools: false });
    const listed = names(await client.listTools());
    assert.ok(listed.includes('get-env') && listed.some((n) => n.startsWith('trigger-')), listed.join());
    assert.equal(exe.stats().toolsHidden, 0);
  });

  test('a monitoring agent (enforce: false) sees every tool', async () => {
    const { client } = await everything({ enforce: false });
    assert.ok(names(await client.listTools()).includes('get-env'));
  });

  test('an allowlist hides every tool it leaves out', async () => {
    const allowlist = { ...everythingGuard, ruleDefinition: { allow: ['echo', 'get-sum'] } };
    const { client } = await everything({}, [allowlist]);
    assert.deepEqual(names(await client.listTools()).sort(), ['echo', 'get-sum']);
  });

  test('the option is checked', async () => {
    const exe = new Execlave({ policies: [] });
    cleanups.push(() => exe.shutdown());
    const client = { callTool: async () => ({}) };
    assert.throws(() => instrumentMcpClient(client, exe, { agentId: 'a', hideBlockedTools: 'yes' }), /hideBlockedTools must be a boolean/);
  });
});

/** An in-process low-level server whose tool list comes in pages of two. */
async function pagingPair() {
  const all = ['echo', 'delete_all', 'delete_logs', 'noop', 'write_note'].map((name) => ({
    name,
    inputSchema: { type: 'object' },
  }));
  const server = new Server({ name: 'paging', version: '1.0.0' }, { capabilities: { tools: {} } });
  server.setRequestHandler(ListToolsRequestSchema, (req) => {
    const start = Number(req.params?.cursor ?? 0);
    const end = start + 2;
    return { tools: all.slice(start, end), ...(end < all.length && { nextCursor: String(end) }) };
  });
  server.setRequestHandler(CallToolRequestSchema, () => ({ content: [{ type: 'text', text: 'ran' }] }));
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  await server.connect(serverSide);
  const client = new Client({ name: 'execlave-test', version: '1.0.0' });
  await client.connect(clientSide);
  return client;
}

describe('paging', () => {
  test('every page is filtered and keeps its nextCursor, so paging goes on', async () => {
    const exe = new Execlave({
      policies: [{ name: 'No deletes', policyType: 'tool_invocation', enforcementMode: 'block', ruleDefinition: { deny: ['delete_*'] } }],
    });
    const client = instrumentMcpClient(await pagingPair(), exe, { agentId: 'ops-agent' });
    cleanups.push(async () => {
      await client.close();
      await exe.shutdown();
    });
    const pages = [];
    let cursor;
    do {
      const page = await client.listTools(cursor === undefined ? undefined : { cursor });
      pages.push(names(page));
      cursor = page.nextCursor;
    } while (cursor !== undefined);
    assert.deepEqual(pages, [['echo'], ['noop'], ['write_note']]);
    const raw = await client.request({ method: 'tools/list', params: { cursor: '2' } }, ListToolsResultSchema);
    assert.deepEqual(names(raw), ['noop']);
    assert.equal(raw.nextCursor, '4');
    assert.equal(exe.stats().toolsHidden, 3);
  });
});

describe('control plane', () => {
  const fast = { policyRefreshMs: 150, pollIntervalMs: 100, flushIntervalMs: 100, firstSyncTimeoutMs: 1500, requestTimeoutMs: 500 };

  async function governed(policies) {
    const cp = await startControlPlane({ policies });
    const exe = new Execlave({ apiKey: cp.apiKey, baseUrl: cp.url, ...fast });
    const pair = await inMemoryPair();
    instrumentMcpClient(pair.client, exe, { agentId: 'ops-agent' });
    cleanups.push(async () => {
      await pair.close();
      await exe.shutdown();
      await cp.close();
    });
    return { cp, exe, client: pair.client };
  }

  test('a policy change applies from the next listing', async () => {
    const { cp, client } = await governed([guard]);
    // The first call waits for the first sync; listing does not wait.
    await client.callTool({ name: 'noop' });
    assert.ok(!names(await client.listTools()).includes('delete_all'));
    assert.ok(names(await client.listTools()).includes('noop'));
    cp.setPolicies([{ ...guard, ruleDefinition: { ...guard.ruleDefinition, deny: ['delete_all', 'noop'] } }]);
    await new Promise((r) => setTimeout(r, 500));
    const after = names(await client.listTools());
    assert.ok(!after.includes('noop'), after.join());
    assert.ok(after.includes('echo'));
  });

  test('a tool that only a server-side policy could refuse stays listed', async () => {
    const contentPolicy = { id: 'pol_pii', name: 'PII filter', policyType: 'content_filter', enforcementMode: 'block', appliesToAgents: ['ops-agent'], ruleDefinition: {} };
    const { client, exe } = await governed([guard, contentPolicy]);
    await client.callTool({ name: 'noop' }).catch(() => {});
    const listed = names(await client.listTools());
    assert.ok(listed.includes('echo') && listed.includes('noop'), listed.join());
    assert.ok(!listed.includes('delete_all'));
    assert.equal(exe.stats().toolsHidden, 1);
  });
});
