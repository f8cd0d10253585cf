// npm run bench: what governance adds to a callTool, measured side by side.
//
// Paired design, because this machine is shared and noisy: each variant runs
// in its own worker thread (its own V8 isolate), which holds two real MCP
// Clients, each with its own in-process server over InMemoryTransport: one
// bare, one governed as the variant says. The worker alternates small
// batches of calls on the two in an A B B A pattern, so that the bare and
// the governed batch of a pair run microseconds apart on the same thread,
// the same CPU, the same JIT state: a noisy neighbour, a CPU frequency step
// or a slow isolate hits both alike and cancels out of their ratio. Each
// pair gives one ratio; a variant's figure is the median ratio over all its
// pairs, from a fresh worker in each of several runs. A variant whose
// "governed" client is bare too (A/A) shows the noise floor (ideally 1.000).

import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { connectedClient, median, pairedBatches, runWorker as runPaired } from './paired.mjs';

const VARIANTS = [
  'A/A control (both bare)',
  'governed (24 policies, no record sink)',
  'governed (24 policies, records to audit log)',
  'governed + argument rule on the tool, audit log',
  "governed, enforcement: 'remote' (loopback)",
];

if (isMainThread) {
  await main();
} else {
  await worker(workerData);
}

async function main() {
  const { startControlPlane } = await import('../test-control-plane/index.mjs');
  const args = new Map(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=')));
  const RUNS = Number(args.get('runs') ?? 5);
  const PAIRS = Number(args.get('pairs') ?? 40);
  const BATCH = Number(args.get('batch') ?? 50);

  // The official SDK's way: one round trip to the control plane per call
  // (here the test control plane on loopback in this thread, the best case
  // for it). This thread's event loop is free while a worker runs.
  const cp = await startControlPlane({ policies: realisticPolicies() });
  const controlPlane = { baseUrl: cp.url, apiKey: cp.apiKey };

  const ratios = VARIANTS.map(() => []);
  const runMedians = VARIANTS.map(() => []);
  const bareUs = [];
  const governedUs = VARIANTS.map(() => []);
  for (let r = 0; r < RUNS; r++) {
    const line = [];
    for (let k = 0; k < VARIANTS.length; k++) {
      // Rotate the order so that no variant always runs first or last.
      const i = (r + k) % VARIANTS.length;
      const res = await runWorker({ variant: i, controlPlane, pairs: PAIRS, batch: BATCH });
      checkGoverned(i, res.stats, res.calls);
      ratios[i].push(...res.ratios);
      runMedians[i].push(median(res.ratios));
      bareUs.push(res.bareUs);
      governedUs[i].push(res.governedUs);
      line[i] = median(res.ratios).toFixed(3);
    }
    console.log(`run ${r + 1}: ratios ${line.join(' | ')}`);
  }
  await cp.close();

  console.log(
    `\n${RUNS} runs × ${PAIRS} pairs × 2 × 2 batches × ${BATCH} calls per variant, Node ${process.version}, ` +
      'InMemoryTransport, trivial echo tool; bare call: ' +
      `${median(bareUs).toFixed(1)} µs median`,
  );
  console.log(
    'variant'.padEnd(50),
    'governed µs/call'.padStart(17),
    'ratio (median of pairs)'.padStart(24),
    'runs from–to'.padStart(14),
  );
  VARIANTS.forEach((name, i) => {
    const runs = [...runMedians[i]].sort((a, b) => a - b);
    console.log(
      name.padEnd(50),
      median(governedUs[i]).toFixed(1).padStart(17),
      median(ratios[i]).toFixed(3).padStart(24),
      `${runs[0].toFixed(3)}–${runs.at(-1).toFixed(3)}`.padStart(14),
    );
  });
}

function runWorker(data) {
  return runPaired(fileURLToPath(import.meta.url), data, VARIANTS[data.variant]);
}

/**
 * A benchmark of governance that governed nothing would be worthless: every
 * governed variant must have decided every call, and the remote one must
 * have asked the control plane each time.
 */
function checkGoverned(i, stats, calls) {
  if (i === 0) {
    if (stats !== null) throw new Error('the A/A control must not be governed');
    return;
  }
  const remote = VARIANTS[i].includes('remote');
  if (stats.decisions !== calls || stats.allowed !== calls || (remote && stats.remoteDecisions !== calls)) {
    throw new Error(`"${VARIANTS[i]}" did not govern all ${calls} calls: ${JSON.stringify(stats)}`);
  }
}

async function worker({ variant, controlPlane, pairs, batch }) {
  const { join } = await import('node:path');
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { z } = await import('zod');
  const { Execlave } = await import('@execlave/sdk');
  const { instrumentMcpClient } = await import('@execlave/sdk/integrations/mcp');

  const echo = () =>
    connectedClient('echo', { text: z.string() }, async ({ text }) => ({ content: [{ type: 'text', text }] }));

  const bare = await echo();
  const governed = await echo();
  const dir = mkdtempSync(join(tmpdir(), 'execlave-bench-'));
  const auditLog = join(dir, 'audit.jsonl');
  const policies = realisticPolicies();
  const echoRule = {
    id: 'pol_echo',
    name: 'Echo content',
    policyType: 'tool_invocation',
    enforcementMode: 'block',
    ruleDefinition: { arguments: [{ tools: ['echo'], argument: 'text', kind: 'regex', deny: ['(?i)secret'] }] },
  };
  const exe = [
    () => null,
    () => new Execlave({ policies }),
    () => new Execlave({ policies, auditLog }),
    () => new Execlave({ policies: [...policies, echoRule], auditLog }),
    () => new Execlave({ ...controlPlane, enforcement: 'remote', flushIntervalMs: 1000 }),
  ][variant]();
  if (exe) instrumentMcpClient(governed, exe, { agentId: 'ops-agent' });

  let calls = 0;
  async function meanUs(client, n) {
    if (client === governed) calls += n;
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) await client.callTool({ name: 'echo', arguments: { text: 'hello' } });
    return Number(process.hrtime.bigint() - t0) / 1000 / n;
  }

  const { ratios, bareUs, governedUs } = await pairedBatches(meanUs, bare, governed, { pairs, batch });
  await bare.close();
  await governed.close();
  const stats = exe ? exe.stats() : null;
  if (exe) await exe.shutdown();
  rmSync(dir, { recursive: true, force: true });
  parentPort.postMessage({ ratios, calls, stats, bareUs: median(bareUs), governedUs: median(governedUs) });
}

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
