// Records at the rates users reach (issue 11): with an audit log and the
// default buffer, no record is lost through real MCP; and when the buffer
// does overflow, the user is told once on stderr, without `debug`: a
// silent gap in an audit trail is the worst kind. The rate a stub client
// reaches (100 000 calls/s paced, and unpaced) with no record dropped is a
// bench row (bench/records-rate.mjs), not a test: whether the writer keeps
// up depends on the machine's load, and tests are never timed.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Execlave } from '@execlave/sdk';
import { instrumentMcpClient } from '@execlave/sdk/integrations/mcp';
import { inMemoryPair, tempDir } from './helpers/servers.mjs';
import { testPolicies } from './helpers/policies.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

const denyPolicy = {
  name: 'G',
  policyType: 'tool_invocation',
  enforcementMode: 'block',
  ruleDefinition: { deny: ['delete_all'] },
};

function lineCount(path) {
  return readFileSync(path, 'utf8').split('\n').filter(Boolean).length;
}

test('through real MCP (in-memory transport), no record is dropped', async () => {
  const pair = await inMemoryPair();
  const auditLog = join(tempDir('execlave-rate-'), 'audit.jsonl');
  const exe = new Execlave({ policies: testPolicies, auditLog });
  const total = 5_000;
  try {
    instrumentMcpClient(pair.client, exe, { agentId: 'ops-agent' });
    // As fast as the client goes: waves of concurrent calls, not paced.
    for (let sent = 0; sent < total; sent += 500) {
      const wave = [];
      for (let i = sent; i < sent + 500; i++) wave.push(pair.client.callTool({ name: 'echo', arguments: { text: `m${i}` } }));
      await Promise.all(wave);
    }
    await exe.flush();
    const s = exe.stats();
    assert.equal(s.recordsDropped, 0, 'records were dropped');
    assert.equal(s.recordsWritten, total);
    assert.equal(pair.ran.echo, total);
  } finally {
    await pair.close();
    await exe.shutdown();
  }
  const lines = readFileSync(auditLog, 'utf8').trim().split('\n');
  assert.equal(lines.length, total);
  // Every call has its own record, not one written twice and one lost.
  const inputs = new Set(lines.map((l) => JSON.parse(l).input));
  assert.equal(inputs.size, total);
});

test('when the buffer overflows, the first drop is said once on stderr, without debug', () => {
  const auditLog = join(tempDir('execlave-rate-'), 'audit.jsonl');
  // A 10-record buffer and an interval no test reaches: 50 calls must drop
  // 40 records before anything is delivered.
  const script = `
    import { Execlave } from '@execlave/sdk';
    import { instrumentMcpClient } from '@execlave/sdk/integrations/mcp';
    const exe = new Execlave({ policies: [${JSON.stringify(denyPolicy)}], auditLog: ${JSON.stringify(auditLog)}, bufferSize: 10, flushIntervalMs: 600000 });
    const client = instrumentMcpClient({ callTool: () => Promise.resolve({ content: [] }) }, exe, { agentId: 'ops-agent' });
    for (let i = 0; i < 50; i++) await client.callTool({ name: 'read_file', arguments: { path: '/srv/' + i } });
    console.log(JSON.stringify(exe.stats()));
    await exe.shutdown();
  `;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: root, timeout: 30_000, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const stats = JSON.parse(r.stdout);
  assert.equal(stats.recordsDropped, 40);
  const said = r.stderr.split('\n').filter((l) => l.includes('[execlave]') && l.includes('dropped'));
  assert.equal(said.length, 1, `expected one line about dropped records on stderr, got:\n${r.stderr}`);
  assert.match(said[0], /record buffer is full \(bufferSize 10\)/);
  assert.match(said[0], /recordsDropped/);
  assert.equal(lineCount(auditLog), 10, 'the newest 10 records are kept and written at shutdown');
});
