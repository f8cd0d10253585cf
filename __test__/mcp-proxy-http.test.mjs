// execlave-mcp with a Streamable HTTP upstream (issue 21): the real MCP
// Client as the host spawns the proxy with --url; the server is the real
// server-everything in its Streamable HTTP mode, on loopback. Between the
// two sits a small recording forwarder of our own, so that the tests see
// what the proxy sends (headers, session, DELETE) and can make the session
// expire; everything it gets it passes on to the real server as is.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { writeFileSync, readFileSync } from 'node:fs';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { CallToolResultSchema, CreateMessageRequestSchema, ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { readAuditLog } from './helpers/audit-log.mjs';
import { tempDir } from './helpers/servers.mjs';
import { proxyCommand, until, EVERYTHING } from './helpers/proxy.mjs';

let root;
let policy;
let everything;
let everythingLog = '';
let forwarder;

before(async () => {
  root = tempDir('execlave-mcp-http-');
  policy = join(root, 'policy.json');
  writeFileSync(policy, JSON.stringify([{
    name: 'No env',
    policyType: 'tool_invocation',
    enforcementMode: 'block',
    ruleDefinition: { deny: ['get-env'] },
  }]));
  const port = await freePort();
  everything = spawn(process.execPath, [EVERYTHING, 'streamableHttp'], {
    env: { ...process.env, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  everything.stdout.on('data', (d) => { everythingLog += d; });
  everything.stderr.on('data', (d) => { everythingLog += d; });
  await until(() => /listening on port/.test(everythingLog), 20_000);
  forwarder = await recordingForwarder(port);
});

after(() => {
  everything?.kill();
  forwarder?.server.close();
  forwarder?.server.closeAllConnections();
});

async function freePort() {
  const probe = net.createServer();
  await new Promise((r) => probe.listen(0, '127.0.0.1', r));
  const { port } = probe.address();
  await new Promise((r) => probe.close(r));
  return port;
}

/**
 * Passes every request on to the server at `port`, noting each; `expire`
 * answers 404 to requests with a session; `misbehave(message, res)` may
 * answer a POSTed message itself, as a hostile or broken server would.
 */
async function recordingForwarder(port) {
  const state = { seen: [], expire: false, misbehave: null, cutAfterFirstEvent: null };
  state.server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString();
      state.seen.push({ method: req.method, url: req.url, headers: req.headers, body });
      if (state.expire && req.headers['mcp-session-id']) {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('Session not found');
        return;
      }
      if (state.misbehave && req.method === 'POST' && state.misbehave(JSON.parse(body), res)) return;
      const cut = req.method === 'POST' && state.cutAfterFirstEvent?.(JSON.parse(body));
      const upstream = http.request(
        { host: '127.0.0.1', port, method: req.method, path: req.url, headers: req.headers },
        (answer) => {
          res.writeHead(answer.statusCode, answer.headers);
          if (!cut) return answer.pipe(res);
          // The connection breaks right after the first numbered message.
          answer.on('data', (chunk) => {
            if (res.destroyed) return;
            res.write(chunk);
            if (/(^|\n)id: /.test(chunk) && /(^|\n)data: \{/.test(chunk)) setTimeout(() => res.socket?.destroy(), 20);
          });
        },
      );
      upstream.on('error', () => res.destroy());
      res.on('close', () => upstream.destroy());
      upstream.end(body);
    });
  });
  await new Promise((r) => state.server.listen(0, '127.0.0.1', r));
  state.url = `http://127.0.0.1:${state.server.address().port}/mcp`;
  return state;
}

/** A host (the real MCP Client) spawning execlave-mcp --url. */
async function httpHost(proxyArgs, { capabilities = {}, setup } = {}) {
  const client = new Client({ name: 'test-host', version: '9.8.7' }, { capabilities });
  if (setup) setup(client);
  const { command, args } = proxyCommand(proxyArgs);
  const transport = new StdioClientTransport({ command, args, stderr: 'pipe' });
  let stderr = '';
  transport.stderr.on('data', (d) => { stderr += d; });
  await client.connect(transport);
  return { client, transport, stderr: () => stderr };
}

/** execlave-mcp --url as a plain child: raw lines in and out. */
function rawUrlProxy(url) {
  const { command, args } = proxyCommand(['--agent-id', 'http-agent', '--policy', policy, '--url', url]);
  const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => { stdout += d; });
  child.stderr.on('data', (d) => { stderr += d; });
  return {
    child,
    exited: new Promise((resolve) => child.on('exit', (code) => resolve(code))),
    send: (m) => child.stdin.write(`${JSON.stringify(m)}\n`),
    lines: () => stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l)),
    stderr: () => stderr,
  };
}

const toolCallsTo = (tool) => forwarder.seen.filter((r) => r.method === 'POST' && r.body.includes('"tools/call"') && r.body.includes(`"${tool}"`));

test('over HTTP: allowed calls work, blocked ones never reach the server, lists are filtered, records name the URL without secrets', async () => {
  const auditLog = join(root, 'audit.jsonl');
  const secretUrl = forwarder.url.replace('http://', 'http://someone:pa55word@') + '?token=s3cret';
  const before = forwarder.seen.length;
  const host = await httpHost(['--agent-id', 'http-agent', '--policy', policy, '--audit-log', auditLog,
    '--url', secretUrl, '--header', 'X-Execlave-Test: header-value-1']);
  try {
    const names = (await host.client.listTools()).tools.map((t) => t.name);
    assert.ok(names.includes('echo'));
    assert.ok(!names.includes('get-env'), 'a denied tool is hidden');

    const echoed = await host.client.callTool({ name: 'echo', arguments: { message: 'over http' } });
    assert.equal(echoed.content[0].text, 'Echo: over http');

    const blocked = await host.client.callTool({ name: 'get-env', arguments: {} });
    assert.equal(blocked.isError, true);
    assert.match(blocked.content[0].text, /^The tool call was not made: blocked by policy/);
    assert.equal(toolCallsTo('get-env').length, 0, 'the blocked call never reached the server');
    assert.equal(toolCallsTo('echo').length, 1);
  } finally {
    await host.client.close();
  }
  await until(() => forwarder.seen.slice(before).some((r) => r.method === 'DELETE'));
  const mine = forwarder.seen.slice(before);
  // Every request carried the --header; each after initialize the session and the protocol version.
  assert.ok(mine.every((r) => r.headers['x-execlave-test'] === 'header-value-1'));
  const [init, ...later] = mine;
  assert.match(init.body, /"initialize"/);
  assert.equal(init.headers['mcp-session-id'], undefined);
  assert.match(init.headers.accept, /application\/json/);
  assert.match(init.headers.accept, /text\/event-stream/);
  const session = later[0].headers['mcp-session-id'];
  assert.match(session, /^[0-9a-f-]{36}$/);
  // The version the server settled at initialize (the SDKs' newest).
  const version = later[0].headers['mcp-protocol-version'];
  assert.match(version, /^\d{4}-\d{2}-\d{2}$/);
  for (const r of later) {
    assert.equal(r.headers['mcp-session-id'], session, `${r.method} ${r.body}`);
    assert.equal(r.headers['mcp-protocol-version'], version);
  }
  assert.ok(later.some((r) => r.method === 'GET'), 'the server\'s own stream was opened');
  assert.equal(mine.at(-1).method, 'DELETE');
  await until(() => everythingLog.includes(`Received session termination request for session ${session}`));

  const records = readAuditLog(auditLog);
  assert.deepEqual(records.map((r) => [r.metadata.toolName, r.metadata.decision]), [['echo', 'allowed'], ['get-env', 'blocked']]);
  for (const r of records) {
    assert.equal(r.metadata.upstream, forwarder.url);
    assert.deepEqual(r.metadata.client, { name: 'test-host', version: '9.8.7' });
  }
  const text = readFileSync(auditLog, 'utf8');
  assert.doesNotMatch(text, /s3cret|pa55word|header-value-1/);
});

test('over HTTP: the server\'s own requests (sampling, elicitation) pass through its event streams and get their answers', async () => {
  const host = await httpHost(['--agent-id', 'http-agent', '--policy', policy, '--url', forwarder.url], {
    capabilities: { sampling: {}, elicitation: {} },
    setup(client) {
      client.setRequestHandler(CreateMessageRequestSchema, async () => ({
        model: 'test-model', role: 'assistant', content: { type: 'text', text: 'sampled by the host' },
      }));
      client.setRequestHandler(ElicitRequestSchema, async () => ({ action: 'decline' }));
    },
  });
  try {
    const sampled = await host.client.callTool({ name: 'trigger-sampling-request', arguments: { prompt: 'hi', maxTokens: 5 } });
    assert.match(JSON.stringify(sampled.content), /sampled by the host/);
    const elicited = await host.client.callTool({ name: 'trigger-elicitation-request', arguments: {} });
    assert.match(JSON.stringify(elicited.content), /decline/i);
    const { resources } = await host.client.listResources();
    assert.ok(resources.length > 0);
    await host.client.ping();
  } finally {
    await host.client.close();
  }
});

test('over HTTP: a POST\'s event stream that breaks off is resumed after its last event (Last-Event-ID)', async () => {
  const before = forwarder.seen.length;
  const host = await httpHost(['--agent-id', 'http-agent', '--policy', policy, '--url', forwarder.url]);
  try {
    forwarder.cutAfterFirstEvent = (m) => m.method === 'tools/call';
    const progress = [];
    const result = await host.client.callTool(
      { name: 'trigger-long-running-operation', arguments: { duration: 0.3, steps: 3 } },
      CallToolResultSchema,
      { onprogress: (p) => progress.push(p) },
    );
    assert.match(JSON.stringify(result.content), /Long running operation completed/);
    assert.ok(progress.length >= 1);
    const resumed = forwarder.seen.slice(before).filter((r) => r.method === 'GET' && r.headers['last-event-id']);
    assert.equal(resumed.length, 1);
  } finally {
    forwarder.cutAfterFirstEvent = null;
    await host.client.close();
  }
  assert.doesNotMatch(host.stderr(), /could not be read|no answer/);
});

test('over HTTP: a server that cannot be reached answers initialize with a clear error, not a hang', async () => {
  const deadUrl = `http://127.0.0.1:${await freePort()}/mcp`;
  await assert.rejects(
    httpHost(['--agent-id', 'http-agent', '--policy', policy, '--url', deadUrl]),
    (err) => err.code === -32000 && err.message.includes(`cannot reach the MCP server at ${deadUrl}: cannot connect`),
  );
});

test('over HTTP: an unreachable server leaves the proxy running for the host to decide; plain http elsewhere is warned once', async () => {
  const deadUrl = `http://127.0.0.1:${await freePort()}/mcp`;
  const dead = rawUrlProxy(deadUrl);
  dead.send({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } });
  await until(() => dead.lines().some((m) => m.id === 1));
  assert.match(dead.lines()[0].error.message, /cannot reach the MCP server/);
  dead.send({ jsonrpc: '2.0', id: 2, method: 'ping' });
  await until(() => dead.lines().some((m) => m.id === 2));
  assert.equal(dead.child.exitCode, null, 'still running');
  dead.child.stdin.end();
  assert.equal(await dead.exited, 0);
  assert.doesNotMatch(dead.stderr(), /warning/);

  // TEST-NET-1: never contacted here (no message is sent).
  const remote = rawUrlProxy('http://192.0.2.1/mcp?key=s3cret');
  await until(() => /warning/.test(remote.stderr()));
  remote.child.stdin.end();
  assert.equal(await remote.exited, 0);
  const warnings = remote.stderr().split('\n').filter((l) => /warning/.test(l));
  assert.equal(warnings.length, 1);
  assert.match(warnings[0], /http:\/\/192\.0\.2\.1\/mcp is plain http to another machine/);
  assert.doesNotMatch(remote.stderr(), /s3cret/);
});

test('over HTTP: an expired session (404) answers the request with an error that says so', async () => {
  const host = await httpHost(['--agent-id', 'http-agent', '--policy', policy, '--url', forwarder.url]);
  try {
    forwarder.expire = true;
    await assert.rejects(
      host.client.callTool({ name: 'echo', arguments: { message: 'x' } }),
      (err) => err.code === -32000 && /ended its session \(HTTP 404\)/.test(err.message),
    );
    assert.match(host.stderr(), /session expired \(HTTP 404\)/);
  } finally {
    forwarder.expire = false;
    await host.client.close();
  }
});

test('over HTTP: a broken or hostile answer is refused with an error that names it, never passed on as something else', async () => {
  const misbehaviours = {
    'http-500': [(res) => res.writeHead(500, { 'content-type': 'text/plain' }).end('boom'), /answered HTTP 500 Internal Server Error: boom/],
    html: [(res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<html></html>'), /an answer of type "text\/html", not JSON or an event stream/],
    'not-json': [(res) => res.writeHead(200, { 'content-type': 'application/json' }).end('oops'), /not a JSON-RPC response to this request/],
    'wrong-id': [(res) => res.writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify({ jsonrpc: '2.0', id: 'someone-else', result: { content: [] } })), /not a JSON-RPC response to this request/],
    batch: [(res, id) => res.writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify([{ jsonrpc: '2.0', id, result: { content: [] } }])), /not a JSON-RPC response to this request/],
    'no-answer': [(res) => res.writeHead(202).end(), /HTTP 202 Accepted without an answer/],
    'stream-ends': [(res) => res.writeHead(200, { 'content-type': 'text/event-stream' }).end(': nothing here\n\n'), /sent no answer to this request/],
    'stream-breaks': [(res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: {"jsonrpc":"2.0",');
      setTimeout(() => res.socket.destroy(), 50);
    }, /could not be read: the answer broke off/],
  };
  const host = await httpHost(['--agent-id', 'http-agent', '--policy', policy, '--url', forwarder.url]);
  try {
    forwarder.misbehave = (message, res) => {
      const how = misbehaviours[message.params?.arguments?.message];
      if (message.method !== 'tools/call' || !how) return false;
      how[0](res, message.id);
      return true;
    };
    for (const [name, [, expected]] of Object.entries(misbehaviours)) {
      await assert.rejects(
        host.client.callTool({ name: 'echo', arguments: { message: name } }),
        (err) => err.code === -32000 && expected.test(err.message),
        name,
      );
    }
    // A pretty-printed answer on several data lines arrives as one message, unchanged in meaning.
    forwarder.misbehave = (message, res) => {
      if (message.method !== 'tools/call') return false;
      const answer = JSON.stringify({ jsonrpc: '2.0', id: message.id, result: { content: [{ type: 'text', text: 'multi\nline' }] } }, null, 2);
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end(`event: message\nid: 1\n${answer.split('\n').map((l) => `data: ${l}`).join('\n')}\n\n`);
      return true;
    };
    const pretty = await host.client.callTool({ name: 'echo', arguments: { message: 'x' } });
    assert.equal(pretty.content[0].text, 'multi\nline');
    // The proxy still works after all that.
    forwarder.misbehave = null;
    assert.equal((await host.client.callTool({ name: 'echo', arguments: { message: 'fine' } })).content[0].text, 'Echo: fine');
    assert.match(host.stderr(), /dropped a malformed line from the MCP server/);
    assert.match(host.stderr(), /no pending request \(id "someone-else"\)/);
  } finally {
    forwarder.misbehave = null;
    await host.client.close();
  }
});

test('over HTTP: when the host leaves, pending calls are answered, the session is deleted, and the proxy exits 0', async () => {
  const { child, exited, lines, send } = rawUrlProxy(forwarder.url);
  const before = forwarder.seen.length;
  send({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } });
  await until(() => lines().some((m) => m.id === 1));
  send({ jsonrpc: '2.0', method: 'notifications/initialized' });
  send({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'trigger-long-running-operation', arguments: { duration: 30, steps: 3 } } });
  await until(() => toolCallsTo('trigger-long-running-operation').length > 0);
  child.stdin.end();
  assert.equal(await exited, 0);
  const answer = lines().find((m) => m.id === 2);
  assert.match(answer.error.message, /the host went away before the server answered/);
  assert.ok(forwarder.seen.slice(before).some((r) => r.method === 'DELETE'));
});

test('over HTTP: bad command lines exit non-zero with one clear line', () => {
  const run = (args) => {
    const { command, args: argv } = proxyCommand(args);
    return spawnSync(command, argv, { encoding: 'utf8', input: '' });
  };
  const cases = [
    [['--agent-id', 'a', '--url', 'https://example.com/mcp', '--', 'node', 's.js'], /two upstreams: give one/],
    [['--agent-id', 'a', '--header', 'X-A: 1', '--', 'node', 's.js'], /--header is for an HTTP upstream: it needs --url/],
    [['--agent-id', 'a', '--url', 'https://example.com/mcp', '--header', 'Bearer sk-secret'], /--header #1 has no ':'/],
    [['--agent-id', 'a', '--url', 'https://example.com/mcp', '--header', 'Bad Name: v'], /--header #1: "Bad Name" is not a valid header name/],
    [['--agent-id', 'a', '--url', 'example.com/mcp'], /--url: not a URL/],
  ];
  for (const [args, message] of cases) {
    const r = run(args);
    assert.equal(r.status, 2, args.join(' '));
    assert.match(r.stderr, message);
    assert.doesNotMatch(r.stderr, /sk-secret/);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
  const help = run(['--help']);
  assert.match(help.stdout, /--url <https:\/\/host\/mcp> \[--header 'Name: value'\]/);
});
