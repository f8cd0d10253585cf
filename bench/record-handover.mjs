// The record hand-over alone, on the calling thread: what `completeBatch`
// and the batch's JSON cost per call, apart from MCP and the decision.
//
// 64-call batches, as lib/client.js hands them over: each call decided by
// tool name (tracked, so that it has a pending call to complete), its
// arguments and answer serialised with one JSON.stringify per batch, then
// one completeBatch. Paced (one batch per millisecond, ~60 000 calls/s) so
// that the delivery thread keeps up and no record is dropped: a tight loop
// would measure the cost of overflowing instead.
//
//   node bench/record-handover.mjs [--batches=1500]

import { createRequire } from 'node:module';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const require = createRequire(import.meta.url);
const native = require('../lib/native.js');
const args = new Map(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=')));
const BATCHES = Number(args.get('batches') ?? 1500);
const WARMUP = 200;
const N = 64;

const dir = mkdtempSync(join(tmpdir(), 'execlave-bench-'));
const governor = new native.NativeGovernor(JSON.stringify({ policies: [], auditLog: join(dir, 'audit.jsonl') }));
const slot = governor.registerAgent('ops-agent', null, null, true);
const tool = native.toolId('read_file');
let decideMs = 0;
let jsonMs = 0;
let completeMs = 0;
for (let b = 0; b < BATCHES + WARMUP; b++) {
  const callArgs = [];
  const answers = [];
  for (let i = 0; i < N; i++) {
    const path = `/srv/data/d${i}/report-${b}-${i}.txt`;
    callArgs.push({ path });
    answers.push({ content: [{ type: 'text', text: path }] });
  }
  const t0 = performance.now();
  const numbers = new Float64Array(N * 3);
  for (let i = 0; i < N; i++) {
    numbers[i * 3] = native.decideByTool(slot, tool);
    numbers[i * 3 + 1] = t0;
  }
  const t1 = performance.now();
  const texts = JSON.stringify([callArgs, answers]);
  const t2 = performance.now();
  governor.completeBatch(numbers, texts, [], native.clockMs() - performance.now());
  const t3 = performance.now();
  if (b >= WARMUP) {
    decideMs += t1 - t0;
    jsonMs += t2 - t1;
    completeMs += t3 - t2;
  }
  await new Promise((resolve) => setTimeout(resolve, 1));
}
await governor.flush();
const s = governor.stats();
await governor.shutdown(5000);
rmSync(dir, { recursive: true, force: true });
const us = (ms) => ((ms * 1000) / BATCHES / N).toFixed(3);
console.log(`Record hand-over, µs per call on the calling thread (${BATCHES} batches of ${N}):`);
console.log(`  decideByTool, tracked ${us(decideMs)} | batch JSON ${us(jsonMs)} | completeBatch ${us(completeMs)}`);
console.log(`  records written ${s.recordsWritten}, dropped ${s.recordsDropped}`);
if (s.recordsDropped > 0) console.log('  ! records were dropped: the figures include overflow');
