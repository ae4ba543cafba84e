/**
 * End to end on a replica set (the stand-in's, with access control): the reaper, as a user holding only the
 * least-privilege role (infra/mongodb-role.json), reads $currentOp and $listLocalSessions on every member over
 * direct connections and kills each session on the member(s) where it holds something. Time passes on the
 * stand-in's injected clock, never by sleeping.
 */
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { MongoClient, type ClientSession, type Document } from 'mongodb';
import { MongoAdapter } from '../src/adapters/mongodb/adapter.ts';
import { InMemoryAuditSink } from '../src/adapters/audit-sinks.ts';
import { validateAuditDetail } from '../src/pass/audit/schema.ts';
import { DEFAULT_POLICIES_DIR } from '../src/service/config.ts';
import { DEMO_THRESHOLDS } from '../src/demo/thresholds.ts';
import { runPass, type PassOptions, type RunReport } from '../src/pass/pass.ts';
import { clientPool, createReaperAndUsers, eventually, outcome } from './support/e2e-cluster.ts';
import { passOptions } from './support/clocked-pass.ts';
import { loadPolicySet } from '../src/pass/policy/load.ts';
import type { PolicySet } from '../src/pass/policy/types.ts';
import type { MembersMode, SessionKey } from '../src/pass/ports.ts';
import { ManualClock } from '../standin/src/clock.ts';
import { startReplicaSet, type RunningReplicaSet } from '../standin/src/replset.ts';
import type { MemberOptions } from '../standin/src/replication.ts';
import { rawAuthenticated } from '../standin/test/scram-client.ts';
import { membersNotCovered } from '../src/service/lambda/metrics.ts';

const PASSWORD = 'rs-password';

const options = (now: () => number): PassOptions => passOptions(now, { cluster: 'rs-e2e', concurrency: 2 });

interface SetUp {
  rs: RunningReplicaSet;
  clock: ManualClock;
  policy: PolicySet;
  clients: MongoClient[];
  connect(uri: string, appName: string): Promise<MongoClient>;
  killSessionsCalls(): number[];
}

async function setUp(members: number | MemberOptions[] = 3): Promise<SetUp> {
  const clock = new ManualClock();
  const rs = await startReplicaSet({ name: 'rs0', members, params: { auth: true }, users: [`admin:${PASSWORD}:root`], clock });
  const { clients, connect } = clientPool();
  const admin = await connect(rs.uriFor('admin', PASSWORD), 'setup');
  const adminDb = admin.db('admin');
  await createReaperAndUsers(adminDb, PASSWORD, ['alice', 'bob', 'carol']);
  await admin.db('shop').collection('orders').insertMany(Array.from({ length: 20 }, (_, i) => ({ _id: i as never, total: i })));
  // protectUnknownApplications 0: carol's cursor-only session (idle cursors name no application) is a kill target.
  const policy = await loadPolicySet(DEFAULT_POLICIES_DIR, { overrides: { ...DEMO_THRESHOLDS, protectUnknownApplications: 0 } });
  return { rs, clock, policy, clients, connect, killSessionsCalls: () => rs.members.map((m) => m.mongod.stats.killSessionsCalls) };
}

async function pass(s: SetUp, uri: string, members: MembersMode = 'all'): Promise<{ report: RunReport; sink: InMemoryAuditSink }> {
  const sink = new InMemoryAuditSink();
  const mongo = await MongoAdapter.connect(uri, {}, members);
  try {
    return { report: await runPass(mongo, s.policy, sink, options(() => s.clock.now())), sink };
  } finally {
    await mongo.close();
  }
}

/** The activity a member reports for an app, over the admin user's direct connection. */
async function seenOn(s: SetUp, member: number, appName: string): Promise<Document[]> {
  const c = await s.connect(s.rs.directUri(member, 'admin', PASSWORD), 'watch');
  try {
    return await c.db('admin').aggregate([{ $currentOp: { allUsers: true, idleSessions: true, idleCursors: true } }, { $match: { appName } }]).toArray();
  } finally {
    await c.close();
  }
}

async function tearDown(s: SetUp): Promise<void> {
  await Promise.all(s.clients.map((c) => c.close().catch(() => {})));
  await s.rs.stop();
}

/**
 * bob's hour-long operation, in a session, on secondary 1, once it is running; `ended` resolves to how it ended
 * (wrapped: an async function returning the promise itself would wait for the operation to end).
 */
async function runawayOnSecondary(s: SetUp): Promise<{ ended: Promise<string> }> {
  const bob = await s.connect(s.rs.directUri(1, 'bob', PASSWORD), 'reporting-job');
  const bobOp = outcome(bob.db('admin').command({ sleep: 1, secs: 3600, lock: 'none' }, { session: bob.startSession() }));
  await eventually('bob\'s operation runs on secondary 1', async () => (await seenOn(s, 1, 'reporting-job')).some((d) => d.active));
  return { ended: bobOp };
}

describe('a reaping pass on a replica set, member by member', () => {
  let s: SetUp;
  let report: RunReport;
  let sink: InMemoryAuditSink;
  let seen: Record<string, string>;
  let before0: number[];
  let after0: number[];

  before(async () => {
    // Prepare: bob runs a long operation on secondary 1, carol leaves a cursor open on secondary 2 (and
    // nothing on the primary), alice leaves a transaction idle on the primary.
    s = await setUp();
    const { rs } = s;
    const bob = await s.connect(rs.directUri(1, 'bob', PASSWORD), 'reporting-job');
    const bobSession = bob.startSession();
    const bobOp = outcome(bob.db('admin').command({ sleep: 1, secs: 3600, lock: 'none' }, { session: bobSession }));
    const carol = await s.connect(rs.directUri(2, 'carol', PASSWORD), 'analytics');
    const carolSession = carol.startSession();
    const cursor = carol.db('shop').collection('orders').find({}, { batchSize: 2, session: carolSession });
    await cursor.next();
    const alice = await s.connect(rs.uriFor('alice', PASSWORD), 'orders-api');
    const aliceSession: ClientSession = alice.startSession();
    aliceSession.startTransaction();
    await alice.db('shop').collection('orders').updateOne({ _id: 1 as never }, { $set: { total: 100 } }, { session: aliceSession });
    await eventually('bob\'s operation runs on secondary 1', async () => (await seenOn(s, 1, 'reporting-job')).some((d) => d.active));
    // Ten seconds pass on the set's clock: past every demo threshold.
    s.clock.advance(10_000);
    before0 = s.killSessionsCalls();
    // Act
    ({ report, sink } = await pass(s, rs.uriFor('reaper', PASSWORD)));
    after0 = s.killSessionsCalls();
    seen = {
      bob: await bobOp,
      carol: await outcome(cursor.toArray()),
      alice: await outcome(aliceSession.commitTransaction()),
    };
  });
  after(() => tearDown(s));

  test('the pass covers all three members and names their states', () => {
    assert.equal(report.error, null);
    assert.equal(report.coverage?.topology, 'replicaSet');
    assert.deepEqual(report.coverage?.members.map((m) => [m.host, m.state, m.covered]), s.rs.members.map((m, i) => [m.host, i === 0 ? 'PRIMARY' : 'SECONDARY', true]));
  });

  test('the operation on a secondary is interrupted (11601) and its facts say where it ran', () => {
    assert.equal(seen.bob, '11601 Interrupted');
    const row = report.decisions.find((d) => d.appName === 'reporting-job');
    assert.equal(row?.outcome, 'killed');
    assert.deepEqual(row?.members, [s.rs.members[1]!.host]);
  });

  test('the idle cursor on a secondary is gone (43), killed on that secondary only', () => {
    assert.equal(seen.carol, '43 CursorNotFound');
    // Found by user: idle cursor documents carry no appName.
    const row = report.decisions.find((d) => d.user === 'carol@admin');
    assert.deepEqual(row?.memberKills, [{ host: s.rs.members[2]!.host, outcome: 'killed' }]);
  });

  test('the idle transaction on the primary is aborted (251)', () => {
    assert.equal(seen.alice, '251 NoSuchTransaction');
  });

  test('killSessions went once to each member where something was held, and nowhere else', () => {
    assert.deepEqual(after0.map((n, i) => n - before0[i]!), [1, 1, 1]);
    assert.equal(report.counts.killSessionsCalls, 3);
  });

  test('the audit events carry the members and the run summary its coverage, valid against the schema', () => {
    for (const e of sink.events) assert.deepEqual(validateAuditDetail(e.detail), [], JSON.stringify(e.detail));
    const killedCursor = sink.events.find((e) => e.detail.kind === 'decision' && e.detail.session?.user === 'carol@admin');
    assert.deepEqual(killedCursor?.detail.kind === 'decision' && killedCursor.detail.members, [{ host: s.rs.members[2]!.host, outcome: 'killed' }]);
    const summary = sink.events.at(-1)!.detail;
    assert.equal(summary.kind === 'run' && summary.coverage?.members.length, 3);
  });
});

describe('a replica set with a member down', () => {
  let s: SetUp;
  afterEach(() => tearDown(s));

  test('the stopped member is named as not covered, and the pass completes on the others', async () => {
    // Prepare
    s = await setUp();
    const { ended: bobOp } = await runawayOnSecondary(s);
    await s.rs.members[2]!.stop();
    s.clock.advance(10_000);
    // Act
    const { report, sink } = await pass(s, s.rs.uriFor('reaper', PASSWORD));
    // Assess
    const down = s.rs.members[2]!.host;
    assert.equal(report.error, null);
    assert.deepEqual(report.coverage?.members.filter((m) => !m.covered).map((m) => m.host), [down]);
    assert.match(report.unfinished ?? '', new RegExp(`member ${down} not covered: ${down} did not answer`));
    assert.equal(await bobOp, '11601 Interrupted');
    const summary = sink.events.at(-1)!.detail;
    assert.equal(summary.kind === 'run' && summary.coverage?.members.find((m) => m.host === down)?.covered, false);
  });
});

describe('a sessionless operation on a secondary', () => {
  let s: SetUp;
  afterEach(() => tearDown(s));

  test('is killed with killOp on that member, and on no other', async () => {
    // Prepare: bob's operation carries no lsid (raw wire protocol), on secondary 1.
    s = await setUp();
    const member = s.rs.members[1]!;
    const bob = await rawAuthenticated(member.port, 'bob', PASSWORD);
    const running = bob.command({ sleep: 1, secs: 3600, lock: 'none' });
    await eventually('the sessionless operation runs on secondary 1', async () => (await seenOn(s, 1, 'sessionless')).some((d) => d.active && !d.lsid));
    s.clock.advance(10_000);
    // Act
    const { report } = await pass(s, s.rs.uriFor('reaper', PASSWORD));
    // Assess
    const reply = await running;
    bob.raw.end();
    assert.equal(reply?.code, 11601);
    const row = report.decisions.find((d) => d.target === 'operation');
    assert.equal(row?.outcome, 'killed');
    assert.deepEqual(row?.memberKills, [{ host: member.host, outcome: 'killed' }]);
    assert.equal(report.counts.killOpCalls, 1);
  });
});

describe('--members primary and bad connection strings', () => {
  let s: SetUp;
  afterEach(() => tearDown(s));

  test('--members primary reads the primary only and names the secondaries as not covered', async () => {
    // Prepare
    s = await setUp();
    const { ended: bobOp } = await runawayOnSecondary(s);
    s.clock.advance(10_000);
    const before = s.killSessionsCalls();
    // Act
    const { report } = await pass(s, s.rs.uriFor('reaper', PASSWORD), 'primary');
    // Assess: nothing on the secondary was seen or killed, and the report says so.
    assert.deepEqual(s.killSessionsCalls(), before);
    assert.equal(report.decisions.find((d) => d.appName === 'reporting-job'), undefined);
    assert.deepEqual(report.coverage?.members.filter((m) => !m.covered).map((m) => m.host), [s.rs.members[1]!.host, s.rs.members[2]!.host]);
    assert.match(report.unfinished ?? '', /not read: --members primary/);
    assert.equal(membersNotCovered(report), 0, 'left out by choice: nothing for the members-not-covered alarm');
  });

  test('a replica set name that does not match is a clear error before anything is read', async () => {
    s = await setUp();
    const wrong = s.rs.uriFor('reaper', PASSWORD).replace('replicaSet=rs0', 'replicaSet=other');
    await assert.rejects(MongoAdapter.connect(wrong, { serverSelectionTimeoutMS: 1000 }), /cannot connect to .*replicaSet name/);
  });
});

describe('a hidden member', () => {
  let s: SetUp;
  afterEach(() => tearDown(s));

  test('is found through replSetGetConfig, read and killed on; verification re-reads only it; round trips at the floor', async () => {
    // Prepare: bob's runaway operation on the hidden member 2 (hello lists members 0 and 1 only).
    s = await setUp([{}, {}, { hidden: true }]);
    const hidden = s.rs.members[2]!;
    const bob = await s.connect(s.rs.directUri(2, 'bob', PASSWORD), 'reporting-job');
    const bobOp = outcome(bob.db('admin').command({ sleep: 1, secs: 3600, lock: 'none' }, { session: bob.startSession() }));
    await eventually('bob\'s operation runs on the hidden member', async () => (await seenOn(s, 2, 'reporting-job')).some((d) => d.active));
    s.clock.advance(10_000);
    // Act
    const { report, sink } = await pass(s, s.rs.uriFor('reaper', PASSWORD));
    // Assess
    assert.equal(await bobOp, '11601 Interrupted');
    assert.deepEqual(report.coverage?.members.map((m) => [m.host, m.covered, m.hidden ?? false]), s.rs.members.map((m, i) => [m.host, true, i === 2]));
    const row = report.decisions.find((d) => d.appName === 'reporting-job');
    assert.deepEqual(row?.memberKills, [{ host: hidden.host, outcome: 'killed' }]);
    // The reaper's identity (connectionStatus) and one replSetGetConfig; $currentOp and $listLocalSessions once
    // per member; one $listSessions; the re-check's $currentOp and one killSessions on the hidden member; the
    // verification's $currentOp on the hidden member only. Discovery itself sends nothing: the driver's monitors
    // already asked hello.
    assert.equal(report.roundTrips, 1 + 1 + 3 * 2 + 1 + 1 + 1 + 1);
    assert.equal(report.rechecks, 1);
    for (const e of sink.events) assert.deepEqual(validateAuditDetail(e.detail), [], JSON.stringify(e.detail));
  });

  test('without replSetGetConfig in the role, the run summary says hidden members are not covered', async () => {
    // Prepare: a reaper user whose role is the one before replSetGetConfig was added.
    s = await setUp([{}, {}, { hidden: true }]);
    const admin = await s.connect(s.rs.uriFor('admin', PASSWORD), 'setup');
    await admin.db('admin').command({ createRole: 'oldReaper', privileges: [{ resource: { cluster: true }, actions: ['inprog', 'listSessions', 'killop', 'killAnySession'] }], roles: [] });
    await admin.db('admin').command({ createUser: 'old', pwd: PASSWORD, roles: [{ role: 'oldReaper', db: 'admin' }] });
    // Act
    const { report, sink } = await pass(s, s.rs.uriFor('old', PASSWORD));
    // Assess
    assert.equal(report.error, null);
    assert.match(report.unfinished ?? '', /hidden members, if any, are not covered: the reaper's role lacks replSetGetConfig/);
    const summary = sink.events.at(-1)!.detail;
    assert.match(summary.kind === 'run' ? summary.coverage?.notes.join(' ') ?? '' : '', /replSetGetConfig/);
  });
});

describe('a member that goes down in the middle of a pass', () => {
  let s: SetUp;
  afterEach(() => tearDown(s));

  test('its kill is recorded as failed there, the others happen, and the run summary names it', async () => {
    // Prepare: bob runs away on secondary 1, carol leaves a cursor on secondary 2; secondary 2 stops just
    // before its killSessions is sent (after the inventory read it).
    s = await setUp();
    const { ended: bobOp } = await runawayOnSecondary(s);
    const carol = await s.connect(s.rs.directUri(2, 'carol', PASSWORD), 'analytics');
    await carol.db('shop').collection('orders').find({}, { batchSize: 2, session: carol.startSession() }).next();
    s.clock.advance(10_000);
    const down = s.rs.members[2]!;
    const sink = new InMemoryAuditSink();
    const mongo = await MongoAdapter.connect(s.rs.uriFor('reaper', PASSWORD));
    const stopsFirst = new Proxy(mongo, {
      get(target, key) {
        if (key === 'killSessionsOn') {
          return async (member: string, batch: readonly SessionKey[]) => {
            if (member === down.host) await down.stop();
            return target.killSessionsOn(member, batch);
          };
        }
        const value: unknown = Reflect.get(target, key);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    // Act
    let report: RunReport;
    try {
      report = await runPass(stopsFirst, s.policy, sink, options(() => s.clock.now()));
    } finally {
      await mongo.close();
    }
    // Assess
    assert.equal(await bobOp, '11601 Interrupted');
    const carolRow = report.decisions.find((d) => d.user === 'carol@admin');
    assert.equal(carolRow?.outcome, 'failed');
    assert.deepEqual(carolRow?.memberKills?.map((k) => [k.host, k.outcome]), [[down.host, 'failed']]);
    assert.equal(report.decisions.find((d) => d.appName === 'reporting-job')?.outcome, 'killed');
    assert.equal(report.coverage?.members.find((m) => m.host === down.host)?.covered, false);
    assert.match(report.unfinished ?? '', new RegExp(`member ${down.host} not covered`));
    const summary = sink.events.at(-1)!.detail;
    assert.equal(summary.kind === 'run' && summary.coverage?.members.find((m) => m.host === down.host)?.covered, false);
  });
});

describe('the re-check before a kill batch, on a replica set', () => {
  let s: SetUp;
  before(async () => {
    s = await setUp();
  });
  after(() => tearDown(s));

  test('re-reads on the member where the batch lives: a cursor used there since the scan is skipped, the other killed', async () => {
    // Prepare: two cursor-only sessions of carol on secondary 2, both left idle past the stale-cursor threshold.
    const carol = await s.connect(s.rs.directUri(2, 'carol', PASSWORD), 'analytics');
    const used = carol.db('shop').collection('orders').find({}, { batchSize: 2, session: carol.startSession() });
    const left = carol.db('shop').collection('orders').find({}, { batchSize: 2, session: carol.startSession() });
    await used.next();
    await left.next();
    s.clock.advance(10_000);
    const adapter = await MongoAdapter.connect(s.rs.uriFor('reaper', PASSWORD));
    // Between the scan and the kill, `used` fetches its next batch on secondary 2 and a second passes.
    const recheckedOn: (string | undefined)[] = [];
    const mongo = new Proxy(adapter, {
      get(target, prop, receiver) {
        if (prop === 'currentOpOf') {
          return async (filter: Parameters<MongoAdapter['currentOpOf']>[0], member?: string) => {
            recheckedOn.push(member);
            if (recheckedOn.length === 1) {
              for (let i = 0; i < 2; i++) await used.next();
              s.clock.advance(1_000);
            }
            return target.currentOpOf(filter, member);
          };
        }
        const v = Reflect.get(target, prop, receiver);
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
    try {
      // Act
      const report = await runPass(mongo, s.policy, new InMemoryAuditSink(), options(() => s.clock.now()));
      // Assess
      const carolRows = report.decisions.filter((d) => d.user === 'carol@admin');
      assert.deepEqual(carolRows.map((d) => d.outcome).sort(), ['killed', 'skipped']);
      assert.match(carolRows.find((d) => d.outcome === 'skipped')!.why ?? '', /^no longer matches: cursor used/);
      assert.deepEqual([...new Set(recheckedOn)], [s.rs.members[2].host], 'the re-check read secondary 2, where the cursors live');
      assert.equal(await outcome(left.toArray()), '43 CursorNotFound');
      assert.equal(await outcome(used.next()), 'ok', 'the cursor in use was left alone');
    } finally {
      await adapter.close();
    }
  });
});
