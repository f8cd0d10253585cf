#!/usr/bin/env node
// Runs the test control plane as a process:
//   node test-control-plane/cli.mjs [--port N] [--host H] [--policies file.json] [--agents file.json]
//                                   [--api-key K] [--require-signature]
// Prints one line of JSON {"url": "...", "apiKey": "..."} to stdout once listening.
// Exits on SIGTERM, SIGINT, or the end of stdin when stdin is a pipe or a terminal
// (a parent that spawns it with stdio 'pipe' stops it by closing stdin, or by dying).
// A policies/agents file holds an array, one object, or {"data": [...]}.

import { fstatSync, readFileSync } from 'node:fs';
import { isatty } from 'node:tty';
import { parseArgs } from 'node:util';
import { startControlPlane } from './index.mjs';

function readList(file) {
  const v = JSON.parse(readFileSync(file, 'utf8'));
  if (Array.isArray(v)) return v;
  if (v && Array.isArray(v.data)) return v.data;
  return [v];
}

function stdinIsWatchable() {
  try {
    const st = fstatSync(0);
    return st.isFIFO() || st.isSocket() || isatty(0);
  } catch {
    return false;
  }
}

async function main() {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: '0' },
      host: { type: 'string', default: '127.0.0.1' },
      policies: { type: 'string' },
      agents: { type: 'string' },
      'api-key': { type: 'string' },
      'require-signature': { type: 'boolean', default: false },
    },
  });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port: not a port: ${values.port}`);
  const options = { port, host: values.host, requireSignature: values['require-signature'] };
  if (values['api-key'] !== undefined) options.apiKey = values['api-key'];
  if (values.policies !== undefined) options.policies = readList(values.policies);
  if (values.agents !== undefined) options.agents = readList(values.agents);

  const cp = await startControlPlane(options);
  let stopping = false;
  const shutdown = async () => {
    if (stopping) return;
    stopping = true;
    await cp.close();
    process.exit(0);
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
  if (stdinIsWatchable()) {
    process.stdin.on('end', shutdown);
    process.stdin.on('error', shutdown);
    process.stdin.resume();
  }
  process.stdout.write(`${JSON.stringify({ url: cp.url, apiKey: cp.apiKey })}\n`);
}

main().catch((err) => {
  process.stderr.write(`test-control-plane: ${err.message}\n`);
  process.exit(1);
});
