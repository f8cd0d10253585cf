// execlave-mcp's cost (issue 21 item 9): host → proxy → server-filesystem
// against host → server-filesystem directly, over stdio, side by side in
// one run (rounds interleaved), the proxy recording to an audit log. Also
// the proxy process's CPU per call and its resident memory idle and after
// all the calls (Linux /proc). Part of `npm run bench`.
//
//   node bench/proxy.mjs [--calls N] [--rounds R] [--memory-calls M]
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
    calls: { type: 'string', default: '2000' },
    rounds: { type: 'string', default: '7' },
    'memory-calls': { type: 'string', default: '100000' },
  },
});
const CALLS = Number(values.calls);
const ROUNDS = Number(values.rounds);
const MEMORY_CALLS = Number(values['memory-calls']);

const require = createRequire(import.meta.url);
const FILESYSTEM = require.resolve('@modelcontextprotocol/server-filesystem/dist/index.js');
const PROXY = fileURLToPath(new URL('../bin/execlave-mcp.js', import.meta.url));

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
const proxied = await host(process.execPath, [
  PROXY, '--agent-id', 'bench-agent', '--policy', policy, '--audit-log', join(dir, 'audit.jsonl'), '--', process.execPath, ...server,
]);
const call = { name: 'read_text_file', arguments: { path: join(dir, 'data', 'a.txt') } };

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

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

await run(direct.client, Math.min(CALLS, 200)); // warm-up
await run(proxied.client, Math.min(CALLS, 200));
const idle = usage(proxied.pid);
const times = { direct: [], proxied: [] };
const cpuBefore = usage(proxied.pid);
for (let r = 0; r < ROUNDS; r++) {
  times.direct.push(await run(direct.client, CALLS));
  times.proxied.push(await run(proxied.client, CALLS));
}
const cpuAfter = usage(proxied.pid);
const ratios = times.direct.map((d, i) => times.proxied[i] / d);

console.log(`execlave-mcp over stdio, server-filesystem read_text_file, audit log on; ${ROUNDS} rounds × ${CALLS} calls`);
console.log(`  host → server directly        ${median(times.direct).toFixed(1)} µs/call (median)`);
console.log(`  host → execlave-mcp → server  ${median(times.proxied).toFixed(1)} µs/call (median)`);
console.log(`  ratio                         ${median(ratios).toFixed(3)} (bar ≤ 1.05, goal 1.02)`);
if (cpuBefore && cpuAfter) {
  const cpuPerCall = ((cpuAfter.cpuMs - cpuBefore.cpuMs) * 1000) / (ROUNDS * CALLS);
  console.log(`  proxy CPU per call            ${cpuPerCall.toFixed(1)} µs (user + system, the proxy process)`);
}
if (idle) console.log(`  proxy RSS idle                ${(idle.rssKiB / 1024).toFixed(1)} MiB`);
if (MEMORY_CALLS > 0) {
  await run(proxied.client, MEMORY_CALLS);
  const after = usage(proxied.pid);
  if (after) console.log(`  proxy RSS after ${MEMORY_CALLS} more calls ${(after.rssKiB / 1024).toFixed(1)} MiB`);
}
await direct.client.close();
await proxied.client.close();
