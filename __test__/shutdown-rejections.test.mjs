// A call cut short by shutdown() is refused with the shut-down
// ExeclaveError, however it was cut short: answered "closed" by the core,
// or its task dropped with the core's runtime (a napi rejection with code
// `Closing`, which must never reach the caller as a plain Error). Real
// control plane on loopback, its enforce endpoint hanging; many calls in
// flight so that some are still queued when the runtime stops.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Execlave, ExeclaveError, EnforcementUnavailableError } from '@execlave/sdk';
import { startControlPlane } from '../test-control-plane/index.mjs';

const contentPolicy = { id: 'pol_pii', name: 'PII filter', policyType: 'content_filter', enforcementMode: 'block', appliesToAgents: ['ops-agent'], ruleDefinition: {} };

test('every call in flight at shutdown gets the shut-down ExeclaveError, never a plain Error', async () => {
  for (let round = 0; round < 3; round++) {
    const cp = await startControlPlane({ policies: [contentPolicy] });
    const exe = new Execlave({ apiKey: cp.apiKey, baseUrl: cp.url, enforcementOnOutage: 'fail_open', shutdownTimeoutMs: 0, requestTimeoutMs: 5000 });
    try {
      await exe.enforcePolicy({ agentId: 'ops-agent', tools: ['noop'] }); // synced
      cp.hang({ match: '/api/v1/policies/enforce' });
      const calls = [];
      for (let i = 0; i < 300; i++) {
        calls.push(exe.enforcePolicy({ agentId: 'ops-agent', tools: ['x'] }).then(() => 'allowed', (e) => e));
      }
      await cp.waitFor(() => cp.hungCount >= 1);
      await exe.shutdown();
      for (const r of await Promise.all(calls)) {
        assert.notEqual(r, 'allowed', 'shutdown never allows');
        assert.ok(r instanceof ExeclaveError, `a plain error reached the caller: ${r?.code} ${r?.message}`);
        assert.ok(!(r instanceof EnforcementUnavailableError), String(r));
        assert.match(r.message, /shut down/);
      }
      assert.equal(exe.stats().bypassed, 0);
    } finally {
      await exe.shutdown();
      await cp.close();
    }
  }
});
