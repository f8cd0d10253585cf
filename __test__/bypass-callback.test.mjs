// An `onEnforcementBypassed` callback that fails, by throwing or by
// returning a promise that rejects, is the user's bug, not a reason to take
// the host down: the process runs on and the call's outcome stays what it
// was. Each case runs in its own Node process, where an unhandled rejection
// would end it with a non-zero status.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');

/**
 * Runs one governed call with fail_open while the control plane is down,
 * so the call is allowed as a bypass and the callback `callback` (source
 * text) is told. The child reports what it saw as JSON on stdout.
 */
function runWithCallback(callback, { debug = false } = {}) {
  const script = `
    import { Execlave } from '@execlave/sdk';
    import { instrumentMcpClient } from '@execlave/sdk/integrations/mcp';
    import { startControlPlane } from ${JSON.stringify(join(root, 'test-control-plane', 'index.mjs'))};
    import { inMemoryPair } from ${JSON.stringify(join(here, 'helpers', 'servers.mjs'))};
    const cp = await startControlPlane({ policies: [] });
    await cp.stop();
    let told = 0;
    const exe = new Execlave({
      apiKey: cp.apiKey,
      baseUrl: cp.url,
      firstSyncTimeoutMs: 300,
      requestTimeoutMs: 300,
      debug: ${debug},
      onEnforcementBypassed: (${callback}),
    });
    const p = await inMemoryPair();
    instrumentMcpClient(p.client, exe, { agentId: 'ops-agent' });
    const r = await p.client.callTool({ name: 'noop' });
    const second = await p.client.callTool({ name: 'noop' });
    // Let a stray rejection of the callback's promise surface, if any.
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    const report = { told, ran: p.ran.noop, text: r.content[0].text, second: second.content[0].text, bypassed: exe.stats().bypassed };
    await p.close();
    await exe.shutdown();
    await cp.close();
    console.log(JSON.stringify(report));
  `;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: root, timeout: 20_000, encoding: 'utf8' });
  assert.equal(r.error, undefined, 'the process did not exit by itself');
  assert.equal(r.status, 0, `the host process failed:\n${r.stderr}`);
  return { ...JSON.parse(r.stdout.trim().split('\n').at(-1)), stderr: r.stderr };
}

const cases = [
  ['an async callback that throws', 'async () => { told++; throw new Error("callback failed"); }'],
  ['a callback that returns a rejected promise', '() => { told++; return Promise.reject(new Error("callback failed")); }'],
  ['a callback that rejects with a null-prototype object', '() => { told++; return Promise.reject(Object.create(null)); }'],
  ['a callback that returns a thenable whose then throws', '() => { told++; return { then() { throw new Error("then failed"); } }; }'],
  ['a callback that throws', '() => { told++; throw new Error("callback failed"); }'],
];

for (const [what, callback] of cases) {
  test(`${what} does not crash the host; the calls go on as fail_open decided`, () => {
    const seen = runWithCallback(callback);
    assert.equal(seen.told, 2, 'the callback was told of each bypass');
    assert.equal(seen.bypassed, 2);
    assert.equal(seen.ran, 2, 'both allowed calls reached the server');
    assert.equal(seen.text, 'ok');
    assert.equal(seen.second, 'ok');
  });
}

test('with debug on, a rejecting callback is reported, not fatal', () => {
  const seen = runWithCallback('async () => { told++; throw new Error("callback failed"); }', { debug: true });
  assert.equal(seen.told, 2);
  assert.equal(seen.ran, 2);
  assert.match(seen.stderr, /onEnforcementBypassed failed:.*callback failed/);
});
