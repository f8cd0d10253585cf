// execlave-mcp's cost (issue 21 item 9): host → proxy → server-filesystem
// against host → server-filesystem directly, over stdio, side by side in
// one run, the proxy recording to an audit log. A third variant puts a
// byte pump (bench/byte-pump.cjs: bytes through, nothing read) where the
// proxy goes: the cost of one more process on the way, which any stdio
// proxy pays; "proxy / pump" is what governing adds to it. Also the proxy
// process's CPU per call and its resident memory idle and after many calls
// (Linux /proc). Part of `npm run bench`.
//
//   node bench/proxy.mjs [--calls N] [--rounds R] [--memory-calls M]
//
// A round is a block of N calls through each variant, back to back, the
// order reversed every other round; each ratio is the median of the
// rounds' ratios. Short blocks and many rounds: on a shared machine the
// speed drifts over seconds, and a long block would time the drift.
//
// Bar: median ratio ≤ 1.05 (goal 1.02). Memory must not grow with calls.

import { parseArgs } from 'node:util';
import { join } from 'node:path';
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';

const { values } = parseArgs({
  options: {
    calls: { type: 'string', default: '100' },
    rounds: { type: 'string', default: '61' },
    'memory-calls': { type: 'string', default: '100000' },
  },
});
const CALLS = Number(values.calls);
const ROUNDS = Number(values.rounds);
const MEMORY_CALLS = Number(values['memory-calls']);

const require = createRequire(import.meta.url);
const FILESYSTEM = require.resolve('@modelcontextprotocol/server-filesystem/dist/index.js');
const PROXY = fileURLToPath(new URL('../bin/execlave-mcp.js', import.meta.url));
const PUMP = fileURLToPath(new URL('./byte-pump.cjs', import.meta.url));

const dir = mkdtempSync(join(tmpdir(), 'execlave-bench-proxy-'));
mkdirSync(join(dir, 'data'));
writeFileSync(join(dir, 'data', 'a.txt'), 'alpha');
const policy = join(dir, 'policy.json');
writeFileSync(policy, JSON.stringify([{
  name: 'FS', policyType: 'tool_invocation', enforcementMode: 'block',
  ruleDefinition: { deny: ['move_file'], arguments: [{ tools: ['read_*'], argument: 'path', kind: 'path', allow: [`${dir}/data/**`] }] },
}]));

async function host(command, args) {
  const client = new Client({ name: 'bench-host', version: '1.0.0' });
  const transport = new StdioClientTransport({ command, args, stderr: 'ignore' });
  await client.connect(transport);
  return { client, pid: transport.pid };
}

const server = [FILESYSTEM, dir];
const direct = await host(process.execPath, server);
const pumped = await host(process.execPath, [PUMP, ...server]);
const proxied = await host(process.execPath, [
  PROXY, '--agent-id', 'bench-agent', '--policy', policy, '--audit-log', join(dir, 'audit.jsonl'), '--', process.execPath, ...server,
]);
const call = { name: 'read_text_file', arguments: { path: join(dir, 'data', 'a.txt') } };

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function run(client, n) {
  const t0 = process.hrtime.bigint();
  for (let k = 0; k < n; k++) await client.callTool(call);
  return Number(process.hrtime.bigint() - t0) / n / 1000; // µs per call
}

/** The proxy process's CPU time (user + system, ms) and resident memory (KiB). */
function usage(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    const ticks = Number(stat[11]) + Number(stat[12]); // utime, stime (fields 14, 15)
    const rss = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
    return { cpuMs: (ticks * 1000) / 100, rssKiB: rss }; // USER_HZ is 100 on Linux
  } catch {
    return null;
  }
}

const variants = { direct, pumped, proxied };
for (const v of Object.values(variants)) await run(v.client, 200); // warm-up
const times = { direct: [], pumped: [], proxied: [] };
const proxyBefore = usage(proxied.pid); // idle: its RSS is the idle figure
const pumpBefore = usage(pumped.pid);
const names = Object.keys(variants);
for (let r = 0; r < ROUNDS; r++) {
  for (const name of r % 2 === 0 ? names : [...names].reverse()) {
    times[name].push(await run(variants[name].client, CALLS));
  }
}
const proxyAfter = usage(proxied.pid);
const pumpAfter = usage(pumped.pid);
const ratio = (a, b) => median(times[a].map((t, i) => t / times[b][i]));

console.log(`execlave-mcp over stdio, server-filesystem read_text_file, audit log on; ${ROUNDS} rounds × ${CALLS} calls`);
console.log(`  host → server directly        ${median(times.direct).toFixed(1)} µs/call (median)`);
console.log(`  host → byte pump → server     ${median(times.pumped).toFixed(1)} µs/call (median)`);
console.log(`  host → execlave-mcp → server  ${median(times.proxied).toFixed(1)} µs/call (median)`);
console.log(`  ratio proxy / direct          ${ratio('proxied', 'direct').toFixed(3)} (bar ≤ 1.05, goal 1.02)`);
console.log(`  ratio pump / direct           ${ratio('pumped', 'direct').toFixed(3)} (one more process, nothing read)`);
console.log(`  ratio proxy / pump            ${ratio('proxied', 'pumped').toFixed(3)} (what governing adds to the hop)`);
const cpuPerCall = (before, after) => (((after.cpuMs - before.cpuMs) * 1000) / (ROUNDS * CALLS)).toFixed(1);
if (proxyBefore && proxyAfter && pumpBefore && pumpAfter) {
  console.log(`  proxy CPU per call            ${cpuPerCall(proxyBefore, proxyAfter)} µs (user + system, the proxy process)`);
  console.log(`  pump CPU per call             ${cpuPerCall(pumpBefore, pumpAfter)} µs`);
}
if (proxyBefore) console.log(`  proxy RSS idle                ${(proxyBefore.rssKiB / 1024).toFixed(1)} MiB`);
if (MEMORY_CALLS > 0) {
  await run(proxied.client, MEMORY_CALLS);
  const after = usage(proxied.pid);
  if (after) console.log(`  proxy RSS after ${MEMORY_CALLS} more calls ${(after.rssKiB / 1024).toFixed(1)} MiB`);
}
for (const v of Object.values(variants)) await v.client.close();
