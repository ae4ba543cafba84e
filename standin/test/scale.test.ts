/**
 * Scale features: the bulk-creation test command builds big inventories without connections, and they
 * behave like real sessions in the listings and under killSessions. Speed and memory are measured by
 * `npm run bench:standin`, not here.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Binary, type MongoClient } from 'mongodb';
import { startTarget, type Target } from './target.ts';

describe('bulk-created sessions (stand-in only: standinBulkCreateSessions is the stand-in\'s test command)', () => {
  let target: Target;
  let c: MongoClient;
  before(async () => {
    target = await startTarget('stand-in', { auth: false, params: { transactionLifetimeLimitSeconds: 86_400 } });
    c = await target.client();
  });
  after(async () => {
    await target?.stop();
  });

  test('N sessions with given lastUse, ops, idle transactions and cursors appear in $listSessions and $currentOp', async () => {
    // Act
    const reply = await c.db('admin').command({
      standinBulkCreateSessions: 20_000, users: [{ user: 'app', db: 'admin' }, { user: 'etl', db: 'admin' }], appNames: ['web', 'batch'], seed: 7,
      lastUseAgeSeconds: { min: 60, max: 3600 }, runningOps: 1000, opSecondsRunning: { min: 10, max: 600 },
      idleTransactions: 400, txnInactiveSeconds: 120, preparedTransactions: 10, cursors: 2000, cursorIdleSeconds: 900,
    });
    const listed = await c.db('config').collection('system.sessions').aggregate([{ $listSessions: { allUsers: true } }, { $count: 'n' }]).toArray();
    const byType = await c.db('admin').aggregate([
      { $currentOp: { allUsers: true, idleSessions: true, idleCursors: true } },
      { $match: { 'clientMetadata.platform': 'synthetic' } },
      { $group: { _id: '$type', n: { $sum: 1 } } }, { $sort: { _id: 1 } },
    ]).toArray();
    const cursors = await c.db('admin').aggregate([{ $currentOp: { allUsers: true, idleCursors: true } }, { $match: { type: 'idleCursor' } }, { $count: 'n' }]).toArray();
    const prepared = await c.db('admin').aggregate([{ $currentOp: { allUsers: true } }, { $match: { 'transaction.timePreparedMicros': { $exists: true } } }, { $count: 'n' }]).toArray();
    // Assess
    assert.equal(reply.created, 20_000);
    assert.deepEqual(listed, [{ n: 20_000 }]);
    assert.deepEqual(byType, [{ _id: 'idleSession', n: 410 }, { _id: 'op', n: 1000 }]);
    assert.deepEqual(cursors, [{ n: 2000 }]);
    assert.deepEqual(prepared, [{ n: 10 }]);
  });

  test('the fast listing path (no stage after $listSessions) returns exactly what the document path returns', async () => {
    // Prepare: one explicit session for every call; its own cache entry moves with each call, so it is left out.
    const session = c.startSession();
    const own = session.id!.id.toString('hex');
    const notOwn = (docs: { _id: { id: Binary } }[]) => docs.filter((d) => d._id.id.toString('hex') !== own);
    const listAll = async (extra: object[]) => notOwn(await c.db('config').collection('system.sessions').aggregate([{ $listSessions: { allUsers: true } }, ...extra], { batchSize: 1000, session }).toArray() as never);
    const localAll = async (extra: object[]) => notOwn(await c.db('admin').aggregate([{ $listLocalSessions: { allUsers: true } }, ...extra], { session }).toArray() as never);
    await c.db('admin').command({ refreshSessions: [{ id: new Binary(Buffer.alloc(16, 5), 4) }] });
    // Act
    const fast = await listAll([]);
    const slow = await listAll([{ $match: {} }]);
    const fastLocal = await localAll([]);
    const slowLocal = await localAll([{ $match: {} }]);
    // Assess
    assert.ok(fast.length >= 20_000);
    assert.deepEqual(fast, slow);
    assert.ok(fastLocal.length >= 1);
    assert.deepEqual(fastLocal, slowLocal);
    await session.endSession();
  });

  test('killing a synthetic session ends its operation and its cursor like a real one', async () => {
    // Prepare
    const [op] = await c.db('admin').aggregate([{ $currentOp: { allUsers: true } }, { $match: { 'clientMetadata.platform': 'synthetic', type: 'op' } }, { $limit: 1 }]).toArray();
    // Act
    await c.db('admin').command({ killSessions: [{ id: op!.lsid.id, uid: op!.lsid.uid }] });
    // Assess
    const still = await c.db('admin').aggregate([{ $currentOp: { allUsers: true } }, { $match: { 'lsid.id': op!.lsid.id } }]).toArray();
    assert.equal(still.length, 0);
    assert.equal(Buffer.from(op!.lsid.uid.buffer).toString('hex'), createHash('sha256').update('').digest('hex'), 'no auth: the uid is SHA-256 of ""');
  });

  test('past maxSessions new sessions are refused with TooManyLogicalSessions (261)', async () => {
    // maxSessions bounds the cache's active sessions (logical_session_cache_impl.cpp _addToCacheIfNotFull);
    // sessions only in config.system.sessions do not count, so the bulk ones leave room.
    const small = await startTarget('stand-in', { params: { maxSessions: 5 } });
    try {
      const client = await small.client();
      await client.db('admin').command({ standinBulkCreateSessions: 4 });
      const ids = (from: number, n: number) => Array.from({ length: n }, (_, i) => ({ id: new Binary(Buffer.alloc(16, from + i), 4) }));
      await client.db('admin').command({ refreshSessions: ids(1, 4) });
      const attempt = client.db('admin').command({ refreshSessions: ids(10, 2) });
      await assert.rejects(attempt, { code: 261 });
    } finally {
      await small.stop();
    }
  });
});
