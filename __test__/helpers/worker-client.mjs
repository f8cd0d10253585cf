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
// A second client whose control plane never answers: its first call waits
// in native code for the first policy sync (bounded by firstSyncTimeoutMs)
// and is still waiting when the test terminates this worker: the native
// futures own what they use, since this environment's objects are freed
// when it goes (a shutdown borrowing them once crashed this test).
const silent = new Execlave({
  apiKey: 'exe_dev_silent',
  baseUrl: workerData.silentControlPlane,
  firstSyncTimeoutMs: 300,
  policyCachePath: `${workerData.auditLog}.policy-cache.json`,
});
silent.enforcePolicy({ agentId: 'ops-agent', tools: ['echo'] }).catch(() => {});

// Report while a shutdown is under way too.
await pair.close();
const closing = exe.shutdown();
parentPort.postMessage({
  text: answer.content[0].text,
  blocked: blocked instanceof PolicyBlockedError,
  deleteRan: pair.ran.delete_all ?? 0,
  records: lines.map((l) => JSON.parse(l).status),
});
await closing;
// Stay alive until terminated: the test also ends workers that are busy.
setInterval(() => {}, 1000);
