// What the client answers belongs to the caller: an odd rejection value (a
// null-prototype object, a throwing `message` getter, a Proxy that throws
// on every read) or an odd result (a throwing `isError` getter) reaches the
// caller as it was, the very same object, and the call is still recorded.
// The odd values come out of the real MCP Client: a caller's own result
// schema (a zod transform) makes them, as the SDK allows.

import { test, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { z } from 'zod';
import { readAuditLog } from './helpers/audit-log.mjs';
import { governedPair } from './helpers/governed-pair.mjs';

let pair;
let exe;
let auditLog;
let close;

beforeEach(async () => {
  ({ pair, exe, auditLog, close } = await governedPair());
});

afterEach(() => close());

async function records() {
  await exe.flush();
  return readAuditLog(auditLog);
}

/** A result schema whose parse throws `value` as the call's rejection. */
const throwing = (value) =>
  z.any().transform(() => {
    throw value;
  });

/** A result schema whose parse answers `value` as the call's result. */
const answering = (value) => z.any().transform(() => value);

function nullPrototype() {
  const o = Object.create(null);
  o.code = 'E_ODD';
  return o;
}

function throwingMessage() {
  const e = new Error('hidden');
  Object.defineProperty(e, 'message', {
    get() {
      throw new Error('message getter says no');
    },
  });
  return e;
}

/** Throws on every read but of `then`: promises read that of any value they resolve with. */
function throwsOnEveryRead() {
  return new Proxy(
    {},
    {
      get(_, key) {
        if (key === 'then') return undefined;
        throw new Error('no reads');
      },
      has() {
        throw new Error('no has');
      },
      ownKeys() {
        throw new Error('no keys');
      },
    },
  );
}

function describeSafely(value) {
  try {
    return value instanceof Error ? value.stack : String(value);
  } catch {
    return typeof value;
  }
}

const viaCallTool = (schema) => pair.client.callTool({ name: 'echo', arguments: { text: 'odd' } }, schema);
const viaRequest = (schema) =>
  pair.client.request({ method: 'tools/call', params: { name: 'echo', arguments: { text: 'odd' } } }, schema);

for (const [how, send] of [
  ['callTool', viaCallTool],
  ['request', viaRequest],
]) {
  for (const [what, make] of [
    ['a null-prototype object', nullPrototype],
    ['an error whose message getter throws', throwingMessage],
    ['a Proxy that throws on every read', throwsOnEveryRead],
    ['a string', () => 'plain string reason'],
    ['undefined', () => undefined],
  ]) {
    test(`${how}: a rejection with ${what} reaches the caller unchanged and is recorded`, async () => {
      const odd = make();
      let caught = 'no rejection';
      await send(throwing(odd)).then(
        () => assert.fail('the call resolved'),
        (e) => {
          caught = e;
        },
      );
      // Compared before anything reads it: the odd value may throw on any read.
      if (caught !== odd) assert.fail(`the caller got another value: ${describeSafely(caught)}`);
      assert.equal(pair.ran.echo, 1, 'the call did reach the server');
      const recs = await records();
      assert.equal(recs.length, 1);
      assert.equal(recs[0].status, 'error');
      assert.equal(recs[0].metadata.toolName, 'echo');
      assert.equal(typeof recs[0].errorMessage, 'string');
    });
  }

  test(`${how}: a result whose isError getter throws reaches the caller unchanged and is recorded`, async () => {
    const odd = {
      content: [{ type: 'text', text: 'odd' }],
      get isError() {
        throw new Error('isError getter says no');
      },
    };
    const result = await send(answering(odd));
    assert.ok(result === odd, 'the caller got another value than the client answered');
    const recs = await records();
    assert.equal(recs.length, 1);
    assert.equal(recs[0].metadata.toolName, 'echo');
  });

  test(`${how}: a result that is a Proxy throwing on every read reaches the caller unchanged and is recorded`, async () => {
    const odd = throwsOnEveryRead();
    const result = await send(answering(odd)).catch((e) => assert.fail(`the call rejected: ${e && e.stack}`));
    assert.ok(result === odd);
    const recs = await records();
    assert.equal(recs.length, 1);
  });
}
