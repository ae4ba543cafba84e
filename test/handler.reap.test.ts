/**
 * The schedule handler (src/service/handlers/schedule.ts), invoked with the real scheduled-event fixtures against the stand-in: configuration
 * from the environment validated at start-up, one pass per invocation, the client reused, bad triggers
 * refused before anything is read or killed.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startStandin, type RunningStandin } from '../standin/src/server.ts';
import { ConfigError, InvalidTriggerError } from '../src/util/errors.ts';
import type { HandlerResult, InvocationContext, PassResult } from '../src/service/lambda/runtime.ts';

const fixture = (name: string) => JSON.parse(readFileSync(new URL(`./events/${name}`, import.meta.url), 'utf8'));
const context = (ms = 60_000) => ({ getRemainingTimeInMillis: () => ms, awsRequestId: 'test-request' });

let standin: RunningStandin;
let auditFile: string;
let handler: (event: unknown, context: InvocationContext) => Promise<HandlerResult>;
let close: () => Promise<void>;
const savedEnv = { ...process.env };

const auditLines = () => readFileSync(auditFile, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));

before(async () => {
  standin = await startStandin();
  auditFile = join(mkdtempSync(join(tmpdir(), 'reap-handler-')), 'audit.jsonl');
  Object.assign(process.env, { MONGODB_URI: standin.uri, REAPER_AUDIT: `file:${auditFile}`, DRY_RUN: 'true', REAPER_CLUSTER: 'orders' });
  const runtime = await import('../src/service/lambda/runtime.ts');
  const { handleScheduled } = await import('../src/service/handlers/schedule.ts');
  const reaper = await runtime.sharedReaper();
  handler = (event, ctx) => handleScheduled(reaper, event, ctx);
  close = runtime.closeSharedReaper;
});
after(async () => {
  await close?.();
  process.env = savedEnv;
  await standin?.stop();
});

test('a scheduled event runs one pass and audits its summary', async () => {
  // Act
  const result = await handler(fixture('scheduled-event.json'), context()) as PassResult;
  // Assess
  assert.equal(result.error, null);
  assert.equal(result.dryRun, true);
  assert.ok(result.counts.sessions >= 1, 'the reaper saw at least its own session');
  const summary = auditLines().find((l) => l['detail-type'] === 'Reaper Run Completed' && l.detail.runId === result.runId);
  assert.ok(summary, 'the run summary is in the audit file');
  assert.equal(summary.detail.trigger.type, 'schedule');
  assert.equal(summary.detail.trigger.name, fixture('scheduled-event.json').resources[0]);
  assert.equal(summary.detail.cluster, 'orders');
});

test('the EventBridge Scheduler input names the cluster and the policy set', async () => {
  // Act
  const named = await handler(fixture('scheduler-input.json'), context()) as PassResult;
  const strict = await handler({ kind: 'schedule', policySet: 'strict', dryRun: true }, context()) as PassResult;
  const empty = await handler({}, context()) as PassResult;
  // Assess
  assert.deepEqual([named.cluster, named.policySet, named.error], ['orders', 'default', null]);
  assert.deepEqual([strict.cluster, strict.policySet, strict.dryRun], ['orders', 'strict', true]);
  assert.equal(empty.policySet, 'default', 'one cluster: {} is enough');
});

test('DRY_RUN=true is a deployment-wide switch no scheduler input turns off', async () => {
  const result = await handler({ kind: 'schedule', dryRun: false }, context()) as PassResult;
  assert.equal(result.dryRun, true);
});

test('an event that is not a schedule is refused with a message saying what to send, and no pass runs', async () => {
  // Prepare
  const before = auditLines().length;
  // Act + Assess
  await assert.rejects(handler({ ...fixture('scheduled-event.json'), source: 'my.app' }, context()), /the "Scheduled Event"'s "source" must be one of aws.events, aws.scheduler, got "my.app"/);
  await assert.rejects(handler({ cluster: 'orders', dryRun: 'yes' } as never, context()), /the scheduler input's "dryRun" must be true or false/);
  await assert.rejects(handler({ cluster: 'billing' }, context()), (e: Error) => e instanceof InvalidTriggerError && /cluster "billing", which is not configured/.test(e.message));
  await assert.rejects(handler([] as never, context()), /the scheduler input must be an object, got \[\]; send an EventBridge "Scheduled Event"/);
  assert.equal(auditLines().length, before, 'no audit event: no pass ran');
});

test('an invalid configuration fails at start-up, naming the setting', async () => {
  // Prepare
  const { createReaper } = await import('../src/service/app.ts');
  // Act + Assess
  await assert.rejects(createReaper({ MONGODB_URI: standin.uri, REAPER_MAX_KILLS: 'lots' }, console), (e: Error) => e instanceof ConfigError && /REAPER_MAX_KILLS/.test(e.message));
  await assert.rejects(createReaper({}, console), (e: Error) => e instanceof ConfigError && /MONGODB_URI/.test(e.message));
  await assert.rejects(createReaper({ MONGODB_URI: standin.uri, REAPER_AUDIT: 'eventbridge' }, console), (e: Error) => e instanceof ConfigError && /AUDIT_EVENT_BUS_NAME/.test(e.message));
});
