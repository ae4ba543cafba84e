/**
 * Issue 14, findings 1 and 3, in the deployed entry point (functions/reaper.ts): a scheduled pass whose
 * EventBridge stalls ends before the invocation's end with every kill logged in full and fails with
 * AuditDeliveryError; a pass whose kills the server refuses fails with KillsFailedError, which carries
 * the failures (the failed-pass alarm counts the failed invocation), and its run summary says which
 * kills failed and why. Against the stand-in and a local PutEvents endpoint.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MongoClient } from 'mongodb';
import { startStandin, type RunningStandin } from '../standin/src/server.ts';
import { AuditDeliveryError, KillsFailedError } from '../src/util/errors.ts';
import { validateAuditDetail } from '../src/pass/audit/schema.ts';
import { startStallingEndpoint, type StallingEndpoint } from './support/stalling-putevents.ts';
import { seedIdleTransactions } from './support/idle-transactions.ts';
import { captured } from './support/json-lines.ts';
import { undeliveredEvents } from './support/undelivered-log.ts';

let standin: RunningStandin;
let client: MongoClient;
let endpoint: StallingEndpoint;
let handler: (typeof import('../functions/reaper.ts'))['handler'];
let close: () => Promise<void>;
const savedEnv = { ...process.env };
/** Not a timing assertion: only a stop for the old behaviour, which hung past the invocation's end. */
const HANG_GUARD = { timeout: 120_000 };

/** A Lambda context whose invocation ends `ms` from now. */
function contextEnding(ms: number) {
  const end = Date.now() + ms;
  return { getRemainingTimeInMillis: () => end - Date.now(), awsRequestId: 'req-audit' };
}

/** What the Lambda logger printed while `fn` ran (captured), and how fn ended. */
const captureLogs = <T>(fn: () => Promise<T>) => captured(() => Promise.allSettled([fn()]).then(([outcome]) => outcome!))
  .then(({ value: outcome, lines }) => ({ outcome, lines }));

before(async () => {
  standin = await startStandin({ params: { transactionLifetimeLimitSeconds: 86_400 } });
  client = new MongoClient(standin.uri);
  await client.connect();
  endpoint = await startStallingEndpoint(Infinity);
  Object.assign(process.env, {
    MONGODB_URI: standin.uri, REAPER_CLUSTER: 'orders', REAPER_AUDIT: 'eventbridge:audit-bus', REAPER_MAX_KILL_SHARE: '1',
    // One pass per test: the idle rule kills on its first sighting.
    REAPER_MIN_SIGHTINGS: '1',
    AWS_ENDPOINT_URL_EVENTBRIDGE: endpoint.endpoint, AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test',
  });
  delete process.env.DRY_RUN;
  delete process.env.REAPER_CLUSTERS;
  ({ handler, close } = await import('../functions/reaper.ts'));
});
after(async () => {
  await close?.();
  process.env = savedEnv;
  await client?.close();
  await endpoint?.stop();
  await standin?.stop();
});

describe('the reaper function when the audit or the kills fail', () => {
  it('EventBridge stalls after 30 kills: the invocation fails with AuditDeliveryError before its end, every kill logged in full', HANG_GUARD, async () => {
    // Prepare
    await seedIdleTransactions(client, 30, 1);
    endpoint.answer(0);

    // Act
    const { lines, outcome } = await captureLogs(() => handler({ kind: 'schedule' }, contextEnding(7_000)));

    // Assess
    assert.equal(outcome.status, 'rejected');
    const error = (outcome as PromiseRejectedResult).reason as Error;
    assert.ok(error instanceof AuditDeliveryError, String(error));
    assert.match(error.message, /31 of 31 audit events were not delivered; each is logged in full above/);
    const logged = undeliveredEvents(lines);
    assert.equal(logged.filter((e) => e.detailType === 'Session Killed').length, 30);
    assert.equal(logged.filter((e) => e.detailType === 'Reaper Run Completed').length, 1);
    for (const e of logged) assert.deepEqual(validateAuditDetail(e.detail), []);
  });

  it('the server refuses every killSessions (13): the invocation fails with KillsFailedError, and the summary says why', HANG_GUARD, async () => {
    // Prepare
    await seedIdleTransactions(client, 20, 2);
    endpoint.answer(Infinity);
    endpoint.delivered.length = 0;
    await client.db('admin').command({ configureFailPoint: 'failCommand', mode: 'alwaysOn', data: { failCommands: ['killSessions'], errorCode: 13 } });

    // Act
    const { outcome } = await captureLogs(() => handler({ kind: 'schedule' }, contextEnding(60_000)));
    await client.db('admin').command({ configureFailPoint: 'failCommand', mode: 'off' });

    // Assess
    assert.equal(outcome.status, 'rejected');
    const error = (outcome as PromiseRejectedResult).reason as KillsFailedError;
    assert.ok(error instanceof KillsFailedError, String(error));
    assert.equal(error.failed, 20);
    assert.equal(error.cluster, 'orders');
    assert.deepEqual(error.failures.map((f) => [f.count, f.error.code, f.error.codeName]), [[20, 13, 'Unauthorized']]);
    assert.match(error.message, /20 kill\(s\) failed \(20 with 13 Unauthorized: /);
    const summary = endpoint.delivered.find((d) => d.kind === 'run' && d.runId === error.runId);
    assert.ok(summary, 'the run summary was delivered');
    assert.deepEqual(validateAuditDetail(summary), []);
    const failures = summary.killFailures as { count: number; error: { code: number }; sessionIds: string[] }[];
    assert.deepEqual(failures.map((f) => [f.count, f.error.code, f.sessionIds.length]), [[20, 13, 20]]);
    const failedEvents = endpoint.delivered.filter((d) => d.runId === error.runId && d.outcome === 'failed');
    assert.deepEqual(new Set(failures[0]!.sessionIds), new Set(failedEvents.map((d) => (d.session as { id: string }).id)));
  });
});
