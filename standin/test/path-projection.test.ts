/**
 * The plain-path projections (standin/src/path-projection.ts) held to the general engine's answers (mingo,
 * engineStage): random documents of nested documents, arrays, arrays of arrays and scalars of several BSON
 * types, random path sets; the two outputs must hold the same fields in the same order with the same values.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Binary, EJSON, Long, type Document } from 'bson';
import { engineStage, runPipeline } from '../src/mql-stages.ts';
import { plainInclusion, plainUnset } from '../src/path-projection.ts';
// Seeded, so a failure names a seed that reproduces it.
import { prng as rng } from '../src/prng.ts';

const NAMES = ['a', 'b', 'c', 'd', '_id'];

function value(r: () => number, depth: number, nested: boolean, inArray = false): unknown {
  const k = Math.floor(r() * (depth > 2 || (inArray && !nested) ? 6 : 9));
  switch (k) {
    case 0: return Math.floor(r() * 100);
    case 1: return 'text';
    case 2: return null;
    case 3: return Long.fromNumber(2 ** 40 + Math.floor(r() * 10));
    case 4: return new Date(1_700_000_000_000 + Math.floor(r() * 1000));
    case 5: return new Binary(Buffer.from([1, 2, Math.floor(r() * 255)]), 4);
    case 6: case 7: return doc(r, depth + 1, nested);
    default: return Array.from({ length: Math.floor(r() * 4) }, () => value(r, depth + 1, nested, true));
  }
}

/** A random document; `nested`: arrays may hold arrays (scalars and documents only, otherwise). */
function doc(r: () => number, depth: number, nested: boolean): Document {
  const d: Document = {};
  for (const n of NAMES) if (r() < 0.6 && !(n === '_id' && depth > 0)) d[n] = value(r, depth, nested);
  return d;
}

function paths(r: () => number): string[] {
  const out = new Set<string>();
  const n = 1 + Math.floor(r() * 4);
  for (let i = 0; i < n; i++) {
    const len = 1 + Math.floor(r() * 3);
    out.add(Array.from({ length: len }, () => NAMES[Math.floor(r() * 4)]).join('.'));
  }
  return [...out];
}

// Relaxed Extended JSON: field order and values compared, numbers as numbers. The engine's way out turns a Long
// inside an array into a double (engine-values.ts matches wrappers by position only in documents); the plain
// path hands every value on as it came, wrapper included.
const bytes = (docs: Iterable<Document>) => [...docs].map((d) => EJSON.stringify(d, { relaxed: true }));
const ctx = { now: new Date(0) };

test('$project of plain paths and $unset give the engine\'s answers on 2,000 random documents and path sets', () => {
  let compared = 0;
  let engineCrashes = 0;
  for (let seed = 1; seed <= 2000; seed++) {
    const r = rng(seed);
    const docs = Array.from({ length: 3 }, () => doc(r, 0, true));
    // mingo's $unset leaves arrays nested in arrays untouched; the server recurses into them (asserted below).
    const flat = Array.from({ length: 3 }, () => doc(r, 0, false));
    const ps = paths(r);
    const project = Object.fromEntries(ps.map((p) => [p, 1]));
    const inclusion = plainInclusion(project);
    const unset = plainUnset(ps);
    if (!inclusion || !unset) continue; // colliding paths: the engine's (it raises the server's error)
    compared++;
    assert.deepEqual(bytes(docs.map(inclusion)), bytes(engineStage(docs, '$project', project, ctx)), `$project ${JSON.stringify(project)} (seed ${seed}) on ${EJSON.stringify(docs)}`);
    let engine: string[];
    try {
      engine = bytes(engineStage(flat, '$unset', ps, ctx));
    } catch (e) {
      // mingo 7.2.7 throws a TypeError on $unset through a null inside an array (walk reads null.a); the server
      // keeps the null: that case is asserted on its own below.
      if (!(e instanceof TypeError)) throw e;
      engineCrashes++;
      continue;
    }
    assert.deepEqual(bytes(flat.map(unset)), engine, `$unset ${JSON.stringify(ps)} (seed ${seed}) on ${EJSON.stringify(flat)}`);
  }
  assert.ok(compared > 1000, `${compared} path sets compared`);
  assert.ok(engineCrashes < compared / 10, `the engine crashed on ${engineCrashes} of ${compared}`);
});

test('$unset through a null or a scalar inside an array keeps it (where mingo throws)', () => {
  const unset = plainUnset(['c.a.a'])!;
  assert.deepEqual(unset({ c: [null, 5, { a: null }, { a: [null, { a: 1, b: 2 }] }] }), { c: [null, 5, { a: null }, { a: [null, { b: 2 }] }] });
});

test('specs the plain path cannot take go to the engine, with its errors', () => {
  assert.equal(plainInclusion({ a: 1, 'a.b': 1 }), null, 'a path collision');
  assert.equal(plainInclusion({ a: 0 }), null, 'an exclusion');
  assert.equal(plainInclusion({ a: '$b' }), null, 'an expression');
  assert.equal(plainInclusion({ '$a': 1 }), null, 'a "$" name');
  assert.equal(plainUnset(['a.', 'b']), null, 'an empty part');
  assert.throws(() => [...runPipeline([{ a: { b: 1 } }], [{ $project: { a: 1, 'a.b': 1 } }], ctx)], /Path collision at a/);
});

test('arrays nested in arrays are recursed into, as aggregation projections do (kRecurseNestedArrays)', () => {
  // src/mongo/db/query/projection_policies.h: kArrayRecursionPolicyDefault is kRecurseNestedArrays, and
  // projection_node.cpp applies the projection to each element of a nested array under that policy.
  const input = { a: [[{ b: 1, c: 2 }, 3], { b: 4, c: 5 }, 6] };
  assert.deepEqual(plainInclusion({ 'a.b': 1 })!(input), { a: [[{ b: 1 }], { b: 4 }] });
  assert.deepEqual(plainUnset('a.b')!(input), { a: [[{ c: 2 }, 3], { c: 5 }, 6] });
});
