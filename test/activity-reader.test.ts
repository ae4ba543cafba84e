/**
 * readActivity (src/adapters/mongodb/activity-reader.ts) against what it replaces: for every document, the Activity
 * read from the bytes equals toActivity(BSON.deserialize(bytes)), or both throw. The documents: the stand-in's
 * $currentOp of a seeded workload, documents shaped as mongod and mongos write them, and odd shapes (other types,
 * repeated keys, numeric keys, DBRef-like documents, non-ASCII text, truncated commands, huge numbers).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { isDeepStrictEqual } from 'node:util';
import { Binary, BSON, Decimal128, Double, Int32, Long, MongoClient, ObjectId, Timestamp, UUID } from 'mongodb';
import { CURRENT_OP_PROJECTION, CURRENT_OP_UNSET, toActivity } from '../src/adapters/mongodb/activity.ts';
import { readActivity, readActivityDirectly } from '../src/adapters/mongodb/activity-reader.ts';
import { startStandin, type RunningStandin } from '../standin/src/server.ts';
import { seed } from '../bench/standin-process.ts';
import { ID, idleCursor, lsid, META, NOW } from './support/current-op-docs.ts';
import { bsonOf, Raw, randomCurrentOpDocuments } from './support/random-current-op.ts';


/** A client's running operation as mongod reports it (fields in the server's order). */
function op(fields: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    type: 'op', host: 'db1:27017', desc: 'conn12', connectionId: 12, client: '10.1.2.3:50123', appName: 'orders-api', clientMetadata: META,
    active: true, currentOpTime: '2026-11-30T12:00:00.000+00:00', effectiveUsers: [{ user: 'app', db: 'admin' }], threaded: true,
    opid: 4711, lsid: lsid(), secs_running: Long.fromNumber(12), microsecs_running: Long.fromNumber(12_000_000), op: 'query', ns: 'shop.orders',
    redacted: false, command: { find: 'orders', filter: { status: 'open' }, lsid: { id: new UUID(ID) }, $db: 'shop' },
    planSummary: 'COLLSCAN', numYields: 7, locks: {}, waitingForLock: false,
    lockStats: { Global: { acquireCount: { r: Long.fromNumber(3) }, timeAcquiringMicros: { r: Long.fromNumber(250), w: 17 } }, Database: { timeAcquiringMicros: { r: 5 } } },
    ...fields,
  };
}

function idleSession(transaction: Record<string, unknown> = {}, top: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    type: 'idleSession', host: 'db1:27017', desc: 'inactive transaction', client: '10.1.2.4:1234', connectionId: 40, appName: 'billing',
    clientMetadata: META, lsid: lsid(), active: false, effectiveUsers: [{ user: 'etl', db: 'admin' }],
    transaction: {
      parameters: { txnNumber: Long.fromNumber(7), autocommit: false, readConcern: { level: 'snapshot' } },
      readTimestamp: new Timestamp({ t: 1, i: 2 }), startWallClockTime: '2026-11-30T11:58:00.000+00:00',
      timeOpenMicros: Long.fromNumber(120_000_000), timeActiveMicros: Long.fromNumber(1_000), timeInactiveMicros: Long.fromNumber(119_999_000),
      expiryTime: '2026-11-30T12:01:00.000+00:00', ...transaction,
    },
    waitingForLock: false, ...top,
  };
}

/** Documents the direct reader must read itself (and equal the general decoding on). */
const TYPICAL: Record<string, unknown>[] = [
  op(),
  op({ command: { aggregate: 'orders', pipeline: [{ $match: { a: 1 } }, { $group: { _id: '$b' } }, {}, 'x', null], comment: 'nightly', $db: 'shop' } }),
  op({ command: { find: 'orders', comment: 42 }, killPending: true, waitingForLock: true, writeConflicts: Long.fromNumber(3), numYields: new Double(2) }),
  op({ command: { $truncated: '{ find: "orders", filter: { a: 1 ...', comment: 'cut' } }),
  op({ command: { $truncated: 17 } }),
  op({ command: {}, opid: 'shard02:77', client: undefined, client_s: '10.0.0.9:27017', clientMetadata: { driver: { name: 'nodejs', version: '7.9.0' }, mongos: { host: 'router:27017', client: '10.0.0.5:123', version: '8.0.4' } } }),
  op({ appName: undefined, clientMetadata: { driver: { name: 'pymongo' } } }),
  op({ appName: undefined, client: undefined, clientMetadata: null, effectiveUsers: [], lsid: undefined, op: 'getmore', cursor: { originatingCommand: { aggregate: 1, pipeline: [{ $changeStream: {} }] }, tailable: true, awaitData: true } }),
  op({ op: 'getmore', cursor: { tailable: true }, command: { getMore: Long.fromNumber(5), collection: 'x' } }),
  op({ lsid: lsid({ txnNumber: Long.fromNumber(0), txnUUID: new UUID() }), opid: Long.fromNumber(2 ** 40), secs_running: 0.5 }),
  op({ lsid: lsid({ txnNumber: null }), opid: Long.fromString('9007199254740992'), connectionId: new Int32(-5) }),
  op({ lsid: { id: new UUID(ID), uid: new Binary(Buffer.alloc(32, 1), 0x80) }, opid: 1.5, twoPhaseCommitCoordinator: { lsid: lsid() }, msg: 'Index Build', queryShapeHash: 'AB' }),
  op({ lsid: { id: null, uid: null }, opid: null, transaction: null, cursor: null, command: null }),
  op({ secs_running: Long.fromString('-9223372036854775808'), numYields: Long.fromString('9223372036854775807'), transaction: false }),
  op({ lockStats: { Global: 'x', Database: { timeAcquiringMicros: 'y' }, Collection: { timeAcquiringMicros: { r: true, w: null, x: 'z' } } } }),
  op({ effectiveUsers: [{ db: 'admin', user: 'x' }, { user: 'y', db: 'z' }], type: 7, active: 1, desc: 3 }),
  op({ clientMetadata: { driver: 'nodejs', mongos: null }, cursor: 'x', command: [1, 2] }),
  op({ command: { find: 'a', comment: null, pipeline: [] } }),
  op({ command: { find: 'a', comment: true, pipeline: {} } }),
  op({ command: { insert: 'a', __proto__x: 1 } }),
  idleCursor(),
  idleCursor({ lastAccessDate: new Date(8.64e15) }),
  idleCursor({ lastAccessDate: 'yesterday', originatingCommand: 'x' }, { command: { find: 'fallback' } }),
  idleCursor({ tailable: true, awaitData: true, noCursorTimeout: true, nDocsReturned: 5, originatingCommand: { aggregate: 'c', pipeline: [{ $match: {} }, { $out: 'x' }], comment: 'r' } }),
  idleCursor({}, { type: 'idleCursor', command: { find: 'ignored' } }),
  idleSession(),
  idleSession({ timePreparedMicros: Long.fromNumber(5) }),
  idleSession({ timePreparedMicros: null, expiryTime: new Date(NOW + 60_000), parameters: { autocommit: false } }),
  idleSession({ expiryTime: 'not a date', parameters: null }),
  idleSession({ expiryTime: 17, timeOpenMicros: 'x', timeActiveMicros: null }),
  { type: 'op', active: true, op: 'none', desc: 'ReplBatcher', opid: 3 },
  {},
  { type: 'op', type_: 1, lsid: lsid(), lsid2: 1, opid: 1, opid_: 2 },
];

/** Documents the direct reader may leave to the general decoding; the result must still be equal (or both throw). */
const ODD: Record<string, unknown>[] = [
  op({ appName: 'caf\u00e9' }),
  op({ command: { find: 'caf\u00e9' } }),
  op({ command: { '0': 1, find: 'x' } }),
  op({ command: { insert: 'a', '1x': 1 } }),
  op({ command: { aggregate: 'x', pipeline: [{ '1': 1, $match: {} }] } }),
  op({ command: { find: 'x', filter: { r: /a+/i } } }),
  op({ command: { find: 'x', filter: { $ref: 'c', $id: 1 } } }),
  op({ command: { $ref: 'c', $id: 1 } }),
  op({ command: { find: 'x', comment: { app: 'x', n: 1 } } }),
  op({ command: { find: 'x', comment: 1.5 } }),
  op({ command: { find: 'x', comment: Long.fromNumber(5) } }),
  op({ command: { find: 'x', comment: [1, 'a'] } }),
  op({ command: { find: 'x', comment: new ObjectId('0123456789abcdef01234567') } }),
  op({ command: { find: 'x', comment: new Date(5) } }),
  op({ secs_running: new Timestamp({ t: 5, i: 1 }), numYields: Decimal128.fromString('3') }),
  op({ opid: true }),
  op({ opid: new ObjectId('0123456789abcdef01234567') }),
  op({ opid: Long.fromString('9007199254740993') }),
  op({ opid: Long.fromString('-9223372036854775808') }),
  op({ lsid: 'x' }),
  op({ lsid: { id: 'x', uid: new Binary(Buffer.alloc(32), 0) } }),
  op({ lsid: { id: new Binary(Buffer.alloc(16), 0), uid: new Binary(Buffer.alloc(32), 0) } }),
  op({ lsid: { id: new UUID(ID), uid: 'x' } }),
  op({ lsid: { id: new UUID(ID), uid: new Binary(Buffer.alloc(8), 2) } }),
  op({ clientMetadata: 'x' }),
  op({ clientMetadata: { mongos: 'x' } }),
  op({ transaction: 'x' }),
  op({ transaction: { parameters: 5 } }),
  op({ transaction: 1 }),
  op({ effectiveUsers: [null] }),
  op({ effectiveUsers: ['x'] }),
  op({ effectiveUsers: [{ user: 'x' }] }),
  op({ effectiveUsers: [{ user: 1, db: 'admin' }] }),
  op({ lockStats: { Global: { timeAcquiringMicros: { r: 1.5, w: 0.25 } } } }),
  op({ lockStats: { '2': { timeAcquiringMicros: { r: 1 } }, Global: { timeAcquiringMicros: { r: 2 } } } }),
  op({ lockStats: { Global: { timeAcquiringMicros: { r: Long.fromString('9223372036854775807') } } } }),
  op({ code: new BSON.Code('x') }),
  op({ sym: new BSON.BSONSymbol('x') }),
  op({ min: new BSON.MinKey(), max: new BSON.MaxKey() }),
];

/** toActivity of the general decoding, or the error it throws. */
function expected(bytes: Uint8Array): unknown {
  try {
    return toActivity(BSON.deserialize(bytes));
  } catch (e) {
    return { threw: (e as Error).message };
  }
}

function actual(bytes: Uint8Array): unknown {
  try {
    return readActivity(Buffer.from(bytes));
  } catch (e) {
    return { threw: (e as Error).message };
  }
}

const raw = (elements: [string, unknown][]) => new Raw(0x03, elements);

const REPEATED: Buffer[] = [
  bsonOf([['type', 'op'], ['opid', 1], ['opid', 2], ['appName', 'a'], ['client', 'c:1'], ['appName', 'b']]),
  bsonOf([['type', 'idleCursor'], ['cursor', { originatingCommand: { find: 'a' } }], ['cursor', { lastAccessDate: new Date(5) }], ['command', { insert: 'b' }]]),
  bsonOf([['type', 'op'], ['command', raw([['find', 'a'], ['comment', 'one'], ['find', 'b'], ['comment', 'two']])]]),
  bsonOf([['type', 'op'], ['command', raw([['$truncated', '{ find: "x" }'], ['$truncated', '{ insert: "y" }']])]]),
  bsonOf([['type', 'op'], ['command', raw([['aggregate', 1], ['pipeline', [{ $match: {} }]], ['pipeline', [{ $group: {} }, { $out: 'x' }]]])]]),
  bsonOf([['type', 'op'], ['lockStats', raw([['Global', { timeAcquiringMicros: { r: 1 } }], ['Global', { timeAcquiringMicros: { r: 2 } }]])]]),
  bsonOf([['type', 'op'], ['lockStats', raw([['Global', raw([['timeAcquiringMicros', { r: 1 }], ['timeAcquiringMicros', { w: 4 }]])]])]]),
  bsonOf([['type', 'op'], ['lockStats', raw([['Global', raw([['timeAcquiringMicros', raw([['r', 1], ['r', 4]])]])]])]]),
  bsonOf([['type', 'idleSession'], ['transaction', { timeOpenMicros: 5 }], ['transaction', { timeActiveMicros: 6 }]]),
  bsonOf([['type', 'op'], ['lsid', { id: new UUID(ID) }], ['lsid', lsid({ txnUUID: new UUID() })]]),
  bsonOf([['type', 'op'], ['effectiveUsers', [raw([['user', 'a'], ['db', 'b'], ['user', 'c']])]]]),
];

describe('readActivity reads what toActivity reads', () => {
  let standin: RunningStandin;
  let standinDocs: Buffer[] = [];

  before(async () => {
    standin = await startStandin({ params: { transactionLifetimeLimitSeconds: 86_400 } });
    await seed(standin.uri, 300);
    const client = new MongoClient(standin.uri);
    await client.connect();
    try {
      const read = (pipeline: Record<string, unknown>[]) => client.db('admin').aggregate(pipeline, { raw: true }).toArray();
      const stage = { $currentOp: { allUsers: true, idleSessions: true, idleCursors: true } };
      standinDocs = [...(await read([stage])), ...(await read([stage, { $project: CURRENT_OP_PROJECTION }, { $unset: CURRENT_OP_UNSET }]))].map((d) => Buffer.from(d as unknown as Uint8Array));
    } finally {
      await client.close();
    }
  });

  after(async () => {
    await standin?.stop();
  });

  test('the stand-in\'s $currentOp documents, whole and projected, are read directly and equal', () => {
    assert.ok(standinDocs.length > 40, `${standinDocs.length} documents`);
    const types = new Set<string>();
    for (const bytes of standinDocs) {
      const direct = readActivityDirectly(bytes);
      assert.ok(direct, `read directly: ${JSON.stringify(BSON.deserialize(bytes))}`);
      assert.deepEqual(direct, expected(bytes));
      types.add(direct.type);
    }
    assert.deepEqual([...types].sort(), ['idleCursor', 'idleSession', 'op']);
  });

  test('documents shaped as mongod and mongos write them are read directly and equal', () => {
    for (const doc of TYPICAL) {
      const bytes = Buffer.from(BSON.serialize(doc));
      const direct = readActivityDirectly(bytes);
      assert.ok(direct, `read directly: ${JSON.stringify(doc)}`);
      assert.deepEqual(direct, expected(bytes), JSON.stringify(doc));
    }
  });

  test('odd shapes give what the general decoding gives, or the same error', () => {
    for (const doc of ODD) {
      const bytes = BSON.serialize(doc);
      assert.deepEqual(actual(bytes), expected(bytes), JSON.stringify(doc));
    }
  });

  test('repeated keys: the last value wins and the first position counts, as in the deserialised object', () => {
    for (const bytes of REPEATED) assert.deepEqual(actual(bytes), expected(bytes), JSON.stringify(BSON.deserialize(bytes)));
  });

  test('malformed and non-UTF-8 documents: the general decoding decides (here: it throws)', () => {
    const good = Buffer.from(BSON.serialize(op({ appName: 'abc' })));
    const badUtf8 = Buffer.from(good);
    badUtf8[badUtf8.indexOf('abc') + 1] = 0xff;
    const badBool = Buffer.from(BSON.serialize({ type: 'op', active: true }));
    badBool[badBool.length - 2] = 7;
    const cut = Buffer.from(good.subarray(0, good.length - 10));
    for (const bytes of [badUtf8, badBool, cut]) {
      assert.equal(readActivityDirectly(bytes), null);
      const e = expected(bytes) as { threw?: string };
      assert.ok(e.threw, 'the general decoding throws');
      assert.deepEqual(actual(bytes), e);
    }
  });

  test('a document inside a larger buffer is read at its offset', () => {
    const a = Buffer.from(BSON.serialize(op({ opid: 1 })));
    const b = Buffer.from(BSON.serialize(idleCursor()));
    const both = Buffer.concat([a, b]);
    assert.deepEqual(readActivity(both, a.length), expected(b));
    assert.deepEqual(readActivity(both, 0), expected(a));
  });
});

/**
 * Randomised documents (test/support/random-current-op.ts): the direct reader must give what the general decoding
 * gives on every one of them; the generator is tuned so that most are read directly, or the comparison would only
 * test the fallback against itself.
 */
describe('readActivity on randomised documents', () => {
  /** Compares N documents; the message (the document as extended JSON) is built only for the one that differs. */
  function compare(next: () => Buffer, n: number): number {
    let direct = 0;
    for (let i = 0; i < n; i++) {
      const bytes = next();
      const want = expected(bytes);
      if (readActivityDirectly(bytes) !== null) direct++;
      const got = actual(bytes);
      if (!isDeepStrictEqual(got, want)) assert.deepEqual(got, want, `document ${i}: ${JSON.stringify(BSON.EJSON.serialize(BSON.deserialize(bytes)))}`);
    }
    return direct;
  }

  test('10,000 documents mostly of the server\'s types (seed 20261201): equal, and most read directly', () => {
    const n = 10_000;
    const direct = compare(randomCurrentOpDocuments(20261201, 0.02), n);
    assert.ok(direct > n * 0.5, `${direct} of ${n} read directly`);
  });

  test('5,000 documents of any types (seed 1202): equal, or the same error', () => {
    compare(randomCurrentOpDocuments(1202, 0.25), 5_000);
  });
});
