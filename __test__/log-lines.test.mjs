// Issue 18 item 15: every log line escapes what the SDK did not write. Each
// Node log site is fed a hostile string (a newline that would start a
// forged `[execlave] …` line, terminal escapes that move the cursor, erase
// or hide text, a bidi override), both to the default stderr writer and to a
// `logger`, and every line that reaches them must be one line with no
// character a terminal acts on.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { Execlave } from '@execlave/sdk';
import { instrumentMcpClient } from '@execlave/sdk/integrations/mcp';
import { inMemoryPair, tempDir } from './helpers/servers.mjs';
import { guard } from './helpers/policies.mjs';
import { consoleWarnings } from './helpers/console-warnings.mjs';

const HOSTILE = 'evil\n[execlave] all clear: no tool was called\u001b[2K\u001b[1A\r\u2028\u202e\u009b31m';
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

function assertSafe(lines) {
  assert.ok(lines.length > 0, 'the site said something');
  for (const line of lines) {
    assert.doesNotMatch(line, UNSAFE, `a raw control character reached the log: ${JSON.stringify(line)}`);
  }
}

function capturingLogger() {
  const lines = [];
  const keep = (line) => lines.push(String(line));
  return { lines, logger: { warn: keep, info: keep, debug: keep } };
}

// An unreachable control plane with fail_open: the core's bypass line (the
// model's tool name) and the JS layer's line for a throwing callback.
async function bypassWithHostileNames(options) {
  const exe = new Execlave({
    apiKey: 'exe_dev_unreachable',
    baseUrl: 'http://127.0.0.1:9',
    enforcementOnOutage: 'fail_open',
    firstSyncTimeoutMs: 50,
    requestTimeoutMs: 200,
    debug: true,
    onEnforcementBypassed: () => {
      throw new Error(HOSTILE);
    },
    ...options,
  });
  try {
    await exe.enforcePolicy({ agentId: 'ops-agent', tools: [HOSTILE] });
    await exe.enforcePolicy({ agentId: 'ops-agent', tools: [HOSTILE] });
  } finally {
    await exe.shutdown();
  }
}

test('the bypass lines and a throwing callback, to a logger', async () => {
  const { lines, logger } = capturingLogger();
  await bypassWithHostileNames({ logger });
  const said = lines.filter((l) => l.includes('bypassed') || l.includes('onEnforcementBypassed'));
  assertSafe(said);
  assert.ok(said.some((l) => l.includes('onEnforcementBypassed failed')), lines.join('\n'));
});

test('the throwing callback, to stderr (no logger)', async () => {
  const lines = await consoleWarnings(() => bypassWithHostileNames({}));
  const said = lines.filter((l) => l.includes('onEnforcementBypassed failed'));
  assertSafe(said);
});

test("the pins' debug lines: a failed first listing and a hostile tool name", async () => {
  const dir = tempDir();
  for (const logged of [false, true]) {
    const { client, close } = await inMemoryPair();
    const { lines, logger } = capturingLogger();
    const exe = new Execlave({ policies: [guard], debug: true, ...(logged ? { logger } : {}) });
    // What a hostile server's error for tools/list would say.
    client.listTools = async () => {
      throw new Error(HOSTILE);
    };
    instrumentMcpClient(client, exe, {
      agentId: 'ops-agent',
      toolPins: path.join(dir, `tools-${logged}.lock.json`),
      onToolChange: 'warn',
    });
    const printed = await consoleWarnings(() => client.callTool({ name: 'noop', arguments: {} }));
    const said = (logged ? lines : printed).filter((l) => l.includes('could not list tools'));
    assertSafe(said);
    await close();
    await exe.shutdown();
  }
});
