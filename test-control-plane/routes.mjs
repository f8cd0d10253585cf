// In-memory state and the /api/v1 routes of the test control plane.
// Wire format: the Execlave API (README.md, "Control-plane mode"). See index.mjs
// for the public API.

import { createHash } from 'node:crypto';
import { Approvals } from './approvals.mjs';

export const errorBody = (code, message) => ({ error: { code, message } });

const isObject = (v) => typeof v === 'object' && v !== null && !Array.isArray(v);
const clone = (v) => structuredClone(v);

export const DEFAULT_AGENTS = Object.freeze([
  Object.freeze({ id: 'agt_ops', agentId: 'ops-agent', name: 'Ops agent', environment: 'production', status: 'active' }),
]);

export class State {
  traces = [];
  enforceRequests = [];
  enforceHandler = null;
  enforceCanned = null;
  approvals = new Approvals();
  /** Bodies of POST /api/v1/sdk/bypass-windows, as received (valid ones only). */
  bypassReports = [];
  /** Tool-integrity baselines by internal agent id: {descriptors, reason, at}. */
  baselines = new Map();
  /** Enforce requests whose toolOutputs contain this text are blocked (tool_output_scan). */
  outputMarker = null;
  /** Enforce requests whose toolDescriptors differ from the agent's baseline are blocked (tool_integrity). */
  toolIntegrity = false;
  #policies = [];
  #version = 0;
  #etag = '';
  #agents = [];
  #policySeq = 0;

  constructor({ policies = [], agents = DEFAULT_AGENTS, traceStatus = 202 } = {}) {
    this.traceStatus = traceStatus;
    for (const a of agents) this.addAgent(a);
    this.setPolicies(policies);
  }

  // ---- policies ----

  get policies() { return clone(this.#policies); }
  get etag() { return this.#etag; }

  /** Replaces the policies. Missing server fields (id, isActive, appliesToAgents,
   *  createdAt, updatedAt) are filled in unless { raw: true }. */
  setPolicies(list, { raw = false } = {}) {
    if (!Array.isArray(list)) throw new TypeError('setPolicies(list): list must be an array');
    this.#policies = list.map((p) => (raw ? clone(p) : this.#normalizePolicy(p)));
    this.#bump();
  }

  addPolicy(policy, { raw = false } = {}) {
    const p = raw ? clone(policy) : this.#normalizePolicy(policy);
    this.#policies.push(p);
    this.#bump();
    return clone(p);
  }

  removePolicy(id) {
    const before = this.#policies.length;
    this.#policies = this.#policies.filter((p) => !(isObject(p) && p.id === id));
    if (this.#policies.length === before) return false;
    this.#bump();
    return true;
  }

  #normalizePolicy(policy) {
    if (!isObject(policy)) return clone(policy); // served as is: lets tests send broken entries
    const now = new Date().toISOString();
    const p = clone(policy);
    if (p.id === undefined) p.id = `pol_${++this.#policySeq}`;
    if (p.isActive === undefined) p.isActive = true;
    if (p.appliesToAgents === undefined) p.appliesToAgents = [];
    if (p.createdAt === undefined) p.createdAt = now;
    if (p.updatedAt === undefined) p.updatedAt = now;
    return p;
  }

  #bump() {
    this.#version += 1;
    const hash = createHash('sha256').update(JSON.stringify(this.#policies)).digest('hex').slice(0, 16);
    this.#etag = `"${this.#version}-${hash}"`;
  }

  // ---- agents ----

  get agents() { return this.#agents.map((a) => ({ ...a })); }

  addAgent(agent) {
    if (!isObject(agent) || typeof agent.agentId !== 'string' || agent.agentId === '') {
      throw new TypeError('addAgent(agent): agent.agentId must be a non-empty string');
    }
    const a = {
      id: agent.id ?? `agt_${agent.agentId.replace(/[^A-Za-z0-9]+/g, '_')}`,
      agentId: agent.agentId,
      name: agent.name ?? agent.agentId,
      environment: agent.environment ?? 'production',
      status: agent.status ?? 'active',
      reason: agent.reason ?? null,
    };
    if (this.#agents.some((x) => x.id === a.id || x.agentId === a.agentId)) {
      throw new Error(`addAgent: an agent with id ${a.id} or agentId ${a.agentId} already exists`);
    }
    this.#agents.push(a);
    return { ...a };
  }

  findAgent(idOrAgentId) {
    return this.#agents.find((a) => a.id === idOrAgentId) ?? this.#agents.find((a) => a.agentId === idOrAgentId);
  }

  setAgentStatus(idOrAgentId, status, reason) {
    const a = this.findAgent(idOrAgentId);
    if (!a) throw new Error(`unknown agent ${JSON.stringify(idOrAgentId)}`);
    a.status = status;
    a.reason = reason ?? null;
  }

  // ---- routes (auth already checked) ----

  async handle(ctx) {
    const { rec } = ctx;
    const route = this.#route(rec.path);
    if (!route) return ctx.send(404, errorBody('not_found', `no route for ${rec.method} ${rec.path}`));
    if (route.method !== rec.method) {
      return ctx.send(405, errorBody('method_not_allowed', `${rec.method} is not allowed on ${rec.path}`),
        { headers: { allow: route.method } });
    }
    return route.run(ctx);
  }

  #route(path) {
    if (path === '/api/v1/policies') return { method: 'GET', run: (ctx) => this.#listPolicies(ctx) };
    if (path === '/api/v1/policies/enforce') return { method: 'POST', run: (ctx) => this.#enforce(ctx) };
    if (path === '/api/v1/traces/ingest') return { method: 'POST', run: (ctx) => this.#ingest(ctx) };
    if (path === '/api/v1/agents') return { method: 'GET', run: (ctx) => this.#listAgents(ctx) };
    if (path === '/api/v1/sdk/bypass-windows') return { method: 'POST', run: (ctx) => this.#bypassWindows(ctx) };
    const bl = /^\/api\/v1\/tool-integrity\/agents\/([^/]+)\/baseline$/.exec(path);
    if (bl) return { method: 'POST', run: (ctx) => this.#baseline(ctx, safeDecode(bl[1])) };
    const ap = /^\/api\/v1\/approvals\/([^/]+)(\/verify)?$/.exec(path);
    if (ap && ap[2]) return { method: 'POST', run: (ctx) => this.approvals.verify(ctx, safeDecode(ap[1])) };
    if (ap) return { method: 'GET', run: (ctx) => this.approvals.poll(ctx, safeDecode(ap[1])) };
    const m = /^\/api\/v1\/agents\/([^/]+)\/status-poll$/.exec(path);
    if (m) return { method: 'GET', run: (ctx) => this.#statusPoll(ctx, safeDecode(m[1])) };
    return undefined;
  }

  #listPolicies(ctx) {
    const headers = { etag: this.#etag, 'cache-control': 'no-cache' };
    if (etagMatches(ctx.rec.headers['if-none-match'], this.#etag)) return ctx.send(304, undefined, { headers });
    return ctx.send(200, { data: this.#policies, meta: { total: this.#policies.length } }, { headers });
  }

  #listAgents(ctx) {
    const search = String(ctx.rec.query.search ?? '').toLowerCase();
    const data = this.#agents
      .filter((a) => a.agentId.toLowerCase().includes(search) || a.name.toLowerCase().includes(search))
      .map(({ id, agentId, name, environment, status }) => ({ id, agentId, name, environment, status }));
    return ctx.send(200, { data, meta: { total: data.length } });
  }

  #statusPoll(ctx, id) {
    const a = this.#agents.find((x) => x.id === id);
    if (!a) return ctx.send(404, errorBody('not_found', `agent ${id} not found`));
    return ctx.send(200, { data: { status: a.status, reason: a.reason } });
  }

  async #enforce(ctx) {
    const { ok, value } = ctx.json;
    if (!ok || !isObject(value)) return ctx.send(400, errorBody('validation_error', 'body must be a JSON object'));
    this.enforceRequests.push(value);
    let out = this.enforceHandler ? await this.enforceHandler(value, ctx.rec) : undefined;
    out ??= this.#scripted(value);
    out ??= this.enforceCanned ?? { status: 200, body: { allowed: true } };
    const approvalId = out.status === 202 && isObject(out.body) ? out.body.approvalRequestId : undefined;
    if (typeof approvalId === 'string') this.approvals.sealed(approvalId, value);
    return ctx.send(out.status ?? 200, out.body, { headers: out.headers });
  }

  // The service's detection policies, scripted: a marker in a tool output,
  // a descriptor that differs from the agent's baseline.
  #scripted(body) {
    const block = (policyType, message) => ({
      status: 403,
      body: { allowed: false, violations: [{ policyId: `pol_${policyType}`, policyName: policyType, policyType, message, enforcementMode: 'block' }] },
    });
    if (this.outputMarker !== null && Array.isArray(body.toolOutputs)
      && body.toolOutputs.some((o) => isObject(o) && String(o.output ?? '').includes(this.outputMarker))) {
      return block('tool_output_scan', 'tool output carries a prompt injection');
    }
    if (this.toolIntegrity && Array.isArray(body.toolDescriptors)) {
      const agent = this.findAgent(String(body.agentId ?? ''));
      const pinned = new Map((this.baselines.get(agent?.id)?.descriptors ?? []).map((d) => [`${d.server}\u0000${d.tool}`, d.descriptorHash]));
      const changed = body.toolDescriptors.filter((d) => isObject(d) && pinned.get(`${d.server}\u0000${d.tool}`) !== d.descriptorHash);
      if (changed.length > 0) {
        const r = block('tool_integrity', `tool definition changed: ${changed.map((d) => d.tool).join(', ')}`);
        r.body.violations[0].tools = changed.map((d) => ({ server: d.server, tool: d.tool, descriptorHash: d.descriptorHash }));
        return r;
      }
    }
    return undefined;
  }

  #bypassWindows(ctx) {
    const { ok, value } = ctx.json;
    const problems = ok ? bypassReportProblems(value) : ['body must be JSON'];
    if (problems.length > 0) return ctx.send(422, errorBody('validation_error', problems.join('; ')));
    this.bypassReports.push(value);
    return ctx.send(202, { data: { accepted: value.windows.length } });
  }

  #baseline(ctx, id) {
    if (!this.#agents.some((a) => a.id === id)) return ctx.send(404, errorBody('not_found', `agent ${id} not found`));
    const { ok, value } = ctx.json;
    const good = ok && isObject(value) && Array.isArray(value.descriptors)
      && ['manual', 'baseline_update'].includes(value.reason)
      && value.descriptors.every((d) => isObject(d) && typeof d.server === 'string' && typeof d.tool === 'string'
        && typeof d.descriptorHash === 'string' && /^[0-9a-f]{64}$/.test(d.descriptorHash));
    if (!good) {
      return ctx.send(422, errorBody('validation_error',
        'body must be {"descriptors": [{"server","tool","descriptorHash"(64 lowercase hex),"description"?}], "reason": "manual"|"baseline_update"}'));
    }
    this.baselines.set(id, { descriptors: clone(value.descriptors), reason: value.reason, at: Date.now() });
    return ctx.send(200, { data: { agentId: id, descriptors: value.descriptors.length } });
  }

  #ingest(ctx) {
    const { ok, value } = ctx.json;
    if (!ok || !isObject(value) || !Array.isArray(value.traces)) {
      return ctx.send(400, errorBody('validation_error', 'body must be a JSON object {"traces": [TracePayload...]}'));
    }
    for (const t of value.traces) this.traces.push(t);
    return ctx.send(this.traceStatus, { data: { accepted: value.traces.length } });
  }
}

function safeDecode(s) {
  try { return decodeURIComponent(s); } catch { return s; }
}

function etagMatches(header, etag) {
  if (typeof header !== 'string' || header === '') return false;
  return header.split(',').map((t) => t.trim().replace(/^W\//, '')).some((t) => t === '*' || t === etag);
}

const TRACE_STATUSES = new Set(['success', 'error', 'policy_blocked', 'timeout']);
const OPTIONAL_STRINGS = ['sessionId', 'userId', 'errorMessage', 'errorType', 'parentTraceId'];

/** Problems of one TracePayload against the documented wire format ([] when valid). */
export function traceProblems(t) {
  if (!isObject(t)) return ['trace is not a JSON object'];
  const problems = [];
  const nonEmpty = (k) => typeof t[k] === 'string' && t[k] !== '';
  for (const k of ['traceId', 'agentId', 'environment', 'spanType']) {
    if (!nonEmpty(k)) problems.push(`${k} must be a non-empty string`);
  }
  if (!(typeof t.timestamp === 'string' && /^\d{4}-\d{2}-\d{2}T/.test(t.timestamp) && !Number.isNaN(Date.parse(t.timestamp)))) {
    problems.push('timestamp must be an ISO 8601 string');
  }
  if (!(Number.isFinite(t.durationMs) && t.durationMs >= 0)) problems.push('durationMs must be a number >= 0');
  if (!TRACE_STATUSES.has(t.status)) problems.push(`status must be one of ${[...TRACE_STATUSES].join(', ')}`);
  for (const k of OPTIONAL_STRINGS) {
    if (t[k] !== undefined && typeof t[k] !== 'string') problems.push(`${k} must be a string when present`);
  }
  if (t.tags !== undefined && !(Array.isArray(t.tags) && t.tags.every((x) => typeof x === 'string'))) {
    problems.push('tags must be an array of strings when present');
  }
  if (t.metadata !== undefined && !isObject(t.metadata)) problems.push('metadata must be an object when present');
  return problems;
}

const BYPASS_REASONS = new Set(['circuit_breaker_open', 'network_error', 'server_error', 'plan_limit_exceeded']);
const BYPASS_KEYS = new Set(['sdk', 'sentAt', 'windows', 'dropped']);
const WINDOW_KEYS = new Set(['windowId', 'agentId', 'reason', 'source', 'firstAt', 'lastAt', 'count', 'message', 'status', 'consecutiveFailures']);

/** Problems of a bypass-window report against the documented wire format ([] when valid). */
export function bypassReportProblems(b) {
  if (!isObject(b)) return ['body is not a JSON object'];
  const problems = [];
  for (const k of Object.keys(b)) if (!BYPASS_KEYS.has(k)) problems.push(`unknown field ${k}`);
  if (!isObject(b.sdk) || !['name', 'language', 'version'].every((k) => typeof b.sdk[k] === 'string')) {
    problems.push('sdk must be {name, language, version}');
  }
  if (typeof b.sentAt !== 'string' || Number.isNaN(Date.parse(b.sentAt))) problems.push('sentAt must be an ISO 8601 string');
  if (!Array.isArray(b.windows) || b.windows.length > 100) problems.push('windows must be an array of at most 100');
  for (const w of Array.isArray(b.windows) ? b.windows : []) {
    if (!isObject(w)) { problems.push('a window is not an object'); continue; }
    for (const k of Object.keys(w)) if (!WINDOW_KEYS.has(k)) problems.push(`unknown window field ${k}`);
    for (const k of ['windowId', 'agentId', 'source', 'firstAt', 'lastAt']) {
      if (typeof w[k] !== 'string' || w[k] === '') problems.push(`window ${k} must be a non-empty string`);
    }
    if (!BYPASS_REASONS.has(w.reason)) problems.push(`window reason ${JSON.stringify(w.reason)} is not one of ${[...BYPASS_REASONS]}`);
    if (!(Number.isInteger(w.count) && w.count >= 1)) problems.push('window count must be an integer >= 1');
  }
  if (b.dropped !== undefined && !(isObject(b.dropped) && typeof b.dropped.dropId === 'string'
    && Number.isInteger(b.dropped.windows) && Number.isInteger(b.dropped.bypasses))) {
    problems.push('dropped must be {dropId, windows, bypasses, since?}');
  }
  return problems;
}
