// Runs one client in a child process, so that a test can read everything
// the SDK writes to stderr (the core writes there directly, out of reach of
// an in-process hook). argv[2] is JSON: { options, agentId, tools,
// waitMs }. Each tool is checked with enforcePolicy in turn; stdout gets
// one JSON line per tool: { tool, ok, name, message }.

import { Execlave } from '@execlave/sdk';

const { options, agentId = 'ops-agent', tools = [], waitMs = 0, repeat = 1 } = JSON.parse(process.argv[2]);
const exe = new Execlave(options);
for (let round = 0; round < repeat; round++) {
  for (const tool of tools) {
    try {
      await exe.enforcePolicy({ agentId, tools: [tool], arguments: { text: 'x' } });
      process.stdout.write(`${JSON.stringify({ tool, ok: true })}\n`);
    } catch (err) {
      process.stdout.write(`${JSON.stringify({ tool, ok: false, name: err.name, message: err.message })}\n`);
    }
  }
  if (waitMs > 0) await new Promise((r) => setTimeout(r, waitMs));
}
process.stdout.write(`${JSON.stringify({ stats: exe.stats() })}\n`);
await exe.shutdown();
