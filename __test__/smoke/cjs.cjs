'use strict';
// CommonJS consumer: `require` the installed @execlave/sdk. The MCP SDK is
// required too where it ships CommonJS; its early 1.x releases are ESM only,
// and then it is `import()`ed (what a CommonJS user of those versions does).

const { Execlave, PolicyBlockedError } = require('@execlave/sdk');
const { instrumentMcpClient } = require('@execlave/sdk/integrations/mcp');
const harness = require('./harness.cjs');

async function load(spec, name) {
  try {
    return require(spec)[name];
  } catch (err) {
    if (err.code === 'MODULE_NOT_FOUND' || err.code === 'ERR_PACKAGE_PATH_NOT_EXPORTED') {
      return undefined;
    }
    if (err.code !== 'ERR_REQUIRE_ESM' && err.code !== 'ERR_REQUIRE_ASYNC_MODULE') throw err;
    return (await import(spec))[name];
  }
}

(async () => {
  await harness.run({
    label: 'cjs',
    Execlave,
    PolicyBlockedError,
    instrumentMcpClient,
    Client: await load('@modelcontextprotocol/sdk/client/index.js', 'Client'),
    StdioClientTransport: await load('@modelcontextprotocol/sdk/client/stdio.js', 'StdioClientTransport'),
    StreamableHTTPClientTransport: await load('@modelcontextprotocol/sdk/client/streamableHttp.js', 'StreamableHTTPClientTransport'),
    InMemoryTransport: await load('@modelcontextprotocol/sdk/inMemory.js', 'InMemoryTransport'),
  });
  console.log('[cjs] done');
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
