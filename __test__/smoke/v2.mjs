// ESM consumer of the installed @execlave/sdk with the 2.x MCP SDK
// (@modelcontextprotocol/client and @modelcontextprotocol/server, no
// @modelcontextprotocol/sdk). A 2.x server (this file, started with
// `serve-stdio`, or in this process) over stdio, Streamable HTTP and
// InMemoryTransport. Per transport: allowed calls reach the server, a denied
// call rejects with PolicyBlockedError and is never sent, each call is
// decided once, the listing hides the denied tool, and onBlock 'result'
// answers in band.
import assert from 'node:assert/strict';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { McpServer, createMcpHandler } from '@modelcontextprotocol/server';
import * as z from 'zod/v4';

const label = 'v2';
const policies = [
  { name: 'Guard', policyType: 'tool_invocation', enforcementMode: 'block', ruleDefinition: { allow: ['echo', 'get-sum'], deny: ['get-env'] } },
];

function factory() {
  const server = new McpServer({ name: 'smoke-v2-server', version: '2.0.0' }, { capabilities: { tools: {} } });
  server.registerTool('echo', { inputSchema: z.object({ message: z.string() }) }, async ({ message }) => ({
    content: [{ type: 'text', text: `Echo: ${message}` }],
  }));
  server.registerTool('get-sum', { inputSchema: z.object({ a: z.number(), b: z.number() }) }, async ({ a, b }) => ({
    content: [{ type: 'text', text: String(a + b) }],
  }));
  server.registerTool('get-env', {}, async () => ({ content: [{ type: 'text', text: JSON.stringify(process.env) }] }));
  return server;
}

if (process.argv[2] === 'serve-stdio') {
  const { serveStdio } = await import('@modelcontextprotocol/server/stdio');
  serveStdio(factory);
} else {
  await main();
}

async function main() {
  const { Execlave, PolicyBlockedError } = await import('@execlave/sdk');
  const { instrumentMcpClient } = await import('@execlave/sdk/integrations/mcp');
  const { Client, InMemoryTransport, StreamableHTTPClientTransport } = await import('@modelcontextprotocol/client');
  const { StdioClientTransport } = await import('@modelcontextprotocol/client/stdio');

  async function governed(name, transport, cleanup) {
    const sent = [];
    const send = transport.send.bind(transport);
    transport.send = (message, ...rest) => {
      if (message.method === 'tools/call') sent.push(message.params.name);
      return send(message, ...rest);
    };
    const client = new Client({ name: 'smoke-v2', version: '1.0.0' }, { versionNegotiation: { mode: 'auto' } });
    await client.connect(transport);
    const exe = new Execlave({ policies });
    try {
      instrumentMcpClient(client, exe, { agentId: 'ops-agent' });
      assert.match((await client.callTool({ name: 'echo', arguments: { message: `hi from ${label}` } })).content[0].text, /hi from v2/);
      assert.equal((await client.callTool({ name: 'get-sum', arguments: { a: 2, b: 3 } })).content[0].text, '5');
      await assert.rejects(client.callTool({ name: 'get-env', arguments: {} }), PolicyBlockedError);
      assert.deepEqual(sent, ['echo', 'get-sum'], 'the denied call was never sent');
      assert.equal(exe.stats().decisions, 3, 'each call decided once');
      const names = (await client.listTools()).tools.map((t) => t.name).sort();
      assert.deepEqual(names, ['echo', 'get-sum'], 'the denied tool is hidden');
      console.log(`[${label}] ${name}: ok (${client.getProtocolEra()} era)`);
    } finally {
      await exe.shutdown();
      await client.close();
      if (cleanup) await cleanup();
    }
  }

  await governed(
    'stdio',
    new StdioClientTransport({ command: process.execPath, args: [fileURLToPath(import.meta.url), 'serve-stdio'], stderr: 'ignore' }),
  );

  const handler = createMcpHandler(factory);
  const server = http.createServer(async (req, res) => {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const headers = new Headers();
    for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers.set(k, v);
    const response = await handler.fetch(
      new Request(`http://${req.headers.host}${req.url}`, {
        method: req.method,
        headers,
        body: req.method === 'GET' || req.method === 'HEAD' ? undefined : Buffer.concat(chunks),
      }),
    );
    res.writeHead(response.status, Object.fromEntries(response.headers));
    if (response.body) for await (const chunk of response.body) res.write(chunk);
    res.end();
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  await governed('streamable-http', new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${server.address().port}/mcp`)), async () => {
    await handler.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const inProcess = factory();
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  await inProcess.connect(serverSide);
  await governed('in-memory', clientSide, () => inProcess.close());
  console.log(`[${label}] done`);
}
