'use strict';

const native = require('./native');
const { ApprovalVerificationError, ERROR_CODES, EnforcementUnavailableError, ExeclaveError, PolicyBlockedError } = require('./errors');
const { argumentsJson, checkToolName, haltError, jsonSnapshot, recordJson } = require('./governance');
const { askApprover, DEFAULT_APPROVAL_TIMEOUT_MS, LOCAL_APPROVAL_ID } = require('./approvals');
const { answerIsError, thrownMessage, thrownType } = require('./caller-values');
const { valuesTicket } = require('./argument-values');

const DEFAULT_SHUTDOWN_TIMEOUT_MS = 5000;

// Internal entry points for the integrations; not part of the public API.
const kGovern = Symbol('execlave.govern');
// Says one line where this client's lines go (integrations' warnings).
const kWarn = Symbol('execlave.warn');
const kDebug = Symbol('execlave.debug');

const CALLBACK_OPTIONS = ['onEnforcementBypassed', 'approver'];

const INVALID_OPTIONS = Object.freeze({ code: ERROR_CODES.INVALID_OPTIONS });
const INVALID_ARGUMENT = Object.freeze({ code: ERROR_CODES.INVALID_ARGUMENT });

/** Anything with warn, info and debug methods: console, pino, winston, … */
function isLogger(logger) {
  return (
    logger !== null &&
    typeof logger === 'object' &&
    ['warn', 'info', 'debug'].every((level) => typeof logger[level] === 'function')
  );
}

/** Writes one line to the user's logger; a logger that throws loses the line, never the process. */
function callLogger(logger, level, line) {
  try {
    logger[level](`[execlave] ${line}`);
  } catch {
    // A logger that fails cannot be told so.
  }
}

/** The core's lines (`level`: warn, info or debug) to the user's logger. */
function hostLogger(logger) {
  return (level, line) => callLogger(logger, level, line);
}

// Completions handed to Rust in one call: at this many, or at the next turn
// of the event loop, whichever comes first.
const COMPLETION_BATCH = 64;

// How a call ended, as `completeBatch` reads it; plus NO_OUTPUT when the
// answer has no JSON form (its slot in the texts then holds null, which
// would read as an answer null).
const ANSWERED = 0;
const ANSWERED_IS_ERROR = 1;
const THREW = 2;
const NO_OUTPUT = 4;

const ticketOf = (r) => (typeof r === 'number' ? r : (r.ticket ?? 0));

// `native.decideByTool`'s answer for a call it leaves to `decide` because
// an argument rule applies to the tool.
const NEEDS_ARGUMENTS = -2;

/**
 * Tool name → the id the native side knows it by (its table is per thread,
 * as this module is). Names it cannot intern (id 0) are not cached, so a
 * map stays as bounded as that table. `known` may hold a negated id: the
 * tool needs its arguments (see `kGovern`).
 */
function toolIdOf(tool, known) {
  let id = known.get(tool);
  if (id === undefined) {
    id = native.toolId(tool);
    if (id !== 0) known.set(tool, id);
  }
  return id;
}

const toolIds = new Map();

// `enforcePolicy` registrations kept for reuse once their calls are done,
// at most this many (least recently released first out); wrapped clients'
// registrations are released when the client closes.
const MAX_IDLE_REGISTRATIONS = 1024;

// Characters that could end a log line or steer a terminal: C0/C1
// controls, DEL, U+2028/U+2029, bidirectional overrides and isolates.
const LINE_BREAKING = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/** Caller or server text for a log line: one line, nothing a terminal acts on. */
function oneLine(text) {
  return String(text).replace(LINE_BREAKING, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/**
 * The record texts of a batch as `completeBatch` takes them: one JSON text
 * `[[arguments…], [answers…]]`, one value per call in each. One
 * `JSON.stringify` for the batch: each entry into V8's C++ costs more than
 * the writing. The values are snapshots (plain JSON data), so it cannot
 * throw; should it all the same, each value is written on its own, and one
 * that cannot be says so in its record, as before.
 */
function batchJson(args, values) {
  try {
    return JSON.stringify([args, values]);
  } catch {
    const each = (list) => list.map((v) => recordJson(v) ?? 'null').join(',');
    return `[[${each(args)}],[${each(values)}]]`;
  }
}

/** A record's copy of a result; the caller may change the original. */
function resultSnapshot(result) {
  try {
    return jsonSnapshot(result);
  } catch {
    return '[result not serialisable]';
  }
}

/**
 * A rejection of one of the core's promises as an `ExeclaveError`. The core
 * rejects with code `Closing` when its runtime stopped under the call
 * (`shutdown()`); its message is then the shut-down error's, the same a
 * call refused after shutdown gets: shutdown never allows, and says so.
 */
function nativeFailure(err, code = NATIVE_CODES[err?.code] ?? ERROR_CODES.ERROR) {
  if (err instanceof ExeclaveError) return err;
  return new ExeclaveError(typeof err?.message === 'string' ? err.message : String(err), { cause: err, code });
}

// The core's error kinds, as napi statuses (src/lib.rs `js_error`), as codes.
const NATIVE_CODES = {
  InvalidArg: ERROR_CODES.INVALID_ARGUMENT,
  Closing: ERROR_CODES.CLOSED,
  GenericFailure: ERROR_CODES.INTERNAL,
};

function rethrowNative(err) {
  throw nativeFailure(err);
}

/** For flush and shutdown: a runtime that stopped has nothing left to wait for. */
function doneIfClosing(err) {
  if (err?.code === 'Closing') return;
  throw nativeFailure(err);
}

// Clients that may still hold records, by weak reference, for the exit
// hook: a program that ends without `await exe.shutdown()` (its event loop
// running dry, `process.exit()`, an uncaught exception, a worker thread
// ending) still delivers them. The hook is installed with the first client.
const liveClients = new Set();
let pruneAt = 64;
let exitHookInstalled = false;
const kBeforeExit = Symbol('execlave.beforeExit');

function watchForExit(client) {
  liveClients.add(new WeakRef(client));
  if (liveClients.size >= pruneAt) {
    for (const ref of liveClients) if (ref.deref() === undefined) liveClients.delete(ref);
    pruneAt = Math.max(64, liveClients.size * 2);
  }
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', drainAtExit);
  }
}

/**
 * The 'exit' hook: nothing asynchronous runs any more, so the clients of
 * this thread still open are shut down synchronously, in the core, within
 * the longest of their `shutdownTimeoutMs` (the audit log is written at
 * once; the control plane gets what is left of that time). What cannot be
 * delivered is said on stderr (by the core, and here for drains of
 * dropped clients still under way).
 */
function drainAtExit() {
  let timeoutMs = 0;
  for (const ref of liveClients) {
    const client = ref.deref();
    if (client !== undefined) timeoutMs = Math.max(timeoutMs, client[kBeforeExit]());
  }
  liveClients.clear();
  try {
    native.drainAtExit(timeoutMs || DEFAULT_SHUTDOWN_TIMEOUT_MS);
    const left = native.waitForDrains(0);
    if (left > 0) {
      process.stderr.write(`[execlave] exit: ${left} dropped client(s) were still delivering records; those records may be lost\n`);
    }
  } catch (err) {
    process.stderr.write(`[execlave] exit: records could not be delivered: ${oneLine(String(err?.message ?? err))}\n`);
  }
}

/** A flush that delivered nothing (no sink, or the client already closed). */
function noReport() {
  return { written: 0, dropped: 0, undelivered: 0 };
}

function clientClosed() {
  return new ExeclaveError('this governed client was closed while the call was being decided; the call was not sent', {
    code: ERROR_CODES.CLOSED,
  });
}

/**
 * `promise` (a decision the core is making), ended early when `signal`
 * aborts: `cancel` tells the core (which then sends nothing more for the
 * call and records it as cancelled), and the caller gets the abort reason.
 * The listener goes with the promise: nothing is left behind either way.
 */
function cancellable(promise, signal, cancel) {
  if (signal === undefined || signal === null) return promise;
  if (signal.aborted) {
    cancel();
    promise.catch(() => {});
    return Promise.reject(abortReason(signal));
  }
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      cancel();
      reject(abortReason(signal));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}

// Observers must not change a call's fate: what they throw is dropped.
function approvalGranted(observer, approval) {
  try {
    // A service approval is only known to the host once decided.
    if (approval.id !== LOCAL_APPROVAL_ID) observer.approvalRequested(approval.id);
    observer.approvalGranted(approval);
  } catch {
    // See above.
  }
}

function approvalRefused(observer, err) {
  try {
    if (err.approvalRequestId !== LOCAL_APPROVAL_ID) observer.approvalRequested(err.approvalRequestId);
    observer.approvalRefused(err);
  } catch {
    // See above.
  }
}

function abortReason(signal) {
  const { reason } = signal;
  if (reason instanceof Error) return reason;
  const err = new Error('the call was cancelled while it waited for an approval; it was not sent');
  err.name = 'AbortError';
  if (reason !== undefined) err.cause = reason;
  return err;
}

class Execlave {
  #native;
  #onBypass;
  /** A control plane is configured: only then can results be scanned. */
  #remote = false;
  #approver;
  #approvalTimeoutMs;
  #shutdownTimeoutMs;
  // Registrations by key (see #acquire); #idle: those no call uses now,
  // kept for reuse (enforcePolicy's), least recently released first.
  #handles = new Map();
  #idle = new Map();
  #debug;
  // The `logger` option (console, pino, …), or null: stderr.
  #logger = null;
  // The first shutdown()'s promise, and what resolves the flushes under
  // way when it ends (see flush()).
  #shutdown = null;
  #flushesInFlight = new Set();
  // Completed calls not yet handed to Rust (see #queueCompletion): three
  // numbers per call, its arguments' and its answer's snapshots, and the
  // message and type of each call that threw.
  #doneNumbers = [];
  #doneArgs = [];
  #doneValues = [];
  #doneThrown = [];
  #doneScheduled = false;
  #handOverDone = () => {
    this.#doneScheduled = false;
    try {
      this.#flushCompletions();
    } catch (err) {
      // Thrown from a timer, this would crash the host process: losing the
      // records of these calls is the lesser harm. It cannot happen with
      // what #queueCompletion stores; this is only a guard.
      if (this.#debug) this.#warn('could not record completed calls:', err);
    }
  };

  /**
   * @param {import('../index').ExeclaveOptions} [options]
   */
  constructor(options = {}) {
    if (options === null || typeof options !== 'object' || Array.isArray(options)) {
      throw new ExeclaveError('Execlave options must be an object', INVALID_OPTIONS);
    }
    if (options.policies !== undefined && typeof options.policies !== 'string' && !Array.isArray(options.policies)) {
      throw new ExeclaveError('policies must be an array of policy objects or a path to a file or directory', INVALID_OPTIONS);
    }
    for (const name of CALLBACK_OPTIONS) {
      if (options[name] !== undefined && typeof options[name] !== 'function') {
        throw new ExeclaveError(`${name} must be a function`, INVALID_OPTIONS);
      }
    }
    const { logger } = options;
    if (logger !== undefined && !isLogger(logger)) {
      throw new ExeclaveError('logger must have warn, info and debug methods (console, pino, …)', INVALID_OPTIONS);
    }
    const plain = {};
    for (const [k, v] of Object.entries(options)) {
      if (!CALLBACK_OPTIONS.includes(k) && k !== 'logger' && v !== undefined) plain[k] = v;
    }
    // The approver stays here; the core only learns that there is one.
    plain.localApprover = typeof options.approver === 'function';
    let json;
    try {
      json = JSON.stringify(plain);
    } catch (cause) {
      throw new ExeclaveError(`Execlave options cannot be serialised: ${cause.message}`, { cause, ...INVALID_OPTIONS });
    }
    try {
      this.#native = new native.NativeGovernor(json, logger === undefined ? undefined : hostLogger(logger));
    } catch (cause) {
      throw nativeFailure(cause, ERROR_CODES.INVALID_OPTIONS);
    }
    this.#onBypass = options.onEnforcementBypassed;
    this.#remote = typeof options.apiKey === 'string' || Boolean(process.env.EXECLAVE_API_KEY);
    this.#approver = options.approver ?? null;
    this.#approvalTimeoutMs = options.approvalTimeoutMs ?? DEFAULT_APPROVAL_TIMEOUT_MS;
    this.#shutdownTimeoutMs = options.shutdownTimeoutMs ?? DEFAULT_SHUTDOWN_TIMEOUT_MS;
    this.#debug = Boolean(options.debug);
    this.#logger = logger ?? null;
    watchForExit(this);
  }

  /**
   * For the exit hook: hands over the completions still queued here (the
   * core then drains the records) and says how long this client's
   * shutdown may take; 0 once it was shut down.
   */
  [kBeforeExit]() {
    if (this.#shutdown !== null) return 0;
    try {
      this.#flushCompletions();
    } catch {
      // Their records are lost; the others still go.
    }
    return this.#shutdownTimeoutMs;
  }

  /**
   * The same decision the MCP wrapper makes, for callers without MCP.
   * Resolves `{ allowed: true, warnings }` or rejects with an
   * `EnforcementHaltError` (usually `PolicyBlockedError`).
   */
  async enforcePolicy(request) {
    if (request === null || typeof request !== 'object') {
      throw new ExeclaveError('enforcePolicy takes { agentId, tools: [name], arguments?, input? }', INVALID_ARGUMENT);
    }
    const { agentId, tools, arguments: args, input, signal } = request;
    if (!Array.isArray(tools) || tools.length === 0) {
      throw new ExeclaveError('enforcePolicy: tools must be a non-empty array of tool names', INVALID_ARGUMENT);
    }
    const reg = this.#acquire(agentId);
    try {
      const warnings = [];
      for (const tool of tools) {
        checkToolName(tool);
        const outcome = await this.#decide(reg, toolIdOf(tool, toolIds), tool, argumentsJson(tool, args), false, input, undefined, { signal });
        if (typeof outcome === 'object' && outcome.warnings) warnings.push(...outcome.warnings);
      }
      return { allowed: true, warnings };
    } finally {
      this.#release(reg, true);
    }
  }

  /**
   * Writes buffered records to their sinks; resolves when they have them.
   * During or after `shutdown()` it resolves with the shutdown: that
   * delivers what is buffered (within `shutdownTimeoutMs`), and nothing is
   * delivered after it, so there is nothing else to wait for.
   */
  async flush() {
    if (this.#shutdown !== null) return this.#shutdown;
    this.#flushCompletions();
    let shutDown;
    const stopped = new Promise((resolve) => {
      shutDown = resolve;
    });
    this.#flushesInFlight.add(shutDown);
    try {
      // The core answers a flush from its delivery loop, which shutdown
      // stops: one it had not started on would never be answered.
      return (await Promise.race([this.#native.flush().catch(doneIfClosing), stopped])) ?? noReport();
    } finally {
      this.#flushesInFlight.delete(shutDown);
    }
  }

  /**
   * Flushes (bounded by `shutdownTimeoutMs`), stops all background work and
   * refuses further governed calls. Safe to call twice: later calls get
   * the first one's promise.
   */
  shutdown() {
    if (this.#shutdown === null) this.#shutdown = this.#shutDown();
    return this.#shutdown;
  }

  async #shutDown() {
    let report = noReport();
    try {
      this.#flushCompletions();
      report = (await this.#native.shutdown(this.#shutdownTimeoutMs).catch(doneIfClosing)) ?? report;
      return report;
    } finally {
      for (const shutDown of this.#flushesInFlight) shutDown(report);
    }
  }

  /** Counters: decisions, allowed, blocked, warned, records written/dropped, … */
  stats() {
    this.#flushCompletions();
    return this.#native.stats();
  }

  /**
   * The registration of (agentId, sessionId, userId, enforce), counted:
   * each acquire is matched by one `#release`. Both cost O(1) here and in
   * the core; see MAX_IDLE_REGISTRATIONS for what is kept unused.
   */
  #acquire(agentId, sessionId, userId, enforce = true) {
    const key = `${agentId}\u0000${sessionId ?? ''}\u0000${userId ?? ''}\u0000${enforce}`;
    let reg = this.#handles.get(key);
    if (reg === undefined) {
      if (typeof agentId !== 'string') {
        throw new ExeclaveError(`agentId must be a lowercase kebab-case string such as "ops-agent", got ${typeof agentId}`, INVALID_ARGUMENT);
      }
      let handle;
      try {
        handle = this.#native.registerAgent(agentId, sessionId ?? null, userId ?? null, enforce);
      } catch (cause) {
        throw nativeFailure(cause);
      }
      reg = { key, handle, agentId, refs: 0, released: false };
      this.#handles.set(key, reg);
    } else {
      this.#idle.delete(key);
    }
    reg.refs += 1;
    return reg;
  }

  /**
   * Undoes one `#acquire`. The last release frees the registration, unless
   * `keepIdle` (an `enforcePolicy` agent, likely to be back): it then waits
   * for reuse among the MAX_IDLE_REGISTRATIONS most recently released.
   */
  #release(reg, keepIdle = false) {
    if (reg.released || reg.refs === 0) return;
    reg.refs -= 1;
    if (reg.refs > 0) return;
    if (!keepIdle) {
      this.#free(reg);
      return;
    }
    this.#idle.set(reg.key, reg); // a Map keeps insertion order: oldest first
    if (this.#idle.size > MAX_IDLE_REGISTRATIONS) {
      this.#free(this.#idle.values().next().value);
    }
  }

  #free(reg) {
    reg.released = true;
    this.#handles.delete(reg.key);
    this.#idle.delete(reg.key);
    this.#native.releaseAgent(reg.handle);
  }

  /**
   * Decides one call. Returns the ticket (a number) of an allowed call with
   * nothing to report; else the outcome of an allowed call; throws the halt
   * error of a refused one. Local decisions are synchronous; only a call
   * that must wait for the first policy sync or ask the control plane
   * returns a promise.
   */
  // `requestState`: the call is a round of a multi-round call (see
  // `beginRound`), else undefined.
  // `call`: `{ signal, observer }` or undefined. `signal`, the caller's
  // AbortSignal, ends a wait for an approval; `observer` hears of approvals
  // (lib/otel.js: span events).
  #decide(reg, toolId, tool, argsJson, track, input, requestState, call) {
    // A released registration's slot may belong to another one by now.
    if (reg.released) throw clientClosed();
    const owed = this.#doneArgs.length > 0;
    const answer = native.decide(reg.handle, toolId, toolId === 0 ? tool : null, argsJson, track, owed, requestState);
    if (typeof answer === 'number') return answer;
    // A refusal's record waits in Rust for the completions queued here;
    // hand them over now so that the records stay in order.
    if (owed) this.#flushCompletions();
    return this.#settle(JSON.parse(answer), reg, toolId, tool, argsJson, track, input, requestState, call);
  }

  #settle(outcome, reg, toolId, tool, argsJson, track, input, requestState, call) {
    switch (outcome.kind) {
      case 'wait_for_sync':
        if (reg.released) throw clientClosed();
        return this.#native
          .waitForSync(reg.handle)
          .then(() => this.#decide(reg, toolId, tool, argsJson, track, input, requestState, call), rethrowNative);
      case 'ask_server': {
        const remote = this.#native.decideRemote(outcome.ticket, input ?? null).catch(rethrowNative);
        return cancellable(remote, call?.signal, () => this.#native.cancel(outcome.ticket))
          .then((answer) => this.#settle(JSON.parse(answer), reg, toolId, tool, argsJson, track, input, requestState, call));
      }
      case 'ask_approver':
        return this.#askApprover(outcome, reg, toolId, tool, argsJson, track, input, requestState, call);
      default: {
        const err = haltError(outcome);
        if (err) {
          if (call?.observer && err.approvalRequestId !== undefined) approvalRefused(call.observer, err);
          throw err;
        }
        if (outcome.approval && call?.observer) approvalGranted(call.observer, outcome.approval);
        if (outcome.bypass) this.#reportBypass(outcome.bypass, tool);
        return outcome;
      }
    }
  }

  /**
   * A local `require_approval` policy held the call back: ask the approver
   * (bounded by `approvalTimeoutMs`; `call.signal` ends the wait), tell the
   * core, and go on with what it decides (allowed, refused, or on to the
   * control plane).
   */
  async #askApprover(outcome, reg, toolId, tool, argsJson, track, input, requestState, call) {
    const { ticket } = outcome;
    const request = {
      agentId: reg.agentId,
      tool,
      arguments: argsJson === null ? {} : JSON.parse(argsJson),
      violations: outcome.violations,
      requestId: `local-${ticket}`,
    };
    call?.observer?.approvalRequested(LOCAL_APPROVAL_ID);
    const asked = askApprover(this.#approver, request, this.#approvalTimeoutMs);
    const verdict = await cancellable(asked, call?.signal, () => this.#native.cancel(ticket));
    let answer;
    try {
      answer = JSON.parse(this.#native.settleLocalApproval(ticket, verdict.kind, verdict.text ?? null));
    } catch (cause) {
      throw nativeFailure(cause);
    }
    try {
      return this.#settle(answer, reg, toolId, tool, argsJson, track, input, requestState, call);
    } catch (err) {
      // The approver's own error is the cause, not its description.
      if (err instanceof ApprovalVerificationError && verdict.error !== undefined) err.cause = verdict.error;
      throw err;
    }
  }

  /**
   * A line of the JS layer's own, where the core's go: the logger or
   * stderr. Every part is escaped to one line (`oneLine`): a server's or a
   * model's text cannot forge a line or steer the terminal.
   */
  #warn(...parts) {
    this.#say('warn', parts);
  }

  #say(level, parts) {
    const line = oneLine(parts.map((p) => (p instanceof Error ? (p.stack ?? p.message) : String(p))).join(' '));
    if (this.#logger === null) {
      console.warn(`[execlave] ${line}`);
      return;
    }
    callLogger(this.#logger, level, line);
  }

  #reportBypass(reason, tool) {
    // The core has said it (the first always, then with `debug`).
    if (!this.#onBypass) return;
    let returned;
    try {
      returned = this.#onBypass({ reason, tool, timestamp: new Date().toISOString() });
    } catch (err) {
      // A failing callback must not change the call's fate.
      this.#bypassCallbackFailed(err);
      return;
    }
    if (returned !== null && (typeof returned === 'object' || typeof returned === 'function')) {
      // An async callback that fails rejects a promise no one else holds:
      // unhandled, that ends the host process by default. Resolving it in
      // a promise of our own also catches a `then` that throws.
      new Promise((resolve) => resolve(returned)).catch((err) => this.#bypassCallbackFailed(err));
    }
  }

  #bypassCallbackFailed(err) {
    if (!this.#debug) return;
    try {
      this.#warn('onEnforcementBypassed failed:', err);
    } catch {
      // An error value that cannot even be shown.
    }
  }

  /**
   * Queues how a call ended. Completions cross into Rust in batches: one
   * crossing with many runs with hot caches, one per call with cold ones.
   * The queue is bounded by COMPLETION_BATCH and emptied at the next turn
   * of the event loop, when a refusal's record waits for it (see #decide),
   * and by `flush()`, `shutdown()` and `stats()`, so records are neither
   * lost nor reordered.
   */
  #queueCompletion(ticket, endedAt, ending, args, value) {
    this.#doneNumbers.push(ticket, endedAt, value === undefined ? ending | NO_OUTPUT : ending);
    this.#doneArgs.push(args);
    this.#doneValues.push(value);
    if (this.#doneArgs.length >= COMPLETION_BATCH) {
      this.#flushCompletions();
    } else if (!this.#doneScheduled) {
      this.#doneScheduled = true;
      setImmediate(this.#handOverDone);
    }
  }

  #flushCompletions() {
    const args = this.#doneArgs;
    if (args.length === 0) return;
    const numbers = new Float64Array(this.#doneNumbers);
    const values = this.#doneValues;
    const thrown = this.#doneThrown;
    this.#doneNumbers = [];
    this.#doneArgs = [];
    this.#doneValues = [];
    this.#doneThrown = [];
    // Serialised here, the whole batch at once, rather than one per call
    // between MCP messages: the snapshots taken at call time keep them
    // exact, and one text crosses instead of two per call.
    const texts = batchJson(args, values);
    // The two clocks read side by side: the ends JS noted, on the core's clock.
    const clockOffsetMs = native.clockMs() - performance.now();
    this.#native.completeBatch(numbers, texts, thrown, clockOffsetMs);
  }

  /** For the integrations: everything a wrapper needs, bound to this client. */
  [kWarn](...parts) {
    this.#warn(...parts);
  }

  /** For the integrations: a debug line (only with `debug`), escaped as `#warn`'s. */
  [kDebug](...parts) {
    if (this.#debug) this.#say('debug', parts);
  }

  [kGovern](agentId, sessionId, userId, enforce) {
    let reg = this.#acquire(agentId, sessionId, userId, enforce);
    // This client holds one count of `reg`: released once, however many
    // close signals arrive.
    let held = true;
    // This agent's tools by id, negated once an argument rule was found to
    // apply: their calls then skip `decideByTool` and take the values path
    // (then, unless allowed there, `decide` with the arguments). Only a
    // hint: were the rule removed, both would still be right.
    const known = new Map();
    // Tool id → its values plan (lib/argument-values.js), for the tools
    // with argument rules; read again when the policies change.
    const plans = new Map();
    return {
      /** The client's `debug` option: integrations log what they noticed. */
      debug: this.#debug,
      /**
       * Decides a call on its arguments' snapshot (see
       * `snapshotArguments`): returns its ticket (0: nothing to report),
       * or its promise when the control plane must be asked; throws why
       * it may not go on.
       */
      begin: (tool, args, call) => {
        // A client used again after it closed (reconnected) registers anew.
        if (!held) {
          reg = this.#acquire(agentId, sessionId, userId, enforce);
          held = true;
          plans.clear(); // read for the old registration
        }
        // Most calls: the tool name decides, no arguments cross over.
        let id = toolIdOf(tool, known);
        if (id > 0) {
          const ticket = native.decideByTool(reg.handle, id);
          if (ticket >= 0) return ticket;
          if (ticket === NEEDS_ARGUMENTS) known.set(tool, -id);
        } else {
          id = -id;
        }
        // An argument rule applies: only the values its plan reads cross,
        // and only an allowed call is decided so. A released registration
        // goes to #decide, which refuses it.
        if (id !== 0 && !reg.released) {
          const ticket = valuesTicket(reg.handle, id, args, plans);
          if (ticket >= 0) return ticket;
        }
        const r = this.#decide(reg, id, tool, argumentsJson(tool, args), true, undefined, undefined, call);
        if (typeof r === 'number') return r;
        if (typeof r.then === 'function') return r.then(ticketOf);
        return ticketOf(r);
      },
      /**
       * `begin` for a round of a multi-round call, sent again with the
       * `requestState` an earlier round's answer gave: decided in full on
       * its own arguments (never by name alone: rounds are rare). The core
       * links whatever record the decision makes (the call's, or its
       * refusal's) to the earlier rounds', so they share the parent trace
       * id.
       */
      beginRound: (tool, args, requestState, call) => {
        if (!held) {
          reg = this.#acquire(agentId, sessionId, userId, enforce);
          held = true;
        }
        const r = this.#decide(reg, Math.abs(toolIdOf(tool, known)), tool, argumentsJson(tool, args), true, undefined, requestState, call);
        if (typeof r === 'number') return r;
        if (typeof r.then === 'function') return r.then(ticketOf);
        return ticketOf(r);
      },
      /**
       * The call `ticket` was answered "input required" with
       * `requestState`: the call sent again with it is its next round.
       */
      openNextRound: (ticket, requestState) => {
        if (ticket !== 0) this.#native.openNextRound(ticket, requestState);
      },
      /** The wrapped client closed: its registration is released (calls still deciding are refused). */
      release: () => {
        if (!held) return;
        held = false;
        this.#release(reg);
      },
      /**
       * For each tool name of a listing, whether the policies refuse it by
       * name alone (counted in `stats().toolsHidden`); one crossing.
       */
      refusedByName: (names) => {
        try {
          if (!held) {
            reg = this.#acquire(agentId, sessionId, userId, enforce);
            held = true;
          }
          return this.#native.refusedByName(reg.handle, names);
        } catch (cause) {
          throw nativeFailure(cause);
        }
      },
      /**
       * The halt error of a call refused by a check of the integration's
       * own (pinned tool definitions), counted and recorded like a policy
       * block. `args`: the arguments' snapshot; `violations`: why;
       * `requestState`: the call is a round sent again with it (its record
       * is linked to the earlier rounds'), else undefined.
       */
      /**
       * The tools `server` listed (`toolPins`): `definitions`, their pinned
       * fields as JSON text (null: unreadable), go as `toolDescriptors`
       * with this agent's enforce requests (a server `tool_integrity` policy).
       */
      /** Whether this agent's results go to the control plane's scan (`checkOutput`). */
      scansOutputs: () => held && this.#remote && this.#native.scansToolOutputs(reg.handle),
      /**
       * Scans `result`, the answer of an allowed call of `tool`, before the
       * caller gets it: resolves when it may be handed over, rejects with
       * the halt error (`PolicyBlockedError`…) when not. The call's record
       * (`ticket`, 0: none) says what the scan made of it.
       */
      checkOutput: async (ticket, tool, result) => {
        let json;
        try {
          json = JSON.stringify(result ?? null);
        } catch (cause) {
          // Unscannable is not handed over: refused, never let through.
          throw new EnforcementUnavailableError(`the result of tool ${JSON.stringify(tool)} cannot be read to scan it: ${cause.message}`);
        }
        let answer;
        try {
          answer = await this.#native.checkToolOutput(reg.handle, ticket, tool, json);
        } catch (cause) {
          throw nativeFailure(cause);
        }
        const outcome = JSON.parse(answer);
        if (outcome.kind === 'allow') {
          if (outcome.bypass) this.#reportBypass(outcome.bypass, tool);
          return;
        }
        throw haltError(outcome);
      },
      toolDescriptors: (server, definitions) => {
        if (!held) return;
        try {
          this.#native.setToolDescriptors(reg.handle, server, definitions);
        } catch (cause) {
          throw nativeFailure(cause);
        }
      },
      refuse: (tool, args, violations, requestState) => {
        const owed = this.#doneArgs.length > 0;
        let message;
        try {
          if (!held) {
            reg = this.#acquire(agentId, sessionId, userId, enforce);
            held = true;
          }
          message = this.#native.refuseByHost(reg.handle, tool, argumentsJson(tool, args), JSON.stringify(violations), owed, requestState ?? null);
        } catch (cause) {
          throw nativeFailure(cause);
        }
        // The refusal's record waits in Rust for the completions queued
        // here (see #decide).
        if (owed) this.#flushCompletions();
        return new PolicyBlockedError(message, violations, []);
      },
      /** The call with these arguments (a snapshot) answered `result` at `endedAt` (`performance.now()`). */
      succeeded: (ticket, args, result, endedAt) => {
        if (ticket === 0) return;
        const ending = answerIsError(result) ? ANSWERED_IS_ERROR : ANSWERED;
        this.#queueCompletion(ticket, endedAt, ending, args, resultSnapshot(result));
      },
      /** The call with these arguments (a snapshot) threw `err` at `endedAt` (`performance.now()`). */
      failed: (ticket, args, err, endedAt) => {
        if (ticket === 0) return;
        this.#doneThrown.push(thrownMessage(err), thrownType(err));
        this.#queueCompletion(ticket, endedAt, THREW, args, null);
      },
    };
  }
}

module.exports = { Execlave, kDebug, kGovern, kWarn };
