// The shared decision cases (__test__/data/decision-cases.json), which the
// Python suite runs too (python/tests/test_decision_cases.py): the two hosts
// stand on one core and must decide alike.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Execlave, PolicyBlockedError } from '@execlave/sdk';

const { cases } = JSON.parse(readFileSync(new URL('./data/decision-cases.json', import.meta.url), 'utf8'));

/** A case's arguments; `nestedDepth` adds a list nested that deep (JSON cannot spell it briefly). */
function argumentsOf(call) {
  if (call.nestedDepth === undefined) return call.arguments;
  let deep = [];
  for (let i = 1; i < call.nestedDepth; i++) deep = [deep];
  return { ...(call.arguments ?? { a: 'ok' }), deep };
}

const reasons = (list) => list.map((v) => [v.policyName, v.rule]);

for (const c of cases) {
  test(`decision case: ${c.name}`, async () => {
    const exe = new Execlave({ policies: c.policies });
    try {
      for (const call of c.calls) {
        const what = `${call.tool} ${JSON.stringify(call.arguments ?? null)}`;
        const request = {
          agentId: c.agentId ?? 'ops-agent',
          tools: [call.tool],
          arguments: argumentsOf(call),
        };
        let result;
        let blocked;
        try {
          result = await exe.enforcePolicy(request);
        } catch (err) {
          if (!(err instanceof PolicyBlockedError)) throw err;
          blocked = err;
        }
        if (call.expect === 'block') {
          assert.ok(blocked, `${what}: expected a block`);
          assert.deepEqual(reasons(blocked.violations), call.reasons, what);
        } else {
          assert.equal(blocked, undefined, `${what}: expected ${call.expect}, got ${blocked?.message}`);
          const expected = call.expect === 'warn' ? call.reasons : [];
          assert.deepEqual(reasons(result.warnings), expected, what);
        }
      }
    } finally {
      await exe.shutdown();
    }
  });
}
