// Record text is bounded once, in the core: a result or arguments over
// 8 KiB are cut there, and the record says how long they were in all.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Execlave } from '@execlave/sdk';
import { instrumentMcpClient } from '@execlave/sdk/integrations/mcp';
import { inMemoryPair, tempDir } from './helpers/servers.mjs';
import { testPolicies } from './helpers/policies.mjs';

test('an output over 8 KiB is cut once and says its true length', async () => {
  const pair = await inMemoryPair();
  const auditLog = join(tempDir(), 'audit.jsonl');
  const exe = new Execlave({ policies: testPolicies, auditLog });
  instrumentMcpClient(pair.client, exe, { agentId: 'ops-agent' });
  try {
    // Multi-byte characters: characters and bytes differ, as in real text.
    const text = 'é'.repeat(20_000);
    const result = await pair.client.callTool({ name: 'echo', arguments: { text } });
    await exe.flush();
    const rec = JSON.parse(readFileSync(auditLog, 'utf8').trim().split('\n').at(-1));
    const fullOutput = Buffer.byteLength(JSON.stringify(result));
    const fullInput = Buffer.byteLength(JSON.stringify({ text }));
    assert.match(rec.output, new RegExp(`…\\[truncated, ${fullOutput} bytes in all\\]$`));
    assert.match(rec.input, new RegExp(`…\\[truncated, ${fullInput} bytes in all\\]$`));
    assert.equal((rec.output.match(/truncated/g) ?? []).length, 1, 'cut once');
    assert.ok(Buffer.byteLength(rec.output) < 8 * 1024 + 64);
  } finally {
    await pair.close();
    await exe.shutdown();
  }
});
