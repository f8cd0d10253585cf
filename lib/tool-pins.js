'use strict';

// Pinned tool definitions (option `toolPins`): the host's side. The check
// itself (digests, the lockfile, the pending file, which tool is flagged,
// the violation) lives in the core (core/src/tools/pins.rs), once for
// Node and Python; this file reads the SDK's objects, keeps track of which
// listing a page belongs to across awaits, and raises Node's errors.
// User docs: docs/tool-pins.md.

const { AsyncLocalStorage } = require('node:async_hooks');
const native = require('./native');
const { ExeclaveError } = require('./errors');
const { jsonSnapshot } = require('./governance');

// How a Node user runs the review command (a bare `npx execlave-pins`
// would fetch whatever npm package holds that name).
const PINS_COMMAND = 'npx -p @execlave/sdk execlave-pins';
const PINNED_FIELDS = native.pinnedFields();

function nativeCall(fn) {
  try {
    return fn();
  } catch (cause) {
    throw new ExeclaveError(cause.message, { cause });
  }
}

/**
 * The pinned part of a listed tool as JSON text, or null when it cannot
 * be read (a field that cannot be copied, a lone surrogate): the core
 * never trusts such a tool.
 */
function definitionText(tool) {
  const definition = {};
  try {
    for (const field of PINNED_FIELDS) {
      const value = jsonSnapshot(tool[field]);
      if (value !== undefined) definition[field] = value;
    }
    return JSON.stringify(definition);
  } catch {
    return null;
  }
}

/** The pin check of one wrapped client; `onChange(event)` hears of every change seen. */
class ToolPins {
  #native;
  #block;
  #debug;
  #onChange;
  #listing = new AsyncLocalStorage(); // the id of the listing call we are in
  #firstListing = null;
  #onListed;
  #listed = new Map(); // listing id -> the definitions its pages held

  /**
   * `debug`: where debug lines go (the client's: escaped, and only with
   * its `debug` option). `onListed(definitions)`: told the definitions of
   * each whole listing (all its pages), for the service's tool-integrity
   * check.
   */
  constructor(file, onToolChange, { debug = () => {}, onChange = null, onListed = null } = {}) {
    if (typeof file !== 'string' || file.length === 0) {
      throw new ExeclaveError('instrumentMcpClient: toolPins must be the path of a JSON lockfile');
    }
    if (onToolChange !== 'warn' && onToolChange !== 'block') {
      throw new ExeclaveError(`instrumentMcpClient: onToolChange must be 'warn' or 'block', got ${String(onToolChange)}`);
    }
    this.#block = onToolChange === 'block';
    this.#debug = debug;
    this.#onChange = onChange;
    this.#onListed = onListed;
    // Reads the lockfile now: a corrupt one is a configuration error, told at once.
    this.#native = nativeCall(() => new native.NativeToolPins(file, onToolChange, PINS_COMMAND));
  }

  /**
   * Runs `list` as one listing call: however many pages it reads (the 2.x
   * `listTools()` pages through `request`), they are one listing, and the
   * trust-on-first-use window closes when the first one ends.
   */
  async inListing(list) {
    if (this.#listing.getStore() !== undefined) return list();
    const id = this.#native.beginListing();
    try {
      return await this.#listing.run(id, list);
    } finally {
      this.#native.endListing(id);
      this.#tellListed(id);
    }
  }

  /** The listing a page requested now belongs to (read when the request is made). */
  currentListing() {
    return this.#listing.getStore();
  }

  /** Takes in one page of a `tools/list` answer, of listing `id` (undefined: a listing of its own). */
  observe(result, id) {
    let tools;
    try {
      tools = result.tools;
    } catch {
      return;
    }
    if (!Array.isArray(tools)) return;
    const own = id === undefined;
    if (own) id = this.#native.beginListing();
    try {
      const names = [];
      const definitions = [];
      for (const tool of tools) {
        let name;
        try {
          name = tool.name;
        } catch {
          continue;
        }
        if (typeof name !== 'string') continue;
        names.push(name);
        definitions.push(definitionText(tool));
      }
      const changes = JSON.parse(nativeCall(() => this.#native.observePage(id, names, definitions)));
      for (const change of changes) this.#report(change);
      if (this.#onListed) this.#listed.set(id, [...(this.#listed.get(id) ?? []), ...definitions]);
    } finally {
      if (own) {
        this.#native.endListing(id);
        this.#tellListed(id);
      }
    }
  }

  #tellListed(id) {
    const definitions = this.#listed.get(id);
    this.#listed.delete(id);
    if (definitions !== undefined) this.#onListed(definitions);
  }

  #report({ message, ...change }) {
    this.#debug(message);
    if (this.#onChange) {
      try {
        this.#onChange(change);
      } catch {
        // Recording must not change what the list returns.
      }
    }
  }

  /**
   * Why a call to `tool` may not go on (a violation), or null; a promise
   * of either before any list was seen. Before the first list the model
   * cannot have read a definition from this client, but the app may call
   * a tool by a name it knows: the tools are listed first (`listAll`), so
   * a call never skips the check.
   */
  violation(tool, listAll) {
    if (this.#native.needsListing()) {
      this.#firstListing ??= this.#listFirst(listAll);
      return this.#firstListing.then((unverified) => unverified ?? this.#judge(tool));
    }
    return this.#judge(tool);
  }

  #judge(tool) {
    const text = nativeCall(() => this.#native.violation(tool));
    return text === null ? null : JSON.parse(text);
  }

  async #listFirst(listAll) {
    try {
      await this.inListing(listAll);
    } catch (cause) {
      if (this.#block) {
        this.#firstListing = null; // try again at the next call
        return JSON.parse(this.#native.unverified(String(cause && cause.message)));
      }
      this.#debug('could not list tools to check their pins:', cause);
    }
    return null;
  }

  /**
   * A tools/list answer (a promise of it) that goes past the pin check on
   * its way back, as a page of the listing call it was requested in (read
   * now, before the await).
   */
  observed(answer) {
    const listingId = this.currentListing();
    return Promise.resolve(answer).then((result) => {
      this.observe(result, listingId);
      return result;
    });
  }

  /**
   * Makes each `client.listTools()` call one listing, however it pages
   * (the 2.x client pages through `request`). `observeHere`: the client
   * has no `request` to observe the pages at, so its answers are observed
   * here. Wrapped before hiding, so that the pins see the whole list.
   */
  wrapListTools(client, observeHere) {
    if (typeof client.listTools !== 'function') return;
    const unobserved = client.listTools;
    const pins = this;
    client.listTools = function listTools(...args) {
      return pins.inListing(() => {
        const answer = unobserved.apply(client, args);
        return observeHere ? pins.observed(answer) : answer;
      });
    };
  }

  /**
   * Every page of the server's tool list, read through `client` (its
   * wrapped listTools) so that the check sees it; for a call made before
   * any list. The core bounds the pages of one listing.
   */
  async listAll(client) {
    if (typeof client.listTools !== 'function') {
      throw new ExeclaveError('the client has no listTools function');
    }
    let cursor;
    const seen = new Set();
    do {
      const page = await client.listTools(cursor === undefined ? undefined : { cursor });
      cursor = page && typeof page.nextCursor === 'string' ? page.nextCursor : undefined;
      if (cursor !== undefined && seen.has(cursor)) break; // a server that pages in circles
      if (cursor !== undefined) seen.add(cursor);
    } while (cursor !== undefined);
  }

  /** Waits until `<lockfile>.pending` holds every change reported (it is written off the event loop). */
  flushPending() {
    this.#native.flushPending();
  }
}

module.exports = { ToolPins, PINS_COMMAND, PINNED_FIELDS };
