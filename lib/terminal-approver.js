'use strict';

// A ready-made approver for local development: it asks on the controlling
// terminal (/dev/tty), never on stdin, which an MCP stdio transport may
// own. Without a terminal (a service, CI) it refuses.

const fs = require('node:fs');

/**
 * @param {{ ttyPath?: string }} [options]
 * @returns {(request: import('../index').ApprovalRequest) => Promise<import('../index').ApprovalDecision>}
 */
function terminalApprover({ ttyPath = '/dev/tty' } = {}) {
  // One question at a time: two prompts on one terminal would mix.
  let queue = Promise.resolve();
  return (request) => {
    const asked = queue.then(() => ask(ttyPath, request));
    queue = asked.catch(() => {});
    return asked;
  };
}

async function ask(ttyPath, request) {
  // Two handles: one to ask on (appending), one to read the answer from.
  let tty;
  let prompt;
  try {
    tty = await fs.promises.open(ttyPath, 'r');
    prompt = await fs.promises.open(ttyPath, 'a');
  } catch (err) {
    await tty?.close();
    return { approved: false, reason: `no terminal to ask on (${ttyPath}: ${err.code ?? err.message})` };
  }
  try {
    const why = request.violations.map((v) => `  - ${v.message}`).join('\n');
    let args;
    try {
      args = JSON.stringify(request.arguments);
    } catch {
      args = '(not printable)';
    }
    if (args.length > 2000) args = `${args.slice(0, 2000)}…`;
    await prompt.write(
      `\n[execlave] ${request.agentId} wants to call "${request.tool}" (approval ${request.requestId})\n` +
        `  arguments: ${args}\n${why}\nApprove? [y/N, or n <reason>] `,
    );
    const line = (await readLine(tty)).trim();
    if (/^y(es)?$/i.test(line)) return { approved: true };
    const reason = line.replace(/^n(o)?\b\s*/i, '');
    return { approved: false, reason: reason === '' ? 'denied at the terminal' : reason };
  } finally {
    await Promise.all([tty.close(), prompt.close()]);
  }
}

async function readLine(tty) {
  const chunks = [];
  const buf = Buffer.alloc(256);
  for (;;) {
    const { bytesRead } = await tty.read(buf, 0, buf.length, null);
    if (bytesRead === 0) break;
    const part = buf.subarray(0, bytesRead);
    const nl = part.indexOf(10);
    if (nl >= 0) {
      chunks.push(Buffer.from(part.subarray(0, nl)));
      break;
    }
    chunks.push(Buffer.from(part));
    if (chunks.length > 64) break; // a 16 KiB line is no answer
  }
  return Buffer.concat(chunks).toString('utf8');
}

module.exports = { terminalApprover };
