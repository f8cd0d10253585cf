// The values path (lib/argument-values.js): for a tool with argument rules,
// only the values the plan reads cross into Rust, and only an allowed call
// is decided so. Its answer must be the full decision's, which
// `enforcePolicy` makes on the JSON text of the same arguments: compared
// here call by call, on random and hostile arguments, through the real MCP
// Client and an in-process server that says what it received.

import { test, describe, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { CallToolRequestSchema, ListToolsRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { Execlave, PolicyBlockedError } from '@execlave/sdk';
import { instrumentMcpClient } from '@execlave/sdk/integrations/mcp';
import { startControlPlane } from '../test-control-plane/index.mjs';

const require = createRequire(import.meta.url);
const native = require('../lib/native');

// Every answer of the native values path, to see that it was taken.
const answers = [];
let lastCall = null;
const decideValues = native.decideValues;
native.decideValues = (...args) => {
  lastCall = args;
  const answer = decideValues(...args);
  answers.push(answer);
  return answer;
};
const taken = () => answers.filter((a) => a >= 0).length;

const cleanups = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()();
  answers.length = 0;
});

/** A server that accepts any arguments and answers with what it received. */
async function echoingPair() {
  const server = new Server({ name: 'echoing', version: '1.0.0' }, { capabilities: { tools: {} } });
  const received = [];
  server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools: [] }));
  server.setRequestHandler(CallToolRequestSchema, async (req) => {
    received.push(req.params);
    return { content: [{ type: 'text', text: JSON.stringify(req.params.arguments ?? null) }] };
  });
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  await server.connect(serverSide);
  const client = new Client({ name: 'values-test', version: '1.0.0' });
  await client.connect(clientSide);
  return { client, received };
}

const rules = [
  { tools: ['read_*'], argument: 'path', kind: 'path', allow: ['/srv/**'], deny: ['**/.ssh/**'] },
  { tools: ['read_file'], argument: 'path', kind: 'glob', deny: ['*.key'] },
  { tools: ['read_file'], argument: 'q', kind: 'regex', deny: ['secret', '^\\d+$'] },
  { tools: ['read_file'], argument: '/opts/limit', kind: 'number', min: 0, max: 100 },
  { tools: ['read_file'], argument: '/list/1', kind: 'glob', allow: ['a*', 'b*'] },
  { tools: ['read_many'], argument: 'paths', kind: 'path', allow: ['/srv/**'], required: true },
  { tools: ['read_file'], argument: 'a/b', kind: 'glob', deny: ['x'] },
];
const policies = [
  { id: 'p1', name: 'P1', policyType: 'tool_invocation', enforcementMode: 'block', ruleDefinition: { arguments: rules } },
];

async function governed(options = { policies }) {
  const exe = new Execlave(options);
  const pair = await echoingPair();
  instrumentMcpClient(pair.client, exe, { agentId: 'ops-agent' });
  cleanups.push(async () => {
    await pair.client.close();
    await exe.shutdown();
  });
  return { exe, ...pair };
}

/** The full decision on the JSON text: 'allowed' or the violations. */
async function fullDecision(exe, tool, args) {
  try {
    await exe.enforcePolicy({ agentId: 'ops-agent', tools: [tool], arguments: args });
    return 'allowed';
  } catch (err) {
    if (!(err instanceof PolicyBlockedError)) throw err;
    return err.violations;
  }
}

/** The wrapper's decision (values path or not), and what was sent. */
async function wrapperDecision(pair, tool, args) {
  const before = pair.received.length;
  try {
    const r = await pair.client.callTool({ name: tool, arguments: args });
    assert.equal(pair.received.length, before + 1);
    return { decision: 'allowed', sent: r.content[0].text };
  } catch (err) {
    // Arguments that are not an object pass governance, and the server's
    // own schema check refuses them.
    if (err.name === 'McpError' && !Array.isArray(err.violations)) return { decision: 'allowed' };
    if (!(err instanceof PolicyBlockedError)) throw err;
    assert.equal(pair.received.length, before, 'a refused call is not sent');
    return { decision: err.violations };
  }
}

async function same(setup, tool, args, label) {
  const full = await fullDecision(setup.exe, tool, args);
  const got = await wrapperDecision(setup, tool, args);
  assert.deepEqual(got.decision, full, `${label}: ${tool} ${safe(args)}`);
  return got;
}

function safe(value) {
  try {
    return JSON.stringify(value)?.slice(0, 200);
  } catch {
    return String(value);
  }
}

describe('the values path decides as the full decision does', () => {
  test('random arguments: same decision, call by call, and the values path is taken', async () => {
    const setup = await governed();
    const seedRandom = (seed) => () => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed / 2147483648;
    };
    const rnd = seedRandom(7);
    const pick = (items) => items[Math.floor(rnd() * items.length)];
    const paths = ['/srv/a', '/srv/x.key', '/etc/passwd', '/srv/u/.ssh/id', 'srv/a', '/srv/../etc', '/SRV/a', '', '/srv'];
    const scalar = () =>
      pick([pick(paths), pick(paths), 5, -1, 100.5, 0, -0, '5', 'secret', 'ab', 'bx', 'c', null, true, 1e21, [], {}]);
    const value = () => (rnd() < 0.2 ? [scalar(), scalar()] : scalar());
    let allowed = 0;
    let n = 0;
    for (let i = 0; i < 400; i++) {
      const args = {};
      for (const key of ['path', 'q', 'paths', 'a/b']) if (rnd() < 0.6) args[key] = value();
      if (rnd() < 0.5) args.opts = rnd() < 0.8 ? { limit: value() } : value();
      if (rnd() < 0.5) args.list = rnd() < 0.7 ? [value(), value()] : { 1: value() };
      const tool = pick(['read_file', 'read_many', 'read_text']);
      const got = await same(setup, tool, rnd() < 0.05 ? undefined : args, `call ${i}`);
      if (got.decision === 'allowed') allowed += 1;
      n += 1;
    }
    assert.ok(allowed > n / 10 && allowed < n, `${allowed} of ${n} allowed`);
    assert.ok(taken() > allowed / 2, `values path taken ${taken()} times for ${allowed} allowed calls`);
  });

  test('hostile shapes: each sends what was checked and decides as the JSON does', async () => {
    const setup = await governed();
    const tool = 'read_file';
    let reads = 0;
    const getter = {
      get path() {
        reads += 1;
        return reads === 1 ? '/srv/ok' : '/etc/passwd';
      },
    };
    const cases = [
      ['a getter read once', getter, 'allowed', '{"path":"/srv/ok"}'],
      ['a toJSON', { path: '/etc/passwd', toJSON: () => ({ path: '/srv/fine' }) }, 'allowed', '{"path":"/srv/fine"}'],
      ['a toJSON on the value', { path: { toJSON: () => '/etc/passwd' } }, 'blocked'],
      ['a Proxy', new Proxy({}, { ownKeys: () => ['path'], getOwnPropertyDescriptor: () => ({ value: '/etc/x', enumerable: true, configurable: true }), get: (_, k) => (k === 'path' ? '/etc/x' : undefined) }), 'blocked'],
      // eslint-disable-next-line no-sparse-arrays
      ['an array with holes', { paths: ['/srv/a', , '/srv/b'] }, 'blocked', null, 'read_many'],
      ['a number as a string', { opts: { limit: '5' } }, 'blocked'],
      ['-0 at a minimum of 0', { opts: { limit: -0 } }, 'allowed'],
      ['a number in range', { opts: { limit: 99.5 } }, 'allowed'],
      ['Infinity (null in JSON)', { opts: { limit: Infinity } }, 'blocked'],
      ['a huge string', { path: `/srv/${'a'.repeat(1 << 20)}` }, 'allowed'],
      ['a huge denied string', { path: `/srv/${'a'.repeat(1 << 20)}.key` }, 'blocked'],
      ['a missing optional value', {}, 'allowed'],
      ['a missing required value', {}, 'blocked', null, 'read_many'],
      ['an empty required list', { paths: [] }, 'allowed', null, 'read_many'],
      ['a nested list', { paths: [['/srv/a']] }, 'blocked', null, 'read_many'],
      ['a key with a slash', { 'a/b': 'x' }, 'blocked'],
      ['a key with a slash, allowed', { 'a/b': 'y' }, 'allowed'],
      ['an index past the end', { list: ['a'] }, 'allowed'],
      ['an index', { list: ['a', 'c'] }, 'blocked'],
      ['an object for an index', { list: { 1: 'c' } }, 'blocked'],
      ['an inherited key', Object.create({ path: '/etc/passwd' }), 'allowed'],
      ['__proto__ as a key', JSON.parse('{"__proto__": {"path": "/etc/passwd"}}'), 'allowed'],
      ['a lone surrogate', { q: 'ok\ud800' }, 'blocked'],
      ['a real U+FFFD', { q: 'ok\ufffd' }, 'allowed'],
      ['digits for a regex', { q: '123' }, 'blocked'],
      ['a number for a regex', { q: 123 }, 'blocked'],
      ['a boolean for a path', { path: true }, 'blocked'],
      ['null for a path', { path: null }, 'blocked'],
      ['arguments as an array', ['/etc/passwd'], 'allowed'],
      ['arguments as a string', '/etc/passwd', 'allowed'],
      ['arguments nested too deep', { path: '/srv/a', deep: JSON.parse('['.repeat(150) + ']'.repeat(150)) }, 'blocked'],
    ];
    for (const [label, args, expected, sent, name = tool] of cases) {
      reads = 0;
      const got = await wrapperDecision(setup, name, args);
      assert.equal(got.decision === 'allowed' ? 'allowed' : 'blocked', expected, label);
      if (sent) assert.equal(got.sent, sent, `${label}: what was sent is what was checked`);
      // The full decision on the same arguments (a getter that changes
      // sides is read anew by enforcePolicy: its first read is the one
      // the wrapper checked).
      if (label !== 'a getter read once') {
        assert.deepEqual(got.decision, await fullDecision(setup.exe, name, args), label);
      }
    }
    assert.ok(taken() >= 8, `values path taken ${taken()} times`);
  });
});

describe('whole argument objects built from hostile values (issue 18 item 1)', () => {
  // Anything that makes the full decision refuse or warn must send the
  // call to the full decision: the values path reads only the values its
  // plan names, so what it does not read (another key, another argument)
  // must not let it allow what enforcePolicy refuses.
  const hostile = [
    'ok\ud800',
    '\udc00',
    'a\u0000b',
    '\u0000',
    1e308,
    -1.7976931348623157e308,
    2 ** 64,
    Number.MAX_SAFE_INTEGER + 2,
    5e-324,
    JSON.parse('{"__proto__": {"path": "/etc/passwd"}}'),
    JSON.parse('['.repeat(60) + ']'.repeat(60)),
    JSON.parse('['.repeat(140) + ']'.repeat(140)),
    { 'k\ud800': 1 },
    { '\u0000': '\u0000' },
    ['/srv/a', 'x\udfff'],
    '/srv/a',
    'secret',
  ];
  const keys = ['path', 'q', 'other', 'opts', 'list', 'a/b', '__proto__', 'k\udc00', '\u0000', 'paths'];

  test('random whole objects: same decision as enforcePolicy, call by call', async () => {
    const setup = await governed();
    let seed = 11;
    const rnd = () => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed / 2147483648;
    };
    const pick = (items) => items[Math.floor(rnd() * items.length)];
    const value = (depth = 0) => {
      const r = rnd();
      if (depth < 3 && r < 0.15) return { [pick(keys)]: value(depth + 1), [pick(keys)]: value(depth + 1) };
      if (depth < 3 && r < 0.25) return [value(depth + 1), value(depth + 1)];
      return pick(hostile);
    };
    let refused = 0;
    for (let i = 0; i < 300; i++) {
      // The values the plan reads are clean ones most of the time: the
      // hostile part is elsewhere in the object.
      const args = { path: '/srv/a' };
      if (rnd() < 0.3) args.q = 'fine';
      const n = 1 + Math.floor(rnd() * 3);
      for (let j = 0; j < n; j++) {
        const key = pick(keys);
        if (key === '__proto__') Object.defineProperty(args, key, { value: value(), enumerable: true, writable: true, configurable: true });
        else if (!(key in args) || rnd() < 0.3) args[key] = value();
      }
      const got = await same(setup, 'read_file', args, `object ${i}`);
      if (got.decision !== 'allowed') refused += 1;
    }
    assert.ok(refused > 0, 'some objects were refused');
  });

  test('a lone surrogate in another key or value, or too deep, goes to the full decision', async () => {
    const setup = await governed();
    const cases = [
      { path: '/srv/a', other: 'x\ud800' },
      { path: '/srv/a', 'k\udc00': 1 },
      { path: '/srv/a', nested: { deeper: ['ok', { 'z\ud83d': 'y' }] } },
      { path: '/srv/a', nested: { deeper: 'x\udfff' } },
      { path: '/srv/a', deep: JSON.parse('['.repeat(140) + ']'.repeat(140)) },
    ];
    for (const args of cases) {
      assert.notEqual(await fullDecision(setup.exe, 'read_file', args), 'allowed', safe(args));
      const got = await wrapperDecision(setup, 'read_file', args);
      assert.notEqual(got.decision, 'allowed', `reached the server: ${safe(args)}`);
    }
    // Well-formed astral characters, NUL and huge numbers are readable.
    for (const args of [
      { path: '/srv/a', other: '\ud83d\ude00', nul: '\u0000', big: 1e308, tiny: 5e-324 },
      { path: '/srv/a', ['\ud83d\ude00']: 2 ** 64 },
    ]) {
      await same(setup, 'read_file', args, 'readable');
    }
  });
});

describe('the cached plan follows the policies', () => {
  test('a policy change between two calls applies on the very next call', async () => {
    const policy = (deny) => ({
      id: 'pol_values',
      name: 'Values',
      policyType: 'tool_invocation',
      enforcementMode: 'block',
      ruleDefinition: { arguments: [{ tools: ['read_file'], argument: 'path', kind: 'path', deny }] },
    });
    const cp = await startControlPlane({ policies: [policy(['/etc/**'])] });
    // Pushed first: the cleanups run last-in first, so it closes after the client.
    cleanups.push(() => cp.close());
    const pair = await governed({ apiKey: cp.apiKey, baseUrl: cp.url, policyRefreshMs: 100, firstSyncTimeoutMs: 1500 });
    const call = (path) => pair.client.callTool({ name: 'read_file', arguments: { path } });
    await call('/srv/a');
    await call('/srv/a');
    assert.ok(taken() >= 1, 'the values path decided');
    const gets = () => cp.requests.filter((r) => r.method === 'GET' && r.path === '/api/v1/policies' && r.status === 200).length;
    const before = gets();
    cp.setPolicies([policy(['/srv/**'])]);
    await cp.waitFor(() => gets() > before, { timeoutMs: 3000 });
    // The answer is in; give the SDK a moment to adopt it.
    await new Promise((r) => setTimeout(r, 100));
    answers.length = 0;
    await assert.rejects(call('/srv/a'), PolicyBlockedError, 'the new policy, on the very next call');
    assert.ok(answers.includes(-3), `the cached plan was found stale: ${answers}`);
    await call('/etc/passwd');
  });
});

describe('the native values path answers odd input with "take the full path"', () => {
  test('never a ticket for odd arguments, an unknown plan, or too many values', async () => {
    const setup = await governed();
    await setup.client.callTool({ name: 'read_file', arguments: { path: '/srv/a' } });
    const odd = [
      [],
      [0],
      [0, 1],
      ['0', '1', 1],
      [0, 1, -1],
      [0, 1, 0.5],
      [0, 1, Number.NaN],
      [{}, null, 1],
      [0, 999_999, 1, '/srv/a'],
      [999_999, 1, 1, '/srv/a'],
      [0, 1, 1, ...Array(17).fill('/srv/a')],
    ];
    for (const args of odd) {
      assert.ok(!(decideValues(...args) >= 0), JSON.stringify(args));
    }
    // A real plan, with values of shapes the path does not take.
    const [handle, toolId] = lastCall;
    const plan = native.argumentPlan(handle, toolId);
    assert.ok(plan && plan.id > 0 && plan.id === lastCall[2]);
    const n = plan.tokens.length;
    const fill = (v) => Array(n).fill(v);
    assert.equal(decideValues(handle, toolId, plan.id + 1e6, ...fill(undefined)), -3, 'another plan: stale');
    for (const v of [null, true, {}, [['/srv/a']], [null], [undefined], 'ok\ud800', 'ok\ufffd']) {
      assert.equal(decideValues(handle, toolId, plan.id, ...fill(v)), -1, JSON.stringify(v));
    }
    assert.equal(decideValues(handle, toolId, plan.id, ...fill(undefined).slice(1)), -1, 'one value short');
  });
});
