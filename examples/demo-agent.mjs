// The demo agent: a real MCP filesystem server over stdio, governed by
// @execlave/sdk with the example policy file. No account, no network.
//
//   npm run demo                     local mode: policies from the example file
//   npm run demo -- --control-plane  the same policies served by the project's
//                                    test control plane on loopback; records go there

import { mkdtempSync, mkdirSync, writeFileSync, existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { Execlave, EnforcementHaltError } from '@execlave/sdk';
import { instrumentMcpClient } from '@execlave/sdk/integrations/mcp';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);

// A sandbox the filesystem server may touch: data/ (readable, out/ writable)
// and secrets/ (inside the server's reach, but off limits by policy).
const sandbox = mkdtempSync(join(tmpdir(), 'execlave-demo-'));
mkdirSync(join(sandbox, 'data', 'out', 'published'), { recursive: true });
mkdirSync(join(sandbox, 'secrets'));
writeFileSync(join(sandbox, 'data', 'notes.txt'), 'Quarterly numbers are in.\n');
writeFileSync(join(sandbox, 'secrets', 'api-key.txt'), 'sk-not-for-agents\n');
const auditLog = join(sandbox, 'audit.jsonl');

// Writes under data/out/published/ need a human's approval (the policy
// "Publishing needs a human", require_approval). A real app would pass
// `terminalApprover()` or post to Slack; the demo's scripted approver says
// yes to a final report and no to a draft, so that it runs unattended.
const approved = [];
const approver = async ({ tool, arguments: args }) => {
  const ok = !String(args.content).includes('DRAFT');
  approved.push(`${tool} ${args.path.split('/').pop()}: ${ok ? 'approved' : 'refused'}`);
  return ok ? { approved: true } : { approved: false, reason: 'drafts are not published' };
};

const policyFile = join(here, 'policies', 'filesystem.json');
const useControlPlane = process.argv.includes('--control-plane');
let controlPlane = null;
let exe;
if (useControlPlane) {
  const { startControlPlane } = await import('../test-control-plane/index.mjs');
  controlPlane = await startControlPlane({ policies: JSON.parse(readFileSync(policyFile, 'utf8')) });
  // Served by the control plane, the approval policy is the service's:
  // enforce answers 202, a person approves there (scripted here), and the
  // SDK polls, then verifies the certificate before the call goes ahead.
  controlPlane.onEnforce((body) => {
    const path = String(body.metadata?.toolArguments?.path ?? '');
    if (!path.includes('/published/')) return undefined;
    const id = `apr_${path.split('/').pop()}`;
    const ok = !String(body.metadata.toolArguments.content).includes('DRAFT');
    controlPlane.approval(id, { pendingPolls: 1, then: ok ? 'approved' : 'denied', reason: ok ? undefined : 'drafts are not published' });
    approved.push(`write_file ${path.split('/').pop()}: ${ok ? 'approved' : 'refused'} (on the control plane)`);
    return { status: 202, body: { approvalRequestId: id } };
  });
  exe = new Execlave({ apiKey: controlPlane.apiKey, baseUrl: controlPlane.url, auditLog, approvalPollIntervalMs: 100 });
  console.log(`control plane: ${controlPlane.url} (test control plane on loopback)\n`);
} else {
  exe = new Execlave({ policies: policyFile, auditLog, approver });
}

const serverEntry = require.resolve('@modelcontextprotocol/server-filesystem/dist/index.js');
const client = new Client({ name: 'demo-agent', version: '1.0.0' });
instrumentMcpClient(client, exe, { agentId: 'ops-agent' });
await client.connect(
  new StdioClientTransport({ command: process.execPath, args: [serverEntry, sandbox], stderr: 'ignore' }),
);

const data = join(sandbox, 'data');
const steps = [
  ['list the sandbox roots', 'list_allowed_directories', {}],
  ['read a data file', 'read_text_file', { path: join(data, 'notes.txt') }],
  ['write a report', 'write_file', { path: join(data, 'out', 'report.txt'), content: 'ok\n' }],
  ['look at the tree (warn policy)', 'directory_tree', { path: data }],
  ['move a file (denied tool)', 'move_file', { source: join(data, 'notes.txt'), destination: join(data, 'x.txt') }],
  ['make a directory (not on the allowlist)', 'create_directory', { path: join(data, 'new') }],
  ['read /etc/passwd (outside the tree)', 'read_text_file', { path: '/etc/passwd' }],
  ['read a secret through ..', 'read_text_file', { path: join(data, '..', 'secrets', 'api-key.txt') }],
  ['write outside out/', 'write_file', { path: join(sandbox, 'secrets', 'pwned.txt'), content: 'x' }],
  ['publish the report (needs approval)', 'write_file', { path: join(data, 'out', 'published', 'report.txt'), content: 'final\n' }],
  ['publish a draft (needs approval)', 'write_file', { path: join(data, 'out', 'published', 'draft.txt'), content: 'DRAFT\n' }],
];

const rows = [];
for (const [what, tool, args] of steps) {
  try {
    const result = await client.callTool({ name: tool, arguments: args });
    const text = result.content?.[0]?.text ?? '';
    rows.push([what, tool, result.isError ? 'tool error' : 'allowed', firstLine(text)]);
  } catch (err) {
    if (!(err instanceof EnforcementHaltError)) throw err;
    const why = err.violations ? err.violations.map((v) => `${v.rule}: ${v.message}`).join('; ') : err.message;
    rows.push([what, tool, err.name === 'PolicyBlockedError' ? 'BLOCKED' : `REFUSED (${err.name})`, why]);
  }
}

await client.close();
await exe.shutdown();

// The audit log holds one record per call, in call order: use it to show
// which allowed calls carried warnings.
const records = readFileSync(auditLog, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
records.forEach((rec, i) => {
  if (rec.metadata.approval?.outcome === 'granted') rows[i][2] = `allowed, approved (${rec.metadata.approval.id})`;
  if (rec.metadata.decision === 'warned') {
    rows[i][2] = 'allowed, warned';
    rows[i][3] = rec.metadata.warnings.map((w) => w.message).join('; ');
  }
});

printTable(['what the agent tried', 'tool', 'outcome', 'why / result'], rows);
const stats = exe.stats();
console.log(
  `\n${stats.decisions} decisions: ${stats.allowed} allowed (${stats.warned} with warnings), ${stats.blocked} blocked.`,
);
console.log(`secrets/pwned.txt exists after the blocked write: ${existsSync(join(sandbox, 'secrets', 'pwned.txt'))}`);
console.log(`data/new exists after the blocked mkdir: ${existsSync(join(data, 'new'))}`);
console.log(`approver: ${approved.join('; ')}`);
console.log(`published/report.txt exists after its approval: ${existsSync(join(data, 'out', 'published', 'report.txt'))}`);
console.log(`published/draft.txt exists after its refusal: ${existsSync(join(data, 'out', 'published', 'draft.txt'))}`);
console.log(`audit log (one record per call): ${auditLog}`);
if (controlPlane) {
  console.log(`control plane received ${controlPlane.traces.length} traces and ${controlPlane.requestsTo('/api/v1/policies', 'GET').length} policy fetches`);
  await controlPlane.close();
}

function firstLine(text) {
  const line = String(text).split('\n')[0];
  return line.length > 60 ? `${line.slice(0, 57)}...` : line;
}

function printTable(header, body) {
  const widths = header.map((h, i) => Math.min(i === header.length - 1 ? 200 : 60, Math.max(h.length, ...body.map((r) => String(r[i]).length))));
  const fmt = (r) => r.map((c, i) => String(c).slice(0, widths[i]).padEnd(widths[i])).join(' | ');
  console.log(fmt(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('-+-'));
  for (const r of body) console.log(fmt(r));
}
