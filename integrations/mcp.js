'use strict';

// Governs an MCP `Client` from @modelcontextprotocol/sdk, by duck typing: no
// compile-time dependency on the SDK. Every `tools/call` the client sends is
// checked once, before it is sent, whichever way it was made: `callTool`
// (either call shape) or a raw `request({ method: 'tools/call' })`.

const { Execlave, kGovern } = require('../lib/client');
const { ExeclaveError } = require('../lib/errors');
const { checkToolName, snapshotArguments } = require('../lib/governance');

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
  const originalCallTool = client.callTool;
  const originalRequest = typeof client.request === 'function' ? client.request : null;
  // The params our `callTool` checked and is handing to the SDK's right
  // now: the SDK's `callTool` passes them to `request` synchronously, and
  // there they pass without a second check (and the mark is used up). An
  // SDK that went through `request` later would only get them checked
  // twice, never not at all.
  let sending = null;

  /**
   * Sends a checked call with `send` and, when it has a ticket, records
   * how and when it ended (the core times it from its decision). A call
   * with ticket 0 has nothing to record: its promise goes back untouched.
   */
  function sendChecked(ticket, send, forwarded, args, rest, params) {
    const outer = sending;
    sending = params;
    let answer;
    try {
      answer = send.call(client, forwarded, ...rest);
    } catch (err) {
      if (ticket !== 0) gov.failed(ticket, args, err, performance.now());
      throw err;
    } finally {
      sending = outer;
    }
    if (ticket === 0) return answer;
    return Promise.resolve(answer).then(
      (result) => {
        gov.succeeded(ticket, args, result, performance.now());
        return result;
      },
      (err) => {
        gov.failed(ticket, args, err, performance.now());
        throw err;
      },
    );
  }

  /**
   * Checks one call and sends it: what is sent is the arguments' snapshot
   * that was checked, so that nothing (a getter, a later mutation) can
   * change them between the check and the send.
   */
  function governed(name, args, send, build, rest) {
    checkToolName(name);
    const checked = snapshotArguments(name, args);
    const ticket = gov.begin(name, checked);
    const forwarded = build(checked);
    const params = send === originalCallTool ? forwarded : null;
    if (typeof ticket === 'number') return sendChecked(ticket, send, forwarded, checked, rest, params);
    return ticket.then((t) => sendChecked(t, send, forwarded, checked, rest, params));
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
    return governed(name, args, originalCallTool, (checked) => ({ ...base, name, arguments: checked }), rest);
  }

  function toolsCallRequest(request, params, rest) {
    if (params === null || typeof params !== 'object') {
      throw new ExeclaveError('tools/call request without params: the call was not sent');
    }
    const { name, arguments: args } = params;
    const build = (checked) => ({ ...request, method: 'tools/call', params: { ...params, name, arguments: checked } });
    return governed(name, args, originalRequest, build, rest);
  }

  client.callTool = callTool;
  if (originalRequest) {
    client.request = function request(req, ...rest) {
      const method = req !== null && typeof req === 'object' ? req.method : undefined;
      if (method === 'tools/call') {
        const params = req.params;
        if (params === sending && params !== null) {
          sending = null;
        } else {
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
