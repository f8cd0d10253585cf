import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import { Execlave } from '@execlave/sdk';
import { instrumentMcpClient } from '@execlave/sdk/integrations/mcp';
async function pair() {
  const server = new McpServer({ name: 'b', version: '1' });
  server.registerTool('echo', { inputSchema: { text: z.string() } }, async ({ text }) => ({ content: [{ type: 'text', text }] }));
  const [c, s] = InMemoryTransport.createLinkedPair(); await server.connect(s);
  const client = new Client({ name: 'b', version: '1' }); await client.connect(c); return client;
}
const P = [{ name: 'G', policyType: 'tool_invocation', enforcementMode: 'block', ruleDefinition: { allow: ['echo'] } }];
const reqOnly = await pair(); { const o = reqOnly.request; reqOnly.request = function request(r, ...rest) { return o.call(reqOnly, r, ...rest); }; }
const v = { bare: await pair(), reqOnly, nosink: instrumentMcpClient(await pair(), new Execlave({ policies: P }), { agentId: 'a' }) };
const which = process.argv[2];
const c = v[which];
const res = [];
for (let r = 0; r < 15; r++) {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < 1000; i++) await c.callTool({ name: 'echo', arguments: { text: 'hello' } });
  res.push(Number(process.hrtime.bigint() - t0) / 1000 / 1000);
}
console.log(which, res.sort((x, y) => x - y)[7].toFixed(1));
process.exit(0);
