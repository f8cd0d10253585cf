// Approval requests of the test control plane (wire format: "The approval
// flow (202)" of the Execlave API): each scripted (pending for N polls,
// then approved, denied or expired), with a single-use certificate bound
// to a digest of the action context the server received at enforce.

import { createHash } from 'node:crypto';

// The enforce body less these is the action context.
const NOT_CONTEXT = new Set(['agentId', 'toolOutputs', 'toolDescriptors', 'conversationHistory']);

const digest = (text) => createHash('sha256').update(text).digest('hex');

/** The action context's JSON text: the enforce body less agentId and the detection fields, keys in order. */
export function actionContextText(body) {
  const context = {};
  for (const [k, v] of Object.entries(body)) if (!NOT_CONTEXT.has(k)) context[k] = v;
  return JSON.stringify(context);
}

export class Approvals {
  #byId = new Map();

  /**
   * Scripts approval request `id`: `pendingPolls` polls answer pending, then
   * `then` ('approved' | 'denied' | 'expired') with `reason` as
   * decisionReason. `verify`: a canned verify answer body (fault injection:
   * `{ valid: 'true' }`), else the certificate decides.
   */
  script(id, { pendingPolls = 0, then = 'approved', reason, verify } = {}) {
    if (!['approved', 'denied', 'expired', 'pending'].includes(then)) {
      throw new TypeError(`approval(id, {then}): then must be approved, denied, expired or pending, not ${then}`);
    }
    this.#byId.set(id, { pendingPolls, then, reason, verify, polls: 0, verifies: 0, sealed: null, used: false });
  }

  /** What happened to `id` so far: { polls, verifies, used, sealed }. */
  state(id) {
    const a = this.#byId.get(id);
    return a && { polls: a.polls, verifies: a.verifies, used: a.used, sealed: a.sealed !== null };
  }

  /** Enforce answered 202 with `id`: the first such answer seals the action context. */
  sealed(id, enforceBody) {
    const a = this.#byId.get(id);
    if (a && a.sealed === null) a.sealed = digest(actionContextText(enforceBody));
  }

  poll(ctx, id) {
    const a = this.#byId.get(id);
    if (!a) return ctx.send(404, { error: { code: 'not_found', message: `approval ${id} not found` } });
    a.polls += 1;
    const status = a.polls <= a.pendingPolls ? 'pending' : a.then;
    const data = { id, status };
    if (a.reason !== undefined && status !== 'pending') data.decisionReason = a.reason;
    return ctx.send(200, { data });
  }

  verify(ctx, id) {
    const a = this.#byId.get(id);
    if (!a) return ctx.send(404, { error: { code: 'not_found', message: `approval ${id} not found` } });
    a.verifies += 1;
    if (a.verify !== undefined) return ctx.send(200, a.verify);
    const { ok, value } = ctx.json;
    const context = ok && value !== null && typeof value === 'object' ? value.actionContext : undefined;
    const invalid = (reason) => ctx.send(200, { data: { valid: false, reason } });
    if (a.then !== 'approved' || a.polls <= a.pendingPolls) return invalid('not_approved');
    if (a.sealed === null) return invalid('certificate_unanchored');
    if (context === undefined || digest(JSON.stringify(context)) !== a.sealed) return invalid('action_context_mismatch');
    if (a.used) return invalid('certificate_already_used');
    a.used = true;
    return ctx.send(200, { data: { valid: true, certificate: { approvalRequestId: id, singleUse: true } } });
  }
}
