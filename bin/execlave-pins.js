#!/usr/bin/env node
'use strict';

// Reviews and accepts tool definition changes that a wrapped MCP client
// with `toolPins` noticed. The wrapper writes what the server now serves to
// `<lockfile>.pending`; this command shows it as a diff against the
// lockfile (`diff`) and, after review, writes it into the lockfile
// (`accept`). A running client picks the new lockfile up at its next list
// or refused call.
//
//   npx execlave-pins diff   <lockfile>
//   npx execlave-pins accept <lockfile> [tool ...]

const fs = require('node:fs');
const { definitionDiff, lockfileText, pendingPath, readLockfile, writeAtomic } = require('../lib/tool-pins');

const USAGE = 'usage: execlave-pins diff <lockfile>\n       execlave-pins accept <lockfile> [tool ...]';

function readPending(lockfile) {
  const file = pendingPath(lockfile);
  let text;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if (err.code === 'ENOENT') return null;
    throw err;
  }
  const data = JSON.parse(text);
  if (!data || typeof data.tools !== 'object' || data.tools === null) throw new Error(`${file} is not a pending tool list`);
  return data;
}

function main(argv) {
  const [command, lockfile, ...only] = argv;
  if ((command !== 'diff' && command !== 'accept') || !lockfile) {
    console.error(USAGE);
    return 2;
  }
  const pins = readLockfile(lockfile) ?? new Map();
  const pending = readPending(lockfile);
  const names = pending === null ? [] : Object.keys(pending.tools).filter((n) => only.length === 0 || only.includes(n));
  for (const name of only) {
    if (!names.includes(name)) {
      console.error(`execlave-pins: no pending change for tool "${name}"`);
      return 1;
    }
  }
  if (names.length === 0) {
    console.log(`execlave-pins: no pending tool changes for ${lockfile}`);
    return 0;
  }
  for (const name of names) {
    const pin = pins.get(name);
    console.log(definitionDiff(name, pin ? pin.definition : null, pending.tools[name].definition).join('\n'));
  }
  if (command === 'diff') return 0;
  for (const name of names) {
    const { digest, definition } = pending.tools[name];
    pins.set(name, { digest, definition });
    delete pending.tools[name];
  }
  writeAtomic(lockfile, lockfileText(pins));
  if (Object.keys(pending.tools).length === 0) {
    fs.rmSync(pendingPath(lockfile), { force: true });
  } else {
    writeAtomic(pendingPath(lockfile), `${JSON.stringify(pending, null, 2)}\n`);
  }
  console.log(`execlave-pins: accepted ${names.length} tool definition(s) into ${lockfile}`);
  return 0;
}

try {
  process.exitCode = main(process.argv.slice(2));
} catch (err) {
  console.error(`execlave-pins: ${err.message}`);
  process.exitCode = 1;
}
