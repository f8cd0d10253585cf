// Governed calls to the real @modelcontextprotocol/server-everything over stdio.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { CallToolResultSchema } from '@modelcontextprotocol/sdk/types.js';
import { Execlave, PolicyBlockedError } from '@execlave/sdk';
import { instrumentMcpClient } from '@execlave/sdk/integrations/mcp';
import { everythingClient } from './helpers/servers.mjs';

let client;
let exe;

before(async () => {
  exe = new Execlave({
    policies: [
      {
        name: 'Everything guard',
        policyType: 'tool_invocation',
        enforcementMode: 'block',
        ruleDefinition: {
          deny: ['get-env', 'trigger-*'],
          arguments: [{ tools: ['get-sum'], argument: 'a', kind: 'number', min: 0, max: 1000 }],
        },
      },
      {
        name: 'Echo audit',
        policyType: 'tool_invocation',
        enforcementMode: 'log_only',
        ruleDefinition: { deny: ['echo'] },
      },
    ],
  });
  client = instrumentMcpClient(await everythingClient(), exe, { agentId: 'ops-agent' });
});

after(async () => {
  await client.close();
  await exe.shutdown();
});

test('allowed calls return the server result, in both call shapes and via request', async () => {
  const a = await client.callTool({ name: 'echo', arguments: { message: 'hi' } });
  assert.match(a.content[0].text, /hi/);
  const b = await client.callTool('get-sum', { a: 2, b: 3 });
  assert.match(b.content[0].text, /5/);
  const c = await client.request(
    { method: 'tools/call', params: { name: 'get-sum', arguments: { a: 1, b: 1 } } },
    CallToolResultSchema,
  );
  assert.match(c.content[0].text, /2/);
});

test('denied tools and bad arguments are blocked', async () => {
  await assert.rejects(client.callTool({ name: 'get-env', arguments: {} }), PolicyBlockedError);
  await assert.rejects(client.callTool({ name: 'trigger-long-running-operation', arguments: {} }), PolicyBlockedError);
  await assert.rejects(client.callTool({ name: 'get-sum', arguments: { a: 5000, b: 1 } }), PolicyBlockedError);
  await assert.rejects(
    client.request({ method: 'tools/call', params: { name: 'get-env', arguments: {} } }, CallToolResultSchema),
    PolicyBlockedError,
  );
});

test('log_only policies warn and never block', async () => {
  const r = await exe.enforcePolicy({ agentId: 'ops-agent', tools: ['echo'] });
  assert.equal(r.warnings[0].policyName, 'Echo audit');
  assert.equal(exe.stats().blocked >= 4, true);
});
