// The setup the wrapper's in-memory tests share: a real MCP Client and an
// in-process server over InMemoryTransport, the client governed by the
// test policies and recording to an audit log of its own.

import { join } from 'node:path';
import { Execlave } from '@execlave/sdk';
import { instrumentMcpClient } from '@execlave/sdk/integrations/mcp';
import { inMemoryPair, tempDir } from './servers.mjs';
import { testPolicies } from './policies.mjs';

/** `wrap`: more options of `instrumentMcpClient` (agent `ops-agent`). */
export async function governedPair(wrap = {}) {
  const pair = await inMemoryPair();
  const auditLog = join(tempDir(), 'audit.jsonl');
  const exe = new Execlave({ policies: testPolicies, auditLog });
  instrumentMcpClient(pair.client, exe, { agentId: 'ops-agent', ...wrap });
  const close = async () => {
    await pair.close();
    await exe.shutdown();
  };
  return { pair, exe, auditLog, close };
}
