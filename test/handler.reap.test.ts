/**
 * functions/reap.ts, invoked with the real scheduled-event fixture against the stand-in: configuration
 * from the environment validated at start-up, one pass per invocation, the client reused, bad triggers
 * refused before anything is read or killed.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startStandin, type RunningStandin } from '../standin/src/server.ts';
import { ConfigError } from '../src/errors.ts';

const fixture = JSON.parse(readFileSync(new URL('./events/scheduled-event.json', import.meta.url), 'utf8'));
const context = (ms = 60_000) => ({ getRemainingTimeInMillis: () => ms, awsRequestId: 'test-request' });

let standin: RunningStandin;
let auditFile: string;
let handler: (typeof import('../functions/reap.ts'))['handler'];
let close: () => Promise<void>;
const savedEnv = { ...process.env };

before(async () => {
  standin = await startStandin();
  auditFile = join(mkdtempSync(join(tmpdir(), 'reap-handler-')), 'audit.jsonl');
  Object.assign(process.env, { MONGODB_URI: standin.uri, REAPER_AUDIT: `file:${auditFile}`, DRY_RUN: 'true', REAPER_CLUSTER: 'handler-test' });
  ({ handler, close } = await import('../functions/reap.ts'));
});
after(async () => {
  await close?.();
  process.env = savedEnv;
  await standin?.stop();
});

test('a scheduled event runs one pass and audits its summary', async () => {
  // Act
  const result = await handler(fixture, context());
  // Assess
  assert.equal(result.error, null);
  assert.equal(result.dryRun, true);
  assert.ok(result.counts.sessions >= 1, 'the reaper saw at least its own session');
  const lines = readFileSync(auditFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const summary = lines.find((l) => l['detail-type'] === 'Reaper Run Completed' && l.detail.runId === result.runId);
  assert.ok(summary, 'the run summary is in the audit file');
  assert.equal(summary.detail.trigger.type, 'schedule');
  assert.equal(summary.detail.trigger.name, fixture.resources[0]);
  assert.equal(summary.detail.cluster, 'handler-test');
});

test('EventBridge Scheduler input {} and {dryRun} are accepted', async () => {
  assert.equal((await handler({}, context())).error, null);
  assert.equal((await handler({ dryRun: true }, context())).dryRun, true);
});

test('an event that is not a schedule is refused with a message saying what to send', async () => {
  await assert.rejects(handler({ ...fixture, source: 'my.app' }, context()), /must come from aws.events or aws.scheduler/);
  await assert.rejects(handler({ cluster: 'x', dryRun: 'yes' } as never, context()), /"dryRun" in the scheduler input must be true or false/);
  await assert.rejects(handler([] as never, context()), /not a scheduled event/);
});

test('an invalid configuration fails at start-up, naming the setting', async () => {
  // Prepare
  const { createReaper } = await import('../src/app.ts');
  // Act + Assess
  await assert.rejects(createReaper({ MONGODB_URI: standin.uri, REAPER_MAX_KILLS: 'lots' }, console), (e: Error) => e instanceof ConfigError && /REAPER_MAX_KILLS/.test(e.message));
  await assert.rejects(createReaper({}, console), (e: Error) => e instanceof ConfigError && /MONGODB_URI/.test(e.message));
  await assert.rejects(createReaper({ MONGODB_URI: standin.uri, REAPER_AUDIT: 'eventbridge' }, console), (e: Error) => e instanceof ConfigError && /AUDIT_EVENT_BUS_NAME/.test(e.message));
});
