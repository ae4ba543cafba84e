/**
 * End to end through mongos (the stand-in's sharded cluster, with access control): the reaper, as a cluster user
 * holding only the least-privilege role (infra/mongodb-role.json), reads every member of every shard with one
 * $currentOp {targetAllNodes} through the router, each router's own state (localOps, $listLocalSessions) over a
 * connection to that router alone, and kills sessions with one killSessions through the router. Time passes on
 * the cluster's injected clock, never by sleeping. When MONGODB_URI names a mongos (a test cluster, with a root
 * user: the pass kills what the default policies target), the router cases run there too, waiting for real time;
 * the cases that stop a member or need shard-local users are the stand-in's only.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { MongoClient, type ClientSession, type Document } from 'mongodb';
import { ConnectionString } from 'mongodb-connection-string-url';
import { MongoAdapter } from '../src/adapters/mongodb/adapter.ts';
import { MEMBER_TIMEOUT_MS } from '../src/adapters/mongodb/members.ts';
import { InMemoryAuditSink } from '../src/adapters/audit-sinks.ts';
import { DEFAULT_POLICIES_DIR } from '../src/service/config.ts';
import { DEMO_THRESHOLDS } from '../src/demo/thresholds.ts';
import { REAPER_ROLE_DOCUMENT } from '../src/demo/workload.ts';
import { runPass, type PassOptions, type RunReport } from '../src/pass/pass.ts';
import { clientPool, createReaperAndUsers, createShardLocalReaper, eventually, outcome } from './support/e2e-cluster.ts';
import { passOptions } from './support/clocked-pass.ts';
import { loadPolicySet } from '../src/pass/policy/load.ts';
import { membersNotCovered } from '../src/service/lambda/metrics.ts';
import type { PolicySet } from '../src/pass/policy/types.ts';
import type { Activity, Coverage, MembersMode } from '../src/pass/ports.ts';
import type { ServerVersion } from '../standin/src/mongod.ts';
import { rawAuthenticated } from '../standin/test/scram-client.ts';
import { until } from '../standin/test/poll.ts';
import { ManualClock } from '../standin/src/clock.ts';
import { startShardedCluster, type RunningShardedCluster } from '../standin/src/sharding/cluster.ts';

const PASSWORD = 'sharded-password';

const REAL_URI = process.env.MONGODB_URI;
console.log(REAL_URI
  ? '# e2e.sharded: on the stand-in\'s sharded cluster, and through the real mongos in MONGODB_URI (if it is one) for what needs no stopped member and no shard-local user'
  : '# e2e.sharded: MONGODB_URI is not set: the stand-in\'s sharded cluster only (set MONGODB_URI to a mongos, with a root user, to run the router cases against a real cluster too)');

const options = (now: () => number): PassOptions => passOptions(now, { cluster: 'sharded-e2e', concurrency: 2 });

interface SetUp {
  cluster: RunningShardedCluster;
  clock: ManualClock;
  policy: PolicySet;
  connect(uri: string, appName: string): Promise<MongoClient>;
  close(): Promise<void>;
}

interface SetUpOptions {
  /**
   * The reaper also exists as a shard-local user holding the sessionReaper role created on each shard's primary
   * (docs/deploy.md: killOp on secondaries; before 7.1 also the direct reads of the secondaries); default true.
   */
  reaperOnShards?: boolean;
  version?: ServerVersion;
}

async function setUp(o: SetUpOptions = {}): Promise<SetUp> {
  const clock = new ManualClock();
  // Shard-local users (direct connections to members; cluster users do not exist on the shards): bob runs on a
  // secondary directly, and the reaper has its shard-local twin for killOp on secondaries.
  const cluster = await startShardedCluster({
    shards: 2, members: 3, routers: 2, params: { auth: true }, clock, ...(o.version ? { version: o.version } : {}),
    users: [`admin:${PASSWORD}:root`], shardUsers: [`bob:${PASSWORD}:root`],
  });
  const { clients, connect } = clientPool();
  if (o.reaperOnShards !== false) await createShardLocalReaper(cluster, connect, 'bob', PASSWORD);
  const admin = await connect(cluster.uriFor('admin', PASSWORD), 'setup');
  const adminDb = admin.db('admin');
  await createReaperAndUsers(adminDb, PASSWORD, ['alice', 'carol', 'dave']);
  await adminDb.command({ shardCollection: 'shop.orders', key: { _id: 'hashed' } });
  await admin.db('shop').collection('orders').insertMany(Array.from({ length: 20 }, (_, i) => ({ _id: i as never, total: i })));
  const policy = await loadPolicySet(DEFAULT_POLICIES_DIR, { overrides: { ...DEMO_THRESHOLDS, protectUnknownApplications: 0 } });
  return {
    cluster, clock, policy, connect,
    close: async () => {
      await Promise.all(clients.map((c) => c.close(true).catch(() => {})));
      await cluster.stop();
    },
  };
}

async function pass(s: SetUp, members: MembersMode = 'all'): Promise<RunReport> {
  const mongo = await MongoAdapter.connect(s.cluster.uriFor('reaper', PASSWORD), {}, members);
  try {
    return await runPass(mongo, s.policy, new InMemoryAuditSink(), options(() => s.clock.now()));
  } finally {
    await mongo.close();
  }
}

function uuidOf(session: ClientSession): string {
  const h = Buffer.from(session.id!.id.buffer).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function idOn(s: SetUp, shard: string): number {
  for (let i = 0; ; i++) if (s.cluster.config.shardForId(i).name === shard) return i;
}

/** What a shard member reports for an app, over the shard-local user's direct connection. */
async function seenOnMember(s: SetUp, host: string, appName: string): Promise<Document[]> {
  const c = await s.connect(`mongodb://bob:${PASSWORD}@${host}/?directConnection=true&authSource=admin`, 'watch');
  try {
    return await c.db('admin').aggregate([{ $currentOp: { allUsers: true, idleSessions: true } }, { $match: { appName } }]).toArray();
  } finally {
    await c.close();
  }
}

describe('a reaping pass through mongos, 2 shards x 3 members, 2 routers', () => {
  let s: SetUp;
  let report: RunReport;
  let seen: Record<string, string>;
  let routerKills: number[];
  let daveId: string;

  before(async () => {
    // Prepare: alice leaves a transaction idle across both shards, bob runs an hour-long operation on a
    // secondary of shard0, carol leaves a router cursor open, dave's session is known to router 1's cache only.
    s = await setUp();
    const { cluster } = s;
    const alice = await s.connect(cluster.routerUri(0, 'alice', PASSWORD), 'orders-api');
    const aliceSession: ClientSession = alice.startSession();
    aliceSession.startTransaction();
    const orders = alice.db('shop').collection('orders');
    await orders.updateOne({ _id: idOn(s, 'shard0') as never }, { $set: { total: 100 } }, { session: aliceSession });
    await orders.updateOne({ _id: idOn(s, 'shard1') as never }, { $set: { total: 101 } }, { session: aliceSession });

    const secondary = cluster.shards[0]!.set.members[1]!.host;
    const bob = await s.connect(`mongodb://bob:${PASSWORD}@${secondary}/?directConnection=true&authSource=admin`, 'reporting-job');
    const bobOp = outcome(bob.db('admin').command({ sleep: 1, secs: 3600, lock: 'none' }, { session: bob.startSession() }));
    await eventually('bob\'s operation runs on the secondary', async () => (await seenOnMember(s, secondary, 'reporting-job')).some((d) => d.active));

    const carol = await s.connect(cluster.routerUri(0, 'carol', PASSWORD), 'analytics');
    const cursor = carol.db('shop').collection('orders').find({}, { batchSize: 2, session: carol.startSession() });
    await cursor.next();

    const dave = await s.connect(cluster.routerUri(1, 'dave', PASSWORD), 'dave-app');
    const daveSession = dave.startSession();
    await dave.db('shop').collection('orders').findOne({}, { session: daveSession });
    daveId = uuidOf(daveSession);

    s.clock.advance(10_000);
    const before0 = cluster.routers.map((r) => r.router.mongod.stats.killSessionsCalls);
    // Act
    report = await pass(s);
    routerKills = cluster.routers.map((r, i) => r.router.mongod.stats.killSessionsCalls - before0[i]!);
    seen = {
      bob: await bobOp,
      carol: await outcome(cursor.toArray()),
      alice: await outcome(aliceSession.commitTransaction()),
    };
  });
  after(() => s?.close());

  test('the pass covers both routers and all six shard members with their states', () => {
    assert.equal(report.error, null);
    assert.equal(report.coverage?.topology, 'mongos');
    const expected = [
      ...s.cluster.routers.map((r) => [r.host, 'MONGOS', true]),
      ...s.cluster.shards.flatMap((sh) => sh.set.members.map((m, i) => [m.host, i === 0 ? 'PRIMARY' : 'SECONDARY', true])),
    ];
    assert.deepEqual(report.coverage?.members.map((m) => [m.host, m.state, m.covered]), expected);
  });

  test('the idle transaction across two shards is aborted (251) by one killSessions through one router', () => {
    assert.equal(seen.alice, '251 NoSuchTransaction');
    assert.equal(report.counts.killSessionsCalls, 1);
    assert.deepEqual(routerKills.reduce((a, b) => a + b, 0), 1);
    const row = report.decisions.find((d) => d.appName === 'orders-api');
    assert.equal(row?.outcome, 'killed');
    const shard0 = s.cluster.shards[0]!.set.members[0]!.host;
    const shard1 = s.cluster.shards[1]!.set.members[0]!.host;
    for (const h of [shard0, shard1]) assert.ok(row?.members.includes(h), `${h} in ${row?.members.join(', ')}`);
  });

  test('the runaway operation on a shard secondary is found there and interrupted (11601)', () => {
    assert.equal(seen.bob, '11601 Interrupted');
    const row = report.decisions.find((d) => d.appName === 'reporting-job');
    assert.equal(row?.outcome, 'killed');
    assert.deepEqual(row?.members, [s.cluster.shards[0]!.set.members[1]!.host]);
  });

  test('the stale router cursor is gone: getMore through the router gets 43', () => {
    assert.equal(seen.carol, '43 CursorNotFound');
  });

  test('round trips: per router and per shard member, not per session; one killSessions for every kill', () => {
    // connectionStatus; getShardMap and one hello per shard member (6); $currentOp {targetAllNodes} once and
    // localOps on each router (2); $listLocalSessions on each router (2); $listSessions once; the re-check of the
    // one kill batch (targetAllNodes + each router: 3); one killSessions; the verification (3).
    assert.equal(report.roundTrips, 1 + (1 + 6) + (1 + 2) + 2 + 1 + 3 + 1 + 3);
  });

  test('a session known only to the second router\'s cache is seen', async () => {
    const uuid = daveId;
    const listed = async (uri: string): Promise<string[]> => {
      const mongo = await MongoAdapter.connect(uri);
      try {
        await mongo.discover();
        const ids: string[] = [];
        for await (const batch of mongo.listLocalSessions()) ids.push(...batch.map((x) => x.id));
        return ids;
      } finally {
        await mongo.close();
      }
    };
    assert.ok((await listed(s.cluster.uriFor('reaper', PASSWORD))).includes(uuid), 'through both routers');
    assert.ok(!(await listed(s.cluster.routerUri(0, 'reaper', PASSWORD))).includes(uuid), 'not in router 0\'s cache');
    assert.ok(report.counts.sessions >= 4);
  });
});

/** Bounded: an operation the pass missed would run for an hour; the wait fails instead of hanging. */
function ended<T>(p: Promise<T>, what: string): Promise<T> {
  let done: { v: T } | null = null;
  void p.then((v) => (done = { v }));
  return until(async () => done, what).then((d) => d.v);
}

/** alice's transaction, left idle after writing on both shards; `commit` says how it ends. */
async function idleTransactionOnBothShards(s: SetUp): Promise<{ commit: () => Promise<string> }> {
  const alice = await s.connect(s.cluster.routerUri(0, 'alice', PASSWORD), 'orders-api');
  const session = alice.startSession();
  session.startTransaction();
  const orders = alice.db('shop').collection('orders');
  await orders.updateOne({ _id: idOn(s, 'shard0') as never }, { $set: { total: 100 } }, { session });
  await orders.updateOne({ _id: idOn(s, 'shard1') as never }, { $set: { total: 101 } }, { session });
  return { commit: () => outcome(session.commitTransaction()) };
}

describe('through mongos with a shard member down (7.1+)', () => {
  let s: SetUp;
  let report: RunReport;
  let down: string;
  let secondary1: string;
  let seen: Record<string, string | number | undefined>;
  let passMs: number;
  after(() => s?.close());

  before(async () => {
    // Prepare: alice's idle transaction on both shards; an hour-long operation outside any session on a secondary
    // of shard1 that is up; then one secondary of shard0 stopped.
    s = await setUp();
    const alice = await idleTransactionOnBothShards(s);
    const member1 = s.cluster.shards[1]!.set.members[1]!;
    secondary1 = member1.host;
    const raw = await rawAuthenticated(member1.port, 'bob', PASSWORD);
    const sessionless = raw.command({ sleep: 1, secs: 3600, lock: 'none' });
    await eventually('the sessionless operation runs on the secondary', async () => (await seenOnMember(s, secondary1, 'sessionless')).some((d) => d.active && !d.lsid));
    const stopped = s.cluster.shards[0]!.set.members[2]!;
    down = stopped.host;
    await stopped.stop();
    s.clock.advance(10_000);
    // Act
    const started = performance.now();
    report = await pass(s);
    passMs = performance.now() - started;
    seen = { alice: await alice.commit(), sessionless: (await ended(sessionless, 'the sessionless operation ended'))?.code };
    raw.raw.end();
  });

  test('only the member that is down is not covered: the primaries through the router, the other secondaries directly', () => {
    assert.equal(report.error, null);
    const notCovered = report.coverage?.members.filter((m) => !m.covered) ?? [];
    assert.deepEqual(notCovered.map((m) => m.host), [down]);
    assert.match(notCovered[0]?.why ?? '', new RegExp(`${down} did not answer`));
    assert.match(report.coverage?.notes.join('\n') ?? '', new RegExp(`${down} did not answer: \\$currentOp with targetAllNodes would fail as a whole`));
    assert.equal(membersNotCovered(report), 1);
  });

  test('the member that refuses connections costs the pass no wait: its probe fails at its first hello, not after the member timeout', () => {
    // Before, discovery's hello waited out server selection (MEMBER_TIMEOUT_MS, 5 s) on every pass.
    assert.ok(passMs < MEMBER_TIMEOUT_MS, `the pass took ${Math.round(passMs)} ms`);
  });

  test('an operation outside any session on a secondary that is up is found there and killed by its number on it', () => {
    assert.equal(seen.sessionless, 11601);
    const row = report.decisions.find((d) => d.target === 'operation' && d.appName === 'sessionless');
    assert.equal(row?.outcome, 'killed');
    assert.match(row?.opid ?? '', /^shard1:\d+$/, 'the opid as a router names it');
    assert.deepEqual(row?.memberKills, [{ host: secondary1, outcome: 'killed' }]);
  });

  test('the kill through the router reports HostUnreachable with the host it missed, and kills on the others', () => {
    assert.equal(seen.alice, '251 NoSuchTransaction', 'aborted on the primaries, which the router reached');
    const row = report.decisions.find((d) => d.appName === 'orders-api');
    assert.equal(row?.outcome, 'failed');
    assert.equal(row?.error?.code, 6);
    assert.match(row?.error?.message ?? '', new RegExp(`did not reach ${down} \\(6 HostUnreachable`));
    assert.match(row?.error?.message ?? '', /killed on every host it reached/);
    assert.equal(report.killFailures[0]?.error.code, 6);
    assert.deepEqual(report.stillRunning, []);
  });
});

describe('through mongos 7.1+, a shard member that goes down after discovery', () => {
  let s: SetUp;
  after(() => s?.close());

  test('the failed targetAllNodes read falls back: the primaries through the router, the secondaries that answer directly', async () => {
    // Prepare: an operation outside any session on a secondary of shard1; discovery with every member up.
    s = await setUp();
    const member1 = s.cluster.shards[1]!.set.members[1]!;
    const raw = await rawAuthenticated(member1.port, 'bob', PASSWORD);
    void raw.command({ sleep: 1, secs: 3600, lock: 'none' }).catch(() => {});
    await eventually('the sessionless operation runs on the secondary', async () => (await seenOnMember(s, member1.host, 'sessionless')).some((d) => d.active && !d.lsid));
    const mongo = await MongoAdapter.connect(s.cluster.uriFor('reaper', PASSWORD));
    try {
      const coverage = await mongo.discover();
      assert.deepEqual(coverage.members.filter((m) => !m.covered), [], 'every member answered: targetAllNodes is used');
      const stopped = s.cluster.shards[0]!.set.members[2]!;
      await stopped.stop();
      // Act
      const docs: Activity[] = [];
      for await (const batch of mongo.currentOp()) docs.push(...batch);
      // Assess
      const notCovered = coverage.members.filter((m) => !m.covered);
      assert.deepEqual(notCovered.map((m) => m.host), [stopped.host]);
      assert.match(notCovered[0]?.why ?? '', new RegExp(`targetAllNodes through the router failed \\(.*\\); a direct connection to ${stopped.host} failed: ${stopped.host} did not answer`));
      assert.match(coverage.notes.join('\n'), /targetAllNodes through the router failed .*: the shards' primaries were read through the router, the other members that answer over direct connections/);
      assert.ok(docs.some((d) => d.appName === 'sessionless' && d.member === member1.host && d.opid.startsWith('shard1:')), 'the operation on the secondary that is up is read there');
    } finally {
      await mongo.close();
      raw.raw.end();
    }
  });
});

for (const [label, version] of [['7.1+, targetAllNodes', undefined], ['before 7.1, secondaries read directly', { version: '7.0.14', maxWireVersion: 21 }]] as const) {
  describe(`through mongos (${label}), a member the scan read and the re-check cannot`, () => {
    let s: SetUp;
    after(() => s?.close());

    test('fails the re-check (and so the batch), rather than approving a kill on a view without that member', async () => {
      // Prepare: the scan reads every member; then a secondary of shard0 goes down before the kill batch.
      s = await setUp(version ? { version } : {});
      const mongo = await MongoAdapter.connect(s.cluster.uriFor('reaper', PASSWORD));
      try {
        const coverage = await mongo.discover();
        assert.deepEqual(coverage.members.filter((m) => !m.covered), [], 'every member read at the scan');
        for await (const _ of mongo.currentOp()) { /* the scan */ }
        const stopped = s.cluster.shards[0]!.set.members[2]!;
        await stopped.stop();
        // Act / Assess
        await assert.rejects(mongo.currentOpOf({ sessions: [{ id: '11111111-1111-4111-8111-111111111111', uid: '0'.repeat(64) }], opids: [] }),
          /the re-check before the kill batch could not read .*which the scan read: the batch is not killed on a view that lacks it/);
      } finally {
        await mongo.close();
      }
    });
  });
}

describe('through mongos with a shard member down (7.1+) and no shard-local reaper', () => {
  let s: SetUp;
  after(() => s?.close());

  test('the primaries are read; each secondary that is up is named as not covered with the reason and the fix', async () => {
    // Prepare
    s = await setUp({ reaperOnShards: false });
    const alice = await idleTransactionOnBothShards(s);
    const down = s.cluster.shards[0]!.set.members[2]!.host;
    await s.cluster.shards[0]!.set.members[2]!.stop();
    s.clock.advance(10_000);
    // Act
    const report = await pass(s);
    // Assess
    assert.equal(report.error, null);
    assert.equal(await alice.commit(), '251 NoSuchTransaction');
    const secondaries = s.cluster.shards.flatMap((sh) => sh.set.members.slice(1).map((m) => m.host));
    const notCovered = report.coverage?.members.filter((m) => !m.covered) ?? [];
    assert.deepEqual(notCovered.map((m) => m.host).sort(), [...secondaries].sort());
    assert.match(notCovered.find((m) => m.host === down)?.why ?? '', /did not answer/);
    for (const m of notCovered.filter((x) => x.host !== down)) {
      assert.match(m.why ?? '', new RegExp(`targetAllNodes fails as a whole while a member is down \\(${down}\\)`));
      assert.match(m.why ?? '', /credentials were refused .*create the reaper as a shard-local user on shard[01]/);
    }
    assert.equal(membersNotCovered(report), 4);
  });
});

describe('a sessionless operation on a shard secondary', () => {
  let s: SetUp | undefined;
  after(() => s?.close());

  async function sessionlessOnSecondary(o: SetUpOptions): Promise<{ s: SetUp; host: string; reply: Promise<Document | null>; end: () => void }> {
    const set = await setUp(o);
    const member = set.cluster.shards[0]!.set.members[1]!;
    const bob = await rawAuthenticated(member.port, 'bob', PASSWORD);
    const reply = bob.command({ sleep: 1, secs: 3600, lock: 'none' });
    await eventually('the sessionless operation runs on the secondary', async () => (await seenOnMember(set, member.host, 'sessionless')).some((d) => d.active && !d.lsid));
    set.clock.advance(10_000);
    return { s: set, host: member.host, reply, end: () => bob.raw.end() };
  }

  test('is killed by its number over a direct connection to that member (the reaper\'s shard-local user)', async () => {
    // Prepare
    const run = await sessionlessOnSecondary({});
    s = run.s;
    // Act
    const report = await pass(s);
    // Assess
    const reply = await run.reply;
    run.end();
    assert.equal(reply?.code, 11601);
    const row = report.decisions.find((d) => d.target === 'operation' && d.appName === 'sessionless');
    assert.equal(row?.outcome, 'killed');
    assert.deepEqual(row?.memberKills, [{ host: run.host, outcome: 'killed' }]);
    assert.equal(report.counts.killOpCalls, 1);
    await s.close();
    s = undefined;
  });

  test('without a shard-local reaper it is not killed, and the failure says why and what to do', async () => {
    // Prepare
    const run = await sessionlessOnSecondary({ reaperOnShards: false });
    s = run.s;
    // Act
    const report = await pass(s);
    // Assess: still running on the secondary; never sent as "shard:opid" (that would reach the primary).
    const still = (await seenOnMember(s, run.host, 'sessionless')).filter((d) => d.active && !d.lsid);
    run.end();
    assert.equal(still.length, 1);
    const row = report.decisions.find((d) => d.target === 'operation' && d.appName === 'sessionless');
    assert.equal(row?.outcome, 'failed');
    assert.match(row?.error?.message ?? '', new RegExp(`runs on ${run.host}, a SECONDARY member of shard shard0; "shard:opid" through the router would reach the primary`));
    assert.match(row?.error?.message ?? '', /create the reaper as a shard-local user on shard0/);
  });
});

describe('through mongos before 7.1 (no targetAllNodes), the reaper a shard-local user too', () => {
  let s: SetUp;
  let report: RunReport;
  let seen: Record<string, string | number | undefined>;
  let secondary0: string;
  let secondary1: string;
  after(() => s?.close());

  before(async () => {
    // Prepare: alice's idle transaction on both shards; bob's hour-long operation in a session on a secondary of
    // shard0; an hour-long operation outside any session on a secondary of shard1 (both direct, as bob).
    s = await setUp({ version: { version: '7.0.14', maxWireVersion: 21 } });
    const alice = await idleTransactionOnBothShards(s);
    secondary0 = s.cluster.shards[0]!.set.members[1]!.host;
    const bob = await s.connect(`mongodb://bob:${PASSWORD}@${secondary0}/?directConnection=true&authSource=admin`, 'reporting-job');
    const bobOp = outcome(bob.db('admin').command({ sleep: 1, secs: 3600, lock: 'none' }, { session: bob.startSession() }));
    const member1 = s.cluster.shards[1]!.set.members[1]!;
    secondary1 = member1.host;
    const raw = await rawAuthenticated(member1.port, 'bob', PASSWORD);
    const sessionless = raw.command({ sleep: 1, secs: 3600, lock: 'none' });
    await eventually('both operations run on the secondaries', async () => (await seenOnMember(s, secondary0, 'reporting-job')).some((d) => d.active)
      && (await seenOnMember(s, secondary1, 'sessionless')).some((d) => d.active && !d.lsid));
    s.clock.advance(10_000);
    // Act
    report = await pass(s);
    seen = { alice: await alice.commit(), bob: await ended(bobOp, 'bob\'s operation ended'), sessionless: (await ended(sessionless, 'the sessionless operation ended'))?.code };
    raw.raw.end();
  });

  test('every shard member is covered: the primaries through the router, the secondaries over direct connections', () => {
    assert.equal(report.error, null);
    assert.deepEqual(report.coverage?.members.filter((m) => !m.covered), []);
    assert.equal(report.coverage?.members.filter((m) => m.state === 'SECONDARY').length, 4);
  });

  test('the runaway operation in a session on a shard secondary is found on that member, tagged as targetAllNodes tags it, and killed (11601)', () => {
    assert.equal(seen.bob, '11601 Interrupted');
    const row = report.decisions.find((d) => d.appName === 'reporting-job');
    assert.equal(row?.outcome, 'killed');
    assert.deepEqual(row?.members, [secondary0]);
  });

  test('the operation outside any session on a shard secondary is killed by its number on that member', () => {
    assert.equal(seen.sessionless, 11601);
    const row = report.decisions.find((d) => d.target === 'operation' && d.appName === 'sessionless');
    assert.equal(row?.outcome, 'killed');
    assert.match(row?.opid ?? '', /^shard1:\d+$/, 'the opid as a router names it');
    assert.deepEqual(row?.memberKills, [{ host: secondary1, outcome: 'killed' }]);
  });

  test('the idle transaction across both shards is still killed through the router (251)', () => {
    assert.equal(seen.alice, '251 NoSuchTransaction');
  });
});

describe('through mongos before 7.1 without a shard-local reaper', () => {
  let s: SetUp;
  after(() => s?.close());

  test('the shards\' primaries are read, each secondary named as not covered with the reason and the fix', async () => {
    // Prepare
    s = await setUp({ version: { version: '7.0.14', maxWireVersion: 21 }, reaperOnShards: false });
    const alice = await idleTransactionOnBothShards(s);
    s.clock.advance(10_000);
    // Act
    const report = await pass(s);
    // Assess
    assert.equal(report.error, null);
    assert.equal(await alice.commit(), '251 NoSuchTransaction');
    const secondaries = s.cluster.shards.flatMap((sh) => sh.set.members.slice(1).map((m) => m.host));
    const notCovered = report.coverage?.members.filter((m) => !m.covered) ?? [];
    assert.deepEqual(notCovered.map((m) => m.host).sort(), [...secondaries].sort());
    for (const m of notCovered) {
      assert.match(m.why ?? '', /wire version 21: before 7\.1 \$currentOp through mongos has no targetAllNodes/);
      assert.match(m.why ?? '', /credentials were refused .*create the reaper as a shard-local user on shard[01]/);
    }
    const primaries = s.cluster.shards.map((sh) => sh.set.members[0]!.host);
    assert.deepEqual(report.coverage?.members.filter((m) => m.state === 'PRIMARY' && m.covered).map((m) => m.host).sort(), [...primaries].sort());
    assert.match(report.unfinished ?? '', /not covered/);
    assert.equal(membersNotCovered(report), 4, 'a gap the reaper was meant to cover: counted for the alarm');
  });
});

describe('a role without getShardMap: the shards listed from listShards, else config.shards', () => {
  let s: SetUp;
  after(() => s?.close());

  /** The reaper's role with getShardMap taken out and `extra` put in, and a user holding it. */
  async function reaperWithout(name: string, extra: Document[]): Promise<string> {
    const [cluster, ...rest] = REAPER_ROLE_DOCUMENT.privileges as Document[];
    const actions = (cluster!.actions as string[]).filter((a) => a !== 'getShardMap');
    const admin = (await s.connect(s.cluster.uriFor('admin', PASSWORD), 'setup')).db('admin');
    await admin.command({ createRole: name, privileges: [{ ...cluster, actions }, ...rest, ...extra], roles: [] });
    await admin.command({ createUser: name, pwd: PASSWORD, roles: [{ role: name, db: 'admin' }] });
    return s.cluster.uriFor(name, PASSWORD);
  }

  async function discovered(uri: string): Promise<{ coverage: Coverage; lines: string[] }> {
    const mongo = await MongoAdapter.connect(uri);
    try {
      const coverage = await mongo.discover();
      return { coverage, lines: mongo.shardedCoverage() };
    } finally {
      await mongo.close();
    }
  }

  before(async () => {
    s = await setUp();
  });

  const everyMember = (): string[] => [...s.cluster.routers.map((r) => r.host), ...s.cluster.shards.flatMap((sh) => sh.set.members.map((m) => m.host))];

  test('with listShards, every shard member is named and read, and setup-role says where they came from', async () => {
    // Prepare
    const uri = await reaperWithout('reaperListShards', [{ resource: { cluster: true }, actions: ['listShards'] }]);
    // Act
    const { coverage, lines } = await discovered(uri);
    // Assess
    assert.deepEqual(coverage.members.filter((m) => m.covered).map((m) => m.host), everyMember());
    assert.deepEqual(coverage.notes, []);
    assert.ok(lines.some((l) => /the shards' members were listed from listShards: getShardMap was refused/.test(l)), lines.join('\n'));
  });

  test('with find on config.shards only, every shard member is named and read', async () => {
    // Prepare
    const uri = await reaperWithout('reaperConfigShards', [{ resource: { db: 'config', collection: 'shards' }, actions: ['find'] }]);
    // Act
    const { coverage, lines } = await discovered(uri);
    // Assess
    assert.deepEqual(coverage.members.filter((m) => m.covered).map((m) => m.host), everyMember());
    assert.ok(lines.some((l) => /listed from config\.shards/.test(l)), lines.join('\n'));
  });

  test('with none of the three, the routers only, and the note names each refusal and the grants', async () => {
    // Prepare
    const uri = await reaperWithout('reaperNoShards', []);
    // Act
    const { coverage } = await discovered(uri);
    // Assess
    assert.deepEqual(coverage.members.map((m) => m.state), ['MONGOS', 'MONGOS']);
    const note = coverage.notes.join('\n');
    for (const what of ['getShardMap: ', 'listShards: ', 'find on config.shards: ']) assert.ok(note.includes(what), note);
    assert.match(note, /grant getShardMap on the cluster \(infra\/mongodb-role\.json\), or listShards on the cluster, or find on config\.shards/);
    assert.equal(membersNotCovered({ coverage }), 1, 'no shard listed: a blind spot the members-not-covered alarm counts');
  });
});

describe('through a real mongos (MONGODB_URI)', { skip: REAL_URI ? false : 'MONGODB_URI is not set' }, () => {
  const suffix = randomBytes(3).toString('hex');
  const dbName = `reaper_e2e_${suffix}`;
  const clients: MongoClient[] = [];
  let admin: MongoClient;
  let notMongos = '';
  let routers: string[] = [];
  let report: RunReport;
  let seen: Record<string, string> = {};
  let daveId = '';

  const connect = async (uri: string, appName: string): Promise<MongoClient> => {
    const c = new MongoClient(uri, { appName, serverSelectionTimeoutMS: 10_000 });
    clients.push(c);
    await c.connect();
    return c;
  };
  const uriAs = (user: string, host?: string): string => {
    const cs = new ConnectionString(REAL_URI!);
    cs.username = encodeURIComponent(`${user}_${suffix}`);
    cs.password = PASSWORD;
    cs.searchParams.set('authSource', 'admin');
    if (host) cs.hosts = [host];
    return cs.toString();
  };

  before(async () => {
    admin = await connect(REAL_URI!, 'setup');
    const hello = await admin.db('admin').command({ hello: 1 });
    if (hello.msg !== 'isdbgrid') {
      notMongos = 'MONGODB_URI does not name a mongos (hello.msg is not "isdbgrid")';
      return;
    }
    routers = new ConnectionString(REAL_URI!).hosts;
    const adminDb = admin.db('admin');
    await adminDb.command({ ...REAPER_ROLE_DOCUMENT, createRole: `sessionReaper_${suffix}` });
    await adminDb.command({ createUser: `reaper_${suffix}`, pwd: PASSWORD, roles: [{ role: `sessionReaper_${suffix}`, db: 'admin' }] });
    for (const u of ['alice', 'carol', 'dave']) await adminDb.command({ createUser: `${u}_${suffix}`, pwd: PASSWORD, roles: [{ role: 'readWrite', db: dbName }] });
    await adminDb.command({ enableSharding: dbName }).catch(() => {});
    await adminDb.command({ shardCollection: `${dbName}.orders`, key: { _id: 'hashed' } });
    await admin.db(dbName).collection('orders').insertMany(Array.from({ length: 40 }, (_, i) => ({ _id: i as never, total: i })));

    // alice's transaction writes every document: with a hashed key over two or more shards it has a participant on each.
    const alice = await connect(uriAs('alice', routers[0]), 'orders-api');
    const aliceSession: ClientSession = alice.startSession();
    aliceSession.startTransaction();
    await alice.db(dbName).collection('orders').updateMany({}, { $inc: { total: 1 } }, { session: aliceSession });
    const carol = await connect(uriAs('carol', routers[0]), 'analytics');
    const cursor = carol.db(dbName).collection('orders').find({}, { batchSize: 2, session: carol.startSession() });
    await cursor.next();
    if (routers.length > 1) {
      const dave = await connect(uriAs('dave', routers[1]), 'dave-app');
      const daveSession = dave.startSession();
      await dave.db(dbName).collection('orders').findOne({}, { session: daveSession });
      daveId = uuidOf(daveSession);
    }
    // A real server's clock cannot be moved: past the demo thresholds (1 s idle), for real.
    await new Promise((r) => setTimeout(r, 3_000));
    const mongo = await MongoAdapter.connect(uriAs('reaper'));
    try {
      const policy = await loadPolicySet(DEFAULT_POLICIES_DIR, { overrides: { ...DEMO_THRESHOLDS, protectUnknownApplications: 0 } });
      report = await runPass(mongo, policy, new InMemoryAuditSink(), options(() => Date.now()));
    } finally {
      await mongo.close();
    }
    seen = { carol: await outcome(cursor.toArray()), alice: await outcome(aliceSession.commitTransaction()) };
  });
  after(async () => {
    if (admin && !notMongos) {
      await admin.db(dbName).dropDatabase().catch(() => {});
      for (const u of ['reaper', 'alice', 'carol', 'dave']) await admin.db('admin').command({ dropUser: `${u}_${suffix}` }).catch(() => {});
      await admin.db('admin').command({ dropRole: `sessionReaper_${suffix}` }).catch(() => {});
    }
    await Promise.all(clients.map((c) => c.close(true).catch(() => {})));
  });

  test('the coverage names every router and shard member', (t) => {
    if (notMongos) return t.skip(notMongos);
    assert.equal(report.error, null);
    assert.equal(report.coverage?.topology, 'mongos');
    assert.deepEqual(report.coverage?.members.filter((m) => m.state === 'MONGOS').map((m) => m.host), routers);
    assert.ok((report.coverage?.members.filter((m) => m.state !== 'MONGOS').length ?? 0) >= 2, JSON.stringify(report.coverage));
  });

  test('the idle transaction across the shards is aborted (251) by one killSessions through the router', (t) => {
    if (notMongos) return t.skip(notMongos);
    assert.equal(seen.alice, '251 NoSuchTransaction');
    assert.equal(report.decisions.find((d) => d.appName === 'orders-api')?.outcome, 'killed');
  });

  test('the stale router cursor is gone: getMore through the router gets 43', (t) => {
    if (notMongos) return t.skip(notMongos);
    assert.equal(seen.carol, '43 CursorNotFound');
  });

  test('a session known only to the second router\'s cache is seen', async (t) => {
    if (notMongos) return t.skip(notMongos);
    if (routers.length < 2) return t.skip('MONGODB_URI names one router');
    const mongo = await MongoAdapter.connect(uriAs('reaper'));
    try {
      await mongo.discover();
      const ids: string[] = [];
      for await (const batch of mongo.listLocalSessions()) ids.push(...batch.map((x) => x.id));
      assert.ok(ids.includes(daveId));
    } finally {
      await mongo.close();
    }
  });
});

describe('a router\'s own operation outside any session', () => {
  let s: SetUp;
  after(() => s?.close());

  test('is killed by its number on that router (the client\'s getMore gets 11601)', async () => {
    // Prepare: carol's getMore through router 0 (raw wire protocol: no lsid) waits on shard1, held by a failpoint.
    s = await setUp();
    const router = s.cluster.routers[0]!;
    const carol = await rawAuthenticated(router.port, 'carol', PASSWORD);
    const first = await carol.command({ find: 'orders', batchSize: 1, $db: 'shop' });
    const primary1 = s.cluster.shards[1]!.set.members[0]!.host;
    const shard1 = await s.connect(`mongodb://bob:${PASSWORD}@${primary1}/?directConnection=true&authSource=admin`, 'setup');
    await shard1.db('admin').command({ configureFailPoint: 'failCommand', mode: { times: 1 }, data: { failCommands: ['getMore'], blockConnection: true, blockTimeMS: 30_000, appName: 'sessionless' } });
    const more = carol.command({ getMore: first?.cursor.id, collection: 'orders', batchSize: 1000, $db: 'shop' });
    const watch = await s.connect(s.cluster.routerUri(0, 'admin', PASSWORD), 'watch');
    await eventually('the router\'s getMore waits on shard1', async () => (await watch.db('admin').aggregate([{ $currentOp: { localOps: true, allUsers: true } }, { $match: { 'command.getMore': { $exists: true } } }]).toArray()).length > 0);
    s.clock.advance(10_000);
    // Act
    const report = await pass(s);
    // Assess
    const reply = await more;
    carol.raw.end();
    assert.equal(reply?.code, 11601);
    const row = report.decisions.find((d) => d.target === 'operation' && d.memberKills?.some((k) => k.host === router.host));
    assert.equal(row?.outcome, 'killed', JSON.stringify(report.decisions.map((d) => [d.target, d.opid, d.appName, d.outcome, d.memberKills])));
    assert.match(row?.opid ?? '', /^\d+$/, 'a router opid is a number');
  });
});

describe('through mongos with --members primary', () => {
  let s: SetUp;
  after(() => s?.close());

  test('only the shards\' primaries are read (no targetAllNodes), the secondaries named with the flag', async () => {
    // Prepare
    s = await setUp();
    const alice = await idleTransactionOnBothShards(s);
    s.clock.advance(10_000);
    // Act
    const report = await pass(s, 'primary');
    // Assess
    assert.equal(await alice.commit(), '251 NoSuchTransaction');
    const secondaries = s.cluster.shards.flatMap((sh) => sh.set.members.slice(1).map((m) => m.host));
    const notCovered = report.coverage?.members.filter((m) => !m.covered) ?? [];
    assert.deepEqual(notCovered.map((m) => m.host), secondaries);
    for (const m of notCovered) assert.match(m.why ?? '', /--members primary \(REAPER_MEMBERS=primary\)/);
    assert.equal(membersNotCovered(report), 0, 'primaries-only by choice: nothing for the members-not-covered alarm');
  });
});

describe('through mongos with a shard primary down (an election under way)', () => {
  let s: SetUp;
  after(() => s?.close());

  test('the pass fails naming the shard without a primary, and makes no kill on the partial view', async () => {
    // Prepare: alice's idle transaction on both shards (a kill the policy decides when it sees it); then shard0's
    // primary stopped (the stand-in elects nobody: the shard has no primary, as during an election).
    s = await setUp();
    await idleTransactionOnBothShards(s);
    const primary = s.cluster.shards[0]!.set.members[0]!;
    await primary.stop();
    s.clock.advance(10_000);

    // Act
    const report = await pass(s);

    // Assess: the router's $currentOp of the primaries fails as a whole; the pass says which shard and that nothing was killed.
    assert.match(report.error ?? '', /\$currentOp through the router failed \(.*shard0.*\): shard shard0 has no primary that answers/);
    assert.match(report.error ?? '', /no kill was made on a partial view/);
    assert.deepEqual([report.counts.decisions, report.counts.killSessionsCalls, report.counts.killOpCalls, report.counts.killed], [0, 0, 0, 0]);
    const notCovered = report.coverage?.members.filter((m) => !m.covered) ?? [];
    assert.match(notCovered.find((m) => m.host === primary.host)?.why ?? '', new RegExp(`${primary.host} did not answer`));
  });
});
