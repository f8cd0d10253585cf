#!/usr/bin/env node
'use strict';

// execlave-mcp: the governance proxy for MCP hosts whose client code you
// cannot wrap (docs/mcp-proxy.md). The relay, its command line and --help
// are the core's (core/src/relay/), shared with the Python package's
// `execlave-mcp`: this launcher hands over its argv and exits with the
// relay's code. It never touches stdin or stdout (the relay owns them).

let native;
try {
  native = require('../lib/native');
} catch (err) {
  process.stderr.write(`execlave-mcp: ${err.message}\n`);
  process.exit(1);
}

native.runProxy(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`execlave-mcp: ${err && err.message}\n`);
    process.exit(70);
  },
);
