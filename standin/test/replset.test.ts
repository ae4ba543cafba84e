/**
 * The stand-in as a replica set (stand-in only: a real set is out of reach of these tests): members answer
 * hello as the server's members do, the official driver discovers the set from one seed and routes by read
 * preference, secondaries refuse writes and unflagged reads, config.system.sessions is one collection for the
 * set, and members can be stopped and started.
 */
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { Binary, Long, MongoClient, MongoServerError, ObjectId, type Document, type MongoClientOptions } from 'mongodb';
import { startReplicaSet, type ReplicaSetOptions, type RunningReplicaSet } from '../src/replset.ts';
import { kind0, opMsg, Raw } from './raw-wire.ts';

const clients: MongoClient[] = [];
/** Each client's latest view of the set, from its SDAM events (topologyDescriptionChanged). */
const views = new WeakMap<MongoClient, Record<string, string>>();

async function connect(uri: string, opts: MongoClientOptions = {}): Promise<MongoClient> {
  const c = new MongoClient(uri, { serverSelectionTimeoutMS: 5000, heartbeatFrequencyMS: 500, ...opts });
  clients.push(c);
  c.on('topologyDescriptionChanged', (ev) => {
    views.set(c, Object.fromEntries([...ev.newDescription.servers.values()].map((s) => [s.address, s.type])));
  });
  await c.connect();
  return c;
}

async function closeClients(): Promise<void> {
  await Promise.all(clients.splice(0).map((c) => c.close()));
}

/** Polls for a condition the driver reaches on its own schedule (heartbeats); bounded, no fixed sleep. */
async function eventually(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'ECONNREFUSED'));
  });
}

/** Runs `body` against a set of its own, stopped (with the clients) whatever happens. */
async function withSet(opts: ReplicaSetOptions, body: (set: RunningReplicaSet) => Promise<void>): Promise<void> {
  const set = await startReplicaSet(opts);
  try {
    await body(set);
  } finally {
    await closeClients();
    await set.stop();
  }
}

function serverTypes(c: MongoClient): Record<string, string> {
  return views.get(c) ?? {};
}

describe('replica set (stand-in)', () => {
  let rs: RunningReplicaSet;
  before(async () => {
    rs = await startReplicaSet({ name: 'rs0', members: 3 });
  });
  after(async () => {
    await closeClients();
    await rs.stop();
  });
  afterEach(closeClients);

  test('hello answers as a member: primary and secondaries agree on the set, each says who it is', async () => {
    // Act
    const replies = await Promise.all(rs.members.map(async (m, i) => (await connect(rs.directUri(i), { directConnection: true })).db('admin').command({ hello: 1 })));
    const legacy = await (await connect(rs.directUri(1))).db('admin').command({ isMaster: 1 });
    // Assess
    const hosts = rs.members.map((m) => m.host);
    const [primary, ...secondaries] = replies;
    for (const [i, r] of replies.entries()) {
      assert.equal(r.setName, 'rs0');
      assert.deepEqual(r.hosts, hosts);
      assert.equal(r.primary, hosts[0]);
      assert.equal(r.me, hosts[i]);
      assert.equal(r.setVersion, 1);
      assert.ok(r.topologyVersion.processId instanceof ObjectId);
      assert.ok(Long.isLong(r.topologyVersion.counter) || typeof r.topologyVersion.counter === 'number');
      assert.ok(r.lastWrite.lastWriteDate instanceof Date && r.lastWrite.opTime.ts);
      assert.equal(r.logicalSessionTimeoutMinutes, 30);
    }
    assert.equal(primary.isWritablePrimary, true);
    assert.equal(primary.secondary, false);
    assert.ok(primary.electionId instanceof ObjectId);
    for (const s of secondaries) {
      assert.equal(s.isWritablePrimary, false);
      assert.equal(s.secondary, true);
      assert.equal(s.electionId, undefined, 'electionId only on the primary (fillHelloForReplSet)');
    }
    assert.equal(legacy.ismaster, false);
    assert.equal(legacy.isWritablePrimary, undefined);
    assert.equal(legacy.secondary, true);
  });

  test('the driver discovers the set from one seed and routes reads by read preference', async () => {
    // Prepare: the only seed is a secondary.
    const c = await connect(`mongodb://${rs.members[2].host}/?replicaSet=rs0`);
    const orders = c.db('app').collection<{ _id: string; n: number }>('orders');
    await orders.insertOne({ _id: 'route', n: 1 });
    const secondaries = new Set([rs.members[1].host, rs.members[2].host]);
    // Act
    const ranOn = async (readPreference: 'primary' | 'secondary' | 'secondaryPreferred') =>
      (await c.db('admin').command({ hello: 1 }, { readPreference })).me as string;
    const read = await orders.findOne({ _id: 'route' }, { readPreference: 'secondary' });
    // Assess
    assert.deepEqual(serverTypes(c), { [rs.members[0].host]: 'RSPrimary', [rs.members[1].host]: 'RSSecondary', [rs.members[2].host]: 'RSSecondary' });
    assert.equal(await ranOn('primary'), rs.members[0].host);
    assert.ok(secondaries.has(await ranOn('secondary')));
    assert.ok(secondaries.has(await ranOn('secondaryPreferred')));
    assert.deepEqual(read, { _id: 'route', n: 1 }, 'a write on the primary is visible on a secondary at once');
  });

  test('nearest with a tag set goes to the tagged member', async () => {
    await withSet({ name: 'tagged', members: [{}, {}, { tags: { dc: 'west' } }] }, async (tagged) => {
      const c = await connect(tagged.uri);
      const reply = await c.db('admin').command({ hello: 1 }, { readPreference: { mode: 'nearest', tags: [{ dc: 'west' }] } as never });
      assert.equal(reply.me, tagged.members[2].host);
      assert.deepEqual(reply.tags, { dc: 'west' });
    });
  });

  test('a secondary refuses writes and transactions with NotWritablePrimary (10107) and the server\'s labels', async () => {
    // Prepare
    const c = await connect(rs.directUri(1));
    const session = c.startSession();
    // Act
    const retryable = await c.db('app').collection('orders').insertOne({ a: 1 }).catch((e) => e);
    const plain = await c.db('app').command({ insert: 'orders', documents: [{ a: 2 }] }).catch((e) => e);
    session.startTransaction();
    const inTxn = await c.db('app').collection('orders').insertOne({ a: 3 }, { session }).catch((e) => e);
    await session.abortTransaction().catch(() => {});
    await session.endSession();
    // Assess
    for (const e of [retryable, plain, inTxn]) {
      assert.ok(e instanceof MongoServerError);
      assert.equal(e.code, 10107);
      assert.equal(e.codeName, 'NotWritablePrimary');
      assert.equal(e.message, 'not primary');
    }
    assert.ok(retryable.hasErrorLabel('RetryableWriteError'), 'a retryable write (txnNumber) gets RetryableWriteError');
    assert.ok(!plain.hasErrorLabel('RetryableWriteError'), 'a write without txnNumber gets no label');
    assert.ok(inTxn.hasErrorLabel('TransientTransactionError'), 'a statement in a transaction gets TransientTransactionError');
    assert.equal(await (await connect(rs.directUri(0))).db('app').collection('orders').countDocuments({ a: { $in: [1, 2, 3] } }), 0);
  });

  test('a read on a secondary without secondaryOk gets NotPrimaryNoSecondaryOk (13435); with a read preference it runs', async () => {
    // Prepare: a raw OP_MSG, since the driver always sends a read preference on a direct connection.
    const raw = await Raw.connect(rs.members[1].port);
    try {
      await raw.send(opMsg(1, 0, [kind0({ hello: 1, helloOk: true, $db: 'admin' })]));
      // Act
      const refusedReply = await raw.send(opMsg(2, 0, [kind0({ find: 'orders', filter: {}, $db: 'app' })]));
      const allowed = await raw.send(opMsg(3, 0, [kind0({ find: 'orders', filter: {}, $db: 'app', $readPreference: { mode: 'secondaryPreferred' } })]));
      const always = await raw.send(opMsg(4, 0, [kind0({ aggregate: 1, pipeline: [{ $listLocalSessions: {} }], cursor: {}, $db: 'admin' })]));
      // Assess
      assert.deepEqual(refusedReply!.doc, { ok: 0, errmsg: 'not primary and secondaryOk=false', code: 13435, codeName: 'NotPrimaryNoSecondaryOk' });
      assert.equal(allowed!.doc.ok, 1);
      assert.equal(always!.doc.code, 13435, 'aggregate is optIn too (pipeline_command.cpp)');
    } finally {
      raw.end();
    }
  });

  test('a session used only on a secondary reaches config.system.sessions through the refresh, not the primary\'s cache', async () => {
    // Prepare
    const id = new Binary(Buffer.from(new ObjectId().toHexString().padEnd(32, '0'), 'hex'), 4);
    const secondary = await connect(rs.directUri(2));
    const primary = await connect(rs.directUri(0));
    await secondary.db('admin').command({ refreshSessions: [{ id }] });
    const listed = async (c: MongoClient, stage: Document) => {
      const pipeline = [stage, { $match: { '_id.id': id } }];
      return stage.$listSessions ? c.db('config').collection('system.sessions').aggregate(pipeline).toArray() : c.db('admin').aggregate(pipeline).toArray();
    };
    const before = await listed(primary, { $listSessions: { allUsers: true } });
    const localOnSecondary = await listed(secondary, { $listLocalSessions: { allUsers: true } });
    // Act
    await secondary.db('admin').command({ refreshLogicalSessionCacheNow: 1 });
    // Assess
    assert.equal(before.length, 0);
    assert.equal(localOnSecondary.length, 1);
    assert.equal((await listed(primary, { $listSessions: { allUsers: true } })).length, 1);
    assert.equal((await listed(rs.members[1] && (await connect(rs.directUri(1))), { $listSessions: { allUsers: true } })).length, 1, 'every member reads the one collection');
    assert.equal((await listed(primary, { $listLocalSessions: { allUsers: true } })).length, 0, "the primary's cache never saw it");
  });

  test('replSetGetConfig and replSetGetStatus describe the set from any member', async () => {
    const c = await connect(rs.directUri(1));
    const { config } = await c.db('admin').command({ replSetGetConfig: 1 });
    const status = await c.db('admin').command({ replSetGetStatus: 1 });
    assert.equal(config._id, 'rs0');
    assert.deepEqual(config.members.map((m: Document) => [m._id, m.host, m.hidden, m.priority, m.votes, m.arbiterOnly]), rs.members.map((m, i) => [i, m.host, false, 1, 1, false]));
    assert.equal(status.set, 'rs0');
    assert.equal(status.myState, 2);
    assert.deepEqual(status.members.map((m: Document) => m.stateStr), ['PRIMARY', 'SECONDARY', 'SECONDARY']);
    assert.equal(status.members[1].self, true);
  });

  test('a stopped member refuses connections and loses its in-memory state; started again, the driver sees it back', async () => {
    // Prepare: a cursor left open on member 2, and a driver watching the set.
    const direct = await connect(rs.directUri(2));
    await (await connect(rs.directUri(0))).db('app').collection('many').insertMany(Array.from({ length: 10 }, (_, i) => ({ i })));
    const cursor = direct.db('app').collection('many').find({}, { batchSize: 2, readPreference: 'secondaryPreferred' });
    await cursor.next();
    const watcher = await connect(rs.uri);
    const member = rs.members[2];
    // Act
    await member.stop();
    const stoppedState = member.state;
    const isRefused = await refused(member.port);
    await eventually('the driver marks the stopped member Unknown', () => serverTypes(watcher)[member.host] === 'Unknown');
    const status = await watcher.db('admin').command({ replSetGetStatus: 1 });
    await member.start();
    await eventually('the driver sees the member as a secondary again', () => serverTypes(watcher)[member.host] === 'RSSecondary');
    const after = await connect(rs.directUri(2));
    const idle = await after.db('admin').aggregate([{ $currentOp: { allUsers: true, idleCursors: true } }, { $match: { type: 'idleCursor' } }]).toArray();
    // Assess
    assert.equal(stoppedState, 'DOWN');
    assert.equal(isRefused, true);
    assert.deepEqual([status.members[2].health, status.members[2].stateStr], [0, '(not reachable/healthy)']);
    assert.equal(member.state, 'SECONDARY');
    assert.equal(idle.length, 0, 'the cursor did not survive the restart');
    assert.equal(await after.db('app').collection('many').countDocuments({}, { readPreference: 'secondaryPreferred' }), 10, 'the data did');
    await cursor.close().catch(() => {});
  });

  test('while the primary is down nobody is primary; stepUp elects another member', async () => {
    await withSet({ name: 'failover', members: 3 }, async (set) => {
      const watcher = await connect(set.uri);
      await set.members[0].stop();
      const hello = await (await connect(set.directUri(1))).db('admin').command({ hello: 1 });
      set.stepUp(1);
      await eventually('the driver finds the new primary', () => serverTypes(watcher)[set.members[1].host] === 'RSPrimary');
      await watcher.db('app').collection('x').insertOne({ after: 'failover' });
      assert.equal(hello.primary, undefined);
      assert.deepEqual(set.members.map((m) => m.state), ['DOWN', 'PRIMARY', 'SECONDARY']);
    });
  });

  test('standinBulkCreateSessions spreads operations and cursors over the members, one collection of documents', async () => {
    await withSet({ name: 'bulk', members: 3 }, async (set) => {
      const c = await connect(set.directUri(0));
      await c.db('admin').command({ standinBulkCreateSessions: 30, runningOps: 9, idleTransactions: 3, cursors: 6, spreadOverMembers: true });
      const perMember = await Promise.all(set.members.map(async (m, i) => {
        const d = await connect(set.directUri(i));
        const ops = await d.db('admin').aggregate([{ $currentOp: { allUsers: true, idleCursors: true, idleSessions: true } }, { $match: { $or: [{ 'clientMetadata.platform': 'synthetic' }, { ns: 'app.events' }] } }, { $group: { _id: '$type', n: { $sum: 1 } } }, { $sort: { _id: 1 } }]).toArray();
        const docs = await d.db('config').collection('system.sessions').aggregate([{ $listSessions: { allUsers: true } }, { $count: 'n' }]).toArray();
        return { ops, docs };
      }));
      assert.deepEqual(perMember.map((p) => p.docs), [[{ n: 30 }], [{ n: 30 }], [{ n: 30 }]]);
      assert.deepEqual(perMember[0].ops, [{ _id: 'idleCursor', n: 2 }, { _id: 'idleSession', n: 3 }, { _id: 'op', n: 3 }]);
      assert.deepEqual(perMember[1].ops, [{ _id: 'idleCursor', n: 2 }, { _id: 'op', n: 3 }]);
      assert.deepEqual(perMember[2].ops, [{ _id: 'idleCursor', n: 2 }, { _id: 'op', n: 3 }]);
    });
  });

  test('a hidden member is left out of hosts but answers and is in the configuration', async () => {
    await withSet({ name: 'hid', members: [{}, {}, { hidden: true }] }, async (set) => {
      const fromPrimary = await (await connect(set.directUri(0))).db('admin').command({ hello: 1 });
      const fromHidden = await (await connect(set.directUri(2))).db('admin').command({ hello: 1 });
      const { config } = await (await connect(set.directUri(0))).db('admin').command({ replSetGetConfig: 1 });
      const discovered = await connect(set.uri);
      assert.deepEqual(fromPrimary.hosts, [set.members[0].host, set.members[1].host]);
      assert.deepEqual([fromHidden.hidden, fromHidden.passive, fromHidden.secondary, fromHidden.me], [true, true, true, set.members[2].host]);
      assert.deepEqual(config.members.map((m: Document) => [m.hidden, m.priority]), [[false, 1], [false, 1], [true, 0]]);
      assert.equal(serverTypes(discovered)[set.members[2].host], undefined, 'the driver drops the hidden seed from the set');
    });
  });

  test('--members 1 is a one-member set whose member is primary', async () => {
    await withSet({ name: 'solo', members: 1 }, async (one) => {
      const c = await connect(one.uri);
      await c.db('app').collection('x').insertOne({ solo: true });
      assert.deepEqual(serverTypes(c), { [one.members[0].host]: 'RSPrimary' });
      assert.equal(one.uri, `mongodb://${one.members[0].host}/?replicaSet=solo`);
    });
  });

  test('with auth every member takes the same users', async () => {
    await withSet({ name: 'auth', members: 2, params: { auth: true }, users: ['admin:pw:root'] }, async (set) => {
      const c = await connect(set.uriFor('admin', 'pw'));
      await c.db('app').collection('x').insertOne({ a: 1 });
      const onSecondary = await (await connect(set.directUri(1, 'admin', 'pw'))).db('admin').command({ connectionStatus: 1 });
      assert.deepEqual(onSecondary.authInfo.authenticatedUsers, [{ user: 'admin', db: 'admin' }]);
      await assert.rejects(connect(set.directUri(1, 'admin', 'wrong')), { codeName: 'AuthenticationFailed' });
    });
  });

  test('bad options are refused with a message naming the fix', async () => {
    await assert.rejects(startReplicaSet({ name: 'x', members: 0 }), /members must be a whole number of at least 1/);
    await assert.rejects(startReplicaSet({ name: 'a/b' }), /replica set name "a\/b" is not valid/);
    await assert.rejects(startReplicaSet({ name: 'x', members: [{ hidden: true }] }), /needs a member that can be primary/);
    await assert.rejects(startReplicaSet({ name: 'x', members: [{}, { hidden: true, priority: 1 }] }), /a hidden member must have priority 0/);
  });
});
