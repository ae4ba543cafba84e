/**
 * The traffic the reaper's never-kill rules are about, with the server's $currentOp fields: index builds
 * (the client's createIndexes and the IndexBuildsCoordinator operation; killing either aborts the build),
 * change streams (tailable awaitData cursor, resume tokens, resuming), $out, internal child sessions, and the
 * document shapes a second client found diverging (idle cursor sub-document, getMore cursor, effectiveUsers,
 * serverStatus connections). Shapes held against jstests/core/currentop_cursors.js,
 * jstests/noPassthrough/indexbg_killop_primary_after_init.js and jstests/sharding/internal_txns/kill_sessions.js.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { BSON, Binary, Long, UUID, type Document } from 'bson';
import { MongoClient } from 'mongodb';
import { startStandin, type RunningStandin } from '../src/server.ts';
import { waitFor } from './poll.ts';

/** One OP_MSG command over a raw socket: the driver always puts its own lsid on a command. */
async function rawCommand(port: number, cmd: Document): Promise<Document> {
  const socket = net.connect(port, '127.0.0.1');
  await new Promise((r) => socket.once('connect', r));
  const body = Buffer.concat([Buffer.alloc(4), Buffer.from([0]), BSON.serialize(cmd)]);
  const head = Buffer.alloc(16);
  head.writeInt32LE(16 + body.length, 0);
  head.writeInt32LE(1, 4);
  head.writeInt32LE(2013, 12);
  socket.write(Buffer.concat([head, body]));
  let buf = Buffer.alloc(0);
  const reply = await new Promise<Document>((resolve) => {
    socket.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length >= 4 && buf.length >= buf.readInt32LE(0)) resolve(BSON.deserialize(buf.subarray(21, buf.readInt32LE(0))));
    });
  });
  socket.destroy();
  return reply;
}

describe('stand-in traffic for the never-kill rules', () => {
  let standin: RunningStandin;
  let c: MongoClient;
  const currentOp = async (match: (d: Document) => boolean) =>
    (await c.db('admin').aggregate([{ $currentOp: { allUsers: true, idleCursors: true, idleSessions: true } }]).toArray()).filter(match);

  before(async () => {
    standin = await startStandin();
    c = new MongoClient(standin.uri, { appName: 'traffic-test' });
    await c.connect();
    await c.db('shop').collection('items').insertMany(Array.from({ length: 30 }, (_, n) => ({ n })));
  });
  after(async () => {
    await c.db('admin').command({ configureFailPoint: 'hangAfterInitializingIndexBuild', mode: 'off' }).catch(() => {});
    await c?.close();
    await standin?.stop();
  });

  test('an idle cursor document: lsid, ns and planSummary at the top, not in the cursor; flags as opened; no operationUsingCursorId', async () => {
    const session = c.startSession();
    const cursor = c.db('shop').collection('items').find({}, { session, batchSize: 2, noCursorTimeout: true, comment: 'nightly' });
    await cursor.next();
    const [doc] = await currentOp((d) => d.type === 'idleCursor' && d.cursor.originatingCommand.comment === 'nightly');
    assert.ok(doc);
    assert.equal(doc.planSummary, 'COLLSCAN');
    assert.equal(doc.ns, 'shop.items');
    assert.ok(doc.lsid.id);
    assert.equal(doc.appName, undefined, 'idle cursors carry no appName');
    assert.equal(doc.client, undefined, 'nor a client');
    for (const k of ['planSummary', 'lsid', 'ns', 'host', 'operationUsingCursorId']) assert.equal(k in doc.cursor, false, `cursor.${k}`);
    assert.equal(doc.cursor.noCursorTimeout, true);
    assert.equal(doc.cursor.tailable, false);
    assert.equal(doc.cursor.awaitData, false);
    assert.equal(Number(doc.cursor.nDocsReturned), 2);
    await cursor.close();
    await session.endSession();
  });

  test('a running getMore shows its cursor (originating command, operationUsingCursorId) and the op has no effectiveUsers without auth', async () => {
    const stream = c.db('shop').collection('items').watch([], { maxAwaitTimeMS: 3000 });
    const waiting = stream.tryNext();
    const [op] = await waitFor('the change stream getMore', async () => {
      const ops = await currentOp((d) => d.type === 'op' && d.op === 'getmore' && d.appName === 'traffic-test');
      return ops.length ? ops : undefined;
    });
    assert.equal(Object.keys(op.cursor.originatingCommand.pipeline[0])[0], '$changeStream');
    assert.equal(op.cursor.tailable, true);
    assert.equal(op.cursor.awaitData, true);
    assert.equal(Number(op.cursor.operationUsingCursorId), op.opid);
    assert.equal('effectiveUsers' in op, false);
    await c.db('shop').collection('items').insertOne({ n: 100 });
    const event = await waiting;
    assert.equal(event?.operationType, 'insert');
    await stream.close();
  });

  test('a change stream resumes after a token with the events since, and refuses a malformed token', async () => {
    const stream = c.db('shop').collection('items').watch();
    const first = stream.next();
    await c.db('shop').collection('items').insertOne({ n: 200 });
    const e1 = await first;
    await stream.close();
    await c.db('shop').collection('items').deleteOne({ n: 200 });
    const resumed = c.db('shop').collection('items').watch([], { resumeAfter: e1._id });
    const e2 = await resumed.next();
    assert.equal(e2.operationType, 'delete');
    await resumed.close();
    await assert.rejects(c.db('shop').collection('items').aggregate([{ $changeStream: { resumeAfter: { _data: 'nonsense' } } }]).toArray(), { code: 9 });
  });

  test('an index build: the client\'s op and the coordinator\'s; killing the client\'s shows killPending while the build is held, then aborts it', async () => {
    await c.db('admin').command({ configureFailPoint: 'hangAfterInitializingIndexBuild', mode: 'alwaysOn' });
    const building = c.db('shop').collection('items').createIndex({ n: 1 }, { name: 'n_1' });
    const [client] = await waitFor('the createIndexes op', async () => {
      const ops = await currentOp((d) => d.type === 'op' && d.command?.createIndexes === 'items' && d.desc?.startsWith('conn'));
      return ops.length ? ops : undefined;
    });
    const [coordinator] = await currentOp((d) => /^IndexBuildsCoordinatorMongod-\d+$/.test(d.desc ?? ''));
    assert.ok(client.lsid, 'the client op runs in the client\'s session');
    assert.equal(coordinator.client, undefined);
    assert.equal(coordinator.lsid, undefined);
    assert.equal(coordinator.command.createIndexes, 'items');
    assert.match(coordinator.msg, /^Index Build: scanning collection/);
    assert.equal(Number(coordinator.progress.total), 31);
    await c.db('admin').command({ killOp: 1, op: client.opid });
    // While the build is held, the killed client waits for the abort: its operation shows killPending.
    const [dying] = await currentOp((d) => d.opid === client.opid);
    assert.equal(dying?.killPending, true);
    await c.db('admin').command({ configureFailPoint: 'hangAfterInitializingIndexBuild', mode: 'off' });
    await assert.rejects(building, { code: 11601 });
    assert.deepEqual((await c.db('shop').collection('items').indexes()).map((i) => i.name), ['_id_'], 'no new index');
    assert.equal((await currentOp((d) => /^IndexBuildsCoordinator/.test(d.desc ?? ''))).length, 0, 'the build is gone');
    assert.equal(await c.db('shop').collection('items').createIndex({ n: 1 }, { name: 'n_1' }), 'n_1');
  });

  test('$out replaces its target whole at the end; a killed $out leaves the target as it was', async () => {
    await c.db('shop').collection('report').insertOne({ old: true });
    await c.db('admin').command({ configureFailPoint: 'hangWhileBuildingDocumentSourceOutBatch', mode: 'alwaysOn' });
    const out = c.db('shop').collection('items').aggregate([{ $match: {} }, { $out: 'report' }]).toArray().then(() => null, (e) => e);
    const [op] = await waitFor('the $out op', async () => {
      const ops = await currentOp((d) => d.type === 'op' && d.command?.aggregate === 'items');
      return ops.length ? ops : undefined;
    });
    await c.db('admin').command({ killOp: 1, op: op.opid });
    assert.equal((await out)?.code, 11601);
    assert.deepEqual(await c.db('shop').collection('report').find({}, { projection: { _id: 0 } }).toArray(), [{ old: true }]);
    await c.db('admin').command({ configureFailPoint: 'hangWhileBuildingDocumentSourceOutBatch', mode: 'off' });
    await c.db('shop').collection('items').aggregate([{ $match: { n: { $lt: 3 } } }, { $out: 'report' }]).toArray();
    assert.equal(await c.db('shop').collection('report').countDocuments(), 3);
  });

  test('an internal child session: $currentOp shows its lsid (txnNumber, txnUUID); killSessions refuses it and kills it through the parent', async () => {
    const parent = new UUID();
    const child = { id: parent, txnNumber: Long.fromNumber(0), txnUUID: new UUID() };
    const started = await rawCommand(standin.port, { insert: 'audit', documents: [{ a: 1 }], lsid: child, txnNumber: Long.fromNumber(0), startTransaction: true, autocommit: false, $db: 'shop' });
    assert.equal(started.ok, 1);
    const sleeping = rawCommand(standin.port, { sleep: 1, secs: 5, lock: 'none', lsid: child, $db: 'admin' });
    const [op] = await waitFor('the child session op', async () => {
      const ops = await currentOp((d) => d.type === 'op' && d.command?.sleep === 1 && d.lsid?.txnUUID);
      return ops.length ? ops : undefined;
    });
    assert.equal((op.lsid.id as Binary).toUUID().toHexString(), parent.toHexString());
    assert.equal(op.lsid.uid.length(), 32);
    assert.equal(Number(op.lsid.txnNumber), 0);
    const refused = await rawCommand(standin.port, { killSessions: [child], $db: 'admin' });
    assert.equal(refused.code, 72, 'InvalidOptions: a child session is killed through its parent');
    await c.db('admin').command({ killSessions: [{ id: parent, uid: op.lsid.uid }] });
    assert.equal((await sleeping).code, 11601);
    const commit = await rawCommand(standin.port, { commitTransaction: 1, lsid: child, txnNumber: Long.fromNumber(0), autocommit: false, $db: 'admin' });
    assert.equal(commit.code, 251, 'killing the parent aborted the child\'s transaction');
  });

  test('serverStatus counts every connection created, not only the open ones', async () => {
    const before = (await c.db('admin').command({ serverStatus: 1 })).connections;
    const extra = new MongoClient(standin.uri, { maxPoolSize: 1 });
    await extra.db('admin').command({ ping: 1 });
    await extra.close();
    const after = (await c.db('admin').command({ serverStatus: 1 })).connections;
    assert.ok(after.totalCreated > before.totalCreated, `${after.totalCreated} > ${before.totalCreated}`);
    assert.ok(after.totalCreated > after.current, 'closed connections still count as created');
  });
});
