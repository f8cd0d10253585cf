'use strict';

// `hideBlockedTools`: a tool listing without the tools the agent's policies
// refuse by name. A model that is shown a tool plans around it; one that
// never sees it does not waste a turn on a call that must fail. Hiding is
// a courtesy to the model, not the enforcement: a hidden tool called by
// name anyway is still decided, and refused, like any other call.

const { AsyncLocalStorage } = require('node:async_hooks');

/**
 * A copy of a `tools/list` result (a page, or `listTools()`'s aggregate)
 * without the tools `refusedByName` refuses; the result itself when none
 * is. Every other field (`nextCursor` included) is kept, so paging goes on
 * as the server pages. The SDK's own object is never changed: the 2.x
 * client caches it, and the next listing must see the server's list under
 * the policies of that moment. Tools whose `name` is not a string are
 * left in: no policy names them, and no call can be made to them.
 *
 * @param {unknown} result the answer to tools/list
 * @param {(names: string[]) => boolean[]} refusedByName one crossing per listing
 */
function withoutRefusedTools(result, refusedByName) {
  if (result === null || typeof result !== 'object') return result;
  const tools = result.tools;
  if (!Array.isArray(tools) || tools.length === 0) return result;
  const names = [];
  const positions = [];
  for (let i = 0; i < tools.length; i++) {
    const tool = tools[i];
    const name = tool !== null && typeof tool === 'object' ? tool.name : undefined;
    if (typeof name === 'string') {
      names.push(name);
      positions.push(i);
    }
  }
  if (names.length === 0) return result;
  const refused = refusedByName(names);
  const hidden = new Set();
  for (let k = 0; k < positions.length; k++) if (refused[k] === true) hidden.add(positions[k]);
  if (hidden.size === 0) return result;
  return { ...result, tools: tools.filter((_, i) => !hidden.has(i)) };
}

/**
 * Marks the SDK's own `tools/list` requests made for a `listTools()` call,
 * across its awaits (the 2.x client pages and caches before it returns):
 * those pages are not filtered at `request`, only the answer `listTools`
 * returns is. Filtering the pages too would put the filtered list in the
 * 2.x client's cache, and a tool allowed again by a policy change would
 * stay missing from later listings served from it.
 */
class ListingScope {
  #inside = new AsyncLocalStorage();

  /** Runs `list` as a `listTools()` call. */
  run(list) {
    return this.#inside.run(true, list);
  }

  /** True within a `run`, across its awaits. */
  active() {
    return this.#inside.getStore() === true;
  }
}

module.exports = { withoutRefusedTools, ListingScope };
