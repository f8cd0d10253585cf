'use strict';

// The least a stdio relay can do (bench/proxy.mjs's floor): bytes from the
// host to the server and back, nothing read, nothing decided. What it
// costs is the cost of one more process on the way, whoever relays.
//
//   node bench/byte-pump.cjs <server script> [args...]

const { spawn } = require('node:child_process');

const server = spawn(process.execPath, process.argv.slice(2), { stdio: ['pipe', 'pipe', 'ignore'] });
process.stdin.pipe(server.stdin);
server.stdout.pipe(process.stdout);
server.on('exit', (code) => process.exit(code ?? 0));
