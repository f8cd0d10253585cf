// The project's test control plane (test-control-plane/index.mjs) for the
// Python suite: started with the options in argv[2] (JSON), it prints
// {"url", "apiKey"}, then answers one JSON command per stdin line,
// {"op": name, "args": [...]}, with {"result": ...} or {"error": message}.
// `op` is a controller method or property (pauseAgent, setPolicies, failNext,
// stop, restart, traces, requests, ...). It exits when stdin closes.

import { startControlPlane } from '../../test-control-plane/index.mjs';

const options = JSON.parse(process.argv[2] ?? '{}');
const cp = await startControlPlane(options);
process.stdout.write(`${JSON.stringify({ url: cp.url, apiKey: cp.apiKey })}\n`);

/** Requests without their raw bodies and sockets: what a test asserts on. */
const plain = (value) =>
  JSON.parse(JSON.stringify(value, (k, v) => (k === 'rawBody' ? undefined : v)));

let queue = Promise.resolve();
let buffered = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => {
  buffered += chunk;
  let nl;
  while ((nl = buffered.indexOf('\n')) >= 0) {
    const line = buffered.slice(0, nl);
    buffered = buffered.slice(nl + 1);
    if (line.trim()) queue = queue.then(() => run(line));
  }
});
process.stdin.on('end', () => {
  queue.then(() => cp.close()).then(() => process.exit(0));
});

async function run(line) {
  let answer;
  try {
    const { op, args = [] } = JSON.parse(line);
    const member = cp[op];
    const result = typeof member === 'function' ? await member.apply(cp, args) : member;
    answer = { result: result === undefined ? null : plain(result) };
  } catch (err) {
    answer = { error: String(err && err.message ? err.message : err) };
  }
  process.stdout.write(`${JSON.stringify(answer)}\n`);
}
