// ESM consumer: `import` the installed @execlave/sdk and the MCP SDK.
import { Execlave, PolicyBlockedError } from '@execlave/sdk';
import { instrumentMcpClient } from '@execlave/sdk/integrations/mcp';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import harness from './harness.cjs';

async function optional(spec, name) {
  try {
    return (await import(spec))[name];
  } catch (err) {
    if (err.code === 'ERR_MODULE_NOT_FOUND' || err.code === 'ERR_PACKAGE_PATH_NOT_EXPORTED') return undefined;
    throw err;
  }
}

await harness.run({
  label: 'esm',
  Execlave,
  PolicyBlockedError,
  instrumentMcpClient,
  Client,
  StdioClientTransport,
  StreamableHTTPClientTransport: await optional('@modelcontextprotocol/sdk/client/streamableHttp.js', 'StreamableHTTPClientTransport'),
  InMemoryTransport: await optional('@modelcontextprotocol/sdk/inMemory.js', 'InMemoryTransport'),
});
console.log('[esm] done');
