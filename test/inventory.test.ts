/**
 * The facts join, without a server: listings and $currentOp documents (normalised as the adapter does)
 * become one record per (id, uid), sessionless operations apart, internal threads left out.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Binary, Long } from 'mongodb';
import { InventoryBuilder } from '../src/pass/inventory.ts';
import { emptyFacts } from '../src/pass/facts.ts';
import { toActivity, toListedSession, killSessionsCommand } from '../src/adapters/mongodb/adapter.ts';
import { activity } from './support/activity.ts';

const NOW = Date.parse('2026-11-30T12:00:00Z');
const SELF = { sessionId: '00000000-0000-4000-8000-000000000000', uid: 'f'.repeat(64), user: 'reaper@admin' };
const UID_A = 'a'.repeat(64);
const UID_B = 'b'.repeat(64);
const ID_1 = '11111111-1111-4111-8111-111111111111';

describe('inventory join', () => {
  it('the same id under two uids is two sessions', () => {
    // Prepare
    const b = new InventoryBuilder(NOW, SELF);
    // Act
    b.addListed({ id: ID_1, uid: UID_A, lastUseMs: NOW - 60_000, user: 'alice@admin' }, 'listSessions');
    b.addListed({ id: ID_1, uid: UID_B, lastUseMs: NOW - 60_000, user: 'bob@admin' }, 'listSessions');
    const inv = b.build();
    // Assess
    assert.equal(inv.sessions.length, 2);
    assert.deepEqual(inv.sessions.map((s) => s.user), ['alice@admin', 'bob@admin']);
  });

  it('through mongos, one session seen on two shards\' members and on its router is one record: where it holds what', () => {
    // Prepare: a transaction with a participant on each shard, and the router's own state for it.
    const b = new InventoryBuilder(NOW, SELF);
    const txn = { openSeconds: 100, activeSeconds: 1, inactiveSeconds: 99, prepared: false, expiresAtMs: 0, txnNumber: 3 };
    // Act
    b.addActivity(activity({ type: 'idleSession', sessionId: ID_1, uid: UID_A, active: false, txn, member: 'sh0-a:27018', memberState: 'PRIMARY', shard: 'shard0' }));
    b.addActivity(activity({ type: 'idleSession', sessionId: ID_1, uid: UID_A, active: false, txn, member: 'sh1-a:27018', memberState: 'PRIMARY', shard: 'shard1' }));
    b.addActivity(activity({ type: 'idleSession', sessionId: ID_1, uid: UID_A, active: false, txn, member: 'router:27017', memberState: 'MONGOS' }));
    b.addActivity(activity({ type: 'idleCursor', sessionId: ID_1, uid: UID_A, active: false, member: 'sh1-b:27018', memberState: 'SECONDARY', shard: 'shard1', cursorLastAccessMs: NOW - 5_000 }));
    const inv = b.build();
    // Assess
    assert.equal(inv.sessions.length, 1);
    const [f] = inv.sessions;
    assert.deepEqual(f!.shards, ['shard0', 'shard1']);
    assert.deepEqual(f!.members, ['sh0-a:27018', 'sh1-a:27018', 'router:27017', 'sh1-b:27018']);
    assert.deepEqual(f!.memberStates, ['PRIMARY', 'MONGOS', 'SECONDARY']);
    assert.equal(f!.onSecondary, true);
  });

  it('lastUse is the most recent of $listSessions (flushed) and $listLocalSessions (exact)', () => {
    const b = new InventoryBuilder(NOW, SELF);
    b.addListed({ id: ID_1, uid: UID_A, lastUseMs: NOW - 300_000, user: 'alice@admin' }, 'listSessions');
    b.addListed({ id: ID_1, uid: UID_A, lastUseMs: NOW - 10_000, user: 'alice@admin' }, 'listLocalSessions');
    const [s] = b.build().sessions;
    assert.equal(s!.lastUseMs, NOW - 10_000);
    assert.equal(s!.idleSeconds, 10);
    assert.equal(s!.userName, 'alice');
    assert.equal(s!.userDb, 'admin');
  });

  it('operations, an idle transaction and cursors of one session are joined into its record', () => {
    const b = new InventoryBuilder(NOW, SELF);
    b.addListed({ id: ID_1, uid: UID_A, lastUseMs: NOW - 600_000, user: 'alice@admin' }, 'listSessions');
    b.addActivity(activity({ sessionId: ID_1, uid: UID_A, opid: '7', secsRunning: 40, op: 'query', ns: 'shop.orders', appName: 'orders-api', client: '10.1.2.3:5000' }));
    b.addActivity(activity({ sessionId: ID_1, uid: UID_A, opid: '8', secsRunning: 5, op: 'update', ns: 'shop.orders' }));
    b.addActivity(activity({ type: 'idleCursor', sessionId: ID_1, uid: UID_A, active: false, ns: 'shop.events', cursorLastAccessMs: NOW - 90_000 }));
    b.addActivity(activity({ type: 'idleSession', sessionId: ID_1, uid: UID_A, active: false, txn: { txnNumber: 1, openSeconds: 100, activeSeconds: 1, inactiveSeconds: 99, prepared: false, expiresAtMs: NOW + 20_000 } }));
    const [s] = b.build().sessions;
    assert.equal(s!.opCount, 2);
    assert.equal(s!.longestOpSeconds, 40);
    assert.deepEqual(s!.opTypes, ['query', 'update']);
    assert.deepEqual(s!.namespaces, ['shop.orders', 'shop.events'], 'running operations and idle cursors');
    assert.equal(s!.appName, 'orders-api');
    assert.equal(s!.clientHost, '10.1.2.3');
    assert.equal(s!.cursorCount, 1);
    assert.equal(s!.longestCursorIdleSeconds, 90);
    assert.equal(s!.hasTransaction, true);
    assert.equal(s!.txnInactiveSeconds, 99);
    assert.equal(s!.txnExpiresInSeconds, 20);
    assert.equal(s!.idleSeconds, 0, 'a running operation is a use right now');
  });

  it('operations without a session are reported apart; internal threads are counted and left out', () => {
    const b = new InventoryBuilder(NOW, SELF);
    b.addActivity(activity({ opid: 'shard01:123', secsRunning: 900, op: 'query', ns: 'shop.orders', client: '10.0.0.9:4000', user: 'etl@admin' }));
    b.addActivity(activity({ opid: '5', secsRunning: 99999, op: 'none', ns: 'local.oplog.rs', client: null }));
    const inv = b.build();
    assert.equal(inv.sessions.length, 0);
    assert.equal(inv.sessionlessOps.length, 1);
    assert.equal(inv.sessionlessOps[0]!.target, 'operation');
    assert.equal(inv.sessionlessOps[0]!.opid, 'shard01:123', 'mongos opids are kept as "shard:opid"');
    assert.equal(inv.internalOps, 1);
  });

  it('a cursor whose last access is unknown counts as just used, not as idle since 1970', () => {
    const b = new InventoryBuilder(NOW, SELF);
    b.addActivity(activity({ type: 'idleCursor', sessionId: ID_1, uid: UID_A, active: false, cursorLastAccessMs: 0 }));
    const [s] = b.build().sessions;
    assert.equal(s!.cursorCount, 1);
    assert.equal(s!.longestCursorIdleSeconds, 0);
  });

  it('the reaper\'s own session and user are flagged', () => {
    const b = new InventoryBuilder(NOW, SELF);
    b.addListed({ id: SELF.sessionId, uid: SELF.uid, lastUseMs: NOW, user: 'reaper@admin' }, 'listLocalSessions');
    b.addListed({ id: ID_1, uid: SELF.uid, lastUseMs: NOW, user: 'reaper@admin' }, 'listLocalSessions');
    const [own, other] = b.build().sessions;
    assert.equal(own!.isReaperSession, true);
    assert.equal(other!.isReaperSession, false);
    assert.equal(other!.isReaperUser, true);
  });

  it('a session seen only in $currentOp has unknown lastUse and is never counted idle', () => {
    const b = new InventoryBuilder(NOW, SELF);
    b.addActivity(activity({ type: 'idleSession', sessionId: ID_1, uid: UID_A, active: false, txn: { txnNumber: 1, openSeconds: 5, activeSeconds: 1, inactiveSeconds: 4, prepared: true, expiresAtMs: 0 } }));
    const [s] = b.build().sessions;
    assert.equal(s!.lastUseMs, 0);
    assert.equal(s!.idleSeconds, 0);
    assert.equal(s!.txnPrepared, true);
  });
});

describe('streaming the session listing', () => {
  it('a listed session with no activity comes back detached, evaluated and dropped by the caller; a known one is merged', () => {
    // Prepare: one session with a running op (known), then the listing of it and of an idle one.
    const b = new InventoryBuilder(NOW, SELF);
    b.addActivity(activity({ sessionId: ID_1, uid: UID_A, opid: '3', secsRunning: 9, op: 'query', user: 'alice@admin' }));
    // Act
    const scratch = emptyFacts();
    const merged = b.detachListed({ id: ID_1, uid: UID_A, lastUseMs: NOW - 100_000, user: 'alice@admin' }, scratch);
    const detached = b.detachListed({ id: '22222222-2222-4222-8222-222222222222', uid: UID_B, lastUseMs: NOW - 120_000, user: 'bob@admin' }, scratch) ? { ...scratch } : null;
    const inv = b.build();
    // Assess
    assert.equal(merged, false);
    assert.equal(inv.sessions.length, 1, 'only the known session is kept by the builder');
    assert.equal(inv.sessions[0]!.opCount, 1);
    assert.equal(detached?.idleSeconds, 120);
    assert.equal(detached?.userName, 'bob');
    assert.equal(b.counts.listSessions, 2);
  });
});

describe('the MongoDB adapter\'s document mapping', () => {
  it('maps $listSessions ({name}) and $listLocalSessions (string) user shapes alike', () => {
    const id = new Binary(Buffer.from('11111111111141118111111111111111', 'hex'), 4);
    const uid = new Binary(Buffer.alloc(32, 0xab), 0);
    const a = toListedSession({ _id: { id, uid }, lastUse: new Date(NOW), user: { name: 'alice@admin' } });
    const b = toListedSession({ _id: { id, uid }, lastUse: new Date(NOW), user: 'alice@admin' });
    assert.deepEqual(a, b);
    assert.equal(a.id, ID_1);
    assert.equal(a.uid, 'ab'.repeat(32));
  });

  it('through a router, the client is the application in clientMetadata.mongos.client, not the router (client_s)', () => {
    const a = toActivity({ type: 'op', shard: 'shard02', opid: 'shard02:77', client_s: '10.0.0.9:27017', clientMetadata: { driver: { name: 'nodejs', version: '7.9.0' }, mongos: { host: 'router:27017', client: '10.0.0.5:123', version: '8.0.4' } }, active: true });
    assert.equal(a.client, '10.0.0.5:123');
    assert.equal(a.clientDriver, 'nodejs 7.9.0');
  });

  it('maps mongos $currentOp fields: string opids and client_s', () => {
    const a = toActivity({ type: 'op', opid: 'shard02:77', client_s: '10.0.0.5:123', active: true, secs_running: Long.fromNumber(12), effectiveUsers: [{ user: 'etl', db: 'admin' }] });
    assert.equal(a.opid, 'shard02:77');
    assert.equal(a.client, '10.0.0.5:123');
    assert.equal(a.secsRunning, 12);
    assert.equal(a.user, 'etl@admin');
  });

  it('recognises a prepared transaction by timePreparedMicros', () => {
    const a = toActivity({ type: 'idleSession', transaction: { timeOpenMicros: 5e6, timeActiveMicros: 1e6, timeInactiveMicros: 4e6, timePreparedMicros: 3e6 } });
    assert.equal(a.txn?.prepared, true);
    assert.equal(a.txn?.inactiveSeconds, 4);
    assert.equal(a.txn?.expiresAtMs, 0);
  });

  it('killSessions elements always carry {id, uid}; an empty batch is refused', () => {
    const cmd = killSessionsCommand([{ id: ID_1, uid: UID_A }]);
    assert.equal(cmd.killSessions[0].id.sub_type, 4);
    assert.equal(cmd.killSessions[0].uid.sub_type, 0);
    assert.equal(cmd.killSessions[0].uid.length(), 32);
    assert.throws(() => killSessionsCommand([]), /refusing to send an empty killSessions batch/);
    assert.throws(() => killSessionsCommand([{ id: ID_1, uid: '' }]), /no valid uid/);
  });
});

describe('reading raw session listing documents', () => {
  it('reads $listSessions and $listLocalSessions documents as the driver would, skipping unknown fields', async () => {
    const { BSON } = await import('mongodb');
    const { readListedSession } = await import('../src/adapters/mongodb/session-doc-reader.ts');
    const id = new Binary(Buffer.from('11111111111141118111111111111111', 'hex'), 4);
    const uid = new Binary(Buffer.alloc(32, 0xab), 0);
    const docs = [
      { _id: { id, uid }, lastUse: new Date(NOW), user: { name: 'alice@admin' } },
      { _id: { id, uid }, lastUse: new Date(NOW), user: 'alice@admin' },
      { extra: [1, 'x', { y: null }], _id: { id, uid, more: 1.5 }, lastUse: new Date(NOW), user: { name: 'alice@admin', roles: [] } },
      { _id: { id, uid }, lastUse: new Date(1) },
    ];
    for (const doc of docs) {
      const fromRaw = readListedSession(BSON.serialize(doc));
      assert.deepEqual(fromRaw, toListedSession(BSON.deserialize(BSON.serialize(doc))));
    }
    assert.throws(() => readListedSession(BSON.serialize({ lastUse: new Date() })), /no _id\.id/);
  });
});
