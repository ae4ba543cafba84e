/**
 * Faults on demand through the server's own test interface (configureFailPoint failCommand), and the CRUD
 * and cursor rules that demo workloads rely on.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { MongoClient } from 'mongodb';
import { startTarget, targetKinds, type Target } from './target.ts';

for (const kind of targetKinds()) {
  describe(`fail points (${kind})`, () => {
    let target: Target;
    let c: MongoClient;
    before(async () => {
      target = await startTarget(kind, { auth: false });
      c = await target.client(undefined, { retryReads: false, retryWrites: false });
    });
    after(async () => {
      await c?.db('admin').command({ configureFailPoint: 'failCommand', mode: 'off' }).catch(() => {});
      await target?.stop();
    });

    test('failCommand with errorCode fails the named command {times: N} times, then turns itself off', async () => {
      // Prepare
      await c.db('admin').command({ configureFailPoint: 'failCommand', mode: { times: 2 }, data: { failCommands: ['find'], errorCode: 50 } });
      const find = () => c.db('test').collection('fp').findOne({});
      // Act + Assess
      await assert.rejects(find(), { code: 50 });
      await assert.rejects(find(), { code: 50 });
      assert.equal(await find(), null, 'the third find succeeds');
    });

    test('failCommand leaves commands it does not name alone', async () => {
      await c.db('admin').command({ configureFailPoint: 'failCommand', mode: 'alwaysOn', data: { failCommands: ['insert'], errorCode: 11600 } });
      try {
        assert.equal(await c.db('test').collection('fp').findOne({}), null);
        await assert.rejects(c.db('test').collection('fp').insertOne({ a: 1 }), { code: 11600 });
      } finally {
        await c.db('admin').command({ configureFailPoint: 'failCommand', mode: 'off' });
      }
      await c.db('test').collection('fp').insertOne({ a: 1 });
    });

    test('failCommand closeConnection drops the connection: the driver sees a network error', async () => {
      await c.db('admin').command({ configureFailPoint: 'failCommand', mode: { times: 1 }, data: { failCommands: ['count'], closeConnection: true } });
      await assert.rejects(c.db('test').command({ count: 'fp' }), (e: Error) => /closed|network|socket|connection/i.test(`${e.name} ${e.message}`));
      assert.equal((await c.db('test').command({ count: 'fp' })).ok, 1, 'the next command works on a new connection');
    });

    test('failCommand blockConnection holds the command, which then succeeds; the fail point counts the hit', async () => {
      // Prepare
      const on = await c.db('admin').command({ configureFailPoint: 'failCommand', mode: { times: 1 }, data: { failCommands: ['count'], blockConnection: true, blockTimeMS: 150 } });
      // Act
      const reply = await c.db('test').command({ count: 'fp' });
      const off = await c.db('admin').command({ configureFailPoint: 'failCommand', mode: 'off' });
      // Assess: the command was not failed, only held. configureFailPoint answers with the times the fail
      // point was entered so far, so the difference proves the block ran (no timing assertion needed).
      assert.equal(reply.ok, 1);
      assert.equal(off.count - on.count, 1);
    });

    test('failCommand with errorLabels passes them to the driver', async () => {
      await c.db('admin').command({ configureFailPoint: 'failCommand', mode: { times: 1 }, data: { failCommands: ['find'], errorCode: 91, errorLabels: ['RetryableWriteError'] } });
      await assert.rejects(c.db('test').collection('fp').findOne({}), (e: { code?: number; errorLabels?: string[]; hasErrorLabel?: (l: string) => boolean }) => e.code === 91 && !!e.hasErrorLabel?.('RetryableWriteError'));
    });
  });

  describe(`CRUD and cursors (${kind})`, () => {
    let target: Target;
    let c: MongoClient;
    before(async () => {
      target = await startTarget(kind, { auth: false });
      c = await target.client();
    });
    after(async () => {
      await target?.stop();
    });

    test('insert, find with filters, update, delete and count behave as on mongod', async () => {
      const coll = c.db('test').collection(`crud_${Date.now()}`);
      await coll.insertMany([{ _id: 1 as never, k: 'a', n: 1 }, { _id: 2 as never, k: 'b', n: 5 }, { _id: 3 as never, k: 'a', n: 9 }]);
      assert.deepEqual((await coll.find({ k: 'a', n: { $gt: 2 } }).toArray()).map((d) => d._id), [3]);
      await coll.updateOne({ _id: 2 as never }, { $inc: { n: 1 }, $set: { k: 'c' } });
      assert.deepEqual(await coll.findOne({ _id: 2 as never }), { _id: 2, k: 'c', n: 6 });
      assert.equal((await coll.deleteMany({ k: 'a' })).deletedCount, 2);
      assert.equal(await coll.countDocuments({}), 1);
      await assert.rejects(coll.insertOne({ _id: 2 as never }), { code: 11000 });
    });

    test('a committed transaction\'s writes appear at commit, an aborted one\'s never', async () => {
      const coll = c.db('test').collection(`txn_${Date.now()}`);
      const s = c.startSession();
      s.startTransaction();
      await coll.insertOne({ a: 1 }, { session: s });
      assert.equal(await coll.countDocuments({}), 0, 'not visible outside before commit');
      assert.equal(await coll.countDocuments({}, { session: s }), 1, 'the transaction sees its own write');
      await assert.rejects(c.db('test').command({ count: coll.collectionName }, { session: s }), { code: 263, codeName: 'OperationNotSupportedInTransaction' });
      await s.abortTransaction().catch(() => {});
      s.startTransaction();
      await coll.insertOne({ a: 2 }, { session: s });
      assert.equal((await coll.find({}, { session: s }).toArray()).length, 1, 'the transaction sees its own write');
      await s.commitTransaction();
      assert.deepEqual((await coll.find({}, { projection: { _id: 0 } }).toArray()), [{ a: 2 }]);
      await s.endSession();
    });

    test('getMore from a different session than the cursor\'s is refused', async () => {
      const coll = c.db('test').collection(`own_${Date.now()}`);
      await coll.insertMany([{ a: 1 }, { a: 2 }, { a: 3 }]);
      const s1 = c.startSession();
      const s2 = c.startSession();
      const reply = await c.db('test').command({ find: coll.collectionName, batchSize: 1 }, { session: s1 });
      const attempt = c.db('test').command({ getMore: reply.cursor.id, collection: coll.collectionName }, { session: s2 });
      await assert.rejects(attempt, { code: 50738 });
      const ok = await c.db('test').command({ getMore: reply.cursor.id, collection: coll.collectionName }, { session: s1 });
      assert.equal(ok.cursor.nextBatch.length, 2);
      await s1.endSession();
      await s2.endSession();
    });

    test('killCursors reports killed and not-found cursors; getMore afterwards gets 43', async () => {
      const coll = c.db('test').collection(`kc_${Date.now()}`);
      await coll.insertMany([{ a: 1 }, { a: 2 }]);
      const s = c.startSession();
      const reply = await c.db('test').command({ find: coll.collectionName, batchSize: 1 }, { session: s });
      const killed = await c.db('test').command({ killCursors: coll.collectionName, cursors: [reply.cursor.id] }, { session: s });
      assert.equal(killed.cursorsKilled.length, 1);
      await assert.rejects(c.db('test').command({ getMore: reply.cursor.id, collection: coll.collectionName }, { session: s }), { code: 43, message: `cursor id ${reply.cursor.id} not found` });
      await s.endSession();
    });
  });
}
