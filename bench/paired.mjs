// What the paired MCP benches (call-tool.mjs, policy-scale.mjs) share: a
// worker per variant, a real Client and McpServer over InMemoryTransport,
// and the A B B A batches that pair a bare and a governed client.

import { Worker } from 'node:worker_threads';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * Runs the bench file `file` in a fresh worker with `data` (one variant,
 * named `name` in errors); resolves with the message it posts.
 */
export function runWorker(file, data, name, argv = []) {
  return new Promise((resolve, reject) => {
    const w = new Worker(file, { workerData: data, argv });
    const onExit = (code) => reject(new Error(`bench worker "${name}" exited with ${code}`));
    w.once('exit', onExit);
    w.once('error', (err) => {
      console.error(`bench worker "${name}" failed:`, err);
      reject(err);
    });
    w.once('message', (res) => {
      w.off('exit', onExit);
      w.terminate().then(() => resolve(res), reject);
    });
  });
}

/** A real Client connected to an in-process server with one tool. */
export async function connectedClient(tool, inputSchema, handler) {
  const server = new McpServer({ name: 'bench', version: '1.0.0' });
  server.registerTool(tool, { inputSchema }, handler);
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  await server.connect(serverSide);
  const client = new Client({ name: 'bench', version: '1.0.0' });
  await client.connect(clientSide);
  return client;
}

/**
 * `pairs` pairs of batches, A B B A (a linear drift within the pair
 * cancels out), after a warm-up of both clients (JIT, caches, the first
 * policy plan). `meanUs(client, n)`: µs per call over `n` calls. Per pair:
 * the ratio governed / bare and the µs added per call.
 */
export async function pairedBatches(meanUs, bare, governed, { pairs, batch }) {
  for (let i = 0; i < 10; i++) {
    await meanUs(bare, 200);
    await meanUs(governed, 200);
  }
  const ratios = [];
  const addedUs = [];
  const bareUs = [];
  const governedUs = [];
  for (let p = 0; p < pairs; p++) {
    const b1 = await meanUs(bare, batch);
    const g1 = await meanUs(governed, batch);
    const g2 = await meanUs(governed, batch);
    const b2 = await meanUs(bare, batch);
    ratios.push((g1 + g2) / (b1 + b2));
    addedUs.push((g1 + g2 - b1 - b2) / 2);
    bareUs.push(b1, b2);
    governedUs.push(g1, g2);
  }
  return { ratios, addedUs, bareUs, governedUs };
}
