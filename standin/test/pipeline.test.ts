import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Long, ObjectId } from 'bson';
import { CommandError } from '../src/errors.ts';
import { evaluateExpression, runPipeline, type Document } from '../src/pipeline.ts';

const ctx = { now: new Date('2024-01-02T03:04:05.006Z') };

function run(docs: Document[], stages: Document[]): Document[] {
  return [...runPipeline(docs, stages, ctx)];
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

const people: Document[] = [
  { _id: 1, name: 'ann', dept: 'eng', salary: 100, tags: ['a', 'b'], addr: { city: 'Oslo', zip: '01' } },
  { _id: 2, name: 'bob', dept: 'ops', salary: 80, tags: [], addr: { city: 'Rome', zip: '02' } },
  { _id: 3, name: 'cy', dept: 'eng', salary: 120, addr: { city: 'Oslo' } },
  { _id: 4, name: 'di', dept: 'ops', salary: 'n/a', tags: null },
];

test('$match filters with compileFilter semantics', () => {
  // Prepare
  const stages = [{ $match: { dept: 'eng', salary: { $gte: 110 } } }];
  // Act
  const out = run(people, stages);
  // Assess
  assert.deepEqual(out.map((d) => d._id), [3]);
});

test('$match with $expr sees the pipeline $$NOW', () => {
  // Prepare
  const docs = [{ _id: 1, at: new Date('2024-01-01T00:00:00Z') }, { _id: 2, at: new Date('2025-01-01T00:00:00Z') }];
  // Act
  const out = run(docs, [{ $match: { $expr: { $lt: ['$at', '$$NOW'] } } }]);
  // Assess
  assert.deepEqual(out.map((d) => d._id), [1]);
});

test('$project inclusion keeps _id by default, follows input order and skips missing fields', () => {
  // Prepare
  const stages = [{ $project: { salary: 1, name: true, nope: 1 } }];
  // Act
  const out = run(people.slice(0, 1), stages);
  // Assess
  assert.deepEqual(out, [{ _id: 1, name: 'ann', salary: 100 }]);
  assert.deepEqual(Object.keys(out[0]), ['_id', 'name', 'salary']);
});

test('$project with _id: 0, nested a.b: 1 and a nested sub-projection', () => {
  // Prepare
  const docs = [{ _id: 1, a: { b: 1, c: 2 }, arr: [{ x: 1, y: 2 }, 5, { y: 3 }], d: { e: 1, f: 2 } }];
  // Act
  const out = run(docs, [{ $project: { _id: 0, 'a.b': 1, 'arr.x': 1, d: { f: 1 } } }]);
  // Assess
  assert.deepEqual(out, [{ a: { b: 1 }, arr: [{ x: 1 }, {}], d: { f: 2 } }]);
});

test('$project computed fields: expressions, literals and $$REMOVE', () => {
  // Prepare
  const stages = [
    {
      $project: {
        name: 1,
        city: '$addr.city',
        label: { $concat: ['$name', '@', '$dept'] },
        constant: 'text',
        gone: '$$REMOVE',
        'nested.double': { $multiply: ['$salary', 2] },
      },
    },
  ];
  // Act
  const out = run(people.slice(0, 1), stages);
  // Assess
  assert.deepEqual(out, [{ _id: 1, name: 'ann', city: 'Oslo', label: 'ann@eng', constant: 'text', nested: { double: 200 } }]);
});

test('$project exclusion removes top-level and nested fields', () => {
  // Prepare
  const stages = [{ $project: { tags: 0, 'addr.zip': 0, _id: 0 } }];
  // Act
  const out = run(people.slice(0, 2), stages);
  // Assess
  assert.deepEqual(out, [
    { name: 'ann', dept: 'eng', salary: 100, addr: { city: 'Oslo' } },
    { name: 'bob', dept: 'ops', salary: 80, addr: { city: 'Rome' } },
  ]);
});

test('$project mixing inclusion and exclusion is Location31254/31253', () => {
  // Prepare / Act / Assess
  assertCommandError(
    () => run(people, [{ $project: { name: 1, x: 0 } }]),
    31254,
    'Location31254',
    'Invalid $project :: caused by :: Cannot do exclusion on field x in inclusion projection',
  );
  assertCommandError(
    () => run(people, [{ $project: { x: 0, name: 1 } }]),
    31253,
    'Location31253',
    'Invalid $project :: caused by :: Cannot do inclusion on field name in exclusion projection',
  );
  // _id may be excluded in an inclusion projection.
  assert.deepEqual(run(people.slice(0, 1), [{ $project: { name: 1, _id: 0 } }]), [{ name: 'ann' }]);
});

test('$project with no field or with path collisions is an error', () => {
  // Prepare / Act / Assess
  assertCommandError(() => run(people, [{ $project: {} }]), 51272, 'Location51272', 'Invalid $project :: caused by :: projection specification must have at least one field');
  assertCommandError(() => run(people, [{ $project: { a: 1, 'a.b': 1 } }]), 31249, 'Location31249', 'Invalid $project :: caused by :: Path collision at a.b remaining portion b');
});

test('$addFields and $set add and replace fields, evaluated against the input document', () => {
  // Prepare
  const docs = [{ _id: 1, a: 1, b: { c: 2 } }];
  // Act
  const out = run(docs, [{ $addFields: { a: { $add: ['$a', 10] }, z: '$a', 'b.d': 3 } }, { $set: { e: { f: '$z' } } }]);
  // Assess
  assert.deepEqual(out, [{ _id: 1, a: 11, b: { c: 2, d: 3 }, z: 1, e: { f: 1 } }]);
  assert.deepEqual(Object.keys(out[0]), ['_id', 'a', 'b', 'z', 'e']);
  assert.deepEqual(docs, [{ _id: 1, a: 1, b: { c: 2 } }]);
});

test('$unset removes one path or several', () => {
  // Prepare
  const docs = [{ _id: 1, a: 1, b: { c: 2, d: 3 }, e: 4 }];
  // Act
  const one = run(docs, [{ $unset: 'a' }]);
  const several = run(docs, [{ $unset: ['a', 'b.c'] }]);
  // Assess
  assert.deepEqual(one, [{ _id: 1, b: { c: 2, d: 3 }, e: 4 }]);
  assert.deepEqual(several, [{ _id: 1, b: { d: 3 }, e: 4 }]);
  assertCommandError(() => run(docs, [{ $unset: 1 }]), 31002, 'Location31002', '$unset specification must be a string or an array');
});

test('$sort by several keys, ascending and descending, with the BSON order across types', () => {
  // Prepare
  const docs = [
    { _id: 1, g: 'b', n: 1 },
    { _id: 2, g: 'a', n: 2 },
    { _id: 3, g: 'b', n: 3 },
    { _id: 4, n: 4 },
    { _id: 5, g: 7, n: 5 },
  ];
  // Act
  const out = run(docs, [{ $sort: { g: 1, n: -1 } }]);
  // Assess: missing < numbers < strings
  assert.deepEqual(out.map((d) => d._id), [4, 5, 2, 3, 1]);
});

test('$sort is stable for equal keys', () => {
  // Prepare
  const docs = Array.from({ length: 50 }, (_, i) => ({ _id: i, k: i % 3 }));
  // Act
  const out = run(docs, [{ $sort: { k: 1 } }]);
  // Assess
  const expected = [...docs].sort((a, b) => a.k - b.k).map((d) => d._id);
  assert.deepEqual(out.map((d) => d._id), expected);
});

test('$sort on arrays uses the smallest element ascending and the largest descending', () => {
  // Prepare
  const docs = [{ _id: 1, v: [1, 10] }, { _id: 2, v: 5 }, { _id: 3, v: [] }, { _id: 4, v: null }];
  // Act
  const asc = run(docs, [{ $sort: { v: 1 } }]);
  const desc = run(docs, [{ $sort: { v: -1 } }]);
  // Assess: an empty array sorts before null
  assert.deepEqual(asc.map((d) => d._id), [3, 4, 1, 2]);
  assert.deepEqual(desc.map((d) => d._id), [1, 2, 4, 3]);
});

test('$sort key ordering must be 1 or -1', () => {
  // Prepare / Act / Assess
  assertCommandError(() => run(people, [{ $sort: { a: 2 } }]), 15975, 'Location15975', '$sort key ordering must be 1 (for ascending) or -1 (for descending)');
  assertCommandError(() => run(people, [{ $sort: {} }]), 15976, 'Location15976', '$sort stage must have at least one sort key');
});

test('$limit and $skip', () => {
  // Prepare
  const docs = Array.from({ length: 10 }, (_, i) => ({ _id: i }));
  // Act
  const out = run(docs, [{ $skip: 3 }, { $limit: 4 }]);
  // Assess
  assert.deepEqual(out.map((d) => d._id), [3, 4, 5, 6]);
});

test('$limit must be a positive integer', () => {
  // Prepare / Act / Assess
  assertCommandError(() => run(people, [{ $limit: 0 }]), 15958, 'Location15958', 'the limit must be positive');
  assertCommandError(() => run(people, [{ $limit: -1 }]), 5107201, 'Location5107201', 'invalid argument to $limit stage: Expected a non-negative number in: $limit: -1');
  assertCommandError(() => run(people, [{ $limit: 'x' }]), 5107201, 'Location5107201', 'invalid argument to $limit stage: Expected a number in: $limit: "x"');
  assertCommandError(() => run(people, [{ $skip: 1.5 }]), 5107200, 'Location5107200', 'invalid argument to $skip stage: Expected an integer: $skip: 1.5');
});

test('$limit stops pulling documents from the source', () => {
  // Prepare
  let pulled = 0;
  function* source(): Generator<Document> {
    for (let i = 0; i < 1000; i++) {
      pulled++;
      yield { _id: i };
    }
  }
  // Act
  const out = [...runPipeline(source(), [{ $match: {} }, { $limit: 5 }], ctx)];
  // Assess
  assert.equal(out.length, 5);
  assert.equal(pulled, 5);
});

test('$count outputs the number of documents, and nothing for no input', () => {
  // Prepare / Act
  const counted = run(people, [{ $match: { dept: 'eng' } }, { $count: 'engineers' }]);
  const none = run(people, [{ $match: { dept: 'none' } }, { $count: 'n' }]);
  // Assess
  assert.deepEqual(counted, [{ engineers: 2 }]);
  assert.deepEqual(none, []);
});

test('$count name rules', () => {
  // Prepare / Act / Assess
  assertCommandError(() => run(people, [{ $count: '' }]), 40157, 'Location40157', 'the count field must be a non-empty string');
  assertCommandError(() => run(people, [{ $count: 1 }]), 40156, 'Location40156', 'the count field must be a non-empty string');
  assertCommandError(() => run(people, [{ $count: '$n' }]), 40158, 'Location40158', 'the count field cannot be a $-prefixed path');
  assertCommandError(() => run(people, [{ $count: 'a.b' }]), 40160, 'Location40160', "the count field cannot contain '.'");
});

test('$group with $sum of 1 counts and $sum of a field adds numbers only', () => {
  // Prepare
  const stages = [{ $group: { _id: '$dept', n: { $sum: 1 }, total: { $sum: '$salary' } } }, { $sort: { _id: 1 } }];
  // Act
  const out = run(people, stages);
  // Assess
  assert.deepEqual(out, [
    { _id: 'eng', n: 2, total: 220 },
    { _id: 'ops', n: 2, total: 80 },
  ]);
});

test('$group accumulators $avg $min $max $first $last $push $addToSet $count', () => {
  // Prepare
  const stages = [
    {
      $group: {
        _id: null,
        avg: { $avg: '$salary' },
        min: { $min: '$salary' },
        max: { $max: '$salary' },
        first: { $first: '$name' },
        last: { $last: '$tags' },
        names: { $push: '$name' },
        cities: { $addToSet: '$addr.city' },
        docs: { $count: {} },
      },
    },
  ];
  // Act
  const out = run(people, stages);
  // Assess
  assert.deepEqual(out, [
    {
      _id: null,
      avg: 100,
      min: 80,
      max: 'n/a', // strings sort after numbers
      first: 'ann',
      last: null,
      names: ['ann', 'bob', 'cy', 'di'],
      cities: ['Oslo', 'Rome'],
      docs: 4,
    },
  ]);
});

test('$group keys: numbers group by value, missing groups with null, compound _id', () => {
  // Prepare
  const docs = [
    { _id: 1, k: 1, c: 'x' },
    { _id: 2, k: Long.fromNumber(1), c: 'x' },
    { _id: 3, k: 1.0, c: 'y' },
    { _id: 4, c: 'x' },
    { _id: 5, k: null, c: 'x' },
  ];
  // Act
  const byK = run(docs, [{ $group: { _id: '$k', ids: { $push: '$_id' } } }]);
  const byBoth = run(docs, [{ $group: { _id: { k: '$k', c: '$c' }, n: { $sum: 1 } } }]);
  // Assess
  assert.deepEqual(byK, [{ _id: 1, ids: [1, 2, 3] }, { _id: null, ids: [4, 5] }]);
  assert.deepEqual(byBoth, [
    { _id: { k: 1, c: 'x' }, n: 2 },
    { _id: { k: 1, c: 'y' }, n: 1 },
    { _id: { c: 'x' }, n: 1 },
    { _id: { k: null, c: 'x' }, n: 1 },
  ]);
});

test('$group requires _id and known accumulators', () => {
  // Prepare / Act / Assess
  assertCommandError(() => run(people, [{ $group: { n: { $sum: 1 } } }]), 15955, 'Location15955', 'a group specification must include an _id');
  assertCommandError(() => run(people, [{ $group: { _id: null, n: { $foo: 1 } } }]), 15952, 'Location15952', "unknown group operator '$foo'");
  assertCommandError(() => run(people, [{ $group: { _id: null, n: { $sum: 1, $max: 1 } } }]), 40238, 'Location40238', "The field 'n' must specify one accumulator");
});

test('$unwind emits one document per element', () => {
  // Prepare
  const stages = [{ $unwind: '$tags' }];
  // Act
  const out = run(people, stages);
  // Assess
  assert.deepEqual(out.map((d) => [d._id, d.tags]), [[1, 'a'], [1, 'b']]);
  assert.deepEqual(people[0].tags, ['a', 'b']);
});

test('$unwind with preserveNullAndEmptyArrays and includeArrayIndex', () => {
  // Prepare
  const stages = [{ $unwind: { path: '$tags', preserveNullAndEmptyArrays: true, includeArrayIndex: 'i' } }, { $project: { tags: 1, i: 1 } }];
  // Act
  const out = run(people, stages);
  // Assess: the empty array's field is removed, null and missing stay as they were
  assert.deepEqual(out, [
    { _id: 1, tags: 'a', i: 0 },
    { _id: 1, tags: 'b', i: 1 },
    { _id: 2, i: null },
    { _id: 3, i: null },
    { _id: 4, tags: null, i: null },
  ]);
});

test('$unwind path must start with $', () => {
  // Prepare / Act / Assess
  assertCommandError(() => run(people, [{ $unwind: 'tags' }]), 28818, 'Location28818', "path option to $unwind stage should be prefixed with a '$': tags");
});

test('$replaceRoot and $replaceWith', () => {
  // Prepare
  const docs = [{ _id: 1, inner: { a: 1 } }];
  // Act
  const root = run(docs, [{ $replaceRoot: { newRoot: '$inner' } }]);
  const withDoc = run(docs, [{ $replaceWith: { id: '$_id', a: '$inner.a' } }]);
  // Assess
  assert.deepEqual(root, [{ a: 1 }]);
  assert.deepEqual(withDoc, [{ id: 1, a: 1 }]);
  assertCommandError(
    () => run(docs, [{ $replaceRoot: { newRoot: '$missing' } }]),
    40228,
    'Location40228',
    "'newRoot' expression must evaluate to an object, but resulting value was: MISSING. Type of resulting value: 'missing'. Input document: {_id: 1, inner: {a: 1}}",
  );
});

test('an unknown stage is Location40324', () => {
  // Prepare / Act / Assess
  assertCommandError(() => run(people, [{ $foo: {} }]), 40324, 'Location40324', "Unrecognized pipeline stage name: '$foo'");
});

test('a stage with more than one field is Location40323', () => {
  // Prepare / Act / Assess
  assertCommandError(
    () => run(people, [{ $match: {}, $limit: 1 }]),
    40323,
    'Location40323',
    'A pipeline stage specification object must contain exactly one field.',
  );
});

test('stage handlers supply stages the stand-in does not implement', () => {
  // Prepare
  const stageHandlers = {
    $currentOp: function* (_spec: unknown, input: Iterable<Document>): Generator<Document> {
      yield* input;
      yield { op: 'command' };
    },
  };
  // Act
  const out = [...runPipeline([], [{ $currentOp: {} }, { $match: { op: 'command' } }], { ...ctx, stageHandlers })];
  // Assess
  assert.deepEqual(out, [{ op: 'command' }]);
});

test('an unknown expression operator is InvalidPipelineOperator with the stage context', () => {
  // Prepare / Act / Assess
  assertCommandError(
    () => run(people, [{ $project: { x: { $foo: 1 } } }]),
    168,
    'InvalidPipelineOperator',
    "Invalid $project :: caused by :: Unrecognized expression '$foo'",
  );
  assertCommandError(() => evaluateExpression({ $foo: 1 }, {}, ctx), 168, 'InvalidPipelineOperator', "Unrecognized expression '$foo'");
});

test('expressions: field paths through arrays, variables and literals', () => {
  // Prepare
  const doc = { _id: 1, a: [{ b: 1 }, { c: 2 }, { b: 3 }], s: 'x' };
  // Act / Assess
  assert.deepEqual(evaluateExpression('$a.b', doc, ctx), [1, 3]);
  assert.equal(evaluateExpression('$missing', doc, ctx), undefined);
  assert.deepEqual(evaluateExpression('$$NOW', doc, ctx), ctx.now);
  assert.deepEqual(evaluateExpression('$$ROOT.s', doc, ctx), 'x');
  assert.deepEqual(evaluateExpression({ $literal: '$s' }, doc, ctx), '$s');
  assert.deepEqual(evaluateExpression(['$s', '$missing', 1], doc, ctx), ['x', null, 1]);
});

test('expressions: arithmetic, comparison and logic', () => {
  // Prepare
  const doc = { a: 6, b: 3, d: new Date(1000), n: null };
  // Act / Assess
  assert.equal(evaluateExpression({ $add: ['$a', '$b', 1] }, doc, ctx), 10);
  assert.deepEqual(evaluateExpression({ $add: ['$d', 500] }, doc, ctx), new Date(1500));
  assert.equal(evaluateExpression({ $add: ['$a', '$n'] }, doc, ctx), null);
  assert.equal(evaluateExpression({ $subtract: ['$a', '$b'] }, doc, ctx), 3);
  assert.equal(evaluateExpression({ $multiply: ['$a', '$b'] }, doc, ctx), 18);
  assert.equal(evaluateExpression({ $divide: ['$a', 4] }, doc, ctx), 1.5);
  assert.equal(evaluateExpression({ $eq: ['$a', 6] }, doc, ctx), true);
  assert.equal(evaluateExpression({ $ne: ['$a', 6] }, doc, ctx), false);
  assert.equal(evaluateExpression({ $gt: ['$a', '$b'] }, doc, ctx), true);
  assert.equal(evaluateExpression({ $gte: ['$missing', null] }, doc, ctx), false); // missing < null in expressions
  assert.equal(evaluateExpression({ $lt: [1, 'a'] }, doc, ctx), true); // no type bracketing in expressions
  assert.equal(evaluateExpression({ $lte: ['$b', 3] }, doc, ctx), true);
  assert.equal(evaluateExpression({ $and: [1, '$a', true] }, doc, ctx), true);
  assert.equal(evaluateExpression({ $or: [0, null, '$missing'] }, doc, ctx), false);
  assert.equal(evaluateExpression({ $not: [0] }, doc, ctx), true);
  assertCommandError(() => evaluateExpression({ $divide: [1, 0] }, doc, ctx), 16608, 'Location16608', "can't $divide by zero");
  assertCommandError(() => evaluateExpression({ $add: [1, 'x'] }, doc, ctx), 16554, 'Location16554', '$add only supports numeric or date types, not string');
});

test('expressions: $cond, $ifNull, $in, $size, $concat, $toString, $type', () => {
  // Prepare
  const doc = { _id: new ObjectId('0123456789abcdef01234567'), q: 5, arr: [1, 2], s: 'ab', n: null };
  // Act / Assess
  assert.equal(evaluateExpression({ $cond: [{ $gt: ['$q', 3] }, 'big', 'small'] }, doc, ctx), 'big');
  assert.equal(evaluateExpression({ $cond: { if: false, then: 1, else: 2 } }, doc, ctx), 2);
  assert.equal(evaluateExpression({ $ifNull: ['$n', '$missing', 'dflt'] }, doc, ctx), 'dflt');
  assert.equal(evaluateExpression({ $in: [2, '$arr'] }, doc, ctx), true);
  assert.equal(evaluateExpression({ $size: '$arr' }, doc, ctx), 2);
  assert.equal(evaluateExpression({ $concat: ['$s', '-', 'c'] }, doc, ctx), 'ab-c');
  assert.equal(evaluateExpression({ $concat: ['$s', '$missing'] }, doc, ctx), null);
  assert.equal(evaluateExpression({ $toString: '$_id' }, doc, ctx), '0123456789abcdef01234567');
  assert.equal(evaluateExpression({ $toString: '$q' }, doc, ctx), '5');
  assert.equal(evaluateExpression({ $type: '$arr' }, doc, ctx), 'array');
  assert.equal(evaluateExpression({ $type: '$missing' }, doc, ctx), 'missing');
  assertCommandError(
    () => evaluateExpression({ $size: '$s' }, doc, ctx),
    17124,
    'Location17124',
    'The argument to $size must be an array. Type of the argument was: string',
  );
});

test('expressions: $arrayElemAt, $first, $last, $max, $min, $sum, $avg', () => {
  // Prepare
  const doc = { arr: [4, 'x', 1, null, 9], nums: [1, 2, 3] };
  // Act / Assess
  assert.equal(evaluateExpression({ $arrayElemAt: ['$nums', -1] }, doc, ctx), 3);
  assert.equal(evaluateExpression({ $arrayElemAt: ['$nums', 7] }, doc, ctx), undefined);
  assert.equal(evaluateExpression({ $first: '$nums' }, doc, ctx), 1);
  assert.equal(evaluateExpression({ $last: '$nums' }, doc, ctx), 3);
  assert.equal(evaluateExpression({ $max: '$arr' }, doc, ctx), 'x');
  assert.equal(evaluateExpression({ $min: '$arr' }, doc, ctx), 1);
  assert.equal(evaluateExpression({ $max: [1, 5, '$missing'] }, doc, ctx), 5);
  assert.equal(evaluateExpression({ $sum: '$arr' }, doc, ctx), 14);
  assert.equal(evaluateExpression({ $sum: [1, 2, 'x'] }, doc, ctx), 3);
  assert.equal(evaluateExpression({ $avg: '$nums' }, doc, ctx), 2);
  assert.equal(evaluateExpression({ $avg: ['a'] }, doc, ctx), null);
});

test('expressions: $dateToString, $toLower and $toUpper', () => {
  // Prepare
  const doc = { d: new Date('2024-03-09T08:07:06.005Z'), s: 'MiXed Ä' };
  // Act / Assess
  assert.equal(evaluateExpression({ $dateToString: { date: '$d' } }, doc, ctx), '2024-03-09T08:07:06.005Z');
  assert.equal(evaluateExpression({ $dateToString: { date: '$d', format: '%Y/%m/%d %H:%M' } }, doc, ctx), '2024/03/09 08:07');
  assert.equal(evaluateExpression({ $dateToString: { date: '$d', format: '%H:%M%z', timezone: '+02:00' } }, doc, ctx), '10:07+0200');
  assert.equal(evaluateExpression({ $dateToString: { date: '$missing', onNull: 'none' } }, doc, ctx), 'none');
  assert.equal(evaluateExpression({ $toLower: '$s' }, doc, ctx), 'mixed Ä');
  assert.equal(evaluateExpression({ $toUpper: '$s' }, doc, ctx), 'MIXED Ä');
  assert.equal(evaluateExpression({ $toUpper: '$missing' }, doc, ctx), '');
});

test('pipelines never modify their input documents', () => {
  // Prepare
  const docs = [{ _id: 1, a: { b: 1 }, arr: [1, 2] }];
  const before = structuredClone(docs);
  // Act
  run(docs, [{ $set: { 'a.c': 2 } }, { $unwind: '$arr' }, { $unset: 'a.b' }, { $project: { a: 1 } }]);
  // Assess
  assert.deepEqual(docs, before);
});

test('100,000 documents stream through $match/$project/$limit quickly', () => {
  // Prepare
  const docs = Array.from({ length: 100_000 }, (_, i) => ({ _id: i, group: i % 10, name: `n${i}`, payload: { x: i, y: 'z' }, tags: ['a', 'b'] }));
  const stages = [{ $match: { group: { $in: [3, 7] }, 'payload.x': { $gte: 0 } } }, { $project: { name: 1, 'payload.x': 1 } }, { $limit: 15_000 }];
  // Act
  const started = performance.now();
  let n = 0;
  for (const d of runPipeline(docs, stages, ctx)) if (d.name) n++;
  const fullScan = [...runPipeline(docs, [{ $match: { group: 9 } }, { $project: { _id: 0, name: 1 } }], ctx)].length;
  const elapsed = performance.now() - started;
  // Assess
  assert.equal(n, 15_000);
  assert.equal(fullScan, 10_000);
  assert.ok(elapsed < 2000, `took ${elapsed.toFixed(0)} ms`);
});
