// The arguments' snapshot is what the call sends and what the policy check
// reads (as its JSON text): it must be exactly what JSON would carry, or a
// check could pass on one value and the server receive another.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { jsonSnapshot } = require('../lib/governance.js');

/** JSON's own round trip, the reference. */
const viaJson = (v) => JSON.parse(JSON.stringify(v));

function assertSameAsJson(value, label) {
  const copy = jsonSnapshot(value);
  assert.equal(JSON.stringify(copy), JSON.stringify(value), label);
  assert.deepEqual(copy, viaJson(value), label);
}

test('matches JSON on the odd cases', () => {
  const date = new Date(Date.UTC(2026, 10, 24));
  const cases = {
    primitives: { s: 'x', n: 1.5, t: true, f: false, z: null, neg0: -0 },
    'non-finite numbers': { a: NaN, b: Infinity, c: -Infinity, arr: [NaN] },
    'dropped values': { u: undefined, fn() {}, sym: Symbol('s'), keep: 1 },
    'dropped values in arrays become null': [undefined, () => 1, Symbol('s'), 2],
    holes: [1, , 3], // eslint-disable-line no-sparse-arrays
    'toJSON and Date': { when: date, custom: { toJSON: (key) => `key=${key}` }, list: [{ toJSON: (k) => k }] },
    'boxed primitives': { n: Object(5), s: Object('str'), b: Object(false) },
    'integer-like keys come first': { b: 1, 2: 'two', a: 2, 1: 'one' },
    'symbol keys are skipped': { [Symbol('k')]: 1, visible: 2 },
    'inherited properties are skipped': Object.assign(Object.create({ inherited: 1 }), { own: 2 }),
    'non-enumerable properties are skipped': Object.defineProperty({ a: 1 }, 'hidden', { value: 2 }),
    'Map, Set, RegExp, typed arrays': { m: new Map([[1, 2]]), s: new Set([1]), r: /x/g, t: new Uint8Array([1, 2]) },
    'shared (not circular) references': (() => {
      const shared = { v: 1 };
      return { a: shared, b: [shared, shared] };
    })(),
    'empty containers and deep nesting': { a: {}, b: [], c: [[[[{ d: [[]] }]]]] },
    'unicode and lone surrogates': { s: 'é 中 🎉 \ud800 \u2028' },
  };
  for (const [label, value] of Object.entries(cases)) assertSameAsJson(value, label);
  assert.equal(jsonSnapshot(date), date.toJSON(), 'a top-level toJSON gets the empty key');
});

test('an own "__proto__" key stays a key and never becomes the prototype', () => {
  const value = JSON.parse('{"__proto__": {"polluted": true}, "a": 1}');
  const copy = jsonSnapshot(value);
  assert.equal(Object.getPrototypeOf(copy), Object.prototype);
  assert.equal(copy.polluted, undefined);
  assert.equal(JSON.stringify(copy), '{"__proto__":{"polluted":true},"a":1}');
});

test('getters run once, and the copy is detached from the original', () => {
  let reads = 0;
  const value = {
    get once() {
      reads += 1;
      return { n: reads };
    },
  };
  const copy = jsonSnapshot(value);
  assert.equal(reads, 1);
  assert.deepEqual(copy, { once: { n: 1 } });
  const nested = { inner: { list: [1, { x: 1 }] } };
  const c = jsonSnapshot(nested);
  nested.inner.list[1].x = 2;
  nested.inner.list.push(3);
  assert.deepEqual(c, { inner: { list: [1, { x: 1 }] } });
});

test('throws where JSON.stringify throws', () => {
  const circular = { a: [] };
  circular.a.push(circular);
  assert.throws(() => jsonSnapshot(circular), TypeError);
  assert.throws(() => jsonSnapshot({ n: 1n }), TypeError);
  assert.throws(() => jsonSnapshot([Object(1n)]), TypeError);
  let deep = {};
  for (let i = 0; i < 200_000; i++) deep = { d: deep };
  assert.throws(() => jsonSnapshot(deep), RangeError);
});

test('matches JSON on random values', () => {
  // A small deterministic generator (no dependency), seeded per run.
  let seed = 0x9e3779b9;
  const rand = () => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) / 2 ** 32;
  };
  const pick = (xs) => xs[Math.floor(rand() * xs.length)];
  const leaves = [0, -1, 1e21, 3.14, NaN, '', 'text', 'ü\n"', true, false, null, undefined, () => 0];
  function gen(depth) {
    const r = rand();
    if (depth > 4 || r < 0.4) return pick(leaves);
    if (r < 0.7) return Array.from({ length: Math.floor(rand() * 5) }, () => gen(depth + 1));
    const o = {};
    for (let i = Math.floor(rand() * 5); i > 0; i--) o[pick(['a', 'b', '1', '10', 'key', '__proto__x', 'é'])] = gen(depth + 1);
    return o;
  }
  for (let i = 0; i < 2000; i++) assertSameAsJson({ root: gen(0) }, `case ${i}`);
});
