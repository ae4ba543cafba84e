import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Binary, BSONRegExp, Decimal128, Double, Int32, Long, MaxKey, MinKey, ObjectId, Timestamp, UUID } from 'bson';
import { CommandError } from '../src/errors.ts';
import { canonicalTypeOrder, compareValues, deepClone, getPath, typeName, valuesEqual } from '../src/bsonutil.ts';
import { applyUpdate, compileFilter, upsertSeed, type Document } from '../src/query.ts';

/** The documents of `docs` that `filter` matches, by _id. */
function ids(filter: Document, docs: Document[]): unknown[] {
  const pred = compileFilter(filter);
  return docs.filter(pred).map((d) => d._id);
}

function assertCommandError(fn: () => unknown, code: number, codeName: string, message: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof CommandError, `expected a CommandError, got ${String(e)}`);
    assert.equal(e.code, code);
    assert.equal(e.codeName, codeName);
    assert.equal(e.message, message);
    return true;
  });
}

// ------------------------------------------------------------------------------------------
// BSON values (bsonutil)
// ------------------------------------------------------------------------------------------

test('compareValues follows the BSON comparison order across types', () => {
  // Prepare: one value of each type, from lowest to highest
  const ordered = [
    new MinKey(),
    null,
    -5,
    'abc',
    { a: 1 },
    [1],
    new Binary(Buffer.from([1])),
    new ObjectId('000000000000000000000001'),
    false,
    new Date(0),
    new Timestamp({ t: 1, i: 1 }),
    /re/,
    new MaxKey(),
  ];
  // Act
  const shuffled = [...ordered].reverse().sort(compareValues);
  // Assess
  assert.deepEqual(shuffled, ordered);
  assert.deepEqual(ordered.map(canonicalTypeOrder), [-1, 5, 10, 15, 20, 25, 30, 35, 40, 45, 47, 50, 127]);
});

test('numbers compare by value across int, long, double and decimal', () => {
  // Prepare / Act / Assess
  assert.equal(compareValues(1, Long.fromNumber(1)), 0);
  assert.equal(compareValues(new Int32(2), 1.5), 1);
  assert.equal(compareValues(Decimal128.fromString('2.5'), new Double(2.25)), 1);
  assert.equal(compareValues(Long.fromString('9007199254740993'), 9007199254740992), 1);
  assert.equal(compareValues(NaN, -Infinity), -1);
  assert.ok(valuesEqual(NaN, NaN));
});

test('BinData compares by length, then subtype, then bytes', () => {
  // Prepare
  const short = new Binary(Buffer.from([9]), 5);
  const longer = new Binary(Buffer.from([0, 0]), 0);
  const sub0 = new Binary(Buffer.from([1, 2]), 0);
  const sub4 = new Binary(Buffer.from([0, 0]), 4);
  // Act / Assess
  assert.equal(compareValues(short, longer), -1);
  assert.equal(compareValues(sub0, sub4), -1);
  assert.equal(compareValues(longer, sub0), -1);
  assert.equal(compareValues(new UUID('00000000-0000-0000-0000-000000000001'), new UUID('00000000-0000-0000-0000-000000000001')), 0);
});

test('documents compare field by field, arrays element by element', () => {
  // Prepare / Act / Assess
  assert.equal(compareValues({ a: 1 }, { a: 1, b: 0 }), -1);
  assert.equal(compareValues({ a: 1 }, { b: 1 }), -1);
  assert.equal(compareValues({ a: 'x' }, { a: 1 }), 1);
  assert.equal(compareValues([1, 2], [1, 3]), -1);
  assert.equal(compareValues([2], [1, 9]), 1);
});

test('getPath returns every value a path reaches through arrays', () => {
  // Prepare
  const doc = { a: [{ b: 1 }, { b: [2, 3] }, { c: 4 }, 5], x: { y: null } };
  // Act / Assess
  assert.deepEqual(getPath(doc, 'a.b'), [1, 2, 3, [2, 3], undefined]);
  // A numeric part also looks for a field named "1" in every document element (missing there).
  assert.deepEqual(getPath(doc, 'a.1.b'), [undefined, undefined, 2, 3, [2, 3], undefined]);
  assert.deepEqual(getPath(doc, 'x.y'), [null]);
  assert.deepEqual(getPath(doc, 'x.y.z'), [undefined]);
  assert.deepEqual(getPath({ a: [1, 2] }, 'a', { leafArrays: false }), [[1, 2]]);
});

test('typeName gives the server type names', () => {
  // Prepare
  const values = [1.5, 'x', {}, [], new Binary(Buffer.alloc(1)), new ObjectId(), true, new Date(), null, /x/, new BSONRegExp('x', 'i'), 1, new Timestamp({ t: 0, i: 0 }), Long.fromNumber(1), Decimal128.fromString('1'), undefined];
  // Act
  const names = values.map(typeName);
  // Assess
  assert.deepEqual(names, ['double', 'string', 'object', 'array', 'binData', 'objectId', 'bool', 'date', 'null', 'regex', 'regex', 'int', 'timestamp', 'long', 'decimal', 'missing']);
});

test('deepClone copies documents, arrays, dates and binaries', () => {
  // Prepare
  const doc = { a: { b: [1, { c: 2 }] }, d: new Date(5), bin: new Binary(Buffer.from([1])), id: new ObjectId() };
  // Act
  const copy = deepClone(doc);
  (copy.a.b[1] as { c: number }).c = 3;
  copy.d.setTime(6);
  // Assess
  assert.equal((doc.a.b[1] as { c: number }).c, 2);
  assert.equal(doc.d.getTime(), 5);
  assert.notEqual(copy.bin, doc.bin);
  assert.ok(valuesEqual(copy.bin, doc.bin));
  assert.equal(copy.id, doc.id);
});

// ------------------------------------------------------------------------------------------
// Filters
// ------------------------------------------------------------------------------------------

test('implicit equality matches scalars and numbers of any numeric type', () => {
  // Prepare
  const docs = [
    { _id: 1, a: 5 },
    { _id: 2, a: new Int32(5) },
    { _id: 3, a: Long.fromNumber(5) },
    { _id: 4, a: Decimal128.fromString('5.0') },
    { _id: 5, a: '5' },
    { _id: 6, a: new Double(5) },
  ];
  // Act
  const matched = ids({ a: 5 }, docs);
  // Assess
  assert.deepEqual(matched, [1, 2, 3, 4, 6]);
});

test('equality on an array field matches an element or the whole array', () => {
  // Prepare
  const docs = [
    { _id: 1, tags: ['red', 'blue'] },
    { _id: 2, tags: ['green'] },
    { _id: 3, tags: [['red', 'blue'], 'x'] },
    { _id: 4, tags: 'red' },
  ];
  // Act
  const byElement = ids({ tags: 'red' }, docs);
  const byWholeArray = ids({ tags: ['red', 'blue'] }, docs);
  const wrongOrder = ids({ tags: ['blue', 'red'] }, docs);
  // Assess
  assert.deepEqual(byElement, [1, 4]);
  assert.deepEqual(byWholeArray, [1, 3]);
  assert.deepEqual(wrongOrder, []);
});

test('dotted paths reach through arrays of documents and by array index', () => {
  // Prepare
  const docs = [
    { _id: 1, items: [{ sku: 'a', qty: 1 }, { sku: 'b', qty: 5 }] },
    { _id: 2, items: [{ sku: 'c', qty: 2 }] },
    { _id: 3, items: { sku: 'b' } },
    { _id: 4, items: [[{ sku: 'b' }]] },
  ];
  // Act
  const bySku = ids({ 'items.sku': 'b' }, docs);
  const byIndex = ids({ 'items.1.sku': 'b' }, docs);
  const byQty = ids({ 'items.qty': { $gt: 4 } }, docs);
  // Assess
  assert.deepEqual(bySku, [1, 3]); // nested arrays are not descended by field name
  assert.deepEqual(byIndex, [1]);
  assert.deepEqual(byQty, [1]);
});

test('null matches missing fields and null, but not other values', () => {
  // Prepare
  const docs = [
    { _id: 1, a: null },
    { _id: 2 },
    { _id: 3, a: 0 },
    { _id: 4, a: [null, 1] },
    { _id: 5, a: [1, 2] },
    { _id: 6, a: { b: null } },
  ];
  // Act
  const eqNull = ids({ a: null }, docs);
  const neNull = ids({ a: { $ne: null } }, docs);
  const existsFalse = ids({ a: { $exists: false } }, docs);
  // Assess
  assert.deepEqual(eqNull, [1, 2, 4]);
  assert.deepEqual(neNull, [3, 5, 6]);
  assert.deepEqual(existsFalse, [2]);
});

test('null on a dotted path matches array elements that lack the field, not arrays of scalars', () => {
  // Prepare
  const docs = [
    { _id: 1, a: [{ b: 1 }, { c: 1 }] },
    { _id: 2, a: [1, 2] },
    { _id: 3, a: 5 },
    { _id: 4, a: [] },
    { _id: 5, a: [{ b: 1 }] },
  ];
  // Act
  const matched = ids({ 'a.b': null }, docs);
  // Assess
  assert.deepEqual(matched, [1, 3]);
});

test('comparisons only match values of the same canonical type (type bracketing)', () => {
  // Prepare
  const docs = [
    { _id: 1, v: 10 },
    { _id: 2, v: 'abc' },
    { _id: 3, v: new Date(0) },
    { _id: 4, v: null },
    { _id: 5 },
    { _id: 6, v: Long.fromNumber(3) },
    { _id: 7, v: true },
  ];
  // Act
  const gtNumber = ids({ v: { $gt: 2 } }, docs);
  const ltString = ids({ v: { $lt: 'zzz' } }, docs);
  const gtDate = ids({ v: { $gt: new Date(-1) } }, docs);
  const gteNull = ids({ v: { $gte: null } }, docs);
  const gtNull = ids({ v: { $gt: null } }, docs);
  // Assess
  assert.deepEqual(gtNumber, [1, 6]);
  assert.deepEqual(ltString, [2]);
  assert.deepEqual(gtDate, [3]);
  assert.deepEqual(gteNull, [4, 5]);
  assert.deepEqual(gtNull, []);
});

test('MinKey and MaxKey bounds match every value on their side', () => {
  // Prepare
  const docs = [{ _id: 1, v: 1 }, { _id: 2, v: 'x' }, { _id: 3, v: new MinKey() }];
  // Act
  const gtMin = ids({ v: { $gt: new MinKey() } }, docs);
  const ltMax = ids({ v: { $lt: new MaxKey() } }, docs);
  // Assess
  assert.deepEqual(gtMin, [1, 2]);
  assert.deepEqual(ltMax, [1, 2, 3]);
});

test('comparison operators on arrays compare the elements', () => {
  // Prepare
  const docs = [{ _id: 1, scores: [1, 9] }, { _id: 2, scores: [2, 3] }];
  // Act
  const matched = ids({ scores: { $gt: 8 } }, docs);
  const range = ids({ scores: { $gt: 1, $lt: 3 } }, docs); // each bound by any element
  // Assess
  assert.deepEqual(matched, [1]);
  assert.deepEqual(range, [1, 2]);
});

test('$eq and $ne', () => {
  // Prepare
  const docs = [{ _id: 1, a: [1, 2] }, { _id: 2, a: 3 }, { _id: 3 }];
  // Act
  const eq = ids({ a: { $eq: 2 } }, docs);
  const ne = ids({ a: { $ne: 2 } }, docs);
  // Assess
  assert.deepEqual(eq, [1]);
  assert.deepEqual(ne, [2, 3]);
});

test('$in and $nin with null, regexes and arrays', () => {
  // Prepare
  const docs = [
    { _id: 1, s: 'apple' },
    { _id: 2, s: 'banana' },
    { _id: 3 },
    { _id: 4, s: ['cherry', 'kiwi'] },
    { _id: 5, s: Long.fromNumber(7) },
  ];
  // Act
  const inList = ids({ s: { $in: ['banana', /^ch/, 7] } }, docs);
  const inNull = ids({ s: { $in: [null] } }, docs);
  const nin = ids({ s: { $nin: ['apple', 'kiwi'] } }, docs);
  // Assess
  assert.deepEqual(inList, [2, 4, 5]);
  assert.deepEqual(inNull, [3]);
  assert.deepEqual(nin, [2, 3, 5]);
});

test('$exists', () => {
  // Prepare
  const docs = [{ _id: 1, a: null }, { _id: 2 }, { _id: 3, a: { b: 1 } }, { _id: 4, a: [] }];
  // Act
  const exists = ids({ a: { $exists: true } }, docs);
  const nested = ids({ 'a.b': { $exists: 1 } }, docs);
  // Assess
  assert.deepEqual(exists, [1, 3, 4]);
  assert.deepEqual(nested, [3]);
});

test('$type by alias, by code, "number" and arrays', () => {
  // Prepare
  const docs = [
    { _id: 1, v: 1 },
    { _id: 2, v: 1.5 },
    { _id: 3, v: 'x' },
    { _id: 4, v: Long.fromNumber(1) },
    { _id: 5, v: [1, 'x'] },
    { _id: 6, v: new ObjectId() },
    { _id: 7, v: null },
    { _id: 8 },
  ];
  // Act
  const strings = ids({ v: { $type: 'string' } }, docs);
  const doubles = ids({ v: { $type: 1 } }, docs);
  const numbers = ids({ v: { $type: 'number' } }, docs);
  const several = ids({ v: { $type: ['objectId', 'null'] } }, docs);
  const arrays = ids({ v: { $type: 'array' } }, docs);
  // Assess
  assert.deepEqual(strings, [3, 5]);
  assert.deepEqual(doubles, [2]);
  assert.deepEqual(numbers, [1, 2, 4, 5]);
  assert.deepEqual(several, [6, 7]);
  assert.deepEqual(arrays, [5]);
});

test('$type with an unknown alias is BadValue', () => {
  // Prepare
  const filter = { v: { $type: 'strin' } };
  // Act / Assess
  assertCommandError(() => compileFilter(filter), 2, 'BadValue', 'Unknown type name alias: strin');
});

test('$regex with $options, RegExp values and arrays of strings', () => {
  // Prepare
  const docs = [
    { _id: 1, name: 'Alice' },
    { _id: 2, name: 'alison' },
    { _id: 3, name: ['bob', 'ALBERT'] },
    { _id: 4, name: 42 },
  ];
  // Act
  const caseInsensitive = ids({ name: { $regex: '^al', $options: 'i' } }, docs);
  const regexValue = ids({ name: /^Al/ }, docs);
  const extended = ids({ name: { $regex: '^ a l # comment', $options: 'xi' } }, docs);
  // Assess
  assert.deepEqual(caseInsensitive, [1, 2, 3]);
  assert.deepEqual(regexValue, [1]);
  assert.deepEqual(extended, [1, 2, 3]);
});

test('$not negates an operator expression or a regex, and matches missing fields', () => {
  // Prepare
  const docs = [{ _id: 1, n: 5 }, { _id: 2, n: 15 }, { _id: 3 }, { _id: 4, n: 'abc' }];
  // Act
  const notGt = ids({ n: { $not: { $gt: 10 } } }, docs);
  const notRegex = ids({ n: { $not: /^a/ } }, docs);
  // Assess
  assert.deepEqual(notGt, [1, 3, 4]);
  assert.deepEqual(notRegex, [1, 2, 3]);
});

test('$and, $or and $nor', () => {
  // Prepare
  const docs = [{ _id: 1, a: 1, b: 1 }, { _id: 2, a: 1, b: 2 }, { _id: 3, a: 2, b: 2 }];
  // Act
  const and = ids({ $and: [{ a: 1 }, { b: 2 }] }, docs);
  const or = ids({ $or: [{ a: 2 }, { b: 1 }] }, docs);
  const nor = ids({ $nor: [{ a: 2 }, { b: 1 }] }, docs);
  // Assess
  assert.deepEqual(and, [2]);
  assert.deepEqual(or, [1, 3]);
  assert.deepEqual(nor, [2]);
});

test('$and/$or/$nor require a non-empty array of documents', () => {
  // Prepare / Act / Assess
  assertCommandError(() => compileFilter({ $or: {} }), 2, 'BadValue', '$or must be an array');
  assertCommandError(() => compileFilter({ $and: [] }), 2, 'BadValue', '$and/$or/$nor must be a nonempty array');
  assertCommandError(() => compileFilter({ $nor: [1] }), 2, 'BadValue', '$or/$and/$nor entries need to be full objects');
});

test('$elemMatch on documents and on values', () => {
  // Prepare
  const docs = [
    { _id: 1, results: [{ product: 'abc', score: 10 }, { product: 'xyz', score: 5 }] },
    { _id: 2, results: [{ product: 'abc', score: 8 }, { product: 'xyz', score: 7 }] },
    { _id: 3, scores: [82, 85, 88] },
    { _id: 4, scores: [75, 88, 89] },
  ];
  // Act
  const objectForm = ids({ results: { $elemMatch: { product: 'xyz', score: { $gte: 7 } } } }, docs);
  const valueForm = ids({ scores: { $elemMatch: { $gte: 80, $lt: 85 } } }, docs);
  // Assess
  assert.deepEqual(objectForm, [2]);
  assert.deepEqual(valueForm, [3]);
});

test('$size matches arrays of that length only', () => {
  // Prepare
  const docs = [{ _id: 1, a: [1, 2] }, { _id: 2, a: [[1, 2]] }, { _id: 3, a: 'xy' }, { _id: 4, a: [] }];
  // Act
  const two = ids({ a: { $size: 2 } }, docs);
  const zero = ids({ a: { $size: 0 } }, docs);
  // Assess
  assert.deepEqual(two, [1]);
  assert.deepEqual(zero, [4]);
  assertCommandError(() => compileFilter({ a: { $size: -1 } }), 2, 'BadValue', 'Failed to parse $size. Expected a non-negative number in: $size: -1');
});

test('$all requires every value, and supports $elemMatch clauses', () => {
  // Prepare
  const docs = [
    { _id: 1, tags: ['a', 'b', 'c'] },
    { _id: 2, tags: ['a', 'c'] },
    { _id: 3, tags: 'a' },
    { _id: 4, qty: [{ size: 'M', num: 50 }, { size: 'L', num: 100 }] },
  ];
  // Act
  const all = ids({ tags: { $all: ['a', 'b'] } }, docs);
  const single = ids({ tags: { $all: ['a'] } }, docs);
  const empty = ids({ tags: { $all: [] } }, docs);
  const elem = ids({ qty: { $all: [{ $elemMatch: { size: 'M', num: { $gt: 40 } } }] } }, docs);
  // Assess
  assert.deepEqual(all, [1]);
  assert.deepEqual(single, [1, 2, 3]);
  assert.deepEqual(empty, []);
  assert.deepEqual(elem, [4]);
});

test('$expr evaluates an aggregation expression on the document', () => {
  // Prepare
  const docs = [{ _id: 1, spent: 10, budget: 20 }, { _id: 2, spent: 30, budget: 20 }];
  // Act
  const over = ids({ $expr: { $gt: ['$spent', '$budget'] } }, docs);
  // Assess
  assert.deepEqual(over, [2]);
});

test('an unknown field operator is BadValue "unknown operator"', () => {
  // Prepare
  const filter = { a: { $foo: 1 } };
  // Act / Assess
  assertCommandError(() => compileFilter(filter), 2, 'BadValue', 'unknown operator: $foo');
});

test('an unknown top-level operator is BadValue with the server hint', () => {
  // Prepare / Act / Assess
  assertCommandError(
    () => compileFilter({ $x: 1 }),
    2,
    'BadValue',
    "unknown top level operator: $x. If you have a field name that starts with a '$' symbol, consider using $getField or $setField.",
  );
  assertCommandError(
    () => compileFilter({ $not: { a: 1 } }),
    2,
    'BadValue',
    'unknown top level operator: $not. If you are trying to negate an entire expression, use $nor.',
  );
});

test('$comment is ignored and an empty filter matches everything', () => {
  // Prepare
  const docs = [{ _id: 1 }, { _id: 2 }];
  // Act
  const matched = ids({ $comment: 'why' }, docs);
  const all = ids({}, docs);
  // Assess
  assert.deepEqual(matched, [1, 2]);
  assert.deepEqual(all, [1, 2]);
});

test('equality on embedded documents is exact and field-order sensitive', () => {
  // Prepare
  const docs = [{ _id: 1, size: { h: 14, w: 21 } }, { _id: 2, size: { w: 21, h: 14 } }, { _id: 3, size: { h: 14, w: 21, u: 'cm' } }];
  // Act
  const matched = ids({ size: { h: 14, w: 21 } }, docs);
  // Assess
  assert.deepEqual(matched, [1]);
});

// ------------------------------------------------------------------------------------------
// Updates
// ------------------------------------------------------------------------------------------

test('$set creates dotted paths; new fields are created in field-name order', () => {
  // Prepare
  const doc = { _id: 1, a: { x: 1 } };
  // Act
  const out = applyUpdate(doc, { $set: { z: 1, 'a.y.w': 2, b: 3 } });
  // Assess
  assert.deepEqual(out, { _id: 1, a: { x: 1, y: { w: 2 } }, b: 3, z: 1 });
  assert.deepEqual(Object.keys(out), ['_id', 'a', 'b', 'z']);
});

test('applyUpdate does not modify its input', () => {
  // Prepare
  const doc = { _id: 1, a: { b: [1, 2] } };
  const before = structuredClone(doc);
  // Act
  applyUpdate(doc, { $push: { 'a.b': 3 }, $set: { c: 1 } });
  // Assess
  assert.deepEqual(doc, before);
});

test('$unset removes fields and nulls array elements', () => {
  // Prepare
  const doc = { _id: 1, a: 1, b: { c: 2, d: 3 }, arr: [1, 2, 3] };
  // Act
  const out = applyUpdate(doc, { $unset: { a: '', 'b.c': 1, 'arr.1': 1, missing: 1 } });
  // Assess
  assert.deepEqual(out, { _id: 1, b: { d: 3 }, arr: [1, null, 3] });
});

test('$inc adds, creates missing fields, keeps Long and widens int overflow to long', () => {
  // Prepare
  const doc = { _id: 1, n: 5, l: Long.fromNumber(10), d: 1.5, big: 2147483647 };
  // Act
  const out = applyUpdate(doc, { $inc: { n: 2, l: 1, d: 1, big: 1, fresh: 3 } });
  // Assess
  assert.equal(out.n, 7);
  assert.ok(out.l instanceof Long && out.l.toNumber() === 11);
  assert.equal(out.d, 2.5);
  assert.ok(out.big instanceof Long && out.big.toNumber() === 2147483648);
  assert.equal(out.fresh, 3);
});

test('$inc on a non-numeric field is TypeMismatch with the server message', () => {
  // Prepare
  const doc = { _id: 1, a: 'x' };
  // Act / Assess
  assertCommandError(
    () => applyUpdate(doc, { $inc: { a: 1 } }),
    14,
    'TypeMismatch',
    "Cannot apply $inc to a value of non-numeric type. {_id: 1} has the field 'a' of non-numeric type string",
  );
  assertCommandError(
    () => applyUpdate(doc, { $inc: { b: 'x' } }),
    14,
    'TypeMismatch',
    'Cannot increment with non-numeric argument: {b: "x"}',
  );
});

test('$mul multiplies and sets missing fields to zero', () => {
  // Prepare
  const doc = { _id: 1, price: 2.5 };
  // Act
  const out = applyUpdate(doc, { $mul: { price: 2, qty: 4 } });
  // Assess
  assert.deepEqual(out, { _id: 1, price: 5, qty: 0 });
});

test('$min and $max compare across types by the BSON order', () => {
  // Prepare
  const doc = { _id: 1, lo: 5, hi: 5, s: 'b' };
  // Act
  const out = applyUpdate(doc, { $min: { lo: 3, s: 1 }, $max: { hi: 3, new: 7 } });
  // Assess
  assert.deepEqual(out, { _id: 1, lo: 3, hi: 5, s: 1, new: 7 });
});

test('$push with $each, $position, $sort and $slice', () => {
  // Prepare
  const doc = { _id: 1, a: [3, 1], b: [1, 2, 3] };
  // Act
  const out = applyUpdate(doc, {
    $push: { a: { $each: [5, 2], $sort: 1, $slice: 3 }, b: { $each: [0], $position: 0 }, c: 'x' },
  });
  // Assess
  assert.deepEqual(out, { _id: 1, a: [1, 2, 3], b: [0, 1, 2, 3], c: ['x'] });
});

test('$push onto a non-array is BadValue with the server message', () => {
  // Prepare
  const doc = { _id: 'test_object', a: 1 };
  // Act / Assess
  assertCommandError(
    () => applyUpdate(doc, { $push: { a: 1 } }),
    2,
    'BadValue',
    'The field \'a\' must be an array but is of type int in document {_id: "test_object"}',
  );
});

test('$addToSet adds only absent values', () => {
  // Prepare
  const doc = { _id: 1, tags: ['a', 1] };
  // Act
  const out = applyUpdate(doc, { $addToSet: { tags: { $each: ['a', 'b', 'b', 1.0] }, other: 'x' } });
  // Assess
  assert.deepEqual(out, { _id: 1, tags: ['a', 1, 'b'], other: ['x'] });
});

test('$pull by value, by condition and by query on document elements', () => {
  // Prepare
  const doc = {
    _id: 1,
    fruits: ['apple', 'pear', 'apple'],
    votes: [3, 5, 6, 7, 7, 8],
    results: [{ item: 'A', score: 5 }, { item: 'B', score: 8, comment: 'ok' }],
  };
  // Act
  const out = applyUpdate(doc, { $pull: { fruits: 'apple', votes: { $gte: 6 }, results: { score: 8, item: 'B' } } });
  // Assess
  assert.deepEqual(out, { _id: 1, fruits: ['pear'], votes: [3, 5], results: [{ item: 'A', score: 5 }] });
});

test('$rename moves a field', () => {
  // Prepare
  const doc = { _id: 1, nmae: 'x', a: { b: 1 } };
  // Act
  const out = applyUpdate(doc, { $rename: { nmae: 'name', 'a.b': 'c.d' } });
  // Assess
  assert.deepEqual(out, { _id: 1, a: {}, name: 'x', c: { d: 1 } });
});

test('$currentDate sets a date or a timestamp', () => {
  // Prepare
  const now = new Date('2024-05-06T07:08:09.010Z');
  // Act
  const out = applyUpdate({ _id: 1 }, { $currentDate: { d: true, t: { $type: 'timestamp' } } }, { now });
  // Assess
  assert.deepEqual(out.d, now);
  assert.ok(out.t instanceof Timestamp);
  assert.equal((out.t as Timestamp).t, Math.floor(now.getTime() / 1000));
});

test('$setOnInsert applies only when the update inserts', () => {
  // Prepare
  const update = { $set: { a: 1 }, $setOnInsert: { created: true } };
  // Act
  const updated = applyUpdate({ _id: 1 }, update);
  const inserted = applyUpdate(null, update, { isUpsert: true, query: { _id: 7 } });
  // Assess
  assert.deepEqual(updated, { _id: 1, a: 1 });
  assert.deepEqual(inserted, { _id: 7, a: 1, created: true });
});

test('an upsert is seeded from the query equality fields and gets an ObjectId _id first', () => {
  // Prepare
  const query = { $and: [{ 'user.name': 'ann' }, { age: { $gt: 3 } }], role: { $eq: 'admin' }, team: { $in: ['x'] }, tag: /re/ };
  // Act
  const seed = upsertSeed(query);
  const out = applyUpdate({}, { $inc: { visits: 1 } }, { isUpsert: true, query });
  // Assess
  assert.deepEqual(seed, { user: { name: 'ann' }, role: 'admin', team: 'x' });
  assert.deepEqual(Object.keys(out), ['_id', 'user', 'role', 'team', 'visits']);
  assert.ok(out._id instanceof ObjectId);
  assert.deepEqual({ ...out, _id: undefined }, { _id: undefined, user: { name: 'ann' }, role: 'admin', team: 'x', visits: 1 });
});

test('a replacement document keeps the original _id', () => {
  // Prepare
  const doc = { _id: 1, a: 1, b: 2 };
  // Act
  const out = applyUpdate(doc, { c: 3 });
  const same = applyUpdate(doc, { c: 3, _id: 1 });
  const upserted = applyUpdate(null, { c: 3 }, { isUpsert: true, query: { _id: 9, x: 1 } });
  // Assess
  assert.deepEqual(out, { _id: 1, c: 3 });
  assert.deepEqual(same, { _id: 1, c: 3 });
  assert.deepEqual(upserted, { _id: 9, c: 3 });
});

test('a replacement that changes _id is ImmutableField', () => {
  // Prepare
  const doc = { _id: 1, a: 1 };
  // Act / Assess
  assertCommandError(
    () => applyUpdate(doc, { _id: 2, a: 1 }),
    66,
    'ImmutableField',
    "After applying the update, the (immutable) field '_id' was found to have been altered to _id: 2",
  );
});

test('modifying _id with an operator is ImmutableField', () => {
  // Prepare
  const doc = { _id: 1, a: 1 };
  // Act / Assess
  assertCommandError(
    () => applyUpdate(doc, { $set: { _id: 2 } }),
    66,
    'ImmutableField',
    "Performing an update on the path '_id' would modify the immutable field '_id'",
  );
  assertCommandError(() => applyUpdate(doc, { $unset: { _id: 1 } }), 66, 'ImmutableField', "Performing an update on the path '_id' would modify the immutable field '_id'");
  assert.deepEqual(applyUpdate(doc, { $set: { _id: 1, a: 2 } }), { _id: 1, a: 2 });
});

test('mixing operators and plain fields is rejected as the server does', () => {
  // Prepare
  const doc = { _id: 1 };
  // Act / Assess
  assertCommandError(
    () => applyUpdate(doc, { $set: { a: 1 }, b: 2 }),
    9,
    'FailedToParse',
    'Unknown modifier: b. Expected a valid update modifier or pipeline-style update specified as an array',
  );
  assertCommandError(
    () => applyUpdate(doc, { b: 2, $set: { a: 1 } }),
    52,
    'DollarPrefixedFieldName',
    "The dollar ($) prefixed field '$set' in '$set' is not allowed in the context of an update's replacement document. Consider using an aggregation pipeline with $replaceWith.",
  );
});

test('an unknown modifier and a non-object modifier argument are FailedToParse', () => {
  // Prepare / Act / Assess
  assertCommandError(
    () => applyUpdate({ _id: 1 }, { $foo: { a: 1 } }),
    9,
    'FailedToParse',
    'Unknown modifier: $foo. Expected a valid update modifier or pipeline-style update specified as an array',
  );
  assertCommandError(
    () => applyUpdate({ _id: 1 }, { $set: [{ a: 1 }] }),
    9,
    'FailedToParse',
    'Modifiers operate on fields but we found type array instead. For example: {$mod: {<field>: ...}} not {$set: [ { a: 1 } ]}',
  );
});

test('two modifiers on the same or overlapping paths conflict', () => {
  // Prepare / Act / Assess
  assertCommandError(
    () => applyUpdate({ _id: 1 }, { $set: { foo: 12 }, $inc: { foo: 1 } }),
    40,
    'ConflictingUpdateOperators',
    "Updating the path 'foo' would create a conflict at 'foo'",
  );
  assertCommandError(
    () => applyUpdate({ _id: 1 }, { $set: { a: 1, 'a.b': 2 } }),
    40,
    'ConflictingUpdateOperators',
    "Updating the path 'a.b' would create a conflict at 'a'",
  );
});

test('creating a field inside a scalar is PathNotViable', () => {
  // Prepare
  const doc = { _id: 1, a: 1 };
  // Act / Assess
  assertCommandError(() => applyUpdate(doc, { $set: { 'a.b': 2 } }), 28, 'PathNotViable', "Cannot create field 'b' in element {a: 1}");
});

test('the positional $ updates the first array element the query matched', () => {
  // Prepare
  const doc = { _id: 1, grades: [80, 85, 90], items: [{ id: 'a', n: 1 }, { id: 'b', n: 1 }] };
  // Act
  const byValue = applyUpdate(doc, { $set: { 'grades.$': 82 } }, { query: { _id: 1, grades: 85 } });
  const byField = applyUpdate(doc, { $inc: { 'items.$.n': 5 } }, { query: { 'items.id': 'b' } });
  // Assess
  assert.deepEqual(byValue.grades, [80, 82, 90]);
  assert.deepEqual(byField.items, [{ id: 'a', n: 1 }, { id: 'b', n: 6 }]);
  assertCommandError(
    () => applyUpdate(doc, { $set: { 'grades.$': 1 } }, { query: { _id: 1 } }),
    2,
    'BadValue',
    'The positional operator did not find the match needed from the query.',
  );
});

test('$[] and $[<id>] with arrayFilters update all or the filtered elements', () => {
  // Prepare
  const doc = { _id: 1, grades: [95, 92, 90], students: [{ g: 80 }, { g: 95 }] };
  // Act
  const all = applyUpdate(doc, { $inc: { 'grades.$[]': 1 } });
  const filtered = applyUpdate(doc, { $set: { 'students.$[s].top': true } }, { arrayFilters: [{ 's.g': { $gte: 90 } }] });
  // Assess
  assert.deepEqual(all.grades, [96, 93, 91]);
  assert.deepEqual(filtered.students, [{ g: 80 }, { g: 95, top: true }]);
});

test('a pipeline-style update runs $set/$unset stages with expressions', () => {
  // Prepare
  const doc = { _id: 1, price: 3, qty: 4, tmp: true };
  // Act
  const out = applyUpdate(doc, [{ $set: { total: { $multiply: ['$price', '$qty'] }, at: '$$NOW' } }, { $unset: 'tmp' }], {
    now: new Date(0),
  });
  // Assess
  assert.deepEqual(out, { _id: 1, price: 3, qty: 4, total: 12, at: new Date(0) });
});

test('a pipeline-style update refuses other stages and keeps _id', () => {
  // Prepare
  const doc = { _id: 1, v: 1 };
  // Act
  const replaced = applyUpdate(doc, [{ $replaceWith: { v: 2 } }]);
  // Assess
  assert.deepEqual(replaced, { _id: 1, v: 2 });
  assertCommandError(() => applyUpdate(doc, [{ $match: { v: 1 } }]), 72, 'InvalidOptions', '$match is not allowed to be used within an update');
});
