// An MCP server built with the 2.x SDK (@modelcontextprotocol/server),
// served in-process (InMemoryTransport), over stdio (v2-stdio-server.mjs)
// or Streamable HTTP (`startV2HttpServer`). Its tools count how often
// they really ran, and `deploy` asks the client for a confirmation with
// the 2026-07-28 revision's `input_required` result.

import http from 'node:http';
import { McpServer, createMcpHandler, inputRequired, acceptedContent } from '@modelcontextprotocol/server';
import * as z from 'zod/v4';

/** A factory for the server; `ran` counts executions and `deploys` the rounds of `deploy`. */
export function v2ServerFactory(ran = {}) {
  const count = (name) => {
    ran[name] = (ran[name] ?? 0) + 1;
  };
  return () => {
    const server = new McpServer({ name: 'v2-test-server', version: '2.0.0' }, { capabilities: { tools: {} } });
    server.registerTool('echo', { inputSchema: z.object({ text: z.string() }) }, async ({ text }) => {
      count('echo');
      return { content: [{ type: 'text', text }] };
    });
    server.registerTool('noop', {}, async () => {
      count('noop');
      return { content: [{ type: 'text', text: 'ok' }] };
    });
    server.registerTool('delete_all', {}, async () => {
      count('delete_all');
      return { content: [{ type: 'text', text: 'deleted' }] };
    });
    const confirmation = z.object({ confirm: z.boolean() });
    server.registerTool('deploy', { inputSchema: z.object({ env: z.string() }) }, async ({ env }, ctx) => {
      count('deploy-round');
      const answer = acceptedContent(ctx.mcpReq.inputResponses, 'confirm', confirmation);
      if (answer?.confirm !== true) {
        return inputRequired({
          inputRequests: { confirm: inputRequired.elicit({ message: `Deploy to ${env}?`, requestedSchema: confirmation }) },
          requestState: `deploy:${env}`,
        });
      }
      count('deploy');
      return { content: [{ type: 'text', text: `deployed to ${env}` }] };
    });
    return server;
  };
}

/**
 * The 2.x server over Streamable HTTP on 127.0.0.1 (a node:http front for
 * the web-standard handler). `factory`: makes the server for each request
 * (stateless), `v2ServerFactory`'s by default.
 */
export async function startV2HttpServer(ran = {}, factory = v2ServerFactory(ran)) {
  const handler = createMcpHandler(factory);
  const server = http.createServer(async (req, res) => {
    try {
      const chunks = [];
      for await (const c of req) chunks.push(c);
      const body = chunks.length ? Buffer.concat(chunks) : undefined;
      const headers = new Headers();
      for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers.set(k, v);
      const request = new Request(`http://${req.headers.host}${req.url}`, {
        method: req.method,
        headers,
        body: req.method === 'GET' || req.method === 'HEAD' ? undefined : body,
      });
      const response = await handler.fetch(request);
      res.writeHead(response.status, Object.fromEntries(response.headers));
      if (response.body) for await (const chunk of response.body) res.write(chunk);
      res.end();
    } catch (err) {
      res.writeHead(500);
      res.end(String(err));
    }
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: new URL(`http://127.0.0.1:${server.address().port}/mcp`),
    ran,
    close: async () => {
      await handler.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
