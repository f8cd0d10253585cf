// How calls ended crosses into the core in batches, the record texts of a
// whole batch as one JSON text: each record must still get its own
// arguments, answer, error message and error type, exactly, whatever the
// other calls of its batch were.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { z } from 'zod';
import { Execlave } from '@execlave/sdk';
import { instrumentMcpClient } from '@execlave/sdk/integrations/mcp';
import { readAuditLog } from './helpers/audit-log.mjs';
import { inMemoryPair, tempDir } from './helpers/servers.mjs';
import { testPolicies } from './helpers/policies.mjs';

async function governedPair() {
  const pair = await inMemoryPair();
  const auditLog = join(tempDir(), 'audit.jsonl');
  const exe = new Execlave({ policies: testPolicies, auditLog });
  instrumentMcpClient(pair.client, exe, { agentId: 'ops-agent' });
  const records = async () => {
    await exe.flush();
    return readAuditLog(auditLog);
  };
  const close = async () => {
    await pair.close();
    await exe.shutdown();
  };
  return { client: pair.client, records, close };
}

/** A result schema whose parse answers `value` as the call's result. */
const answering = (value) => z.any().transform(() => value);

class QuotaError extends Error {
  name = 'QuotaError';
}

test('answered, isError and thrown calls of one batch each keep their own record texts', async () => {
  const { client, records, close } = await governedPair();
  try {
    // Sent together: they end in one turn, so they cross in one batch.
    // Texts JSON must escape, and one that is not valid Unicode.
    const texts = ['plain', 'quote " and \\ backslash', 'line\nbreak\u2028', 'lone \ud800 surrogate', 'é 日本'];
    const calls = [];
    texts.forEach((text, i) => {
      calls.push(client.callTool({ name: 'echo', arguments: { text } }));
      calls.push(client.callTool({ name: 'soft_fail', arguments: {} }));
      const boom = new QuotaError(`quota ${i} "used up"\n`);
      calls.push(
        client.callTool(
          { name: 'echo', arguments: { text: `thrown ${i}` } },
          z.any().transform(() => {
            throw boom;
          }),
        ),
      );
    });
    const settled = await Promise.allSettled(calls);
    const recs = await records();
    assert.equal(recs.length, settled.length);
    for (const [i, text] of texts.entries()) {
      const answered = recs.filter((r) => r.metadata.toolName === 'echo' && r.status === 'success');
      const rec = answered.find((r) => r.input === JSON.stringify({ text }));
      assert.ok(rec, `the record of echo ${JSON.stringify(text)}`);
      assert.equal(rec.output, JSON.stringify(settled[i * 3].value));

      const thrown = recs.find((r) => r.input === JSON.stringify({ text: `thrown ${i}` }));
      assert.equal(thrown.status, 'error');
      assert.equal(thrown.errorMessage, `quota ${i} "used up"\n`);
      assert.equal(thrown.errorType, 'QuotaError');
      assert.equal(thrown.output, undefined);
    }
    const soft = recs.filter((r) => r.metadata.toolName === 'soft_fail');
    assert.equal(soft.length, texts.length);
    for (const r of soft) {
      assert.equal(r.status, 'error');
      assert.equal(r.input, '{}');
      assert.equal(r.output, JSON.stringify({ content: [{ type: 'text', text: 'nope' }], isError: true }));
    }
  } finally {
    await close();
  }
});

test('an answer of no JSON form has no output in its record; an answer null has "null"', async () => {
  const { client, records, close } = await governedPair();
  try {
    const send = (text, value) =>
      client.request({ method: 'tools/call', params: { name: 'echo', arguments: { text } } }, answering(value));
    assert.equal(await send('undefined', undefined), undefined);
    assert.equal(await send('null', null), null);
    assert.equal(typeof (await send('function', () => 1)), 'function');
    const recs = await records();
    const byText = Object.fromEntries(recs.map((r) => [JSON.parse(r.input).text, r]));
    assert.equal(recs.length, 3);
    assert.ok(!('output' in byText.undefined), 'no output for undefined');
    assert.ok(!('output' in byText.function), 'no output for a function');
    assert.equal(byText.null.output, 'null');
    for (const r of recs) assert.equal(r.status, 'success');
  } finally {
    await close();
  }
});
