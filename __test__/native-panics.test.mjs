// A panic in the native code becomes a JS error, never an abort of the
// host process: in a plain export, and in a future on the core's runtime
// (with and without a runtime running). The panicking exports are hidden,
// test-only ones.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { tempDir } from './helpers/servers.mjs';

const require = createRequire(import.meta.url);
const native = require('../native.js');

const local = JSON.stringify({ policies: [] });
const withAuditLog = JSON.stringify({ policies: [], auditLog: join(tempDir(), 'audit.jsonl') });

test('a panic in an export is thrown as an error', () => {
  assert.throws(() => native.__panic(), (e) => e instanceof Error && /deliberate panic/.test(e.message));
  // The process and the addon go on working.
  assert.equal(typeof native.clockMs(), 'number');
});

for (const [name, options] of [
  ['without a runtime', local],
  ['on the core runtime', withAuditLog],
]) {
  test(`a panic in a future rejects its promise (${name})`, async () => {
    const g = new native.NativeGovernor(options);
    await assert.rejects(g.__panicInFuture(), (e) => e instanceof Error && /deliberate panic/.test(e.message));
    // The governor still works after it.
    const slot = g.registerAgent('ops-agent', null, null, true);
    assert.equal(typeof native.decide(slot, 0, 'echo', null, true, false), 'number');
    await g.flush();
    await g.shutdown(1000);
  });
}
