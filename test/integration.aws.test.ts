/**
 * The AWS side, for real, against moto_server started on a free port: the connection string and the
 * webhook key come from moto's Secrets Manager; every pass publishes its audit events with the real
 * EventBridge client to a moto bus, where a rule delivers them to an SQS queue and to a CloudWatch
 * Logs log group (the audit log). The test reads both back: every kill has exactly one "Session
 * Killed" event with the right detail, and nothing else arrived. Then each handler with its fixtures,
 * an archive replay (ignored), and PutEvents throttled by a fault-injecting proxy (nothing lost,
 * nothing doubled).
 *
 * moto delivers rule targets synchronously inside PutEvents, so once a handler has returned, its
 * events are in the queue and the log group: the reads below need no waiting.
 */
import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { CloudWatchLogsClient, CreateLogGroupCommand, FilterLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { CreateArchiveCommand, CreateEventBusCommand, EventBridgeClient, PutRuleCommand, PutTargetsCommand, StartReplayCommand } from '@aws-sdk/client-eventbridge';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { CreateQueueCommand, DeleteMessageBatchCommand, GetQueueAttributesCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { LambdaFunctionURLEvent } from 'aws-lambda';
import { LaggingClock } from '../standin/src/clock.ts';
import { startStandin, type RunningStandin } from '../standin/src/server.ts';
import { createReaper } from '../src/service/app.ts';
import { validateAuditDetail } from '../src/pass/audit/schema.ts';
import { DEFAULT_POLICIES_DIR } from '../src/service/config.ts';
import { DEMO_THRESHOLDS } from '../src/demo/thresholds.ts';
import { startWorkload, type Workload } from '../src/demo/workload.ts';
import { InvalidTriggerError } from '../src/util/errors.ts';
import type { PassResult } from '../src/service/lambda/runtime.ts';
import type { RunReport } from '../src/pass/pass.ts';
import { signBody } from '../src/service/signature.ts';
import { startFaultProxy } from './support/fault-proxy.ts';
import { startLambdaInvokeStandin, type LambdaInvokeStandin } from './support/lambda-invoke.ts';
import { motoAvailable, requireMoto, startMoto, type Moto } from './support/moto.ts';

const fixture = (name: string) => JSON.parse(readFileSync(new URL(`./events/${name}`, import.meta.url), 'utf8'));
const context = { getRemainingTimeInMillis: () => 60_000, awsRequestId: 'moto-req' };
const BUS = 'session-reaper-audit';
const SOURCE = 'mongodb.session-reaper';
const WEBHOOK_SECRET = 'test-webhook-secret';

interface Delivered {
  'detail-type': string;
  source: string;
  detail: Record<string, any>;
  'replay-name'?: string;
}

let moto: Moto;
let standin: RunningStandin;
let workload: Workload;
let lambda: LambdaInvokeStandin;
let sqs: SQSClient;
let logs: CloudWatchLogsClient;
let eventBridge: EventBridgeClient;
let queueUrl = '';
let busArn = '';
let archiveName = '';
let reaperHandler: (typeof import('../functions/reaper.ts'))['handler'];
let closeReaper: () => Promise<void>;
let webhook: (typeof import('../functions/atlas-webhook.ts'))['handler'];
const savedEnv = { ...process.env };

/** Everything in the queue now (and removes it). */
async function drain(): Promise<Delivered[]> {
  const out: Delivered[] = [];
  for (;;) {
    const r = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0, VisibilityTimeout: 300 }));
    const messages = r.Messages ?? [];
    if (messages.length === 0) return out;
    for (const m of messages) out.push(JSON.parse(m.Body!));
    await sqs.send(new DeleteMessageBatchCommand({ QueueUrl: queueUrl, Entries: messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })) }));
  }
}

/** The audit log's events of one run. */
async function logged(runId: string): Promise<Delivered[]> {
  const out: Delivered[] = [];
  let nextToken: string | undefined;
  do {
    const r = await logs.send(new FilterLogEventsCommand({ logGroupName: '/aws/events/session-reaper-audit', ...(nextToken ? { nextToken } : {}) }));
    for (const e of r.events ?? []) {
      const event = JSON.parse(e.message!) as Delivered;
      if (event.detail.runId === runId) out.push(event);
    }
    nextToken = r.nextToken;
  } while (nextToken);
  return out;
}

/** Checked once: `moto_server --help` costs a Python start-up (~2 s) per call. */
const MOTO = motoAvailable();

/** Skips (or, with CI=true, fails) the test when moto_server is missing. */
function skip(t: TestContext): boolean {
  return MOTO ? false : requireMoto(t);
}

interface RunExpectation {
  runId: string;
  cluster: string;
  trigger: object;
  /** Events the run produced. */
  events: number;
  dryRun: boolean;
  kills: { sessionId: string; uid: string; user: string; rule: string; reason: string; outcome: string }[];
}

/** Every kill has exactly one "Session Killed" event with its detail; nothing but this run's events arrived. */
function assertExactlyTheRun(events: Delivered[], run: RunExpectation, where: string): void {
  assert.equal(events.filter((e) => e.detail.runId === run.runId).length, events.length, `${where}: only this run's events arrived`);
  assert.equal(events.length, run.events, `${where}: as many events as the run produced (${run.events})`);
  for (const e of events) {
    assert.equal(e.source, SOURCE);
    assert.deepEqual(validateAuditDetail(e.detail as never), [], `${where}: every detail matches the published schema`);
    assert.deepEqual([e.detail.cluster, e.detail.trigger, e.detail.dryRun], [run.cluster, run.trigger, run.dryRun]);
  }
  assert.equal(events.filter((e) => e['detail-type'] === 'Reaper Run Completed').length, 1, `${where}: one run summary`);
  const killEvents = events.filter((e) => e['detail-type'] === 'Session Killed');
  assert.equal(killEvents.length, run.kills.filter((k) => k.outcome === 'killed').length, `${where}: no "Session Killed" event without a kill`);
  for (const k of run.kills.filter((x) => x.outcome === 'killed')) {
    const mine = killEvents.filter((e) => e.detail.session?.id === k.sessionId);
    assert.equal(mine.length, 1, `${where}: exactly one "Session Killed" event for ${k.sessionId}`);
    const d = mine[0]!.detail;
    assert.deepEqual([d.session.uid, d.session.user, d.rule, d.reason, d.outcome], [k.uid, k.user, k.rule, k.reason, 'killed'], `${where}: the detail of ${k.sessionId}`);
  }
}

const expectation = (r: RunReport | PassResult, dryRun: boolean): RunExpectation => ({
  runId: r.runId, cluster: r.cluster, trigger: r.trigger, dryRun,
  events: 'auditEvents' in r ? r.auditEvents : r.audit.events,
  kills: 'kills' in r ? r.kills : r.decisions.filter((d) => d.outcome === 'killed'),
});

before(async () => {
  if (!MOTO) return;
  moto = await startMoto();
  moto.apply();
  sqs = new SQSClient({});
  logs = new CloudWatchLogsClient({});
  eventBridge = new EventBridgeClient({});
  const secrets = new SecretsManagerClient({});

  // The audit routing of infra/audit.yml, on moto: bus, rule, SQS + log group targets, archive.
  busArn = (await eventBridge.send(new CreateEventBusCommand({ Name: BUS }))).EventBusArn!;
  queueUrl = (await sqs.send(new CreateQueueCommand({ QueueName: 'audit-events' }))).QueueUrl!;
  const queueArn = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }))).Attributes!.QueueArn!;
  await logs.send(new CreateLogGroupCommand({ logGroupName: '/aws/events/session-reaper-audit' }));
  await eventBridge.send(new PutRuleCommand({ Name: 'audit-out', EventBusName: BUS, EventPattern: JSON.stringify({ source: [SOURCE] }) }));
  await eventBridge.send(new PutTargetsCommand({
    Rule: 'audit-out', EventBusName: BUS,
    Targets: [
      { Id: 'queue', Arn: queueArn },
      { Id: 'audit-log', Arn: 'arn:aws:logs:us-east-1:123456789012:log-group:/aws/events/session-reaper-audit' },
    ],
  }));
  archiveName = 'session-reaper-audit';
  await eventBridge.send(new CreateArchiveCommand({ ArchiveName: archiveName, EventSourceArn: busArn, EventPattern: JSON.stringify({ source: [SOURCE] }), RetentionDays: 1 }));

  // The cluster: the stand-in with access control and the demo workload; its connection string in Secrets Manager.
  // Its clock starts 3 s behind and catches up below: the workload then looks 3 s old to the module-scoped
  // reaper (real clock) and to the server alike, without waiting.
  const clock = new LaggingClock(3000);
  standin = await startStandin({ params: { auth: true }, users: ['admin:admin-secret:root'], clock });
  workload = await startWorkload({ adminUri: standin.uriFor('admin', 'admin-secret'), uriFor: (u, p) => standin.uriFor(u, p) });
  const clusterSecret = (await secrets.send(new CreateSecretCommand({ Name: 'session-reaper/orders', SecretString: JSON.stringify({ uri: workload.reaperUri }) }))).ARN!;
  const webhookSecret = (await secrets.send(new CreateSecretCommand({ Name: 'session-reaper/atlas-webhook', SecretString: WEBHOOK_SECRET }))).ARN!;

  lambda = await startLambdaInvokeStandin({ 'session-reaper': (payload) => reaperHandler(payload, context) });
  for (const k of ['MONGODB_URI', 'DRY_RUN', 'REAPER_AUDIT', 'REAPER_CLUSTER']) delete process.env[k];
  Object.assign(process.env, {
    REAPER_CLUSTERS: JSON.stringify({ orders: { secretArn: clusterSecret } }),
    // protectUnknownApplications 0: the cursor-only session (application unknown) is one of the three kills.
    REAPER_POLICY_SETS: JSON.stringify({ demo: { dir: DEFAULT_POLICIES_DIR, parameters: { ...DEMO_THRESHOLDS, protectUnknownApplications: 0 } } }),
    REAPER_ALARMS: JSON.stringify({ 'orders-tickets-exhausted': 'demo' }),
    REAPER_ATLAS_ALERTS: JSON.stringify({ 'OUTSIDE_METRIC_THRESHOLD/CONNECTIONS': 'demo' }),
    AUDIT_EVENT_BUS_NAME: BUS,
    ATLAS_WEBHOOK_SECRET_ARN: webhookSecret,
    REAPER_FUNCTION_NAME: 'session-reaper',
    AWS_ENDPOINT_URL_LAMBDA: lambda.endpoint,
    // moto delivers each entry to the rule's two targets in about a second: a PutEvents request of a few
    // entries takes longer than the production request timeout, and a pass's audit longer than its default.
    REAPER_AUDIT_REQUEST_TIMEOUT_SECONDS: '120',
    REAPER_AUDIT_TIMEOUT_SECONDS: '300',
  });
  ({ handler: reaperHandler, close: closeReaper } = await import('../functions/reaper.ts'));
  ({ handler: webhook } = await import('../functions/atlas-webhook.ts'));
  clock.skip(3000); // the workload ages past the demo thresholds (seconds)
});

after(async () => {
  await closeReaper?.();
  await lambda?.stop();
  await workload?.close();
  await standin?.stop();
  await moto?.stop();
  process.env = savedEnv;
});

describe('audit events through EventBridge (moto)', () => {
  test('throttled PutEvents loses no event and doubles none (fault-injecting proxy in front of moto)', async (t) => {
    if (skip(t)) return;
    // Prepare: the first PutEvents throttled whole, the second with two entries failed, then normal.
    const proxy = await startFaultProxy(moto.endpoint, [
      { throttle: true },
      { failEntries: [1, 3], errorCode: 'ThrottlingException' },
      { failEntries: [0], errorCode: 'InternalFailure' },
    ]);
    const warnings: string[] = [];
    const reaper = await createReaper(
      { ...process.env, DRY_RUN: 'true' },
      { error: (m) => warnings.push(m), warn: (m) => warnings.push(m) },
      // No SDK-level retries: every fault reaches the sink, whose re-sending is what is under test.
      { eventBridge: new EventBridgeClient({ endpoint: proxy.endpoint, maxAttempts: 1 }) },
    );
    try {
      // Act: a dry run of the demo set plans the three kills: five events with the summary and the skipped prepared transaction.
      const report = await reaper.run({ cluster: 'orders', policySet: 'demo', trigger: { type: 'schedule', name: 'throttle-test' } });
      // Assess
      assert.ok(proxy.stats.throttled === 1 && proxy.stats.entriesFailed === 3, `faults were injected: ${JSON.stringify(proxy.stats)}`);
      assert.ok(report.audit.events >= 5, `enough events to fail some (${report.audit.events})`);
      assert.equal(report.audit.failed, 0);
      assert.equal(report.audit.sent, report.audit.events);
      const delivered = await drain();
      assertExactlyTheRun(delivered, expectation(report, true), 'queue');
      assert.equal(delivered.filter((e) => e['detail-type'] === 'Session Kill Planned').length, 3);
      const ids = delivered.map((e) => `${e['detail-type']}|${e.detail.session?.id ?? e.detail.kind}`);
      assert.equal(new Set(ids).size, ids.length, 'no event arrived twice');
      assert.equal((await logged(report.runId)).length, report.audit.events, 'the audit log has them all too');
      assert.ok(warnings.some((w) => /Re-sending 2 audit event\(s\)/.test(w)), 'the sink re-sent the failed entries');
    } finally {
      await reaper.close();
      await proxy.stop();
    }
  });

  test('a scheduled pass with the connection string from Secrets Manager: every kill has exactly one event, in the queue and in the audit log', async (t) => {
    if (skip(t)) return;
    // Act
    const result = await reaperHandler({ kind: 'schedule', cluster: 'orders', policySet: 'demo' }, context) as PassResult;
    // Assess
    assert.equal(result.error, null);
    assert.deepEqual(result.kills.map((k) => k.rule).sort(), ['idle-transaction', 'runaway-operation', 'stale-cursor-session']);
    const delivered = await drain();
    assertExactlyTheRun(delivered, expectation(result, false), 'queue');
    const inLog = await logged(result.runId);
    assertExactlyTheRun(inLog, expectation(result, false), 'audit log');
    const seen = await workload.outcomes();
    assert.deepEqual([seen['orders-api (alice) commitTransaction'], seen['reporting-job (bob) running query'], seen['analytics (carol) getMore']], ['251 NoSuchTransaction', '11601 Interrupted', '43 CursorNotFound']);
  });

  test('an archive replay of those events reaches the rule again, and the reaper ignores every replayed event', async (t) => {
    if (skip(t)) return;
    // Act
    await eventBridge.send(new StartReplayCommand({
      ReplayName: 'audit-review', EventSourceArn: `${busArn.replace(':event-bus/', ':archive/')}`.replace(`archive/${BUS}`, `archive/${archiveName}`),
      EventStartTime: new Date(Date.now() - 3_600_000), EventEndTime: new Date(Date.now() + 60_000), Destination: { Arn: busArn },
    }));
    const replayed = await drain();
    // Assess
    assert.ok(replayed.length >= 5, `the replay delivered the archived events (${replayed.length})`);
    for (const e of replayed) {
      assert.equal(e['replay-name'], 'audit-review');
      const r = await reaperHandler(e, context);
      assert.ok('ignored' in r && /archive replay/.test(r.ignored));
    }
    assert.deepEqual(await drain(), [], 'no pass ran, so nothing new was published');
  });
});

describe('each handler with its fixtures, audit through moto', () => {
  test('alarm: OK and INSUFFICIENT_DATA publish nothing; ALARM runs a pass with the mapped set', async (t) => {
    if (skip(t)) return;
    assert.ok('ignored' in await reaperHandler(fixture('alarm-state-change-ok.json'), context));
    assert.ok('ignored' in await reaperHandler(fixture('alarm-state-change-insufficient-data.json'), context));
    assert.deepEqual(await drain(), []);
    const result = await reaperHandler(fixture('alarm-state-change-alarm.json'), context) as PassResult;
    const delivered = await drain();
    assert.equal(result.policySet, 'demo');
    assert.deepEqual(delivered.find((e) => e['detail-type'] === 'Reaper Run Completed')?.detail.trigger, { type: 'alarm', name: 'orders-tickets-exhausted', id: fixture('alarm-state-change-alarm.json').id });
    assert.ok(delivered.every((e) => e.detail.runId === result.runId));
  });

  test('function URL: good signature queues a pass whose events arrive; bad and missing get 401 and publish nothing', async (t) => {
    if (skip(t)) return;
    const good = fixture('function-url-atlas-alert.json') as LambdaFunctionURLEvent;
    const bad = { ...good, headers: { ...good.headers, 'x-mms-signature': signBody(good.body!, 'wrong') } };
    const { 'x-mms-signature': _s, ...unsigned } = good.headers;
    const missing = { ...good, headers: unsigned };
    assert.equal((await webhook(bad)).statusCode, 401);
    assert.equal((await webhook(missing)).statusCode, 401);
    await lambda.settled();
    assert.deepEqual(await drain(), []);
    assert.equal((await webhook(good)).statusCode, 202, 'the key was read from moto\'s Secrets Manager');
    await lambda.settled();
    const summary = (await drain()).find((e) => e['detail-type'] === 'Reaper Run Completed');
    assert.deepEqual(summary?.detail.trigger, { type: 'atlas-alert', name: 'OUTSIDE_METRIC_THRESHOLD/CONNECTIONS', id: '6749e1f4a1b2c3d4e5f60718' });
  });

  test('manual: a valid request runs (a dry run) and is audited; invalid ones publish nothing', async (t) => {
    if (skip(t)) return;
    await assert.rejects(reaperHandler(fixture('manual-invalid-session-id.json'), context), InvalidTriggerError);
    await assert.rejects(reaperHandler(fixture('manual-invalid-no-reason.json'), context), InvalidTriggerError);
    assert.deepEqual(await drain(), []);
    const result = await reaperHandler(fixture('manual-run-policy-set.json'), context) as PassResult;
    const summary = (await drain()).find((e) => e['detail-type'] === 'Reaper Run Completed');
    assert.equal(summary?.detail.runId, result.runId);
    assert.equal(summary?.detail.dryRun, true);
    assert.deepEqual(summary?.detail.trigger, { type: 'manual', name: 'run-policy-set', id: 'moto-req' });
  });

  test('scheduled: the Scheduler input fixture runs on the named cluster', async (t) => {
    if (skip(t)) return;
    const result = await reaperHandler(fixture('scheduler-input.json'), context) as PassResult;
    const delivered = await drain();
    assert.deepEqual([result.cluster, result.policySet], ['orders', 'default']);
    assert.equal(delivered.filter((e) => e['detail-type'] === 'Reaper Run Completed' && e.detail.runId === result.runId).length, 1);
  });
});
