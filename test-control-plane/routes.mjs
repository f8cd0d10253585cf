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
    out ??= this.enforceCanned ?? { status: 200, body: { allowed: true } };
    const approvalId = out.status === 202 && isObject(out.body) ? out.body.approvalRequestId : undefined;
    if (typeof approvalId === 'string') this.approvals.sealed(approvalId, value);
    return ctx.send(out.status ?? 200, out.body, { headers: out.headers });
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
