// # Test control plane
//
// A real HTTP server on loopback that speaks the Execlave API wire format
// (the endpoints README.md lists under "Control-plane mode") from in-memory
// state, with fault injection.
// Node built-ins only. Files: index.mjs (server, controller), routes.mjs (state,
// /api/v1 routes, traceProblems), faults.mjs (fault rules), cli.mjs (child process).
//
//   import { startControlPlane } from '../test-control-plane/index.mjs';
//   const cp = await startControlPlane({ policies: [myPolicy] });
//   // ... point the SDK at cp.url with apiKey cp.apiKey ...
//   await cp.close();
//
// ## Options (all optional)
//   apiKey           'exe_dev_testkey'   Bearer key every /api/v1 request must carry (else 401)
//   policies         []                  served by GET /api/v1/policies
//   agents           [ops-agent]         [{ id: 'agt_ops', agentId: 'ops-agent', name: 'Ops agent',
//                                          environment: 'production', status: 'active' }]
//   port, host       0, '127.0.0.1'      0 = ephemeral port
//   requireSignature false               true: /api/v1 requests need a valid X-Execlave-Signature (else 401)
//   signatureToleranceSec 300            allowed clock skew of X-Execlave-Timestamp (unix seconds)
//   maxBodyBytes     20 MiB              larger request bodies get 413
//   traceStatus      202                 status of a successful POST /api/v1/traces/ingest
//
// ## Routes
//   GET  /health                                  200 {"status":"ok"} (no auth)
//   GET  /api/v1/policies                         {"data":[Policy],"meta":{"total":N}}, ETag; If-None-Match -> 304
//   GET  /api/v1/agents?search=S                  agents whose agentId or name contains S (case-insensitive)
//   GET  /api/v1/agents/<internal id>/status-poll {"data":{"status":"active"|"paused","reason":...}}; unknown -> 404
//   POST /api/v1/policies/enforce                 onEnforce handler, else setEnforceResponse, else 200 {"allowed":true}
//   GET  /api/v1/approvals/<id>                   scripted by approval(): {"data":{"id","status","decisionReason"?}}; unknown -> 404
//   POST /api/v1/approvals/<id>/verify            {"actionContext"} -> {"data":{"valid":true|false,"reason"?}}: single-use
//                                                 certificate bound to the action context sealed at the 202
//   POST /api/v1/traces/ingest                    {"traces":[...]} -> 202 {"data":{"accepted":N}}; bad body -> 400
//   POST /api/v1/sdk/bypass-windows               {"sdk","sentAt","windows":[...]<=100,"dropped"?} -> 202; bad body
//                                                 (unknown fields, bad reason...) -> 422 naming the problems
//   POST /api/v1/tool-integrity/agents/<id>/baseline {"descriptors":[{server,tool,descriptorHash,description?}],
//                                                 "reason":"manual"|"baseline_update"} -> 200; unknown agent -> 404
//   anything else                                 404 {"error":{"code":"not_found",...}} (405 for a wrong method)
// Errors are {"error":{"code","message"}}; a bad key is 401 {"error":{"code":"unauthorized","message":"invalid API key"}}.
//
// ## Controller
//   url, port, apiKey, listening
//   policies (copy), etag, setPolicies(list, {raw}), addPolicy(p, {raw}), removePolicy(id)
//       (missing id/isActive/appliesToAgents/createdAt/updatedAt are filled in unless raw: true)
//   agents (copy), addAgent(a), pauseAgent(agentIdOrInternalId, reason), resumeAgent(agentIdOrInternalId)
//   onEnforce(fn | null): fn(body, record) -> {status, body, headers?} | undefined (undefined: fall through)
//   setEnforceResponse(status, body) / setEnforceResponse(null); enforceRequests: bodies the route received
//   approval(id, {pendingPolls = 0, then = 'approved'|'denied'|'expired'|'pending', reason, verify}): scripts
//       approval request id (verify: a canned verify body, e.g. {valid: 'true'}); requireApproval(id, {tool}): enforce
//       answers 202 {"approvalRequestId": id} (to calls of `tool` only, when given; others fall through); approvalState(id) -> {polls, verifies, used, sealed}
//   bypassReports (bodies received), bypassWindows (their windows, flattened)
//   baseline(internalId) -> {descriptors, reason, at} | undefined; setBaseline(internalId, descriptors)
//   blockOutputsContaining(marker | null): enforce requests whose toolOutputs[].output contains marker get
//       403 {"allowed":false,"violations":[{policyType:"tool_output_scan",...}]} (after onEnforce falls through)
//   enforceToolIntegrity(on = true): enforce requests whose toolDescriptors differ from the agent's baseline
//       (or have none) get 403 with a tool_integrity violation listing the changed tools in `tools`
//   requests: [{method, path, query, headers, body (parsed JSON, raw string, or null when empty), rawBody,
//              signedOk, at (ms epoch), status (once answered; 'reset'/'truncated' for those faults)}]
//   requestsTo(pathPrefix, method?), clearRequests()   (also clears enforceRequests)
//   traces (array of TracePayload), clearTraces()
//   waitFor(predicate, {timeoutMs = 2000}) -> Promise of predicate's truthy value (checked on every request,
//       every answer, and every 10 ms)
//   Faults. `match`: undefined (all), path-prefix string, RegExp on the path, or function(record); optional `method`.
//   Beware: prefix '/api/v1/policies' also matches '/api/v1/policies/enforce'. Applied in the order
//   hang, delay, failNext, setStatus, garbage; before auth and routing.
//     failNext(n, {status = 503, match, method, body, headers})
//     setStatus(match, status, body, {count = Infinity, method, headers})
//     garbage(kind, {match, method, count = Infinity, size, body}): 'malformed-json' (200 '{"data": ['),
//         'wrong-shape' (200 {"data":42} or `body`), 'huge' (200, ~10 MB valid JSON of the wrong shape),
//         'html' (200 text/html), 'empty' (200, no body), 'truncated' (connection dropped mid-body),
//         'reset' (connection dropped, no answer)
//     delay(ms, {match, method, count = Infinity})
//     hang({match, method, on = true}): matching requests get no answer until hang({on: false}) (they then go on)
//     refuseConnections(on): new connections are destroyed at once; turning it on also destroys open ones
//     clearFaults(): all of the above off (hung requests go on)
//     hungCount: requests currently held by hang
//   async stop(): closes the listener and every socket (connections refused); async restart(): same port again
//   async close(): final; destroys every socket (hung ones too), cancels delays, resolves promptly
//
// Other exports: signatureHeaders(apiKey, rawBody = '', timestamp = now) -> the two signing headers;
// traceProblems(trace) -> [] or a list of wire-format problems; GARBAGE_KINDS.

import http from 'node:http';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { Faults, GARBAGE_KINDS } from './faults.mjs';
import { State, errorBody, traceProblems, DEFAULT_AGENTS } from './routes.mjs';

export { traceProblems, GARBAGE_KINDS };

const DEFAULTS = {
  apiKey: 'exe_dev_testkey',
  policies: [],
  agents: DEFAULT_AGENTS,
  port: 0,
  host: '127.0.0.1',
  requireSignature: false,
  signatureToleranceSec: 300,
  maxBodyBytes: 20 * 1024 * 1024,
  traceStatus: 202,
};

/** The headers a client sends to sign a request (see execlave-api.md). */
export function signatureHeaders(apiKey, rawBody = '', timestamp = Math.floor(Date.now() / 1000)) {
  const sig = createHmac('sha256', apiKey).update(`${timestamp}.`).update(rawBody).digest('hex');
  return { 'X-Execlave-Timestamp': String(timestamp), 'X-Execlave-Signature': `sha256=${sig}` };
}

function sameSecret(a, b) {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function verifySignature(headers, rawBuf, apiKey, toleranceSec) {
  const ts = headers['x-execlave-timestamp'];
  const m = /^sha256=([0-9a-f]{64})$/i.exec(String(headers['x-execlave-signature'] ?? '').trim());
  if (!m || typeof ts !== 'string' || !/^\d{1,12}$/.test(ts)) return false;
  if (Math.abs(Date.now() / 1000 - Number(ts)) > toleranceSec) return false;
  const expected = createHmac('sha256', apiKey).update(`${ts}.`).update(rawBuf).digest();
  return timingSafeEqual(expected, Buffer.from(m[1], 'hex'));
}

function readBody(req, limit) {
  return new Promise((resolve) => {
    const chunks = [];
    let size = 0;
    let tooLarge = Number(req.headers['content-length']) > limit;
    const done = () => resolve({ buf: tooLarge ? Buffer.alloc(0) : Buffer.concat(chunks), tooLarge, aborted: !req.complete });
    req.on('data', (chunk) => {
      size += chunk.length;
      if (size > limit) tooLarge = true;
      if (!tooLarge) chunks.push(chunk); // past the limit: keep draining, answer 413 at the end
    });
    req.on('end', done);
    req.on('close', done);
    req.on('error', () => {});
  });
}

function parseJson(text) {
  if (text === '') return { ok: false, value: undefined };
  try { return { ok: true, value: JSON.parse(text) }; } catch { return { ok: false, value: undefined }; }
}

export async function startControlPlane(options = {}) {
  const opts = { ...DEFAULTS, ...options };
  const state = new State(opts);
  const faults = new Faults();
  const requests = [];
  const sockets = new Set();
  const waiters = new Set();
  let port = opts.port;
  let closed = false;

  const notify = () => { for (const w of [...waiters]) w.check(); };

  function reply(rec, res, status, body, { headers = {}, contentType } = {}) {
    if (res.headersSent || res.destroyed) return;
    let payload = '';
    let type = contentType;
    if (typeof body === 'string' || Buffer.isBuffer(body)) {
      payload = body;
      type ??= 'text/plain; charset=utf-8';
    } else if (body !== undefined) {
      payload = JSON.stringify(body);
      type ??= 'application/json; charset=utf-8';
    }
    const h = { ...headers };
    if (type) h['content-type'] = type;
    if (status !== 304 && status !== 204) h['content-length'] = Buffer.byteLength(payload);
    rec.status = status;
    res.writeHead(status, h);
    res.end(status === 304 || status === 204 ? undefined : payload);
    notify();
  }

  async function handle(req, res) {
    const { buf, tooLarge, aborted } = await readBody(req, opts.maxBodyBytes);
    if (aborted || closed) return;
    const url = new URL(req.url, 'http://control-plane.invalid');
    const path = url.pathname.length > 1 ? url.pathname.replace(/\/+$/, '') : url.pathname;
    const rawBody = buf.toString('utf8');
    const json = parseJson(rawBody);
    const rec = {
      method: req.method,
      path,
      query: Object.fromEntries(url.searchParams),
      headers: { ...req.headers },
      body: rawBody === '' ? null : json.ok ? json.value : rawBody,
      rawBody,
      signedOk: verifySignature(req.headers, buf, opts.apiKey, opts.signatureToleranceSec),
      at: Date.now(),
      status: undefined,
    };
    if (tooLarge) rec.tooLarge = true;
    requests.push(rec);
    notify();
    const ctx = { rec, res, json, send: (status, body, o) => reply(rec, res, status, body, o) };

    if (await faults.apply(ctx)) return;
    if (tooLarge) return ctx.send(413, errorBody('payload_too_large', `request body exceeds ${opts.maxBodyBytes} bytes`));
    if (path === '/health') {
      return req.method === 'GET' ? ctx.send(200, { status: 'ok' })
        : ctx.send(405, errorBody('method_not_allowed', `${req.method} is not allowed on /health`), { headers: { allow: 'GET' } });
    }
    if (path === '/api/v1' || path.startsWith('/api/v1/')) {
      const bearer = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
      if (!bearer || !sameSecret(bearer[1], opts.apiKey)) return ctx.send(401, errorBody('unauthorized', 'invalid API key'));
      if (opts.requireSignature && !rec.signedOk) {
        return ctx.send(401, errorBody('invalid_signature', 'missing, stale or wrong X-Execlave-Signature'));
      }
      return state.handle(ctx);
    }
    return ctx.send(404, errorBody('not_found', `no route for ${req.method} ${path}`));
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch((err) => {
      if (!res.headersSent && !res.destroyed) {
        res.writeHead(500, { 'content-type': 'application/json; charset=utf-8' });
        res.end(JSON.stringify(errorBody('internal', String(err?.message ?? err))));
      }
    });
  });
  server.on('connection', (socket) => {
    if (faults.refusing || closed) { socket.destroy(); return; }
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });

  const destroySockets = () => { for (const s of sockets) s.destroy(); sockets.clear(); };
  const listen = (p) => new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(p, opts.host, () => { server.off('error', reject); resolve(); });
  });
  const closeListener = () => new Promise((resolve) => {
    if (!server.listening) { destroySockets(); resolve(); return; }
    server.close(() => resolve());
    destroySockets();
  });

  await listen(port);
  port = server.address().port;
  const hostInUrl = opts.host.includes(':') ? `[${opts.host}]` : opts.host;

  const cp = {
    get url() { return `http://${hostInUrl}:${port}`; },
    get port() { return port; },
    get apiKey() { return opts.apiKey; },
    get listening() { return server.listening; },

    get policies() { return state.policies; },
    get etag() { return state.etag; },
    setPolicies: (list, o) => state.setPolicies(list, o),
    addPolicy: (p, o) => state.addPolicy(p, o),
    removePolicy: (id) => state.removePolicy(id),

    get agents() { return state.agents; },
    addAgent: (a) => state.addAgent(a),
    pauseAgent: (id, reason = 'paused by test') => state.setAgentStatus(id, 'paused', reason),
    resumeAgent: (id) => state.setAgentStatus(id, 'active', null),

    onEnforce(fn) {
      if (fn !== null && typeof fn !== 'function') throw new TypeError('onEnforce(fn): fn must be a function or null');
      state.enforceHandler = fn;
    },
    setEnforceResponse(status, body) {
      state.enforceCanned = status === null || status === undefined ? null : { status, body };
    },
    get enforceRequests() { return state.enforceRequests; },
    approval: (id, o) => state.approvals.script(id, o),
    approvalState: (id) => state.approvals.state(id),
    requireApproval(id, { tool } = {}) {
      state.enforceCanned = null;
      state.enforceHandler = (body) => (tool === undefined || body.tools?.[0] === tool
        ? { status: 202, body: { approvalRequestId: id } } : undefined);
    },

    get requests() { return requests; },
    requestsTo: (prefix, method) => requests.filter((r) => r.path.startsWith(prefix)
      && (method === undefined || r.method === method.toUpperCase())),
    clearRequests() { requests.length = 0; state.enforceRequests.length = 0; },
    get traces() { return state.traces; },
    clearTraces() { state.traces.length = 0; },
    get bypassReports() { return state.bypassReports; },
    get bypassWindows() { return state.bypassReports.flatMap((r) => r.windows); },
    baseline: (internalId) => state.baselines.get(internalId),
    setBaseline(internalId, descriptors) { state.baselines.set(internalId, { descriptors: structuredClone(descriptors), reason: 'manual', at: Date.now() }); },
    blockOutputsContaining(marker) {
      if (marker !== null && (typeof marker !== 'string' || marker === '')) throw new TypeError('blockOutputsContaining(marker): a non-empty string or null');
      state.outputMarker = marker;
    },
    enforceToolIntegrity(on = true) { state.toolIntegrity = Boolean(on); },

    waitFor(predicate, { timeoutMs = 2000 } = {}) {
      return new Promise((resolve, reject) => {
        const w = {
          check() {
            let v;
            try { v = predicate(); } catch (err) { w.finish(); reject(err); return; }
            if (v) { w.finish(); resolve(v); }
          },
          finish() { clearTimeout(w.timer); clearInterval(w.poll); waiters.delete(w); },
          fail(err) { w.finish(); reject(err); },
        };
        w.timer = setTimeout(() => w.fail(new Error(`waitFor: condition not met within ${timeoutMs} ms`)), timeoutMs);
        w.poll = setInterval(() => w.check(), 10); // for state that changes without a request (e.g. hungCount)
        waiters.add(w);
        w.check();
      });
    },

    failNext: (n, o) => faults.failNext(n, o),
    setStatus: (match, status, body, o) => faults.setStatus(match, status, body, o),
    garbage: (kind, o) => faults.garbage(kind, o),
    delay: (ms, o) => faults.delay(ms, o),
    hang: (o) => faults.hang(o),
    get hungCount() { return faults.hungCount; },
    refuseConnections(on = true) {
      faults.refusing = Boolean(on);
      if (faults.refusing) destroySockets();
    },
    clearFaults: () => faults.clear(),

    async stop() { await closeListener(); },
    async restart() {
      if (closed) throw new Error('restart(): the control plane was closed');
      if (!server.listening) await listen(port);
    },
    async close() {
      if (closed) return;
      closed = true;
      faults.cancelAll();
      for (const w of [...waiters]) w.fail(new Error('control plane closed'));
      await closeListener();
    },
  };
  return cp;
}
