'use strict';

// Shared by the ESM and CommonJS smoke scripts, which each load
// @execlave/sdk and @modelcontextprotocol/sdk their own way and hand the
// modules in. Runs governed calls over every MCP transport the installed SDK
// version has, against @modelcontextprotocol/server-everything:
//   stdio            the server as a child process
//   streamable-http  a real HTTP server the smoke runner started (SMOKE_HTTP_URL)
//   in-memory        the server in this process, over InMemoryTransport
// Per transport: two allowed calls (echo, get-sum) reach the server and
// answer; one denied call (get-env) rejects with PolicyBlockedError and is
// never sent (the transport's outgoing messages are recorded to prove it).

const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { pathToFileURL } = require('node:url');

const EVERYTHING = process.env.SMOKE_EVERYTHING_DIR; // .../server-everything
const HTTP_URL = process.env.SMOKE_HTTP_URL; // http://127.0.0.1:PORT/mcp
// Which transports to run (default all); scripts/cross-build.sh runs only
// in-memory under emulation, where a child `node` cannot be spawned.
const ONLY = process.env.SMOKE_TRANSPORTS ? process.env.SMOKE_TRANSPORTS.split(',') : null;
const wanted = (name) => !ONLY || ONLY.includes(name);

const policies = [
  {
    name: 'Guard',
    policyType: 'tool_invocation',
    enforcementMode: 'block',
    ruleDefinition: { allow: ['echo', 'get-sum'], deny: ['get-env'] },
  },
];

/** The installed @modelcontextprotocol/sdk version (1.0.x exports no ./package.json). */
function installedSdkVersion() {
  let dir = path.dirname(require.resolve('@modelcontextprotocol/sdk/client/index.js', { paths: [process.cwd()] }));
  for (;;) {
    const manifest = path.join(dir, 'package.json');
    if (fs.existsSync(manifest)) {
      const m = JSON.parse(fs.readFileSync(manifest, 'utf8'));
      if (m.name === '@modelcontextprotocol/sdk') return m.version;
    }
    const up = path.dirname(dir);
    if (up === dir) return 'unknown';
    dir = up;
  }
}

function text(result) {
  return (result.content || []).map((c) => c.text || '').join('');
}

function recordSends(transport) {
  const sent = [];
  const send = transport.send.bind(transport);
  transport.send = (message, ...rest) => {
    sent.push(message);
    return send(message, ...rest);
  };
  return sent;
}

async function governedCalls({ label, transportName, sdk, Client, Execlave, PolicyBlockedError, instrumentMcpClient, transport, cleanup }) {
  const sent = recordSends(transport);
  const client = new Client({ name: `smoke-${label}`, version: '1.0.0' }, { capabilities: {} });
  await client.connect(transport);
  const exe = new Execlave({ policies });
  try {
    instrumentMcpClient(client, exe, { agentId: 'ops-agent' });

    const echoed = await client.callTool({ name: 'echo', arguments: { message: `hi from ${label}` } });
    assert.match(text(echoed), new RegExp(`hi from ${label}`));
    const sum = await client.callTool({ name: 'get-sum', arguments: { a: 2, b: 3 } });
    assert.match(text(sum), /5/);

    await assert.rejects(
      client.callTool({ name: 'get-env', arguments: {} }),
      (err) => {
        assert.ok(err instanceof PolicyBlockedError, `expected PolicyBlockedError, got ${err && err.name}: ${err && err.message}`);
        return true;
      },
    );
    const toolCalls = sent.filter((m) => m && m.method === 'tools/call').map((m) => m.params && m.params.name);
    assert.deepEqual(toolCalls, ['echo', 'get-sum'], 'the blocked call must never reach the server');
  } finally {
    await exe.shutdown();
    await client.close();
    if (cleanup) await cleanup();
  }
  return `${transportName}: ok`;
}

/**
 * @param {object} m  { label, Execlave, PolicyBlockedError, instrumentMcpClient,
 *                      Client, StdioClientTransport, StreamableHTTPClientTransport?, InMemoryTransport? }
 */
async function run(m) {
  const results = [];
  const base = { ...m, sdkVersion: installedSdkVersion() };

  // stdio
  if (wanted('stdio')) results.push(
    await governedCalls({
      ...base,
      transportName: 'stdio',
      transport: new m.StdioClientTransport({
        command: process.execPath,
        args: [path.join(EVERYTHING, 'dist', 'index.js'), 'stdio'],
        stderr: 'ignore',
      }),
    }),
  );

  // Streamable HTTP (SDK >= 1.10.0)
  if (!wanted('streamable-http')) {
    // not asked for
  } else if (m.StreamableHTTPClientTransport) {
    assert.ok(HTTP_URL, 'SMOKE_HTTP_URL is not set');
    results.push(
      await governedCalls({
        ...base,
        transportName: 'streamable-http',
        transport: new m.StreamableHTTPClientTransport(new URL(HTTP_URL)),
      }),
    );
  } else {
    results.push(`streamable-http: not in @modelcontextprotocol/sdk ${base.sdkVersion}`);
  }

  // InMemoryTransport, with the server in this process
  if (!wanted('in-memory')) {
    // not asked for
  } else if (m.InMemoryTransport) {
    const serverModule = await import(pathToFileURL(path.join(EVERYTHING, 'dist', 'server', 'index.js')).href);
    const { server, cleanup } = serverModule.createServer();
    const [clientSide, serverSide] = m.InMemoryTransport.createLinkedPair();
    await server.connect(serverSide);
    results.push(
      await governedCalls({
        ...base,
        transportName: 'in-memory',
        transport: clientSide,
        cleanup: async () => {
          await server.close();
          if (cleanup) cleanup();
        },
      }),
    );
  } else {
    results.push(`in-memory: not in @modelcontextprotocol/sdk ${base.sdkVersion}`);
  }

  for (const r of results) console.log(`[${m.label}] ${r}`);
  assert.ok(results.some((r) => r.endsWith(': ok')), 'no transport ran');
  return results;
}

module.exports = { run, policies, installedSdkVersion };
