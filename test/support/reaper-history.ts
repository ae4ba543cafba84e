/**
 * A real audit trail: the demo workload on the stand-in (access control on, least-privilege reaper
 * user) and three passes with the default policies at demo thresholds (and protectUnknownApplications 0, so
 * that the cursor-only session, whose application is unknown, is a kill too), each publishing to the sink
 * the caller gives (e.g. EventBridge on moto, a file, memory):
 *   1. a dry run: 3 kills planned, 2 kills skipped (protected backup tool, prepared transaction);
 *   2. a real pass while the server fails killSessions (a failCommand fail point): 3 kills failed;
 *   3. a real pass: 3 sessions killed.
 * Each pass also ends with its run summary. The backup tool's operation lasts 5 s, so on a loaded
 * machine a later pass may no longer see it (and skip it): 15 to 18 events in all. Tests count what
 * they expect from the events the sinks received, not from this list.
 */
import { MongoClient } from 'mongodb';
import { MongoAdapter } from '../../src/adapters/mongodb/adapter.ts';
import type { AuditSink } from '../../src/pass/audit/sink.ts';
import { DEFAULT_POLICIES_DIR } from '../../src/service/config.ts';
import { startWorkload } from '../../src/demo/workload.ts';
import { DEMO_THRESHOLDS } from '../../src/demo/thresholds.ts';
import { runPass, type PassOptions, type RunReport } from '../../src/pass/pass.ts';
import { loadPolicySet } from '../../src/pass/policy/load.ts';
import { startStandin } from '../../standin/src/server.ts';
import { ManualClock } from '../../standin/src/clock.ts';

export const REAL_CLUSTER = 'e2e-audit';

export interface RealHistory {
  reports: RunReport[];
  /** What each client of the workload saw once the passes were over. */
  outcomes: Record<string, string>;
}

export async function recordRealPasses(sink: AuditSink): Promise<RealHistory> {
  // One clock for the stand-in and the passes: the workload ages past the demo thresholds (1-2 s) without waiting.
  const clock = new ManualClock();
  const standin = await startStandin({ params: { auth: true }, users: ['admin:admin-secret:root'], clock });
  const adminUri = standin.uriFor('admin', 'admin-secret');
  const workload = await startWorkload({ adminUri, uriFor: (u, p) => standin.uriFor(u, p) });
  const admin = new MongoClient(adminUri);
  let mongo: MongoAdapter | undefined;
  try {
    await admin.connect();
    clock.advance(3000);
    const policy = await loadPolicySet(DEFAULT_POLICIES_DIR, { overrides: { ...DEMO_THRESHOLDS, protectUnknownApplications: 0 } });
    mongo = await MongoAdapter.connect(workload.reaperUri);
    const options: PassOptions = {
      cluster: REAL_CLUSTER, trigger: { type: 'cli', name: 'audit-review-test' }, dryRun: true, maxKills: 100, maxKillShare: 1,
      batchSize: 100, concurrency: 2, source: 'mongodb.session-reaper', now: () => clock.now(),
    };
    const reports: RunReport[] = [];
    reports.push(await runPass(mongo, policy, sink, options));
    await admin.db('admin').command({ configureFailPoint: 'failCommand', mode: { times: 1 }, data: { failCommands: ['killSessions'], errorCode: 13 } });
    reports.push(await runPass(mongo, policy, sink, { ...options, dryRun: false }));
    reports.push(await runPass(mongo, policy, sink, { ...options, dryRun: false }));
    const outcomes = await workload.outcomes();
    return { reports, outcomes };
  } finally {
    await mongo?.close();
    await admin.close();
    await workload.close();
    await standin.stop();
  }
}
