// shutdown() lets the process exit on its own: no timer, socket or thread
// keeps Node alive afterwards, and what was buffered is on disk.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from './helpers/servers.mjs';

const here = dirname(fileURLToPath(import.meta.url));

/** Runs an ESM script in a child Node; fails if it does not exit by itself. */
function runScript(script) {
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    cwd: join(here, '..'),
    timeout: 20_000,
    encoding: 'utf8',
  });
  assert.equal(r.error, undefined, 'the process did not exit by itself');
  assert.equal(r.status, 0, r.stderr);
  return r;
}

test('a governed process exits by itself after shutdown, with every record written', () => {
  const log = join(tempDir(), 'audit.jsonl');
  const script = `
    import { Execlave } from '@execlave/sdk';
    import { instrumentMcpClient } from '@execlave/sdk/integrations/mcp';
    import { inMemoryPair } from ${JSON.stringify(join(here, 'helpers', 'servers.mjs'))};
    const exe = new Execlave({ policies: [{ name: 'G', policyType: 'tool_invocation', enforcementMode: 'block', ruleDefinition: { deny: ['delete_all'] } }], auditLog: ${JSON.stringify(log)}, flushIntervalMs: 60000 });
    const p = await inMemoryPair();
    instrumentMcpClient(p.client, exe, { agentId: 'ops-agent' });
    for (let i = 0; i < 25; i++) await p.client.callTool({ name: 'noop' });
    await p.client.callTool({ name: 'delete_all' }).catch(() => {});
    await p.close();
    await exe.shutdown();
    console.log('done');
  `;
  assert.match(runScript(script).stdout, /done/);
  const lines = readFileSync(log, 'utf8').trim().split('\n');
  assert.equal(lines.length, 26);
});

test('a client that is never shut down does not keep the process alive either', () => {
  const script = `
    import { Execlave } from '@execlave/sdk';
    const exe = new Execlave({ policies: [], auditLog: ${JSON.stringify(join(tempDir(), 'b.jsonl'))} });
    await exe.enforcePolicy({ agentId: 'a', tools: ['t'] });
    console.log('end of script');
  `;
  runScript(script);
});
