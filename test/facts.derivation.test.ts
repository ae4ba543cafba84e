/**
 * Every fact derived from what the server reports, from $currentOp documents shaped as the server writes them
 * (curop.cpp reportCurrentOpForClient / reportState, common_process_interface.cpp for idle cursors,
 * transaction_coordinator.cpp, and the documents asserted in jstests/core/currentop_cursors.js,
 * jstests/noPassthrough/indexbg_killop_primary_after_init.js and jstests/sharding/internal_txns/kill_sessions.js),
 * through the adapter's mapping and the inventory's aggregation into one record per session.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Long, UUID } from 'mongodb';
import { toActivity } from '../src/adapters/mongodb/adapter.ts';
import { InventoryBuilder } from '../src/pass/inventory.ts';
import type { SessionFacts } from '../src/pass/facts.ts';
import type { IdentitySightings } from '../src/pass/ports.ts';
import { ID, idleCursor, lsid, META, NOW, UID } from './support/current-op-docs.ts';

const SELF = { sessionId: '00000000-0000-4000-8000-000000000000', uid: 'f'.repeat(64), user: 'reaper@admin' };

/** A client's running operation as mongod reports it (fields in the server's order). */
function op(fields: Record<string, unknown>): Record<string, unknown> {
  return {
    type: 'op', host: 'db1:27017', desc: 'conn12', connectionId: 12, client: '10.1.2.3:50123', appName: 'orders-api', clientMetadata: META,
    active: true, currentOpTime: '2026-11-30T12:00:00.000+00:00', effectiveUsers: [{ user: 'app', db: 'admin' }], threaded: true,
    opid: 4711, lsid: lsid(), secs_running: Long.fromNumber(12), microsecs_running: Long.fromNumber(12_000_000), op: 'query', ns: 'shop.orders',
    redacted: false, command: { find: 'orders', filter: { status: 'open' }, lsid: { id: new UUID(ID) }, $db: 'shop' },
    planSummary: 'COLLSCAN', numYields: 7, locks: {}, waitingForLock: false, lockStats: {}, ...fields,
  };
}

function factsOf(docs: Record<string, unknown>[], sightings?: IdentitySightings): SessionFacts {
  const b = new InventoryBuilder(NOW, SELF, sightings);
  for (const d of docs) b.addActivity(toActivity(d));
  const inv = b.build();
  return (inv.sessions[0] ?? inv.sessionlessOps[0])!;
}

describe('facts from what the server reports', () => {
  it('command, comment, desc, planSummary, queryShapeHash, driver and connection of an operation', () => {
    const f = factsOf([op({ command: { find: 'orders', filter: {}, comment: 'nightly-report', $db: 'shop' }, queryShapeHash: 'A1B2C3' })]);
    assert.deepEqual(f.commandNames, ['find']);
    assert.deepEqual(f.comments, ['nightly-report']);
    assert.equal(f.desc, 'conn12');
    assert.equal(f.planSummary, 'COLLSCAN');
    assert.equal(f.queryShapeHash, 'A1B2C3');
    assert.equal(f.clientDriver, 'nodejs 6.9.0');
    assert.equal(f.connectionId, 12);
    assert.equal(f.holdsNothing, false);
  });

  it('a non-string comment is kept as JSON; a truncated command still gives its name', () => {
    const f = factsOf([op({ command: { $truncated: '{ aggregate: "orders", pipeline: [ { $match: {...', comment: { job: 7 } } })]);
    assert.deepEqual(f.commandNames, ['aggregate']);
    assert.deepEqual(f.comments, ['{"job":7}']);
  });

  it('contention: waitingForLock, lock wait summed over lockStats.*.timeAcquiringMicros, yields, write conflicts, killPending', () => {
    const lockStats = {
      Global: { acquireCount: { r: Long.fromNumber(3) }, acquireWaitCount: { r: Long.fromNumber(1) }, timeAcquiringMicros: { r: Long.fromNumber(1_500_000) } },
      Collection: { acquireCount: { w: Long.fromNumber(1) }, timeAcquiringMicros: { w: Long.fromNumber(500_000), W: Long.fromNumber(1_000_000) } },
    };
    const f = factsOf([op({ waitingForLock: true, lockStats, numYields: 40, writeConflicts: 3, killPending: true })]);
    assert.equal(f.waitingForLock, true);
    assert.equal(f.lockWaitSeconds, 3);
    assert.equal(f.numYields, 40);
    assert.equal(f.writeConflicts, 3);
    assert.equal(f.killPending, true);
  });

  it('an idle cursor: flags, documents returned, the originating command, and no identity', () => {
    const f = factsOf([idleCursor({ tailable: true, awaitData: true, noCursorTimeout: true, nDocsReturned: Long.fromNumber(40), originatingCommand: { find: 'events', tailable: true, awaitData: true, comment: 'tail', $db: 'shop' } })]);
    assert.equal(f.tailable, true);
    assert.equal(f.awaitData, true);
    assert.equal(f.noCursorTimeout, true);
    assert.equal(f.docsReturned, 40);
    assert.deepEqual(f.commandNames, ['find']);
    assert.deepEqual(f.comments, ['tail']);
    assert.equal(f.planSummary, 'COLLSCAN');
    assert.equal(f.appName, null, 'idle cursors carry no appName: unknown, not ""');
    assert.equal(f.client, null);
    assert.equal(f.clientHost, null);
    assert.equal(f.clientDriver, null);
  });

  it('a client that gave no appName is "" (known), not unknown', () => {
    const f = factsOf([op({ appName: undefined, clientMetadata: { driver: { name: 'PyMongo', version: '4.8.0' } } })]);
    assert.equal(f.appName, '');
    assert.equal(f.clientDriver, 'PyMongo 4.8.0');
  });

  it('a getMore operation is named by its cursor\'s originating command', () => {
    const f = factsOf([op({ op: 'getmore', command: { getMore: Long.fromNumber(99), collection: 'events', $db: 'shop' }, cursor: { cursorId: Long.fromNumber(99), originatingCommand: { aggregate: 'events', pipeline: [{ $changeStream: {} }], cursor: {}, $db: 'shop' }, tailable: true, awaitData: true, nDocsReturned: Long.fromNumber(5) } })]);
    assert.deepEqual(f.commandNames, ['aggregate']);
    assert.equal(f.isChangeStream, true);
    assert.equal(f.tailable, true);
  });

  it('a change stream is recognised on its idle cursor through the originating command', () => {
    const f = factsOf([idleCursor({ tailable: true, awaitData: true, originatingCommand: { aggregate: 'orders', pipeline: [{ $changeStream: { fullDocument: 'updateLookup' } }, { $match: { operationType: 'insert' } }], cursor: {}, $db: 'shop' } })]);
    assert.equal(f.isChangeStream, true);
    assert.equal(f.writesOutput, false);
  });

  it('index builds: the client\'s createIndexes, and the coordinator thread by desc or msg', () => {
    const client = factsOf([op({ op: 'command', command: { createIndexes: 'orders', indexes: [{ key: { sku: 1 }, name: 'sku_1' }], $db: 'shop' }, planSummary: undefined })]);
    assert.equal(client.isIndexBuild, true);
    assert.deepEqual(client.commandNames, ['createIndexes']);
    // The build thread has no client and no lsid: counted as internal, never a record (so never killed).
    const b = new InventoryBuilder(NOW, SELF);
    b.addActivity(toActivity({ type: 'op', host: 'db1:27017', desc: 'IndexBuildsCoordinatorMongod-0', active: true, opid: 1812446, secs_running: Long.fromNumber(14), op: 'command', ns: 'shop.orders', command: { createIndexes: 'orders', indexes: [] }, msg: 'Index Build: scanning collection Index Build: scanning collection: 640363/1000000 64%', progress: { done: 640363, total: 1000000 } }));
    assert.equal(b.build().internalOps, 1);
    const byMsg = factsOf([op({ desc: 'conn9', command: { aggregate: 1 }, msg: 'Index Build: draining writes received during build' })]);
    assert.equal(byMsg.isIndexBuild, true);
  });

  it('$out / $merge aggregations write output', () => {
    assert.equal(factsOf([op({ command: { aggregate: 'orders', pipeline: [{ $match: {} }, { $merge: { into: 'totals' } }], cursor: {} } })]).writesOutput, true);
    assert.equal(factsOf([op({ command: { aggregate: 'orders', pipeline: [{ $group: { _id: 1 } }, { $out: 'totals' }], cursor: {} } })]).writesOutput, true);
    assert.equal(factsOf([op({ command: { aggregate: 'orders', pipeline: [{ $match: {} }], cursor: {} } })]).writesOutput, false);
  });

  it('internal commands, system namespaces, resharding and commit coordinators', () => {
    assert.equal(factsOf([op({ op: 'command', command: { _recvChunkStart: 'shop.orders', $db: 'admin' } })]).isInternalCommand, true);
    assert.equal(factsOf([op({ command: { _shardsvrMovePrimary: 'shop' } })]).isInternalCommand, true);
    for (const ns of ['local.oplog.rs', 'config.system.sessions', 'admin.system.users']) assert.equal(factsOf([op({ ns })]).isSystemNamespace, true, ns);
    assert.equal(factsOf([op({ ns: 'admin.$cmd' })]).isSystemNamespace, false);
    assert.equal(factsOf([op({ command: { reshardCollection: 'shop.orders', key: { sku: 1 } } })]).isResharding, true);
    assert.equal(factsOf([op({ command: { _shardsvrReshardCollection: 'shop.orders' } })]).isResharding, true);
    assert.equal(factsOf([op({ desc: 'ReshardingRecipientService 6f0e…', command: {} })]).isResharding, true);
    // transaction_coordinator.cpp reportForCurrentOp: desc "transaction coordinator", the client's lsid, twoPhaseCommitCoordinator.
    const coordinator = factsOf([{ type: 'op', desc: 'transaction coordinator', active: true, lsid: lsid(), txnNumber: Long.fromNumber(3), client: '10.0.0.7:5000', twoPhaseCommitCoordinator: { lsid: lsid(), txnNumber: Long.fromNumber(3), numParticipants: 2, state: 'waitingForVotes', commitStartTime: new Date(NOW - 1000), hasRecoveredFromFailover: false } }]);
    assert.equal(coordinator.isCommitCoordinator, true);
  });

  it('an internal child session (lsid with txnNumber and txnUUID) is joined to its parent (id, uid)', () => {
    const b = new InventoryBuilder(NOW, SELF);
    b.addActivity(toActivity(op({})));
    b.addActivity(toActivity(op({ opid: 4712, lsid: lsid({ txnNumber: Long.fromNumber(0), txnUUID: new UUID() }), command: { insert: 'orders', documents: [], $db: 'shop' } })));
    b.addActivity(toActivity(op({ opid: 4713, lsid: lsid({ txnUUID: new UUID() }), command: { update: 'orders', updates: [], $db: 'shop' } })));
    const inv = b.build();
    assert.equal(inv.sessions.length, 1, 'one record: the parent');
    assert.equal(inv.sessions[0]!.sessionId, ID);
    assert.equal(inv.sessions[0]!.uid, UID);
    assert.equal(inv.sessions[0]!.childSessionDocs, 2);
    assert.deepEqual(inv.sessions[0]!.commandNames, ['find', 'insert', 'update']);
  });

  it('several documents of a session: lists, "any", sums and maxima, the oldest operation\'s single values', () => {
    const f = factsOf([
      idleCursor({ nDocsReturned: Long.fromNumber(3), noCursorTimeout: true }, { planSummary: 'IXSCAN { day: 1 }' }),
      op({ opid: 1, secs_running: Long.fromNumber(5), desc: 'conn5', connectionId: 5, numYields: 2, planSummary: 'IXSCAN { a: 1 }' }),
      op({ opid: 2, secs_running: Long.fromNumber(50), desc: 'conn6', connectionId: 6, numYields: 1, planSummary: 'COLLSCAN', command: { createIndexes: 'orders', indexes: [] } }),
      idleCursor({ nDocsReturned: Long.fromNumber(4), originatingCommand: { aggregate: 'events', pipeline: [{ $match: {} }], cursor: {} } }),
    ]);
    assert.deepEqual(f.commandNames, ['find', 'createIndexes', 'aggregate']);
    assert.equal(f.desc, 'conn6', 'the oldest (longest-running) operation');
    assert.equal(f.connectionId, 6);
    assert.equal(f.planSummary, 'COLLSCAN');
    assert.equal(f.numYields, 2, 'the most of one operation');
    assert.equal(f.docsReturned, 7, 'summed over cursors');
    assert.equal(f.noCursorTimeout, true, 'any cursor');
    assert.equal(f.isIndexBuild, true, 'any operation');
    assert.equal(f.cursorCount, 2);
    assert.equal(f.appName, 'orders-api', 'named by the operations, for the whole session');
  });

  it('a cursor-only session takes its identity from another document of the same pass', () => {
    const f = factsOf([
      idleCursor({}),
      { type: 'idleSession', host: 'db1:27017', desc: 'inactive transaction', client: '10.9.8.7:40000', connectionId: 31, appName: 'analytics', clientMetadata: { application: { name: 'analytics' }, driver: { name: 'nodejs', version: '7.0.0' } }, lsid: lsid(), transaction: { timeOpenMicros: Long.fromNumber(9e6), timeActiveMicros: Long.fromNumber(1e6), timeInactiveMicros: Long.fromNumber(8e6) }, waitingForLock: false, active: false, locks: {}, lockStats: {} },
    ]);
    assert.equal(f.appName, 'analytics');
    assert.equal(f.client, '10.9.8.7:40000');
    assert.equal(f.clientHost, '10.9.8.7');
    assert.equal(f.clientDriver, 'nodejs 7.0.0');
    assert.equal(f.connectionId, 31);
  });

  it('the sightings hook fills in what this pass left unknown, and only that', () => {
    const asked: string[] = [];
    const sightings: IdentitySightings = {
      lookup: (id, uid) => {
        asked.push(`${id}/${uid}`);
        return { appName: 'mongodump', client: '10.0.0.2:7000', clientDriver: null };
      },
    };
    const f = factsOf([idleCursor({})], sightings);
    assert.equal(f.appName, 'mongodump');
    assert.equal(f.clientHost, '10.0.0.2');
    assert.equal(f.clientDriver, null);
    assert.deepEqual(asked, [`${ID}/${UID}`]);
    const known = factsOf([op({})], sightings);
    assert.equal(known.appName, 'orders-api', 'what this pass saw wins');
  });

  it('a session known only from the listings holds nothing and has no known identity', () => {
    const b = new InventoryBuilder(NOW, SELF);
    b.addListed({ id: ID, uid: UID, lastUseMs: NOW - 60_000, user: 'app@admin' }, 'listSessions');
    const [s] = b.build().sessions;
    assert.equal(s!.holdsNothing, true);
    assert.equal(s!.appName, null);
  });
});
