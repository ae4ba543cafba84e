/**
 * End to end: one reaping pass, as a reaper user holding only the least-privilege role
 * (inprog, listSessions, killop, killAnySession), against a server with access control, through real
 * driver connections. Runs on the stand-in, and also on a real server when MONGODB_URI is set.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MongoAdapter } from '../src/adapters/mongodb/adapter.ts';
import { InMemoryAuditSink } from '../src/adapters/audit-sinks.ts';
import { validateAuditDetail } from '../src/pass/audit/schema.ts';
import { DEFAULT_POLICIES_DIR } from '../src/service/config.ts';
import { startWorkload, type Workload } from '../src/demo/workload.ts';
import { DEMO_THRESHOLDS } from '../src/demo/thresholds.ts';
import { runPass, type PassOptions, type RunReport } from '../src/pass/pass.ts';
import { loadPolicySet } from '../src/pass/policy/load.ts';
import { PolicyError } from '../src/util/errors.ts';
import { needsAuth, startTarget, targetKinds, targetNotice, type Target } from '../standin/test/target.ts';

function options(overrides: Partial<PassOptions> = {}): PassOptions {
  return {
    cluster: 'e2e', trigger: { type: 'cli' }, dryRun: false, maxKills: 100, maxKillShare: 1, batchSize: 100, concurrency: 2,
    source: 'mongodb.session-reaper', ...overrides,
  };
}

test('end-to-end target', (t) => {
  t.diagnostic(targetNotice());
});

for (const kind of targetKinds()) {
  describe(`a reaping pass with the default policies (${kind})`, () => {
    let target: Target;
    let workload: Workload;
    let report: RunReport;
    let sink: InMemoryAuditSink;
    let seen: Record<string, string>;

    before(async () => {
      // Prepare: the demo workload, idle or running for ~3 s, and the default policies at demo thresholds.
      target = await startTarget(kind, { auth: true, manualClock: true });
      if (!target.auth) return;
      workload = await startWorkload({ adminUri: target.adminUri, uriFor: (u, p) => target.standin ? target.standin.uriFor(u, p) : target.adminUri.replace(/\/\/[^@]*@/, `//${u}:${p}@`) });
      await target.letTimePass(3000);
      const policy = await loadPolicySet(DEFAULT_POLICIES_DIR, { overrides: DEMO_THRESHOLDS });
      sink = new InMemoryAuditSink();
      const mongo = await MongoAdapter.connect(workload.reaperUri);
      // Act
      try {
        report = await runPass(mongo, policy, sink, options({ now: target.now }));
      } finally {
        await mongo.close();
      }
      seen = await workload.outcomes();
    });
    after(async () => {
      await workload?.close();
      await target?.stop();
    });

    test('the runaway operation is interrupted: its client sees 11601', (t) => {
      if (needsAuth(t, target)) return;
      assert.equal(seen['reporting-job (bob) running query'], '11601 Interrupted');
    });

    test('the idle transaction is aborted: its commit gets 251', (t) => {
      if (needsAuth(t, target)) return;
      assert.equal(seen['orders-api (alice) commitTransaction'], '251 NoSuchTransaction');
    });

    test('the stale cursor of a session seen only through its cursor survives: its application is unknown', (t) => {
      if (needsAuth(t, target)) return;
      // $currentOp idle cursors carry no appName: the session's application cannot be checked, so it is protected.
      assert.equal(seen['analytics (carol) getMore'], 'ok');
      const carol = report.decisions.find((d) => d.user === 'carol@admin');
      assert.equal(carol?.rule, 'application-unknown');
      assert.equal(carol?.appName, null);
      assert.match(carol?.why ?? '', /kill rule "stale-cursor-session" also matched/);
    });

    test('the backup tool and the prepared transaction survive', (t) => {
      if (needsAuth(t, target)) return;
      assert.equal(seen['mongodump (backup) running dump'], 'ok');
      assert.equal(seen['payments (dave) prepared transaction'], 'ok (still prepared)');
      // A protection that overrode a kill rule is a skipped kill, in the row as in the audit, with both rules in why.
      const protections = report.decisions.filter((d) => d.action === 'protect');
      for (const rule of ['atlas-agents-and-backup', 'prepared-transaction']) {
        const row = protections.find((d) => d.rule === rule);
        assert.ok(row, `a decision by protect rule ${rule}`);
        assert.equal(row.outcome, 'skipped');
        assert.match(row.why ?? '', new RegExp(`^protected by rule "${rule}" .*; kill rule "[a-z-]+" also matched$`));
      }
    });

    test('the reaper\'s own session survives and is reported as protected', (t) => {
      if (needsAuth(t, target)) return;
      const own = report.decisions.find((d) => d.rule === 'reaper-self');
      assert.ok(own, 'the reaper saw its own session');
      assert.equal(own.outcome, 'protected');
      assert.equal(report.error, null);
    });

    test('exactly two kills in one killSessions call, each with exactly one "Session Killed" event', (t) => {
      if (needsAuth(t, target)) return;
      const killed = report.decisions.filter((d) => d.outcome === 'killed');
      assert.deepEqual(killed.map((d) => d.rule).sort(), ['idle-transaction', 'runaway-operation']);
      assert.equal(report.counts.killSessionsCalls, 1);
      const killedEvents = sink.events.filter((e) => e.detailType === 'Session Killed');
      assert.equal(killedEvents.length, 2);
      for (const d of killed) {
        assert.equal(killedEvents.filter((e) => e.detail.kind === 'decision' && e.detail.session?.id === d.sessionId && e.detail.session.uid === d.uid).length, 1);
      }
      assert.equal(sink.events.filter((e) => e.detailType === 'Reaper Run Completed').length, 1);
      for (const e of sink.events) assert.deepEqual(validateAuditDetail(e.detail), [], 'every event matches the published schema');
    });

    test('verification finds nothing of the killed sessions still running', (t) => {
      if (needsAuth(t, target)) return;
      assert.deepEqual(report.stillRunning, []);
    });
  });

  describe(`safety gates end to end (${kind})`, () => {
    let target: Target;
    let workload: Workload;
    before(async () => {
      target = await startTarget(kind, { auth: true, manualClock: true });
      if (!target.auth) return;
      workload = await startWorkload({ adminUri: target.adminUri, uriFor: (u, p) => target.standin ? target.standin.uriFor(u, p) : target.adminUri.replace(/\/\/[^@]*@/, `//${u}:${p}@`) });
      await target.letTimePass(3000);
    });
    after(async () => {
      await workload?.close();
      await target?.stop();
    });

    const pass = async (opts: Partial<PassOptions>, sink = new InMemoryAuditSink(), dir = DEFAULT_POLICIES_DIR) => {
      const policy = await loadPolicySet(dir, { overrides: DEMO_THRESHOLDS });
      const mongo = await MongoAdapter.connect(workload.reaperUri);
      try {
        return { report: await runPass(mongo, policy, sink, options({ now: target.now, ...opts })), sink };
      } finally {
        await mongo.close();
      }
    };

    test('dry-run kills nothing and audits every planned kill', async (t) => {
      if (needsAuth(t, target)) return;
      // Act
      const { report, sink } = await pass({ dryRun: true });
      // Assess
      assert.equal(report.counts.killed, 0);
      assert.equal(report.counts.killSessionsCalls, 0);
      assert.equal(report.counts.planned, 2);
      assert.equal(sink.events.filter((e) => e.detailType === 'Session Kill Planned').length, 2);
      assert.equal(sink.events.filter((e) => e.detailType === 'Session Killed').length, 0);
    });

    test('over the max-kills cap the pass turns report-only: nothing is killed, every kill is audited as skipped', async (t) => {
      if (needsAuth(t, target)) return;
      // Act
      const { report, sink } = await pass({ maxKills: 1 });
      // Assess
      assert.equal(report.reportOnly, true);
      assert.match(report.reportOnlyReason ?? '', /exceed --max-kills 1/);
      assert.equal(report.counts.killSessionsCalls, 0);
      const skipped = sink.events.filter((e) => e.detailType === 'Session Kill Skipped' && e.detail.kind === 'decision' && e.detail.action === 'kill');
      assert.equal(skipped.length, 2);
      const summary = sink.events.find((e) => e.detailType === 'Reaper Run Completed');
      assert.equal(summary?.detail.kind === 'run' && summary.detail.reportOnly, true);
    });

    test('a bad policy aborts before anything is killed', async (t) => {
      if (needsAuth(t, target)) return;
      // Prepare
      const dir = mkdtempSync(join(tmpdir(), 'bad-policy-'));
      const good = JSON.parse(readFileSync(join(DEFAULT_POLICIES_DIR, 'default.json'), 'utf8'));
      good.rules.push({ name: 'broken', conditions: { all: [{ fact: 'noSuchFact', operator: 'equal', value: 1 }] }, event: { type: 'kill', params: { reason: 'x' } } });
      writeFileSync(join(dir, 'default.json'), JSON.stringify(good));
      // Act
      const attempt = loadPolicySet(dir);
      // Assess
      await assert.rejects(attempt, (e: Error) => e instanceof PolicyError && /noSuchFact/.test(e.message) && /broken/.test(e.message));
      // The clients still hold what they held: a dry run sees the same two candidates.
      const { report } = await pass({ dryRun: true });
      assert.equal(report.counts.planned, 2);
    });
  });
}
