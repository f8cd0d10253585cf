// TypeScript consumer, checked by tsc under `NodeNext` and `Bundler`
// resolution against the installed package's .d.ts files, then run.
import { Execlave, PolicyBlockedError, type Policy } from '@execlave/sdk';
import { instrumentMcpClient } from '@execlave/sdk/integrations/mcp';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';

const require = createRequire(import.meta.url);
// The installed SDK's version (1.0.x exports no ./package.json).
function installedSdkVersion(): string {
  let dir = path.dirname(require.resolve('@modelcontextprotocol/sdk/client/index.js'));
  while (path.dirname(dir) !== dir) {
    const manifest = path.join(dir, 'package.json');
    if (fs.existsSync(manifest)) {
      const m = JSON.parse(fs.readFileSync(manifest, 'utf8')) as { name?: string; version?: string };
      if (m.name === '@modelcontextprotocol/sdk') return m.version ?? 'unknown';
    }
    dir = path.dirname(dir);
  }
  return 'unknown';
}
const sdkVersion = installedSdkVersion();
const everything = process.env.SMOKE_EVERYTHING_DIR as string;
const httpUrl = process.env.SMOKE_HTTP_URL;
const label = process.env.SMOKE_TS_LABEL ?? 'ts';

const policies: Policy[] = [
  {
    name: 'Guard',
    policyType: 'tool_invocation',
    enforcementMode: 'block',
    ruleDefinition: { allow: ['echo', 'get-sum'], deny: ['get-env'] },
  },
];

// Issue 19: policies have no index signatures, so a misspelt field is a
// type error under --strict (and an error when the policy loads).
const typo: Policy = {
  name: 'Typo',
  policyType: 'tool_invocation',
  enforcementMode: 'block',
  ruleDefinition: {
    // @ts-expect-error `denny` is not a field of ruleDefinition
    denny: ['get-env'],
  },
};
void typo;
// Any logger with warn, info and debug: console, pino, …
void new Execlave({ policies, logger: console }).shutdown();

type Transport = Parameters<Client['connect']>[0];

function text(result: unknown): string {
  const content = (result as { content?: Array<{ text?: string }> }).content ?? [];
  return content.map((c) => c.text ?? '').join('');
}

async function governed(name: string, transport: Transport, cleanup?: () => Promise<void>): Promise<void> {
  const sent: Array<{ method?: string; params?: { name?: string } }> = [];
  const send = transport.send.bind(transport);
  transport.send = (message, ...rest) => {
    sent.push(message as (typeof sent)[number]);
    return send(message, ...rest);
  };
  const client = new Client({ name: `smoke-${label}`, version: '1.0.0' }, { capabilities: {} });
  await client.connect(transport);
  const exe = new Execlave({ policies });
  try {
    instrumentMcpClient(client, exe, { agentId: 'ops-agent' });
    const echoed = await client.callTool({ name: 'echo', arguments: { message: `hi from ${label}` } });
    if (!text(echoed).includes(`hi from ${label}`)) throw new Error(`echo answered ${JSON.stringify(echoed)}`);
    const sum = await client.callTool({ name: 'get-sum', arguments: { a: 2, b: 3 } });
    if (!text(sum).includes('5')) throw new Error(`get-sum answered ${JSON.stringify(sum)}`);
    let blocked: unknown;
    try {
      await client.callTool({ name: 'get-env', arguments: {} });
    } catch (err) {
      blocked = err;
    }
    if (!(blocked instanceof PolicyBlockedError)) throw new Error(`get-env was not blocked: ${String(blocked)}`);
    const violations = blocked.violations; // typed: Violation[]
    const calls = sent.filter((m) => m.method === 'tools/call').map((m) => m.params?.name);
    if (calls.join(',') !== 'echo,get-sum') throw new Error(`the server saw tool calls ${calls.join(',')}`);
    console.log(`[${label}] ${name}: ok (${violations.length} violation(s) reported)`);
  } finally {
    await exe.shutdown();
    await client.close();
    if (cleanup) await cleanup();
  }
}

await governed(
  'stdio',
  new StdioClientTransport({
    command: process.execPath,
    args: [path.join(everything, 'dist', 'index.js'), 'stdio'],
    stderr: 'ignore',
  }),
);

// Streamable HTTP arrived in @modelcontextprotocol/sdk 1.10.0: loaded by a
// specifier tsc does not resolve, so this file also checks against 1.0.x.
const httpSpec: string = '@modelcontextprotocol/sdk/client/streamableHttp.js';
const http = await import(httpSpec).catch(() => undefined);
if (http && httpUrl) {
  await governed('streamable-http', new http.StreamableHTTPClientTransport(new URL(httpUrl)) as Transport);
} else if (httpUrl) {
  console.log(`[${label}] streamable-http: not in @modelcontextprotocol/sdk ${sdkVersion}`);
}

const serverModule = await import(pathToFileURL(path.join(everything, 'dist', 'server', 'index.js')).href);
const { server, cleanup } = serverModule.createServer();
const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
await server.connect(serverSide);
await governed('in-memory', clientSide, async () => {
  await server.close();
  if (cleanup) cleanup();
});
console.log(`[${label}] done`);
