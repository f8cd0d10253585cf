'use strict';

// The JS half of a governed call: turn arguments into the JSON text the
// Rust core checks, map the core's outcome to the public errors, report
// how the call ended. Shared by the MCP wrapper and `enforcePolicy`.

const {
  ExeclaveError,
  ExeclaveAuthError,
  PolicyBlockedError,
  AgentPausedError,
  EnforcementUnavailableError,
} = require('./errors');

// Records keep at most this much of a result (the core bounds it again);
// cutting here spares copying a huge result across the boundary.
const MAX_OUTPUT_CHARS = 8 * 1024;

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
    throw new ExeclaveError(
      `arguments of tool "${tool}" cannot be serialised to JSON (${cause.message}); the call was not sent`,
      { cause },
    );
  }
  return text === undefined ? null : text;
}

function checkToolName(tool) {
  if (typeof tool !== 'string' || tool.length === 0) {
    throw new ExeclaveError(
      `tool name must be a non-empty string, got ${tool === '' ? 'an empty string' : typeof tool}; the call was not sent`,
    );
  }
}

/** The error for an outcome that stops the call, or null when it may go on. */
function haltError(outcome) {
  switch (outcome.kind) {
    case 'block': {
      const list = outcome.violations.map((v) => v.message).join('; ');
      return new PolicyBlockedError(`blocked by policy: ${list}`, outcome.violations, outcome.warnings ?? []);
    }
    case 'paused':
      return new AgentPausedError(outcome.agentId, outcome.reason);
    case 'unavailable':
      return new EnforcementUnavailableError(
        `enforcement unavailable: ${outcome.reason}`,
        outcome.consecutiveFailures,
        outcome.lastError ?? outcome.reason,
      );
    case 'auth_failed':
      return new ExeclaveAuthError(outcome.message);
    case 'closed':
      return new ExeclaveError('this Execlave client has been shut down; the call was not sent');
    default:
      return null;
  }
}

function outputJson(result) {
  let text;
  try {
    text = JSON.stringify(result);
  } catch {
    text = '"[result not serialisable]"';
  }
  if (text === undefined) return null;
  return text.length > MAX_OUTPUT_CHARS ? `${text.slice(0, MAX_OUTPUT_CHARS)}…[truncated, ${text.length} chars in all]` : text;
}

module.exports = { argumentsJson, checkToolName, haltError, outputJson };
