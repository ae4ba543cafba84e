/**
 * What the reaper function writes besides its result: structured log lines (Powertools Logger) carrying the
 * request id, cold start, cluster and run id, with credentials redacted; and the pass's metrics in Embedded
 * Metric Format (Powertools Metrics), parsed back here and checked against the pass's own report.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startStandin, type RunningStandin } from '../standin/src/server.ts';
import type { PassResult } from '../src/service/lambda/runtime.ts';
import { membersNotCovered, publishPassMetrics } from '../src/service/lambda/metrics.ts';
import type { RunReport } from '../src/pass/pass.ts';
import type { MemberCoverage } from '../src/pass/ports.ts';

const fixture = (name: string) => JSON.parse(readFileSync(new URL(`./events/${name}`, import.meta.url), 'utf8'));
const context = { getRemainingTimeInMillis: () => 60_000, awsRequestId: 'req-observability-1', functionName: 'session-reaper-test' };

let standin: RunningStandin;
let handler: (typeof import('../functions/reaper.ts'))['handler'];
let close: () => Promise<void>;
const savedEnv = { ...process.env };

before(async () => {
  standin = await startStandin({ params: { auth: true }, users: ['reaper:s3cret-pw:root'] });
  Object.assign(process.env, { MONGODB_URI: standin.uriFor('reaper', 's3cret-pw'), REAPER_AUDIT: `file:${join(mkdtempSync(join(tmpdir(), 'observability-')), 'audit.jsonl')}`, DRY_RUN: 'true', REAPER_CLUSTER: 'orders' });
  ({ handler, close } = await import('../functions/reaper.ts'));
});
after(async () => {
  await close?.();
  process.env = savedEnv;
  await standin?.stop();
});

/** Runs fn with process.stdout captured: the JSON lines written meanwhile. */
async function captured<T>(fn: () => Promise<T>): Promise<{ value: T; lines: Record<string, any>[] }> {
  const lines: Record<string, any>[] = [];
  const write = process.stdout.write;
  process.stdout.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    if (typeof chunk === 'string') {
      for (const l of chunk.split('\n')) {
        if (!l.startsWith('{')) continue;
        try {
          lines.push(JSON.parse(l));
        } catch {
          // not one of ours (the test runner's own output)
        }
      }
    }
    return (write as (...a: unknown[]) => boolean).call(process.stdout, chunk, ...rest);
  }) as typeof process.stdout.write;
  try {
    return { value: await fn(), lines };
  } finally {
    process.stdout.write = write;
  }
}

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
  assert.equal(perCluster.SessionsKilled, value.counts.killed);
  assert.equal(perCluster.KillsPlanned, value.counts.planned);
  assert.equal(perCluster.AuditEventsUndelivered, value.auditFailed);
  assert.equal(perCluster.PassFailed, 0);
  assert.equal(perCluster.MembersNotCovered, 0, 'a standalone: every member read');
  assert.ok(Number.isFinite(perCluster.PassDuration));
  const fleet = emf.find((l) => l.cluster === undefined && l.AuditEventsUndelivered !== undefined);
  assert.ok(fleet, 'a fleet-wide copy for the alarms');
  assert.deepEqual(fleet._aws.CloudWatchMetrics[0].Dimensions, [['service']]);
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
