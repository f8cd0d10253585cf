#!/usr/bin/env node
'use strict';

// Reviews and accepts tool definition changes that a wrapped MCP client
// with `toolPins` noticed (docs/tool-pins.md). The wrapper writes what the
// server now serves to `<lockfile>.pending`; `diff` shows it against the
// lockfile and exits 1 while changes are pending (a CI gate); `accept`
// names each tool, asks, and pins exactly what it showed. The reading,
// the diff and the pinning are the core's (core/src/tools/review.rs),
// shared with Python's `execlave-pins`.

const { parseArgs } = require('node:util');
const readline = require('node:readline/promises');
const native = require('../lib/native');
const { version } = require('../package.json');

const COMMAND = 'npx -p @execlave/sdk execlave-pins';
const USAGE = `usage: ${COMMAND} diff <lockfile> [tool ...]
       ${COMMAND} accept [--yes] [--report --agent <id> --server <name>] <lockfile> [tool ...]

  diff      show the pending tool definition changes; exit 1 if there are any
  accept    pin the pending definitions (all, or the named tools) after a
            confirmation; --yes skips it (for scripts)

options:
  -y, --yes       accept without asking
  --report        also send the accepted set as the agent's tool-integrity
                  baseline on the service (EXECLAVE_API_KEY, EXECLAVE_BASE_URL)
  --agent <id>    with --report: the agent's id (ops-agent)
  --server <name> with --report: the MCP server's name, as it introduces itself
  -h, --help      this help
  -v, --version   the SDK version`;

class UsageError extends Error {}

function parse(argv) {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        yes: { type: 'boolean', short: 'y' },
        report: { type: 'boolean' },
        agent: { type: 'string' },
        server: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'v' },
      },
    });
  } catch (err) {
    throw new UsageError(err.message);
  }
  return parsed;
}

async function confirm(names) {
  if (!process.stdin.isTTY) {
    throw new UsageError('accept asks for confirmation on a terminal; pass --yes to accept without asking');
  }
  const rl = readline.createInterface({ input: process.stdin, output: process.stdout });
  try {
    const answer = await rl.question(`Pin ${names.length} tool definition(s): ${names.join(', ')}? [y/N] `);
    return /^y(es)?$/i.test(answer.trim());
  } finally {
    rl.close();
  }
}

async function main(argv) {
  const { values, positionals } = parse(argv);
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (values.version) {
    console.log(version);
    return 0;
  }
  const [command, lockfile, ...only] = positionals;
  if (command !== 'diff' && command !== 'accept') {
    throw new UsageError(command === undefined ? 'a command is required' : `unknown command "${command}"`);
  }
  if (!lockfile) throw new UsageError(`${command} needs the lockfile's path`);
  if (command === 'diff' && (values.yes || values.report)) throw new UsageError('--yes and --report are for accept');
  if (values.report && (!values.agent || !values.server)) {
    throw new UsageError("--report needs --agent <agentId> and --server <the MCP server's name>");
  }
  const review = new native.NativePinsReview(lockfile, only);
  const names = review.names();
  if (names.length === 0) {
    console.log(`execlave-pins: no pending tool changes for ${lockfile}`);
    return values.report ? report(lockfile, values) : 0;
  }
  console.log(review.lines().join('\n'));
  if (command === 'diff') {
    console.log(`execlave-pins: ${names.length} pending change(s); review, then run \`${COMMAND} accept ${lockfile}\``);
    return 1;
  }
  console.log(`execlave-pins: will pin: ${names.join(', ')}`);
  if (!values.yes && !(await confirm(names))) {
    console.error('execlave-pins: nothing accepted');
    return 1;
  }
  const count = review.accept();
  console.log(`execlave-pins: accepted ${count} tool definition(s) into ${lockfile}`);
  return values.report ? report(lockfile, values) : 0;
}

/** Sends the lockfile's accepted set as the agent's baseline (the core does it). */
function report(lockfile, { agent, server }) {
  const sent = JSON.parse(native.reportBaseline(lockfile, server, agent));
  console.log(`execlave-pins: sent ${sent.sent} tool definition(s) as the baseline of agent ${agent}`);
  if (sent.skipped.length > 0) console.log(`execlave-pins: left out (no definition kept in the lockfile): ${sent.skipped.join(', ')}`);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    console.error(`execlave-pins: ${err.message}`);
    if (err instanceof UsageError) console.error(`run \`${COMMAND} --help\` for usage`);
    process.exitCode = 2;
  },
);
