/**
 * What the reaper function writes besides its result: structured log lines (Powertools Logger) carrying the
 * request id, cold start, cluster and run id, with credentials redacted; and the pass's metrics in Embedded
 * Metric Format (Powertools Metrics), parsed back here and checked against the pass's own report.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MongoClient } from 'mongodb';
import { startStandin, type RunningStandin } from '../standin/src/server.ts';
import type { PassResult } from '../src/service/lambda/runtime.ts';
import { membersNotCovered, publishPassMetrics } from '../src/service/lambda/metrics.ts';
import type { RunReport } from '../src/pass/pass.ts';
import type { MemberCoverage } from '../src/pass/ports.ts';
import { captured } from './support/json-lines.ts';

const fixture = (name: string) => JSON.parse(readFileSync(new URL(`./events/${name}`, import.meta.url), 'utf8'));
const context = { getRemainingTimeInMillis: () => 60_000, awsRequestId: 'req-observability-1', functionName: 'session-reaper-test' };

let standin: RunningStandin;
let handler: (typeof import('../functions/reaper.ts'))['handler'];
let close: () => Promise<void>;
let auditFile: string;
const savedEnv = { ...process.env };

/**
 * The "kill-test" policy set: kills, whatever their age, what the users app and idle hold (app: a transaction,
 * a cursor, a running operation; idle: a session holding nothing, which only a rule naming holdsNothing may kill).
 */
const KILL_TEST_RULES = {
  version: 1,
  rules: [
    { name: 'app-transaction', conditions: { all: [{ fact: 'user', operator: 'equal', value: 'app@admin' }, { fact: 'hasTransaction', operator: 'equal', value: true }] }, event: { type: 'kill', params: { reason: 'test: transaction' } } },
    { name: 'app-cursor', conditions: { all: [{ fact: 'user', operator: 'equal', value: 'app@admin' }, { fact: 'cursorCount', operator: 'greaterThan', value: 0 }] }, event: { type: 'kill', params: { reason: 'test: cursor' } } },
    { name: 'app-operation', conditions: { all: [{ fact: 'user', operator: 'equal', value: 'app@admin' }, { fact: 'opCount', operator: 'greaterThan', value: 0 }] }, event: { type: 'kill', params: { reason: 'test: operation' } } },
    { name: 'idle-empty', conditions: { all: [{ fact: 'user', operator: 'equal', value: 'idle@admin' }, { fact: 'holdsNothing', operator: 'equal', value: true }] }, event: { type: 'kill', params: { reason: 'test: holds nothing' } } },
  ],
};

before(async () => {
  standin = await startStandin({ params: { auth: true }, users: ['reaper:s3cret-pw:root', 'app:app-pw:root', 'idle:idle-pw:root'] });
  const dir = mkdtempSync(join(tmpdir(), 'observability-'));
  auditFile = join(dir, 'audit.jsonl');
  const policies = join(dir, 'kill-test');
  mkdirSync(policies);
  writeFileSync(join(policies, 'kill-test.json'), JSON.stringify(KILL_TEST_RULES));
  Object.assign(process.env, {
    // locked-out: the reaper's password there is wrong, so its passes fail before they have a report.
    REAPER_CLUSTERS: JSON.stringify({ orders: { uriEnv: 'ORDERS_URI' }, 'locked-out': { uriEnv: 'LOCKED_OUT_URI' } }),
    ORDERS_URI: standin.uriFor('reaper', 's3cret-pw'), LOCKED_OUT_URI: standin.uriFor('reaper', 'wrong-pw-7d1e'),
    REAPER_AUDIT: `file:${auditFile}`, DRY_RUN: 'false',
    REAPER_POLICY_SETS: JSON.stringify({ 'kill-test': { dir: policies } }), REAPER_MAX_KILL_SHARE: '1',
  });
  delete process.env.MONGODB_URI;
  delete process.env.REAPER_CLUSTER;
  ({ handler, close } = await import('../functions/reaper.ts'));
});
after(async () => {
  await close?.();
  process.env = savedEnv;
  await standin?.stop();
});

test('a pass logs structured lines with request id, cold start, cluster and run id, and no password', async () => {
  // Act
  const { value, lines } = await captured(() => handler(fixture('scheduler-input.json'), context) as Promise<PassResult>);
  // Assess
  const done = lines.find((l) => l.message === 'Reaper pass completed');
  assert.ok(done, 'the completion line');
  assert.equal(done.level, 'INFO');
  assert.equal(done.function_request_id, 'req-observability-1');
  assert.equal(typeof done.cold_start, 'boolean');
  assert.equal(done.cluster, 'orders');
  assert.equal(done.runId, value.runId);
  assert.equal(done.service, 'mongodb-session-reaper');
  assert.ok(!lines.some((l) => JSON.stringify(l).includes('s3cret-pw')), 'the password appears in no line');
});

/** The metrics of an EMF document: name -> value. */
const values = (doc: Record<string, any>) => Object.fromEntries(doc._aws.CloudWatchMetrics[0].Metrics.map((m: { Name: string }) => [m.Name, doc[m.Name]]));

test('a pass that fails before it has a report (its login refused) logs one ERROR line with cluster and run id, publishes PassFailed 1, and fails', async () => {
  for (const [what, event] of [
    ['schedule', { kind: 'schedule', cluster: 'locked-out' }],
    ['manual request', { kind: 'manual', action: 'run-policy-set', cluster: 'locked-out', policySet: 'default', dryRun: true }],
  ] as const) {
    // Act
    const { value: error, lines } = await captured(() => handler(event, { ...context, awsRequestId: `req-locked-out-${what}` }).then(
      () => assert.fail(`${what}: the invocation must fail`), (e: Error) => e));
    // Assess: the invocation fails as before
    assert.match(error.message, /^cannot connect to mongodb:\/\/\*\*\*:\*\*\*@.*Authentication failed/, what);
    const failed = lines.filter((l) => l.level === 'ERROR');
    assert.equal(failed.length, 1, `${what}: one ERROR line`);
    const line = failed[0]!;
    assert.equal(line.message, 'Reaper pass failed before it finished');
    assert.equal(line.cluster, 'locked-out');
    assert.match(line.runId, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    assert.equal(line.function_request_id, `req-locked-out-${what}`);
    assert.equal(line.trigger.type, event.kind);
    assert.equal(line.error.name, 'MongoStageError');
    assert.equal(line.error.message, error.message);
    assert.ok(!lines.some((l) => JSON.stringify(l).includes('wrong-pw')) && !`${error.message}${error.stack}`.includes('wrong-pw'), `${what}: the password appears nowhere`);
    // Its metrics: PassFailed 1 for the cluster; nothing killed, no audit event; what it did not see is left out
    const emf = lines.filter((l) => l._aws?.CloudWatchMetrics);
    assert.equal(emf.length, 1, `${what}: one EMF document`);
    assert.deepEqual(emf[0]!._aws.CloudWatchMetrics[0].Dimensions, [['service', 'cluster']]);
    assert.equal(emf[0]!.cluster, 'locked-out');
    const { PassDuration, ...rest } = values(emf[0]!);
    assert.ok(Number.isFinite(PassDuration) && PassDuration >= 0);
    assert.deepEqual(rest, {
      SessionsKilled: 0, KillsFreedNothing: 0, KillsFailed: 0, KillsPlanned: 0, KillsSkipped: 0, OperationsFreed: 0, TransactionsAborted: 0, CursorsFreed: 0,
      AuditEventsUndelivered: 0, PassFailed: 1,
    });
  }
});

test('a pass skipped because another holds the cluster\'s lease is no failure: no ERROR line, no metrics', async () => {
  // Act: two schedules at once; the first takes the lease before it awaits anything
  const { value: [first, second], lines } = await captured(() => Promise.all([
    handler({ kind: 'schedule', cluster: 'orders' }, { ...context, awsRequestId: 'req-lease-1' }),
    handler({ kind: 'schedule', cluster: 'orders' }, { ...context, awsRequestId: 'req-lease-2' }),
  ]));
  // Assess
  assert.ok('runId' in first! && 'skipped' in second!);
  assert.equal(lines.filter((l) => l.level === 'ERROR').length, 0);
  assert.equal(lines.filter((l) => l._aws?.CloudWatchMetrics && l.SessionsKilled !== undefined).length, 1, 'the metrics of the pass that ran only');
  assert.ok(lines.every((l) => l.PassFailed === undefined || l.PassFailed === 0));
});

test('the pass\'s metrics in EMF match its report', async () => {
  // Act
  const { value, lines } = await captured(() => handler(fixture('scheduler-input.json'), { ...context, awsRequestId: 'req-observability-2' }) as Promise<PassResult>);
  // Assess
  const emf = lines.filter((l) => l._aws?.CloudWatchMetrics);
  const perCluster = emf.find((l) => l.cluster === 'orders' && l.SessionsSeen !== undefined);
  assert.ok(perCluster, 'one EMF document per pass with the cluster dimension');
  const directive = perCluster._aws.CloudWatchMetrics[0];
  assert.equal(directive.Namespace, 'MongoDBSessionReaper');
  assert.deepEqual(directive.Dimensions, [['service', 'cluster']]);
  assert.equal(perCluster.SessionsSeen, value.counts.sessions + value.counts.sessionlessOps);
  assert.equal(perCluster.SessionsKilled, value.counts.killed - value.counts.killedHoldingNothing);
  assert.equal(perCluster.KillsPlanned, value.counts.planned);
  assert.equal(perCluster.AuditEventsUndelivered, value.auditFailed);
  assert.equal(perCluster.PassFailed, 0);
  assert.equal(perCluster.MembersNotCovered, 0, 'a standalone: every member read');
  assert.ok(Number.isFinite(perCluster.PassDuration));
  const fleet = emf.find((l) => l.cluster === undefined && l.AuditEventsUndelivered !== undefined);
  assert.ok(fleet, 'a fleet-wide copy for the alarms');
  assert.deepEqual(fleet._aws.CloudWatchMetrics[0].Dimensions, [['service']]);
});

test('a pass that kills: every EMF metric matches the pass\'s report, the kills that freed nothing apart, and what the kills freed', async (t) => {
  // Prepare: app holds a transaction, a cursor and a running operation, each in a session of its own; idle holds
  // a session that ran one command and holds nothing.
  const app = new MongoClient(standin.uriFor('app', 'app-pw'), { appName: 'observability-app', retryWrites: false, retryReads: false });
  const idle = new MongoClient(standin.uriFor('idle', 'idle-pw'), { appName: 'observability-idle' });
  const reaperClient = new MongoClient(standin.uriFor('reaper', 's3cret-pw'));
  const orders = app.db('shop').collection('orders');
  await orders.insertMany([{ n: 1 }, { n: 2 }, { n: 3 }, { n: 4 }]);
  const inTxn = app.startSession();
  inTxn.startTransaction();
  await orders.insertOne({ n: 5 }, { session: inTxn });
  const withCursor = app.startSession();
  const cursor = orders.find({}, { session: withCursor, batchSize: 1 });
  await cursor.next();
  const running = app.startSession();
  const sleep = app.db('admin').command({ sleep: 1, secs: 60, lock: 'none' }, { session: running }).then(() => 'ok', (e: { code?: number }) => e.code);
  const empty = idle.startSession();
  await idle.db('shop').collection('orders').findOne({}, { session: empty });
  t.after(async () => {
    for (const session of [inTxn, withCursor, running, empty]) await session.endSession().catch(() => {});
    for (const client of [app, idle, reaperClient]) await client.close(true);
  });
  // The sleep is running before the pass lists the server's operations.
  const sleeping = () => reaperClient.db('admin').aggregate([{ $currentOp: { allUsers: true } }, { $match: { 'command.sleep': { $exists: true } } }]).toArray();
  for (let tries = 0; (await sleeping()).length === 0; tries++) assert.ok(tries < 1000, 'the sleep command never showed in $currentOp');
  // Act
  const { value, lines } = await captured(() => handler({ kind: 'schedule', cluster: 'orders', policySet: 'kill-test' }, { ...context, awsRequestId: 'req-observability-kills' }) as Promise<PassResult>);
  // Assess: the pass killed four sessions, one of which held nothing
  assert.equal(value.dryRun, false);
  assert.equal(value.error, null);
  assert.deepEqual([value.counts.killed, value.counts.killedHoldingNothing, value.counts.failed], [4, 1, 0]);
  assert.equal(await sleep, 11601, 'the running operation was interrupted');
  const audit = readFileSync(auditFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((e) => e.detail.runId === value.runId);
  const summary = audit.find((e) => e.detail.kind === 'run')!.detail;
  const emf = lines.filter((l) => l._aws?.CloudWatchMetrics);
  // The {service, cluster} document, every metric of it
  const perCluster = emf.filter((l) => l.cluster === 'orders' && l.Decisions === undefined);
  assert.equal(perCluster.length, 1);
  assert.deepEqual(perCluster[0]!._aws.CloudWatchMetrics[0].Dimensions, [['service', 'cluster']]);
  const c = value.counts;
  // What the kills freed, from their audit events
  const freed = audit.filter((e) => e['detail-type'] === 'Session Killed').map((e) => e.detail.freed);
  const sum = (f: (x: { operations: number; transactionAborted: boolean; cursors: number }) => number) => freed.reduce((n, x) => n + f(x), 0);
  assert.equal(freed.length, c.killed);
  assert.deepEqual([sum((x) => x.operations), sum((x) => Number(x.transactionAborted)), sum((x) => x.cursors)], [1, 1, 1], 'one operation, one transaction, one cursor');
  assert.deepEqual(values(perCluster[0]!), {
    SessionsSeen: c.sessions + c.sessionlessOps,
    SessionsKilled: c.killed - c.killedHoldingNothing,
    KillsFreedNothing: c.killedHoldingNothing,
    KillsFailed: c.failed,
    KillsPlanned: c.planned,
    KillsSkipped: c.skipped,
    OperationsFreed: sum((x) => x.operations),
    TransactionsAborted: sum((x) => Number(x.transactionAborted)),
    CursorsFreed: sum((x) => x.cursors),
    PassDuration: summary.durationMs,
    AuditEventsUndelivered: value.auditFailed,
    PassFailed: 0,
    MembersNotCovered: 0,
  });
  assert.equal(values(perCluster[0]!).SessionsKilled, 3);
  // The Decisions documents: one per rule and outcome of the audited kill decisions
  const decisions = emf.filter((l) => l.Decisions !== undefined).map((l) => [l.rule, l.outcome, l.Decisions]);
  const audited = new Map<string, number>();
  for (const e of audit.filter((e) => e.detail.kind === 'decision' && e.detail.action === 'kill')) audited.set(`${e.detail.rule} ${e.detail.outcome}`, (audited.get(`${e.detail.rule} ${e.detail.outcome}`) ?? 0) + 1);
  assert.deepEqual(decisions.map(([rule, outcome, n]) => [`${rule} ${outcome}`, n]).sort(), [...audited].sort());
  assert.deepEqual(decisions.map(([rule]) => rule).sort(), ['app-cursor', 'app-operation', 'app-transaction', 'idle-empty']);
  // The fleet-wide copies
  const fleet = emf.filter((l) => l.cluster === undefined);
  assert.equal(fleet.length, 1);
  assert.deepEqual(values(fleet[0]!), { AuditEventsUndelivered: value.auditFailed, KillsFailed: c.failed, MembersNotCovered: 0 });
  assert.equal(emf.length, perCluster.length + decisions.length + fleet.length, 'no other EMF document');
});

test('one Decisions document per rule and outcome of the kill decisions, pass after pass', async () => {
  // Arrange: two passes of two clusters (the second must carry none of the first's dimensions)
  const kill = (rule: string, outcome: string) => ({ action: 'kill', rule, outcome });
  const report = (cluster: string, decisions: object[]) => ({
    cluster, durationMs: 5, error: null, coverage: null, audit: { failed: 0 }, decisions,
    counts: { sessions: 3, sessionlessOps: 0, killed: 0, killedHoldingNothing: 0, failed: 0, planned: 3, skipped: 0 },
  }) as unknown as RunReport;
  // Act
  const { lines } = await captured(async () => {
    publishPassMetrics(report('a', [kill('r1', 'planned'), kill('r1', 'planned'), kill('r2', 'planned'), { action: 'protect', rule: 'p', outcome: 'protected' }]));
    publishPassMetrics(report('b', [kill('r2', 'failed')]));
  });
  // Assess
  const decisions = lines.filter((l) => l.Decisions !== undefined).map((l) => ({ dims: l._aws.CloudWatchMetrics[0].Dimensions, ns: l._aws.CloudWatchMetrics[0].Namespace, service: l.service, cluster: l.cluster, rule: l.rule, outcome: l.outcome, n: l.Decisions }));
  const dims = [['service', 'cluster', 'rule', 'outcome']];
  const doc = (cluster: string, rule: string, outcome: string, n: number) => ({ dims, ns: 'MongoDBSessionReaper', service: 'mongodb-session-reaper', cluster, rule, outcome, n });
  assert.deepEqual(decisions, [doc('a', 'r1', 'planned', 2), doc('a', 'r2', 'planned', 1), doc('b', 'r2', 'failed', 1)]);
});

test('members not covered are counted from the pass\'s coverage', () => {
  const member = (host: string, covered: boolean): MemberCoverage => ({ host, state: covered ? 'SECONDARY' : '', covered, ...(covered ? {} : { why: 'connection refused' }) });
  assert.equal(membersNotCovered({ coverage: null }), 0);
  assert.equal(membersNotCovered({ coverage: { topology: 'replicaSet', setName: 'rs', notes: [], members: [member('a:1', true), member('b:1', false), member('c:1', false)] } }), 2);
  // Left out by choice (--members primary): named in the summary, not counted for the alarm.
  assert.equal(membersNotCovered({ coverage: { topology: 'replicaSet', setName: 'rs', notes: [], members: [member('a:1', true), { ...member('b:1', false), byChoice: true }, member('c:1', false)] } }), 1);
  // Through mongos with no shard listed (every way of listing them refused): how many is unknown, counted as one.
  const router: MemberCoverage = { host: 'r:1', state: 'MONGOS', covered: true };
  assert.equal(membersNotCovered({ coverage: { topology: 'mongos', setName: '', notes: [], members: [router] } }), 1);
  assert.equal(membersNotCovered({ coverage: { topology: 'mongos', setName: '', notes: [], members: [router, { host: 's:1', state: 'PRIMARY', covered: true }] } }), 0);
});
