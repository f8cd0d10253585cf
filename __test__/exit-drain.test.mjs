// No record lost when a program ends without `await exe.shutdown()`
// (issue 18 items 7 and 9, issue 19 item 4): the event loop running dry,
// process.exit(), an uncaught exception, worker threads ending, and
// clients dropped and collected. Each scenario runs in a child Node.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, spawn } from 'node:child_process';
import { readFileSync, existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startControlPlane } from '../test-control-plane/index.mjs';
import { tempDir } from './helpers/servers.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const policies = [{ id: 'p', name: 'G', policyType: 'tool_invocation', enforcementMode: 'block', ruleDefinition: { deny: ['delete_*'] } }];

function lines(log) {
  return existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n').filter(Boolean) : [];
}

/** Five refused calls (each recorded), then `ending`; no shutdown. */
function script(options, ending, flags = '') {
  return `
    import { Execlave } from '@execlave/sdk';
    const exe = new Execlave(${JSON.stringify({ policies, flushIntervalMs: 60_000, ...options })});
    for (const tool of ['delete_a', 'delete_b', 'delete_c', 'delete_d', 'delete_e']) {
      await exe.enforcePolicy({ agentId: 'ops-agent', tools: [tool] }).catch(() => {});
    }
    ${ending}
  ${flags}`;
}

function run(source, args = []) {
  return spawnSync(process.execPath, [...args, '--input-type=module', '-e', source], {
    cwd: join(here, '..'),
    encoding: 'utf8',
    timeout: 30_000,
  });
}

for (const [name, ending, status] of [
  ['the event loop running dry', '', 0],
  ['process.exit()', 'process.exit(0);', 0],
  ['an uncaught exception', "throw new Error('boom');", 1],
  ['an unhandled rejection', "Promise.reject(new Error('boom'));", 1],
]) {
  test(`the audit log keeps every record on ${name}`, () => {
    const log = join(tempDir(), 'audit.jsonl');
    const r = run(script({ auditLog: log }, ending));
    assert.equal(r.status, status, r.stderr);
    assert.equal(lines(log).length, 5, r.stderr);
  });
}

test('the control plane gets every record on process.exit(), within the shutdown timeout', async () => {
  const cp = await startControlPlane({ policies });
  try {
    const source = script({ apiKey: cp.apiKey, baseUrl: cp.url }, 'process.exit(0);');
    const r = await new Promise((resolve) => {
      const child = spawn(process.execPath, ['--input-type=module', '-e', source], { cwd: join(here, '..') });
      let stderr = '';
      child.stderr.on('data', (d) => (stderr += d));
      child.on('exit', (code) => resolve({ code, stderr }));
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(cp.traces.length, 5, r.stderr);
  } finally {
    await cp.close();
  }
});

test('what cannot be delivered at exit is said on stderr', async () => {
  const cp = await startControlPlane({ policies });
  try {
    cp.setStatus('/api/v1/traces/ingest', 503);
    const source = script({ apiKey: cp.apiKey, baseUrl: cp.url, shutdownTimeoutMs: 300 }, 'process.exit(0);');
    const r = await new Promise((resolve) => {
      const child = spawn(process.execPath, ['--input-type=module', '-e', source], { cwd: join(here, '..') });
      let stderr = '';
      child.stderr.on('data', (d) => (stderr += d));
      child.on('exit', (code) => resolve({ code, stderr }));
    });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /5 record\(s\) could not be delivered/);
  } finally {
    await cp.close();
  }
});

test('worker threads that end without shutdown keep every record', () => {
  const log = join(tempDir(), 'audit.jsonl');
  const r = run(`
    import { Worker } from 'node:worker_threads';
    const body = ${JSON.stringify(`
      const { Execlave } = require('@execlave/sdk');
      const { workerData } = require('node:worker_threads');
      (async () => {
        const exe = new Execlave({ policies: ${JSON.stringify(policies)}, auditLog: ${JSON.stringify(log)}, flushIntervalMs: 60000 });
        for (let i = 0; i < 200; i++) {
          await exe.enforcePolicy({ agentId: 'ops-agent', tools: ['delete_x'] }).catch(() => {});
        }
        if (workerData === 1) process.exit(0);
      })();
    `)};
    const ended = [];
    for (let i = 0; i < 8; i++) {
      const w = new Worker(body, { eval: true, workerData: i, execArgv: [] });
      ended.push(new Promise((resolve) => w.on('exit', resolve)));
    }
    await Promise.all(ended);
    console.log('workers ended');
  `);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(lines(log).length, 1600, r.stderr);
});

test('50 short-lived clients dropped without shutdown leave 50 records once collected', () => {
  const log = join(tempDir(), 'audit.jsonl');
  const r = run(
    `
    import { Execlave } from '@execlave/sdk';
    import { createRequire } from 'node:module';
    import { readFileSync } from 'node:fs';
    const native = createRequire(import.meta.url)('./lib/native.js');
    async function once() {
      const exe = new Execlave({ policies: ${JSON.stringify(policies)}, auditLog: ${JSON.stringify(log)}, flushIntervalMs: 60000 });
      await exe.enforcePolicy({ agentId: 'ops-agent', tools: ['delete_all'] }).catch(() => {});
    }
    for (let i = 0; i < 50; i++) await once();
    for (let i = 0; i < 5; i++) {
      globalThis.gc();
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    native.waitForDrains(10000);
    // Counted while the process still runs: the collection delivered them,
    // not the exit hook.
    console.log(readFileSync(${JSON.stringify(log)}, 'utf8').trim().split('\\n').length);
  `,
    ['--expose-gc'],
  );
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), '50', r.stderr);
});
