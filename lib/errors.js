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

module.exports = {
  ExeclaveError,
  ExeclaveAuthError,
  EnforcementHaltError,
  PolicyBlockedError,
  AgentPausedError,
  EnforcementUnavailableError,
};
