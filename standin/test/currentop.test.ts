/**
 * $currentOp through the driver: op / idleSession / idleCursor documents and their fields, options,
 * the transaction sub-document, transaction expiry, and the stages people put after it.
 * What it holds the stand-in to: docs/server-semantics.md#current-operations and
 * docs/server-semantics.md#server-side-timeouts.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { MongoClient } from 'mongodb';
import { standinOnly, startTarget, targetKinds, type Target } from './target.ts';
import { until } from './poll.ts';

for (const kind of targetKinds()) {
  describe(`$currentOp (${kind})`, () => {
    let target: Target;
    let c: MongoClient;
    let app: MongoClient;
    before(async () => {
      target = await startTarget(kind, { auth: false });
      c = await target.client();
      app = await target.client(undefined, { appName: 'billing-service' });
      await c.db('test').collection('co').insertMany(Array.from({ length: 10 }, (_, n) => ({ n })));
    });
    after(async () => {
      await target?.stop();
    });

    const currentOp = (opts: Record<string, unknown>, ...stages: Record<string, unknown>[]) =>
      c.db('admin').aggregate([{ $currentOp: opts }, ...stages]).toArray();

    test('a running operation is type "op" with opid, lsid {id, uid}, secs_running, appName, ns and command', async () => {
      // Prepare
      const session = app.startSession();
      const sleeping = app.db('admin').command({ sleep: 1, secs: 2, lock: 'none' }, { session });
      // Act
      const op = await until(async () => (await currentOp({ allUsers: true }, { $match: { 'command.sleep': 1, 'lsid.id': session.id!.id } }))[0], 'the sleep op');
      // Assess
      assert.equal(op.type, 'op');
      assert.equal(op.active, true);
      assert.equal(typeof op.opid, 'number');
      assert.equal(op.lsid.uid.length(), 32);
      assert.equal(typeof op.secs_running, 'number');
      assert.equal(typeof op.microsecs_running, 'number');
      assert.equal(op.appName, 'billing-service');
      assert.equal(op.clientMetadata.application.name, 'billing-service');
      assert.match(op.client, /^127\.0\.0\.1:\d+$/);
      assert.equal(op.ns, 'admin.$cmd');
      assert.equal(op.command.lock, 'none');
      await c.db('admin').command({ killOp: 1, op: op.opid });
      await assert.rejects(sleeping, { code: 11601 });
      await session.endSession();
    });

    test('an idle transaction is an idleSession document without opid, with the transaction sub-document', async () => {
      // Prepare
      const session = app.startSession();
      session.startTransaction();
      await app.db('test').collection('co').insertOne({ txn: 1 }, { session });
      await new Promise((r) => setTimeout(r, 30));
      // Act
      const [idle] = await currentOp({ allUsers: true, idleSessions: true }, { $match: { type: 'idleSession', 'lsid.id': session.id!.id } });
      // Assess
      assert.ok(idle, 'the idle transaction is listed');
      assert.equal(idle.opid, undefined, 'idleSession documents carry no opid');
      assert.equal(idle.desc, 'inactive transaction');
      assert.equal(idle.active, false);
      assert.equal(idle.appName, 'billing-service');
      const txn = idle.transaction;
      assert.equal(txn.parameters.txnNumber, 1);
      assert.equal(txn.parameters.autocommit, false);
      assert.equal(txn.timeOpenMicros, txn.timeActiveMicros + txn.timeInactiveMicros);
      assert.ok(txn.timeInactiveMicros > 0);
      assert.equal(txn.timePreparedMicros, undefined, 'not prepared');
      const limit = (await c.db('admin').command({ getParameter: 1, transactionLifetimeLimitSeconds: 1 })).transactionLifetimeLimitSeconds;
      assert.equal(new Date(txn.expiryTime).getTime(), new Date(txn.startWallClockTime).getTime() + limit * 1000);
      await session.abortTransaction();
      await session.endSession();
    });

    test('idleSessions: false hides idle transactions; sessions without a transaction never appear', async () => {
      // Prepare
      const plain = app.startSession();
      await app.db('test').collection('co').findOne({}, { session: plain });
      const s = app.startSession();
      s.startTransaction();
      await app.db('test').collection('co').findOne({}, { session: s });
      // Act
      const hidden = await currentOp({ allUsers: true, idleSessions: false }, { $match: { 'lsid.id': s.id!.id } });
      const plainListed = await currentOp({ allUsers: true, idleSessions: true }, { $match: { 'lsid.id': plain.id!.id } });
      // Assess
      assert.equal(hidden.length, 0);
      assert.equal(plainListed.length, 0);
      await s.abortTransaction();
      await s.endSession();
      await plain.endSession();
    });

    test('idleCursors: true lists open cursors with the cursor sub-document', async () => {
      // Prepare
      const session = app.startSession();
      const cursor = app.db('test').collection('co').find({}, { session, batchSize: 2 });
      await cursor.next();
      // Act
      const [doc] = await currentOp({ allUsers: true, idleCursors: true }, { $match: { type: 'idleCursor', 'lsid.id': session.id!.id } });
      const without = await currentOp({ allUsers: true }, { $match: { type: 'idleCursor' } });
      // Assess
      assert.ok(doc, 'the idle cursor is listed');
      assert.equal(doc.ns, 'test.co');
      assert.equal(doc.cursor.nDocsReturned, 2);
      assert.equal(doc.cursor.nBatchesReturned, 1);
      assert.ok(doc.cursor.lastAccessDate instanceof Date);
      assert.ok(doc.cursor.createdDate instanceof Date);
      assert.equal(doc.cursor.originatingCommand.find, 'co');
      assert.equal(without.length, 0, 'idleCursors defaults to false');
      await cursor.close();
      await session.endSession();
    });

    test('idleConnections: true adds inactive connections', async () => {
      const idle = await currentOp({ allUsers: true, idleConnections: true }, { $match: { active: false, type: 'op' } });
      assert.ok(idle.length >= 1);
    });

    test('$currentOp runs only on admin with {aggregate: 1} and validates its options', async () => {
      await assert.rejects(c.db('test').aggregate([{ $currentOp: {} }]).toArray(), { code: 73 });
      await assert.rejects(currentOp({ allUsers: 'yes' }), { code: 9 });
      await assert.rejects(currentOp({ bogus: true }), { code: 9, message: "Unrecognized option 'bogus' in $currentOp stage." });
    });

    test('stages after $currentOp: $match, $project, $sort, $limit, $skip, $count, $group with $sum', async () => {
      // Prepare
      const sessions = [app.startSession(), app.startSession(), app.startSession()];
      for (const s of sessions) {
        s.startTransaction();
        await app.db('test').collection('co').findOne({}, { session: s });
      }
      // Act
      const counted = await currentOp({ allUsers: true }, { $match: { type: 'idleSession' } }, { $count: 'n' });
      const grouped = await currentOp({ allUsers: true }, { $match: { type: 'idleSession' } }, { $group: { _id: '$appName', n: { $sum: 1 } } });
      const projected = await currentOp({ allUsers: true }, { $match: { type: 'idleSession' } }, { $project: { _id: 0, id: '$lsid.id', open: '$transaction.timeOpenMicros' } }, { $sort: { open: -1 } }, { $skip: 1 }, { $limit: 1 });
      // Assess
      assert.deepEqual(counted, [{ n: 3 }]);
      assert.deepEqual(grouped, [{ _id: 'billing-service', n: 3 }]);
      assert.equal(projected.length, 1);
      assert.deepEqual(Object.keys(projected[0]).sort(), ['id', 'open']);
      for (const s of sessions) {
        await s.abortTransaction();
        await s.endSession();
      }
    });

    test('a transaction past transactionLifetimeLimitSeconds is aborted: the next statement gets 251', async (t) => {
      if (standinOnly(t, target, 'lowers transactionLifetimeLimitSeconds for the whole server')) return;
      // Prepare
      await c.db('admin').command({ setParameter: 1, transactionLifetimeLimitSeconds: 1 });
      try {
        const session = app.startSession();
        session.startTransaction();
        await app.db('test').collection('co').insertOne({ expiring: true }, { session });
        // Act: the reaper runs every max(1 s, limit * 500 ms).
        await until(async () => ((await currentOp({ allUsers: true }, { $match: { 'lsid.id': session.id!.id } })).length === 0 ? true : undefined), 'the transaction to expire');
        // Assess
        await assert.rejects(app.db('test').collection('co').insertOne({ after: true }, { session }), { code: 251 });
        await session.abortTransaction().catch(() => {});
        await session.endSession();
      } finally {
        await c.db('admin').command({ setParameter: 1, transactionLifetimeLimitSeconds: 60 });
      }
    });

    test('transactionLifetimeLimitSeconds below 1 is rejected', async () => {
      await assert.rejects(c.db('admin').command({ setParameter: 1, transactionLifetimeLimitSeconds: 0 }), { code: 2 });
    });
  });
}
