'use strict';

// Pinned tool definitions (option `toolPins`): a lockfile holds a digest of
// each tool's definition as it was approved, so that a server that changes
// a tool's description or schema after approval (a "rug pull") is noticed
// at the next `tools/list`. The model reads descriptions as instructions;
// a changed one is a changed tool, whatever its name.
//
// Lockfile (JSON): { "version": 1, "tools": { name: { digest, definition } } }.
// The definition is kept beside its digest so that a change can be shown
// as a diff. Changes seen but not accepted go to `<lockfile>.pending`, with
// the definitions now served; `npx execlave-pins accept <lockfile>` moves
// them into the lockfile after review (see bin/execlave-pins.js).

const { createHash, randomBytes } = require('node:crypto');
const fs = require('node:fs');
const { ExeclaveError } = require('./errors');
const { jsonSnapshot } = require('./governance');

const LOCK_VERSION = 1;
const PIN_POLICY_ID = 'execlave_tool_pins';
const PIN_POLICY_NAME = 'Pinned tool definitions';
const RULE = 'definition_changed';
// Changes `<lockfile>.pending` keeps, newest last.
const MAX_PENDING_CHANGES = 1000;
// The parts of a tool definition a model or a client acts on.
const PINNED_FIELDS = ['name', 'description', 'inputSchema', 'outputSchema', 'annotations'];

/** JSON text with object keys sorted at every level: one text per value, whatever the key order the server used. */
function canonicalJson(value) {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
  const keys = Object.keys(value)
    .filter((k) => value[k] !== undefined)
    .sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k])}`).join(',')}}`;
}

/**
 * The pinned part of a listed tool, as a JSON copy (a server's answer is
 * plain JSON, but a client may hand over anything): a field that cannot be
 * copied counts as changed, never as absent.
 */
function pinnedDefinition(tool) {
  const definition = {};
  for (const field of PINNED_FIELDS) {
    let value;
    try {
      value = jsonSnapshot(tool[field]);
    } catch {
      value = '[not serialisable]';
    }
    if (value !== undefined) definition[field] = value;
  }
  return definition;
}

function digestOf(definition) {
  return `sha256:${createHash('sha256').update(canonicalJson(definition)).digest('hex')}`;
}

/** Writes `text` to `file` all at once: a reader sees the old file or the new one, never half of one. */
function writeAtomic(file, text) {
  const tmp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  fs.writeFileSync(tmp, text, { flag: 'wx', mode: 0o644 });
  try {
    fs.renameSync(tmp, file);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
}

function pendingPath(lockfile) {
  return `${lockfile}.pending`;
}

/** Reads a lockfile's pins (name → { digest, definition }), or null when there is none. */
function readLockfile(file) {
  let text;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if (err.code === 'ENOENT') return null;
    throw new ExeclaveError(`toolPins: cannot read ${file}: ${err.message}`, { cause: err });
  }
  let data;
  try {
    data = JSON.parse(text);
  } catch (cause) {
    throw new ExeclaveError(`toolPins: ${file} is not JSON (${cause.message}); fix or delete it`, { cause });
  }
  if (data === null || typeof data !== 'object' || data.version !== LOCK_VERSION || typeof data.tools !== 'object' || data.tools === null) {
    throw new ExeclaveError(`toolPins: ${file} is not a version ${LOCK_VERSION} tool lockfile`);
  }
  const pins = new Map();
  for (const [name, pin] of Object.entries(data.tools)) {
    if (pin && typeof pin.digest === 'string') pins.set(name, { digest: pin.digest, definition: pin.definition ?? null });
  }
  return pins;
}

function lockfileText(pins) {
  const tools = {};
  for (const name of [...pins.keys()].sort()) tools[name] = pins.get(name);
  return `${JSON.stringify({ version: LOCK_VERSION, tools }, null, 2)}\n`;
}

/** Lines that say how `after` differs from `before` (either may be null), field by field. */
function definitionDiff(name, before, after) {
  if (before === null || before === undefined) return [`+ new tool "${name}": ${canonicalJson(after)}`];
  const lines = [`~ tool "${name}" changed:`];
  for (const field of PINNED_FIELDS) {
    const a = canonicalJson(before[field] ?? null);
    const b = canonicalJson(after[field] ?? null);
    if (a !== b) lines.push(`    ${field}: - ${a}`, `    ${field.replace(/./g, ' ')}  + ${b}`);
  }
  return lines;
}

/**
 * The pin check of one wrapped client. `onChange(event)` hears of every
 * change seen (the wrapper records it); `listAll()` lists the server's
 * tools through the wrapped client (so that the list is observed).
 */
class ToolPins {
  #file;
  #block;
  #debug;
  #onChange;
  #pins = null; // name → { digest, definition }, as the lockfile says
  #lockMtime = -1;
  #firstUse = false; // no lockfile: the first complete listing is trusted
  #seen = new Map(); // name → { digest, definition }, as last listed
  #flagged = new Map(); // name → 'changed' | 'new'
  #listed = false;
  #listing = null;

  constructor(file, onToolChange, { debug = false, onChange = null } = {}) {
    if (typeof file !== 'string' || file.length === 0) {
      throw new ExeclaveError('instrumentMcpClient: toolPins must be the path of a JSON lockfile');
    }
    if (onToolChange !== 'warn' && onToolChange !== 'block') {
      throw new ExeclaveError(`instrumentMcpClient: onToolChange must be 'warn' or 'block', got ${String(onToolChange)}`);
    }
    this.#file = file;
    this.#block = onToolChange === 'block';
    this.#debug = debug;
    this.#onChange = onChange;
    // Read now: a corrupt lockfile is a configuration error, told at once.
    this.#reload();
  }

  /** Re-reads the lockfile when it changed on disk (an `accept` while the app runs). */
  #reload() {
    let mtime;
    try {
      mtime = fs.statSync(this.#file).mtimeMs;
    } catch (err) {
      if (err.code !== 'ENOENT') throw new ExeclaveError(`toolPins: cannot read ${this.#file}: ${err.message}`, { cause: err });
      mtime = null;
    }
    if (mtime === this.#lockMtime) return false;
    this.#lockMtime = mtime;
    const pins = mtime === null ? null : readLockfile(this.#file);
    if (pins === null) {
      if (this.#pins === null) this.#firstUse = true;
      this.#pins ??= new Map();
      return false;
    }
    this.#pins = pins;
    this.#firstUse = false;
    // Judge what was seen against the new pins.
    for (const [name, seen] of this.#seen) this.#judge(name, seen);
    return true;
  }

  #judge(name, seen) {
    const pin = this.#pins.get(name);
    if (pin === undefined) this.#flagged.set(name, 'new');
    else if (pin.digest !== seen.digest) this.#flagged.set(name, 'changed');
    else this.#flagged.delete(name);
  }

  /**
   * Takes in one page of a `tools/list` answer. Returns nothing; a change
   * is reported (debug log, `onChange`, the pending file) and, with
   * 'block', flags the tool until the lockfile is updated.
   */
  observe(result) {
    let tools;
    let complete;
    try {
      tools = result.tools;
      complete = !result.nextCursor;
    } catch {
      return;
    }
    if (!Array.isArray(tools)) return;
    this.#reload();
    const thisPage = new Map();
    const changes = [];
    let trusted = false;
    for (const tool of tools) {
      let name;
      try {
        name = tool.name;
      } catch {
        continue;
      }
      if (typeof name !== 'string') continue;
      const definition = pinnedDefinition(tool);
      const seen = { digest: digestOf(definition), definition };
      const twice = thisPage.get(name);
      thisPage.set(name, seen);
      this.#seen.set(name, seen);
      if (this.#firstUse && twice === undefined && !this.#pins.has(name)) {
        this.#pins.set(name, seen);
        trusted = true;
        continue;
      }
      const before = this.#flagged.get(name);
      this.#judge(name, seen);
      // One name listed twice with two definitions: the model may have
      // read either; neither is the pinned one for sure.
      if (twice !== undefined && twice.digest !== seen.digest) this.#flagged.set(name, 'changed');
      const kind = this.#flagged.get(name);
      if (kind !== undefined && kind !== before) changes.push({ tool: name, kind, seen });
    }
    if (trusted) {
      try {
        writeAtomic(this.#file, lockfileText(this.#pins));
        this.#lockMtime = fs.statSync(this.#file).mtimeMs;
      } catch (cause) {
        // Nothing is pinned until it is on disk: the next list tries again.
        for (const [name] of thisPage) if (this.#pins.get(name) === this.#seen.get(name)) this.#pins.delete(name);
        throw new ExeclaveError(`toolPins: cannot write the lockfile ${this.#file}: ${cause.message}`, { cause });
      }
    }
    if (complete) this.#firstUse = false;
    this.#listed = true;
    if (changes.length > 0) this.#report(changes);
  }

  #report(changes) {
    const pending = this.#readPending();
    const at = new Date().toISOString();
    for (const { tool, kind, seen } of changes) {
      const pin = this.#pins.get(tool);
      const diff = definitionDiff(tool, pin ? pin.definition : null, seen.definition);
      pending.tools[tool] = seen;
      pending.changes.push({ at, tool, kind, pinned: pin ? pin.digest : null, seen: seen.digest });
      if (this.#debug) {
        console.warn(
          `[execlave] tool definition ${kind === 'new' ? 'not pinned' : 'changed'} (${this.#block ? 'calls refused' : 'warning only'}); ` +
            `review and run \`npx execlave-pins accept ${this.#file}\`:\n${diff.join('\n')}`,
        );
      }
      if (this.#onChange) {
        try {
          this.#onChange({ tool, kind, pinnedDigest: pin ? pin.digest : null, seenDigest: seen.digest, diff, blocked: this.#block });
        } catch {
          // Recording must not change what the list returns.
        }
      }
    }
    // A server that flips a definition back and forth must not grow the file without bound.
    if (pending.changes.length > MAX_PENDING_CHANGES) pending.changes.splice(0, pending.changes.length - MAX_PENDING_CHANGES);
    try {
      writeAtomic(pendingPath(this.#file), `${JSON.stringify(pending, null, 2)}\n`);
    } catch (err) {
      if (this.#debug) console.warn(`[execlave] could not write ${pendingPath(this.#file)}:`, err);
    }
  }

  #readPending() {
    try {
      const data = JSON.parse(fs.readFileSync(pendingPath(this.#file), 'utf8'));
      if (data && data.version === LOCK_VERSION && data.tools && Array.isArray(data.changes)) return data;
    } catch {
      // None yet, or unreadable: start a new one.
    }
    return { version: LOCK_VERSION, tools: {}, changes: [] };
  }

  /**
   * Why a call to `tool` may not go on (a violation), or null when it may;
   * a promise of either before any list was seen. Before the first list
   * the model cannot have read a definition from this client, but the app
   * may call a tool by a name it knows: the definitions are checked first,
   * by listing them (`listAll`), so a call never skips the check.
   */
  violation(tool, listAll) {
    if (!this.#listed) {
      this.#listing ??= this.#listFirst(listAll);
      return this.#listing.then((unverified) => unverified ?? this.violation(tool, listAll));
    }
    if (!this.#block) return null;
    let kind = this.#flagged.get(tool);
    if (kind === undefined && !this.#pins.has(tool)) kind = 'new'; // never listed, never pinned
    if (kind === undefined) return null;
    if (this.#reload()) return this.violation(tool, listAll);
    return pinViolation(tool, kind, this.#file);
  }

  /** Lists the tools; resolves null, or (with 'block') the violation of a list that failed. */
  async #listFirst(listAll) {
    try {
      await listAll();
    } catch (cause) {
      if (this.#block) {
        this.#listing = null; // try again at the next call
        return pinViolation(null, 'unverified', this.#file, cause);
      }
      if (this.#debug) console.warn('[execlave] could not list tools to check their pins:', cause);
    }
    this.#listed = true;
    return null;
  }
}

/** A violation shaped like the policies' own, naming the pin check as its policy. */
function pinViolation(tool, kind, file, cause) {
  const why =
    kind === 'new'
      ? `tool "${tool}" is not in the pinned tool definitions`
      : kind === 'changed'
        ? `the definition of tool "${tool}" changed since it was pinned`
        : `the tool definitions could not be listed to check them against their pins (${cause && cause.message})`;
  const violation = {
    policyId: PIN_POLICY_ID,
    policyName: PIN_POLICY_NAME,
    policyType: 'tool_pins',
    enforcementMode: 'block',
    severity: 'high',
    message: `${why}; review and run \`npx execlave-pins accept ${file}\``,
    rule: RULE,
  };
  if (tool !== null) violation.tool = tool;
  return violation;
}

module.exports = {
  ToolPins,
  canonicalJson,
  definitionDiff,
  digestOf,
  lockfileText,
  pendingPath,
  readLockfile,
  writeAtomic,
  PIN_POLICY_ID,
};
