// The addon is loaded once per process but used from several V8 isolates:
// agents run tools from worker threads (worker pools), and workers come and
// go. Each worker gets a working client, and loading the addon again after
// workers were terminated must work (a thread-caching allocator once tried
// here crashed the process on exactly that).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import { tempDir } from './helpers/servers.mjs';

const script = new URL('./helpers/worker-client.mjs', import.meta.url);

function runWorker(auditLog, silentControlPlane) {
  const worker = new Worker(script, { workerData: { auditLog, silentControlPlane } });
  const report = new Promise((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`worker exited with ${code} before reporting`)));
  });
  return { worker, report };
}

test('governed clients in worker threads, over rounds of workers that are terminated', async () => {
  const dir = tempDir();
  // A control plane that accepts connections and never answers.
  const sockets = new Set();
  const silent = createServer((socket) => sockets.add(socket));
  await new Promise((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const silentUrl = `http://127.0.0.1:${silent.address().port}`;
  for (let round = 0; round < 3; round++) {
    const runs = [0, 1].map((i) => runWorker(join(dir, `audit-${round}-${i}.jsonl`), silentUrl));
    for (const { report } of runs) {
      assert.deepEqual(await report, {
        text: 'from a worker',
        blocked: true,
        deleteRan: 0,
        records: ['success', 'policy_blocked'],
      });
    }
    await Promise.all(runs.map(({ worker }) => worker.terminate()));
  }
  // Long enough for the terminated workers' native waits to time out.
  await sleep(600);
  for (const socket of sockets) socket.destroy();
  await new Promise((resolve) => silent.close(resolve));
});
