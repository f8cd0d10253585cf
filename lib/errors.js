'use strict';

// The error classes live in one CommonJS module that both entry points load,
// so `instanceof` holds whether the user imported or required the package.

class ExeclaveError extends Error {
  constructor(message, options) {
    super(message, options);
    this.name = 'ExeclaveError';
  }
}

/** The control plane rejected the API key: a configuration error. */
class ExeclaveAuthError extends ExeclaveError {
  constructor(message, options) {
    super(message, options);
    this.name = 'ExeclaveAuthError';
  }
}

/** Governance stopped the call. Integrations rethrow it, never swallow it. */
class EnforcementHaltError extends ExeclaveError {
  constructor(message, options) {
    super(message, options);
    this.name = 'EnforcementHaltError';
  }
}

class PolicyBlockedError extends EnforcementHaltError {
  constructor(message, violations = [], warnings = []) {
    super(message);
    this.name = 'PolicyBlockedError';
    this.violations = violations;
    this.warnings = warnings;
  }
}

class AgentPausedError extends EnforcementHaltError {
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
  constructor(message, approvalRequestId, reason, cause) {
    super(message, approvalRequestId, reason, cause);
    this.name = 'PolicyDeniedError';
  }
}

/** The approval expired, or no decision came within `approvalTimeoutMs`. */
class ApprovalTimeoutError extends ApprovalHaltError {
  constructor(message, approvalRequestId, reason, cause) {
    super(message, approvalRequestId, reason, cause);
    this.name = 'ApprovalTimeoutError';
  }
}

/** The server says the approval's certificate does not fit this call (`reason`). */
class CertificateMismatchError extends ApprovalHaltError {
  constructor(message, approvalRequestId, reason, cause) {
    super(message, approvalRequestId, reason, cause);
    this.name = 'CertificateMismatchError';
  }
}

/** The approval could not be checked (`cause`): refused, never let through. */
class ApprovalVerificationError extends ApprovalHaltError {
  constructor(message, approvalRequestId, reason, cause) {
    super(message, approvalRequestId, reason, cause);
    this.name = 'ApprovalVerificationError';
  }
}

module.exports = {
  ExeclaveError,
  ExeclaveAuthError,
  EnforcementHaltError,
  PolicyBlockedError,
  AgentPausedError,
  EnforcementUnavailableError,
  PolicyDeniedError,
  ApprovalTimeoutError,
  CertificateMismatchError,
  ApprovalVerificationError,
};
