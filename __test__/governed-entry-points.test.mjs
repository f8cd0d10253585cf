// Which ways of calling a tool through a wrapped MCP Client are governed,
// pinned against the real Client and an in-process server that counts what
// really ran. Each governed entry point: a blocked call never reaches the
// server, an allowed one does, each call is checked (and recorded) once,
// and what is sent is the arguments' snapshot that was checked. The ways
// around the wrapper that docs/node-api.md's "What in-process governance cannot
// stop" names are pinned too, so that the page stays true.

import { test, describe, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { CallToolResultSchema } from '@modelcontextprotocol/sdk/types.js';
import { PolicyBlockedError } from '@execlave/sdk';
import { readAuditLog } from './helpers/audit-log.mjs';
import { governedPair } from './helpers/governed-pair.mjs';

let pair;
let exe;
let auditLog;
let close;

beforeEach(async () => {
  ({ pair, exe, auditLog, close } = await governedPair());
});

afterEach(() => close());

async function records() {
  await exe.flush();
  return readAuditLog(auditLog);
}

/** Drains a response stream; its last message is the result or the error. */
async function last(stream) {
  let message;
  for await (const m of stream) message = m;
  return message;
}

/** Arguments whose `text` reads 'checked' first and 'swapped' after. */
function shifty() {
  let reads = 0;
  return {
    get text() {
      reads += 1;
      return reads === 1 ? 'checked' : 'swapped';
    },
  };
}

// Each entry point as ({ name, arguments }) → its answer: the result, or
// throws what the call was refused with.
const entryPoints = {
  'callTool({ name, arguments })': (c, name, args) => c.callTool({ name, arguments: args }),
  'callTool(name, arguments)': (c, name, args) => c.callTool(name, args),
  "request({ method: 'tools/call' })": (c, name, args) =>
    c.request({ method: 'tools/call', params: { name, arguments: args } }, CallToolResultSchema),
  'Client.prototype.callTool.call(client, …)': (c, name, args) => Client.prototype.callTool.call(c, { name, arguments: args }),
  'experimental.tasks.callToolStream': async (c, name, args) => {
    const m = await last(c.experimental.tasks.callToolStream({ name, arguments: args }));
    if (m.type === 'error') throw m.error;
    return m.result;
  },
  "experimental.tasks.requestStream({ method: 'tools/call' })": async (c, name, args) => {
    const m = await last(
      c.experimental.tasks.requestStream({ method: 'tools/call', params: { name, arguments: args } }, CallToolResultSchema),
    );
    if (m.type === 'error') throw m.error;
    return m.result;
  },
};

describe('governed entry points', () => {
  for (const [entry, call] of Object.entries(entryPoints)) {
    test(`${entry}: a blocked call does not reach the server`, async () => {
      const err = await call(pair.client, 'delete_all', {}).then(
        () => assert.fail('the blocked call was allowed'),
        (e) => e,
      );
      assert.ok(err instanceof PolicyBlockedError, `expected PolicyBlockedError, got ${err && err.stack}`);
      assert.equal(pair.ran.delete_all, undefined);
      const recs = await records();
      assert.deepEqual(
        recs.map((r) => r.status),
        ['policy_blocked'],
      );
    });

    test(`${entry}: an allowed call reaches the server once, checked once, with the snapshot that was checked`, async () => {
      const r = await call(pair.client, 'echo', shifty());
      assert.equal(r.content[0].text, 'checked');
      assert.equal(pair.ran.echo, 1);
      const recs = await records();
      assert.equal(recs.length, 1, 'one check, one record');
      assert.equal(recs[0].status, 'success');
      assert.deepEqual(JSON.parse(recs[0].input), { text: 'checked' });
    });
  }
});

// Not governed, by design of in-process governance (see docs/node-api.md): the
// wrapper governs the client object it was given, not the process.
describe('ways around the wrapper (docs/node-api.md: what in-process governance cannot stop)', () => {
  test('Client.prototype.request called on the client directly is not governed', async () => {
    await Client.prototype.request.call(
      pair.client,
      { method: 'tools/call', params: { name: 'delete_all', arguments: {} } },
      CallToolResultSchema,
    );
    assert.equal(pair.ran.delete_all, 1);
  });

  test("a message written to the client's transport directly is not governed", async () => {
    const answered = new Promise((resolve) => {
      const onmessage = pair.client.transport.onmessage;
      pair.client.transport.onmessage = (message, extra) => {
        if (message.id === 'raw-1') resolve(message);
        else onmessage(message, extra);
      };
    });
    await pair.client.transport.send({
      jsonrpc: '2.0',
      id: 'raw-1',
      method: 'tools/call',
      params: { name: 'delete_all', arguments: {} },
    });
    await answered;
    assert.equal(pair.ran.delete_all, 1);
  });
});
