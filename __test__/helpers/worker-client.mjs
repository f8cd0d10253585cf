// Runs in a worker thread (see worker-threads.test.mjs): a whole governed
// client inside the worker, reporting what it saw.
import { parentPort, workerData } from 'node:worker_threads';
import { readFileSync } from 'node:fs';
import { Execlave, PolicyBlockedError } from '@execlave/sdk';
import { instrumentMcpClient } from '@execlave/sdk/integrations/mcp';
import { inMemoryPair } from './servers.mjs';
import { testPolicies } from './policies.mjs';

const exe = new Execlave({ policies: testPolicies, auditLog: workerData.auditLog });
const pair = await inMemoryPair();
instrumentMcpClient(pair.client, exe, { agentId: 'ops-agent' });
const answer = await pair.client.callTool({ name: 'echo', arguments: { text: 'from a worker' } });
const blocked = await pair.client.callTool({ name: 'delete_all', arguments: {} }).catch((e) => e);
await exe.flush();
const lines = readFileSync(workerData.auditLog, 'utf8').trim().split('\n');
parentPort.postMessage({
  text: answer.content[0].text,
  blocked: blocked instanceof PolicyBlockedError,
  deleteRan: pair.ran.delete_all ?? 0,
  records: lines.map((l) => JSON.parse(l).status),
});
await pair.close();
await exe.shutdown();
// Stay alive until terminated: the test also ends workers that are busy.
setInterval(() => {}, 1000);
