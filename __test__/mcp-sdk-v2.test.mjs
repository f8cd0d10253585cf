// The wrapper on the 2.x MCP TypeScript SDK (@modelcontextprotocol/client
// and @modelcontextprotocol/server): a real 2.x Client against a real 2.x
// server over stdio, Streamable HTTP and InMemoryTransport. Each call is
// decided once and recorded once; blocked calls never reach the server;
// listings hide refused tools; in-band blocks; and a tool that asks for
// input (`input_required`, protocol revision 2026-07-28) is governed.

import { test, describe, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { Client, InMemoryTransport, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { Execlave, PolicyBlockedError } from '@execlave/sdk';
import { instrumentMcpClient } from '@execlave/sdk/integrations/mcp';
import { readAuditLog } from './helpers/audit-log.mjs';
import { startV2HttpServer, v2ServerFactory } from './helpers/v2-server.mjs';
import { tempDir } from './helpers/servers.mjs';

const require = createRequire(import.meta.url);
const cleanups = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()();
});

const policies = [
  {
    name: 'V2 guard',
    policyType: 'tool_invocation',
    enforcementMode: 'block',
    ruleDefinition: {
      deny: ['delete_all'],
      arguments: [{ tools: ['deploy'], argument: 'env', kind: 'glob', allow: ['dev', 'staging', 'prod'] }],
    },
  },
];

/** A 2.x Client that confirms every elicitation (the `deploy` tool asks for one). */
function v2Client() {
  const client = new Client(
    { name: 'execlave-test', version: '1.0.0' },
    { capabilities: { elicitation: { form: {} } }, versionNegotiation: { mode: 'auto' } },
  );
  client.setRequestHandler('elicitation/create', async () => ({ action: 'accept', content: { confirm: true } }));
  return client;
}

const transports = {
  async 'in-memory'() {
    const ran = {};
    const server = v2ServerFactory(ran)();
    const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
    await server.connect(serverSide);
    return { transport: clientSide, ran, close: () => server.close() };
  },
  async stdio() {
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [join(import.meta.dirname, 'helpers', 'v2-stdio-server.mjs')],
      stderr: 'ignore',
    });
    return { transport, ran: null, close: async () => {} };
  },
  async 'streamable-http'() {
    const http = await startV2HttpServer();
    return { transport: new StreamableHTTPClientTransport(http.url), ran: http.ran, close: http.close };
  },
};

/**
 * Skips test `t` when `client`'s protocol era fulfils input inside the one
 * round (only the modern era answers `input_required` and re-sends).
 */
function skipsRounds(t, client) {
  if (client.getProtocolEra() === 'modern') return false;
  t.skip(`the ${client.getProtocolEra()} era fulfils input inside the one round`);
  return true;
}

// The answer to the `deploy` tool's confirmation, for its next round.
const CONFIRMED = { confirm: { action: 'accept', content: { confirm: true } } };

async function governed(kind, wrapOptions = {}) {
  const { transport, ran, close } = await transports[kind]();
  const auditLog = join(tempDir(), 'audit.jsonl');
  const exe = new Execlave({ policies, auditLog });
  const client = v2Client();
  // Count the tools/call messages that really left the client.
  const sent = [];
  const send = transport.send.bind(transport);
  transport.send = (message, ...rest) => {
    if (message.method === 'tools/call') sent.push(message.params);
    return send(message, ...rest);
  };
  await client.connect(transport);
  instrumentMcpClient(client, exe, { agentId: 'ops-agent', ...wrapOptions });
  cleanups.push(async () => {
    await client.close();
    await exe.shutdown();
    await close();
  });
  const records = async () => {
    await exe.flush();
    return readAuditLog(auditLog);
  };
  return { client, exe, sent, ran, records };
}

for (const kind of Object.keys(transports)) {
  describe(`2.x client and server over ${kind}`, () => {
    test('allowed calls go through once, decided once and recorded once; blocked calls are never sent', async () => {
      const { client, exe, sent, ran, records } = await governed(kind);
      const r = await client.callTool({ name: 'echo', arguments: { text: 'hi' } });
      assert.equal(r.content[0].text, 'hi');
      await assert.rejects(client.callTool({ name: 'delete_all', arguments: {} }), PolicyBlockedError);
      await assert.rejects(client.request({ method: 'tools/call', params: { name: 'delete_all', arguments: {} } }), PolicyBlockedError);
      const raw = await client.request({ method: 'tools/call', params: { name: 'noop', arguments: {} } });
      assert.equal(raw.content[0].text, 'ok');
      assert.deepEqual(sent.map((p) => p.name), ['echo', 'noop']);
      if (ran) assert.equal(ran.delete_all, undefined);
      assert.equal(exe.stats().decisions, 4, 'one decision per call: callTool does not count again in request');
      const recs = await records();
      assert.equal(recs.length, 4, JSON.stringify(recs.map((x) => x.metadata?.toolName ?? x.toolName)));
    });

    test('listTools hides the denied tool; onBlock result works', async () => {
      const { client, exe } = await governed(kind, { onBlock: 'result' });
      const names = (await client.listTools()).tools.map((t) => t.name);
      assert.ok(names.includes('echo') && names.includes('deploy'), names.join());
      assert.ok(!names.includes('delete_all'));
      assert.equal(exe.stats().toolsHidden, 1);
      const blocked = await client.callTool({ name: 'delete_all', arguments: {} });
      assert.equal(blocked.isError, true);
      assert.equal(blocked.structuredContent.execlave.violations[0].rule, 'deny');
    });

    test('a tool that asks for input (input_required) is governed: allowed once, refused arguments never sent', async () => {
      const { client, exe, sent, ran } = await governed(kind);
      const r = await client.callTool({ name: 'deploy', arguments: { env: 'prod' } });
      assert.equal(r.content[0].text, 'deployed to prod');
      if (ran) assert.equal(ran.deploy, 1);
      await assert.rejects(client.callTool({ name: 'deploy', arguments: { env: 'mars' } }), PolicyBlockedError);
      // Every round on the wire carried the arguments that were checked:
      // the SDK's own retries (modern era) re-send the checked params with
      // inputResponses and requestState added; the legacy era asks for the
      // input inside the one round.
      assert.ok(sent.length >= 1 && sent.every((p) => p.arguments.env === 'prod'), JSON.stringify(sent));
      if (client.getProtocolEra() === 'modern') {
        assert.equal(sent.length, 2);
        assert.equal(sent[1].requestState, 'deploy:prod');
      }
      assert.equal(exe.stats().decisions, 2);
      assert.equal(exe.stats().blocked, 1);
    });

    test('a round the caller re-sends itself (allowInputRequired) is checked again, on its own arguments', async (t) => {
      const { client, exe, sent } = await governed(kind);
      if (skipsRounds(t, client)) return;
      const first = await client.callTool({ name: 'deploy', arguments: { env: 'dev' } }, { allowInputRequired: true });
      assert.equal(first.resultType, 'input_required');
      const inputResponses = CONFIRMED;
      // The model changed the arguments between the rounds: checked again, refused, not sent.
      await assert.rejects(
        client.callTool({ name: 'deploy', arguments: { env: 'mars' }, inputResponses, requestState: first.requestState }),
        PolicyBlockedError,
      );
      const done = await client.callTool({ name: 'deploy', arguments: { env: 'dev' }, inputResponses, requestState: first.requestState });
      assert.equal(done.content[0].text, 'deployed to dev');
      assert.deepEqual(sent.map((p) => p.arguments.env), ['dev', 'dev']);
      assert.equal(sent[1].requestState, 'deploy:dev');
      assert.equal(exe.stats().decisions, 3);
    });

    test('the records of a re-sent round are linked to the first round: same parentTraceId, rounds 1 and 2', async (t) => {
      const { client, records } = await governed(kind);
      if (skipsRounds(t, client)) return;
      await client.callTool({ name: 'echo', arguments: { text: 'before' } });
      const first = await client.callTool({ name: 'deploy', arguments: { env: 'dev' } }, { allowInputRequired: true });
      assert.equal(first.resultType, 'input_required');
      const inputResponses = CONFIRMED;
      await assert.rejects(
        client.callTool({ name: 'deploy', arguments: { env: 'mars' }, inputResponses, requestState: first.requestState }),
        PolicyBlockedError,
      );
      const done = await client.callTool({ name: 'deploy', arguments: { env: 'dev' }, inputResponses, requestState: first.requestState });
      assert.equal(done.content[0].text, 'deployed to dev');
      // The same requestState again is no round of that call any more.
      await client.callTool({ name: 'deploy', arguments: { env: 'dev' }, inputResponses, requestState: first.requestState }).catch(() => {});

      const recs = await records();
      const deploys = recs.filter((r) => r.metadata.toolName === 'deploy' && r.status !== 'policy_blocked');
      const [round1, round2, stale] = deploys;
      assert.equal(round1.parentTraceId, round1.traceId, 'the first round is its own parent');
      assert.equal(round1.metadata.round, 1);
      assert.equal(round2.parentTraceId, round1.traceId);
      assert.equal(round2.metadata.round, 2);
      assert.notEqual(round2.traceId, round1.traceId);
      assert.equal(stale.parentTraceId, undefined, JSON.stringify(stale));
      const echo = recs.find((r) => r.metadata.toolName === 'echo');
      assert.equal(echo.parentTraceId, undefined, 'an ordinary call is not linked');
      assert.equal(echo.metadata.round, undefined);
      // The round with changed arguments was refused and recorded as such.
      const refused = recs.filter((r) => r.status === 'policy_blocked');
      assert.equal(refused.length, 1);
      assert.equal(JSON.parse(refused[0].input).env, 'mars');
    });

    test('a refused round is linked too: its record carries the first round as parent and its round number', async (t) => {
      const { client, sent, records } = await governed(kind, { onBlock: 'result' });
      if (skipsRounds(t, client)) return;
      const first = await client.callTool({ name: 'deploy', arguments: { env: 'dev' } }, { allowInputRequired: true });
      assert.equal(first.resultType, 'input_required');
      const inputResponses = CONFIRMED;
      const resend = (env) => client.callTool({ name: 'deploy', arguments: { env }, inputResponses, requestState: first.requestState });
      // Round 2 with arguments the policy refuses (in-band: a result, never sent) ...
      const blocked = await resend('mars');
      assert.equal(blocked.isError, true);
      // ... and round 2 again, as a raw request: refused, never sent.
      const raw = await client.request({
        method: 'tools/call',
        params: { name: 'deploy', arguments: { env: 'moon' }, inputResponses, requestState: first.requestState },
      });
      assert.equal(raw.isError, true);
      // A refused round was never sent, so its requestState still names
      // round 2: the retry with allowed arguments is that round.
      const done = await resend('dev');
      assert.equal(done.content[0].text, 'deployed to dev');
      assert.deepEqual(sent.map((p) => p.arguments.env), ['dev', 'dev']);

      const deploys = (await records()).filter((r) => r.metadata.toolName === 'deploy');
      assert.deepEqual(
        deploys.map((r) => [JSON.parse(r.input).env, r.status]),
        [['dev', 'success'], ['mars', 'policy_blocked'], ['moon', 'policy_blocked'], ['dev', 'success']],
      );
      const [round1, ...later] = deploys;
      assert.equal(round1.parentTraceId, round1.traceId);
      assert.equal(round1.metadata.round, 1);
      for (const r of later) {
        assert.equal(r.parentTraceId, round1.traceId, JSON.stringify(r));
        assert.equal(r.metadata.round, 2, JSON.stringify(r));
        assert.notEqual(r.traceId, round1.traceId);
      }
    });
  });
}

describe('2.x listing with pages', () => {
  test('listTools() aggregates the filtered pages; a page asked for by cursor keeps its nextCursor', async () => {
    const { Server } = await import('@modelcontextprotocol/server');
    const all = ['echo', 'delete_all', 'delete_logs', 'noop', 'write_note'].map((name) => ({ name, inputSchema: { type: 'object' } }));
    const server = new Server({ name: 'paging-v2', version: '2.0.0' }, { capabilities: { tools: {} } });
    server.setRequestHandler('tools/list', (req) => {
      const start = Number(req.params?.cursor ?? 0);
      const end = start + 2;
      return { tools: all.slice(start, end), ...(end < all.length && { nextCursor: String(end) }) };
    });
    const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
    await server.connect(serverSide);
    const exe = new Execlave({
      policies: [{ name: 'No deletes', policyType: 'tool_invocation', enforcementMode: 'block', ruleDefinition: { deny: ['delete_*'] } }],
    });
    const client = v2Client();
    await client.connect(clientSide);
    instrumentMcpClient(client, exe, { agentId: 'ops-agent' });
    cleanups.push(async () => {
      await client.close();
      await exe.shutdown();
      await server.close();
    });
    assert.deepEqual((await client.listTools()).tools.map((t) => t.name), ['echo', 'noop', 'write_note']);
    const page = await client.listTools({ cursor: '2' });
    assert.deepEqual(page.tools.map((t) => t.name), ['noop']);
    assert.equal(page.nextCursor, '4');
    // Served from the 2.x client's cache the second time: still filtered,
    // under the policies of this moment.
    assert.deepEqual((await client.listTools()).tools.map((t) => t.name), ['echo', 'noop', 'write_note']);
    assert.equal(exe.stats().toolsHidden, 5);
  });
});
