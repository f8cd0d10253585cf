// Local require_approval policies (issue 20): evaluated locally; what they
// would block waits for the client's approver; without one it is refused
// (the old default let it through as an "outage"). Against the real
// server-filesystem over stdio: the files on disk say which calls ran.

import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  Execlave,
  PolicyBlockedError,
  PolicyDeniedError,
  ApprovalTimeoutError,
  ApprovalVerificationError,
  EnforcementHaltError,
  terminalApprover,
} from '@execlave/sdk';
import { instrumentMcpClient } from '@execlave/sdk/integrations/mcp';
import { filesystemClient, tempDir } from './helpers/servers.mjs';

let root;
const out = (name) => join(root, 'out', name);

// Writes need a human; everything else under the root is fine.
const policies = () => [{
  name: 'Writes need a human',
  policyType: 'tool_invocation',
  enforcementMode: 'require_approval',
  ruleDefinition: { deny: ['write_file'] },
}];

let logs = 0;
async function governed(options) {
  const auditLog = join(root, `audit-${++logs}.jsonl`);
  const exe = new Execlave({ policies: policies(), auditLog, ...options });
  const client = instrumentMcpClient(await filesystemClient(root), exe, { agentId: 'ops-agent' });
  const records = async () => {
    await exe.flush();
    return readFileSync(auditLog, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  };
  return { exe, client, records, close: async () => { await client.close(); await exe.shutdown(); } };
}

const write = (client, name, opts) => client.callTool(
  { name: 'write_file', arguments: { path: out(name), content: `content of ${name}` } }, undefined, opts);

before(() => {
  root = tempDir('execlave-local-approvals-');
  mkdirSync(join(root, 'out'));
});

describe('no approver', () => {
  test('the call is refused, naming the policy and how to configure an approver, even with fail_open', async () => {
    const g = await governed({ enforcementOnOutage: 'fail_open' });
    try {
      const err = await write(g.client, 'none.txt').catch((e) => e);
      assert.ok(err instanceof PolicyBlockedError, String(err));
      assert.match(err.message, /Writes need a human/);
      assert.match(err.message, /approver/);
      assert.equal(err.violations[0].rule, 'approval_required');
      assert.ok(!existsSync(out('none.txt')));
      assert.equal(g.exe.stats().bypassed, 0);
      // Calls the policy does not hold back go on.
      const r = await g.client.callTool({ name: 'list_directory', arguments: { path: join(root, 'out') } });
      assert.ok(!r.isError);
    } finally {
      await g.close();
    }
  });
});

describe('with an approver', () => {
  const asked = [];
  let answer = () => ({ approved: true });
  let g;
  before(async () => {
    g = await governed({
      approvalTimeoutMs: 500,
      approver: async (request) => {
        asked.push(request);
        return answer(request);
      },
    });
  });
  after(async () => { await g.close(); });

  test('an approved call runs once; the approver saw the call', async () => {
    answer = () => ({ approved: true });
    await write(g.client, 'yes.txt');
    assert.equal(readFileSync(out('yes.txt'), 'utf8'), 'content of yes.txt');
    const request = asked.at(-1);
    assert.equal(request.agentId, 'ops-agent');
    assert.equal(request.tool, 'write_file');
    assert.deepEqual(request.arguments, { path: out('yes.txt'), content: 'content of yes.txt' });
    assert.equal(request.violations[0].rule, 'approval_required');
    assert.match(request.requestId, /^local/);
    const stats = g.exe.stats();
    assert.equal(stats.approvalsGranted, 1);
    assert.equal(stats.approvalsWaiting, 0);
  });

  test('a denial is PolicyDeniedError with the reason, and leaves no file', async () => {
    answer = () => ({ approved: false, reason: 'not today' });
    const err = await write(g.client, 'no.txt').catch((e) => e);
    assert.ok(err instanceof PolicyDeniedError, String(err));
    assert.ok(err instanceof EnforcementHaltError);
    assert.equal(err.reason, 'not today');
    assert.equal(err.approvalRequestId, 'local');
    assert.ok(!existsSync(out('no.txt')));
  });

  test('an approver that throws or answers a wrong shape refuses with the cause', async () => {
    const boom = new Error('slack is down');
    for (const [name, fn] of [
      ['threw.txt', () => { throw boom; }],
      ['shape.txt', () => ({ approved: 'yes' })],
      ['truthy.txt', () => ({ approved: 1 })],
      ['nothing.txt', () => undefined],
    ]) {
      answer = fn;
      const err = await write(g.client, name).catch((e) => e);
      assert.ok(err instanceof ApprovalVerificationError, `${name}: ${err}`);
      assert.ok(err.cause, name);
      assert.ok(!existsSync(out(name)), name);
    }
    answer = () => { throw boom; };
    const err = await write(g.client, 'threw2.txt').catch((e) => e);
    assert.equal(err.cause, boom, 'the approver\'s own error is the cause');
  });

  test('no answer within approvalTimeoutMs is ApprovalTimeoutError', async () => {
    answer = () => new Promise(() => {});
    const err = await write(g.client, 'late.txt').catch((e) => e);
    assert.ok(err instanceof ApprovalTimeoutError, String(err));
    assert.ok(!existsSync(out('late.txt')));
  });

  test('the caller cancels while the approver thinks: no file, nothing pending', async () => {
    answer = () => new Promise(() => {});
    const controller = new AbortController();
    const call = write(g.client, 'cancel.txt', { signal: controller.signal });
    setTimeout(() => controller.abort(), 50);
    const err = await call.catch((e) => e);
    assert.equal(err.name, 'AbortError', String(err));
    assert.equal(g.exe.stats().approvalsWaiting, 0);
    assert.ok(!existsSync(out('cancel.txt')));
  });

  test('records: approved carries metadata.approval, refused ones are policy_blocked with the error type', async () => {
    const records = await g.records();
    const of = (name) => records.filter((r) => r.input?.includes(name));
    const [yes] = of('yes.txt');
    assert.equal(yes.status, 'success');
    assert.equal(yes.metadata.approval.id, 'local');
    assert.equal(yes.metadata.approval.outcome, 'granted');
    const [no] = of('no.txt');
    assert.equal(no.status, 'policy_blocked');
    assert.equal(no.errorType, 'PolicyDeniedError');
    assert.equal(no.metadata.approval.outcome, 'denied');
    assert.equal(of('late.txt')[0].errorType, 'ApprovalTimeoutError');
    assert.equal(of('shape.txt')[0].errorType, 'ApprovalVerificationError');
    assert.equal(of('cancel.txt')[0].errorType, 'Cancelled');
  });
});

describe('terminalApprover', () => {
  test('refuses when there is no terminal to ask on', async () => {
    const approve = terminalApprover({ ttyPath: join(root, 'no-such-tty') });
    const answer = await approve({ agentId: 'a', tool: 't', arguments: {}, violations: [], requestId: 'local-1' });
    assert.equal(answer.approved, false);
    assert.match(answer.reason, /no terminal/);
  });

  test('reads the answer from the terminal it was given, not stdin', async () => {
    const fake = join(root, 'fake-tty');
    writeFileSync(fake, 'y\n');
    const approve = terminalApprover({ ttyPath: fake });
    const answer = await approve({ agentId: 'a', tool: 't', arguments: { x: 1 }, violations: [{ message: 'm' }], requestId: 'local-2' });
    // The prompt is appended; the answer is read from the start.
    assert.deepEqual(answer, { approved: true });
    writeFileSync(fake, 'n too risky\n');
    assert.deepEqual(await approve({ agentId: 'a', tool: 't', arguments: {}, violations: [], requestId: 'local-3' }),
      { approved: false, reason: 'too risky' });
  });
});
