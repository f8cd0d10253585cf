// Fault injection for the test control plane. See index.mjs for the public API.
//
// A rule matches a request by `method` (optional) and `match`: undefined (every
// request), a path-prefix string, a RegExp tested against the path, or a
// function(record) => boolean. Note that the prefix '/api/v1/policies' also
// matches '/api/v1/policies/enforce'; use { match: /^\/api\/v1\/policies$/ } or
// { method: 'GET' } to single out the policy list.
//
// Order of application to one request: hang, delay, failNext, setStatus, garbage.

import { errorBody } from './routes.mjs';

export const GARBAGE_KINDS = Object.freeze([
  'malformed-json', 'wrong-shape', 'huge', 'html', 'empty', 'truncated', 'reset',
]);

const HTML_PAGE = '<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\n'
  + '<body><h1>502 Bad Gateway</h1><p>nginx</p></body></html>\n';
const HUGE_DEFAULT = 10 * 1024 * 1024;
const hugeCache = new Map();

function hugeBody(size) {
  let buf = hugeCache.get(size);
  if (!buf) {
    const head = '{"data":[{"junk":"';
    const tail = '"}]}';
    buf = Buffer.alloc(Math.max(size, head.length + tail.length), 'x');
    buf.write(head, 0);
    buf.write(tail, buf.length - tail.length);
    hugeCache.set(size, buf);
  }
  return buf;
}

function checkMatch(match) {
  if (match === undefined || match === null || typeof match === 'string'
    || match instanceof RegExp || typeof match === 'function') return match ?? undefined;
  throw new TypeError('match must be a path prefix string, a RegExp, a function or undefined');
}

function checkCount(count, what) {
  if (count === Infinity || (Number.isInteger(count) && count > 0)) return count;
  throw new TypeError(`${what} must be a positive integer or Infinity`);
}

export function matches(rule, rec) {
  if (rule.method && rule.method.toUpperCase() !== rec.method) return false;
  const m = rule.match;
  if (m === undefined) return true;
  if (typeof m === 'string') return rec.path.startsWith(m);
  if (m instanceof RegExp) { m.lastIndex = 0; return m.test(rec.path); }
  return Boolean(m(rec));
}

export class Faults {
  #rules = []; // { kind: 'delay'|'fail'|'status'|'garbage', match, method, remaining, ... }
  #hangRules = []; // { match, method }
  #hung = new Set(); // { rec, resolve }
  #sleeps = new Set(); // { timer, resolve }
  refusing = false;

  failNext(n, { status = 503, match, method, body, headers } = {}) {
    this.#add({ kind: 'fail', remaining: checkCount(n, 'n'), status, match, method, headers,
      body: body ?? errorBody('service_unavailable', `injected failure (HTTP ${status})`) });
  }

  setStatus(match, status, body, { count = Infinity, method, headers } = {}) {
    this.#add({ kind: 'status', remaining: checkCount(count, 'count'), status, match, method, headers,
      body: body ?? errorBody(`http_${status}`, `injected status ${status}`) });
  }

  garbage(kind, { match, method, count = Infinity, size = HUGE_DEFAULT, body } = {}) {
    if (!GARBAGE_KINDS.includes(kind)) {
      throw new TypeError(`unknown garbage kind ${JSON.stringify(kind)}; one of ${GARBAGE_KINDS.join(', ')}`);
    }
    this.#add({ kind: 'garbage', garbage: kind, remaining: checkCount(count, 'count'), match, method, size, body });
  }

  delay(ms, { match, method, count = Infinity } = {}) {
    if (!(Number.isFinite(ms) && ms >= 0)) throw new TypeError('delay(ms): ms must be a non-negative number');
    this.#add({ kind: 'delay', remaining: checkCount(count, 'count'), ms, match, method });
  }

  hang({ match, method, on = true } = {}) {
    if (on) {
      this.#hangRules.push({ match: checkMatch(match), method });
      return;
    }
    this.#hangRules = match === undefined && method === undefined ? []
      : this.#hangRules.filter((r) => !(r.match === match && r.method === method));
    for (const h of this.#hung) {
      if (!this.#hangRules.some((r) => matches(r, h.rec))) {
        this.#hung.delete(h);
        h.resolve(true);
      }
    }
  }

  get hungCount() { return this.#hung.size; }

  /** Removes every rule, stops refusing connections and lets hung requests go on. */
  clear() {
    this.#rules = [];
    this.refusing = false;
    this.hang({ on: false });
  }

  /** On close: ends every wait (hung and delayed requests are abandoned). */
  cancelAll() {
    this.#rules = [];
    this.#hangRules = [];
    for (const h of this.#hung) h.resolve(false);
    this.#hung.clear();
    for (const s of this.#sleeps) { clearTimeout(s.timer); s.resolve(false); }
    this.#sleeps.clear();
  }

  /** Applies the faults to one request. Returns true when a fault answered (or dropped) it. */
  async apply(ctx) {
    const { rec } = ctx;
    if (this.#hangRules.some((r) => matches(r, rec)) && !(await this.#waitHung(ctx))) return true;
    const delay = this.#take('delay', rec);
    if (delay && !(await this.#sleep(delay.ms))) return true;
    const rule = this.#take('fail', rec) ?? this.#take('status', rec);
    if (rule) {
      ctx.send(rule.status, rule.body, { headers: rule.headers });
      return true;
    }
    const garbage = this.#take('garbage', rec);
    if (garbage) {
      sendGarbage(ctx, garbage);
      return true;
    }
    return false;
  }

  #add(rule) {
    rule.match = checkMatch(rule.match);
    this.#rules.push(rule);
  }

  #take(kind, rec) {
    const i = this.#rules.findIndex((r) => r.kind === kind && matches(r, rec));
    if (i < 0) return undefined;
    const rule = this.#rules[i];
    if (--rule.remaining <= 0) this.#rules.splice(i, 1);
    return rule;
  }

  #waitHung(ctx) {
    return new Promise((resolve) => {
      const entry = { rec: ctx.rec, resolve };
      this.#hung.add(entry);
      ctx.res.once('close', () => {
        if (this.#hung.delete(entry)) resolve(false);
      });
    });
  }

  #sleep(ms) {
    return new Promise((resolve) => {
      const entry = { resolve };
      entry.timer = setTimeout(() => { this.#sleeps.delete(entry); resolve(true); }, ms);
      this.#sleeps.add(entry);
    });
  }
}

function sendGarbage(ctx, rule) {
  const json = 'application/json; charset=utf-8';
  switch (rule.garbage) {
    case 'malformed-json':
      return ctx.send(200, '{"data": [', { contentType: json });
    case 'wrong-shape':
      return ctx.send(200, rule.body ?? { data: 42 });
    case 'huge':
      return ctx.send(200, hugeBody(rule.size), { contentType: json });
    case 'html':
      return ctx.send(200, HTML_PAGE, { contentType: 'text/html; charset=utf-8' });
    case 'empty':
      return ctx.send(200, '', { contentType: json });
    case 'truncated': { // promises 4096 bytes, sends a few, then drops the connection
      const { res, rec } = ctx;
      rec.status = 'truncated';
      res.writeHead(200, { 'content-type': json, 'content-length': 4096 });
      res.write('{"data":[{"id":"pol_', () => res.destroy());
      return undefined;
    }
    case 'reset': // no answer at all: the connection is dropped
      ctx.rec.status = 'reset';
      ctx.res.destroy();
      return undefined;
    default:
      throw new Error(`unreachable garbage kind ${rule.garbage}`);
  }
}
