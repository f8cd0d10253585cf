'use strict';

// `onBlock: 'result'`: a call the policies refuse resolves to a tool
// result with `isError: true` instead of rejecting, for agent loops that
// hand tool errors back to the model. The server is still never
// contacted, and the refusal is recorded as with 'throw'.
//
// Only policy blocks (PolicyBlockedError) become results. The kill switch
// (AgentPausedError), an enforcement outage (EnforcementUnavailableError)
// and a rejected API key (ExeclaveAuthError) still reject: they are for
// the application and its operators, not for the model. Handed to the
// model as a tool error, an agent loop would go on and try other tools
// while the agent is paused or governance is down, and a paused agent
// must stop.

const native = require('./native');
const { ExeclaveError, PolicyBlockedError } = require('./errors');

const ON_BLOCK = ['throw', 'result'];

/** Validates `onBlock`; returns true for 'result'. */
function blocksInBand(onBlock) {
  if (!ON_BLOCK.includes(onBlock)) {
    throw new ExeclaveError(
      `instrumentMcpClient: onBlock must be 'throw' or 'result', got ${typeof onBlock === 'string' ? JSON.stringify(onBlock) : typeof onBlock}`,
    );
  }
  return onBlock === 'result';
}

/**
 * The CallToolResult for a policy block; rethrows any other error. The
 * text says why, for the model; `structuredContent` carries the
 * violations, for code.
 */
function blockedCallResult(err) {
  if (!(err instanceof PolicyBlockedError)) throw err;
  // The result's shape is the core's (core/src/tools/in_band.rs), one for both hosts.
  return JSON.parse(native.blockedCallResult(err.message, JSON.stringify(err.violations), JSON.stringify(err.warnings ?? [])));
}

module.exports = { blocksInBand, blockedCallResult };
