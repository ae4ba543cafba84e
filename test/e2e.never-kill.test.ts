/**
 * End to end, the official driver against the stand-in: the default policies' never-kill rules hold on real
 * traffic. An index build past the runaway threshold, a change stream (which keeps delivering), a mongodump
 * session holding only an idle cursor and a $merge aggregation survive a pass; a cursor-only session whose
 * application another document of the same pass names is matched by an application rule.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MongoClient, type ChangeStreamDocument, type Document } from 'mongodb';
import { MongoAdapter } from '../src/adapters/mongodb/adapter.ts';
import { InMemoryAuditSink } from '../src/adapters/audit-sinks.ts';
import { DEFAULT_POLICIES_DIR } from '../src/service/config.ts';
import { runPass, type PassOptions, type RunReport } from '../src/pass/pass.ts';
import { loadPolicySet } from '../src/pass/policy/load.ts';
import { startStandin, type RunningStandin } from '../standin/src/server.ts';
import { waitFor } from '../standin/test/poll.ts';

interface Order {
  _id: number;
  sku: string;
  total: number;
}

// One pass per test: the idle rules act on their first sighting, so each protection is seen overriding a kill.
const THRESHOLDS = { idleTransactionSeconds: 1, runawayOperationSeconds: 1, staleCursorIdleSeconds: 1, minSightings: 1 };

const OPTIONS: PassOptions = {
  cluster: 'e2e', trigger: { type: 'cli' }, dryRun: false, maxKills: 100, maxKillShare: 1, batchSize: 100, concurrency: 2, source: 'mongodb.session-reaper',
};

describe('never-kill rules on real traffic (stand-in)', () => {
  let standin: RunningStandin;
  let admin: MongoClient;
  const clients: MongoClient[] = [];
  const connect = async (appName: string): Promise<MongoClient> => {
    const c = new MongoClient(standin.uri, { appName, retryWrites: false });
    await c.connect();
    clients.push(c);
    return c;
  };
  const currentOp = (match: Document) => admin.db('admin').aggregate([{ $currentOp: { allUsers: true, idleCursors: true, idleSessions: true } }, { $match: match }]).toArray();
  const pass = async (overrides: Record<string, number> = {}, dir = DEFAULT_POLICIES_DIR): Promise<RunReport> => {
    const policy = await loadPolicySet(dir, { overrides: { ...THRESHOLDS, ...overrides } });
    const mongo = await MongoAdapter.connect(standin.uri);
    try {
      return await runPass(mongo, policy, new InMemoryAuditSink(), OPTIONS);
    } finally {
      await mongo.close();
    }
  };
  const idleFor = (ms: number, match: Document) => waitFor(`an idle cursor unused for ${ms} ms`, async () => {
    const [c] = await currentOp({ type: 'idleCursor', ...match });
    return c && Date.now() - (c.cursor.lastAccessDate as Date).getTime() >= ms ? c : undefined;
  });

  before(async () => {
    standin = await startStandin();
    admin = new MongoClient(standin.uri);
    await admin.connect();
    await admin.db('shop').collection<Order>('orders').insertMany(Array.from({ length: 300 }, (_, n) => ({ _id: n, sku: `s${n % 7}`, total: n })));
  });
  after(async () => {
    await admin?.db('admin').command({ configureFailPoint: 'hangAfterInitializingIndexBuild', mode: 'off' }).catch(() => {});
    await admin?.db('admin').command({ configureFailPoint: 'hangWhileBuildingDocumentSourceMergeBatch', mode: 'off' }).catch(() => {});
    for (const c of clients) await c.close(true).catch(() => {});
    await admin?.close();
    await standin?.stop();
  });

  test('an index build running past the runaway threshold survives a pass, then completes', async () => {
    // Prepare: a build held after initialisation, as the jstests hold them
    await admin.db('admin').command({ configureFailPoint: 'hangAfterInitializingIndexBuild', mode: 'alwaysOn' });
    const dba = await connect('dba-console');
    const building = dba.db('shop').collection('orders').createIndex({ sku: 1 }, { name: 'sku_1' });
    const [clientOp] = await waitFor('the createIndexes operation past 1 s', async () => {
      const ops = (await currentOp({ 'command.createIndexes': 'orders', appName: 'dba-console' })).filter((o) => Number(o.secs_running) >= 2);
      return ops.length ? ops : undefined;
    });
    const [buildOp] = await currentOp({ desc: /^IndexBuildsCoordinatorMongod-/ });
    assert.ok(buildOp, 'the build runs as its own operation');
    assert.equal(buildOp.client, undefined, 'with no client');
    assert.match(buildOp.msg, /^Index Build: scanning collection/);
    // Act
    const report = await pass();
    // Assess
    const d = report.decisions.find((x) => x.appName === 'dba-console');
    assert.equal(d?.rule, 'index-build');
    // A protection that overrode a kill rule: a skipped kill, with both rules in why (one outcome vocabulary).
    assert.equal(d?.outcome, 'skipped');
    assert.match(d?.why ?? '', /kill rule "runaway-operation" also matched/);
    assert.equal((await currentOp({ opid: clientOp!.opid })).length, 1, 'the build is still running');
    await admin.db('admin').command({ configureFailPoint: 'hangAfterInitializingIndexBuild', mode: 'off' });
    assert.equal(await building, 'sku_1');
    const names = (await admin.db('shop').collection('orders').indexes()).map((i) => i.name);
    assert.deepEqual(names.sort(), ['_id_', 'sku_1']);
  });

  test('a change stream survives a pass and keeps delivering events', async () => {
    // Prepare: a stream idle for longer than the stale-cursor threshold
    const app = await connect('order-events');
    const stream = app.db('shop').collection('orders').watch([], { maxAwaitTimeMS: 200 });
    const first = stream.next();
    await admin.db('shop').collection<Order>('orders').insertOne({ _id: 1000, sku: 'new', total: 1 });
    const e1 = (await first) as ChangeStreamDocument & { documentKey: { _id: number } };
    assert.equal(e1.operationType, 'insert');
    assert.equal(e1.documentKey._id, 1000);
    assert.ok(stream.resumeToken, 'events carry resume tokens');
    // Not iterated for a while: its cursor sits idle past the stale-cursor threshold.
    const cursorDoc = await waitFor('the change stream cursor idle for 1.5 s', async () => (await currentOp({ type: 'idleCursor', 'cursor.tailable': true, 'cursor.awaitData': true }))
      .find((c) => Object.keys(c.cursor.originatingCommand.pipeline?.[0] ?? {})[0] === '$changeStream' && Date.now() - c.cursor.lastAccessDate.getTime() >= 1500));
    // Act
    const report = await pass();
    // Assess
    const d = report.decisions.find((x) => x.sessionId === cursorDoc.lsid.id.toUUID().toString());
    assert.equal(d?.rule, 'change-stream');
    // A protection that overrode a kill rule: a skipped kill, with both rules in why (one outcome vocabulary).
    assert.equal(d?.outcome, 'skipped');
    assert.match(d?.why ?? '', /kill rule "stale-cursor-session" also matched/);
    const next = stream.next();
    await admin.db('shop').collection<Order>('orders').updateOne({ _id: 1000 }, { $set: { total: 2 } });
    const e2 = (await next) as ChangeStreamDocument & { updateDescription: { updatedFields: Document } };
    assert.equal(e2.operationType, 'update');
    assert.deepEqual(e2.updateDescription.updatedFields, { total: 2 });
    await stream.close();
  });

  test('a mongodump session holding only an idle cursor survives', async () => {
    // Prepare
    const dump = await connect('mongodump');
    const session = dump.startSession();
    const cursor = dump.db('shop').collection('orders').find({}, { session, batchSize: 10 });
    await cursor.next();
    await idleFor(1500, { 'cursor.originatingCommand.find': 'orders', 'cursor.originatingCommand.batchSize': 10 });
    // Act
    const report = await pass();
    // Assess: its application is unknown in this pass (idle cursors carry none): protected, and said so
    const d = report.decisions.find((x) => x.sessionId === session.id!.id.toUUID().toString());
    assert.equal(d?.rule, 'application-unknown');
    assert.equal(d?.appName, null);
    // A protection that overrode a kill rule: a skipped kill, with both rules in why (one outcome vocabulary).
    assert.equal(d?.outcome, 'skipped');
    const total = await admin.db('shop').collection('orders').countDocuments();
    assert.equal((await cursor.toArray()).length, total - 1, 'the dump reads on');
    await session.endSession();
  });

  test('a cursor-only session is matched by an application rule when another document of the pass names its application', async () => {
    // Prepare: an application rule, and a session with a cursor and an idle transaction (whose document names the client)
    const dir = mkdtempSync(join(tmpdir(), 'app-rule-'));
    const set = JSON.parse(readFileSync(join(DEFAULT_POLICIES_DIR, 'default.json'), 'utf8'));
    set.rules.push({ name: 'analytics-cursors', priority: 50, conditions: { all: [{ fact: 'appName', operator: 'equal', value: 'analytics' }, { fact: 'cursorCount', operator: 'greaterThan', value: 0 }] }, event: { type: 'kill', params: { reason: 'analytics cursors are not kept' } } });
    writeFileSync(join(dir, 'default.json'), JSON.stringify(set));
    const analytics = await connect('analytics');
    const session = analytics.startSession();
    const cursor = analytics.db('shop').collection('orders').find({}, { session, batchSize: 5 });
    await cursor.next();
    session.startTransaction();
    await analytics.db('shop').collection('audit').insertOne({ at: new Date() }, { session });
    await waitFor('the idle transaction', async () => (await currentOp({ type: 'idleSession', appName: 'analytics' })).length > 0);
    // Act
    const report = await pass({}, dir);
    // Assess
    const d = report.decisions.find((x) => x.sessionId === session.id!.id.toUUID().toString());
    assert.equal(d?.appName, 'analytics', 'named by the idle transaction, for the cursor too');
    assert.equal(d?.rule, 'analytics-cursors');
    assert.equal(d?.outcome, 'killed');
    assert.equal((await currentOp({ type: 'idleCursor', 'lsid.id': session.id!.id })).length, 0, 'its cursor is gone');
    await assert.rejects(session.commitTransaction(), { code: 251 });
    await session.endSession().catch(() => {});
  });

  test('a $merge aggregation past the runaway threshold is reported, not killed, unless the parameter allows it', async () => {
    // Prepare: a $merge held before its second batch (the first 100 documents are written)
    await admin.db('admin').command({ configureFailPoint: 'hangWhileBuildingDocumentSourceMergeBatch', mode: { skip: 1 } });
    const etl = await connect('etl');
    // Its outcome is taken at once, so that the interruption is not an unhandled rejection while the passes run.
    const merging = etl.db('shop').collection('orders').aggregate([{ $match: {} }, { $merge: { into: 'totals' } }]).toArray().then(() => null, (e: { code?: number }) => e);
    await waitFor('the $merge past 1 s', async () => (await currentOp({ appName: 'etl', 'command.aggregate': 'orders' })).some((o) => Number(o.secs_running) >= 2));
    // Act
    const reported = await pass();
    const killed = await pass({ protectOutputAggregations: 0 });
    // Assess
    const d = reported.decisions.find((x) => x.appName === 'etl');
    assert.equal(d?.rule, 'output-aggregation');
    // A protection that overrode a kill rule: a skipped kill, with both rules in why (one outcome vocabulary).
    assert.equal(d?.outcome, 'skipped');
    const k = killed.decisions.find((x) => x.appName === 'etl');
    assert.equal(k?.rule, 'runaway-operation');
    assert.equal(k?.outcome, 'killed');
    assert.equal((await merging)?.code, 11601);
    const written = await admin.db('shop').collection('totals').countDocuments();
    assert.ok(written > 0 && written < 301, `a killed $merge leaves partial output (${written} documents)`);
    await admin.db('admin').command({ configureFailPoint: 'hangWhileBuildingDocumentSourceMergeBatch', mode: 'off' });
  });
});
