'use strict';

// The host's half of local approvals (the core holds the call, its record
// and the counts): ask the client's approver, bounded by
// `approvalTimeoutMs`, and read its answer strictly. Anything but
// `{ approved: true }` refuses the call.

const DEFAULT_APPROVAL_TIMEOUT_MS = 30 * 60 * 1000;
// The core's approvalRequestId of the local approver's approvals.
const LOCAL_APPROVAL_ID = 'local';

/**
 * Asks `approver` about `request`; resolves `{ kind, text, error }` where
 * kind is the core's verdict: 'approved', 'denied' (text: the reason),
 * 'failed' (text: why; error: what the approver threw) or 'timed_out'.
 * Never rejects.
 */
function askApprover(approver, request, timeoutMs) {
  return new Promise((resolve) => {
    let settled = false;
    const settle = (verdict) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(verdict);
    };
    // setTimeout takes at most 2^31-1 ms (24.8 days); longer is as good as that.
    const timer = setTimeout(() => settle({ kind: 'timed_out' }), Math.min(timeoutMs, 2 ** 31 - 1));
    let answer;
    try {
      answer = approver(request);
    } catch (err) {
      settle(threw(err));
      return;
    }
    // A thenable that throws, or rejects, is a failed approver too.
    new Promise((res) => res(answer)).then((a) => settle(readAnswer(a)), (err) => settle(threw(err)));
  });
}

function threw(err) {
  let what;
  try {
    what = err instanceof Error ? err.message : String(err);
  } catch {
    what = 'an unprintable value';
  }
  return { kind: 'failed', text: `the approver threw: ${what}`, error: err };
}

/** The verdict of an approver's answer: only the documented shapes count. */
function readAnswer(answer) {
  try {
    if (answer !== null && typeof answer === 'object' && !Array.isArray(answer)) {
      const { approved, reason } = answer;
      if (approved === true) return { kind: 'approved' };
      if (approved === false && (reason === undefined || reason === null || typeof reason === 'string')) {
        return { kind: 'denied', text: reason ?? null };
      }
    }
  } catch (err) {
    return threw(err);
  }
  return {
    kind: 'failed',
    text: `the approver answered ${describe(answer)}; expected { approved: true } or { approved: false, reason }`,
  };
}

function describe(value) {
  if (value === null || value === undefined) return String(value);
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') {
    try {
      return JSON.stringify(value).slice(0, 200);
    } catch {
      return 'an object';
    }
  }
  return `a ${typeof value}`;
}

module.exports = { askApprover, DEFAULT_APPROVAL_TIMEOUT_MS, LOCAL_APPROVAL_ID };
