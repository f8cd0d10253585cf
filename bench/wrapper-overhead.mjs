// The wrapper's own cost, without MCP: a stub client whose callTool returns
// at once, bare and governed, interleaved in one process. What the governed
// figure adds over the bare one is everything the SDK does per call (check,
// snapshot, decision in Rust, record). Part of `npm run bench`.

import { join } from 'node:path';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { Execlave } from '@execlave/sdk';
import { instrumentMcpClient } from '@execlave/sdk/integrations/mcp';

const CALLS = 20_000;
const ROUNDS = 21;
const policies = [
  { name: 'G', policyType: 'tool_invocation', enforcementMode: 'block', ruleDefinition: { allow: ['echo'], deny: ['delete_*'] } },
];
const result = { content: [{ type: 'text', text: 'hello' }] };
const stub = () => ({
  async callTool() {
    return result;
  },
  async request() {
    return result;
  },
});

const dir = mkdtempSync(join(tmpdir(), 'execlave-bench-'));
const exes = [new Execlave({ policies }), new Execlave({ policies, auditLog: join(dir, 'audit.jsonl') })];
const variants = [
  ['stub callTool, bare', stub()],
  ['governed, no record sink', instrumentMcpClient(stub(), exes[0], { agentId: 'ops-agent' })],
  ['governed, records to audit log', instrumentMcpClient(stub(), exes[1], { agentId: 'ops-agent' })],
];

const samples = variants.map(() => []);
for (let r = 0; r < ROUNDS; r++) {
  for (const [i, [, client]] of variants.entries()) {
    const t0 = process.hrtime.bigint();
    for (let k = 0; k < CALLS; k++) await client.callTool({ name: 'echo', arguments: { text: 'hello' } });
    samples[i].push(Number(process.hrtime.bigint() - t0) / CALLS / 1000);
  }
}
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
console.log(`\nwrapper overhead: ${ROUNDS} rounds × ${CALLS} calls, stub client (no MCP), median µs per call`);
const bare = median(samples[0]);
variants.forEach(([name], i) => {
  const us = median(samples[i]);
  console.log(name.padEnd(48), us.toFixed(2).padStart(8), i === 0 ? '' : `  (+${(us - bare).toFixed(2)} µs)`);
});
for (const exe of exes) await exe.shutdown();
