// npm run bench: what governance adds to a callTool, measured side by side.
//
// Each variant runs in its own worker thread, so in its own V8 isolate, with
// its own real MCP Client and in-process server over InMemoryTransport: one
// variant's object shapes and JIT state cannot slow another's code (in a
// single isolate, the SDK's code serves every variant's client and grows
// polymorphic). The main thread drives the workers in turn, one batch at a
// time (A B C A B C …, the order rotated), so that a noisy neighbour slows
// them alike; each batch gives a mean per call, timed inside its worker;
// each variant's figure is the median over its batches, and the ratios are
// taken within one run. Several runs; the median ratio is reported.

import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';

const WARMUP = 2000;

const VARIANTS = [
  'bare callTool',
  // The same bare call in a second worker: its ratio is the noise floor of
  // this measurement on this machine (ideally 1.000).
  'bare callTool, second client (A/A control)',
  'governed (24 policies, no record sink)',
  'governed (24 policies, records to audit log)',
  'governed + argument rule on the tool',
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
  const RUNS = Number(args.get('runs') ?? 11);
  const BATCHES = Number(args.get('batches') ?? 15);
  const BATCH = Number(args.get('batch') ?? 200);

  // The official SDK's way: one round trip to the control plane per call
  // (here the test control plane on loopback in this thread, the best case
  // for it). Its event loop is free while a worker runs a batch.
  const cp = await startControlPlane({ policies: realisticPolicies() });
  const controlPlane = { baseUrl: cp.url, apiKey: cp.apiKey };

  const runs = [];
  for (let r = 0; r < RUNS; r++) {
    // Fresh workers every run: two identical isolates differ by several
    // per cent (heap layout, JIT timing), so each run draws new ones and
    // the median over runs averages that out.
    const workers = await Promise.all(VARIANTS.map((variant) => startWorker({ variant, controlPlane })));
    const samples = VARIANTS.map(() => []);
    for (let b = 0; b < BATCHES; b++) {
      // Rotate the order so that no variant always runs first or last.
      for (let k = 0; k < VARIANTS.length; k++) {
        const i = (b + k) % VARIANTS.length;
        samples[i].push(await ask(workers[i], { calls: BATCH }));
      }
    }
    const ends = await Promise.all(workers.map((w) => ask(w, { calls: 0 })));
    await Promise.all(workers.map((w) => w.terminate()));
    checkGoverned(ends, WARMUP + BATCHES * BATCH);
    const med = samples.map(median);
    runs.push(med);
    console.log(
      `run ${r + 1}: ${med.map((m) => `${m.toFixed(1)} µs`).join(' | ')}; ratios ${med
        .slice(1)
        .map((m) => (m / med[0]).toFixed(3))
        .join(' | ')}`,
    );
  }

  console.log(
    `\n${RUNS} runs × ${BATCHES} batches × ${BATCH} calls, Node ${process.version}, InMemoryTransport, trivial echo tool, a worker per variant`,
  );
  console.log('variant'.padEnd(48), 'median µs/call', ' ratio to bare (median of runs)');
  VARIANTS.forEach((name, i) => {
    const us = median(runs.map((r) => r[i]));
    const ratio = median(runs.map((r) => r[i] / r[0]));
    console.log(name.padEnd(48), us.toFixed(1).padStart(14), i === 0 ? '' : ratio.toFixed(3).padStart(14));
  });
  await cp.close();
}

function startWorker(data) {
  return new Promise((resolve, reject) => {
    const w = new Worker(fileURLToPath(import.meta.url), { workerData: data });
    w.on('error', (err) => {
      console.error(`bench worker "${data.variant}" failed:`, err);
      process.exit(1);
    });
    w.once('message', () => resolve(w));
    w.once('exit', (code) => reject(new Error(`bench worker "${data.variant}" exited with ${code}`)));
  });
}

function ask(w, message) {
  return new Promise((resolve) => {
    w.once('message', resolve);
    w.postMessage(message);
  });
}

/**
 * A benchmark of governance that governed nothing would be worthless: every
 * governed variant must have decided every call, and the remote one must
 * have asked the control plane each time.
 */
function checkGoverned(ends, calls) {
  ends.forEach((stats, i) => {
    if (stats === null) return;
    const remote = VARIANTS[i].includes('remote');
    if (stats.decisions !== calls || stats.allowed !== calls || (remote && stats.remoteDecisions !== calls)) {
      throw new Error(`"${VARIANTS[i]}" did not govern all ${calls} calls: ${JSON.stringify(stats)}`);
    }
  });
}

async function worker({ variant, controlPlane }) {
  const { join } = await import('node:path');
  const { mkdtempSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { Client } = await import('@modelcontextprotocol/sdk/client/index.js');
  const { InMemoryTransport } = await import('@modelcontextprotocol/sdk/inMemory.js');
  const { McpServer } = await import('@modelcontextprotocol/sdk/server/mcp.js');
  const { z } = await import('zod');
  const { Execlave } = await import('@execlave/sdk');
  const { instrumentMcpClient } = await import('@execlave/sdk/integrations/mcp');

  const server = new McpServer({ name: 'bench', version: '1.0.0' });
  server.registerTool('echo', { inputSchema: { text: z.string() } }, async ({ text }) => ({
    content: [{ type: 'text', text }],
  }));
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  await server.connect(serverSide);
  const client = new Client({ name: 'bench', version: '1.0.0' });
  await client.connect(clientSide);

  const dir = mkdtempSync(join(tmpdir(), 'execlave-bench-'));
  const policies = realisticPolicies();
  let exe = null;
  switch (VARIANTS.indexOf(variant)) {
    case 2:
      exe = new Execlave({ policies });
      break;
    case 3:
      exe = new Execlave({ policies, auditLog: join(dir, 'audit.jsonl') });
      break;
    case 4:
      exe = new Execlave({
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
        auditLog: join(dir, 'audit.jsonl'),
      });
      break;
    case 5:
      exe = new Execlave({ ...controlPlane, enforcement: 'remote', flushIntervalMs: 1000 });
      break;
    default:
  }
  if (exe) instrumentMcpClient(client, exe, { agentId: 'ops-agent' });

  async function batchMeanUs(n) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) await client.callTool({ name: 'echo', arguments: { text: 'hello' } });
    return Number(process.hrtime.bigint() - t0) / 1000 / n;
  }

  await batchMeanUs(WARMUP); // JIT, caches, the first policy plan
  parentPort.on('message', async ({ calls }) => {
    if (calls === 0) {
      await client.close();
      const stats = exe ? exe.stats() : null;
      if (exe) await exe.shutdown();
      parentPort.postMessage(stats);
      return;
    }
    parentPort.postMessage(await batchMeanUs(calls));
  });
  parentPort.postMessage('ready');
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

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}
