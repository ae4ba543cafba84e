/**
 * The snapshot's document encoding: canonical Extended JSON written from the BSON bytes, held to bson's own
 * EJSON for every BSON type; the redaction (values replaced by type markers, names and shapes kept, the
 * facts' fields kept); credentials removed in every mode; and the reading back of listing documents, whose
 * fast path must give exactly what the live adapter's raw reader gives.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import {
  Binary, BSON, BSONRegExp, BSONSymbol, Code, DBRef, Decimal128, Double, Int32, Long, MaxKey, MinKey, ObjectId, Timestamp, UUID,
} from 'mongodb';
import { activityFromRecord, currentOpDocument, generalDriverDocument, listedFromRecord } from '../src/adapters/snapshot/decode.ts';
import { bsonToCanonicalJson } from '../src/adapters/snapshot/ejson.ts';
import { compileKept, KEEP_ALL, KEPT_CURRENT_OP_FIELDS, KEPT_LISTING_FIELDS } from '../src/adapters/snapshot/redaction.ts';
import { readListedSession } from '../src/adapters/mongodb/session-doc-reader.ts';
import { toActivity, toListedSession } from '../src/adapters/mongodb/adapter.ts';
import { randomCurrentOpDocuments } from './support/random-current-op.ts';

const every = {
  double: new Double(1.5), whole: new Double(3), negZero: new Double(-0), inf: new Double(Infinity), nan: new Double(NaN),
  string: 'héllo "quoted" \n line', doc: { a: { b: [1, 'x', { c: null }] } }, arr: [new Int32(1), Long.fromString('9007199254740993')],
  bin: new Binary(Buffer.from([1, 2, 3]), 0), uuid: new UUID(), old: new Binary(Buffer.from([9, 8]), 2),
  oid: new ObjectId(), yes: true, no: false, date: new Date(1_700_000_000_123), before1970: new Date(-5), nil: null,
  re: new BSONRegExp('^a.b$', 'im'), code: new Code('function () { return 1; }'), scoped: new Code('x', { x: new Int32(1) }),
  sym: new BSONSymbol('sym'), i32: new Int32(-7), ts: new Timestamp({ t: 4_000_000_000, i: 7 }), i64: Long.fromString('-42'),
  dec: Decimal128.fromString('1234.5678E-3'), min: new MinKey(), max: new MaxKey(),
  ref: new DBRef('coll', new ObjectId()),
};

describe('canonical Extended JSON from BSON bytes', () => {
  test('every BSON type reads back as bson\'s own canonical EJSON does', () => {
    // Act
    const bytes = BSON.serialize(every);
    const ours = bsonToCanonicalJson(bytes, KEEP_ALL);
    const theirs = BSON.EJSON.stringify(BSON.deserialize(bytes, { promoteValues: false }), { relaxed: false });
    // Assess: the same values, type for type (compared as BSON: NaN and -0 compare by bytes).
    const back = (text: string) => Buffer.from(BSON.serialize(BSON.EJSON.parse(text, { relaxed: false }))).toString('hex');
    assert.equal(back(ours), back(theirs));
    assert.equal(back(ours), Buffer.from(bytes).toString('hex'));
  });

  test('redacted: every value outside the kept fields becomes a marker naming its type; names and shapes stay', () => {
    // Prepare: a $currentOp document whose command carries customer data.
    const doc = {
      type: 'op', opid: 17, active: true, secs_running: Long.fromNumber(12), ns: 'shop.customers', appName: 'crm',
      lsid: { id: new UUID(), uid: new Binary(randomBytes(32), 0) },
      command: { find: 'customers', filter: { ssn: '078-05-1120', age: { $gt: 40 } }, comment: 'ticket 4711' },
      cursor: { lastAccessDate: new Date(5), originatingCommand: { filter: { email: 'jane@example.com' } } },
      effectiveUsers: [{ user: 'app', db: 'admin' }],
    };
    // Act
    const line = bsonToCanonicalJson(BSON.serialize(doc), compileKept(KEPT_CURRENT_OP_FIELDS));
    // Assess
    for (const secret of ['078-05-1120', '"40"', 'jane@example.com', '"find":"customers"']) assert.ok(!line.includes(secret), `${secret} is not in ${line}`);
    const back = JSON.parse(line);
    // The comment is a fact (comments): kept.
    assert.deepEqual(back.command, { find: '<redacted:string>', filter: { ssn: '<redacted:string>', age: { $gt: '<redacted:int>' } }, comment: 'ticket 4711' });
    assert.deepEqual(back.cursor.originatingCommand, { filter: { email: '<redacted:string>' } });
    assert.equal(back.ns, 'shop.customers');
    assert.deepEqual(back.effectiveUsers, [{ user: 'app', db: 'admin' }]);
    assert.deepEqual(back.secs_running, { $numberLong: '12' });
    // The facts come out as they would live.
    assert.deepEqual(activityFromRecord({ where: 'test', text: line }), toActivity(BSON.deserialize(BSON.serialize(doc))));
  });

  test('credentials are removed in every mode, --keep-values too, and connection strings lose their user:password', () => {
    const doc = { command: { createUser: 'etl', pwd: 'hunter2', roles: [] }, sasl: { payload: new Binary(Buffer.from('n,,n=u,r=nonce')) }, note: 'mongodb://etl:hunter2@db:27017/x' };
    for (const keep of [KEEP_ALL, compileKept(KEPT_CURRENT_OP_FIELDS)]) {
      const line = bsonToCanonicalJson(BSON.serialize(doc), keep);
      assert.ok(!line.includes('hunter2'), line);
      assert.ok(!line.includes(Buffer.from('n,,n=u,r=nonce').toString('base64')), line);
    }
    assert.match(bsonToCanonicalJson(BSON.serialize(doc), KEEP_ALL), /"createUser":"etl"/);
  });
});

describe('listing documents read back', () => {
  const uid = new Binary(randomBytes(32), 0);
  const shapes = [
    { _id: { id: new UUID(), uid }, lastUse: new Date(1_700_000_000_000), user: { name: 'app@admin' } },
    { _id: { id: new UUID(), uid }, lastUse: new Date(1_700_000_000_001), user: 'app@admin' },
    { _id: { id: new UUID(), uid } },
    { _id: { id: new UUID(), uid }, lastUse: 'not a date', user: 7, extra: { deep: [1] } },
  ];
  for (const [i, doc] of shapes.entries()) {
    test(`shape ${i}: the same record as the live raw reader, on every path`, () => {
      const bytes = BSON.serialize(doc);
      const line = bsonToCanonicalJson(bytes, compileKept(KEPT_LISTING_FIELDS));
      const live = readListedSession(bytes);
      // The recorded line (read without JSON.parse when it has the usual shape) ...
      assert.deepEqual(listedFromRecord({ where: 'test', text: line }), live);
      // ... the same line spaced out (parsed, then read from the parsed document) ...
      assert.deepEqual(listedFromRecord({ where: 'test', text: JSON.stringify(JSON.parse(line), null, 1) }), live);
      // ... and relaxed Extended JSON (a file edited by hand, another tool).
      if (!('extra' in doc)) assert.deepEqual(listedFromRecord({ where: 'test', text: BSON.EJSON.stringify(BSON.deserialize(bytes), { relaxed: true }) }), live);
    });
  }

  test('an id that is not a UUID (an old-UUID binary, subtype 3) is refused live and in a snapshot, as the general decoding refuses it', () => {
    const bytes = BSON.serialize({ _id: { id: new Binary(randomBytes(16), 3), uid }, lastUse: new Date(0) });
    assert.throws(() => readListedSession(bytes), /no _id\.id \(UUID\)/);
    assert.throws(() => toListedSession(BSON.deserialize(bytes)), /not supported for converting to UUID|UUID/);
    const line = bsonToCanonicalJson(bytes, compileKept(KEPT_LISTING_FIELDS));
    assert.throws(() => listedFromRecord({ where: 'snap.jsonl:7', text: line }), (e: Error) => e.name === 'SnapshotError' && /snap\.jsonl:7: the session listing document cannot be read/.test(e.message));
  });

  test('recorded lines read at fixed places give what the live raw reader gives, for any id, uid, time and name', () => {
    const names = ['app@admin', '', 'x', 'quote"d@admin', 'back\\slash@admin', 'héllo@db', 'tab\tname@admin', 'a}b@admin', 'ünïcödé €@admin'];
    for (let i = 0; i < 500; i++) {
      const user = names[i % names.length]!;
      const doc = {
        _id: { id: new UUID(), uid: new Binary(randomBytes(i % 7 === 0 ? 20 : 32), 0) },
        lastUse: new Date(i % 5 === 0 ? -Math.floor(Math.random() * 1e12) : Math.floor(Math.random() * 4e12)),
        ...(i % 3 === 0 ? {} : i % 3 === 1 ? { user } : { user: { name: user } }),
      };
      const bytes = BSON.serialize(doc);
      const line = bsonToCanonicalJson(bytes, compileKept(KEPT_LISTING_FIELDS));
      assert.deepEqual(listedFromRecord({ where: 'test', text: line }), readListedSession(bytes), line);
    }
  });

  test('a document without a session key names where it is', () => {
    assert.throws(() => listedFromRecord({ where: 'snap.jsonl.gz line 9', text: '{"lastUse":{"$date":"2024-01-01T00:00:00Z"}}' }), /^SnapshotError: snap\.jsonl\.gz line 9: the session listing document cannot be read \(.*_id\.id/);
    assert.throws(() => listedFromRecord({ where: 'snap.jsonl.gz line 9', text: '{"_id":' }, 'listSessions document'), /^SnapshotError: snap\.jsonl\.gz line 9: the listSessions document is not valid JSON/);
  });
});

describe('$currentOp documents read back', () => {
  test('the direct conversion gives what the general path (bson EJSON, BSON round trip) gives, value for value', () => {
    // Prepare: the types $currentOp documents carry, nested as they are, and values at the edges.
    const docs = [
      {
        type: 'op', opid: 12, active: true, secs_running: Long.fromNumber(5), microsecs_running: Long.fromString('9007199254740993'),
        lsid: { id: new UUID(), uid: new Binary(randomBytes(32), 0) }, currentOpTime: '2024-06-01T12:00:00.000+00:00',
        effectiveUsers: [{ user: 'a', db: 'admin' }], numYields: new Int32(0), ratio: new Double(0.25), whole: new Double(2), neg: new Double(-0),
        locks: {}, lockStats: { Global: { acquireCount: { r: Long.fromNumber(3) } } }, nothing: null, flags: [true, false],
        command: { find: 'c', filter: { a: { $gt: 5, $in: [1, 'x'] } }, $db: 'shop', lsid: { id: new UUID() } },
        txn: { readTimestamp: new Timestamp({ t: 1, i: 2 }), startWallClockTime: new Date(3), id: new ObjectId() },
        bins: [new Binary(Buffer.from([1]), 0), new Binary(Buffer.from('0123456789abcdef'), 4), new Binary(Buffer.from([2, 3]), 2), new Binary(Buffer.alloc(0), 5)],
      },
      { type: 'idleCursor', cursor: { cursorId: Long.fromString('-8070450532247928832'), lastAccessDate: new Date(-1000), tailable: false } },
    ];
    for (const doc of docs) {
      // Act
      const text = bsonToCanonicalJson(BSON.serialize(doc), KEEP_ALL);
      // Assess
      assert.deepStrictEqual(currentOpDocument(JSON.parse(text), text), generalDriverDocument(JSON.parse(text)));
      assert.deepStrictEqual(currentOpDocument(JSON.parse(text), text), BSON.deserialize(BSON.serialize(doc)));
    }
  });

  test('rare types (decimal, regex, code, DBRef) take the general path and still come out as the driver\'s', () => {
    const doc = { type: 'op', d: Decimal128.fromString('1.5'), re: new BSONRegExp('a', 'i'), code: new Code('x'), ref: new DBRef('c', new ObjectId()), min: new MinKey() };
    const text = bsonToCanonicalJson(BSON.serialize(doc), KEEP_ALL);
    assert.deepStrictEqual(currentOpDocument(JSON.parse(text), text), BSON.deserialize(BSON.serialize(doc)));
  });
});

describe('$currentOp documents read back, randomised', () => {
  test('a UUID-subtype binary of other than 16 bytes (which bson\'s Extended JSON cannot read back) is refused with the place, not misread', () => {
    const bytes = BSON.serialize({ type: 'op', opid: 1, command: { find: 'c', comment: new Binary(Buffer.alloc(8), Binary.SUBTYPE_UUID) }, other: new BSON.MinKey() });
    const line = bsonToCanonicalJson(bytes, KEEP_ALL);
    assert.throws(() => activityFromRecord({ where: 'snap.jsonl:3', text: line }), (e: Error) => e.name === 'SnapshotError' && /^snap\.jsonl:3: the \$currentOp document cannot be read/.test(e.message));
  });

  /** What a reading gives, or that it threw. */
  const outcome = (f: () => unknown): unknown => {
    try {
      return f();
    } catch {
      return 'throws';
    }
  };
  // Seeded random documents (test/support/random-current-op.ts), recorded whole and with the kept fields only:
  // the replay must read from each line what the live pass read from the bytes, or fail where that fails. Whole,
  // documents of any types; with the kept fields, documents of the server's types only: redaction replaces the
  // values it drops by typed text markers, which a document of the wrong types (a command with $ref and $id
  // keys, which a text $ref makes a DBRef) can read differently.
  const SEEDS = { whole: [[7, 0.02], [8, 0.25]], kept: [[7, 0.02], [9, 0.02]] } as const;
  for (const [name, keep, seeds] of [['whole', KEEP_ALL, SEEDS.whole], ['kept fields', compileKept(KEPT_CURRENT_OP_FIELDS), SEEDS.kept]] as const) {
    test(`${name}: 4,000 documents of seeds ${seeds.map(([s]) => s).join(' and ')} give toActivity's record, or fail where it fails`, () => {
      let read = 0;
      for (const [seed, wild] of seeds) {
        const next = randomCurrentOpDocuments(seed, wild);
        for (let i = 0; i < 2_000; i++) {
          const bytes = next();
          const want = outcome(() => toActivity(BSON.deserialize(bytes)));
          const got = outcome(() => activityFromRecord({ where: 'test', text: bsonToCanonicalJson(bytes, keep) }));
          if (want !== 'throws') read++;
          if (!isDeepStrictEqual(got, want)) assert.deepEqual(got, want, `seed ${seed}, document ${i}: ${JSON.stringify(BSON.EJSON.serialize(BSON.deserialize(bytes)))}`);
        }
      }
      assert.ok(read > 2_000, `${read} of 4,000 documents read`);
    });
  }
});
