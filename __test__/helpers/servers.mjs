// Real MCP servers and clients for the tests: the SDK's own Client, the npm
// servers over stdio, and an in-process server over InMemoryTransport whose
// tools count how often they really ran.

import { createRequire } from 'node:module';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';

const require = createRequire(import.meta.url);

export function tempDir(prefix = 'execlave-test-') {
  return mkdtempSync(join(tmpdir(), prefix));
}

export async function stdioClient(entry, args) {
  const client = new Client({ name: 'execlave-test', version: '1.0.0' });
  await client.connect(
    new StdioClientTransport({ command: process.execPath, args: [require.resolve(entry), ...args], stderr: 'ignore' }),
  );
  return client;
}

export function filesystemClient(root) {
  return stdioClient('@modelcontextprotocol/server-filesystem/dist/index.js', [root]);
}

export function everythingClient() {
  return stdioClient('@modelcontextprotocol/server-everything/dist/index.js', ['stdio']);
}

/** An in-process server; `ran` counts real tool executions by name. */
export async function inMemoryPair() {
  const ran = {};
  const count = (name) => {
    ran[name] = (ran[name] ?? 0) + 1;
  };
  const server = new McpServer({ name: 'test-server', version: '1.0.0' });
  server.registerTool('echo', { inputSchema: { text: z.string() } }, async ({ text }) => {
    count('echo');
    return { content: [{ type: 'text', text }] };
  });
  server.registerTool('noop', {}, async () => {
    count('noop');
    return { content: [{ type: 'text', text: 'ok' }] };
  });
  server.registerTool('write_note', { inputSchema: { path: z.string(), content: z.string() } }, async () => {
    count('write_note');
    return { content: [{ type: 'text', text: 'written' }] };
  });
  server.registerTool('delete_all', {}, async () => {
    count('delete_all');
    return { content: [{ type: 'text', text: 'deleted' }] };
  });
  server.registerTool('refund', { inputSchema: { order: z.object({ amount: z.number() }) } }, async () => {
    count('refund');
    return { content: [{ type: 'text', text: 'refunded' }] };
  });
  server.registerTool('read_many', { inputSchema: { paths: z.array(z.string()) } }, async () => {
    count('read_many');
    return { content: [{ type: 'text', text: 'read' }] };
  });
  server.registerTool('sleep', { inputSchema: { ms: z.number() } }, async ({ ms }) => {
    count('sleep');
    await new Promise((resolve) => setTimeout(resolve, ms));
    return { content: [{ type: 'text', text: 'slept' }] };
  });
  server.registerTool('soft_fail', {}, async () => {
    count('soft_fail');
    return { content: [{ type: 'text', text: 'nope' }], isError: true };
  });
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  await server.connect(serverSide);
  const client = new Client({ name: 'execlave-test', version: '1.0.0' });
  await client.connect(clientSide);
  return { client, server, ran, close: () => client.close() };
}
