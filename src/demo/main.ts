/**
 * `npm start`: the main job on the embedded stand-in. Starts the MongoDB stand-in as a three-member replica
 * set with access control,
 * drives a demo workload through real driver connections as several users, runs one reaping pass with
 * the default policies at demo thresholds (seconds instead of minutes) as a least-privilege reaper user,
 * prints the decision table and the audit events, then what each client saw.
 */
import { MongoAdapter } from '../adapters/mongodb/adapter.ts';
import { InMemoryAuditSink } from '../adapters/audit-sinks.ts';
import { DEFAULT_POLICIES_DIR } from '../service/config.ts';
import { startWorkload } from './workload.ts';
import { DEMO_THRESHOLDS } from './thresholds.ts';
import { runPass } from '../pass/pass.ts';
import { renderReport } from '../cli/run.ts';
import { loadPolicySet } from '../pass/policy/load.ts';
import { formatTable } from '../util/table.ts';
import { startReplicaSet } from '../../standin/src/replset.ts';
import { DEFAULT_AUDIT_SOURCE, toJsonLines } from '../pass/audit/events.ts';


const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<number> {
  const out = process.stdout;
  // Three members: the reporting job reads from a secondary, as reports do (read preference "secondary").
  const standin = await startReplicaSet({ name: 'demo', members: 3, params: { auth: true }, users: ['admin:admin-secret:root'] });
  out.write(`MongoDB stand-in, a three-member replica set with access control, at ${standin.uri}\n`);
  const workload = await startWorkload({ adminUri: standin.uriFor('admin', 'admin-secret'), uriFor: (u, p) => standin.uriFor(u, p) });
  out.write('workload: orders-api idle transaction, reporting-job runaway query on a secondary, analytics idle cursor, mongodump backup, payments prepared transaction (the others on the primary)\n');
  await sleep(3000);

  const policy = await loadPolicySet(DEFAULT_POLICIES_DIR, { overrides: DEMO_THRESHOLDS });
  const sink = new InMemoryAuditSink();
  const mongo = await MongoAdapter.connect(workload.reaperUri);
  let code = 0;
  try {
    const report = await runPass(mongo, policy, sink, {
      cluster: 'demo', trigger: { type: 'demo' }, dryRun: false, maxKills: 100, maxKillShare: 1, batchSize: 100, concurrency: 2,
      source: DEFAULT_AUDIT_SOURCE, progress: (l) => process.stderr.write(`${l}\n`),
    });
    out.write(`\n${renderReport(report)}\n`);
    out.write(`\naudit events (${sink.events.length}, as EventBridge delivers them):\n${toJsonLines(sink.events)}`);
    const seen = await workload.outcomes();
    out.write(`\nwhat the clients saw:\n${formatTable(Object.entries(seen), [{ header: 'CLIENT', value: (r) => r[0] }, { header: 'RESULT', value: (r) => r[1] }])}\n`);
    if (report.error) code = 1;
  } finally {
    await mongo.close();
    await workload.close();
    await standin.stop();
  }
  return code;
}

process.exitCode = await main();
