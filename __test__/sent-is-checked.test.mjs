// What reaches the MCP server is what the policy checked, whatever object
// the caller hands over. stdio writes each message with JSON.stringify, so
// a `toJSON` (own, or added by a Proxy's traps) on the params or on the
// request, or a `method` that is not a plain string, would otherwise send
// another call than the one checked. Each trick below aims a write at a
// directory the policy forbids, against the real filesystem server over
// stdio: the forbidden file must never appear.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CallToolResultSchema, ListToolsResultSchema } from '@modelcontextprotocol/sdk/types.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { z } from 'zod';
import { Execlave, ExeclaveError, PolicyBlockedError } from '@execlave/sdk';
import { instrumentMcpClient } from '@execlave/sdk/integrations/mcp';
import { filesystemClient, tempDir } from './helpers/servers.mjs';

let root;
let client;
let exe;
let n = 0;

const policy = (dir) => ({
  name: 'Writes stay in data/',
  policyType: 'tool_invocation',
  enforcementMode: 'block',
  ruleDefinition: {
    allow: ['write_file', 'list_allowed_directories'],
    arguments: [{ tools: ['write_file'], argument: 'path', kind: 'path', allow: [`${dir}/data/**`] }],
  },
});

before(async () => {
  root = tempDir('execlave-sent-');
  mkdirSync(join(root, 'data'));
  mkdirSync(join(root, 'private'));
  exe = new Execlave({ policies: [policy(root)] });
  client = instrumentMcpClient(await filesystemClient(root), exe, { agentId: 'ops-agent' });
});

after(async () => {
  await client.close();
  await exe.shutdown();
});

/** A fresh pair of targets: one the policy allows, one it forbids. */
function targets() {
  n += 1;
  return { allowed: join(root, 'data', `ok-${n}.txt`), forbidden: join(root, 'private', `pwned-${n}.txt`) };
}

const forbiddenWrite = (path) => ({ name: 'write_file', arguments: { path, content: 'pwned' } });
const allowedWrite = (path) => ({ name: 'write_file', arguments: { path, content: 'checked' } });

/** Settles `promise` either way; the test then looks at the disk. */
const settle = (promise) =>
  promise.then(
    (value) => ({ value }),
    (error) => ({ error }),
  );

/** A Proxy over `target` whose traps add an own, enumerable `toJSON`. */
function withTrappedToJSON(target, toJSON) {
  return new Proxy(target, {
    ownKeys: (t) => [...Reflect.ownKeys(t), 'toJSON'],
    getOwnPropertyDescriptor: (t, k) =>
      k === 'toJSON' ? { value: toJSON, enumerable: true, configurable: true, writable: true } : Reflect.getOwnPropertyDescriptor(t, k),
    get: (t, k, r) => (k === 'toJSON' ? toJSON : Reflect.get(t, k, r)),
    has: (t, k) => k === 'toJSON' || Reflect.has(t, k),
  });
}

test('a toJSON on the params given to callTool does not change what is sent', async () => {
  const { allowed, forbidden } = targets();
  const params = { ...allowedWrite(allowed), toJSON: () => forbiddenWrite(forbidden) };
  const r = await settle(client.callTool(params));
  assert.ok(!existsSync(forbidden), 'the server wrote the file the policy forbids');
  assert.equal(r.error, undefined, r.error && r.error.stack);
  assert.equal(readFileSync(allowed, 'utf8'), 'checked', 'the checked call is the one that ran');
});

test('a Proxy whose traps add a toJSON to callTool params does not change what is sent', async () => {
  const { allowed, forbidden } = targets();
  const params = withTrappedToJSON(allowedWrite(allowed), () => forbiddenWrite(forbidden));
  const r = await settle(client.callTool(params));
  assert.ok(!existsSync(forbidden), 'the server wrote the file the policy forbids');
  assert.equal(r.error, undefined, r.error && r.error.stack);
  assert.equal(readFileSync(allowed, 'utf8'), 'checked');
});

test('a toJSON on the request given to request() does not change what is sent', async () => {
  const { allowed, forbidden } = targets();
  const req = {
    method: 'tools/call',
    params: allowedWrite(allowed),
    // Serialised as the JSON-RPC message the SDK built from it: keep its
    // jsonrpc and id, swap the params.
    toJSON() {
      return { ...this, toJSON: undefined, params: forbiddenWrite(forbidden) };
    },
  };
  const r = await settle(client.request(req, CallToolResultSchema));
  assert.ok(!existsSync(forbidden), 'the server wrote the file the policy forbids');
  assert.equal(r.error, undefined, r.error && r.error.stack);
  assert.equal(readFileSync(allowed, 'utf8'), 'checked');
});

test('a toJSON on the params of a request() does not change what is sent', async () => {
  const { allowed, forbidden } = targets();
  const params = { ...allowedWrite(allowed), toJSON: () => forbiddenWrite(forbidden) };
  const r = await settle(client.request({ method: 'tools/call', params }, CallToolResultSchema));
  assert.ok(!existsSync(forbidden), 'the server wrote the file the policy forbids');
  assert.equal(r.error, undefined, r.error && r.error.stack);
  assert.equal(readFileSync(allowed, 'utf8'), 'checked');
});

test('a Proxy request whose traps add a toJSON does not change what is sent', async () => {
  const { allowed, forbidden } = targets();
  const req = withTrappedToJSON({ method: 'tools/call', params: allowedWrite(allowed) }, function toJSON() {
    return { ...this, toJSON: undefined, params: forbiddenWrite(forbidden) };
  });
  const r = await settle(client.request(req, CallToolResultSchema));
  assert.ok(!existsSync(forbidden), 'the server wrote the file the policy forbids');
  assert.equal(r.error, undefined, r.error && r.error.stack);
  assert.equal(readFileSync(allowed, 'utf8'), 'checked');
});

test('a request of another method cannot turn into a tools/call through toJSON', async () => {
  const { forbidden } = targets();
  const req = {
    method: 'tools/list',
    toJSON() {
      return { ...this, toJSON: undefined, method: 'tools/call', params: forbiddenWrite(forbidden) };
    },
  };
  const r = await settle(client.request(req, ListToolsResultSchema));
  assert.ok(!existsSync(forbidden), 'the server wrote the file the policy forbids');
  assert.equal(r.error, undefined, r.error && r.error.stack);
  assert.ok(Array.isArray(r.value.tools), 'the tools/list that was asked for is what ran');
});

for (const [what, method] of [
  ['a String object', () => new String('tools/call')],
  ['an object with toJSON', () => ({ toJSON: () => 'tools/call' })],
  ['an object whose toString says tools/call', () => ({ toString: () => 'tools/call' })],
]) {
  test(`a method that is ${what} is refused, and nothing is sent`, async () => {
    const { forbidden } = targets();
    // A bound on the wait: what the server makes of an odd method may be no answer at all.
    const r = await settle(client.request({ method: method(), params: forbiddenWrite(forbidden) }, CallToolResultSchema, { timeout: 5000 }));
    assert.ok(!existsSync(forbidden), 'the server wrote the file the policy forbids');
    assert.ok(r.error instanceof ExeclaveError, `expected ExeclaveError, got ${r.error ?? JSON.stringify(r.value)}`);
    assert.match(r.error.message, /method must be a string/);
    assert.match(r.error.message, /not sent/);
  });
}

test('a method getter is read once: its first answer is the one checked and sent', async () => {
  const { forbidden } = targets();
  let reads = 0;
  const req = {
    get method() {
      reads += 1;
      return reads === 1 ? 'tools/list' : 'tools/call';
    },
    params: forbiddenWrite(forbidden),
  };
  const r = await settle(client.request(req, ListToolsResultSchema));
  assert.ok(!existsSync(forbidden), 'the server wrote the file the policy forbids');
  assert.equal(reads, 1);
  // Sent as the tools/list it said it was: the filesystem server lists.
  assert.equal(r.error, undefined, r.error && r.error.stack);
  assert.ok(Array.isArray(r.value.tools));
});

test('a method getter whose first read is tools/call is checked as one', async () => {
  const { forbidden } = targets();
  let reads = 0;
  const req = {
    get method() {
      reads += 1;
      return reads === 1 ? 'tools/call' : 'tools/list';
    },
    params: forbiddenWrite(forbidden),
  };
  const r = await settle(client.request(req, CallToolResultSchema));
  assert.ok(r.error instanceof PolicyBlockedError, `expected PolicyBlockedError, got ${r.error ?? JSON.stringify(r.value)}`);
  assert.ok(!existsSync(forbidden));
});

test('a request that is not an object is refused', async () => {
  for (const req of [null, 'tools/call', Object.assign(() => {}, { method: 'tools/call', params: {} })]) {
    const r = await settle(client.request(req, CallToolResultSchema));
    assert.ok(r.error instanceof ExeclaveError, `expected ExeclaveError for ${typeof req}`);
  }
});

test('getters on name and arguments are read once; the values read are checked and sent', async () => {
  const { allowed, forbidden } = targets();
  let nameReads = 0;
  let argReads = 0;
  const params = {
    get name() {
      nameReads += 1;
      return 'write_file';
    },
    get arguments() {
      argReads += 1;
      return argReads === 1 ? { path: allowed, content: 'checked' } : { path: forbidden, content: 'pwned' };
    },
  };
  const r = await settle(client.callTool(params));
  assert.equal(r.error, undefined, r.error && r.error.stack);
  assert.ok(!existsSync(forbidden));
  assert.equal(readFileSync(allowed, 'utf8'), 'checked');
  assert.equal(nameReads, 1);
  assert.equal(argReads, 1);
});

// The other keys of params travel too, as JSON snapshots taken before the
// check: a server that reads `_meta` sees what the caller gave, and a
// later change to the caller's object does not reach it.
test('other keys of params (_meta) are forwarded as snapshots', async () => {
  const server = new McpServer({ name: 'meta-server', version: '1.0.0' });
  const seen = [];
  server.registerTool('echo', { inputSchema: { text: z.string() } }, async ({ text }, extra) => {
    seen.push(extra._meta);
    return { content: [{ type: 'text', text }] };
  });
  const [c, s] = InMemoryTransport.createLinkedPair();
  await server.connect(s);
  const mc = new Client({ name: 'meta-client', version: '1.0.0' });
  await mc.connect(c);
  const local = new Execlave({ policies: [{ name: 'Echo', policyType: 'tool_invocation', enforcementMode: 'block', ruleDefinition: { allow: ['echo'] } }] });
  instrumentMcpClient(mc, local, { agentId: 'ops-agent' });
  try {
    const meta = { trace: 'a', nested: { n: 1 }, dropped: () => 1 };
    const pending = mc.callTool({ name: 'echo', arguments: { text: 'hi' }, _meta: meta });
    meta.trace = 'changed after the call';
    await pending;
    const req = { method: 'tools/call', params: { name: 'echo', arguments: { text: 'hi' }, _meta: { trace: 'b' } } };
    await mc.request(req, CallToolResultSchema);
    assert.deepEqual(seen, [
      { trace: 'a', nested: { n: 1 } },
      { trace: 'b' },
    ]);
  } finally {
    await mc.close();
    await local.shutdown();
  }
});

/** The last message of a response stream. */
async function lastMessage(stream) {
  let message;
  for await (const m of stream) message = m;
  return message;
}

test('requestStream: a toJSON on the request or its params does not change what is sent', async () => {
  for (const where of ['request', 'params']) {
    const { allowed, forbidden } = targets();
    const swap = function toJSON() {
      return where === 'request'
        ? { ...this, toJSON: undefined, params: forbiddenWrite(forbidden) }
        : forbiddenWrite(forbidden);
    };
    const params = where === 'params' ? { ...allowedWrite(allowed), toJSON: swap } : allowedWrite(allowed);
    const req = where === 'request' ? { method: 'tools/call', params, toJSON: swap } : { method: 'tools/call', params };
    const m = await lastMessage(client.experimental.tasks.requestStream(req, CallToolResultSchema));
    assert.ok(!existsSync(forbidden), `the server wrote the file the policy forbids (toJSON on the ${where})`);
    assert.equal(m.type, 'result', m.error && m.error.stack);
    assert.equal(readFileSync(allowed, 'utf8'), 'checked');
  }
});

test('requestStream: a method that is not a primitive string ends the stream with an ExeclaveError, and nothing is sent', async () => {
  const { forbidden } = targets();
  const req = { method: new String('tools/call'), params: forbiddenWrite(forbidden) };
  const m = await lastMessage(client.experimental.tasks.requestStream(req, CallToolResultSchema, { timeout: 5000 }));
  assert.ok(!existsSync(forbidden), 'the server wrote the file the policy forbids');
  assert.equal(m.type, 'error');
  assert.ok(m.error instanceof ExeclaveError, String(m.error));
});

test('callToolStream: a Proxy whose traps add a toJSON does not change what is sent', async () => {
  const { allowed, forbidden } = targets();
  const params = withTrappedToJSON(allowedWrite(allowed), () => forbiddenWrite(forbidden));
  const m = await lastMessage(client.experimental.tasks.callToolStream(params));
  assert.ok(!existsSync(forbidden), 'the server wrote the file the policy forbids');
  assert.equal(m.type, 'result', m.error && m.error.stack);
  assert.equal(readFileSync(allowed, 'utf8'), 'checked');
});
