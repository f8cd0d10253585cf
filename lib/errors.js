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
  TOOL_INTEGRITY: 'EXECLAVE_TOOL_INTEGRITY',
  AGENT_PAUSED: 'EXECLAVE_AGENT_PAUSED',
  ENFORCEMENT_UNAVAILABLE: 'EXECLAVE_ENFORCEMENT_UNAVAILABLE',
  POLICY_DENIED: 'EXECLAVE_POLICY_DENIED',
  APPROVAL_TIMEOUT: 'EXECLAVE_APPROVAL_TIMEOUT',
  CERTIFICATE_MISMATCH: 'EXECLAVE_CERTIFICATE_MISMATCH',
  APPROVAL_VERIFICATION_FAILED: 'EXECLAVE_APPROVAL_VERIFICATION_FAILED',
  CANCELLED: 'EXECLAVE_CANCELLED',
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

/**
 * A server `tool_integrity` policy refused the call: the definitions of
 * the tools the agent uses differ from its baseline. `toolViolations`: the
 * violations of that type (each may name the changed tools).
 */
class ToolIntegrityError extends PolicyBlockedError {
  static code = ERROR_CODES.TOOL_INTEGRITY;

  constructor(message, violations = [], warnings = []) {
    super(message, violations, warnings);
    this.name = 'ToolIntegrityError';
    this.toolViolations = violations.filter((v) => v?.policyType === 'tool_integrity');
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

/**
 * The approval errors: a call that needed a human's approval and did not
 * get one that counts. `approvalRequestId` names the request (`local` for
 * the client's own approver), `reason` is the approver's or the server's,
 * `cause` what went wrong while checking.
 */
class ApprovalHaltError extends EnforcementHaltError {
  constructor(message, approvalRequestId = null, reason = null, cause = undefined) {
    super(message, cause === undefined || cause === null ? undefined : { cause });
    this.approvalRequestId = approvalRequestId;
    this.reason = reason ?? null;
    if (!('cause' in this)) this.cause = cause ?? null;
  }
}

/** The approval was denied (by a person, or the approver). */
class PolicyDeniedError extends ApprovalHaltError {
  static code = ERROR_CODES.POLICY_DENIED;

  constructor(message, approvalRequestId, reason, cause) {
    super(message, approvalRequestId, reason, cause);
    this.name = 'PolicyDeniedError';
  }
}

/** The approval expired, or no decision came within `approvalTimeoutMs`. */
class ApprovalTimeoutError extends ApprovalHaltError {
  static code = ERROR_CODES.APPROVAL_TIMEOUT;

  constructor(message, approvalRequestId, reason, cause) {
    super(message, approvalRequestId, reason, cause);
    this.name = 'ApprovalTimeoutError';
  }
}

/** The server says the approval's certificate does not fit this call (`reason`). */
class CertificateMismatchError extends ApprovalHaltError {
  static code = ERROR_CODES.CERTIFICATE_MISMATCH;

  constructor(message, approvalRequestId, reason, cause) {
    super(message, approvalRequestId, reason, cause);
    this.name = 'CertificateMismatchError';
  }
}

/** The approval could not be checked (`cause`): refused, never let through. */
class ApprovalVerificationError extends ApprovalHaltError {
  static code = ERROR_CODES.APPROVAL_VERIFICATION_FAILED;

  constructor(message, approvalRequestId, reason, cause) {
    super(message, approvalRequestId, reason, cause);
    this.name = 'ApprovalVerificationError';
  }
}

module.exports = {
  ERROR_CODES,
  ExeclaveError,
  ExeclaveAuthError,
  EnforcementHaltError,
  PolicyBlockedError,
  ToolIntegrityError,
  AgentPausedError,
  EnforcementUnavailableError,
  PolicyDeniedError,
  ApprovalTimeoutError,
  CertificateMismatchError,
  ApprovalVerificationError,
};
