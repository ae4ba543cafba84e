/**
 * Logical sessions through the driver: uid = SHA-256("user@db"), the cache and config.system.sessions,
 * lastUse, endSessions deferred to the next refresh, expiry, startSession/refreshSessions, and the listing
 * stages' rules. What it holds the stand-in to: docs/server-semantics.md#session-identity,
 * docs/server-semantics.md#endsessions and docs/server-semantics.md#session-listings.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Binary, type MongoClient } from 'mongodb';
import { until } from './poll.ts';
import { needsAuth, standinOnly, startTarget, targetKinds, type Target } from './target.ts';

const hex = (s: string): string => createHash('sha256').update(s).digest('hex');
const refresh = (c: MongoClient) => c.db('admin').command({ refreshLogicalSessionCacheNow: 1 });

for (const kind of targetKinds()) {
  describe(`sessions with access control (${kind})`, () => {
    let target: Target;
    let admin: MongoClient;
    let alice: MongoClient;
    let aliceUser: string;
    let monitor: MongoClient;

    before(async () => {
      target = await startTarget(kind, { auth: true });
      admin = await target.client();
      const a = await target.createUser('alice', [{ role: 'readWrite', db: 'test' }]);
      aliceUser = a.user;
      alice = await target.client(a.uri);
      monitor = await target.client((await target.createUser('monitor', [{ role: 'clusterMonitor', db: 'admin' }])).uri);
    });
    after(async () => {
      await target?.stop();
    });

    test('the uid of a session is SHA-256 of "user@authDb"', async (t) => {
      if (needsAuth(t, target)) return;
      // Prepare
      const session = alice.startSession();
      await alice.db('test').collection('c').findOne({}, { session });
      // Act
      const [rec] = await monitor.db('admin').aggregate([{ $listLocalSessions: { allUsers: true } }, { $match: { '_id.id': session.id!.id } }]).toArray();
      // Assess
      assert.equal(Buffer.from(rec._id.uid.buffer).toString('hex'), hex(`${aliceUser}@admin`));
      assert.equal(rec.user, `${aliceUser}@admin`, '$listLocalSessions reports user as a plain string');
      await session.endSession();
    });

    test('$listSessions shows a session only after the cache is flushed, with user as {name}', async (t) => {
      if (needsAuth(t, target)) return;
      // Prepare
      const session = alice.startSession();
      await alice.db('test').collection('c').findOne({}, { session });
      const list = () => monitor.db('config').collection('system.sessions').aggregate([{ $listSessions: { allUsers: true } }, { $match: { '_id.id': session.id!.id } }]).toArray();
      const before = await list();
      // Act
      await refresh(admin);
      const afterRefresh = await list();
      // Assess
      assert.equal(before.length, 0, 'not in config.system.sessions before the refresh');
      assert.equal(afterRefresh.length, 1);
      assert.deepEqual(afterRefresh[0].user, { name: `${aliceUser}@admin` });
      assert.ok(afterRefresh[0].lastUse instanceof Date);
      await session.endSession();
    });

    test('the cache is cleared at every refresh: $listLocalSessions shows only sessions used since', async (t) => {
      if (needsAuth(t, target)) return;
      // Prepare
      const session = alice.startSession();
      await alice.db('test').collection('c').findOne({}, { session });
      // Act
      await refresh(admin);
      const local = await monitor.db('admin').aggregate([{ $listLocalSessions: { allUsers: true } }, { $match: { '_id.id': session.id!.id } }]).toArray();
      // Assess
      assert.equal(local.length, 0);
      await session.endSession();
    });

    test('listing other users\' sessions needs the listSessions privilege; listing your own does not', async (t) => {
      if (needsAuth(t, target)) return;
      // Act
      const own = await alice.db('config').collection('system.sessions').aggregate([{ $listSessions: {} }]).toArray();
      const all = alice.db('config').collection('system.sessions').aggregate([{ $listSessions: { allUsers: true } }]).toArray();
      // Assess
      assert.ok(Array.isArray(own));
      await assert.rejects(all, { code: 13 });
    });

    test('$currentOp with allUsers needs inprog', async (t) => {
      if (needsAuth(t, target)) return;
      await assert.rejects(alice.db('admin').aggregate([{ $currentOp: { allUsers: true } }]).toArray(), { code: 13 });
      const mine = await alice.db('admin').aggregate([{ $currentOp: {} }]).toArray();
      assert.ok(mine.every((op) => !op.effectiveUsers || op.effectiveUsers.every((u: { user: string }) => u.user === aliceUser)));
    });

    test('commands from an unauthenticated client are refused with 13', async (t) => {
      if (needsAuth(t, target)) return;
      // Prepare
      const anonymous = await target.client(target.adminUri.replace(/\/\/[^@]*@/, '//'));
      // Act
      const attempt = anonymous.db('test').collection('c').findOne({});
      // Assess
      await assert.rejects(attempt, { code: 13 });
    });

    test('a wrong password fails authentication with 18', async (t) => {
      if (needsAuth(t, target)) return;
      const bad = target.adminUri.replace(/\/\/([^:]*):[^@]*@/, '//$1:wrong@');
      await assert.rejects(target.client(bad), (e: { code?: number; cause?: { code?: number } }) => (e.code ?? e.cause?.code) === 18);
    });

    test('endSessions with another user\'s uid needs impersonate', async (t) => {
      if (needsAuth(t, target)) return;
      const attempt = admin.db('admin').command({ endSessions: [{ id: new Binary(Buffer.alloc(16, 3), 4), uid: new Binary(createHash('sha256').update('x@admin').digest(), 0) }] });
      await assert.rejects(attempt, { code: 13, message: 'Unauthorized to set user digest in LogicalSessionId' });
    });
  });

  describe(`sessions without access control (${kind})`, () => {
    let target: Target;
    let c: MongoClient;
    before(async () => {
      target = await startTarget(kind, { auth: false, params: { localLogicalSessionTimeoutMinutes: 30 } });
      c = await target.client();
      await c.db('test').collection('s').insertMany([{ n: 1 }, { n: 2 }, { n: 3 }]);
    });
    after(async () => {
      await target?.stop();
    });

    test('without auth the uid is SHA-256 of the empty string and no user is recorded', async () => {
      // Prepare
      const session = c.startSession();
      await c.db('test').collection('s').findOne({}, { session });
      // Act
      const [rec] = await c.db('admin').aggregate([{ $listLocalSessions: {} }, { $match: { '_id.id': session.id!.id } }]).toArray();
      // Assess
      assert.equal(Buffer.from(rec._id.uid.buffer).toString('hex'), hex(''));
      assert.equal(rec.user, undefined);
      await session.endSession();
    });

    test('hello reports logicalSessionTimeoutMinutes, so the driver attaches an lsid', async () => {
      const hello = await c.db('admin').command({ hello: 1 });
      assert.equal(typeof hello.logicalSessionTimeoutMinutes, 'number');
      assert.equal(hello.isWritablePrimary, true);
      assert.ok(hello.maxWireVersion >= 8);
    });

    test('startSession returns a 16-byte UUID and timeoutMinutes 30; refreshSessions is ok', async () => {
      const reply = await c.db('admin').command({ startSession: 1 });
      assert.equal(reply.id.id.sub_type, 4);
      assert.equal(reply.id.id.length(), 16);
      assert.equal(reply.timeoutMinutes, 30);
      const r = await c.db('admin').command({ refreshSessions: [{ id: reply.id.id }] });
      assert.equal(r.ok, 1);
    });

    test('endSessions is deferred: the cursor works until the next refresh, then it is gone', async () => {
      // Prepare
      const session = c.startSession();
      const cursor = c.db('test').collection('s').find({}, { session, batchSize: 1 });
      await cursor.next();
      await refresh(c);
      // Act
      await c.db('admin').command({ endSessions: [{ id: session.id!.id }] });
      // Assess
      assert.ok(await cursor.next(), 'getMore still succeeds right after endSessions');
      await refresh(c);
      await assert.rejects(cursor.next(), { code: 43 });
      const listed = await c.db('config').collection('system.sessions').aggregate([{ $listSessions: {} }, { $match: { '_id.id': session.id!.id } }]).toArray();
      assert.equal(listed.length, 0, 'the record is deleted at the refresh');
    });

    test('endSessions does not interrupt running operations', async () => {
      // Prepare: an operation of the session, seen running (waited for as an event, not guessed).
      const session = c.startSession();
      const sleeping = c.db('admin').command({ sleep: 1, millis: 1500, lock: 'none' }, { session });
      const running = () => c.db('admin').aggregate([{ $currentOp: { allUsers: true } }, { $match: { 'command.sleep': 1, 'lsid.id': session.id!.id } }]).toArray();
      const [op] = await until(async () => (await running())[0] ? await running() : undefined, 'the sleep to run');
      // Act
      await c.db('admin').command({ endSessions: [{ id: session.id!.id }] });
      await refresh(c);
      // Assess: the same operation still runs after endSessions and the refresh, and completes normally.
      assert.deepEqual((await running()).map((o) => o.opid), [op.opid], 'still running, not interrupted');
      assert.equal((await sleeping).ok, 1);
    });

    test('endSessions errors are the server\'s', async () => {
      await assert.rejects(c.db('admin').command({ endSessions: 'invalid' }), { code: 14, message: "BSON field 'endSessions.endSessions' is the wrong type 'string', expected type 'array'" });
      await assert.rejects(c.db('admin').command({ endSessions: [{ id: null }] }), { code: 40414, message: "BSON field 'endSessions.endSessionsFromClient.id' is missing but a required field" });
      await assert.rejects(c.db('admin').command({ endSessions: [{ id: 'invalid' }] }), { code: 14, message: "BSON field 'endSessions.endSessionsFromClient.id' is the wrong type 'string', expected type 'binData'" });
      assert.equal((await c.db('admin').command({ endSessions: [] })).ok, 1);
    });

    test('$listSessions runs only on config.system.sessions, first stage', async () => {
      await assert.rejects(c.db('test').collection('s').aggregate([{ $listSessions: {} }]).toArray(), { code: 73 });
      await assert.rejects(c.db('config').collection('system.sessions').aggregate([{ $match: {} }, { $listSessions: {} }]).toArray(), { code: 40602 });
      await assert.rejects(c.db('config').collection('system.sessions').aggregate([{ $listSessions: { allUsers: true, users: [{ user: 'a', db: 'b' }] } }]).toArray(), { code: 12 });
      await assert.rejects(c.db('config').collection('system.sessions').aggregate([{ $listSessions: 1 }]).toArray(), { code: 14 });
    });

    test('$listLocalSessions runs with {aggregate: 1}, not on a collection', async () => {
      await assert.rejects(c.db('test').collection('s').aggregate([{ $listLocalSessions: {} }]).toArray(), { code: 73 });
    });

    test('lastUse in the cache moves with every command; in config.system.sessions only at refresh', async (t) => {
      if (standinOnly(t, target, 'compares timestamps a few ms apart')) return;
      // Prepare
      const session = c.startSession();
      await c.db('test').collection('s').findOne({}, { session });
      await refresh(c);
      const persisted = async () => (await c.db('config').collection('system.sessions').aggregate([{ $listSessions: {} }, { $match: { '_id.id': session.id!.id } }]).toArray())[0].lastUse as Date;
      const flushed = await persisted();
      await new Promise((r) => setTimeout(r, 20));
      // Act
      await c.db('test').collection('s').findOne({}, { session });
      const [local] = await c.db('admin').aggregate([{ $listLocalSessions: {} }, { $match: { '_id.id': session.id!.id } }]).toArray();
      // Assess
      assert.ok(local.lastUse.getTime() > flushed.getTime(), 'the cache has the newer use');
      assert.equal((await persisted()).getTime(), flushed.getTime(), 'the collection keeps the last flush time');
      await session.endSession();
    });
  });

  describe(`session expiry (${kind})`, () => {
    test('a record unused for the session timeout is deleted by TTL and its cursors die at the next refresh', async (t) => {
      if (kind !== 'stand-in') {
        t.skip('stand-in only: localLogicalSessionTimeoutMinutes is a startup parameter');
        return;
      }
      // Prepare: a 0.5 s session timeout and a TTL monitor every 0.1 s (both startup parameters).
      const target = await startTarget(kind, { manualClock: true, params: { localLogicalSessionTimeoutMinutes: 0.5 / 60, ttlMonitorSleepSecs: 0.1 } });
      try {
        const c = await target.client();
        await c.db('test').collection('e').insertMany([{ n: 1 }, { n: 2 }]);
        const session = c.startSession();
        const cursor = c.db('test').collection('e').find({}, { session, batchSize: 1 });
        await cursor.next();
        await refresh(c);
        // Act: 0.8 s pass on the stand-in's clock; the TTL monitor (real timer, every 0.1 s) then deletes the record.
        await target.letTimePass(800);
        await until(async () => (await c.db('config').collection('system.sessions').countDocuments({ '_id.id': session.id!.id })) === 0 ? true : undefined, 'the TTL monitor to delete the record');
        await c.db('admin').command({ refreshLogicalSessionCacheNow: 1 });
        // Assess
        await assert.rejects(cursor.next(), { code: 43 });
      } finally {
        await target.stop();
      }
    });
  });
}
