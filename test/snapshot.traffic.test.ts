/**
 * Record and replay on real traffic (the official driver against the stand-in): a dry-run pass with the
 * default policies over an index build, a change stream, a $merge aggregation, a cursor-only mongodump session,
 * an idle transaction and a commented cursor is recorded with values redacted; the backtest of the snapshot,
 * which never connects, makes exactly the decisions the pass made. Every fact the decisions hang on
 * (isIndexBuild from msg and desc, isChangeStream and writesOutput from pipeline stage names, comments,
 * unknown applications) must therefore survive redaction. Time passes on the stand-in's ManualClock, which
 * the pass reads too: no waiting for operations to grow old.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { MongoClient, type ClientSession, type Document } from 'mongodb';
import { MongoAdapter } from '../src/adapters/mongodb/adapter.ts';
import { InMemoryAuditSink } from '../src/adapters/audit-sinks.ts';
import { RecordingMongoPort } from '../src/adapters/snapshot/recording-port.ts';
import { SnapshotWriter } from '../src/adapters/snapshot/writer.ts';
import { runPass, type RunReport } from '../src/pass/pass.ts';
import { loadPolicySet } from '../src/pass/policy/load.ts';
import type { PolicySet } from '../src/pass/policy/types.ts';
import { assertDecidesAsRecorded, backtestFile, defaultPoliciesPlus } from './support/snapshots.ts';
import { ManualClock } from '../standin/src/clock.ts';
import { startStandin, type RunningStandin } from '../standin/src/server.ts';
import { waitFor } from '../standin/test/poll.ts';

const COMMENT = 'nightly-report';
const SECRET = 'sku-secret-4711';

/** The default set plus a protection keyed on a command's comment, so that a decision hangs on a kept comment. */
function policiesWithCommentRule(): string {
  return defaultPoliciesPlus('reports', [{
      name: 'nightly-report-cursors', priority: 100,
      conditions: { all: [{ fact: 'comments', operator: 'contains', value: COMMENT }] },
      event: { type: 'protect', params: { reason: 'the nightly report keeps its cursor open between pages' } },
    }]);
}

describe('a snapshot of real traffic, recorded by a dry-run pass and backtested', () => {
  const clock = new ManualClock();
  let standin: RunningStandin;
  let admin: MongoClient;
  const clients: MongoClient[] = [];
  const sessions: ClientSession[] = [];
  const pending: Promise<unknown>[] = [];
  let policy: PolicySet;
  let recorded: RunReport;
  let file: string;
  const connect = async (appName: string): Promise<MongoClient> => {
    const c = new MongoClient(standin.uri, { appName, retryWrites: false, retryReads: false });
    await c.connect();
    clients.push(c);
    return c;
  };
  const currentOp = (match: Document) => admin.db('admin').aggregate([{ $currentOp: { allUsers: true, idleCursors: true, idleSessions: true } }, { $match: match }]).toArray();

  before(async () => {
    // Prepare: traffic of every kind the never-kill rules are about, then ten minutes on the clock.
    standin = await startStandin({ clock });
    admin = new MongoClient(standin.uri);
    await admin.connect();
    await admin.db('shop').collection('orders').insertMany(Array.from({ length: 300 }, (_, n) => ({ _id: n as never, sku: `${SECRET}-${n % 7}`, total: n })));

    await admin.db('admin').command({ configureFailPoint: 'hangAfterInitializingIndexBuild', mode: 'alwaysOn' });
    const dba = await connect('dba-console');
    pending.push(dba.db('shop').collection('orders').createIndex({ sku: 1 }, { name: 'sku_1' }).catch((e: unknown) => e));
    await waitFor('the index build', async () => (await currentOp({ 'command.createIndexes': 'orders' })).length > 0);

    const events = await connect('order-events');
    const stream = events.db('shop').collection('orders').watch([], { maxAwaitTimeMS: 200 });
    const first = stream.next();
    await admin.db('shop').collection('orders').insertOne({ _id: 1000 as never, sku: 'new', total: 1 });
    await first;

    await admin.db('admin').command({ configureFailPoint: 'hangWhileBuildingDocumentSourceMergeBatch', mode: { skip: 1 } });
    const etl = await connect('etl');
    pending.push(etl.db('shop').collection('orders').aggregate([{ $match: { sku: { $ne: SECRET } } }, { $merge: { into: 'totals' } }]).toArray().catch((e: unknown) => e));
    await waitFor('the $merge', async () => (await currentOp({ appName: 'etl', 'command.aggregate': 'orders' })).length > 0);

    const dump = await connect('mongodump');
    const dumpSession = dump.startSession();
    sessions.push(dumpSession);
    await dump.db('shop').collection('orders').find({}, { session: dumpSession, batchSize: 10 }).next();

    const reports = await connect('reporting');
    const reportSession = reports.startSession();
    sessions.push(reportSession);
    await reports.db('shop').collection('orders').find({ sku: { $ne: SECRET } }, { session: reportSession, batchSize: 1, comment: COMMENT }).next();
    reportSession.startTransaction();
    await reports.db('shop').collection('audit').insertOne({ at: new Date() }, { session: reportSession });

    const orders = await connect('orders-api');
    const orderSession = orders.startSession();
    sessions.push(orderSession);
    orderSession.startTransaction();
    await orders.db('shop').collection('orders').updateOne({ _id: 1 as never }, { $set: { sku: SECRET } }, { session: orderSession });

    clock.advance(600_000);

    // One pass, one snapshot: the idle rules act on their first sighting (minSightings 1).
    policy = await loadPolicySet(policiesWithCommentRule(), { overrides: { minSightings: 1 } });
    file = join(mkdtempSync(join(tmpdir(), 'snap-')), 'traffic.jsonl.gz');
    const adapter = await MongoAdapter.connect(standin.uri);
    const recorder = new RecordingMongoPort(adapter, await SnapshotWriter.toFile(file, { keepValues: false }), { uri: standin.uri, recordedBy: 'run' });
    try {
      recorded = await runPass(recorder, policy, new InMemoryAuditSink(), {
        cluster: 'traffic', trigger: { type: 'cli' }, dryRun: true, maxKills: 100, maxKillShare: 1, batchSize: 100, concurrency: 1,
        source: 'mongodb.session-reaper', now: recorder.clock(() => clock.now()),
      });
      await recorder.close();
    } finally {
      await adapter.close();
    }
  });
  after(async () => {
    await admin?.db('admin').command({ configureFailPoint: 'hangAfterInitializingIndexBuild', mode: 'off' }).catch(() => {});
    await admin?.db('admin').command({ configureFailPoint: 'hangWhileBuildingDocumentSourceMergeBatch', mode: 'off' }).catch(() => {});
    await Promise.all(pending);
    for (const s of sessions) await s.endSession().catch(() => {});
    for (const c of clients) await c.close(true).catch(() => {});
    await admin?.close();
    await standin?.stop();
  });

  test('the pass decided on every never-kill case of the traffic', () => {
    assert.equal(recorded.error, null);
    const rules = new Set(recorded.decisions.map((d) => d.rule));
    for (const rule of ['index-build', 'change-stream', 'output-aggregation', 'application-unknown', 'nightly-report-cursors', 'idle-transaction']) {
      assert.ok(rules.has(rule), `a decision by ${rule}: ${[...rules].join(', ')}`);
    }
  });

  test('the backtest of the redacted snapshot makes the same decisions, without a server', async () => {
    const { report, snapshot } = await backtestFile(file, policy);
    assertDecidesAsRecorded(report, recorded);
    assert.equal(snapshot.header.takenAtMs, clock.now());
  });

  test('no filter value or written value is in the file; the comment the policy matches is', () => {
    const text = gunzipSync(readFileSync(file)).toString('utf8');
    assert.ok(!text.includes(SECRET), 'no value of the filters, updates or documents');
    assert.ok(text.includes(`"comment":"${COMMENT}"`), 'the comment is kept');
  });
});
