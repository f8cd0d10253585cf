'use strict';

// The JS half of a governed call: turn arguments into the JSON text the
// Rust core checks, map the core's outcome to the public errors, report
// how the call ended. Shared by the MCP wrapper and `enforcePolicy`.

const {
  ERROR_CODES,
  ExeclaveError,
  ExeclaveAuthError,
  PolicyBlockedError,
  ToolIntegrityError,
  AgentPausedError,
  EnforcementUnavailableError,
  PolicyDeniedError,
  ApprovalTimeoutError,
  CertificateMismatchError,
  ApprovalVerificationError,
} = require('./errors');

// The core's approval failure kinds (`ApprovalFailure`) and their classes.
const APPROVAL_ERRORS = {
  denied: PolicyDeniedError,
  timed_out: ApprovalTimeoutError,
  certificate_mismatch: CertificateMismatchError,
  unverifiable: ApprovalVerificationError,
};

/**
 * JSON text of a call's arguments, or null when there are none. Arguments
 * that JSON cannot represent (circular, BigInt, too deep) could not be sent
 * to an MCP server either: refuse them with a clear error, before anything
 * is sent.
 */
function argumentsJson(tool, args) {
  if (args === undefined || args === null) return null;
  let text;
  try {
    text = JSON.stringify(args);
  } catch (cause) {
    throw unserialisable(tool, cause);
  }
  return text === undefined ? null : text;
}

function unserialisable(tool, cause) {
  return new ExeclaveError(
    `arguments of tool "${tool}" cannot be serialised to JSON (${cause.message}); the call was not sent`,
    { cause },
  );
}

/**
 * The arguments as the call will carry them: a deep copy made the way JSON
 * carries them, so `JSON.stringify` of the copy is the JSON that was
 * checked, and neither a getter nor a later mutation of the caller's object
 * can change what is sent after the check. Arguments JSON cannot represent
 * (circular, BigInt, too deep) could not be sent to an MCP server either:
 * refuse them with a clear error, before anything is sent.
 */
function snapshotArguments(tool, args) {
  if (args === undefined || args === null) return args;
  let copy;
  try {
    copy = jsonSnapshot(args);
  } catch (cause) {
    throw unserialisable(tool, cause);
  }
  // Arguments the core's JSON reader cannot read (nested deeper than it
  // goes, or a lone surrogate in any key or string: JSON.stringify writes
  // it as an escape serde_json refuses) make every argument rule fail.
  // Such a snapshot is marked so that the values path
  // (lib/argument-values.js), which reads only the values its plan names
  // and would miss that, leaves it to the full decision.
  // Kept aside, not as a property: the snapshot is what is sent, and a
  // server's schema check sees even a non-enumerable symbol key.
  if ((deepest >= DEEP_ARGUMENTS || illFormed) && copy !== null && typeof copy === 'object') unreadable.add(copy);
  return copy;
}

// serde_json reads at most 127 nested arrays and objects; a little below
// that is marked (a false mark only costs the faster path).
const DEEP_ARGUMENTS = 100;
const unreadable = new WeakSet();

/** Whether `snapshot` (from `snapshotArguments`) is unreadable to the core. */
function isUnreadable(snapshot) {
  return snapshot !== null && typeof snapshot === 'object' && unreadable.has(snapshot);
}
// The deepest nesting the last snapshot met, and whether it met a key or a
// string that is not well-formed UTF-16 (a lone surrogate).
let deepest = 0;
let illFormed = false;

/**
 * What `JSON.parse(JSON.stringify(value))` returns, made in JS: V8 runs
 * both in C++, and inside MCP traffic each such entry costs microseconds
 * (measured), where this copy stays in JIT-compiled code. Same rules:
 * `toJSON`, boxed primitives, own enumerable string keys in order,
 * `undefined`/functions/symbols dropped (null in arrays), non-finite
 * numbers as null. Throws like JSON.stringify: TypeError on a cycle or a
 * BigInt, RangeError when nesting exhausts the stack.
 */
function jsonSnapshot(value) {
  deepest = 0;
  illFormed = false;
  return copyAsJson(value, '', []);
}

function copyAsJson(value, key, ancestors) {
  if ((typeof value === 'object' && value !== null) || typeof value === 'bigint') {
    const toJSON = value.toJSON;
    if (typeof toJSON === 'function') value = toJSON.call(value, String(key));
  }
  switch (typeof value) {
    case 'string':
      // O(1) for one-byte strings (most): they hold no surrogates.
      if (!value.isWellFormed()) illFormed = true;
      return value;
    case 'boolean':
      return value;
    case 'number':
      if (value === 0) return 0; // -0 too, as JSON writes it
      return Number.isFinite(value) ? value : null;
    case 'bigint':
      throw new TypeError('Do not know how to serialize a BigInt');
    case 'object':
      if (value === null) return null;
      break;
    default:
      return undefined; // undefined, function, symbol
  }
  if (value instanceof Number) return copyAsJson(Number(value), key, ancestors);
  if (value instanceof String) return String(value);
  if (value instanceof Boolean) return value.valueOf();
  if (value instanceof BigInt) throw new TypeError('Do not know how to serialize a BigInt');
  if (ancestors.includes(value)) throw new TypeError('Converting circular structure to JSON');
  ancestors.push(value);
  if (ancestors.length > deepest) deepest = ancestors.length;
  let copy;
  if (Array.isArray(value)) {
    copy = [];
    const n = value.length;
    for (let i = 0; i < n; i++) {
      const v = copyAsJson(value[i], i, ancestors);
      copy.push(v === undefined ? null : v);
    }
  } else {
    copy = {};
    for (const k of Object.keys(value)) {
      const v = copyAsJson(value[k], k, ancestors);
      if (v === undefined) continue;
      if (!k.isWellFormed()) illFormed = true;
      if (k === '__proto__') {
        // An own property, as JSON.parse makes it, not the prototype.
        Object.defineProperty(copy, k, { value: v, writable: true, enumerable: true, configurable: true });
      } else {
        copy[k] = v;
      }
    }
  }
  ancestors.pop();
  return copy;
}

function checkToolName(tool) {
  if (typeof tool !== 'string' || tool.length === 0) {
    throw new ExeclaveError(
      `tool name must be a non-empty string, got ${tool === '' ? 'an empty string' : typeof tool}; the call was not sent`,
    );
  }
}

/**
 * The error for an outcome that stops the call, or null when it may go on.
 * The message is the core's (`outcome.message`): it is built once, there.
 */
function haltError(outcome) {
  const { message } = outcome;
  switch (outcome.kind) {
    case 'block': {
      // The core names the subclass (a server tool_integrity policy).
      const Class = outcome.errorClass === 'ToolIntegrityError' ? ToolIntegrityError : PolicyBlockedError;
      return new Class(message, outcome.violations, outcome.warnings ?? []);
    }
    case 'paused':
      return new AgentPausedError(outcome.agentId, outcome.reason, message);
    case 'unavailable':
      return new EnforcementUnavailableError(message, outcome.consecutiveFailures, outcome.lastError ?? outcome.reason);
    case 'auth_failed':
      return new ExeclaveAuthError(message);
    case 'closed':
      return new ExeclaveError(message, { code: ERROR_CODES.CLOSED });
    case 'approval_refused': {
      // An unknown kind (a newer core) still refuses, as the strictest.
      const Class = APPROVAL_ERRORS[outcome.failure] ?? ApprovalVerificationError;
      return new Class(message, outcome.approvalRequestId, outcome.reason ?? null, outcome.cause ?? null);
    }
    case 'cancelled':
      return new ExeclaveError(message, { code: ERROR_CODES.CANCELLED });
    default:
      return null;
  }
}

/**
 * JSON text of a call's arguments or result, for its record. Not cut here:
 * the core bounds record text, once, and says how long it was in all.
 */
function recordJson(value) {
  let text;
  try {
    text = JSON.stringify(value);
  } catch {
    text = '"[not serialisable]"';
  }
  return text === undefined ? null : text;
}

module.exports = { argumentsJson, checkToolName, haltError, isUnreadable, jsonSnapshot, recordJson, snapshotArguments };
