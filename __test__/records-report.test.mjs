// flush() and shutdown() say what became of the records (issue 19 item 4),
// and a failed audit-log write is never counted as written (issue 18 item
// 10): its records count as dropped, in stats() and in flush()'s report,
// and each failure episode is said once on stderr.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Execlave, PolicyBlockedError } from '@execlave/sdk';
import { startControlPlane } from '../test-control-plane/index.mjs';
import { tempDir } from './helpers/servers.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const policies = [{ name: 'G', policyType: 'tool_invocation', enforcementMode: 'block', ruleDefinition: { deny: ['delete_*'] } }];

async function refuse(exe, n) {
  for (let i = 0; i < n; i++) {
    await assert.rejects(exe.enforcePolicy({ agentId: 'ops-agent', tools: ['delete_all'] }), PolicyBlockedError);
  }
}

test('flush and shutdown report what was written', async () => {
  const log = join(tempDir(), 'audit.jsonl');
  const exe = new Execlave({ policies, auditLog: log, flushIntervalMs: 60_000 });
  await refuse(exe, 3);
  assert.deepEqual(await exe.flush(), { written: 3, dropped: 0, undelivered: 0 });
  await refuse(exe, 2);
  assert.deepEqual(await exe.shutdown(), { written: 2, dropped: 0, undelivered: 0 });
  assert.deepEqual(await exe.shutdown(), { written: 2, dropped: 0, undelivered: 0 }, 'the same promise');
  assert.equal(readFileSync(log, 'utf8').trim().split('\n').length, 5);
  const none = new Execlave({ policies });
  assert.deepEqual(await none.flush(), { written: 0, dropped: 0, undelivered: 0 });
  assert.deepEqual(await none.shutdown(), { written: 0, dropped: 0, undelivered: 0 });
});

test('an audit log that cannot be written counts its records as dropped, never written', { skip: !existsSync('/dev/full') }, async () => {
  const exe = new Execlave({ policies, auditLog: '/dev/full', flushIntervalMs: 60_000 });
  await refuse(exe, 4);
  assert.deepEqual(await exe.flush(), { written: 0, dropped: 4, undelivered: 0 });
  const s = exe.stats();
  assert.equal(s.recordsWritten, 0);
  assert.equal(s.recordsDropped, 4);
  await refuse(exe, 1);
  assert.deepEqual(await exe.shutdown(), { written: 0, dropped: 1, undelivered: 0 });
});

test('a failing audit log is said once per failure episode, without debug', { skip: !existsSync('/dev/full') }, () => {
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', `
    import { Execlave } from '@execlave/sdk';
    const exe = new Execlave({ policies: ${JSON.stringify(policies)}, auditLog: '/dev/full', flushIntervalMs: 60000 });
    for (let round = 0; round < 3; round++) {
      await exe.enforcePolicy({ agentId: 'ops-agent', tools: ['delete_all'] }).catch(() => {});
      console.log(JSON.stringify(await exe.flush()));
    }
    await exe.shutdown();
  `], { cwd: join(here, '..'), encoding: 'utf8', timeout: 20_000 });
  assert.equal(r.status, 0, r.stderr);
  const said = r.stderr.split('\n').filter((l) => l.includes('cannot write the audit log'));
  assert.equal(said.length, 1, r.stderr);
  assert.match(said[0], /recordsDropped/);
  assert.equal(r.stdout.trim().split('\n').map((l) => JSON.parse(l).dropped).join(), '1,1,1');
});

test('records shutdown cannot deliver are reported and counted in stats()', async () => {
  const cp = await startControlPlane({ policies });
  try {
    const exe = new Execlave({ apiKey: cp.apiKey, baseUrl: cp.url, flushIntervalMs: 60_000, shutdownTimeoutMs: 300 });
    await refuse(exe, 3);
    cp.setStatus('/api/v1/traces/ingest', 503);
    const report = await exe.shutdown();
    assert.equal(report.written, 0);
    assert.equal(report.undelivered, 3, JSON.stringify(report));
    assert.equal(exe.stats().recordsUndelivered, 3);
  } finally {
    await cp.close();
  }
});

test('a model-chosen 1 MiB tool name neither bloats records nor erases its neighbours on a 413 (issue 18 item 11)', async () => {
  // The test control plane answers 413 to bodies over maxBodyBytes.
  const cp = await startControlPlane({ policies, maxBodyBytes: 64 * 1024 });
  const log = join(tempDir(), 'audit.jsonl');
  try {
    const exe = new Execlave({ apiKey: cp.apiKey, baseUrl: cp.url, auditLog: log, flushIntervalMs: 60_000, batchSize: 100 });
    const huge = `delete_${'x'.repeat(1 << 20)}`;
    for (let i = 0; i < 20; i++) await assert.rejects(exe.enforcePolicy({ agentId: 'ops-agent', tools: [`delete_${i}`] }));
    for (let i = 0; i < 2; i++) await assert.rejects(exe.enforcePolicy({ agentId: 'ops-agent', tools: [huge] }));
    for (let i = 20; i < 40; i++) await assert.rejects(exe.enforcePolicy({ agentId: 'ops-agent', tools: [`delete_${i}`] }));
    const report = await exe.flush();
    assert.deepEqual(report, { written: 42, dropped: 0, undelivered: 0 });
    assert.equal(cp.traces.length, 42, 'every refusal reached the control plane');
    assert.ok(cp.requests.some((r) => r.path === '/api/v1/traces/ingest' && r.status === 413), 'a 413 was met');
    const lines = readFileSync(log, 'utf8').trim().split('\n');
    assert.equal(lines.length, 42);
    for (const line of lines) assert.ok(line.length < 48 * 1024, `a record of ${line.length} bytes`);
    await exe.shutdown();
  } finally {
    await cp.close();
  }
});
