/**
 * The fleet benchmark's clusters: one stand-in per cluster, all in this process (as servers would be, apart
 * from the reaper's process), each behind a simulated network (replyLatencyMs per reply) and seeded with the
 * benchmarks' inventory (bench/standin-process.ts). Prints {"name": uri, ...} as one JSON line, then serves until SIGTERM.
 *
 *   node bench/.build/fleet-standins.mjs '{"names":["d0","d1"],"sessions":2000,"latencyMs":30}'
 */
import { startStandin, type RunningStandin } from '../standin/src/server.ts';
import { seed } from './standin-process.ts';

const { names, sessions, latencyMs } = JSON.parse(process.argv[2]!) as { names: string[]; sessions: number; latencyMs: number };
const standins: RunningStandin[] = [];
const uris: Record<string, string> = {};
for (const name of names) {
  // The workload's transactions must outlive the run (the default 60 s lifetime would abort them mid-benchmark).
  const s = await startStandin({ replyLatencyMs: latencyMs, params: { transactionLifetimeLimitSeconds: 86_400, maxSessions: sessions + 10_000 } });
  standins.push(s);
  await seed(s.uri, sessions);
  uris[name] = s.uri;
}
process.stdout.write(`${JSON.stringify(uris)}\n`);
process.on('SIGTERM', () => {
  void Promise.all(standins.map((s) => s.stop())).then(() => process.exit(0));
});
