// require_approval from the service (issue 20): enforce answers 202, the
// call waits for a human on the core's runtime, the certificate is verified
// against the exact action context, and only then does the real
// server-filesystem (over stdio) write. Every other path leaves no file.

import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, mkdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import {
  Execlave,
  ExeclaveError,
  EnforcementHaltError,
  AgentPausedError,
  PolicyDeniedError,
  ApprovalTimeoutError,
  CertificateMismatchError,
  ApprovalVerificationError,
} from '@execlave/sdk';
import { instrumentMcpClient } from '@execlave/sdk/integrations/mcp';
import { startControlPlane } from '../test-control-plane/index.mjs';
import { filesystemClient, tempDir } from './helpers/servers.mjs';

const fast = { policyRefreshMs: 150, pollIntervalMs: 100, flushIntervalMs: 100, firstSyncTimeoutMs: 1500, requestTimeoutMs: 1000 };
const approvalOptions = { approvalPollIntervalMs: 40, approvalTimeoutMs: 5000 };

// A control-plane policy in require_approval mode: the server decides.
const needsApproval = {
  name: 'Writes need a human',
  policyType: 'tool_invocation',
  enforcementMode: 'require_approval',
  ruleDefinition: { allow: ['write_file'] },
};

let root;
let cp;

/** Writes of `<root>/out/<name>` need approval `apr_<name>`, or the id `idFor` gives; all else is allowed. */
function serveApprovals(idFor = (name) => `apr_${name}`) {
  cp.onEnforce((body) => {
    if (body.tools?.[0] !== 'write_file') return { status: 200, body: { allowed: true } };
    const id = idFor(basename(body.metadata.toolArguments.path));
    return id === undefined ? { status: 202, body: {} } : { status: 202, body: { approvalRequestId: id } };
  });
}

async function governedFs(options = {}) {
  const exe = new Execlave({ apiKey: cp.apiKey, baseUrl: cp.url, ...fast, ...approvalOptions, ...options });
  const client = instrumentMcpClient(await filesystemClient(root), exe, { agentId: 'ops-agent' });
  return { exe, client, close: async () => { await client.close(); await exe.shutdown(); } };
}

const out = (name) => join(root, 'out', name);
const write = (client, name, opts) => client.callTool(
  { name: 'write_file', arguments: { path: out(name), content: `content of ${name}` } }, undefined, opts);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

before(async () => {
  root = tempDir('execlave-approvals-');
  mkdirSync(join(root, 'out'));
  cp = await startControlPlane({ policies: [needsApproval] });
  serveApprovals();
});
after(async () => {
  await cp.close();
});

describe('approvals from the service, against server-filesystem', () => {
  let g;
  before(async () => { g = await governedFs(); });
  after(async () => { await g.close(); });

  test('an approved write_file writes exactly once, and its record carries the approval', async () => {
    cp.approval('apr_ok.txt', { pendingPolls: 2, then: 'approved' });
    const r = await write(g.client, 'ok.txt');
    assert.ok(!r.isError, JSON.stringify(r));
    assert.equal(readFileSync(out('ok.txt'), 'utf8'), 'content of ok.txt');
    assert.deepEqual(cp.approvalState('apr_ok.txt'), { polls: 3, verifies: 1, used: true, sealed: true });
    // The verify body is the enforce body less agentId: same keys, same order.
    const enforce = cp.requests.find((q) => q.path === '/api/v1/policies/enforce' && q.body.metadata?.toolArguments?.path === out('ok.txt'));
    const verify = cp.requestsTo('/api/v1/approvals/apr_ok.txt/verify')[0];
    const { agentId, ...context } = enforce.body;
    assert.equal(agentId, 'ops-agent');
    assert.equal(JSON.stringify(verify.body.actionContext), JSON.stringify(context));
    assert.ok(!verify.rawBody.includes('null'));
    await g.exe.flush();
    const trace = cp.traces.find((t) => t.status === 'success' && t.input?.includes('ok.txt'));
    assert.equal(trace.metadata.approval.id, 'apr_ok.txt');
    assert.equal(trace.metadata.approval.outcome, 'granted');
    assert.ok(trace.metadata.approval.waitedMs > 0);
    assert.ok(g.exe.stats().approvalsGranted >= 1);

    // Never cached: the same call asks again, and the certificate is single use.
    const again = await write(g.client, 'ok.txt').catch((e) => e);
    assert.ok(again instanceof CertificateMismatchError, String(again));
    assert.equal(again.reason, 'certificate_already_used');
  });

  test('a denied write is refused with the reason and leaves no file', async () => {
    cp.approval('apr_denied.txt', { pendingPolls: 1, then: 'denied', reason: 'not on a Friday' });
    const err = await write(g.client, 'denied.txt').catch((e) => e);
    assert.ok(err instanceof PolicyDeniedError, String(err));
    assert.ok(err instanceof EnforcementHaltError);
    assert.equal(err.name, 'PolicyDeniedError');
    assert.equal(err.approvalRequestId, 'apr_denied.txt');
    assert.equal(err.reason, 'not on a Friday');
    assert.ok(!existsSync(out('denied.txt')));
    await g.exe.flush();
    const trace = cp.traces.find((t) => t.errorType === 'PolicyDeniedError');
    assert.equal(trace.status, 'policy_blocked');
    assert.equal(trace.metadata.approval.outcome, 'denied');
  });

  test('an expired approval is a timeout and leaves no file', async () => {
    cp.approval('apr_expired.txt', { then: 'expired' });
    const err = await write(g.client, 'expired.txt').catch((e) => e);
    assert.ok(err instanceof ApprovalTimeoutError, String(err));
    assert.equal(err.approvalRequestId, 'apr_expired.txt');
    assert.ok(!existsSync(out('expired.txt')));
  });

  test('a certificate sealed for another action does not match, and leaves no file', async () => {
    // Two writes under one approval: the first seals (and uses) it.
    serveApprovals(() => 'apr_shared');
    try {
      cp.approval('apr_shared', { then: 'approved' });
      await write(g.client, 'first.txt');
      const err = await write(g.client, 'second.txt').catch((e) => e);
      assert.ok(err instanceof CertificateMismatchError, String(err));
      assert.equal(err.reason, 'action_context_mismatch');
      assert.ok(!existsSync(out('second.txt')));
    } finally {
      serveApprovals();
    }
  });

  test('an unverifiable approval is refused: valid as a string, a 4xx poll, a 202 without id', async () => {
    cp.approval('apr_string.txt', { then: 'approved', verify: { valid: 'true' } });
    const e1 = await write(g.client, 'string.txt').catch((e) => e);
    assert.ok(e1 instanceof ApprovalVerificationError, String(e1));
    assert.equal(e1.approvalRequestId, 'apr_string.txt');
    assert.ok(e1.cause);
    // Nobody scripted apr_unknown.txt: the poll answers 404.
    const e2 = await write(g.client, 'unknown.txt').catch((e) => e);
    assert.ok(e2 instanceof ApprovalVerificationError, String(e2));
    assert.match(String(e2.cause), /404/);
    serveApprovals(() => undefined);
    try {
      const e3 = await write(g.client, 'noid.txt').catch((e) => e);
      assert.ok(e3 instanceof ApprovalVerificationError, String(e3));
    } finally {
      serveApprovals();
    }
    for (const f of ['string.txt', 'unknown.txt', 'noid.txt']) assert.ok(!existsSync(out(f)), f);
  });

  test('poll outages are retried, never allowed; the call goes ahead once approved', async () => {
    cp.approval('apr_flaky.txt', { then: 'approved' });
    cp.failNext(2, { match: '/api/v1/approvals/apr_flaky.txt', method: 'GET', status: 503 });
    cp.failNext(1, { match: '/api/v1/approvals/apr_flaky.txt', method: 'GET', status: 429 });
    // A network error: the connection dropped without an answer.
    cp.garbage('reset', { match: '/api/v1/approvals/apr_flaky.txt', method: 'GET', count: 1 });
    await write(g.client, 'flaky.txt');
    assert.ok(existsSync(out('flaky.txt')));
    assert.equal(cp.approvalState('apr_flaky.txt').polls, 1, 'four failed polls, then one answered');
    assert.equal(cp.requestsTo('/api/v1/approvals/apr_flaky.txt', 'GET').length, 5);
  });

  test('the caller cancels: the wait ends, nothing is sent, no file, recorded as cancelled', async () => {
    cp.approval('apr_cancel.txt', { then: 'pending' });
    const controller = new AbortController();
    const call = write(g.client, 'cancel.txt', { signal: controller.signal });
    await cp.waitFor(() => cp.approvalState('apr_cancel.txt').polls >= 1);
    assert.equal(g.exe.stats().approvalsWaiting, 1);
    controller.abort();
    const err = await call.catch((e) => e);
    assert.equal(err.name, 'AbortError', String(err));
    const polls = cp.approvalState('apr_cancel.txt').polls;
    await sleep(200);
    assert.equal(cp.approvalState('apr_cancel.txt').polls, polls, 'no poll after the cancel');
    assert.equal(cp.approvalState('apr_cancel.txt').verifies, 0);
    assert.equal(g.exe.stats().approvalsWaiting, 0);
    assert.ok(!existsSync(out('cancel.txt')));
    await g.exe.flush();
    const trace = cp.traces.find((t) => t.errorType === 'Cancelled');
    assert.ok(trace, JSON.stringify(cp.traces.map((t) => t.errorType)));
    assert.equal(trace.metadata.approval.outcome, 'cancelled');
  });

  test('other calls keep flowing while one waits', async () => {
    cp.approval('apr_slow.txt', { then: 'pending' });
    const controller = new AbortController();
    const waiting = write(g.client, 'slow.txt', { signal: controller.signal }).catch((e) => e);
    await cp.waitFor(() => cp.approvalState('apr_slow.txt').polls >= 1);
    for (let i = 0; i < 5; i++) {
      const r = await g.client.callTool({ name: 'list_directory', arguments: { path: join(root, 'out') } });
      assert.ok(!r.isError);
    }
    assert.equal(g.exe.stats().approvalsWaiting, 1, 'still waiting');
    controller.abort();
    assert.equal((await waiting).name, 'AbortError');
    assert.ok(!existsSync(out('slow.txt')));
  });

  test('a kill-switch pause during a wait refuses at once', async () => {
    cp.approval('apr_paused.txt', { then: 'pending' });
    const call = write(g.client, 'paused.txt').catch((e) => e);
    await cp.waitFor(() => cp.approvalState('apr_paused.txt').polls >= 1);
    cp.pauseAgent('ops-agent', 'incident 7');
    try {
      const err = await call;
      assert.ok(err instanceof AgentPausedError, String(err));
      assert.equal(err.reason, 'incident 7');
    } finally {
      cp.resumeAgent('ops-agent');
    }
    assert.ok(!existsSync(out('paused.txt')));
  });
});

describe('timeouts and shutdown', () => {
  test('a poll outage longer than the timeout leaves no file', async () => {
    const g = await governedFs({ approvalTimeoutMs: 600 });
    try {
      cp.approval('apr_outage.txt', { then: 'approved' });
      cp.setStatus('/api/v1/approvals/', 503);
      const err = await write(g.client, 'outage.txt').catch((e) => e);
      assert.ok(err instanceof ApprovalTimeoutError, String(err));
      assert.ok(!existsSync(out('outage.txt')));
      assert.equal(cp.approvalState('apr_outage.txt').verifies, 0);
    } finally {
      cp.clearFaults();
      await g.close();
    }
  });

  test('shutdown() during a wait refuses the call', async () => {
    const g = await governedFs();
    try {
      cp.approval('apr_shutdown.txt', { then: 'pending' });
      const call = write(g.client, 'shutdown.txt').catch((e) => e);
      await cp.waitFor(() => cp.approvalState('apr_shutdown.txt').polls >= 1);
      await g.exe.shutdown();
      const err = await call;
      assert.ok(err instanceof ExeclaveError, String(err));
      assert.match(err.message, /shut down/);
      assert.ok(!existsSync(out('shutdown.txt')));
    } finally {
      await g.close();
    }
  });

  test('bad approval options are refused early, naming the option', () => {
    assert.throws(() => new Execlave({ policies: [], approvalTimeoutMs: 0 }), /approvalTimeoutMs/);
    assert.throws(() => new Execlave({ policies: [], approvalPollIntervalMs: 0 }), /approvalPollIntervalMs/);
  });
});
