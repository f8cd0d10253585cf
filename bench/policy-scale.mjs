// npm run bench (second part): what governance adds to a callTool as the
// policy set grows (issue 11). 10, 200, 2 000 and 10 000 policies; every
// tenth applies to the calling agent, and each has a path rule on
// `read_file` (patterns of its own). Every call reads another file
// (distinct argument values). With and without an audit log.
//
// Same paired design as bench/call-tool.mjs: each variant in a fresh
// worker with a bare and a governed real MCP Client (InMemoryTransport,
// in-process McpServer), batches alternating A B B A; per pair the ratio
// governed / bare and the µs added per call; a variant's figure is the
// median over all pairs of several runs.
//
//   node bench/policy-scale.mjs [--runs=5] [--pairs=40] [--batch=50]
//                               [--only=mcp|stub] [--sizes=10,200,2000,10000]

import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { connectedClient, median, pairedBatches, runWorker as runPaired } from './paired.mjs';

// Workers get the same arguments (see runWorker), so they see the same sizes.
const args = new Map(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=')));
const SIZES = (args.get('sizes') ?? '10,200,2000,10000').split(',').map(Number);
const VARIANTS = [
  { name: 'A/A control (both bare)', size: 0, auditLog: false },
  ...SIZES.flatMap((size) => [
    { name: `${size} policies (${size / 10} apply), no sink`, size, auditLog: false },
    { name: `${size} policies (${size / 10} apply), audit log`, size, auditLog: true },
  ]),
];

if (isMainThread) {
  await main();
} else {
  await worker(workerData);
}

async function main() {
  if (args.get('only') !== 'mcp') await stubRows();
  if (args.get('only') === 'stub') return;
  const RUNS = Number(args.get('runs') ?? 5);
  const PAIRS = Number(args.get('pairs') ?? 40);
  const BATCH = Number(args.get('batch') ?? 50);
  const ratios = VARIANTS.map(() => []);
  const added = VARIANTS.map(() => []);
  const runMedians = VARIANTS.map(() => []);
  const bareUs = [];
  for (let r = 0; r < RUNS; r++) {
    const line = [];
    for (let k = 0; k < VARIANTS.length; k++) {
      // Rotate the order so that no variant always runs first or last.
      const i = (r + k) % VARIANTS.length;
      const res = await runWorker({ variant: i, pairs: PAIRS, batch: BATCH });
      checkGoverned(i, res.stats, res.calls);
      ratios[i].push(...res.ratios);
      added[i].push(...res.addedUs);
      runMedians[i].push(median(res.ratios));
      bareUs.push(res.bareUs);
      line[i] = median(res.ratios).toFixed(3);
    }
    console.log(`run ${r + 1}: ratios ${line.join(' | ')}`);
  }
  console.log(
    `\n${RUNS} runs × ${PAIRS} pairs × 2 × 2 batches × ${BATCH} calls per variant, Node ${process.version}, ` +
      `InMemoryTransport, trivial read_file tool, distinct paths; bare call: ${median(bareUs).toFixed(1)} µs median`,
  );
  console.log(
    'variant'.padEnd(42),
    'added µs/call'.padStart(14),
    'ratio (median of pairs)'.padStart(24),
    'runs from–to'.padStart(14),
  );
  VARIANTS.forEach((v, i) => {
    const runs = [...runMedians[i]].sort((a, b) => a - b);
    console.log(
      v.name.padEnd(42),
      median(added[i]).toFixed(2).padStart(14),
      median(ratios[i]).toFixed(3).padStart(24),
      `${runs[0].toFixed(3)}–${runs.at(-1).toFixed(3)}`.padStart(14),
    );
  });
  for (const auditLog of [false, true]) {
    if (!SIZES.includes(10) || !SIZES.includes(10000)) break;
    const at = (size) => median(added[VARIANTS.findIndex((v) => v.size === size && v.auditLog === auditLog)]);
    console.log(
      `added at 10 000 / added at 10 (${auditLog ? 'audit log' : 'no sink'}): ${(at(10000) / at(10)).toFixed(2)}`,
    );
  }
}

/**
 * The SDK's own cost per call at each size, without MCP: a stub client
 * whose callTool returns at once, bare and governed, interleaved in rounds
 * in this thread (as bench/wrapper-overhead.mjs). Steadier than the MCP
 * rows on a busy machine; the same distinct paths.
 */
async function stubRows() {
  const { join } = await import('node:path');
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { Execlave } = await import('@execlave/sdk');
  const { instrumentMcpClient } = await import('@execlave/sdk/integrations/mcp');
  const CALLS = 10_000;
  const ROUNDS = 15;
  const result = { content: [{ type: 'text', text: 'ok' }] };
  const stub = () => ({
    async callTool() {
      return result;
    },
    async request() {
      return result;
    },
  });
  const dir = mkdtempSync(join(tmpdir(), 'execlave-bench-'));
  const exes = [];
  const variants = [['stub callTool, bare', stub()]];
  for (const size of SIZES) {
    const policies = Array.from({ length: size }, (_, i) => policy(i));
    for (const auditLog of [false, true]) {
      const exe = new Execlave(auditLog ? { policies, auditLog: join(dir, `audit-${size}.jsonl`) } : { policies });
      exes.push(exe);
      variants.push([
        `${size} policies, ${auditLog ? 'audit log' : 'no sink'}`,
        instrumentMcpClient(stub(), exe, { agentId: 'bench-agent' }),
      ]);
    }
  }
  let k = 0;
  const samples = variants.map(() => []);
  for (let r = 0; r < ROUNDS; r++) {
    for (const [i, [, client]] of variants.entries()) {
      const t0 = process.hrtime.bigint();
      for (let c = 0; c < CALLS; c++) {
        k++;
        await client.callTool({ name: 'read_file', arguments: { path: `/srv/data/d${k % 61}/report-${k}.txt` } });
      }
      samples[i].push(Number(process.hrtime.bigint() - t0) / CALLS / 1000);
    }
  }
  for (const exe of exes) {
    const s = exe.stats();
    if (s.decisions !== s.allowed || s.decisions !== ROUNDS * CALLS) throw new Error(`not all calls governed: ${JSON.stringify(s)}`);
    await exe.shutdown();
  }
  rmSync(dir, { recursive: true, force: true });
  console.log(`\nSDK cost per call without MCP: ${ROUNDS} rounds × ${CALLS} calls, stub client, median µs per call`);
  const bare = median(samples[0]);
  variants.forEach(([name], i) => {
    const us = median(samples[i]);
    console.log(name.padEnd(42), us.toFixed(2).padStart(8), i === 0 ? '' : `  (+${(us - bare).toFixed(2)} µs)`);
  });
  console.log();
}

function runWorker(data) {
  return runPaired(fileURLToPath(import.meta.url), data, VARIANTS[data.variant].name, process.argv.slice(2));
}

/** Every governed call must have been decided, and allowed. */
function checkGoverned(i, stats, calls) {
  if (i === 0) {
    if (stats !== null) throw new Error('the A/A control must not be governed');
    return;
  }
  if (stats.decisions !== calls || stats.allowed !== calls) {
    throw new Error(`"${VARIANTS[i].name}" did not govern all ${calls} calls: ${JSON.stringify(stats)}`);
  }
}

/** Policy `i`, as in core/benches/decision.rs. */
function policy(i) {
  return {
    id: `pol_${String(i).padStart(5, '0')}`,
    name: `Policy ${i}`,
    policyType: 'tool_invocation',
    enforcementMode: 'block',
    appliesToAgents: [i % 10 === 0 ? 'bench-agent' : `other-agent-${i}`],
    ruleDefinition: {
      arguments: [
        {
          tools: ['read_file'],
          argument: 'path',
          kind: 'path',
          allow: ['/srv/data/**', `/srv/tenants/t${i}/**`],
          deny: [`/srv/data/private-${i}/**`, '**/.ssh/**'],
        },
      ],
    },
  };
}

async function worker({ variant, pairs, batch }) {
  const { join } = await import('node:path');
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { z } = await import('zod');
  const { Execlave, PolicyBlockedError } = await import('@execlave/sdk');
  const { instrumentMcpClient } = await import('@execlave/sdk/integrations/mcp');

  const readFile = () =>
    connectedClient('read_file', { path: z.string() }, async ({ path }) => ({ content: [{ type: 'text', text: path }] }));

  const { size, auditLog } = VARIANTS[variant];
  const bare = await readFile();
  const governed = await readFile();
  const dir = mkdtempSync(join(tmpdir(), 'execlave-bench-'));
  let exe = null;
  if (size > 0) {
    const policies = Array.from({ length: size }, (_, i) => policy(i));
    exe = new Execlave(auditLog ? { policies, auditLog: join(dir, 'audit.jsonl') } : { policies });
    instrumentMcpClient(governed, exe, { agentId: 'bench-agent' });
    // The rules really apply: a denied path is refused.
    try {
      await governed.callTool({ name: 'read_file', arguments: { path: '/srv/data/private-0/x' } });
      throw new Error('a denied path was not refused');
    } catch (err) {
      if (!(err instanceof PolicyBlockedError)) throw err;
    }
  }
  const refusals = size > 0 ? 1 : 0;

  // Distinct paths: each call reads another file, on both clients alike.
  let k = 0;
  let calls = 0;
  async function meanUs(client, n) {
    if (client === governed) calls += n;
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) {
      k++;
      await client.callTool({ name: 'read_file', arguments: { path: `/srv/data/d${k % 61}/report-${k}.txt` } });
    }
    return Number(process.hrtime.bigint() - t0) / 1000 / n;
  }

  const { ratios, addedUs, bareUs } = await pairedBatches(meanUs, bare, governed, { pairs, batch });
  await bare.close();
  await governed.close();
  let stats = null;
  if (exe) {
    const s = exe.stats();
    // The refused probe is a decision, not an allowed call.
    stats = { ...s, decisions: s.decisions - refusals };
    await exe.shutdown();
  }
  rmSync(dir, { recursive: true, force: true });
  parentPort.postMessage({ ratios, addedUs, calls, stats, bareUs: median(bareUs) });
}
