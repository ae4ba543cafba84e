/**
 * Snapshots through mongos (the stand-in's sharded cluster: 2 shards x 3 members, 2 routers, access control):
 * a dry-run pass reads every shard member with one $currentOp {targetAllNodes} through the router, and each
 * router's own operations and cache on that router alone; its recording keeps the cluster-wide $currentOp, each
 * router's own ("localOps") and each router's $listLocalSessions apart, and the backtest of the snapshot, which
 * never connects, makes the very decisions the pass made, with the same shard and member of each thing.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClientSession } from 'mongodb';
import { MongoAdapter } from '../src/adapters/mongodb/adapter.ts';
import { InMemoryAuditSink } from '../src/adapters/audit-sinks.ts';
import { SnapshotFile } from '../src/adapters/snapshot/reader.ts';
import { RecordingMongoPort } from '../src/adapters/snapshot/recording-port.ts';
import { SnapshotWriter } from '../src/adapters/snapshot/writer.ts';
import { runPass, type RunReport } from '../src/pass/pass.ts';
import { loadPolicySet } from '../src/pass/policy/load.ts';
import type { PolicySet } from '../src/pass/policy/types.ts';
import { DEMO_THRESHOLDS } from '../src/demo/thresholds.ts';
import { ManualClock } from '../standin/src/clock.ts';
import { startShardedCluster, type RunningShardedCluster } from '../standin/src/sharding/cluster.ts';
import type { ServerVersion } from '../standin/src/mongod.ts';
import { clientPool, createReaperAndUsers, createShardLocalReaper, eventually, outcome } from './support/e2e-cluster.ts';
import { assertDecidesAsRecorded, backtestFile, defaultPoliciesPlus, snapshotLines } from './support/snapshots.ts';

const PASSWORD = 'sharded-snap-password';

/** The default set plus a protection on shards, so that a decision hangs on the shard tag surviving the replay. */
function policiesWithShardRule(): string {
  return defaultPoliciesPlus('shards', [{
      name: 'shard1-secondary-reports', priority: 100,
      conditions: { all: [{ fact: 'shards', operator: 'contains', value: 'shard1' }, { fact: 'onSecondary', operator: 'equal', value: true }] },
      event: { type: 'protect', params: { reason: 'reports on shard1\'s secondaries are never killed' } },
    }]);
}

/**
 * 8.0: every shard member read with one $currentOp {targetAllNodes}. 7.0 (before targetAllNodes): the router
 * reaches each shard's primary, and each secondary is read over a direct connection as the reaper's shard-local
 * user; those documents are recorded as the router would have reported them.
 */
const VERSIONS: { label: string; version?: ServerVersion }[] = [
  { label: '8.0, targetAllNodes' },
  { label: '7.0, shard secondaries read directly', version: { version: '7.0.14', maxWireVersion: 21 } },
];

for (const { label, version } of VERSIONS) describe(`a snapshot through mongos (${label}), recorded by a dry-run pass and backtested`, () => {
  const clock = new ManualClock();
  let cluster: RunningShardedCluster;
  let policy: PolicySet;
  let recorded: RunReport;
  let file: string;
  const pending: Promise<unknown>[] = [];
  const sessions: ClientSession[] = [];
  const pool = clientPool();

  before(async () => {
    // Prepare: alice's transaction idle on both shards, bob's long operation on a secondary of shard0 and
    // erin's on a secondary of shard1, carol's cursor on router 0, dave's session in router 1's cache only.
    cluster = await startShardedCluster({
      shards: 2, members: 3, routers: 2, params: { auth: true }, clock, ...(version ? { version } : {}),
      users: [`admin:${PASSWORD}:root`], shardUsers: [`bob:${PASSWORD}:root`],
    });
    if (version) await createShardLocalReaper(cluster, (uri, app) => pool.connect(uri, app), 'bob', PASSWORD);
    const admin = await pool.connect(cluster.uriFor('admin', PASSWORD), 'setup');
    await createReaperAndUsers(admin.db('admin'), PASSWORD, ['alice', 'carol', 'dave']);
    await admin.db('admin').command({ shardCollection: 'shop.orders', key: { _id: 'hashed' } });
    await admin.db('shop').collection('orders').insertMany(Array.from({ length: 20 }, (_, i) => ({ _id: i as never, total: i })));
    policy = await loadPolicySet(policiesWithShardRule(), { overrides: { ...DEMO_THRESHOLDS, protectUnknownApplications: 0 } });
    const idOn = (shard: string): number => {
      for (let i = 0; ; i++) if (cluster.config.shardForId(i).name === shard) return i;
    };
    const alice = await pool.connect(cluster.routerUri(0, 'alice', PASSWORD), 'orders-api');
    const aliceSession = alice.startSession();
    sessions.push(aliceSession);
    aliceSession.startTransaction();
    await alice.db('shop').collection('orders').updateOne({ _id: idOn('shard0') as never }, { $set: { total: 100 } }, { session: aliceSession });
    await alice.db('shop').collection('orders').updateOne({ _id: idOn('shard1') as never }, { $set: { total: 101 } }, { session: aliceSession });
    for (const [shard, app] of [[0, 'reporting-job'], [1, 'shard1-report']] as const) {
      const host = cluster.shards[shard]!.set.members[1]!.host;
      const c = await pool.connect(`mongodb://bob:${PASSWORD}@${host}/?directConnection=true&authSource=admin`, app);
      const session = c.startSession();
      sessions.push(session);
      pending.push(outcome(c.db('admin').command({ sleep: 1, secs: 3600, lock: 'none' }, { session })));
      await eventually(`${app} runs on ${host}`, async () => (await c.db('admin').aggregate([{ $currentOp: { allUsers: true } }, { $match: { appName: app, active: true } }]).toArray()).length > 0);
    }
    const carol = await pool.connect(cluster.routerUri(0, 'carol', PASSWORD), 'analytics');
    const carolSession = carol.startSession();
    sessions.push(carolSession);
    await carol.db('shop').collection('orders').find({}, { batchSize: 2, session: carolSession }).next();
    const dave = await pool.connect(cluster.routerUri(1, 'dave', PASSWORD), 'dave-app');
    const daveSession = dave.startSession();
    sessions.push(daveSession);
    await dave.db('shop').collection('orders').findOne({}, { session: daveSession });
    clock.advance(10_000);

    // Act: one recorded dry-run pass through router 0.
    file = join(mkdtempSync(join(tmpdir(), 'snap-sh-')), 'sharded.jsonl.gz');
    const uri = cluster.uriFor('reaper', PASSWORD);
    const adapter = await MongoAdapter.connect(uri);
    const recorder = new RecordingMongoPort(adapter, await SnapshotWriter.toFile(file, { keepValues: false }), { uri, recordedBy: 'run' });
    try {
      recorded = await runPass(recorder, policy, new InMemoryAuditSink(), {
        cluster: 'sharded-snap', trigger: { type: 'cli' }, dryRun: true, maxKills: 100, maxKillShare: 1, batchSize: 100, concurrency: 2,
        source: 'mongodb.session-reaper', now: recorder.clock(() => clock.now()),
      });
      await recorder.close();
    } finally {
      await adapter.close();
    }
  });
  after(async () => {
    for (const x of sessions) await x.endSession().catch(() => {});
    await Promise.all(pool.clients.map((c) => c.close(true).catch(() => {})));
    await cluster?.stop();
    await Promise.all(pending);
  });

  test('the pass decided on the work of the shards and of the routers', () => {
    assert.equal(recorded.error, null);
    assert.equal(recorded.coverage?.topology, 'mongos');
    assert.deepEqual(recorded.coverage?.members.filter((m) => !m.covered), [], 'every router and shard member read');
    const bob = recorded.decisions.find((d) => d.appName === 'reporting-job');
    assert.deepEqual([bob?.outcome, bob?.members], ['planned', [cluster.shards[0]!.set.members[1]!.host]]);
    assert.equal(recorded.decisions.find((d) => d.appName === 'shard1-report')?.rule, 'shard1-secondary-reports');
  });

  test('the cluster-wide $currentOp, each router\'s own and each router\'s cache are sections apart', () => {
    const sections = snapshotLines(file).filter((l) => l.startsWith('{"$section"')).map((l) => JSON.parse(l).$section as { member: string; source: string });
    const [r0, r1] = cluster.routers.map((r) => r.host);
    // The main connection reaches either router (the driver picks); it has the cluster-wide sections.
    const main = sections[0]!.member;
    assert.ok([r0, r1].includes(main), `the main connection's router: ${main}`);
    assert.deepEqual(sections.map((x) => `${x.source} ${x.member}`), [
      `currentOp ${main}`, `localOps ${r0}`, `localOps ${r1}`, `listLocalSessions ${r0}`, `listLocalSessions ${r1}`, `listSessions ${main}`,
    ]);
  });

  test('the header names the routers and every shard member with its shard and state', async () => {
    const snapshot = await SnapshotFile.open(file);
    await snapshot.close();
    const { header } = snapshot;
    assert.equal(header.shardTags, true);
    const shardMembers = header.members.filter((m) => m.shard !== undefined).map((m) => [m.name, m.shard, m.state]);
    assert.deepEqual(shardMembers, cluster.shards.flatMap((sh, n) => sh.set.members.map((m, i) => [m.host, `shard${n}`, i === 0 ? 'PRIMARY' : 'SECONDARY'])));
    assert.deepEqual(header.members.filter((m) => m.direct).map((m) => [m.name, m.state]), cluster.routers.map((r) => [r.host, 'MONGOS']));
    assert.deepEqual(header.coverage, recorded.coverage);
  });

  test('the backtest makes the same decisions, with the same shards and members, without a server', async () => {
    const { report } = await backtestFile(file, policy);
    assertDecidesAsRecorded(report, recorded);
    const carol = report.decisions.find((d) => d.user === 'carol@admin');
    assert.ok(carol?.members.includes(cluster.routers[0]!.host), `carol's cursor is on router 0: ${carol?.members.join(', ')}`);
  });
});
