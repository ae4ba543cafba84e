/**
 * Snapshots of a replica set of three members (the stand-in's, with access control): a dry-run pass reads
 * $currentOp and $listLocalSessions on every member over direct connections, and its recording writes each
 * member's sections under that member's name; the backtest of the snapshot, which never connects, makes the
 * very decisions the pass made, with the same facts of where each thing lives (members, memberStates,
 * onSecondary) and the same coverage, a member that is down included. Time passes on the set's ManualClock,
 * which the pass reads too.
 */
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClientSession, MongoClient } from 'mongodb';
import { MongoAdapter } from '../src/adapters/mongodb/adapter.ts';
import { InMemoryAuditSink } from '../src/adapters/audit-sinks.ts';
import { SnapshotFile } from '../src/adapters/snapshot/reader.ts';
import { RecordingMongoPort } from '../src/adapters/snapshot/recording-port.ts';
import { SnapshotWriter } from '../src/adapters/snapshot/writer.ts';
import { runPass, type RunReport } from '../src/pass/pass.ts';
import { loadPolicySet } from '../src/pass/policy/load.ts';
import type { PolicySet } from '../src/pass/policy/types.ts';
import { DEFAULT_POLICIES_DIR } from '../src/service/config.ts';
import { DEMO_THRESHOLDS } from '../src/demo/thresholds.ts';
import { ManualClock } from '../standin/src/clock.ts';
import { startReplicaSet, type RunningReplicaSet } from '../standin/src/replset.ts';
import { clientPool, createReaperAndUsers, eventually, outcome } from './support/e2e-cluster.ts';
import { assertDecidesAsRecorded, backtestFile, defaultPoliciesPlus, snapshotLines } from './support/snapshots.ts';
import { capture } from './support/capture.ts';
import { snapshotCommand } from '../src/cli/snapshot.ts';
import { backtestCommand } from '../src/cli/backtest.ts';
import type { SnapshotResult } from '../src/cli/backtest-decide.ts';

const PASSWORD = 'rs-snap-password';

/** The default set plus a rule on where things live, so that decisions hang on onSecondary and memberStates. */
function policiesWithSecondaryRule(): string {
  return defaultPoliciesPlus('secondaries', [{
      name: 'carol-on-secondaries', priority: 100,
      conditions: { all: [{ fact: 'onSecondary', operator: 'equal', value: true }, { fact: 'memberStates', operator: 'contains', value: 'SECONDARY' }, { fact: 'user', operator: 'equal', value: 'carol@admin' }] },
      event: { type: 'protect', params: { reason: 'carol reads on the secondaries: never killed' } },
    }]);
}

interface SetUp {
  rs: RunningReplicaSet;
  clock: ManualClock;
  policy: PolicySet;
  clients: MongoClient[];
  pending: Promise<unknown>[];
  sessions: ClientSession[];
}

/**
 * The set and its work: bob's hour-long operation on secondary 1, carol's open cursor on secondary 2, alice's
 * idle transaction on the primary; then ten seconds on the clock, past every demo threshold.
 */
async function setUp(): Promise<SetUp> {
  const clock = new ManualClock();
  const rs = await startReplicaSet({ name: 'rs0', members: 3, params: { auth: true }, users: [`admin:${PASSWORD}:root`], clock });
  const { clients, connect } = clientPool();
  const admin = await connect(rs.uriFor('admin', PASSWORD), 'setup');
  await createReaperAndUsers(admin.db('admin'), PASSWORD, ['alice', 'bob', 'carol']);
  await admin.db('shop').collection('orders').insertMany(Array.from({ length: 20 }, (_, i) => ({ _id: i as never, total: i })));
  const policy = await loadPolicySet(policiesWithSecondaryRule(), { overrides: { ...DEMO_THRESHOLDS, protectUnknownApplications: 0, minSightings: 1 } });
  const pending: Promise<unknown>[] = [];
  const sessions: ClientSession[] = [];
  const bob = await connect(rs.directUri(1, 'bob', PASSWORD), 'reporting-job');
  const bobSession = bob.startSession();
  sessions.push(bobSession);
  pending.push(outcome(bob.db('admin').command({ sleep: 1, secs: 3600, lock: 'none' }, { session: bobSession })));
  const carol = await connect(rs.directUri(2, 'carol', PASSWORD), 'analytics');
  const carolSession = carol.startSession();
  sessions.push(carolSession);
  await carol.db('shop').collection('orders').find({}, { batchSize: 2, session: carolSession }).next();
  const alice = await connect(rs.uriFor('alice', PASSWORD), 'orders-api');
  const aliceSession = alice.startSession();
  sessions.push(aliceSession);
  aliceSession.startTransaction();
  await alice.db('shop').collection('orders').updateOne({ _id: 1 as never }, { $set: { total: 100 } }, { session: aliceSession });
  const watch = await connect(rs.directUri(1, 'admin', PASSWORD), 'watch');
  await eventually('bob\'s operation runs on secondary 1', async () => (await watch.db('admin').aggregate([{ $currentOp: { allUsers: true } }, { $match: { appName: 'reporting-job', active: true } }]).toArray()).length > 0);
  clock.advance(10_000);
  return { rs, clock, policy, clients, pending, sessions };
}

async function tearDown(s: SetUp | undefined): Promise<void> {
  if (!s) return;
  for (const x of s.sessions) await x.endSession().catch(() => {});
  await Promise.all(s.clients.map((c) => c.close(true).catch(() => {})));
  await s.rs.stop();
  await Promise.all(s.pending);
}

/** A dry-run pass as the reaper, recorded to a new file. */
async function recordedPass(s: SetUp): Promise<{ report: RunReport; file: string }> {
  const file = join(mkdtempSync(join(tmpdir(), 'snap-rs-')), 'rs.jsonl.gz');
  const uri = s.rs.uriFor('reaper', PASSWORD);
  const adapter = await MongoAdapter.connect(uri);
  const recorder = new RecordingMongoPort(adapter, await SnapshotWriter.toFile(file, { keepValues: false }), { uri, recordedBy: 'run' });
  try {
    const report = await runPass(recorder, s.policy, new InMemoryAuditSink(), {
      cluster: 'rs-snap', trigger: { type: 'cli' }, dryRun: true, maxKills: 100, maxKillShare: 1, batchSize: 100, concurrency: 2,
      source: 'mongodb.session-reaper', now: recorder.clock(() => s.clock.now()),
    });
    await recorder.close();
    return { report, file };
  } finally {
    await adapter.close();
  }
}

const backtest = (s: SetUp, file: string) => backtestFile(file, s.policy);

describe('a snapshot of a three-member replica set, recorded by a dry-run pass and backtested', () => {
  let s: SetUp;
  let recorded: RunReport;
  let file: string;

  before(async () => {
    s = await setUp();
    ({ report: recorded, file } = await recordedPass(s));
  });
  after(() => tearDown(s));

  test('the pass read every member and decided on the work of each', () => {
    assert.equal(recorded.error, null);
    assert.deepEqual(recorded.coverage?.members.map((m) => [m.host, m.state, m.covered]), s.rs.members.map((m, i) => [m.host, i === 0 ? 'PRIMARY' : 'SECONDARY', true]));
    const bob = recorded.decisions.find((d) => d.appName === 'reporting-job');
    assert.equal(bob?.outcome, 'planned');
    assert.deepEqual(bob?.members, [s.rs.members[1]!.host]);
  });

  test('each member\'s sections are under its name; $listSessions is recorded once', () => {
    const sections = snapshotLines(file).filter((l) => l.startsWith('{"$section"')).map((l) => JSON.parse(l).$section as { member: string; source: string });
    const [primary, one, two] = s.rs.members.map((m) => m.host);
    assert.deepEqual(sections.map((x) => `${x.source} ${x.member}`), [
      `currentOp ${primary}`, `currentOp ${one}`, `currentOp ${two}`,
      `listLocalSessions ${primary}`, `listLocalSessions ${one}`, `listLocalSessions ${two}`,
      `listSessions ${primary}`,
    ]);
    const lines = snapshotLines(file);
    const start = lines.findIndex((l) => l.startsWith(`{"$section":{"member":"${one}","source":"currentOp"`));
    const end = lines.findIndex((l, i) => i > start && l.startsWith('{"$end"'));
    assert.ok(lines.slice(start + 1, end).some((l) => l.includes('"reporting-job"')), 'bob\'s operation is in secondary 1\'s section');
  });

  test('the header lists every member with its state, its sections and the coverage', async () => {
    const snapshot = await SnapshotFile.open(file);
    await snapshot.close();
    const { header } = snapshot;
    assert.equal(header.version, 2);
    assert.deepEqual(header.members.map((m) => [m.name, m.state, m.sections, typeof m.direct?.reaperSessionId]), s.rs.members.map((m, i) => [
      m.host, i === 0 ? 'PRIMARY' : 'SECONDARY', i === 0 ? ['currentOp', 'listLocalSessions', 'listSessions'] : ['currentOp', 'listLocalSessions'], 'string',
    ]));
    assert.equal(header.members[1]!.hello.secondary, true);
    assert.deepEqual(header.coverage, recorded.coverage);
  });

  test('the backtest makes the same decisions, with the same members and coverage, without a server', async () => {
    const { report } = await backtest(s, file);
    assertDecidesAsRecorded(report, recorded);
    const carol = report.decisions.find((d) => d.user === 'carol@admin');
    assert.deepEqual(carol?.members, [s.rs.members[2]!.host], 'carol\'s cursor is on secondary 2');
    assert.equal(carol?.rule, 'carol-on-secondaries', 'the rule on onSecondary and memberStates decided it');
  });
});

describe('session-reaper snapshot on a replica set', () => {
  let s: SetUp | undefined;
  afterEach(() => tearDown(s));

  test('records every member as a pass reads them, and the backtest places the work on its members', async () => {
    s = await setUp();
    const file = join(mkdtempSync(join(tmpdir(), 'snap-cli-')), 'rs.jsonl.gz');
    // Act
    const recorded = await capture((io) => snapshotCommand(['--uri', s!.rs.uriFor('reaper', PASSWORD), '--out', file], io));
    const out = await capture((io) => backtestCommand(['--json', '--policies', DEFAULT_POLICIES_DIR, file], io));
    // Assess
    assert.equal(recorded.code, 0, recorded.stderr);
    assert.match(recorded.stdout, / in 7 sections, /);
    const result = (JSON.parse(out.stdout) as { snapshots: SnapshotResult[] }).snapshots[0]!;
    assert.equal(result.usable, true, result.error);
    assert.deepEqual(result.members, s.rs.members.map((m) => m.host));
    const rows = result.a!.decisions;
    const carol = rows.find((d) => d.user === 'carol@admin');
    assert.deepEqual(carol?.members, [s.rs.members[2]!.host], 'carol\'s cursor is placed on secondary 2');
  });
});

describe('a snapshot of a replica set with a member down', () => {
  let s: SetUp | undefined;
  afterEach(() => tearDown(s));

  test('names the member not read, and the backtest reports the coverage the pass reported', async () => {
    s = await setUp();
    const down = s.rs.members[2]!;
    await down.stop();
    const { report: recorded, file } = await recordedPass(s);
    assert.equal(recorded.error, null);
    const { report, snapshot } = await backtest(s, file);
    assertDecidesAsRecorded(report, recorded);
    assert.match(report.unfinished ?? '', new RegExp(`member ${down.host} not covered`));
    const named = snapshot.header.members.find((m) => m.name === down.host);
    assert.deepEqual(named?.sections, [], 'named in the header, with no sections');
    const out = await capture((io) => backtestCommand(['--json', file], io));
    const result = (JSON.parse(out.stdout) as { snapshots: SnapshotResult[] }).snapshots[0]!;
    assert.deepEqual(result.members, s.rs.members.slice(0, 2).map((m) => m.host), 'the members read');
    assert.ok(result.notes.some((n) => n.startsWith(`member ${down.host} not covered: `)), `the summary names the member not read: ${result.notes.join('; ')}`);
  });
});
