// Issue 10, item 15: registrations are bounded. Each distinct (agentId,
// sessionId, userId, enforce) a wrapped client is made for is registered
// with the core; a client that closes releases its registration, so a
// server that wraps one client per session does not grow without end.
// Complexity is checked by count (stats().registrations), never by time.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Execlave, ExeclaveError, PolicyBlockedError } from '@execlave/sdk';
import { instrumentMcpClient } from '@execlave/sdk/integrations/mcp';
import { inMemoryPair } from './helpers/servers.mjs';
import { guard } from './helpers/policies.mjs';

test('closing a wrapped client releases its registration', async () => {
  const exe = new Execlave({ policies: [guard] });
  try {
    assert.equal(exe.stats().registrations, 0);
    for (let i = 0; i < 300; i++) {
      const pair = await inMemoryPair();
      instrumentMcpClient(pair.client, exe, { agentId: 'ops-agent', sessionId: `session-${i}`, userId: `user-${i % 7}` });
      await pair.client.callTool({ name: 'noop' });
      await assert.rejects(pair.client.callTool({ name: 'delete_all' }), PolicyBlockedError);
      assert.equal(exe.stats().registrations, 1, `session ${i} while open`);
      await pair.close();
      assert.equal(exe.stats().registrations, 0, `session ${i} after close`);
    }
    assert.equal(exe.stats().decisions, 600);
  } finally {
    await exe.shutdown();
  }
});

test('clients sharing one registration keep it until the last one closes', async () => {
  const exe = new Execlave({ policies: [guard] });
  try {
    const a = await inMemoryPair();
    const b = await inMemoryPair();
    instrumentMcpClient(a.client, exe, { agentId: 'ops-agent', sessionId: 's' });
    instrumentMcpClient(b.client, exe, { agentId: 'ops-agent', sessionId: 's' });
    assert.equal(exe.stats().registrations, 1);
    await a.close();
    assert.equal(exe.stats().registrations, 1);
    await b.client.callTool({ name: 'noop' });
    assert.equal(b.ran.noop, 1);
    await b.close();
    assert.equal(exe.stats().registrations, 0);
  } finally {
    await exe.shutdown();
  }
});

test('a closed client cannot decide on behalf of a later registration', async () => {
  const exe = new Execlave({ policies: [guard] });
  try {
    const old = await inMemoryPair();
    instrumentMcpClient(old.client, exe, { agentId: 'ops-agent', sessionId: 'old', enforce: true });
    await old.close();
    // A new registration may reuse the freed slot; it is in monitor mode.
    const monitor = await inMemoryPair();
    instrumentMcpClient(monitor.client, exe, { agentId: 'ops-agent', sessionId: 'new', enforce: false });
    await monitor.client.callTool({ name: 'delete_all' }); // a warning only
    // The old client's wrapper must not borrow the new registration: used
    // again, it registers anew as what it is (enforce: true) and is blocked.
    const err = await old.client.callTool({ name: 'delete_all' }).catch((e) => e);
    assert.ok(err instanceof PolicyBlockedError, String(err));
    assert.equal(old.ran.delete_all, undefined);
    await monitor.close();
  } finally {
    await exe.shutdown();
  }
});

test('enforcePolicy registrations stay bounded by a documented cap', async () => {
  const exe = new Execlave({ policies: [guard] });
  try {
    for (let i = 0; i < 5000; i++) {
      await exe.enforcePolicy({ agentId: `agent-${i}`, tools: ['noop'] });
    }
    assert.ok(exe.stats().registrations <= 1024, `registrations: ${exe.stats().registrations}`);
    // Evicted or not, every agent is still governed correctly.
    await assert.rejects(exe.enforcePolicy({ agentId: 'ops-agent', tools: ['delete_all'] }), PolicyBlockedError);
    await exe.enforcePolicy({ agentId: 'agent-0', tools: ['delete_all'] });
  } finally {
    await exe.shutdown();
  }
});

test('idle enforcePolicy registrations never push out open clients', async () => {
  const exe = new Execlave({ policies: [guard] });
  const pairs = [];
  try {
    for (let i = 0; i < 50; i++) {
      const pair = await inMemoryPair();
      instrumentMcpClient(pair.client, exe, { agentId: 'ops-agent', sessionId: `open-${i}` });
      pairs.push(pair);
    }
    for (let i = 0; i < 1100; i++) await exe.enforcePolicy({ agentId: `agent-${i}`, tools: ['noop'] });
    assert.equal(exe.stats().registrations, 50 + 1024, 'every open client, and exactly the idle cap');
    for (const pair of pairs) {
      await assert.rejects(pair.client.callTool({ name: 'delete_all' }), PolicyBlockedError);
    }
    for (const pair of pairs) await pair.close();
    assert.equal(exe.stats().registrations, 1024);
  } finally {
    await exe.shutdown();
  }
});
