// npm run bench: what governance adds to a callTool, measured side by side.
//
// Each variant has its own real MCP Client and in-process server over
// InMemoryTransport. Variants run interleaved in batches (A B C A B C …) so
// that a noisy neighbour slows them alike; each batch gives a mean per call,
// each variant's figure is the median over its batches, and the ratios are
// taken within one run. Several runs, and the median ratio is reported.

import { join } from 'node:path';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import { Execlave } from '@execlave/sdk';
import { instrumentMcpClient } from '@execlave/sdk/integrations/mcp';
import { startControlPlane } from '../test-control-plane/index.mjs';

const args = new Map(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=')));
const RUNS = Number(args.get('runs') ?? 5);
const BATCHES = Number(args.get('batches') ?? 30);
const BATCH = Number(args.get('batch') ?? 200);
const WARMUP = 2000;

/** A realistic organisation: 24 policies, most of them about other agents or tools. */
function realisticPolicies() {
  const policies = [
    {
      id: 'pol_ops',
      name: 'Ops allowlist',
      policyType: 'tool_invocation',
      enforcementMode: 'block',
      appliesToAgents: ['ops-agent'],
      ruleDefinition: {
        allow: ['echo', 'read_*', 'list_*', 'search_*', 'get_*'],
        deny: ['delete_*', 'drop_*', 'write_file', 'move_file'],
        arguments: [
          { tools: ['read_*', 'list_*'], argument: 'path', kind: 'path', allow: ['/srv/data/**'], deny: ['/etc/**', '**/.ssh/**'] },
          { tools: ['search_*'], argument: 'query', kind: 'regex', deny: ['(?i)password', 'api[_-]?key'] },
          { tools: ['get_*'], argument: '/page/size', kind: 'number', max: 500 },
        ],
      },
    },
    {
      id: 'pol_watch',
      name: 'Ops watch',
      policyType: 'tool_invocation',
      enforcementMode: 'warn',
      ruleDefinition: { deny: ['list_directory_with_sizes'] },
    },
  ];
  for (let i = 0; i < 22; i++) {
    policies.push({
      id: `pol_team_${i}`,
      name: `Team ${i} guard`,
      policyType: 'tool_invocation',
      enforcementMode: i % 3 === 0 ? 'warn' : 'block',
      appliesToAgents: [`team-${i}-agent`],
      ruleDefinition: {
        allow: [`tool_${i}_*`, 'echo', 'search_*'],
        deny: [`tool_${i}_delete`],
        arguments: [{ tools: [`tool_${i}_*`], argument: 'path', kind: 'path', allow: [`/srv/team-${i}/**`] }],
      },
    });
  }
  return policies;
}

async function pair() {
  const server = new McpServer({ name: 'bench', version: '1.0.0' });
  server.registerTool('echo', { inputSchema: { text: z.string() } }, async ({ text }) => ({
    content: [{ type: 'text', text }],
  }));
  const [c, s] = InMemoryTransport.createLinkedPair();
  await server.connect(s);
  const client = new Client({ name: 'bench', version: '1.0.0' });
  await client.connect(c);
  return client;
}

const dir = mkdtempSync(join(tmpdir(), 'execlave-bench-'));
const policies = realisticPolicies();
const variants = [
  { name: 'bare callTool', client: await pair() },
  // The same bare call on a second client: its ratio is the noise floor of
  // this measurement on this machine (ideally 1.000).
  { name: 'bare callTool, second client (A/A control)', client: await pair(), bare: true },
  {
    name: 'governed (24 policies, records to audit log)',
    exe: new Execlave({ policies, auditLog: join(dir, 'audit.jsonl') }),
  },
  {
    name: 'governed + argument rule on the tool',
    exe: new Execlave({
      policies: [
        ...policies,
        {
          id: 'pol_echo',
          name: 'Echo content',
          policyType: 'tool_invocation',
          enforcementMode: 'block',
          ruleDefinition: { arguments: [{ tools: ['echo'], argument: 'text', kind: 'regex', deny: ['(?i)secret'] }] },
        },
      ],
      auditLog: join(dir, 'audit2.jsonl'),
    }),
  },
];
// The official SDK's way: one round trip to the control plane per call
// (here the test control plane on loopback, the best case for it).
const cp = await startControlPlane({ policies });
variants.push({
  name: "governed, enforcement: 'remote' (loopback)",
  exe: new Execlave({ apiKey: cp.apiKey, baseUrl: cp.url, enforcement: 'remote', flushIntervalMs: 1000 }),
});
for (const v of variants.filter((x) => x.exe)) {
  v.client = instrumentMcpClient(await pair(), v.exe, { agentId: 'ops-agent' });
}

const call = (client) => client.callTool({ name: 'echo', arguments: { text: 'hello' } });

async function batchMeanUs(client, n) {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await call(client);
  return Number(process.hrtime.bigint() - t0) / 1000 / n;
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

for (const v of variants) await batchMeanUs(v.client, WARMUP);

const runs = [];
for (let r = 0; r < RUNS; r++) {
  const samples = variants.map(() => []);
  for (let b = 0; b < BATCHES; b++) {
    // Rotate the order so that no variant always runs first or last.
    for (let k = 0; k < variants.length; k++) {
      const i = (b + k) % variants.length;
      samples[i].push(await batchMeanUs(variants[i].client, BATCH));
    }
  }
  const med = samples.map(median);
  runs.push(med);
  console.log(`run ${r + 1}: ${med.map((m) => `${m.toFixed(1)} µs`).join(' | ')}; ratios ${med.slice(1).map((m) => (m / med[0]).toFixed(3)).join(' | ')}`);
}

console.log(`\n${RUNS} runs × ${BATCHES} batches × ${BATCH} calls, Node ${process.version}, InMemoryTransport, trivial echo tool`);
console.log('variant'.padEnd(48), 'median µs/call', ' ratio to bare (median of runs)');
variants.forEach((v, i) => {
  const us = median(runs.map((r) => r[i]));
  const ratio = median(runs.map((r) => r[i] / r[0]));
  console.log(v.name.padEnd(48), us.toFixed(1).padStart(14), i === 0 ? '' : ratio.toFixed(3).padStart(14));
});

for (const v of variants) {
  await v.client.close();
  if (v.exe) await v.exe.shutdown();
}
await cp.close();
