// Tests of the test control plane itself (test-control-plane/): endpoints, auth,
// signing, and every fault-injection knob. Run: node --test __test__/control-plane.test.mjs
import { describe, it, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import {
  startControlPlane, signatureHeaders, traceProblems, GARBAGE_KINDS,
} from '../test-control-plane/index.mjs';

const CLI = fileURLToPath(new URL('../test-control-plane/cli.mjs', import.meta.url));

const POLICY = {
  name: 'Filesystem guard',
  policyType: 'tool_invocation',
  enforcementMode: 'block',
  appliesToAgents: ['ops-agent'],
  ruleDefinition: { allow: ['read_text_file'], deny: ['write_file'] },
};

const TRACE = {
  traceId: 'tr_1', agentId: 'ops-agent', timestamp: '2025-01-02T03:04:05.000Z', durationMs: 12,
  status: 'success', environment: 'production', spanType: 'tool', metadata: { tool: 'read_text_file' },
};

function call(cp, path, { method = 'GET', body, headers = {}, key = cp.apiKey, signal } = {}) {
  const h = { ...headers };
  if (key !== null) h.authorization = `Bearer ${key}`;
  if (body !== undefined) h['content-type'] = 'application/json';
  const payload = body === undefined || typeof body === 'string' ? body : JSON.stringify(body);
  return fetch(cp.url + path, { method, headers: h, body: payload, signal });
}

async function json(res) {
  return { status: res.status, body: await res.json() };
}

describe('control plane: endpoints', () => {
  let cp;
  before(async () => { cp = await startControlPlane({ policies: [POLICY] }); });
  after(() => cp.close());
  beforeEach(() => { cp.clearFaults(); cp.clearRequests(); cp.clearTraces(); });

  it('listens on loopback with an ephemeral port', () => {
    assert.match(cp.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.ok(cp.port > 0);
    assert.equal(cp.apiKey, 'exe_dev_testkey');
  });

  it('GET /health answers without a key', async () => {
    assert.deepEqual(await json(await call(cp, '/health', { key: null })), { status: 200, body: { status: 'ok' } });
  });

  it('rejects a missing or wrong key with 401 on /api/v1', async () => {
    const expected = { status: 401, body: { error: { code: 'unauthorized', message: 'invalid API key' } } };
    assert.deepEqual(await json(await call(cp, '/api/v1/policies', { key: null })), expected);
    assert.deepEqual(await json(await call(cp, '/api/v1/policies', { key: 'exe_dev_wrong' })), expected);
    assert.deepEqual(await json(await call(cp, '/api/v1/nothing-here', { key: null })), expected);
  });

  it('serves policies with server fields, an ETag and 304 on If-None-Match', async () => {
    const res = await call(cp, '/api/v1/policies');
    const { body } = await json(res);
    assert.equal(body.meta.total, 1);
    const [p] = body.data;
    assert.equal(p.name, 'Filesystem guard');
    assert.match(p.id, /^pol_/);
    assert.equal(p.isActive, true);
    assert.deepEqual(p.appliesToAgents, ['ops-agent']);
    assert.ok(!Number.isNaN(Date.parse(p.createdAt)));
    const etag = res.headers.get('etag');
    assert.equal(etag, cp.etag);

    const notModified = await call(cp, '/api/v1/policies', { headers: { 'if-none-match': etag } });
    assert.equal(notModified.status, 304);
    assert.equal(await notModified.text(), '');
    assert.equal(notModified.headers.get('etag'), etag);

    cp.addPolicy({ ...POLICY, id: 'pol_two', name: 'Second' });
    assert.notEqual(cp.etag, etag);
    const changed = await call(cp, '/api/v1/policies', { headers: { 'if-none-match': etag } });
    assert.equal(changed.status, 200);
    assert.deepEqual((await changed.json()).data.map((x) => x.id), [p.id, 'pol_two']);

    const before2 = cp.etag;
    cp.setPolicies([{ name: 'raw', junk: true }, 42], { raw: true });
    assert.notEqual(cp.etag, before2);
    assert.deepEqual((await json(await call(cp, '/api/v1/policies'))).body,
      { data: [{ name: 'raw', junk: true }, 42], meta: { total: 2 } });
    assert.equal(cp.removePolicy('nope'), false);
    cp.setPolicies([POLICY]);
  });

  it('resolves agents by search on agentId or name', async () => {
    const { body } = await json(await call(cp, '/api/v1/agents?search=ops-agent'));
    assert.deepEqual(body, {
      data: [{ id: 'agt_ops', agentId: 'ops-agent', name: 'Ops agent', environment: 'production', status: 'active' }],
      meta: { total: 1 },
    });
    assert.equal((await json(await call(cp, '/api/v1/agents?search=Ops%20agent'))).body.meta.total, 1);
    assert.deepEqual((await json(await call(cp, '/api/v1/agents?search=nobody'))).body, { data: [], meta: { total: 0 } });
    cp.addAgent({ agentId: 'billing-bot', name: 'Billing' });
    const found = (await json(await call(cp, '/api/v1/agents?search=billing'))).body.data;
    assert.deepEqual(found.map((a) => [a.id, a.agentId, a.status]), [['agt_billing_bot', 'billing-bot', 'active']]);
    assert.throws(() => cp.addAgent({ agentId: 'billing-bot' }), /already exists/);
  });

  it('status-poll follows pauseAgent / resumeAgent; unknown id is 404', async () => {
    const poll = async () => (await json(await call(cp, '/api/v1/agents/agt_ops/status-poll'))).body;
    assert.deepEqual(await poll(), { data: { status: 'active', reason: null } });
    cp.pauseAgent('ops-agent', 'incident 42');
    assert.deepEqual(await poll(), { data: { status: 'paused', reason: 'incident 42' } });
    assert.equal((await json(await call(cp, '/api/v1/agents?search=ops'))).body.data[0].status, 'paused');
    cp.resumeAgent('agt_ops');
    assert.deepEqual(await poll(), { data: { status: 'active', reason: null } });
    const missing = await json(await call(cp, '/api/v1/agents/agt_nope/status-poll'));
    assert.equal(missing.status, 404);
    assert.equal(missing.body.error.code, 'not_found');
    assert.throws(() => cp.pauseAgent('nobody'), /unknown agent/);
  });

  it('enforce: allows by default, then canned answer, then handler; records bodies', async () => {
    const req = { agentId: 'ops-agent', input: 'tool:write_file', environment: 'production', tools: ['write_file'],
      metadata: { toolArguments: { path: '/etc/passwd' } } };
    assert.deepEqual(await json(await call(cp, '/api/v1/policies/enforce', { method: 'POST', body: req })),
      { status: 200, body: { allowed: true } });
    assert.deepEqual(cp.enforceRequests, [req]);

    const blocked = { allowed: false, violations: [{ policyId: 'pol_1', policyName: 'x', policyType: 'tool_invocation',
      message: 'no', enforcementMode: 'block' }] };
    cp.setEnforceResponse(403, blocked);
    assert.deepEqual(await json(await call(cp, '/api/v1/policies/enforce', { method: 'POST', body: req })),
      { status: 403, body: blocked });

    cp.onEnforce((body) => (body.tools[0] === 'approve_me'
      ? { status: 202, body: { approvalRequestId: 'apr_1' } } : undefined));
    assert.deepEqual(await json(await call(cp, '/api/v1/policies/enforce',
      { method: 'POST', body: { ...req, tools: ['approve_me'] } })), { status: 202, body: { approvalRequestId: 'apr_1' } });
    assert.equal((await call(cp, '/api/v1/policies/enforce', { method: 'POST', body: req })).status, 403);
    cp.onEnforce(null);
    cp.setEnforceResponse(null);
    assert.equal((await call(cp, '/api/v1/policies/enforce', { method: 'POST', body: req })).status, 200);

    const bad = await json(await call(cp, '/api/v1/policies/enforce', { method: 'POST', body: '{nope' }));
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.code, 'validation_error');
    assert.equal(cp.enforceRequests.length, 5); // the malformed one never reached the route
  });

  it('traces/ingest stores traces and validates the body', async () => {
    const res = await json(await call(cp, '/api/v1/traces/ingest',
      { method: 'POST', body: { traces: [TRACE, { ...TRACE, traceId: 'tr_2' }] } }));
    assert.deepEqual(res, { status: 202, body: { data: { accepted: 2 } } });
    assert.deepEqual(cp.traces.map((t) => t.traceId), ['tr_1', 'tr_2']);
    assert.deepEqual(traceProblems(cp.traces[0]), []);
    assert.deepEqual(traceProblems({ ...TRACE, status: 'ok', timestamp: 12 }),
      ['timestamp must be an ISO 8601 string', 'status must be one of success, error, policy_blocked, timeout']);

    for (const body of ['{not json', { traces: 'x' }, { trace: [] }, [TRACE]]) {
      const r = await json(await call(cp, '/api/v1/traces/ingest', { method: 'POST', body }));
      assert.equal(r.status, 400);
      assert.equal(r.body.error.code, 'validation_error');
    }
    assert.equal(cp.traces.length, 2);
    cp.clearTraces();
    assert.equal(cp.traces.length, 0);
  });

  it('answers 404 for unknown paths and 405 for a wrong method', async () => {
    const a = await json(await call(cp, '/nope'));
    assert.equal(a.status, 404);
    assert.equal(a.body.error.code, 'not_found');
    assert.equal(typeof a.body.error.message, 'string');
    assert.equal((await call(cp, '/api/v1/unknown')).status, 404);
    const b = await call(cp, '/api/v1/policies', { method: 'DELETE' });
    assert.equal(b.status, 405);
    assert.equal(b.headers.get('allow'), 'GET');
  });

  it('records every request', async () => {
    await call(cp, '/api/v1/agents?search=ops', { headers: { 'user-agent': 'execlave-node-sdk/0.1.0' } });
    await call(cp, '/api/v1/traces/ingest', { method: 'POST', body: { traces: [] } });
    assert.equal(cp.requests.length, 2);
    const [g, p] = cp.requests;
    assert.equal(g.method, 'GET');
    assert.equal(g.path, '/api/v1/agents');
    assert.deepEqual(g.query, { search: 'ops' });
    assert.equal(g.headers['user-agent'], 'execlave-node-sdk/0.1.0');
    assert.equal(g.headers.authorization, 'Bearer exe_dev_testkey');
    assert.equal(g.body, null);
    assert.equal(g.rawBody, '');
    assert.equal(g.signedOk, false);
    assert.equal(g.status, 200);
    assert.ok(Math.abs(g.at - Date.now()) < 5000);
    assert.deepEqual(p.body, { traces: [] });
    assert.equal(p.rawBody, '{"traces":[]}');
    assert.equal(p.status, 202);
    assert.deepEqual(cp.requestsTo('/api/v1/traces', 'post'), [p]);
    assert.deepEqual(cp.requestsTo('/api/v1/traces', 'GET'), []);
    cp.clearRequests();
    assert.equal(cp.requests.length, 0);
  });

  it('waitFor resolves on a later request and times out otherwise', async () => {
    const waiting = cp.waitFor(() => cp.traces.length >= 1 && cp.traces);
    await call(cp, '/api/v1/traces/ingest', { method: 'POST', body: { traces: [TRACE] } });
    assert.equal((await waiting).length, 1);
    await assert.rejects(cp.waitFor(() => false, { timeoutMs: 20 }), /within 20 ms/);
  });
});

describe('control plane: faults', () => {
  let cp;
  before(async () => { cp = await startControlPlane(); });
  after(() => cp.close());
  beforeEach(() => { cp.clearFaults(); cp.clearRequests(); });

  it('failNext fails the next n matching requests', async () => {
    cp.failNext(2, { match: '/api/v1/policies' });
    assert.equal((await call(cp, '/health')).status, 200);
    const first = await json(await call(cp, '/api/v1/policies'));
    assert.equal(first.status, 503);
    assert.equal(first.body.error.code, 'service_unavailable');
    assert.equal((await call(cp, '/api/v1/policies')).status, 503);
    assert.equal((await call(cp, '/api/v1/policies')).status, 200);
    cp.failNext(1, { status: 500 });
    assert.equal((await call(cp, '/health')).status, 500);
    assert.equal((await call(cp, '/health')).status, 200);
  });

  it('setStatus: 402 quota on traces, 401 on everything, with a count', async () => {
    const quota = { error: { resource: 'traces', current: 1000, max: 1000, message: 'Trace quota reached' } };
    cp.setStatus('/api/v1/traces/ingest', 402, quota);
    for (let i = 0; i < 2; i++) {
      assert.deepEqual(await json(await call(cp, '/api/v1/traces/ingest', { method: 'POST', body: { traces: [TRACE] } })),
        { status: 402, body: quota });
    }
    assert.equal(cp.traces.length, 0);
    assert.equal((await call(cp, '/api/v1/policies')).status, 200);
    cp.clearFaults();
    cp.setStatus(undefined, 401, undefined, { count: 1 });
    assert.equal((await call(cp, '/api/v1/policies')).status, 401);
    assert.equal((await call(cp, '/api/v1/policies')).status, 200);
    cp.setStatus(/^\/api\/v1\/policies$/, 429, undefined, { headers: { 'retry-after': '1' } });
    const limited = await call(cp, '/api/v1/policies');
    assert.equal(limited.status, 429);
    assert.equal(limited.headers.get('retry-after'), '1');
    assert.equal((await call(cp, '/api/v1/policies/enforce', { method: 'POST', body: {} })).status, 200);
  });

  it('garbage: each kind', async () => {
    assert.deepEqual([...GARBAGE_KINDS], ['malformed-json', 'wrong-shape', 'huge', 'html', 'empty', 'truncated', 'reset']);
    cp.garbage('malformed-json', { count: 1 });
    const mal = await call(cp, '/api/v1/policies');
    assert.equal(mal.status, 200);
    assert.match(mal.headers.get('content-type'), /application\/json/);
    await assert.rejects(mal.json(), SyntaxError);

    cp.garbage('wrong-shape', { count: 1 });
    assert.deepEqual(await json(await call(cp, '/api/v1/policies')), { status: 200, body: { data: 42 } });
    cp.garbage('wrong-shape', { count: 1, body: { foo: 1 } });
    assert.deepEqual((await json(await call(cp, '/api/v1/agents'))).body, { foo: 1 });

    cp.garbage('huge', { count: 1, match: '/api/v1/policies' });
    const huge = await call(cp, '/api/v1/policies');
    const text = await huge.text();
    assert.ok(text.length >= 10 * 1024 * 1024, `huge body is ${text.length} bytes`);
    const parsed = JSON.parse(text);
    assert.equal(typeof parsed.data[0].junk, 'string');

    cp.garbage('html', { count: 1 });
    const html = await call(cp, '/api/v1/policies');
    assert.equal(html.status, 200);
    assert.match(html.headers.get('content-type'), /text\/html/);
    assert.match(await html.text(), /<html>/);

    cp.garbage('empty', { count: 1 });
    const empty = await call(cp, '/api/v1/policies');
    assert.equal(empty.status, 200);
    assert.equal(await empty.text(), '');

    cp.garbage('truncated', { count: 1 });
    const truncated = await call(cp, '/api/v1/policies');
    await assert.rejects(truncated.text());

    cp.garbage('reset', { count: 1 });
    await assert.rejects(call(cp, '/api/v1/policies'), TypeError);

    assert.equal((await call(cp, '/api/v1/policies')).status, 200);
    assert.throws(() => cp.garbage('nonsense'), /unknown garbage kind/);
  });

  it('delay answers after the given time', async () => {
    cp.delay(150, { match: '/health' });
    const t0 = performance.now();
    assert.equal((await call(cp, '/health')).status, 200);
    assert.ok(performance.now() - t0 >= 140);
    const t1 = performance.now();
    assert.equal((await call(cp, '/api/v1/policies')).status, 200);
    assert.ok(performance.now() - t1 < 140);
  });

  it('hang holds matching requests until unhung', async () => {
    cp.hang({ match: '/api/v1/agents' });
    await assert.rejects(call(cp, '/api/v1/agents?search=ops', { signal: AbortSignal.timeout(100) }),
      { name: 'TimeoutError' });
    assert.equal((await call(cp, '/api/v1/policies')).status, 200);
    await cp.waitFor(() => cp.hungCount === 0); // the aborted one was dropped

    const pending = call(cp, '/api/v1/agents?search=ops');
    await cp.waitFor(() => cp.hungCount === 1);
    cp.hang({ on: false });
    const res = await json(await pending);
    assert.equal(res.status, 200);
    assert.equal(res.body.data[0].agentId, 'ops-agent');
    assert.equal((await call(cp, '/api/v1/agents')).status, 200);
  });

  it('refuseConnections drops new and open connections', async () => {
    assert.equal((await call(cp, '/health')).status, 200); // leaves a keep-alive socket
    cp.refuseConnections(true);
    await assert.rejects(call(cp, '/health'), TypeError);
    await assert.rejects(call(cp, '/health'), TypeError);
    cp.refuseConnections(false);
    assert.equal((await call(cp, '/health')).status, 200);
  });

  it('stop() refuses connections; restart() listens again on the same port', async () => {
    const { port, url } = cp;
    assert.equal((await call(cp, '/health')).status, 200);
    await cp.stop();
    assert.equal(cp.listening, false);
    const err = await call(cp, '/health').then(() => null, (e) => e);
    assert.ok(err instanceof TypeError, 'fetch rejects');
    assert.ok(['ECONNREFUSED', 'ECONNRESET', 'UND_ERR_SOCKET'].includes(err.cause?.code), String(err.cause?.code));
    await assert.rejects(call(cp, '/health'), (e) => e.cause?.code === 'ECONNREFUSED');
    await cp.restart();
    assert.equal(cp.port, port);
    assert.equal(cp.url, url);
    assert.equal((await call(cp, '/health')).status, 200);
  });
});

describe('control plane: signing, limits, lifecycle', () => {
  it('requireSignature accepts a valid HMAC and rejects wrong, stale or missing ones', async () => {
    const cp = await startControlPlane({ apiKey: 'exe_dev_signed', requireSignature: true });
    try {
      const ts = Math.floor(Date.now() / 1000);
      const body = JSON.stringify({ traces: [TRACE] });
      const sig = createHmac('sha256', 'exe_dev_signed').update(`${ts}.${body}`).digest('hex');
      const good = { 'X-Execlave-Timestamp': String(ts), 'X-Execlave-Signature': `sha256=${sig}` };
      assert.deepEqual(good, signatureHeaders('exe_dev_signed', body, ts));
      assert.equal((await call(cp, '/api/v1/traces/ingest', { method: 'POST', body, headers: good })).status, 202);
      assert.equal((await call(cp, '/api/v1/policies', { headers: signatureHeaders(cp.apiKey) })).status, 200);

      const wrongBody = await json(await call(cp, '/api/v1/traces/ingest',
        { method: 'POST', body: body.replace('tr_1', 'tr_X'), headers: good }));
      assert.equal(wrongBody.status, 401);
      assert.equal(wrongBody.body.error.code, 'invalid_signature');
      const wrongKey = signatureHeaders('exe_dev_other', '', ts);
      assert.equal((await call(cp, '/api/v1/policies', { headers: wrongKey })).status, 401);
      const stale = signatureHeaders(cp.apiKey, '', ts - 3600);
      assert.equal((await call(cp, '/api/v1/policies', { headers: stale })).status, 401);
      const millis = signatureHeaders(cp.apiKey, '', Date.now());
      assert.equal((await call(cp, '/api/v1/policies', { headers: millis })).status, 401);
      assert.equal((await call(cp, '/api/v1/policies')).status, 401);
      assert.equal((await call(cp, '/health', { key: null })).status, 200);

      assert.deepEqual(cp.requests.map((r) => r.signedOk), [true, true, false, false, false, false, false, false]);
      assert.equal(cp.traces.length, 1);
    } finally {
      await cp.close();
    }
  });

  it('answers 413 to a body over the limit', async () => {
    const cp = await startControlPlane({ maxBodyBytes: 1024 });
    try {
      const big = JSON.stringify({ traces: [{ ...TRACE, output: 'x'.repeat(2000) }] });
      const res = await json(await call(cp, '/api/v1/traces/ingest', { method: 'POST', body: big }));
      assert.equal(res.status, 413);
      assert.equal(res.body.error.code, 'payload_too_large');
      assert.equal(cp.traces.length, 0);
      assert.equal((await call(cp, '/api/v1/traces/ingest', { method: 'POST', body: { traces: [TRACE] } })).status, 202);
    } finally {
      await cp.close();
    }
  });

  it('close() finishes promptly with a hung request and a pending delay', async () => {
    const cp = await startControlPlane();
    cp.hang({ match: '/api/v1/policies' });
    cp.delay(60_000, { match: '/health' });
    const hung = call(cp, '/api/v1/policies').then(() => 'answered', () => 'failed');
    const delayed = call(cp, '/health').then(() => 'answered', () => 'failed');
    await cp.waitFor(() => cp.requests.length === 2 && cp.hungCount === 1);
    const t0 = performance.now();
    await cp.close();
    assert.ok(performance.now() - t0 < 500, 'close() is prompt');
    assert.equal(await hung, 'failed');
    assert.equal(await delayed, 'failed');
    await cp.close(); // idempotent
    await assert.rejects(cp.restart(), /closed/);
  });

  it('cli.mjs prints {url, apiKey} and exits when stdin ends', async () => {
    const child = spawn(process.execPath, [CLI, '--port', '0', '--api-key', 'exe_dev_cli'],
      { stdio: ['pipe', 'pipe', 'inherit'] });
    try {
      const [chunk] = await once(child.stdout, 'data');
      const info = JSON.parse(chunk.toString().split('\n')[0]);
      assert.equal(info.apiKey, 'exe_dev_cli');
      assert.match(info.url, /^http:\/\/127\.0\.0\.1:\d+$/);
      const res = await fetch(`${info.url}/api/v1/agents?search=ops`, { headers: { authorization: 'Bearer exe_dev_cli' } });
      assert.equal((await res.json()).data[0].id, 'agt_ops');
      const exited = once(child, 'exit');
      child.stdin.end();
      const [code] = await exited;
      assert.equal(code, 0);
    } finally {
      if (child.exitCode === null) child.kill('SIGTERM');
    }
  });
});
