/**
 * The injected clock: what the stand-in reports and compares comes from it, so moving a ManualClock lets
 * time pass for $currentOp, cursors, transactions and the periodic jobs without waiting.
 */
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { MongoClient, type Document } from 'mongodb';
import { LaggingClock, ManualClock } from '../src/clock.ts';
import { startStandin, type RunningStandin } from '../src/server.ts';
import { startReplicaSet } from '../src/replset.ts';

describe('injected clock (stand-in)', () => {
  const clock = new ManualClock(Date.UTC(2024, 4, 1, 12, 0, 0));
  let standin: RunningStandin;
  let c: MongoClient;
  before(async () => {
    standin = await startStandin({ clock });
    c = new MongoClient(standin.uri);
    await c.connect();
  });
  after(async () => {
    await c.close();
    await standin.stop();
  });

  const currentOp = (extra: Document = {}) =>
    c.db('admin').aggregate([{ $currentOp: { allUsers: true, idleSessions: true, idleCursors: true } }, { $match: extra }]).toArray();

  test('3 s on the clock make an idle transaction 3 s inactive', async () => {
    // Prepare
    const session = c.startSession();
    session.startTransaction();
    await c.db('app').collection('orders').insertOne({ n: 1 }, { session });
    // Act
    clock.advance(3000);
    const [idle] = await currentOp({ type: 'idleSession', 'lsid.id': session.id!.id });
    // Assess
    assert.ok(idle, 'the transaction is listed as an idle session');
    // The insert counts as at least 1 µs active (the server times statements in microseconds): the rest is inactive.
    assert.equal(Number(idle.transaction.timeOpenMicros), 3_000_000);
    assert.ok(Number(idle.transaction.timeActiveMicros) >= 1, `timeActiveMicros ${idle.transaction.timeActiveMicros}`);
    assert.equal(Number(idle.transaction.timeInactiveMicros) + Number(idle.transaction.timeActiveMicros), 3_000_000);
    assert.ok(Number(idle.transaction.timeInactiveMicros) >= 2_999_000, `timeInactiveMicros ${idle.transaction.timeInactiveMicros}`);
    await session.abortTransaction();
    await session.endSession();
  });

  test("an idle cursor's lastAccessDate is 3 s old after 3 s on the clock", async () => {
    // Prepare
    await c.db('app').collection('events').insertMany(Array.from({ length: 5 }, (_, i) => ({ i })));
    const cursor = c.db('app').collection('events').find({}, { batchSize: 2 });
    await cursor.next();
    await cursor.next();
    await cursor.next(); // a getMore: lastAccessDate is now
    const accessedAt = clock.now();
    // Act
    clock.advance(3000);
    const [idle] = await currentOp({ type: 'idleCursor', ns: 'app.events' });
    // Assess
    assert.equal(idle.cursor.lastAccessDate.getTime(), accessedAt);
    assert.equal(clock.now() - idle.cursor.lastAccessDate.getTime(), 3000);
    await cursor.close();
  });

  test('a running operation reports secs_running 3 after 3 s on the clock; it blocks on real events only', async () => {
    // Prepare: sleep blocks until it is killed (its own timer is a real one, far away).
    const sleeper = new MongoClient(standin.uri, { appName: 'sleeper' });
    await sleeper.connect();
    const running = sleeper.db('admin').command({ sleep: 1, secs: 3600 }).catch((e) => e);
    let op: Document | undefined;
    for (let i = 0; i < 200 && !op; i++) {
      [op] = await currentOp({ appName: 'sleeper', 'command.sleep': 1 });
      if (!op) await new Promise((r) => setTimeout(r, 10));
    }
    assert.ok(op, 'the sleep shows in $currentOp');
    // Act
    clock.advance(3000);
    const [later] = await currentOp({ opid: op.opid });
    await c.db('admin').command({ killOp: 1, op: op.opid });
    const outcome = await running;
    // Assess
    assert.equal(Number(later.secs_running), 3);
    assert.ok(Number(later.microsecs_running) >= 3_000_000);
    assert.equal(outcome.code, 11601, 'killOp interrupts it');
    await sleeper.close();
  });

  test('runBackgroundJobs aborts a transaction past its lifetime and expires old session documents, by the clock', async () => {
    // Prepare
    const session = c.startSession();
    session.startTransaction();
    await c.db('app').collection('orders').insertOne({ n: 2 }, { session });
    await c.db('admin').command({ refreshLogicalSessionCacheNow: 1 });
    const listed = async () => (await c.db('config').collection('system.sessions').aggregate([{ $listSessions: { allUsers: true } }, { $match: { '_id.id': session.id!.id } }]).toArray()).length;
    const before = await listed();
    // Act: past transactionLifetimeLimitSeconds (60), then past localLogicalSessionTimeoutMinutes (30).
    clock.advance(61_000);
    const first = standin.mongod.runBackgroundJobs();
    const next = await c.db('app').collection('orders').insertOne({ n: 3 }, { session }).catch((e) => e);
    await session.endSession().catch(() => {});
    standin.mongod.runBackgroundJobs(); // the refresh writes that last use; nothing uses the session after it
    clock.advance(31 * 60_000);
    standin.mongod.runBackgroundJobs();
    // Assess
    assert.equal(before, 1);
    assert.equal(first.transactionsAborted, 1);
    assert.equal(next.code, 251, 'the aborted transaction is gone: NoSuchTransaction');
    assert.equal(await listed(), 0, 'the TTL pass deleted the document 30 minutes after its lastUse');
  });
});

describe('injected clock in a replica set (stand-in)', () => {
  const clients: MongoClient[] = [];
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((x) => x.close()));
  });

  test('every member reads the one clock: a secondary reports an operation 3 s old', async () => {
    const clock = new ManualClock();
    const rs = await startReplicaSet({ name: 'clocked', members: 2, clock });
    try {
      const secondary = new MongoClient(rs.directUri(1), { appName: 'sleeper' });
      clients.push(secondary);
      const running = secondary.db('admin').command({ sleep: 1, secs: 3600 }).catch((e) => e);
      const watch = new MongoClient(rs.directUri(1));
      clients.push(watch);
      const find = () => watch.db('admin').aggregate([{ $currentOp: { allUsers: true } }, { $match: { appName: 'sleeper', 'command.sleep': 1 } }]).toArray();
      let [op] = await find();
      for (let i = 0; i < 200 && !op; i++) {
        await new Promise((r) => setTimeout(r, 10));
        [op] = await find();
      }
      clock.advance(3000);
      const [later] = await find();
      await watch.db('admin').command({ killOp: 1, op: op.opid });
      await running;
      assert.equal(Number(later.secs_running), 3);
      assert.equal(later.host, rs.members[1].host);
    } finally {
      await Promise.all(clients.splice(0).map((x) => x.close()));
      await rs.stop();
    }
  });
});

describe('lagging clock (stand-in read by a reaper on the real clock)', () => {
  test('skip(3000) makes an idle transaction 3 s inactive to the server and 3 s old to Date.now()', async () => {
    // Prepare: the stand-in's clock 3 s behind real time, a transaction with one write.
    const clock = new LaggingClock(3000);
    const standin = await startStandin({ clock });
    const c = new MongoClient(standin.uri);
    try {
      await c.connect();
      const session = c.startSession();
      session.startTransaction();
      await c.db('shop').collection('orders').insertOne({ a: 1 }, { session });
      // Act
      clock.skip(3000);
      // Assess
      const [op] = await c.db('admin').aggregate([{ $currentOp: { allUsers: true, idleSessions: true } }, { $match: { 'lsid.id': session.id!.id, type: 'idleSession' } }]).toArray();
      assert.ok(op, 'the idle transaction is listed');
      assert.ok(Number(op.transaction.timeInactiveMicros) >= 3_000_000, `server: ${op.transaction.timeInactiveMicros} µs inactive`);
      const [listed] = await c.db('admin').aggregate([{ $listLocalSessions: { allUsers: true } }, { $match: { '_id.id': session.id!.id } }]).toArray();
      assert.ok(Date.now() - (listed.lastUse as Date).getTime() >= 3000, 'a reader of Date.now() sees the session 3 s old');
      assert.ok(clock.now() <= Date.now(), 'the clock never runs ahead of real time');
      assert.throws(() => clock.skip(1), /remaining lag 0/);
      await session.abortTransaction();
      await session.endSession();
    } finally {
      await c.close();
      await standin.stop();
    }
  });
});
