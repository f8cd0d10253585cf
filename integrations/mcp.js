'use strict';

// Governs an MCP `Client` from @modelcontextprotocol/sdk, by duck typing: no
// compile-time dependency on the SDK. Every `tools/call` the client sends is
// checked once, before it is sent, whichever way it was made: `callTool`
// (either call shape) or a raw `request({ method: 'tools/call' })`.

const { Execlave, kGovern } = require('../lib/client');
const { ExeclaveError } = require('../lib/errors');
const { argumentsJson, checkToolName } = require('../lib/governance');

function describe(value) {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value;
}

/**
 * Wraps `client` so that every tool call is governed by `exe`. Returns the
 * same client; wrapping twice changes nothing.
 *
 * @param {object} client an MCP `Client`
 * @param {Execlave} exe
 * @param {{ agentId: string, enforce?: boolean, sessionId?: string, userId?: string }} options
 */
function instrumentMcpClient(client, exe, options) {
  if (client === null || (typeof client !== 'object' && typeof client !== 'function')) {
    throw new ExeclaveError(
      `instrumentMcpClient: client must be an MCP Client from @modelcontextprotocol/sdk, got ${describe(client)}`,
    );
  }
  if (typeof client.callTool !== 'function') {
    throw new ExeclaveError('instrumentMcpClient: client has no callTool function; pass an MCP Client');
  }
  if (!(exe instanceof Execlave)) {
    throw new ExeclaveError(
      `instrumentMcpClient: the second argument must be an Execlave client (new Execlave(...)), got ${describe(exe)}`,
    );
  }
  if (options === null || typeof options !== 'object') {
    throw new ExeclaveError("instrumentMcpClient: options with an agentId are required, e.g. { agentId: 'ops-agent' }");
  }
  const { agentId, enforce = true, sessionId, userId } = options;
  if (typeof agentId !== 'string') {
    throw new ExeclaveError(
      `instrumentMcpClient: agentId must be a lowercase kebab-case string such as "ops-agent", got ${describe(agentId)}`,
    );
  }
  for (const [name, v] of [['sessionId', sessionId], ['userId', userId]]) {
    if (v !== undefined && typeof v !== 'string') {
      throw new ExeclaveError(`instrumentMcpClient: ${name} must be a string when given, got ${describe(v)}`);
    }
  }
  if (typeof enforce !== 'boolean') {
    throw new ExeclaveError(`instrumentMcpClient: enforce must be a boolean, got ${describe(enforce)}`);
  }
  if (client._execlave_instrumented === true) return client;

  const gov = exe[kGovern](agentId, sessionId, userId, enforce);
  // Params objects our `callTool` checked and is sending: when the SDK's
  // `callTool` hands them to `request`, they pass without a second check.
  // Held only while their call is in flight (a plain Set: a WeakSet costs
  // the garbage collector more per call than this bounded set).
  const checkedInFlight = new Set();
  const originalCallTool = client.callTool;
  const originalRequest = typeof client.request === 'function' ? client.request : null;

  /**
   * Checks one call; returns the ticket (or its promise, when the control
   * plane must be asked) and the arguments to forward: the very JSON that
   * was checked, re-read, so that nothing (a getter, a later mutation) can
   * change them between the check and the send.
   */
  function check(name, args) {
    checkToolName(name);
    const argsJson = argumentsJson(name, args);
    const ticket = gov.begin(name, argsJson);
    return { ticket, args: argsJson === null ? args : JSON.parse(argsJson) };
  }

  /** Sends the checked call and records how it ended. */
  async function run(pendingTicket, send, forwarded, rest) {
    let result;
    try {
      const ticket = typeof pendingTicket === 'number' ? pendingTicket : await pendingTicket;
      const sentAt = performance.now();
      try {
        result = await send.call(client, forwarded, ...rest);
      } catch (err) {
        gov.failed(ticket, err, performance.now() - sentAt);
        throw err;
      }
      gov.succeeded(ticket, result, performance.now() - sentAt);
    } finally {
      checkedInFlight.delete(forwarded);
    }
    return result;
  }

  // Not `async`: one promise layer fewer on the hot path. Errors thrown
  // before the send still reach the caller as a rejection.
  function callTool(params, ...rest) {
    try {
      return governedCallTool(params, rest);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  function governedCallTool(params, rest) {
    let base;
    let name;
    let args;
    if (typeof params === 'string') {
      // callTool(name, args, resultSchema?, options?)
      name = params;
      args = rest.shift();
      base = {};
    } else if (params !== null && typeof params === 'object') {
      ({ name, arguments: args } = params);
      base = params;
    } else {
      throw new ExeclaveError(
        `callTool takes ({ name, arguments }, …) or (name, arguments, …), got ${describe(params)}; the call was not sent`,
      );
    }
    const { ticket, args: checked } = check(name, args);
    const forwarded = { ...base, name, arguments: checked };
    checkedInFlight.add(forwarded);
    return run(ticket, originalCallTool, forwarded, rest);
  }

  function toolsCallRequest(request, params, rest) {
    if (params === null || typeof params !== 'object') {
      throw new ExeclaveError('tools/call request without params: the call was not sent');
    }
    const { name, arguments: args } = params;
    const { ticket, args: checked } = check(name, args);
    const forwarded = { ...request, method: 'tools/call', params: { ...params, name, arguments: checked } };
    return run(ticket, originalRequest, forwarded, rest);
  }

  client.callTool = callTool;
  if (originalRequest) {
    client.request = function request(req, ...rest) {
      const method = req !== null && typeof req === 'object' ? req.method : undefined;
      if (method === 'tools/call') {
        const params = req.params;
        if (!checkedInFlight.has(params)) {
          try {
            return toolsCallRequest(req, params, rest);
          } catch (err) {
            return Promise.reject(err);
          }
        }
      }
      return originalRequest.call(client, req, ...rest);
    };
  }
  Object.defineProperty(client, '_execlave_instrumented', {
    value: true,
    enumerable: false,
    writable: false,
    configurable: false,
  });
  return client;
}

module.exports = { instrumentMcpClient };
