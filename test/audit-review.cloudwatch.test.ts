/**
 * `session-reaper audit --log-group` against moto's CloudWatch Logs, holding what the reaper really
 * emitted: three passes on the stand-in (dry run, failed kills, kills) published through the
 * EventBridge sink to a moto bus whose rule targets the log group, as infra/audit.yml routes them
 * (moto delivers rule matches to a log-group target the way EventBridge does: one log event per
 * event, the envelope JSON as its message). The same passes also wrote a file, which must read the
 * same.
 */
import { after, before, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CloudWatchLogsClient,
  CreateLogGroupCommand,
  CreateLogStreamCommand,
  FilterLogEventsCommand,
  PutLogEventsCommand,
  type FilterLogEventsCommandInput,
} from '@aws-sdk/client-cloudwatch-logs';
import { CreateEventBusCommand, PutRuleCommand, PutTargetsCommand, EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { createEventBridgeClient, EventBridgeAuditSink } from '../src/adapters/eventbridge.ts';
import { FileAuditSink } from '../src/adapters/audit-file-sink.ts';
import { InMemoryAuditSink, TeeSink } from '../src/adapters/audit-sinks.ts';
import { validateAuditDetail } from '../src/pass/audit/schema.ts';
import { type AuditEvent, type DecisionDetail } from '../src/pass/audit/events.ts';
import { auditCommand } from '../src/cli/audit.ts';
import type { SessionStory } from '../src/review/explain.ts';
import { PUSHDOWN_SLACK_MS } from '../src/adapters/cloudwatch-logs.ts';
import { capture } from './support/capture.ts';
import { motoAvailable, requireMoto, startMoto, type Moto } from './support/moto.ts';
import { REAL_CLUSTER, recordRealPasses, type RealHistory } from './support/reaper-history.ts';

const BUS = 'session-reaper-test-audit';
const LOG_GROUP = '/aws/events/session-reaper-test-audit';
const DAMAGED_GROUP = '/aws/events/session-reaper-test-audit-damaged';
const ACCOUNT = '123456789012';

let moto: Moto | undefined;
let logs: CloudWatchLogsClient;
let dir: string;
let file: string;
let events: AuditEvent[];
let history: RealHistory;
/** Every FilterLogEvents request the command sent, as sent. */
const requests: FilterLogEventsCommandInput[] = [];

before(async () => {
  if (!motoAvailable()) return;
  moto = await startMoto();
  moto.apply();
  // Prepare: the routing of infra/audit.yml on moto: a bus, a rule on the reaper's source, the log group as target.
  const eventBridge = new EventBridgeClient({});
  logs = new CloudWatchLogsClient({});
  await eventBridge.send(new CreateEventBusCommand({ Name: BUS }));
  await logs.send(new CreateLogGroupCommand({ logGroupName: LOG_GROUP }));
  await eventBridge.send(new PutRuleCommand({ Name: 'audit-to-log', EventBusName: BUS, EventPattern: JSON.stringify({ source: ['mongodb.session-reaper'] }) }));
  await eventBridge.send(new PutTargetsCommand({
    Rule: 'audit-to-log', EventBusName: BUS,
    Targets: [{ Id: 'audit-log', Arn: `arn:aws:logs:us-east-1:${ACCOUNT}:log-group:${LOG_GROUP}` }],
  }));
  // The passes publish to EventBridge (-> the log group), to a file and to memory at once.
  dir = mkdtempSync(join(tmpdir(), 'audit-review-cw-'));
  file = join(dir, 'audit.jsonl');
  const memory = new InMemoryAuditSink();
  const fileSink = new FileAuditSink({ path: file });
  // moto delivers each entry to the log-group target in about a second, so a request of 10 entries
  // takes longer than the production request timeout (PUT_EVENTS_REQUEST_TIMEOUT_MS) allows.
  const bus = new EventBridgeAuditSink({ client: createEventBridgeClient({}, { requestMs: 120_000 }), eventBusName: BUS });
  history = await recordRealPasses(new TeeSink([bus, fileSink, memory]));
  await fileSink.close();
  events = memory.events;

  // A second log group holding the same envelopes (written with PutLogEvents) and two broken log events.
  await logs.send(new CreateLogGroupCommand({ logGroupName: DAMAGED_GROUP }));
  await logs.send(new CreateLogStreamCommand({ logGroupName: DAMAGED_GROUP, logStreamName: 'copied' }));
  const now = Date.now();
  const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
  const junk = ['this is not an event', JSON.stringify({ 'detail-type': 'Session Killed', detail: { kind: 'decision', outcome: 'killed' } })];
  await logs.send(new PutLogEventsCommand({
    logGroupName: DAMAGED_GROUP, logStreamName: 'copied',
    logEvents: [...lines.slice(0, 9), junk[0]!, ...lines.slice(9), junk[1]!].map((message, i) => ({ timestamp: now + i, message })),
  }));
});

after(async () => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  await moto?.stop();
});

/** A client that records each FilterLogEvents request before sending it. */
function recordingClient(): CloudWatchLogsClient {
  const client = new CloudWatchLogsClient({});
  client.middlewareStack.add((next) => async (args) => {
    requests.push({ ...(args.input as FilterLogEventsCommandInput) });
    return next(args);
  }, { step: 'initialize', name: 'recordRequests' });
  return client;
}

const audit = (args: string[], now?: number) =>
  capture((io) => auditCommand(args, io), { logsClient: recordingClient(), ...(now !== undefined ? { now: () => now } : {}) });

const jsonOf = (stdout: string) => stdout.trimEnd().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { id: string; 'detail-type': string; detail: any; account: string; region: string });
const decisions = (): DecisionDetail[] => events.flatMap((e) => (e.detail.kind === 'decision' ? [e.detail] : []));
const skip = (t: TestContext) => requireMoto(t);

describe('reading the log group the EventBridge rule writes', () => {
  it('gives back every event the reaper emitted, each valid under the published schema', async (t) => {
    if (skip(t)) return;
    // Act
    const out = await audit(['--log-group', LOG_GROUP, '--json']);
    // Assess
    assert.equal(out.code, 0, out.stderr);
    assert.ok(events.length >= 15, `${events.length} events`);
    for (const e of events) assert.deepEqual(validateAuditDetail(e.detail), [], e.detailType);
    const read = jsonOf(out.stdout);
    const key = (d: unknown) => JSON.stringify(d);
    assert.deepEqual(read.map((e) => key(e.detail)).sort(), events.map((e) => key(e.detail)).sort());
    // Envelopes as EventBridge delivered them: its own event ids and its region (moto leaves out "account").
    const fileIds = new Set(readFileSync(file, 'utf8').trimEnd().split('\n').map((l) => (JSON.parse(l) as { id: string }).id));
    assert.ok(read.every((e) => e.region === 'us-east-1' && /^[0-9a-f-]{36}$/.test(e.id) && !fileIds.has(e.id)));
    const n = events.length;
    assert.ok(out.stderr.includes(`${n} log events read, ${n} audit events, ${n} matched, no problems`), out.stderr);
    assert.equal(history.outcomes['reporting-job (bob) running query'], '11601 Interrupted', 'the last pass really killed');
  });

  it('reads the same events as the file the same passes wrote', async (t) => {
    if (skip(t)) return;
    const fromLogs = jsonOf((await audit(['--log-group', LOG_GROUP, '--json'])).stdout).map((e) => JSON.stringify(e.detail)).sort();
    const fromFile = jsonOf((await audit(['--file', file, '--json'])).stdout).map((e) => JSON.stringify(e.detail)).sort();
    assert.deepEqual(fromLogs, fromFile);
  });

  it('follows nextToken page by page to the end', async (t) => {
    if (skip(t)) return;
    // Prepare
    requests.length = 0;
    // Act: five log events a page.
    const out = await audit(['--log-group', LOG_GROUP, '--json', '--page-size', '5']);
    // Assess: 15 to 18 events need 3 or 4 pages; every request after the first carries the token of the one before.
    assert.equal(out.code, 0, out.stderr);
    assert.equal(requests.length, Math.ceil(events.length / 5));
    assert.ok(requests.every((r) => r.limit === 5 && r.logGroupName === LOG_GROUP));
    assert.equal(requests[0]!.nextToken, undefined);
    assert.ok(requests.slice(1).every((r) => typeof r.nextToken === 'string' && r.nextToken.length > 0));
    assert.equal(new Set(jsonOf(out.stdout).map((e) => e.id)).size, events.length);
  });

  it('pushes --since/--until down as startTime/endTime, widened by the delivery slack', async (t) => {
    if (skip(t)) return;
    // Prepare
    requests.length = 0;
    const now = Date.now();
    // Act
    const window = await audit(['--log-group', LOG_GROUP, '--json', '--since', '1h', '--until', new Date(now + 3_600_000).toISOString()], now);
    const past = await audit(['--log-group', LOG_GROUP, '--json', '--until', '2h'], now);
    // Assess: the request bounds, and the service did the filtering (an hour ago + slack: no log event at all).
    assert.equal(requests[0]!.startTime, now - 3_600_000 - PUSHDOWN_SLACK_MS);
    assert.equal(requests[0]!.endTime, now + 3_600_000 + PUSHDOWN_SLACK_MS);
    assert.equal(requests[1]!.startTime, undefined);
    assert.equal(requests[1]!.endTime, now - 7_200_000 + PUSHDOWN_SLACK_MS);
    assert.equal(jsonOf(window.stdout).length, events.length);
    assert.match(past.stderr, /0 log events read, 0 audit events, 0 matched/);
  });

  it('applies every filter to the events read from CloudWatch', async (t) => {
    if (skip(t)) return;
    const ids = async (...args: string[]) => {
      const out = await audit(['--log-group', LOG_GROUP, '--json', ...args]);
      assert.equal(out.code, 0, out.stderr);
      return jsonOf(out.stdout);
    };
    const ds = decisions();
    const dryRun = events.find((e) => e.detail.dryRun)!.detail.runId;
    const bob = ds.find((d) => d.session?.user === 'bob@admin')!.session!.id;

    assert.deepEqual((await ids('--outcome', 'killed')).map((e) => e['detail-type']), ['Session Killed', 'Session Killed', 'Session Killed']);
    assert.equal((await ids('--outcome', 'failed', '--rule', 'idle-transaction')).length, 1);
    assert.equal((await ids('--user', 'alice@admin')).length, ds.filter((d) => d.session?.user === 'alice@admin').length);
    assert.equal((await ids('--app', 'orders-api')).length, 3);
    assert.equal((await ids('--session', bob.slice(0, 8))).length, 3);
    assert.equal((await ids('--run', dryRun.slice(0, 8))).length, events.filter((e) => e.detail.runId === dryRun).length);
    assert.equal((await ids('--trigger', 'cli:audit-review-test')).length, events.length);
    assert.equal((await ids('--trigger', 'schedule')).length, 0);
    assert.equal((await ids('--cluster', REAL_CLUSTER, '--outcome', 'skipped')).length, ds.filter((d) => d.outcome === 'skipped').length);
    assert.equal((await ids('--cluster', 'elsewhere')).length, 0);
    assert.equal((await ids('--since', '1h', '--outcome', 'planned')).length, 3);
  });

  it('the table and CSV outputs read from CloudWatch too', async (t) => {
    if (skip(t)) return;
    const table = await audit(['--log-group', LOG_GROUP, '--outcome', 'failed']);
    const csv = await audit(['--log-group', LOG_GROUP, '--outcome', 'failed', '--csv']);
    assert.equal(table.stdout.trimEnd().split('\n').length, 2 + 3);
    assert.match(table.stdout, /failed +real +e2e-audit .*13 Unauthorized: Failing command via 'failCommand' failpoint/);
    assert.equal(csv.stdout.split('\r\n').filter(Boolean).length, 1 + 3);
  });

  it('explain tells the runaway query\'s story: planned by the dry run, failed, then killed', async (t) => {
    if (skip(t)) return;
    // Prepare
    const bob = decisions().find((d) => d.session?.user === 'bob@admin')!.session!.id;
    // Act
    const out = await audit(['explain', bob, '--log-group', LOG_GROUP, '--json']);
    const text = await audit(['explain', bob, '--log-group', LOG_GROUP]);
    // Assess
    assert.equal(out.code, 0, out.stderr);
    const story = JSON.parse(out.stdout) as SessionStory;
    assert.deepEqual(story.steps.map((s) => [s.outcome, s.rule, s.dryRun]), [
      ['planned', 'runaway-operation', true], ['failed', 'runaway-operation', false], ['killed', 'runaway-operation', false],
    ]);
    assert.equal(story.app, 'reporting-job');
    assert.ok(story.steps.every((s) => typeof s.facts.longestOpSeconds === 'number' && s.pass !== null));
    assert.equal(story.steps[1]!.error?.code, 13);
    assert.match(text.stdout, /killed at .* by rule "runaway-operation"/);
  });

  it('the report reads from CloudWatch', async (t) => {
    if (skip(t)) return;
    const html = join(dir, 'report.html');
    const out = await audit(['report', '--html', html, '--log-group', LOG_GROUP]);
    assert.equal(out.code, 0, out.stderr);
    const page = readFileSync(html, 'utf8');
    assert.match(page, /id="fig-killed" data-figure="killed" data-value="3"/);
    assert.match(page, /id="fig-failed" data-figure="failed" data-value="3"/);
    assert.match(page, new RegExp(`Source: log group ${LOG_GROUP.replace(/\//g, '\\/')}`));
  });
});

describe('broken log events', () => {
  it('are reported with their log event id, counted, and do not stop the read', async (t) => {
    if (skip(t)) return;
    // Prepare: the ids of the broken log events, asked of CloudWatch Logs directly.
    const all = (await logs.send(new FilterLogEventsCommand({ logGroupName: DAMAGED_GROUP }))).events ?? [];
    const broken = all.filter((e) => !(e.message ?? '').includes('"schemaVersion"'));
    assert.equal(broken.length, 2);
    // Act
    const out = await audit(['--log-group', DAMAGED_GROUP, '--json']);
    // Assess
    assert.equal(out.code, 3);
    assert.equal(jsonOf(out.stdout).length, events.length, 'every good event is still there');
    assert.ok(out.stderr.includes(`log event ${broken[0]!.eventId} in stream copied: not JSON`), out.stderr);
    assert.ok(out.stderr.includes(`log event ${broken[1]!.eventId} in stream copied: detail does not match the audit event schema`), out.stderr);
    const n = events.length;
    assert.ok(out.stderr.includes(`${n + 2} log events read, ${n} audit events, ${n} matched, 2 problems (1 malformed, 1 not matching the schema)`), out.stderr);
  });

  it('a log group that does not exist is a read failure, named', async (t) => {
    if (skip(t)) return;
    const out = await audit(['--log-group', '/aws/events/no-such-group']);
    assert.equal(out.code, 1);
    assert.match(out.stderr, /log group "\/aws\/events\/no-such-group" not found/);
  });
});
