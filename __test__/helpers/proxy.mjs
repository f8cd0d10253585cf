// execlave-mcp under test: the real MCP Client as the host, spawning the
// proxy (either launcher) over stdio, the proxy spawning a real server.

import { createRequire } from 'node:module';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';

const require = createRequire(import.meta.url);
export const PROXY_BIN = fileURLToPath(new URL('../../bin/execlave-mcp.js', import.meta.url));
export const FILESYSTEM = require.resolve('@modelcontextprotocol/server-filesystem/dist/index.js');
export const EVERYTHING = require.resolve('@modelcontextprotocol/server-everything/dist/index.js');

/** The proxy's command line: the Node launcher unless EXECLAVE_MCP_COMMAND names another (JSON array). */
export function proxyCommand(args) {
  const launcher = process.env.EXECLAVE_MCP_COMMAND ? JSON.parse(process.env.EXECLAVE_MCP_COMMAND) : [process.execPath, PROXY_BIN];
  return { command: launcher[0], args: [...launcher.slice(1), ...args] };
}

/**
 * A connected host: `proxyArgs` for execlave-mcp, `server` the server's
 * argv (run with node). `capabilities` and `setup(client)` shape the host.
 */
export async function proxiedHost(proxyArgs, server, { capabilities = {}, setup, env } = {}) {
  const client = new Client({ name: 'test-host', version: '9.8.7' }, { capabilities });
  if (setup) setup(client);
  const { command, args } = proxyCommand([...proxyArgs, '--', process.execPath, ...server]);
  const transport = new StdioClientTransport({ command, args, stderr: 'pipe', ...(env ? { env } : {}) });
  let stderr = '';
  transport.stderr.on('data', (d) => {
    stderr += d;
  });
  await client.connect(transport);
  return { client, transport, stderr: () => stderr };
}

/** The proxy as a plain child: raw lines in, raw lines out (`env`: its environment). */
export function rawProxy(proxyArgs, server, { env } = {}) {
  const { command, args } = proxyCommand([...proxyArgs, '--', process.execPath, ...server]);
  const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'], ...(env ? { env } : {}) });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => {
    stdout += d;
  });
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  const exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    child,
    exited,
    send: (line) => child.stdin.write(typeof line === 'string' ? `${line}\n` : `${JSON.stringify(line)}\n`),
    lines: () => stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l)),
    stderr: () => stderr,
  };
}

/** Resolves once `predicate()` holds (polled), or rejects after `ms`. */
export async function until(predicate, ms = 10_000) {
  const start = Date.now();
  while (!predicate()) {
    if (Date.now() - start > ms) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Whether process `pid` still exists (and is no zombie). */
export function alive(pid) {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = require('node:fs').readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) Z/.test(stat);
  } catch {
    return true;
  }
}

/** The pids of `pid`'s children (Linux). */
export function childrenOf(pid) {
  try {
    const fs = require('node:fs');
    const out = [];
    for (const task of fs.readdirSync(`/proc/${pid}/task`)) {
      const text = fs.readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim();
      if (text) out.push(...text.split(/\s+/).map(Number));
    }
    return out;
  } catch {
    return [];
  }
}

/** A tiny stdio "server" (node -e): logs each line it gets on stderr; `exit N` makes it exit with N. */
export const ECHO_SERVER = ['-e', `
  const rl = require('node:readline').createInterface({ input: process.stdin });
  rl.on('line', (l) => {
    process.stderr.write('GOT ' + l + '\\n');
    const m = JSON.parse(l);
    if (m.method === 'exit-now') process.exit(3);
    if (m.method === 'misbehave') {
      process.stdout.write('this is not json\\n');
      process.stdout.write(JSON.stringify({ jsonrpc: '2.0', id: 'never-asked', result: { isError: false, content: [] } }) + '\\n');
    }
    if (m.method === 'tools/call' && m.params.name === 'slow') return;
    if (m.id !== undefined && m.method) process.stdout.write(JSON.stringify({ jsonrpc: '2.0', id: m.id, result: { echoed: m.method, content: [] } }) + '\\n');
  });
`];
