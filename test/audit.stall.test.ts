/**
 * Issue 14, finding 1: an EventBridge endpoint that accepts connections and never answers (or answers
 * the first request only) must not hold the audit, nor the pass: what is not delivered by the audit's
 * deadline is logged in full, counted, and the CLI exits 3. Against a local stalling endpoint (the real
 * SDK, signing and HTTP), first the sink alone, then the `session-reaper run` command over the stand-in.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { MongoClient } from 'mongodb';
import { createEventBridgeClient, EventBridgeAuditSink } from '../src/adapters/eventbridge.ts';
import { decisionEvent } from '../src/pass/audit/builder.ts';
import type { AuditEvent } from '../src/pass/audit/events.ts';
import { startStandin, type RunningStandin } from '../standin/src/server.ts';
import { startStallingEndpoint, type StallingEndpoint } from './support/stalling-putevents.ts';
import { seedIdleTransactions } from './support/idle-transactions.ts';
import { undeliveredEvents } from './support/undelivered-log.ts';

const BIN = fileURLToPath(new URL('../bin/session-reaper.mjs', import.meta.url));
const AWS_ENV = { AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test', NODE_NO_WARNINGS: '1' };
/** Not a timing assertion: only a stop for the old behaviour, which hung for good. */
const HANG_GUARD = { timeout: 120_000 };

function killedEvent(n: number): AuditEvent {
  return decisionEvent(
    { source: 'mongodb.session-reaper', runId: 'run-1', cluster: 'c', trigger: { type: 'cli' }, dryRun: false, now: () => new Date() },
    {
      target: 'session', operation: null, rule: 'idle-transaction', action: 'kill', reason: 'idle', facts: { txnInactiveSeconds: 100 }, outcome: 'killed',
      session: { id: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`, uid: 'a'.repeat(64), user: 'app@admin', appName: 'orders', client: '' },
    },
  );
}

function recordingLogger() {
  const errors: string[] = [];
  return { errors, logger: { error: (m: string) => void errors.push(m), warn: () => {} } };
}

describe('EventBridgeAuditSink against a stalled endpoint', () => {
  let stalled: StallingEndpoint;
  before(async () => {
    stalled = await startStallingEndpoint(0);
  });
  after(() => stalled.stop());

  it('resolves by its deadline with every event failed and logged in full (endpoint never answers)', HANG_GUARD, async () => {
    // Prepare
    stalled.answer(0);
    const client = createEventBridgeClient({ endpoint: stalled.endpoint, region: 'us-east-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } });
    const { errors, logger } = recordingLogger();
    const sink = new EventBridgeAuditSink({ client, eventBusName: 'bus', logger });
    const input = Array.from({ length: 25 }, (_, i) => killedEvent(i));

    // Act
    const result = await sink.publish(input, { deadlineMs: Date.now() + 500 });
    client.destroy();

    // Assess
    assert.equal(result.sent, 0);
    assert.equal(result.failed.length, 25);
    for (const f of result.failed) assert.match(f.error, /not delivered before the audit deadline .*: the PutEvents request had not completed/);
    assert.deepEqual(errors.map((l) => JSON.parse(l).event.detail), input.map((e) => e.detail));
  });

  it('delivers what was answered and logs the rest (endpoint answers the first request only)', HANG_GUARD, async () => {
    // Prepare
    stalled.answer(1);
    stalled.delivered.length = 0;
    const client = createEventBridgeClient({ endpoint: stalled.endpoint, region: 'us-east-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } });
    const { errors, logger } = recordingLogger();
    const sink = new EventBridgeAuditSink({ client, eventBusName: 'bus', logger, concurrency: 1 });
    const input = Array.from({ length: 25 }, (_, i) => killedEvent(i));

    // Act: time enough for the first request to be answered on a loaded machine.
    const result = await sink.publish(input, { deadlineMs: Date.now() + 3_000 });
    client.destroy();

    // Assess
    assert.equal(result.sent, 10);
    assert.equal(stalled.delivered.length, 10);
    assert.deepEqual(result.failed.map((f) => f.event), input.slice(10));
    assert.deepEqual(errors.map((l) => JSON.parse(l).event.detail), input.slice(10).map((e) => e.detail));
  });
});

describe('EventBridgeAuditSink with many requests in flight under a deadline', () => {
  it('delivers everything and raises no listener-leak warning for the shared abort signal', HANG_GUARD, async () => {
    // Prepare
    const endpoint = await startStallingEndpoint(Infinity);
    const client = createEventBridgeClient({ endpoint: endpoint.endpoint, region: 'us-east-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } });
    const sink = new EventBridgeAuditSink({ client, eventBusName: 'bus', concurrency: 16 });
    const warnings: string[] = [];
    const onWarning = (w: Error) => void warnings.push(`${w.name}: ${w.message}`);
    process.on('warning', onWarning);

    // Act
    const result = await sink.publish(Array.from({ length: 400 }, (_, i) => killedEvent(i)), { deadlineMs: Date.now() + 60_000 });
    await new Promise((resolve) => setImmediate(resolve));
    process.off('warning', onWarning);
    client.destroy();
    await endpoint.stop();

    // Assess
    assert.deepEqual([result.sent, result.failed.length, endpoint.delivered.length], [400, 0, 400]);
    assert.deepEqual(warnings.filter((w) => /MaxListeners/.test(w)), []);
  });
});

interface Run {
  code: number | null;
  stderr: string;
}

function cli(args: string[], env: Record<string, string>): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, MONGODB_URI: '', ...AWS_ENV, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code, stderr }));
  });
}


describe('session-reaper run with EventBridge stalled after 150 kills', () => {
  let standin: RunningStandin;
  let client: MongoClient;
  let endpoint: StallingEndpoint;
  before(async () => {
    standin = await startStandin({ params: { transactionLifetimeLimitSeconds: 86_400 } });
    client = new MongoClient(standin.uri);
    await client.connect();
    endpoint = await startStallingEndpoint(0);
  });
  after(async () => {
    await client?.close();
    await endpoint?.stop();
    await standin?.stop();
  });

  /** `auditTimeout`: long enough, for the half-stalled endpoint, to have the first request answered on a loaded machine. */
  // One run per test: the idle rule kills on its first sighting (--min-sightings 1).
  const run = (auditTimeout: number) => cli(
    ['run', '--uri', standin.uri, '--audit', 'eventbridge:bus', '--max-kill-share', '1', '--batch-size', '10', '--min-sightings', '1'],
    { AWS_ENDPOINT_URL_EVENTBRIDGE: endpoint.endpoint, REAPER_AUDIT_TIMEOUT_SECONDS: String(auditTimeout) },
  );

  it('an endpoint that never answers: the pass completes, all 151 events are logged in full, exit 3', HANG_GUARD, async () => {
    // Prepare
    await seedIdleTransactions(client, 150, 1);
    endpoint.answer(0);

    // Act
    const { code, stderr } = await run(1);

    // Assess
    assert.equal(code, 3, stderr.slice(-2000));
    const logged = undeliveredEvents(stderr);
    assert.equal(logged.filter((e) => e.detailType === 'Session Killed').length, 150);
    const summary = logged.find((e) => e.detailType === 'Reaper Run Completed');
    assert.ok(summary, 'the run summary is logged too');
    assert.deepEqual(summary.detail.audit, { events: 150, undelivered: 150 });
    assert.match(stderr, /session-reaper run: 151 of 151 audit events could not be delivered; each is logged above with its content/);
  });

  it('an endpoint that answers the first request only: 10 delivered, the other 141 logged in full, exit 3', HANG_GUARD, async () => {
    // Prepare
    await seedIdleTransactions(client, 150, 2);
    endpoint.answer(1);
    endpoint.delivered.length = 0;

    // Act
    const { code, stderr } = await run(4);

    // Assess
    assert.equal(code, 3, stderr.slice(-2000));
    const logged = undeliveredEvents(stderr);
    assert.equal(endpoint.delivered.length, 10);
    assert.equal(logged.length, 141);
    const sessionOf = (d: Record<string, unknown>) => (d.session as { id: string } | null)?.id;
    const killed = new Set([...endpoint.delivered, ...logged.map((e) => e.detail)].filter((d) => d.outcome === 'killed').map(sessionOf));
    assert.equal(killed.size, 150, 'every kill is delivered or logged');
    assert.deepEqual(logged.find((e) => e.detailType === 'Reaper Run Completed')?.detail.audit, { events: 150, undelivered: 140 });
    assert.match(stderr, /141 of 151 audit events could not be delivered/);
  });
});
