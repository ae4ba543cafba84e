/**
 * The stand-in as a sharded cluster (stand-in only: these tests start and stop routers and shard members):
 * routers answer as mongos, collections are placed on shards, finds and aggregates go through router and shard
 * cursors, and the router behaviour the reaper relies on holds as the server's
 * (docs/server-semantics.md; src/mongo/s/commands/kill_sessions_remote.cpp, cluster_kill_op.cpp,
 * src/mongo/db/pipeline/document_source_current_op.cpp, jstests/sharding/kill_sessions.js).
 */
import { after, afterEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { MongoClient, MongoServerError, type ClientSession, type Document, type MongoClientOptions } from 'mongodb';
import { startShardedCluster, type RunningShardedCluster, type ShardedClusterOptions } from '../src/sharding/cluster.ts';
import { until } from './poll.ts';
import { opQuery, Raw } from './raw-wire.ts';

/** Test documents have whole-number ids (so that a test can choose their shard). */
type Doc = { _id: number; [k: string]: unknown };

const clients: MongoClient[] = [];

async function connect(uri: string, opts: MongoClientOptions = {}): Promise<MongoClient> {
  const c = new MongoClient(uri, { serverSelectionTimeoutMS: 5000, ...opts });
  clients.push(c);
  await c.connect();
  return c;
}

async function closeClients(): Promise<void> {
  await Promise.all(clients.splice(0).map((c) => c.close(true)));
}

async function withCluster(opts: ShardedClusterOptions, body: (cluster: RunningShardedCluster) => Promise<void>): Promise<void> {
  const cluster = await startShardedCluster(opts);
  try {
    await body(cluster);
  } finally {
    await closeClients();
    await cluster.stop();
  }
}

/** The first whole numbers whose hashed _id lands on `shard`. */
function idsOn(cluster: RunningShardedCluster, shard: string, n = 1): number[] {
  const ids: number[] = [];
  for (let i = 0; ids.length < n; i++) if (cluster.config.shardForId(i).name === shard) ids.push(i);
  return ids;
}

/** A collection name whose unsharded home is `shard`. */
function collectionOn(cluster: RunningShardedCluster, db: string, shard: string): string {
  for (let i = 0; ; i++) if (cluster.config.ownerOf(`${db}.c${i}`).name === shard) return `c${i}`;
}

async function currentOp(client: MongoClient, spec: Document, match: Document = {}, opts: Document = {}): Promise<Document[]> {
  return client.db('admin').aggregate([{ $currentOp: spec }, { $match: match }], opts).toArray();
}

function hexOf(session: ClientSession): string {
  return Buffer.from(session.id!.id.buffer).toString('hex');
}

function lsidHex(doc: Document): string | undefined {
  const id = doc.lsid?.id;
  return id ? Buffer.from(id.buffer).toString('hex') : undefined;
}

async function serverError(p: Promise<unknown>): Promise<MongoServerError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof MongoServerError) return e;
    throw e;
  }
  throw new Error('expected a server error');
}

function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => (s.destroy(), resolve(false)));
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'ECONNREFUSED'));
  });
}

afterEach(closeClients);

describe('a router answers as mongos', () => {
  test('hello says isdbgrid, the driver sees a Mongos, and the version supports targetAllNodes', async () => {
    await withCluster({}, async (cluster) => {
      const types: string[] = [];
      const c = new MongoClient(cluster.uri, { serverSelectionTimeoutMS: 5000 });
      clients.push(c);
      c.on('serverDescriptionChanged', (ev) => types.push(ev.newDescription.type));
      await c.connect();
      const hello = await c.db('admin').command({ hello: 1 });
      const build = await c.db('admin').command({ buildInfo: 1 });
      const status = await c.db('admin').command({ serverStatus: 1 });
      assert.equal(hello.msg, 'isdbgrid');
      assert.equal(hello.isWritablePrimary, true);
      assert.equal(hello.setName, undefined);
      assert.ok(hello.maxWireVersion >= 22, `wire version ${hello.maxWireVersion} is 7.1 or later`);
      assert.ok(types.includes('Mongos'), `the driver classified the router: ${types.join(', ')}`);
      assert.equal(build.version, '8.0.4');
      assert.deepEqual(build.versionArray.slice(0, 2), [8, 0]);
      assert.equal(status.process, 'mongos');
    });
  });

  test('the legacy handshake over OP_QUERY answers as mongos: ismaster, msg isdbgrid, no replica-set fields', async () => {
    await withCluster({}, async (cluster) => {
      const raw = await Raw.connect(cluster.routers[0]!.port);
      const reply = await raw.send(opQuery(1, 'admin.$cmd', { isMaster: 1, client: { application: { name: 'raw' } } }));
      raw.end();
      assert.equal(reply?.opCode, 1, 'OP_REPLY');
      assert.equal(reply?.doc.ismaster, true);
      assert.equal(reply?.doc.msg, 'isdbgrid');
      assert.equal(reply?.doc.setName, undefined);
      assert.equal(reply?.doc.hosts, undefined);
      assert.equal(typeof reply?.doc.logicalSessionTimeoutMinutes, 'number');
    });
  });

  test('a cluster older than 7.1 says so in buildInfo and hello, and $currentOp there does not know targetAllNodes', async () => {
    await withCluster({ version: { version: '7.0.14', maxWireVersion: 21 } }, async (cluster) => {
      const c = await connect(cluster.uri);
      const build = await c.db('admin').command({ buildInfo: 1 });
      const hello = await c.db('admin').command({ hello: 1 });
      const err = await serverError(currentOp(c, { targetAllNodes: true }));
      const plain = await currentOp(c, {});
      assert.equal(build.version, '7.0.14');
      assert.equal(hello.maxWireVersion, 21);
      assert.equal(err.code, 9);
      assert.equal(err.message, "Unrecognized option 'targetAllNodes' in $currentOp stage.");
      assert.ok(plain.length > 0);
    });
  });

  test('with auth, cluster users log in through the routers and shard-local users directly on members', async () => {
    await withCluster({ params: { auth: true }, users: ['admin:pw:root'], shardUsers: ['local:pw:root'] }, async (cluster) => {
      const member = cluster.shards[0]!.set;
      const viaRouter = await connect(cluster.uriFor('admin', 'pw'));
      const refused = await connect(member.directUri(0, 'admin', 'pw')).then(() => null, (e: Error) => e);
      const direct = await connect(member.directUri(0, 'local', 'pw'));
      const routerRefusesLocal = await connect(cluster.uriFor('local', 'pw')).then(() => null, (e: Error) => e);
      assert.equal((await viaRouter.db('admin').command({ ping: 1 })).ok, 1);
      assert.match(String(refused?.message), /Authentication failed/);
      assert.equal((await direct.db('admin').command({ ping: 1 })).ok, 1);
      assert.match(String(routerRefusesLocal?.message), /Authentication failed/);
    });
  });

  test('the connection string lists every router, and getShardMap, listShards and config.shards list the shards\' hosts', async () => {
    await withCluster({ shards: 2, members: 2, routers: 2 }, async (cluster) => {
      const c = await connect(cluster.uri);
      const map = await c.db('admin').command({ getShardMap: 1 });
      const list = await c.db('admin').command({ listShards: 1 });
      const shards = await c.db('config').collection<Doc>('shards').find().sort({ _id: 1 }).toArray();
      const expected = cluster.shards.map((s) => `${s.name}/${s.set.members.map((m) => m.host).join(',')}`);
      assert.equal(cluster.uri, `mongodb://${cluster.routers.map((r) => r.host).join(',')}/`);
      assert.deepEqual(Object.keys(map.map), ['shard0', 'shard1']);
      assert.deepEqual(Object.values(map.map), expected);
      for (const s of cluster.shards) for (const m of s.set.members) assert.equal(map.hosts[m.host], s.name);
      assert.deepEqual(list.shards.map((s: Document) => s.host), expected);
      assert.deepEqual(shards.map((s) => [s._id, s.host]), [['shard0', expected[0]], ['shard1', expected[1]]]);
    });
  });
});

describe('placement and cursors', () => {
  test('an unsharded collection lives on one shard, a hashed-sharded one on both; finds through the router see all', async () => {
    await withCluster({}, async (cluster) => {
      const c = await connect(cluster.uri);
      const db = c.db('app');
      const onShard1 = collectionOn(cluster, 'app', 'shard1');
      await db.collection<Doc>(onShard1).insertMany([{ _id: 1 }, { _id: 2 }]);
      await db.collection<Doc>('spread').insertMany([{ _id: 100 }]);
      const sharded = await c.db('admin').command({ shardCollection: 'app.spread', key: { _id: 'hashed' } });
      await db.collection<Doc>('spread').insertMany(Array.from({ length: 20 }, (_, i) => ({ _id: i })));
      const direct = await Promise.all(cluster.shards.map((s) => connect(s.set.directUri(0))));
      const count = (i: number, coll: string) => direct[i]!.db('app').collection<Doc>(coll).countDocuments();
      const all = await db.collection<Doc>('spread').find({}).sort({ _id: 1 }).toArray();
      const some = await db.collection<Doc>('spread').find({ _id: { $gte: 15 } }).sort({ _id: -1 }).limit(3).toArray();
      const byId = await db.collection<Doc>('spread').findOne({ _id: idsOn(cluster, 'shard1')[0] });
      assert.equal(sharded.collectionsharded, 'app.spread');
      assert.equal(await count(1, onShard1), 2);
      assert.equal(await count(0, onShard1), 0);
      assert.ok((await count(0, 'spread')) > 0 && (await count(1, 'spread')) > 0, 'documents on both shards');
      assert.equal((await count(0, 'spread')) + (await count(1, 'spread')), 21, 'the document there before shardCollection moved to its shard, none lost');
      assert.deepEqual(all.map((d) => d._id), [...Array.from({ length: 20 }, (_, i) => i), 100]);
      assert.deepEqual(some.map((d) => d._id), [100, 19, 18]);
      assert.equal(byId?._id, idsOn(cluster, 'shard1')[0]);
    });
  });

  test('updates, deletes, counts and aggregates on a sharded collection reach every shard they must', async () => {
    await withCluster({}, async (cluster) => {
      const c = await connect(cluster.uri);
      const coll = c.db('app').collection<Doc>('w');
      await c.db('admin').command({ shardCollection: 'app.w', key: { _id: 'hashed' } });
      await coll.insertMany(Array.from({ length: 12 }, (_, i) => ({ _id: i, g: i % 3, v: 1 })));
      const many = await coll.updateMany({ g: 0 }, { $set: { v: 2 } });
      const one = await coll.updateOne({ _id: idsOn(cluster, 'shard1')[0]! }, { $set: { v: 11 } });
      const upsert = await coll.updateOne({ _id: 500 }, { $set: { v: 5 } }, { upsert: true });
      const untargeted = await serverError(coll.updateOne({ g: 9 }, { $set: { v: 1 } }, { upsert: true }));
      const removed = await coll.deleteMany({ g: 1 });
      const count = await coll.countDocuments({ v: { $gte: 1 } });
      const groups = await coll.aggregate([{ $match: { g: { $in: [0, 2] } } }, { $group: { _id: '$g', n: { $sum: 1 } } }, { $sort: { _id: 1 } }]).toArray();
      assert.equal(many.modifiedCount, 4);
      assert.equal(one.modifiedCount, 1);
      assert.equal(upsert.upsertedCount, 1);
      assert.equal(untargeted.code, 61);
      assert.equal(removed.deletedCount, 4);
      assert.equal(count, 9);
      assert.deepEqual(groups, [{ _id: 0, n: 4 }, { _id: 2, n: 4 }]);
    });
  });

  test('a find through the router opens a router cursor over shard cursors; getMore and killCursors go through the router', async () => {
    await withCluster({}, async (cluster) => {
      const c = await connect(cluster.uri);
      const db = c.db('app');
      await c.db('admin').command({ shardCollection: 'app.big', key: { _id: 'hashed' } });
      await db.collection<Doc>('big').insertMany(Array.from({ length: 30 }, (_, i) => ({ _id: i })));
      const first = await db.command({ find: 'big', batchSize: 2 });
      const routerId = first.cursor.id;
      const idle = await currentOp(c, { idleCursors: true }, { type: 'idleCursor', ns: 'app.big' });
      const more = await db.command({ getMore: routerId, collection: 'big', batchSize: 5 });
      const killed = await db.command({ killCursors: 'big', cursors: [routerId] });
      const idleAfter = await currentOp(c, { idleCursors: true }, { type: 'idleCursor', ns: 'app.big' });
      const gone = await serverError(db.command({ getMore: routerId, collection: 'big' }));
      const drained = await db.collection<Doc>('big').find({}, { batchSize: 4 }).toArray();
      assert.equal(first.cursor.firstBatch.length, 2);
      assert.notEqual(routerId.toString(), '0');
      assert.deepEqual(idle.map((d) => d.shard).sort(), ['shard0', 'shard1'], 'one shard cursor on each shard');
      assert.ok(idle.every((d) => d.cursor.cursorId.toString() !== routerId.toString()), 'shard cursors have their own ids');
      assert.equal(more.cursor.nextBatch.length, 5);
      assert.deepEqual(killed.cursorsKilled.map(String), [routerId.toString()]);
      assert.deepEqual(idleAfter, [], 'killing the router cursor killed the shard cursors');
      assert.equal(gone.code, 43);
      assert.equal(drained.length, 30);
    });
  });
});

describe('$currentOp through the router', () => {
  test('shard documents carry shard, "<shard>:<opid>", client_s, and the application in clientMetadata.mongos', async () => {
    await withCluster({}, async (cluster) => {
      const c = await connect(cluster.uri, { appName: 'billing' });
      const me = (await c.db('admin').command({ whatsmyuri: 1 })).you;
      const ops = await currentOp(c, {}, { 'command.aggregate': 1, 'command.pipeline.0.$currentOp': { $exists: true } });
      const [routerIp] = cluster.routers[0]!.host.split(':');
      assert.deepEqual(ops.map((d) => d.shard).sort(), ['shard0', 'shard1']);
      for (const d of ops) {
        assert.equal(Object.keys(d)[0], 'shard');
        assert.match(d.opid, new RegExp(`^${d.shard}:\\d+$`));
        assert.equal(d.client, undefined);
        assert.match(d.client_s, new RegExp(`^${routerIp}:\\d+$`));
        assert.notEqual(d.client_s, me, 'client_s is the router\'s side, not the application\'s');
        assert.deepEqual(d.clientMetadata.mongos, { host: cluster.routers[0]!.host, client: me, version: '8.0.4' });
        assert.equal(d.appName, 'billing');
        assert.equal(d.host, cluster.shards.find((s) => s.name === d.shard)!.set.members[0]!.host, 'the primary by default');
      }
    });
  });

  test('one member per shard by read preference; targetAllNodes reaches every member; the option errors are the server\'s', async () => {
    await withCluster({ shards: 2, members: 3 }, async (cluster) => {
      const c = await connect(cluster.uri);
      const hosts = (docs: Document[]) => [...new Set(docs.map((d) => d.host as string))].sort();
      const primaries = cluster.shards.map((s) => s.set.members[0]!.host).sort();
      const everyone = cluster.shards.flatMap((s) => s.set.members.map((m) => m.host)).sort();
      const byDefault = await currentOp(c, { idleConnections: true });
      const onSecondaries = await currentOp(c, { idleConnections: true }, {}, { readPreference: 'secondary' });
      const all = await currentOp(c, { idleConnections: true, targetAllNodes: true });
      const withLocal = await serverError(currentOp(c, { targetAllNodes: true, localOps: true }));
      const onMongod = await serverError((await connect(cluster.shards[0]!.set.directUri(0))).db('admin').aggregate([{ $currentOp: { targetAllNodes: true } }]).toArray());
      assert.deepEqual(hosts(byDefault), primaries);
      assert.equal(hosts(onSecondaries).length, 2);
      assert.ok(hosts(onSecondaries).every((h) => !primaries.includes(h)), 'secondaries only');
      assert.deepEqual(hosts(all), everyone);
      assert.equal(withLocal.code, 9);
      assert.equal(withLocal.message, "The 'localOps' parameter of the $currentOp stage cannot be true when 'targetAllNodes' is also true");
      assert.equal(onMongod.code, 9);
      assert.equal(onMongod.message, '$currentOp supports targetAllNodes parameter only for sharded clusters');
    });
  });

  test('localOps reports the router\'s own operations and its transaction state with the participants', async () => {
    await withCluster({}, async (cluster) => {
      const c = await connect(cluster.uri);
      await c.db('admin').command({ shardCollection: 'app.t', key: { _id: 'hashed' } });
      const s = c.startSession();
      s.startTransaction();
      await c.db('app').collection<Doc>('t').insertOne({ _id: idsOn(cluster, 'shard1')[0] }, { session: s });
      await c.db('app').collection<Doc>('t').findOne({ _id: idsOn(cluster, 'shard0')[0] }, { session: s });
      const local = await currentOp(c, { localOps: true });
      const self = local.find((d) => d.command?.aggregate === 1);
      const txn = local.find((d) => d.type === 'idleSession' && lsidHex(d) === hexOf(s));
      await s.abortTransaction();
      await s.endSession();
      assert.equal(self?.shard, undefined);
      assert.equal(typeof self?.opid, 'number', 'a router opid is the router\'s own number');
      assert.ok(txn, 'the router\'s open transaction is reported');
      assert.equal(txn.transaction.numParticipants, 2);
      assert.deepEqual(txn.transaction.participants, [
        { name: 'shard1', coordinator: true, readOnly: false },
        { name: 'shard0', coordinator: false, readOnly: true },
      ]);
    });
  });

  test('with auth, $currentOp through the router needs inprog unless localOps', async () => {
    await withCluster({ params: { auth: true }, users: ['admin:pw:root', 'app:pw:readWriteAnyDatabase'] }, async (cluster) => {
      const app = await connect(cluster.uriFor('app', 'pw'));
      const denied = await serverError(currentOp(app, {}));
      const local = await currentOp(app, { localOps: true });
      assert.equal(denied.code, 13);
      assert.ok(local.some((d) => d.command?.aggregate === 1), 'its own router operation');
    });
  });
});

describe('kills through the router', () => {
  test('killSessions aborts a transaction on both shards it touched; the client\'s next statement gets 251', async () => {
    await withCluster({ shards: 2, members: 2 }, async (cluster) => {
      const c = await connect(cluster.uri);
      const admin = await connect(cluster.uri);
      await admin.db('admin').command({ shardCollection: 'app.t', key: { _id: 'hashed' } });
      const [a, a2] = idsOn(cluster, 'shard0', 2);
      const [b] = idsOn(cluster, 'shard1');
      const s = c.startSession();
      s.startTransaction();
      const coll = c.db('app').collection<Doc>('t');
      await coll.insertOne({ _id: a }, { session: s });
      await coll.insertOne({ _id: b }, { session: s });
      const idleSessions = () => currentOp(admin, { targetAllNodes: true }, { type: 'idleSession' }).then((d) => d.filter((x) => lsidHex(x) === hexOf(s)));
      const before = await idleSessions();
      const reply = await admin.db('admin').command({ killSessions: [{ id: s.id!.id }] });
      const afterKill = await idleSessions();
      const next = await serverError(coll.insertOne({ _id: a2 }, { session: s }));
      await s.abortTransaction().catch(() => {});
      await s.endSession();
      const committed = await admin.db('app').collection<Doc>('t').countDocuments();
      assert.deepEqual(before.map((d) => d.shard).sort(), ['shard0', 'shard1'], 'a participant on each shard');
      assert.equal(reply.ok, 1);
      assert.deepEqual(afterKill, [], 'both participants are gone');
      assert.equal(next.code, 251);
      assert.ok(next.errorLabels.includes('TransientTransactionError'));
      assert.equal(committed, 0, 'nothing of the transaction was committed');
    });
  });

  test('with auth, a reaper with killAnySession kills another user\'s two-shard transaction through the router', async () => {
    const users = ['admin:pw:root', 'app:pw:readWriteAnyDatabase', 'reaper:pw:clusterMonitor'];
    await withCluster({ params: { auth: true }, users }, async (cluster) => {
      const admin = await connect(cluster.uriFor('admin', 'pw'));
      await admin.db('admin').command({ createRole: 'killer', privileges: [{ resource: { cluster: true }, actions: ['killAnySession'] }], roles: [] });
      await admin.db('admin').command({ grantRolesToUser: 'reaper', roles: ['killer'] });
      await admin.db('admin').command({ shardCollection: 'app.t', key: { _id: 'hashed' } });
      const app = await connect(cluster.uriFor('app', 'pw'));
      const reaper = await connect(cluster.uriFor('reaper', 'pw'));
      const [a, a2] = idsOn(cluster, 'shard0', 2);
      const s = app.startSession();
      s.startTransaction();
      const coll = app.db('app').collection<Doc>('t');
      await coll.insertOne({ _id: a }, { session: s });
      await coll.insertOne({ _id: idsOn(cluster, 'shard1')[0]! }, { session: s });
      const seen = (await currentOp(reaper, { allUsers: true }, { type: 'idleSession' })).filter((d) => lsidHex(d) === hexOf(s));
      await reaper.db('admin').command({ killSessions: [seen[0]!.lsid] });
      const left = (await currentOp(reaper, { allUsers: true }, { type: 'idleSession' })).filter((d) => lsidHex(d) === hexOf(s));
      const next = await serverError(coll.insertOne({ _id: a2 }, { session: s }));
      await s.endSession();
      assert.deepEqual(seen.map((d) => d.shard).sort(), ['shard0', 'shard1']);
      assert.deepEqual(left, []);
      assert.equal(next.code, 251);
    });
  });

  test('killSessions reaches secondaries: a session\'s cursor on a shard secondary goes, and the router cursor with it', async () => {
    await withCluster({ shards: 2, members: 2 }, async (cluster) => {
      const c = await connect(cluster.uri);
      await c.db('admin').command({ shardCollection: 'app.big', key: { _id: 'hashed' } });
      await c.db('app').collection<Doc>('big').insertMany(Array.from({ length: 20 }, (_, i) => ({ _id: i })));
      const s = c.startSession();
      const cursor = c.db('app').collection<Doc>('big').find({}, { session: s, batchSize: 1, readPreference: 'secondary' });
      await cursor.next();
      const idle = () => currentOp(c, { idleCursors: true, targetAllNodes: true }, { type: 'idleCursor' }).then((d) => d.filter((x) => lsidHex(x) === hexOf(s)));
      const before = await idle();
      await c.db('admin').command({ killSessions: [s.id] });
      const afterKill = await idle();
      const err = await serverError(cursor.toArray());
      await s.endSession();
      const secondaries = cluster.shards.map((sh) => sh.set.members[1]!.host).sort();
      assert.deepEqual(before.map((d) => d.host).sort(), secondaries, 'the shard cursors are on the secondaries');
      assert.deepEqual(afterKill, []);
      assert.equal(err.code, 43);
    });
  });

  test('a shard member down: the kill reaches the others and fails with 6 "Failed to kill on some hosts"', async () => {
    await withCluster({ shards: 2, members: 2 }, async (cluster) => {
      const c = await connect(cluster.uri);
      await c.db('admin').command({ shardCollection: 'app.t', key: { _id: 'hashed' } });
      const s = c.startSession();
      s.startTransaction();
      await c.db('app').collection<Doc>('t').insertOne({ _id: idsOn(cluster, 'shard1')[0] }, { session: s });
      const down = cluster.shards[0]!.set.members[1]!;
      await down.stop();
      const err = await serverError(c.db('admin').command({ killSessions: [s.id] }));
      const left = await currentOp(c, {}, { type: 'idleSession' });
      await s.endSession();
      assert.equal(err.code, 6);
      assert.equal(err.codeName, 'HostUnreachable');
      assert.equal(err.message, 'Failed to kill on some hosts');
      assert.deepEqual(err.errorResponse.failedHosts, [down.host]);
      assert.deepEqual(left.filter((d) => lsidHex(d) === hexOf(s)), [], 'the reachable hosts were killed on');
    });
  });

  test('killAllSessions and killAllSessionsByPattern fan out too', async () => {
    await withCluster({}, async (cluster) => {
      const c = await connect(cluster.uri);
      await c.db('admin').command({ shardCollection: 'app.t', key: { _id: 'hashed' } });
      const open = async () => {
        const s = c.startSession();
        s.startTransaction();
        await c.db('app').collection<Doc>('t').insertOne({ _id: idsOn(cluster, 'shard0')[0] }, { session: s });
        await c.db('app').collection<Doc>('t').insertOne({ _id: idsOn(cluster, 'shard1')[0] }, { session: s });
        return s;
      };
      const count = async () => (await currentOp(c, {}, { type: 'idleSession' })).length;
      const s1 = await open();
      const before1 = await count();
      await c.db('admin').command({ killAllSessions: [] });
      const after1 = await count();
      await s1.endSession();
      const s2 = await open();
      const before2 = await count();
      await c.db('admin').command({ killAllSessionsByPattern: [{ lsid: { id: s2.id!.id, uid: (await currentOp(c, {}, { type: 'idleSession' }))[0]!.lsid.uid } }] });
      const after2 = await count();
      await s2.endSession();
      assert.deepEqual([before1, after1, before2, after2], [2, 0, 2, 0]);
    });
  });

  test('killOp "<shard>:<opid>" kills on the shard\'s primary and answers success; malformed ids get the server\'s errors', async () => {
    await withCluster({ shards: 2, members: 2 }, async (cluster) => {
      const c = await connect(cluster.uri);
      const primary = await connect(cluster.shards[1]!.set.directUri(0));
      const sleeping = primary.db('admin').command({ sleep: 1, secs: 30, lock: 'none' }).then(() => null, (e) => e as MongoServerError);
      const op = await until(async () => (await currentOp(c, {}, { 'command.sleep': 1 }))[0], 'the sleep on shard1\'s primary');
      const reply = await c.db('admin').command({ killOp: 1, op: op.opid });
      const killed = await sleeping;
      const errors: [unknown, number][] = [];
      for (const bad of [undefined, { x: 1 }, 'nonsense', ':12', '12:', 'nosuch:1', 'shard0:abc']) {
        const e = await serverError(c.db('admin').command(bad === undefined ? { killOp: 1 } : { killOp: 1, op: bad }));
        errors.push([bad, Number(e.code)]);
      }
      const local = await c.db('admin').command({ killOp: 1, op: 123456 });
      assert.equal(op.shard, 'shard1');
      assert.deepEqual(reply, { shard: 'shard1', shardid: Number(op.opid.split(':')[1]), ok: 1 });
      assert.equal(killed?.code, 11601);
      assert.deepEqual(errors, [[undefined, 50759], [{ x: 1 }, 50760], ['nonsense', 28625], [':12', 28625], ['12:', 28625], ['nosuch:1', 70], ['shard0:abc', 9]]);
      assert.deepEqual(local, { info: 'attempting to kill op', ok: 1 });
    });
  });

  test('killOp "<shard>:<opid>" of an op seen on a secondary answers success and does not reach it (SERVER-96446)', async () => {
    await withCluster({ shards: 1, members: 2 }, async (cluster) => {
      const c = await connect(cluster.uri);
      const secondary = await connect(cluster.shards[0]!.set.directUri(1));
      const sleeping = secondary.db('admin').command({ sleep: 1, secs: 30, lock: 'none' }).then(() => null, (e) => e as MongoServerError);
      const seen = await until(async () => (await currentOp(c, { targetAllNodes: true }, { 'command.sleep': 1 }))[0], 'the sleep on the secondary');
      const reply = await c.db('admin').command({ killOp: 1, op: seen.opid });
      const still = await currentOp(c, { targetAllNodes: true }, { 'command.sleep': 1 });
      const direct = await secondary.db('admin').command({ killOp: 1, op: Number(seen.opid.split(':')[1]) });
      const killed = await sleeping;
      assert.equal(seen.host, cluster.shards[0]!.set.members[1]!.host);
      assert.equal(reply.ok, 1);
      assert.equal(still.length, 1, 'the op on the secondary still runs');
      assert.equal(direct.ok, 1);
      assert.equal(killed?.code, 11601, 'killed on the member where it was seen');
    });
  });

  test('killOp with a number kills one of the router\'s own operations', async () => {
    await withCluster({}, async (cluster) => {
      const c = await connect(cluster.uri);
      const sleeper = await connect(cluster.uri);
      const sleeping = sleeper.db('admin').command({ sleep: 1, secs: 30, lock: 'none' }).then(() => null, (e) => e as MongoServerError);
      const op = await until(async () => (await currentOp(c, { localOps: true }, { 'command.sleep': 1 }))[0], 'the sleep on the router');
      const reply = await c.db('admin').command({ killOp: 1, op: op.opid });
      const killed = await sleeping;
      assert.equal(typeof op.opid, 'number');
      assert.deepEqual(reply, { info: 'attempting to kill op', ok: 1 });
      assert.equal(killed?.code, 11601);
    });
  });

  test('a router operation killed while it waits on a shard fails with 11601, and the router carries on', async () => {
    await withCluster({}, async (cluster) => {
      const c = await connect(cluster.uri, { appName: 'slow' });
      const admin = await connect(cluster.uri);
      await admin.db('admin').command({ shardCollection: 'app.big', key: { _id: 'hashed' } });
      await admin.db('app').collection<Doc>('big').insertMany(Array.from({ length: 40 }, (_, i) => ({ _id: i })));
      const first = await c.db('app').command({ find: 'big', batchSize: 1 });
      // shard1's getMore is held on its primary: the router's getMore makes its shard0 calls, then waits there.
      const shard1 = await connect(cluster.shards[1]!.set.directUri(0));
      await shard1.db('admin').command({ configureFailPoint: 'failCommand', mode: { times: 1 }, data: { failCommands: ['getMore'], blockConnection: true, blockTimeMS: 2000, appName: 'slow' } });
      const more = c.db('app').command({ getMore: first.cursor.id, collection: 'big', batchSize: 1000 }).then(() => null, (e) => e as MongoServerError);
      const op = await until(async () => (await currentOp(admin, { localOps: true }, { 'command.getMore': { $exists: true } }))[0], 'the router\'s getMore');
      await admin.db('admin').command({ killOp: 1, op: op.opid });
      const killed = await more;
      const after = await admin.db('app').collection<Doc>('big').countDocuments();
      assert.equal(killed?.code, 11601);
      assert.equal(after, 40, 'the router still answers');
    });
  });

  test('with auth, killOp of a shard op needs killop on the cluster', async () => {
    await withCluster({ params: { auth: true }, users: ['admin:pw:root', 'app:pw:readWriteAnyDatabase'] }, async (cluster) => {
      const app = await connect(cluster.uriFor('app', 'pw'));
      const err = await serverError(app.db('admin').command({ killOp: 1, op: 'shard0:1' }));
      assert.equal(err.code, 13);
    });
  });
});

describe('session listings through routers', () => {
  test('$listLocalSessions lists one router\'s cache; $listSessions the cluster-wide collection', async () => {
    await withCluster({ routers: 2 }, async (cluster) => {
      const r0 = await connect(cluster.routerUri(0));
      const r1 = await connect(cluster.routerUri(1));
      const s = r1.startSession();
      await r1.db('app').collection<Doc>('x').insertOne({ _id: 1 }, { session: s });
      const id = hexOf(s);
      const local = async (c: MongoClient) => (await c.db('admin').aggregate([{ $listLocalSessions: { allUsers: true } }]).toArray()).map((d) => Buffer.from(d._id.id.buffer).toString('hex'));
      const persisted = async (c: MongoClient) => (await c.db('config').collection<Doc>('system.sessions').aggregate([{ $listSessions: { allUsers: true } }]).toArray()).map((d) => Buffer.from(d._id.id.buffer).toString('hex'));
      const on0 = await local(r0);
      const on1 = await local(r1);
      const persistedBefore = await persisted(r0);
      await r1.db('admin').command({ refreshLogicalSessionCacheNow: 1 });
      const persistedAfter = await persisted(r0);
      await s.endSession();
      assert.ok(!on0.includes(id), 'not in the other router\'s cache');
      assert.ok(on1.includes(id), 'in the cache of the router it ran on');
      assert.ok(!persistedBefore.includes(id), 'not in config.system.sessions before the router refreshed');
      assert.ok(persistedAfter.includes(id), 'every router reads the one collection');
    });
  });
});

describe('stopping and starting', () => {
  test('a router stops (its port refuses) and starts again with a fresh cache; a shard member too', async () => {
    await withCluster({ shards: 1, members: 2, routers: 2 }, async (cluster) => {
      const r1 = cluster.routers[1]!;
      const c = await connect(cluster.routerUri(1));
      const s = c.startSession();
      await c.db('app').collection<Doc>('x').insertOne({ _id: 1 }, { session: s });
      await s.endSession();
      await r1.stop();
      const refusedWhileStopped = await refused(r1.port);
      await r1.start();
      const again = await connect(cluster.routerUri(1));
      const cache = await again.db('admin').aggregate([{ $listLocalSessions: { allUsers: true } }]).toArray();
      const member = cluster.shards[0]!.set.members[1]!;
      await member.stop();
      const memberRefused = await refused(member.port);
      await member.start();
      const found = await again.db('app').collection<Doc>('x').findOne({ _id: 1 });
      assert.equal(refusedWhileStopped, true);
      assert.equal(r1.up, true);
      assert.deepEqual(cache.filter((d) => Buffer.from(d._id.id.buffer).toString('hex') === hexOf(s)), [], 'a restarted router starts with an empty cache');
      assert.equal(memberRefused, true);
      assert.equal(member.state, 'SECONDARY');
      assert.deepEqual(found, { _id: 1 }, 'the data outlives the processes');
    });
  });
});

after(closeClients);
