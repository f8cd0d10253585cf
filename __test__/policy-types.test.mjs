// A typo in policyType cannot switch a local policy off (issue 10, item 9):
// without an API key the constructor throws, naming the file, the policy
// and the field, and saying that server-side types need an API key.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Execlave, ExeclaveError } from '@execlave/sdk';
import { tempDir } from './helpers/servers.mjs';

const guard = (policyType) => ({
  name: 'Guard',
  policyType,
  enforcementMode: 'block',
  ruleDefinition: { deny: ['write_file'] },
});

test('a local policy of another type throws in local mode, inline or from a file', () => {
  for (const type of ['tool-invocation', 'Tool_Invocation', 'rbac']) {
    assert.throws(
      () => new Execlave({ policies: [guard(type)] }),
      (e) => e instanceof ExeclaveError
        && e.message.includes('policy "Guard": policyType:')
        && e.message.includes('need an API key'),
      type,
    );
  }
  const file = join(tempDir(), 'guard.yaml');
  writeFileSync(file, 'name: Guard\npolicyType: tool-invocation\nenforcementMode: block\nruleDefinition:\n  deny: [write_file]\n');
  assert.throws(
    () => new Execlave({ policies: file }),
    (e) => e instanceof ExeclaveError && e.message.startsWith(`${file}: policy "Guard": policyType: `),
  );
});

test('tool_invocation itself still loads', async () => {
  const exe = new Execlave({ policies: [guard('tool_invocation')] });
  await exe.shutdown();
});
