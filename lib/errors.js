'use strict';

// The error classes live in one CommonJS module that both entry points load,
// so `instanceof` holds whether the user imported or required the package.
//
// Every error carries a `code`, a stable string per kind, as Node's own
// errors do (`err.code === 'EXECLAVE_POLICY_BLOCKED'`): match on it, not on
// the message. A class's code is its static `code` (inherited when a
// subclass sets none); one error can say a more precise one with
// `{ code }` in its options (`EXECLAVE_INVALID_OPTIONS`). A new class
// follows the pattern: `static code = 'EXECLAVE_…'`, and list it in
// ERROR_CODES and index.d.ts.

/** Every code an Execlave error can carry, by kind. */
const ERROR_CODES = Object.freeze({
  ERROR: 'EXECLAVE_ERROR',
  INVALID_OPTIONS: 'EXECLAVE_INVALID_OPTIONS',
  INVALID_ARGUMENT: 'EXECLAVE_INVALID_ARGUMENT',
  CLOSED: 'EXECLAVE_CLOSED',
  INTERNAL: 'EXECLAVE_INTERNAL',
  AUTH_FAILED: 'EXECLAVE_AUTH_FAILED',
  ENFORCEMENT_HALTED: 'EXECLAVE_ENFORCEMENT_HALTED',
  POLICY_BLOCKED: 'EXECLAVE_POLICY_BLOCKED',
  AGENT_PAUSED: 'EXECLAVE_AGENT_PAUSED',
  ENFORCEMENT_UNAVAILABLE: 'EXECLAVE_ENFORCEMENT_UNAVAILABLE',
});

class ExeclaveError extends Error {
  static code = ERROR_CODES.ERROR;

  /**
   * @param {string} message
   * @param {{ cause?: unknown, code?: string }} [options]
   */
  constructor(message, options) {
    super(message, options);
    this.name = 'ExeclaveError';
    this.code = options?.code ?? new.target.code;
  }
}

/** The control plane rejected the API key: a configuration error. */
class ExeclaveAuthError extends ExeclaveError {
  static code = ERROR_CODES.AUTH_FAILED;

  constructor(message, options) {
    super(message, options);
    this.name = 'ExeclaveAuthError';
  }
}

/** Governance stopped the call. Integrations rethrow it, never swallow it. */
class EnforcementHaltError extends ExeclaveError {
  static code = ERROR_CODES.ENFORCEMENT_HALTED;

  constructor(message, options) {
    super(message, options);
    this.name = 'EnforcementHaltError';
  }
}

class PolicyBlockedError extends EnforcementHaltError {
  static code = ERROR_CODES.POLICY_BLOCKED;

  constructor(message, violations = [], warnings = []) {
    super(message);
    this.name = 'PolicyBlockedError';
    this.violations = violations;
    this.warnings = warnings;
  }
}

class AgentPausedError extends EnforcementHaltError {
  static code = ERROR_CODES.AGENT_PAUSED;

  /**
   * `message`: the SDK passes the core's; one made by hand says the same
   * in its own words.
   */
  constructor(agentId, reason, message = `agent ${agentId} is paused${reason ? `: ${reason}` : ''}`) {
    super(message);
    this.name = 'AgentPausedError';
    this.agentId = agentId;
    this.reason = reason ?? null;
  }
}

class EnforcementUnavailableError extends EnforcementHaltError {
  static code = ERROR_CODES.ENFORCEMENT_UNAVAILABLE;

  constructor(message, consecutiveFailures = 0, lastError = null) {
    super(message);
    this.name = 'EnforcementUnavailableError';
    this.consecutiveFailures = consecutiveFailures;
    this.lastError = lastError;
  }
}

module.exports = {
  ERROR_CODES,
  ExeclaveError,
  ExeclaveAuthError,
  EnforcementHaltError,
  PolicyBlockedError,
  AgentPausedError,
  EnforcementUnavailableError,
};
