'use strict';

// Governs an MCP `Client` from @modelcontextprotocol/sdk, by duck typing: no
// compile-time dependency on the SDK. Every `tools/call` the client sends is
// checked once, before it is sent, whichever way it was made: `callTool`
// (either call shape), a raw `request({ method: 'tools/call' })`, or the
// SDK's `experimental.tasks.callToolStream`/`requestStream`. Ways around the
// client object (its prototype's `request`, the transport) are not: see the
// docs/node-api.md, "What in-process governance cannot stop".
//
// What is sent is what was checked: the transports write messages with
// JSON.stringify, so a `toJSON` (own, or made up by a Proxy) on the caller's
// params or request, or a getter read twice, could otherwise swap the call
// after its check. The wrapper reads each of the caller's values once and
// forwards objects it built itself from plain JSON copies of them.

const { Execlave, kDebug, kGovern, kWarn } = require('../lib/client');
const { ERROR_CODES, ExeclaveError, PolicyBlockedError } = require('../lib/errors');
const { checkToolName, jsonSnapshot, snapshotArguments } = require('../lib/governance');
const { ListingScope, withoutRefusedTools } = require('../lib/tool-visibility');
const { blockedCallResult, blocksInBand } = require('../lib/in-band');

// Marks params our `callTool` checked that the SDK's callTool had not
// handed to `request` by the time it returned (see `sendChecked`). A
// symbol only this module holds, on an object only the SDK holds: no
// caller can forge the mark, and JSON (what transports send) leaves it out.
// Cheaper per call than a WeakSet of them (the wrapper-overhead bench
// measured a WeakSet at ~0.5 µs more per call).
const kSentLater = Symbol('execlave.sentLater');
// Which Execlave client and agent id a client was first wrapped with.
const kWrappedBy = Symbol('execlave.wrappedBy');

/**
 * Wrapping twice changes nothing (the first wrap governs every call); said
 * when the second asked for something else, which the caller would
 * otherwise believe in force. Said every time: each is a separate mistake.
 */
function warnIfWrappedDifferently(client, exe, agentId) {
  const first = client[kWrappedBy];
  if (first === undefined) return;
  const other = [];
  if (first.exe !== exe) other.push('another Execlave client');
  if (first.agentId !== agentId) other.push(`agentId ${JSON.stringify(agentId)}`);
  if (other.length === 0) return;
  exe[kWarn](
    `instrumentMcpClient: this MCP client is already governed as agent ${JSON.stringify(first.agentId)}; ` +
      `wrapping it again with ${other.join(' and ')} has no effect (its calls stay governed as before). ` +
      'Wrap a separate MCP client for another agent.',
  );
}
// H11: pinned tool definitions and OpenTelemetry spans live in files of
// their own; the hooks below (marked "H11") only call them.
const { ToolPins } = require('../lib/tool-pins');
const { toolCallTracing } = require('../lib/otel');

/** The MCP server's name as it introduced itself (the descriptors' `server`). */
function serverName(client) {
  try {
    const name = client.getServerVersion?.()?.name;
    return typeof name === 'string' && name !== '' ? name : 'mcp';
  } catch {
    return 'mcp';
  }
}

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
/**
 * The caller's AbortSignal among a request's trailing arguments (the MCP
 * SDK's request options, `{ signal }`), or undefined. It ends a wait for an
 * approval; the SDK itself honours it for the send.
 */
function signalOf(rest) {
  if (!Array.isArray(rest)) return undefined;
  for (const arg of rest) {
    if (arg === null || typeof arg !== 'object') continue;
    try {
      const { signal } = arg;
      if (signal !== null && typeof signal === 'object' && typeof signal.addEventListener === 'function' && 'aborted' in signal) return signal;
    } catch {
      // Options whose `signal` cannot be read carry none.
    }
  }
  return undefined;
}

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
 * @param {{ agentId: string, enforce?: boolean, sessionId?: string, userId?: string,
 *   hideBlockedTools?: boolean, onBlock?: 'throw' | 'result',
 *   toolPins?: string, onToolChange?: 'warn' | 'block' }} options
 */
function instrumentMcpClient(client, exe, options) {
  if (client === null || (typeof client !== 'object' && typeof client !== 'function')) {
    throw new ExeclaveError(
      `instrumentMcpClient: client must be an MCP Client from @modelcontextprotocol/sdk, got ${describe(client)}`, { code: ERROR_CODES.INVALID_ARGUMENT },
    );
  }
  if (typeof client.callTool !== 'function') {
    throw new ExeclaveError('instrumentMcpClient: client has no callTool function; pass an MCP Client', { code: ERROR_CODES.INVALID_ARGUMENT });
  }
  if (!(exe instanceof Execlave)) {
    throw new ExeclaveError(
      `instrumentMcpClient: the second argument must be an Execlave client (new Execlave(...)), got ${describe(exe)}`, { code: ERROR_CODES.INVALID_ARGUMENT },
    );
  }
  if (options === null || typeof options !== 'object') {
    throw new ExeclaveError("instrumentMcpClient: options with an agentId are required, e.g. { agentId: 'ops-agent' }");
  }
  const {
    agentId,
    enforce = true,
    sessionId,
    userId,
    hideBlockedTools = true,
    onBlock = 'throw',
    toolPins,
    onToolChange = 'block',
  } = options;
  if (typeof agentId !== 'string') {
    throw new ExeclaveError(
      `instrumentMcpClient: agentId must be a lowercase kebab-case string such as "ops-agent", got ${describe(agentId)}`, { code: ERROR_CODES.INVALID_ARGUMENT },
    );
  }
  for (const [name, v] of [['sessionId', sessionId], ['userId', userId]]) {
    if (v !== undefined && typeof v !== 'string') {
      throw new ExeclaveError(`instrumentMcpClient: ${name} must be a string when given, got ${describe(v)}`, { code: ERROR_CODES.INVALID_ARGUMENT });
    }
  }
  for (const [name, v] of [['enforce', enforce], ['hideBlockedTools', hideBlockedTools]]) {
    if (typeof v !== 'boolean') {
      throw new ExeclaveError(`instrumentMcpClient: ${name} must be a boolean, got ${describe(v)}`, { code: ERROR_CODES.INVALID_ARGUMENT });
    }
  }
  // Hook (issue 13 item 5, lib/in-band.js): policy blocks as tool results.
  const inBand = blocksInBand(onBlock);
  if (client._execlave_instrumented === true) {
    warnIfWrappedDifferently(client, exe, agentId);
    return client;
  }

  const gov = exe[kGovern](agentId, sessionId, userId, enforce);
  // H11: both null unless asked for (toolPins) or present (a registered
  // OpenTelemetry tracer provider); the governed call then takes the
  // path it took before, with no extra step.
  const tracing = toolCallTracing(agentId);
  const pins =
    toolPins === undefined
      ? null
      : new ToolPins(toolPins, onToolChange, {
          debug: (...parts) => exe[kDebug](...parts),
          onChange: tracing === null ? null : (change) => tracing.toolChanged(change),
          // The service's tool_integrity policies read what was listed.
          onListed: (definitions) => gov.toolDescriptors(serverName(client), definitions),
        });
  const originalCallTool = client.callTool;
  const originalRequest = typeof client.request === 'function' ? client.request : null;
  // The params our `callTool` checked and is handing to the SDK's right
  // now: the SDK's `callTool` passes them to `request` synchronously, and
  // there they pass without a second check (and the mark is used up). An
  // SDK that went through `request` later would only get them checked
  // twice, never not at all.
  let sending = null;
  // The 2.x client (it has `getProtocolEra`; 1.x has not) hands callTool's
  // params to `request` after an await: only its calls need the mark, so
  // 1.x clients and others pay nothing for it. A 2.x-like client not
  // recognised here gets its calls decided twice, never not at all.
  const marksLateSends = typeof client.getProtocolEra === 'function';

  /**
   * Sends a checked call with `send` and, when it has a ticket, records
   * how and when it ended (the core times it from its decision). A call
   * with ticket 0 has nothing to record: its promise goes back untouched.
   * The answer or the error goes back to the caller as the client gave it:
   * recording reads it without throwing, and should it throw all the same,
   * the record is what is lost, never the caller's value.
   * `scanTool`: the tool's name when its answer goes to the control
   * plane's output scan first (issue 22), else null.
   */
  function sendChecked(ticket, send, forwarded, args, rest, params, scanTool = null) {
    const outer = sending;
    sending = params;
    let answer;
    try {
      answer = send.call(client, forwarded, ...rest);
    } catch (err) {
      if (ticket !== 0) recordFailure(ticket, args, err);
      throw err;
    } finally {
      // Not taken synchronously: the 2.x client's callTool awaits (its
      // output-schema cache) before it hands them to `request`. Those
      // params are then let through there once, as `sending` would.
      if (marksLateSends && params !== null && sending === params) params[kSentLater] = true;
      sending = outer;
    }
    if (scanTool !== null) return scanAnswer(ticket, answer, args, scanTool);
    if (ticket === 0) return answer;
    return Promise.resolve(answer).then(
      (result) => {
        if (result !== null && typeof result === 'object') opensRound(ticket, result);
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

  /**
   * The answer of a call whose results are scanned: handed over once the
   * control plane's tool_output_scan policies let it through. A refused
   * one reaches neither the caller nor the record (which shows the
   * refusal); with `onBlock: 'result'` a policy's refusal is the result.
   */
  async function scanAnswer(ticket, answer, args, tool) {
    let result;
    try {
      result = await answer;
    } catch (err) {
      if (ticket !== 0) recordFailure(ticket, args, err);
      throw err;
    }
    try {
      await gov.checkOutput(ticket, tool, result);
    } catch (err) {
      if (ticket !== 0) recordFailure(ticket, args, err);
      if (inBand && err instanceof PolicyBlockedError) return blockedCallResult(err);
      throw err;
    }
    if (ticket === 0) return result;
    if (result !== null && typeof result === 'object') opensRound(ticket, result);
    try {
      gov.succeeded(ticket, args, result, performance.now());
    } catch {
      // See `sendChecked`: the caller's result comes first.
    }
    return result;
  }

  /** The tool name when this call's answer must be scanned (issue 22), else null. */
  function scanOf(params) {
    return gov.scansOutputs() ? params.name : null;
  }

  /**
   * A multi-round call (protocol revision 2026-07-28): an answer
   * `resultType: "input_required"` makes the call sent again with its
   * `requestState` this call's next round, and the core links their
   * records. Called before `succeeded`, while the call is still pending
   * in the core. An answer that throws when read (a hostile Proxy) links
   * nothing, and is still recorded and returned.
   */
  function opensRound(ticket, result) {
    try {
      if (result.resultType !== 'input_required') return;
      const state = result.requestState;
      if (typeof state === 'string') gov.openNextRound(ticket, state);
    } catch {
      // See above: the record and the caller's result come first.
    }
  }

  function recordFailure(ticket, args, err) {
    try {
      gov.failed(ticket, args, err, performance.now());
    } catch {
      // See `sendChecked`: the caller's error comes first.
    }
  }

  /**
   * Decides the call in `params` (built by `toolCallParams`): a round sent
   * again with a `requestState` (a multi-round call) is decided in full
   * and its record linked to the earlier rounds'; any other call as usual.
   */
  function begin(params, rest, observer) {
    // Most calls carry no request options: nothing to look through.
    const signal = rest !== undefined && rest.length > 0 ? signalOf(rest) : undefined;
    const call = signal === undefined && observer === undefined ? undefined : { signal, observer };
    const state = roundOf(params);
    if (state !== undefined) return gov.beginRound(params.name, params.arguments, state, call);
    return gov.begin(params.name, params.arguments, call);
  }

  /** The `requestState` of a call that is a round sent again, else undefined. */
  function roundOf(params) {
    const state = params.requestState;
    return typeof state === 'string' ? state : undefined;
  }

  /**
   * Decides the call in `params` (built by `toolCallParams`) and sends
   * `forwarded`, which carries those very params: nothing the caller holds
   * can change them between the check and the send.
   */
  function governed(params, send, forwarded, rest) {
    if (pins !== null || tracing !== null) return governedWithOptions(params, send, forwarded, rest); // H11
    const args = params.arguments;
    const ticket = begin(params, rest);
    const mark = send === originalCallTool ? params : null;
    const scan = scanOf(params);
    if (typeof ticket === 'number') return sendChecked(ticket, send, forwarded, args, rest, mark, scan);
    return ticket.then((t) => sendChecked(t, send, forwarded, args, rest, mark, scan));
  }

  /**
   * `governed` with `onBlock: 'result'` (lib/in-band.js): a policy block,
   * decided now or by the control plane, resolves to an `isError` result;
   * the call is not sent. Errors of the send itself are not touched.
   */
  function governedInBand(params, send, forwarded, rest) {
    if (pins !== null || tracing !== null) {
      // H11: the pin check and the span, then a block becomes the result.
      return governedWithOptions(params, send, forwarded, rest).catch(blockedCallResult);
    }
    const args = params.arguments;
    let ticket;
    try {
      ticket = begin(params, rest);
    } catch (err) {
      return Promise.resolve(blockedCallResult(err));
    }
    const mark = send === originalCallTool ? params : null;
    const scan = scanOf(params);
    if (typeof ticket === 'number') return sendChecked(ticket, send, forwarded, args, rest, mark, scan);
    return ticket.then((t) => sendChecked(t, send, forwarded, args, rest, mark, scan), blockedCallResult);
  }

  /**
   * H11: `governed` with the pin check before the decision and the call's
   * span around it all. The span is the current context while the call is
   * sent, so that the transport's own spans nest under it.
   */
  async function governedWithOptions(params, send, forwarded, rest) {
    const span = tracing === null ? null : tracing.start(params);
    try {
      if (pins !== null) await pinCheck(params);
      const args = params.arguments;
      const ticket = await begin(params, rest, span ?? undefined);
      const scan = scanOf(params);
      if (span === null) return await sendChecked(ticket, send, forwarded, args, rest, send === originalCallTool ? params : null, scan);
      span.allowed();
      const mark = send === originalCallTool ? params : null;
      const result = await span.run(() => sendChecked(ticket, send, forwarded, args, rest, mark, scan));
      span.answered(result);
      return result;
    } catch (err) {
      if (span !== null) span.threw(err);
      throw err;
    }
  }

  /** H11: refuses (and records) a call whose tool definition is not the pinned one. */
  async function pinCheck(params) {
    const violation = await pins.violation(params.name, () => pins.listAll(client));
    if (violation !== null) throw gov.refuse(params.name, params.arguments, [violation], roundOf(params));
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
    return governCall(checked, originalCallTool, checked, rest);
  }

  /** Sends any request as a new `{ method, params }` (see `requestMethod`); checks a tools/call once. */
  function governedRequest(req, rest) {
    const method = requestMethod(req);
    const params = req.params;
    if (method !== 'tools/call') {
      // Its params cannot make it another method: a `toJSON` on them
      // replaces the params' value only.
      const answer = originalRequest.call(client, params === undefined ? { method } : { method, params }, ...rest);
      // H11: the pin check sees the server's whole list, before any filtering.
      const listed = pins !== null && method === 'tools/list' ? pins.observed(answer) : answer;
      // Hook (issue 13 item 2, lib/tool-visibility.js): a raw tools/list.
      if (method === 'tools/list' && hideBlockedTools && !listing.active()) return Promise.resolve(listed).then(visible);
      return listed;
    }
    if (params === sending && params !== null) {
      // Our own callTool's params, checked already (see `sending`), in the
      // request the client's own callTool built around them: it goes on
      // as it is.
      sending = null;
      return originalRequest.call(client, req, ...rest);
    }
    if (params !== null && typeof params === 'object' && params[kSentLater] === true) {
      // Our own callTool's params again, handed over after an await; the
      // mark is used up (set, not deleted: deleting would slow the object).
      params[kSentLater] = false;
      return originalRequest.call(client, req, ...rest);
    }
    const ticket = params !== null && typeof params === 'object' ? decidedInStream.get(params) : undefined;
    if (ticket !== undefined) {
      // Params our requestStream checked and sends through here.
      decidedInStream.delete(params);
      // Its answer is scanned here too (issue 22): a refused one never
      // reaches the stream's caller (the SDK turns the error into an McpError).
      return sendChecked(ticket, originalRequest, { method, params }, params.arguments, rest, null, scanOf(params));
    }
    const checked = toolCallParams(...toolCallOf(params), params);
    return governCall(checked, originalRequest, { method, params: checked }, rest);
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
    let span = null; // H11
    try {
      method = requestMethod(req);
      params = req.params;
      if (method === 'tools/call') {
        checked = toolCallParams(...toolCallOf(params), params);
        if (tracing !== null) span = tracing.start(checked); // H11
        if (pins !== null) await pinCheck(checked); // H11
        ticket = await begin(checked, rest, span ?? undefined);
        if (span !== null) span.allowed(); // H11
      }
    } catch (error) {
      if (span !== null) span.threw(error); // H11
      if (inBand && error instanceof PolicyBlockedError) {
        yield { type: 'result', result: blockedCallResult(error) };
        return;
      }
      yield { type: 'error', error };
      return;
    }
    if (checked === null) {
      yield* originalRequestStream.call(client, params === undefined ? { method } : { method, params }, ...rest);
      return;
    }
    decidedInStream.set(checked, ticket);
    try {
      const stream = originalRequestStream.call(client, { method, params: checked }, ...rest);
      yield* span === null ? stream : span.stream(stream); // H11
    } finally {
      if (decidedInStream.delete(checked)) {
        // The SDK never sent it: close its ticket all the same.
        recordFailure(ticket, checked.arguments, new ExeclaveError('the stream ended before the call was sent'));
      }
    }
  }

  // H11: one listTools() call is one listing for the pin check.
  if (pins !== null) pins.wrapListTools(client, originalRequest === null);

  // Hooks (issue 13 items 2 and 5): chosen once here, so that with the
  // defaults the call path does no more than before.
  const governCall = inBand ? governedInBand : governed;
  const listing = new ListingScope();
  const visible = (result) => withoutRefusedTools(result, gov.refusedByName);
  const originalListTools = typeof client.listTools === 'function' ? client.listTools : null;
  if (hideBlockedTools && originalListTools) {
    client.listTools = function listTools(...args) {
      // The SDK's own tools/list requests for this listing pass `request`
      // unfiltered (see ListingScope); its answer is filtered here. The
      // 2.x client's list-changed refresh comes through here too.
      return listing.run(() => new Promise((resolve) => resolve(originalListTools.apply(client, args)))).then(visible);
    };
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
  releaseOnClose(client, gov.release);
  Object.defineProperty(client, kWrappedBy, { value: { exe, agentId }, enumerable: false });
  Object.defineProperty(client, '_execlave_instrumented', {
    value: true,
    enumerable: false,
    writable: false,
    configurable: false,
  });
  return client;
}

/**
 * Releases the client's registration when its connection closes, from
 * either side: the SDK's Protocol calls `onclose` then (it reads the
 * property at that moment), and `close()` covers a client that never
 * connected. The caller's own `onclose` is kept and still called. A client
 * used again after it closed registers anew (see `kGovern`'s `begin`).
 */
function releaseOnClose(client, release) {
  let own = client.onclose;
  function onclose(...args) {
    release();
    return typeof own === 'function' ? own.apply(this, args) : undefined;
  }
  Object.defineProperty(client, 'onclose', {
    get: () => onclose,
    set: (fn) => {
      own = fn;
    },
    enumerable: true,
    configurable: true,
  });
  const originalClose = client.close;
  if (typeof originalClose === 'function') {
    client.close = function close(...args) {
      return Promise.resolve(originalClose.apply(client, args)).finally(release);
    };
  }
}

module.exports = { instrumentMcpClient };
