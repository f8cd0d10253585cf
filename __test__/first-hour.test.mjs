// Issue 19 ("The first hour"), items 2, 3 and 7: the mistakes a new user
// makes are loud, nothing is bypassed in silence, lines go to the app's
// logger, and errors carry a stable `code`. Real parts: the test control
// plane over loopback HTTP, an in-process MCP server with the real Client.

import { test, describe, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  Execlave,
  ERROR_CODES,
  ExeclaveError,
  ExeclaveAuthError,
  PolicyBlockedError,
  AgentPausedError,
  EnforcementUnavailableError,
  EnforcementHaltError,
} from '@execlave/sdk';
import { instrumentMcpClient } from '@execlave/sdk/integrations/mcp';
import { startControlPlane } from '../test-control-plane/index.mjs';
import { inMemoryPair, tempDir } from './helpers/servers.mjs';
import { guard } from './helpers/policies.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cleanups = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()();
});

const policy = (extra = {}, rd = { deny: ['write_file'] }) => ({
  name: 'Guard',
  policyType: 'tool_invocation',
  enforcementMode: 'block',
  ruleDefinition: rd,
  ...extra,
});

/** The constructor's error for these options. */
function refused(options) {
  try {
    new Execlave(options).shutdown();
  } catch (e) {
    return e;
  }
  assert.fail(`accepted: ${JSON.stringify(options)}`);
}

/** A logger that keeps what it is given, by level. */
function recorder() {
  const lines = { warn: [], info: [], debug: [], all: [] };
  const keep = (level) => (l) => {
    lines[level].push(l);
    lines.all.push(l);
  };
  return { lines, warn: keep('warn'), info: keep('info'), debug: keep('debug') };
}

const settle = () => new Promise((r) => setTimeout(r, 150));

describe('item 2: policy mistakes are loud', () => {
  test('an unknown field of a local policy is an error with a "did you mean"', () => {
    const e = refused({ policies: [policy({}, { denny: ['write_file'] })] });
    assert.ok(e instanceof ExeclaveError);
    assert.equal(e.code, 'EXECLAVE_INVALID_OPTIONS');
    assert.match(e.message, /policy "Guard": ruleDefinition\.denny: unknown field "denny" \(did you mean "deny"\?\)/);
  });

  test('in a policy file too, naming the file', () => {
    const dir = tempDir();
    const file = path.join(dir, 'policies.json');
    // A misspelt required field: named by its near miss, not "is required".
    const { enforcementMode, ...rest } = policy({ enforcmentMode: 'block' });
    assert.equal(enforcementMode, 'block');
    fs.writeFileSync(file, JSON.stringify([rest]));
    const e = refused({ policies: file });
    assert.ok(e.message.includes(file) && /did you mean "enforcementMode"/.test(e.message), e.message);
  });

  test('an agent id that can never match is an error', () => {
    for (const extra of [{ appliesToAgents: ['Ops-Agent'] }, {}]) {
      const rd = extra.appliesToAgents ? { deny: ['x'] } : { deny: ['x'], agentId: 'Ops Agent' };
      const e = refused({ policies: [policy(extra, rd)] });
      assert.match(e.message, /cannot be an agent id \(did you mean "ops-agent"\?\)/);
    }
  });

  test('option errors name the option and its values, without parser positions', () => {
    const e = refused({ policies: [], enforcementOnOutage: 'closed' });
    assert.equal(e.message, 'enforcementOnOutage must be "fail_open" or "fail_closed", not "closed"');
    assert.equal(e.code, 'EXECLAVE_INVALID_OPTIONS');
    const f = refused({ policies: [], flushIntervalMs: -1 });
    assert.equal(f.message, 'flushIntervalMs must be a whole number of 0 or more, not -1');
  });

  test('a bad regex keeps the parser reason', () => {
    const rd = { arguments: [{ tools: ['q'], argument: 'sql', kind: 'regex', allow: ['(unclosed'] }] };
    const e = refused({ policies: [policy({}, rd)] });
    assert.match(e.message, /invalid regex: unclosed group/);
  });

  test('an API key of the wrong shape is refused at construction and never echoed', () => {
    for (const apiKey of ['t', 'sk-live-0123456789', 'exe_dev_ab', 'exe_live_0123456789']) {
      const e = refused({ apiKey, baseUrl: 'http://127.0.0.1:9' });
      assert.equal(e.code, 'EXECLAVE_INVALID_OPTIONS');
      assert.match(e.message, /^apiKey \(or EXECLAVE_API_KEY\)/);
      if (apiKey.length > 3) assert.ok(!e.message.includes(apiKey), e.message);
      assert.ok(!e.message.includes('[redacted]'), e.message);
    }
  });

  test('control-plane policies keep tolerating new fields, counted in stats()', async () => {
    const cp = await startControlPlane({ policies: [{ ...guard, createdBy: 'x', ruleDefinition: { ...guard.ruleDefinition, future: 1 } }] });
    const exe = new Execlave({ apiKey: cp.apiKey, baseUrl: cp.url, logger: recorder() });
    cleanups.push(async () => {
      await exe.shutdown();
      await cp.close();
    });
    await assert.rejects(exe.enforcePolicy({ agentId: 'ops-agent', tools: ['delete_all'] }), PolicyBlockedError);
    assert.equal(exe.stats().unknownPolicyFields, 2);
  });
});

describe('item 3: never bypassed in silence; lines go to the logger', () => {
  const unreachable = { apiKey: 'exe_dev_wrongkey123', baseUrl: 'http://127.0.0.1:9', firstSyncTimeoutMs: 300, requestTimeoutMs: 200 };

  test('the first bypass and the first failed sync are said once without debug', async () => {
    const logger = recorder();
    const exe = new Execlave({ ...unreachable, logger });
    cleanups.push(() => exe.shutdown());
    for (let i = 0; i < 3; i++) await exe.enforcePolicy({ agentId: 'ops-agent', tools: ['noop'] });
    await settle();
    const bypass = logger.lines.warn.filter((l) => l.includes('enforcement bypassed'));
    const sync = logger.lines.warn.filter((l) => l.includes('policy sync failed'));
    assert.equal(bypass.length, 1, logger.lines.warn.join('\n'));
    assert.match(bypass[0], /^\[execlave\] .*"fail_open".*"fail_closed"/);
    assert.equal(sync.length, 1, logger.lines.warn.join('\n'));
    assert.deepEqual(logger.lines.debug, []);
    assert.ok(!logger.lines.warn.join('\n').includes('wrongkey123'));
  });

  test('with debug, no line comes twice in a row', async () => {
    const logger = recorder();
    const exe = new Execlave({ ...unreachable, logger, debug: true });
    cleanups.push(() => exe.shutdown());
    for (let i = 0; i < 4; i++) await exe.enforcePolicy({ agentId: 'ops-agent', tools: ['noop'] });
    await settle();
    const all = logger.lines.all;
    assert.ok(logger.lines.debug.length > 0);
    for (let i = 1; i < all.length; i++) assert.notEqual(all[i], all[i - 1], all.join('\n'));
  });

  test('without a logger, the warning goes to stderr once, debug off', async () => {
    const script = `
      const { Execlave } = require(${JSON.stringify(ROOT)});
      const exe = new Execlave(${JSON.stringify(unreachable)});
      (async () => {
        for (let i = 0; i < 3; i++) await exe.enforcePolicy({ agentId: 'ops-agent', tools: ['noop'] });
        await exe.shutdown();
      })();`;
    const stderr = await new Promise((resolve, reject) =>
      execFile(process.execPath, ['-e', script], { timeout: 20_000 }, (err, _out, errText) => (err ? reject(err) : resolve(errText))),
    );
    const bypass = stderr.split('\n').filter((l) => l.startsWith('[execlave] enforcement bypassed'));
    assert.equal(bypass.length, 1, stderr);
  });

  test('a logger must have warn, info and debug', () => {
    const e = refused({ policies: [], logger: { warn() {} } });
    assert.equal(e.code, 'EXECLAVE_INVALID_OPTIONS');
    assert.match(e.message, /logger must have warn, info and debug/);
  });

  test('a logger that throws loses the line, never the process', async () => {
    const boom = () => {
      throw new Error('logger down');
    };
    const exe = new Execlave({ ...unreachable, logger: { warn: boom, info: boom, debug: boom }, debug: true });
    cleanups.push(() => exe.shutdown());
    await exe.enforcePolicy({ agentId: 'ops-agent', tools: ['noop'] });
    await settle();
  });
});

describe('item 7: error codes; wrapping again warns', () => {
  test('every error class has its stable code', () => {
    assert.equal(new ExeclaveError('x').code, ERROR_CODES.ERROR);
    assert.equal(new ExeclaveAuthError('x').code, 'EXECLAVE_AUTH_FAILED');
    assert.equal(new EnforcementHaltError('x').code, 'EXECLAVE_ENFORCEMENT_HALTED');
    assert.equal(new PolicyBlockedError('x').code, 'EXECLAVE_POLICY_BLOCKED');
    assert.equal(new AgentPausedError('a', null).code, 'EXECLAVE_AGENT_PAUSED');
    assert.equal(new EnforcementUnavailableError('x').code, 'EXECLAVE_ENFORCEMENT_UNAVAILABLE');
    assert.equal(new ExeclaveError('x', { code: 'EXECLAVE_CLOSED' }).code, 'EXECLAVE_CLOSED');
  });

  test('a real block, a bad argument and a closed client carry theirs', async () => {
    const exe = new Execlave({ policies: [policy()] });
    const blocked = await exe.enforcePolicy({ agentId: 'ops-agent', tools: ['write_file'] }).catch((e) => e);
    assert.equal(blocked.code, 'EXECLAVE_POLICY_BLOCKED');
    const bad = await exe.enforcePolicy({ agentId: 'ops-agent', tools: [] }).catch((e) => e);
    assert.equal(bad.code, 'EXECLAVE_INVALID_ARGUMENT');
    await exe.shutdown();
    const closed = await exe.enforcePolicy({ agentId: 'ops-agent', tools: ['noop'] }).catch((e) => e);
    assert.ok(closed instanceof ExeclaveError);
    assert.equal(closed.code, 'EXECLAVE_CLOSED');
  });

  test('wrapping a client again with another agentId or Execlave client warns', async () => {
    const logger = recorder();
    const exe = new Execlave({ policies: [policy()], logger });
    const other = new Execlave({ policies: [policy()], logger });
    const pair = await inMemoryPair();
    cleanups.push(async () => {
      await pair.close();
      await exe.shutdown();
      await other.shutdown();
    });
    instrumentMcpClient(pair.client, exe, { agentId: 'ops-agent' });
    instrumentMcpClient(pair.client, exe, { agentId: 'ops-agent' });
    assert.deepEqual(logger.lines.warn, [], 'the same wrap again is silent');
    instrumentMcpClient(pair.client, exe, { agentId: 'web-agent' });
    instrumentMcpClient(pair.client, other, { agentId: 'ops-agent' });
    assert.equal(logger.lines.warn.length, 2, logger.lines.warn.join('\n'));
    assert.match(logger.lines.warn[0], /already governed as agent "ops-agent".*agentId "web-agent" has no effect/);
    assert.match(logger.lines.warn[1], /another Execlave client/);
  });
});
