/**
 * The deployed entry point, functions/reaper.ts, with every trigger's fixture, against two clusters:
 * "orders" (the stand-in with access control and the demo workload, reached as the least-privilege
 * reaper user) and "billing" (a second stand-in). The cluster named in the trigger selects the
 * connection string and the policy set; manual kills go through the whole pipeline and its audit;
 * bad payloads, OK alarms and replays kill nothing and start no pass.
 */
import { after, before, describe, test } from 'node:test';
import { MongoClient } from 'mongodb';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startStandin, type RunningStandin } from '../standin/src/server.ts';
import { LaggingClock } from '../standin/src/clock.ts';
import { DEFAULT_POLICIES_DIR } from '../src/service/config.ts';
import { DEMO_THRESHOLDS } from '../src/demo/thresholds.ts';
import { startWorkload, type Workload } from '../src/demo/workload.ts';
import { InvalidTriggerError, PassInProgressError } from '../src/util/errors.ts';
import { RESULT_MAX_ROWS, type PassResult } from '../src/service/lambda/runtime.ts';
import { MANUAL_KILL_RULE } from '../src/service/manual-request.ts';
import type { ManualResult } from '../src/service/handlers/manual.ts';

const fixture = (name: string) => JSON.parse(readFileSync(new URL(`./events/${name}`, import.meta.url), 'utf8'));
const context = { getRemainingTimeInMillis: () => 60_000, awsRequestId: 'req-1' };

let orders: RunningStandin;
let billing: RunningStandin;
let workload: Workload;
let auditFile: string;
let handler: (typeof import('../functions/reaper.ts'))['handler'];
let close: () => Promise<void>;
const savedEnv = { ...process.env };

const audit = () => readFileSync(auditFile, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));

before(async () => {
  // Prepare: the workload idle or running for 3 s (the stand-in's clock starts 3 s behind and catches up: the
  // module-scoped reaper reads the real clock), and a "demo" policy set with thresholds in seconds that lets
  // the kill rules act on sessions whose application is unknown.
  const clock = new LaggingClock(3000);
  orders = await startStandin({ params: { auth: true }, users: ['admin:admin-secret:root'], clock });
  billing = await startStandin();
  workload = await startWorkload({ adminUri: orders.uriFor('admin', 'admin-secret'), uriFor: (u, p) => orders.uriFor(u, p) });
  auditFile = join(mkdtempSync(join(tmpdir(), 'reaper-handler-')), 'audit.jsonl');
  Object.assign(process.env, {
    REAPER_CLUSTERS: JSON.stringify({ orders: { uriEnv: 'ORDERS_URI' }, billing: { uriEnv: 'BILLING_URI' } }),
    ORDERS_URI: workload.reaperUri,
    BILLING_URI: billing.uri,
    // The cursor-only session's application is unknown (idle cursors carry no appName); the demo set lifts that
    // protection, so the alarm below still has its stale cursor to kill.
    REAPER_POLICY_SETS: JSON.stringify({
      demo: { dir: DEFAULT_POLICIES_DIR, parameters: { ...DEMO_THRESHOLDS, protectUnknownApplications: 0 } },
      // For billing's bulk sessions: the idle rules act on a first sighting.
      firstSighting: { dir: DEFAULT_POLICIES_DIR, parameters: { minSightings: 1 } },
    }),
    REAPER_ALARMS: JSON.stringify({ 'orders-tickets-exhausted': { cluster: 'orders', policySet: 'demo' } }),
    REAPER_AUDIT: `file:${auditFile}`,
  });
  delete process.env.MONGODB_URI;
  delete process.env.DRY_RUN;
  ({ handler, close } = await import('../functions/reaper.ts'));
  clock.skip(3000);
});
after(async () => {
  await close?.();
  await workload?.close();
  process.env = savedEnv;
  await orders?.stop();
  await billing?.stop();
});

describe('the reaper function, trigger by trigger', () => {

  test('schedules: the cluster in the input selects its connection string and policy set', async () => {
    // Act
    const onBilling = await handler({ kind: 'schedule', cluster: 'billing' }, context) as PassResult;
    const onOrders = await handler(fixture('scheduler-input.json'), context) as PassResult;
    // Assess
    assert.deepEqual([onBilling.cluster, onBilling.error, onBilling.counts.sessions], ['billing', null, 1], 'billing has only the reaper\'s own session');
    assert.equal(onOrders.cluster, 'orders');
    assert.ok(onOrders.counts.sessions >= 6, `orders has the workload's sessions (${onOrders.counts.sessions})`);
    assert.equal(onOrders.counts.killed, 0, 'the default thresholds are minutes: nothing is stale yet');
    const summaries = audit().filter((e) => e['detail-type'] === 'Reaper Run Completed' && [onBilling.runId, onOrders.runId].includes(e.detail.runId));
    assert.deepEqual(summaries.map((e) => e.detail.cluster), ['billing', 'orders']);
  });

  test('alarms in OK and INSUFFICIENT_DATA, a replayed event and the reaper\'s own event start nothing', async () => {
    // Prepare
    const before = audit().length;
    const own = { ...fixture('audit-event-replayed.json') };
    delete own['replay-name'];
    // Act
    const results = [
      await handler(fixture('alarm-state-change-ok.json'), context),
      await handler(fixture('alarm-state-change-insufficient-data.json'), context),
      await handler(fixture('audit-event-replayed.json'), context),
      await handler(own, context),
    ];
    // Assess
    for (const r of results) assert.ok('ignored' in r, JSON.stringify(r));
    assert.equal(audit().length, before, 'no pass ran');
  });

  test('invalid manual payloads are refused with a clear error, and nothing is read or killed', async () => {
    const before = audit().length;
    await assert.rejects(handler(fixture('manual-invalid-session-id.json'), context), (e: Error) => e instanceof InvalidTriggerError && /"sessionIds\[0\]" must be a UUID/.test(e.message));
    await assert.rejects(handler(fixture('manual-invalid-no-reason.json'), context), (e: Error) => e instanceof InvalidTriggerError && /"reason" is missing/.test(e.message));
    await assert.rejects(handler({ ...fixture('manual-run-policy-set.json'), policySet: 'lenient' }, context), /no policy set "lenient"/);
    await assert.rejects(handler({ ...fixture('manual-kill-sessions.json'), cluster: 'nope' }, context), /cluster "nope", which is not configured/);
    assert.equal(audit().length, before);
  });

  test('a manual run-policy-set lists at most RESULT_MAX_ROWS decisions, those that act first, and counts the rest', async () => {
    // Prepare: 700 sessions, 150 of them in a transaction idle for 300-600 s (past the default 60 s; 21% of the
    // sessions, under the default 25% kill share).
    const admin = new MongoClient(billing.uri);
    await admin.db('admin').command({
      standinBulkCreateSessions: 700, users: [{ user: 'app', db: 'admin' }], appNames: ['orders-api'], seed: 7,
      lastUseAgeSeconds: { min: 300, max: 600 }, idleTransactions: 150, txnInactiveSeconds: { min: 300, max: 600 },
    });
    await admin.close();
    // Act
    const result = await handler({ ...fixture('manual-run-policy-set.json'), cluster: 'billing', policySet: 'firstSighting' }, context) as ManualResult;
    // Assess: the response (and its log line) stays bounded whatever the cluster's size; the audit has every decision.
    assert.equal(result.counts.planned, 150);
    assert.equal(result.decisions.length, RESULT_MAX_ROWS);
    assert.ok(result.counts.decisions > 150, 'the planned kills and at least one protection');
    assert.equal(result.decisionsNotListed, result.counts.decisions - RESULT_MAX_ROWS);
    assert.ok(result.decisions.every((d) => d.outcome === 'planned'), 'the planned kills are listed before the protections');
    assert.equal(audit().filter((e) => e['detail-type'] === 'Session Kill Planned' && e.detail.runId === result.runId).length, 150);
  });

  test('a second pass for the same cluster does not start while one runs', async () => {
    // Act: two schedules at once; the first takes the cluster's lease before it awaits anything.
    const [first, second] = await Promise.all([
      handler({ kind: 'schedule', cluster: 'orders' }, context),
      handler({ kind: 'schedule', cluster: 'orders' }, context),
    ]);
    // Assess
    assert.ok('runId' in first);
    assert.ok('skipped' in second && /a pass for cluster "orders" is already running/.test(second.skipped));
    // A manual request is not silently skipped: the operator gets the error.
    const [, manual] = await Promise.allSettled([handler({ kind: 'schedule', cluster: 'orders' }, context), handler(fixture('manual-run-policy-set.json'), context)]);
    assert.ok(manual.status === 'rejected' && manual.reason instanceof PassInProgressError);
  });

  // The kills build on each other (the plan names alice's session, the alarm finds the last victim), so they
  // are the steps of one test: each step runs after the one before it, and no other test depends on them.
  test('manual plan, manual kills and an ALARM pass, in turn: the clients see exactly the kills', async (t) => {
    let aliceSession = '';
    await t.test('manual run-policy-set is a dry run by default: it plans the three kills and audits them as planned', async () => {
      // Act
      const result = await handler({ ...fixture('manual-run-policy-set.json'), policySet: 'demo' }, context) as ManualResult;
      // Assess
      assert.equal(result.dryRun, true);
      assert.deepEqual([result.counts.planned, result.counts.killed], [3, 0]);
      const planned = result.decisions.filter((d) => d.outcome === 'planned');
      assert.deepEqual(planned.map((d) => d.rule).sort(), ['idle-transaction', 'runaway-operation', 'stale-cursor-session']);
      aliceSession = planned.find((d) => d.user === 'alice@admin')!.sessionId;
      assert.equal(audit().filter((e) => e['detail-type'] === 'Session Kill Planned' && e.detail.runId === result.runId).length, 3);
    });

    await t.test('manual kill-sessions kills exactly the named session, audited with the request\'s reason', async () => {
      // Act
      const result = await handler({ ...fixture('manual-kill-sessions.json'), sessionIds: [aliceSession] }, context) as ManualResult;
      // Assess
      assert.deepEqual([result.dryRun, result.counts.killed, result.notFound], [false, 1, []]);
      assert.deepEqual(result.decisions.map((d) => [d.sessionId, d.rule, d.outcome]), [[aliceSession, MANUAL_KILL_RULE, 'killed']]);
      const killed = audit().filter((e) => e['detail-type'] === 'Session Killed' && e.detail.runId === result.runId);
      assert.equal(killed.length, 1);
      assert.equal(killed[0].detail.session.id, aliceSession);
      assert.equal(killed[0].detail.reason, `manual request: ${fixture('manual-kill-sessions.json').reason}`);
      assert.deepEqual(killed[0].detail.trigger, { type: 'manual', name: 'oncall@example.com', id: 'req-1' });
    });

    await t.test('manual kill-user-sessions kills every session of that user and no one else\'s', async () => {
      const result = await handler(fixture('manual-kill-user-sessions.json'), context) as ManualResult;
      assert.ok(result.counts.killed >= 1);
      assert.deepEqual(new Set(result.decisions.filter((d) => d.outcome === 'killed').map((d) => d.user)), new Set(['bob@admin']));
      assert.deepEqual(result.notFound, []);
    });

    await t.test('an ALARM runs the policy set mapped to the alarm: the stale cursor, the last victim, is killed', async () => {
      const result = await handler(fixture('alarm-state-change-alarm.json'), context) as PassResult;
      assert.deepEqual([result.cluster, result.policySet, result.trigger.type, result.trigger.name], ['orders', 'demo', 'alarm', 'orders-tickets-exhausted']);
      const killed = audit().filter((e) => e['detail-type'] === 'Session Killed' && e.detail.runId === result.runId);
      assert.deepEqual(killed.map((e) => e.detail.rule), ['stale-cursor-session']);
    });

    await t.test('the clients saw exactly the kills, and the protected ones survived', async () => {
      const seen = await workload.outcomes();
      assert.equal(seen['orders-api (alice) commitTransaction'], '251 NoSuchTransaction');
      assert.equal(seen['reporting-job (bob) running query'], '11601 Interrupted');
      assert.equal(seen['analytics (carol) getMore'], '43 CursorNotFound');
      assert.equal(seen['mongodump (backup) running dump'], 'ok');
      assert.equal(seen['payments (dave) prepared transaction'], 'ok (still prepared)');
    });
  });
});
