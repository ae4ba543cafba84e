/**
 * A redacted snapshot keeps every value the facts are made of: each $currentOp field the adapter reads
 * (CURRENT_OP_PROJECTION, what toActivity maps into the port's records) is kept, and documents shaped as the
 * server writes them (the shapes of test/facts.derivation.test.ts: curop.cpp reportState, idle cursors,
 * transaction coordinators, index builds, child sessions) give exactly the live records when read back from
 * a redacted line, while the values of their filters and documents do not reach the file.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Binary, BSON, Long, UUID } from 'mongodb';
import { CURRENT_OP_PROJECTION, toActivity } from '../src/adapters/mongodb/adapter.ts';
import { activityFromRecord } from '../src/adapters/snapshot/decode.ts';
import { bsonToCanonicalJson } from '../src/adapters/snapshot/ejson.ts';
import { compileKept, KEPT_CURRENT_OP_FIELDS } from '../src/adapters/snapshot/redaction.ts';

const KEEP = compileKept(KEPT_CURRENT_OP_FIELDS);
const KEPT = KEPT_CURRENT_OP_FIELDS.map((f) => f.path);
const NOW = Date.parse('2026-11-30T12:00:00Z');
const ID = '11111111-1111-4111-8111-111111111111';
const UID = 'a'.repeat(64);
const SECRET = 'customer-secret-4711';
const lsid = (extra: Record<string, unknown> = {}) => ({ id: new UUID(ID), uid: new Binary(Buffer.from(UID, 'hex'), 0), ...extra });
const META = { application: { name: 'orders-api' }, driver: { name: 'nodejs', version: '6.9.0' }, os: { type: 'Linux' } };

/** A client's running operation as mongod reports it (fields in the server's order). */
function op(fields: Record<string, unknown>): Record<string, unknown> {
  return {
    type: 'op', host: 'db1:27017', desc: 'conn12', connectionId: 12, client: '10.1.2.3:50123', appName: 'orders-api', clientMetadata: META,
    active: true, currentOpTime: '2026-11-30T12:00:00.000+00:00', effectiveUsers: [{ user: 'app', db: 'admin' }], threaded: true,
    opid: 4711, lsid: lsid(), secs_running: Long.fromNumber(12), microsecs_running: Long.fromNumber(12_000_000), op: 'query', ns: 'shop.orders',
    redacted: false, command: { find: 'orders', filter: { status: SECRET }, lsid: { id: new UUID(ID) }, $db: 'shop' },
    planSummary: 'COLLSCAN', numYields: 7, locks: {}, waitingForLock: false, lockStats: {}, ...fields,
  };
}

/** An idle cursor as $currentOp reports it: no appName, no client (jstests/core/currentop_cursors.js). */
function idleCursor(cursor: Record<string, unknown>): Record<string, unknown> {
  return {
    type: 'idleCursor', host: 'db1:27017', ns: 'shop.events', lsid: lsid(), planSummary: 'COLLSCAN',
    cursor: {
      cursorId: Long.fromNumber(99), createdDate: new Date(NOW - 1000_000), lastAccessDate: new Date(NOW - 900_000),
      nDocsReturned: Long.fromNumber(2), nBatchesReturned: Long.fromNumber(1), noCursorTimeout: true, tailable: true, awaitData: true,
      originatingCommand: { find: 'events', filter: { email: SECRET }, batchSize: 2, $db: 'shop' }, ...cursor,
    },
  };
}

const lockStats = {
  Global: { acquireCount: { r: Long.fromNumber(3) }, timeAcquiringMicros: { r: Long.fromNumber(1_500_000) } },
  Collection: { timeAcquiringMicros: { w: Long.fromNumber(500_000), W: Long.fromNumber(1_000_000) } },
};

const DOCUMENTS: Record<string, Record<string, unknown>> = {
  'an operation with a comment, a query shape hash and contention': op({
    command: { find: 'orders', filter: { ssn: SECRET }, comment: 'nightly-report', $db: 'shop' }, queryShapeHash: 'A1B2C3',
    waitingForLock: true, lockStats, numYields: 40, writeConflicts: 3, killPending: true,
  }),
  'a truncated command with a non-string comment': op({ command: { $truncated: `{ aggregate: "orders", pipeline: [ { $match: { ssn: "${SECRET}" } } ...`, comment: { job: 7 } } }),
  'a truncated command whose text is quoted JSON': op({ command: { $truncated: `{ "insert": "orders", "documents": [ { "ssn": "${SECRET}" } ...` } }),
  'an aggregation writing with $merge': op({ command: { aggregate: 'orders', pipeline: [{ $match: { ssn: SECRET } }, { $merge: { into: 'out' } }], cursor: {}, $db: 'shop' } }),
  'a change stream getMore': op({
    op: 'getmore', command: { getMore: Long.fromNumber(5), collection: 'orders' },
    cursor: { cursorId: Long.fromNumber(5), tailable: true, awaitData: true, nDocsReturned: Long.fromNumber(9), originatingCommand: { aggregate: 'orders', pipeline: [{ $changeStream: {} }], comment: 'cdc' } },
  }),
  'an index build': op({
    desc: 'IndexBuildsCoordinatorMongod-3', op: 'command', command: { createIndexes: 'orders', indexes: [{ key: { ssn: 1 }, name: 'ssn_1' }] },
    msg: 'Index Build: scanning collection Index Build: scanning collection: 120/4000 3%', appName: undefined, client: undefined,
  }),
  'a transaction coordinator': op({ desc: 'transaction coordinator', twoPhaseCommitCoordinator: { lsid: lsid(), txnNumber: Long.fromNumber(3), numParticipants: 2, state: 'writingDecision' } }),
  'an internal child session': op({ lsid: lsid({ txnNumber: Long.fromNumber(2), txnUUID: new UUID() }), command: { update: 'orders', updates: [{ q: { ssn: SECRET } }] } }),
  'an idle session in a prepared transaction': {
    type: 'idleSession', host: 'db1:27017', desc: 'inactive transaction', client: '10.1.2.3:50123', appName: 'billing', clientMetadata: META,
    lsid: lsid(), active: false, effectiveUsers: [{ user: 'etl', db: 'admin' }],
    transaction: {
      parameters: { txnNumber: Long.fromNumber(4), autocommit: false, readConcern: { level: 'snapshot' } },
      timeOpenMicros: Long.fromNumber(300_000_000), timeActiveMicros: Long.fromNumber(1_000), timeInactiveMicros: Long.fromNumber(299_999_000),
      timePreparedMicros: Long.fromNumber(100_000_000), expiryTime: new Date(NOW + 60_000), numParticipants: 1,
    },
  },
  'an idle cursor with a comment': idleCursor({ originatingCommand: { find: 'events', filter: { email: SECRET }, comment: { ticket: 'OPS-12' } } }),
  'an idle cursor of a truncated originating command': idleCursor({ originatingCommand: { $truncated: `{ find: "events", filter: { email: "${SECRET}" } ...` } }),
  'an operation through mongos': op({ client: undefined, client_s: '10.9.9.9:4000', opid: 'shard01:4711', shard: 'shard01' }),
};

/** The document as the driver gives it live (undefined fields dropped, as BSON does). */
const live = (doc: Record<string, unknown>) => BSON.deserialize(BSON.serialize(doc, { ignoreUndefined: true }));

describe('redaction keeps what the facts read', () => {
  test('every $currentOp field the adapter reads is kept, itself or under a kept field; of the commands, what toActivity reads', () => {
    const kept = (path: string) => KEPT.some((k) => path === k || path.startsWith(`${k}.`));
    // command and cursor.originatingCommand are read for their first field name and their pipeline's stage
    // names (field names are always kept), their comment and a truncated command's name (kept fields).
    const commands = ['command', 'cursor.originatingCommand'];
    for (const path of Object.keys(CURRENT_OP_PROJECTION)) {
      if (commands.includes(path)) continue;
      assert.ok(kept(path), `${path} is read by the adapter (CURRENT_OP_PROJECTION) but redacted in snapshots: add it to KEPT_CURRENT_OP_FIELDS`);
    }
    for (const c of commands) for (const field of ['comment', '$truncated']) assert.ok(kept(`${c}.${field}`), `${c}.${field} is kept`);
  });

  for (const [name, doc] of Object.entries(DOCUMENTS)) {
    test(`${name}: the record read back from the redacted line is the live one, and no customer value is in it`, () => {
      const line = bsonToCanonicalJson(BSON.serialize(doc, { ignoreUndefined: true }), KEEP);
      assert.ok(!line.includes(SECRET), line);
      assert.deepEqual(activityFromRecord({ where: name, text: line }), toActivity(live(doc)));
    });
  }

  test('the documents exercise every field of the record with a value other than its default', () => {
    const records = Object.values(DOCUMENTS).map((d) => toActivity(live(d)));
    const empty = toActivity({});
    for (const field of Object.keys(empty) as (keyof typeof empty)[]) {
      assert.ok(records.some((r) => JSON.stringify(r[field]) !== JSON.stringify(empty[field])), `no document sets ${field}`);
    }
  });
});
