'use strict';

// Governs an MCP `Client` from @modelcontextprotocol/sdk, by duck typing: no
// compile-time dependency on the SDK. Every `tools/call` the client sends is
// checked once, before it is sent, whichever way it was made: `callTool`
// (either call shape), a raw `request({ method: 'tools/call' })`, or the
// SDK's `experimental.tasks.callToolStream`/`requestStream`. Ways around the
// client object (its prototype's `request`, the transport) are not: see the
// README's "What in-process governance cannot stop".
//
// What is sent is what was checked: the transports write messages with
// JSON.stringify, so a `toJSON` (own, or made up by a Proxy) on the caller's
// params or request, or a getter read twice, could otherwise swap the call
// after its check. The wrapper reads each of the caller's values once and
// forwards objects it built itself from plain JSON copies of them.

const { Execlave, kGovern } = require('../lib/client');
const { ExeclaveError } = require('../lib/errors');
const { checkToolName, jsonSnapshot, snapshotArguments } = require('../lib/governance');

function describe(value) {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (value instanceof String) return 'a String object';
  return typeof value;
}

/**
 * The params of a tools/call as they will be sent: the name and the
 * arguments' snapshot that the policy checks, and every other own key of
 * the caller's params (`_meta`, `task`, …) as a JSON copy taken now. A
 * `toJSON` of the params themselves is not part of it: what is sent is the
 * data read here, nothing a serialiser would compute later.
 */
function toolCallParams(name, args, source) {
  checkToolName(name);
  const params = { name, arguments: snapshotArguments(name, args) };
  if (source === null) return params;
  for (const key of Object.keys(source)) {
    if (key === 'name' || key === 'arguments') continue;
    let value;
    try {
      value = jsonSnapshot(source[key]);
    } catch (cause) {
      throw new ExeclaveError(
        `params[${JSON.stringify(key)}] of tool "${name}" cannot be serialised to JSON (${cause.message}); the call was not sent`,
        { cause },
      );
    }
    if (value === undefined) continue;
    if (key === '__proto__') {
      // An own property, as JSON.parse makes it, not the prototype.
      Object.defineProperty(params, key, { value, writable: true, enumerable: true, configurable: true });
    } else {
      params[key] = value;
    }
  }
  return params;
}

/**
 * The `method` of a request, read once (its `params` are read once after
 * it). A request is forwarded as a new `{ method, params }` built from
 * these, so that neither a getter nor a `toJSON` (on the request or on a
 * boxed `method`) can make the transport send a tools/call that was not
 * checked as one. A `method` that is not a primitive string is refused
 * rather than guessed at: what a transport makes of it is the transport's
 * business, and no real request needs one.
 */
function requestMethod(req) {
  if (req === null || typeof req !== 'object') {
    throw new ExeclaveError(`request takes { method, params }, got ${describe(req)}; the request was not sent`);
  }
  const method = req.method;
  if (typeof method !== 'string') {
    throw new ExeclaveError(`request method must be a string, got ${describe(method)}; the request was not sent`);
  }
  return method;
}

/** The name and arguments of a tools/call request's params, each read once. */
function toolCallOf(params) {
  if (params === null || typeof params !== 'object') {
    throw new ExeclaveError('tools/call request without params: the call was not sent');
  }
  return [params.name, params.arguments];
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
   * The answer or the error goes back to the caller as the client gave it:
   * recording reads it without throwing, and should it throw all the same,
   * the record is what is lost, never the caller's value.
   */
  function sendChecked(ticket, send, forwarded, args, rest, params) {
    const outer = sending;
    sending = params;
    let answer;
    try {
      answer = send.call(client, forwarded, ...rest);
    } catch (err) {
      if (ticket !== 0) recordFailure(ticket, args, err);
      throw err;
    } finally {
      sending = outer;
    }
    if (ticket === 0) return answer;
    return Promise.resolve(answer).then(
      (result) => {
        try {
          gov.succeeded(ticket, args, result, performance.now());
        } catch {
          // See above: the caller's result comes first.
        }
        return result;
      },
      (err) => {
        recordFailure(ticket, args, err);
        throw err;
      },
    );
  }

  function recordFailure(ticket, args, err) {
    try {
      gov.failed(ticket, args, err, performance.now());
    } catch {
      // See `sendChecked`: the caller's error comes first.
    }
  }

  /**
   * Decides the call in `params` (built by `toolCallParams`) and sends
   * `forwarded`, which carries those very params: nothing the caller holds
   * can change them between the check and the send.
   */
  function governed(params, send, forwarded, rest) {
    const args = params.arguments;
    const ticket = gov.begin(params.name, args);
    const mark = send === originalCallTool ? params : null;
    if (typeof ticket === 'number') return sendChecked(ticket, send, forwarded, args, rest, mark);
    return ticket.then((t) => sendChecked(t, send, forwarded, args, rest, mark));
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
    let checked;
    if (typeof params === 'string') {
      // callTool(name, args, resultSchema?, options?)
      checked = toolCallParams(params, rest.shift(), null);
    } else if (params !== null && typeof params === 'object') {
      checked = toolCallParams(params.name, params.arguments, params);
    } else {
      throw new ExeclaveError(
        `callTool takes ({ name, arguments }, …) or (name, arguments, …), got ${describe(params)}; the call was not sent`,
      );
    }
    return governed(checked, originalCallTool, checked, rest);
  }

  /** Sends any request as a new `{ method, params }` (see `requestMethod`); checks a tools/call once. */
  function governedRequest(req, rest) {
    const method = requestMethod(req);
    const params = req.params;
    if (method !== 'tools/call') {
      // Its params cannot make it another method: a `toJSON` on them
      // replaces the params' value only.
      return originalRequest.call(client, params === undefined ? { method } : { method, params }, ...rest);
    }
    if (params === sending && params !== null) {
      // Our own callTool's params, checked already (see `sending`), in the
      // request the client's own callTool built around them: it goes on
      // as it is.
      sending = null;
      return originalRequest.call(client, req, ...rest);
    }
    const ticket = params !== null && typeof params === 'object' ? decidedInStream.get(params) : undefined;
    if (ticket !== undefined) {
      // Params our requestStream checked and sends through here.
      decidedInStream.delete(params);
      return sendChecked(ticket, originalRequest, { method, params }, params.arguments, rest, null);
    }
    const checked = toolCallParams(...toolCallOf(params), params);
    return governed(checked, originalRequest, { method, params: checked }, rest);
  }

  // Params our requestStream checked → their ticket, until the SDK's
  // requestStream hands them to `request` (it does so later, when the
  // stream is read, so the synchronous `sending` mark cannot serve).
  const decidedInStream = new WeakMap();

  /**
   * The SDK's requestStream (and `experimental.tasks.callToolStream`,
   * which uses it) sends through `request`, so it would be governed
   * without this; but it turns every error into an McpError. Deciding here
   * first lets a refused call end the stream with the halt error itself
   * (a PolicyBlockedError, …), as `callTool` rejects with it, and without
   * contacting the server; the call is still checked once.
   */
  async function* governedStream(req, rest) {
    let method;
    let params;
    let checked = null;
    let ticket = 0;
    try {
      method = requestMethod(req);
      params = req.params;
      if (method === 'tools/call') {
        checked = toolCallParams(...toolCallOf(params), params);
        ticket = await gov.begin(checked.name, checked.arguments);
      }
    } catch (error) {
      yield { type: 'error', error };
      return;
    }
    if (checked === null) {
      yield* originalRequestStream.call(client, params === undefined ? { method } : { method, params }, ...rest);
      return;
    }
    decidedInStream.set(checked, ticket);
    try {
      yield* originalRequestStream.call(client, { method, params: checked }, ...rest);
    } finally {
      if (decidedInStream.delete(checked)) {
        // The SDK never sent it: close its ticket all the same.
        recordFailure(ticket, checked.arguments, new ExeclaveError('the stream ended before the call was sent'));
      }
    }
  }

  client.callTool = callTool;
  if (originalRequest) {
    client.request = function request(req, ...rest) {
      try {
        return governedRequest(req, rest);
      } catch (err) {
        return Promise.reject(err);
      }
    };
  }
  const originalRequestStream = originalRequest && typeof client.requestStream === 'function' ? client.requestStream : null;
  if (originalRequestStream) {
    client.requestStream = function requestStream(req, ...rest) {
      return governedStream(req, rest);
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
