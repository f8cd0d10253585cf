// A closed client's waiting call is refused (issue 18 item 17). A call
// that waits for the first policy sync while its client closes must never
// be decided, least of all under the registration of another agent that
// reused the native slot meanwhile.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { Execlave } from '@execlave/sdk';
import { instrumentMcpClient } from '@execlave/sdk/integrations/mcp';
import { startControlPlane } from '../test-control-plane/index.mjs';
import { inMemoryPair } from './helpers/servers.mjs';

const require = createRequire(import.meta.url);
const native = require('../lib/native');

const policies = [{ id: 'p', name: 'G', policyType: 'tool_invocation', enforcementMode: 'block', ruleDefinition: { deny: ['delete_*'] } }];

test('a call waiting on the first sync across a close is refused as closed, after another agent registered', async () => {
  const cp = await startControlPlane({ policies });
  // No policy answer until the test says so: the first call waits.
  cp.hang({ match: /^\/api\/v1\/(policies|agents)/, method: 'GET' });
  const exe = new Execlave({ apiKey: cp.apiKey, baseUrl: cp.url, firstSyncTimeoutMs: 10_000 });
  try {
    const a = await inMemoryPair();
    instrumentMcpClient(a.client, exe, { agentId: 'agent-a' });
    const waiting = a.client.callTool({ name: 'noop' });
    waiting.catch(() => {});
    await new Promise((resolve) => setTimeout(resolve, 50));
    await a.client.close();
    // Another agent takes the released slot.
    const b = await inMemoryPair();
    instrumentMcpClient(b.client, exe, { agentId: 'agent-b' });
    cp.hang({ on: false });
    await assert.rejects(waiting, (err) => {
      assert.match(err.message, /closed while the call was being decided/);
      return true;
    });
    assert.equal(a.ran.noop, undefined, 'never sent');
    // The new agent's own calls are decided as usual.
    await b.client.callTool({ name: 'noop' });
    assert.equal(b.ran.noop, 1);
    await b.close();
  } finally {
    await exe.shutdown();
    await cp.close();
  }
});

test('a released native slot handle never names the registration that reuses the slot', () => {
  const gov = new native.NativeGovernor(JSON.stringify({ policies }));
  const first = gov.registerAgent('agent-a', null, null, true);
  gov.releaseAgent(first);
  const second = gov.registerAgent('agent-b', null, null, true);
  assert.notEqual(second, first, 'a new generation');
  const id = native.toolId('noop');
  assert.ok(!(native.decideByTool(first, id) >= 0), 'the old handle decides nothing by name');
  assert.throws(() => native.decide(first, id, null, null, false, false, null), /unknown agent handle/);
  assert.throws(() => gov.waitForSync(first), /unknown agent handle/);
  assert.ok(native.decideByTool(second, id) >= 0, 'the new handle works');
  // Many cycles: no old handle comes back.
  const seen = new Set([first, second]);
  let last = second;
  for (let i = 0; i < 5000; i++) {
    gov.releaseAgent(last);
    last = gov.registerAgent('agent-c', null, null, true);
    assert.ok(!seen.has(last), `handle ${last} given twice`);
    seen.add(last);
  }
});
