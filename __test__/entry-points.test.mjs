// ESM and CommonJS entry points share one set of classes; the types check
// under NodeNext; errors from the constructor name what is wrong.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { execFileSync } from 'node:child_process';
import { writeFileSync, mkdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esm from '@execlave/sdk';
import * as esmMcp from '@execlave/sdk/integrations/mcp';
import { tempDir } from './helpers/servers.mjs';

const require = createRequire(import.meta.url);
const root = join(dirname(fileURLToPath(import.meta.url)), '..');

const names = [
  'Execlave',
  'ExeclaveError',
  'ExeclaveAuthError',
  'EnforcementHaltError',
  'PolicyBlockedError',
  'AgentPausedError',
  'EnforcementUnavailableError',
];

test('ESM and CJS export the same classes', () => {
  const cjs = require('@execlave/sdk');
  for (const n of names) {
    assert.equal(typeof esm[n], 'function', n);
    assert.equal(esm[n], cjs[n], n);
  }
  assert.equal(esmMcp.instrumentMcpClient, require('@execlave/sdk/integrations/mcp').instrumentMcpClient);
});

test('error hierarchy as the official SDK has it', () => {
  const { ExeclaveError, ExeclaveAuthError, EnforcementHaltError, PolicyBlockedError, AgentPausedError, EnforcementUnavailableError } =
    esm;
  assert.ok(new ExeclaveAuthError('x') instanceof ExeclaveError);
  for (const E of [PolicyBlockedError, AgentPausedError, EnforcementUnavailableError]) {
    const e = new E('x');
    assert.ok(e instanceof EnforcementHaltError && e instanceof ExeclaveError && e instanceof Error);
  }
  const paused = new AgentPausedError('ops-agent', 'incident 42');
  assert.equal(paused.agentId, 'ops-agent');
  assert.equal(paused.reason, 'incident 42');
});

test('a PolicyBlockedError thrown through the CJS entry is an instance of the ESM class', async () => {
  const cjs = require('@execlave/sdk');
  const exe = new cjs.Execlave({
    policies: [{ name: 'No', policyType: 'tool_invocation', enforcementMode: 'block', ruleDefinition: { deny: ['*'] } }],
  });
  await assert.rejects(exe.enforcePolicy({ agentId: 'a', tools: ['t'] }), esm.PolicyBlockedError);
  await exe.shutdown();
});

test('constructor errors say what to set', () => {
  const saved = { ...process.env };
  delete process.env.EXECLAVE_API_KEY;
  delete process.env.EXECLAVE_POLICY_PATH;
  try {
    assert.throws(() => new esm.Execlave(), (e) => e instanceof esm.ExeclaveError && /EXECLAVE_API_KEY/.test(e.message));
    assert.throws(
      () => new esm.Execlave({ policies: [{ name: 'Bad', policyType: 'tool_invocation', enforcementMode: 'block', ruleDefinition: { arguments: [{ tools: ['x'], argument: 'p', kind: 'paht' }] } }] }),
      (e) => e instanceof esm.ExeclaveError && /Bad/.test(e.message) && /kind/.test(e.message),
    );
    const dir = tempDir();
    const file = join(dir, 'broken.yaml');
    writeFileSync(file, '- name: Broken\n  policyType: tool_invocation\n  enforcementMode: blok\n');
    assert.throws(
      () => new esm.Execlave({ policies: file }),
      (e) => e instanceof esm.ExeclaveError && e.message.includes('broken.yaml') && /Broken/.test(e.message) && /enforcementMode/.test(e.message),
    );
    process.env.EXECLAVE_POLICY_PATH = file;
    assert.throws(() => new esm.Execlave(), (e) => e.message.includes('broken.yaml'));
    assert.throws(() => new esm.Execlave({ policies: 42 }), /policies must be/);
    assert.throws(() => new esm.Execlave({ policies: [], environment: 'prod' }), /environment/);
    assert.throws(() => new esm.Execlave({ policies: [], auditLog: '/nonexistent-dir/x/a.jsonl' }), /audit log/);
  } finally {
    process.env = saved;
  }
});

test('TypeScript: a typed example checks under NodeNext', () => {
  const dir = join(tempDir('execlave-tsc-'));
  mkdirSync(join(dir, 'node_modules', '@execlave'), { recursive: true });
  // Resolve the package the way a user's project does: through node_modules.
  execFileSync('ln', ['-s', root, join(dir, 'node_modules', '@execlave', 'sdk')]);
  execFileSync('ln', ['-s', join(root, 'node_modules', '@modelcontextprotocol'), join(dir, 'node_modules', '@modelcontextprotocol')]);
  execFileSync('ln', ['-s', join(root, 'node_modules', '@types'), join(dir, 'node_modules', '@types')]);
  execFileSync('ln', ['-s', join(root, 'node_modules', 'zod'), join(dir, 'node_modules', 'zod')]);
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'typed', type: 'module' }));
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', strict: true, noEmit: true, skipLibCheck: true, types: ['node'] },
      files: ['agent.ts', 'agent.cts', 'agent-v2.ts', 'agent-v2.cts'],
    }),
  );
  const source = (imp) => `${imp}
const exe = new Execlave({ policies: [{ name: 'G', policyType: 'tool_invocation', enforcementMode: 'block', ruleDefinition: { allow: ['echo'] } }], environment: 'staging' });
const client = new Client({ name: 'typed', version: '1.0.0' });
const same: Client = instrumentMcpClient(client, exe, { agentId: 'ops-agent', sessionId: 's' });
async function main(): Promise<void> {
  try {
    await same.callTool({ name: 'echo', arguments: { text: 'x' } });
  } catch (err) {
    if (err instanceof PolicyBlockedError) {
      const v: Violation[] = err.violations;
      console.log(v[0]?.policyName, v[0]?.rule);
    }
  }
  const s: ExeclaveStats = exe.stats();
  console.log(s.blocked);
  await exe.shutdown();
}
void main;
`;
  writeFileSync(
    join(dir, 'agent.ts'),
    source(`import { Execlave, PolicyBlockedError, type Violation, type ExeclaveStats } from '@execlave/sdk';
import { instrumentMcpClient } from '@execlave/sdk/integrations/mcp';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';`),
  );
  writeFileSync(
    join(dir, 'agent.cts'),
    source(`import { Execlave, PolicyBlockedError, type Violation, type ExeclaveStats } from '@execlave/sdk';
import { instrumentMcpClient } from '@execlave/sdk/integrations/mcp';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';`),
  );
  // The 2.x SDK's Client (@modelcontextprotocol/client), with the listing
  // and in-band options.
  const v2 = (imp) =>
    source(imp)
      .replace("{ agentId: 'ops-agent', sessionId: 's' }", "{ agentId: 'ops-agent', sessionId: 's', hideBlockedTools: true, onBlock: 'result' }")
      .replace('const s: ExeclaveStats = exe.stats();', 'const s: ExeclaveStats = exe.stats();\n  console.log(s.toolsHidden, (await same.listTools()).tools.length);');
  const v2Imports = `import { Execlave, PolicyBlockedError, type Violation, type ExeclaveStats } from '@execlave/sdk';
import { instrumentMcpClient } from '@execlave/sdk/integrations/mcp';
import { Client } from '@modelcontextprotocol/client';`;
  writeFileSync(join(dir, 'agent-v2.ts'), v2(v2Imports));
  writeFileSync(join(dir, 'agent-v2.cts'), v2(v2Imports));
  writeFileSync(join(dir, 'wrong.ts'), `import { Execlave } from '@execlave/sdk';\nnew Execlave({ environment: 'prod' });\n`);
  // Issue 19: no index signatures on policies, so a typo is a type error.
  writeFileSync(
    join(dir, 'wrong-policy.ts'),
    `import { Execlave } from '@execlave/sdk';
new Execlave({ policies: [{ name: 'G', policyType: 'tool_invocation', enforcementMode: 'block', ruleDefinition: { denny: ['write_file'] } }] });
`,
  );
  writeFileSync(
    join(dir, 'wrong-on-block.ts'),
    `import { Execlave } from '@execlave/sdk';
import { instrumentMcpClient } from '@execlave/sdk/integrations/mcp';
import { Client } from '@modelcontextprotocol/client';
instrumentMcpClient(new Client({ name: 'x', version: '1' }), new Execlave(), { agentId: 'a', onBlock: 'ignore' });
`,
  );
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  execFileSync(process.execPath, [tsc, '-p', dir], { stdio: 'pipe' });
  // And the types do catch mistakes.
  for (const wrong of ['wrong.ts', 'wrong-on-block.ts', 'wrong-policy.ts']) {
    assert.throws(
      () =>
        execFileSync(
          process.execPath,
          [tsc, '--module', 'NodeNext', '--moduleResolution', 'NodeNext', '--noEmit', '--strict', '--skipLibCheck', '--types', 'node', join(dir, wrong)],
          { stdio: 'pipe' },
        ),
      (err) =>
        /error TS/.test(String(err.stdout)) &&
        (wrong !== 'wrong-on-block.ts' || /onBlock|"ignore"/.test(String(err.stdout))) &&
        (wrong !== 'wrong-policy.ts' || /denny/.test(String(err.stdout))),
      wrong,
    );
  }
});
