'use strict';

// The values path of a governed call (core: policy/values.rs). When an
// argument rule applies to a tool, the core's plan for (agent, tool) names
// the few argument values its rules read; this reads just those from the
// call's argument snapshot and hands them over as strings and numbers,
// instead of the whole arguments as JSON text that Rust parses again.
// The core only answers "allowed" here: anything else (a refusal, a
// warning, the control plane, a value of another shape) is left to the
// full decision on the JSON, so the answer cannot differ from it.

const native = require('./native');
const { isUnreadable } = require('./governance');

// `decideValues`' answer when the plan it was read for is no longer in
// force (new policies, an agent resolved anew): read the plan again.
const STALE = -3;

// An array index as serde_json's JSON Pointer reads one: `0`, or digits
// without a leading zero.
const ARRAY_INDEX = /^(?:0|[1-9][0-9]*)$/;

/**
 * The value at one of the plan's lookups in `args`, a snapshot (plain
 * objects and arrays from `jsonSnapshot`, so reading it runs no caller
 * code), found as the core finds it: own keys of objects, array indexes
 * for JSON Pointers; `undefined` when there is none.
 */
function valueAt(args, tokens, objectOnly) {
  let at = args;
  for (let i = 0; i < tokens.length; i++) {
    if (at === null || typeof at !== 'object') return undefined;
    const token = tokens[i];
    if (Array.isArray(at)) {
      if (objectOnly || !ARRAY_INDEX.test(token)) return undefined;
      const index = Number(token);
      if (index >= at.length) return undefined;
      at = at[index];
    } else {
      if (!Object.hasOwn(at, token)) return undefined;
      at = at[token];
    }
  }
  return at;
}

/** One crossing with the plan's values; its answer as `decideValues` gives it. */
function decideOnValues(handle, toolId, plan, args) {
  const { id, tokens, objectOnly } = plan;
  // Calls with a fixed number of arguments: no array to spread, per call.
  switch (tokens.length) {
    case 0:
      return native.decideValues(handle, toolId, id);
    case 1:
      return native.decideValues(handle, toolId, id, valueAt(args, tokens[0], objectOnly[0]));
    case 2:
      return native.decideValues(
        handle,
        toolId,
        id,
        valueAt(args, tokens[0], objectOnly[0]),
        valueAt(args, tokens[1], objectOnly[1]),
      );
    default: {
      const values = [handle, toolId, id];
      for (let i = 0; i < tokens.length; i++) values.push(valueAt(args, tokens[i], objectOnly[i]));
      return native.decideValues(...values);
    }
  }
}

/**
 * The ticket of a call of tool `toolId` (interned) whose argument rules all
 * pass `args` (its snapshot) with nothing to report, or -1: make the full
 * decision. `plans` caches the plan per tool id for one registration;
 * `handle` is that registration's.
 */
function valuesTicket(handle, toolId, args, plans) {
  if (isUnreadable(args)) return -1;
  let plan = plans.get(toolId);
  if (plan === undefined) plan = readPlan(handle, toolId, plans);
  if (plan === null) return -1;
  const ticket = decideOnValues(handle, toolId, plan, args);
  if (ticket !== STALE) return typeof ticket === 'number' ? ticket : -1;
  // Policies changed since the plan was read: the call is checked against
  // the plan now in force, read again, or by the full decision.
  plan = readPlan(handle, toolId, plans);
  if (plan === null) return -1;
  const again = decideOnValues(handle, toolId, plan, args);
  return typeof again === 'number' && again >= 0 ? again : -1;
}

function readPlan(handle, toolId, plans) {
  const plan = native.argumentPlan(handle, toolId) ?? null;
  plans.set(toolId, plan);
  return plan;
}

module.exports = { valuesTicket, valueAt };
