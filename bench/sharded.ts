/**
 * `npm run bench:sharded`: the sharded case of issue #10. The same 100,000 seeded sessions (bench/standin-process.ts)
 * on a single node and on a sharded cluster of 2 shards × 3 members behind one router, half the sessions' activity
 * on each shard, spread over its members (seedShards); one reaping pass in kill mode on each, alternating, REPEATS
 * times; prints the medians side by side, the ratio (target: the sharded pass at most 1.5 times the single-node
 * pass) and, for each sharded pass, the killSessions calls through the router against ceil(kills / batch size)
 * (one killSessions through a router reaches every host of every shard: kill_sessions_remote.cpp). A pass whose
 * calls are not at that floor fails the benchmark.
 *
 *   npm run bench:sharded [-- --sessions N --repeats N --out FILE]
 *   npm run bench:sharded -- --quick      10,000 sessions, one run of each (part of `npm run bench -- --quick`)
 *
 * Times are wall-clock on whatever machine runs it; quote them as medians, side by side, with the load.
 */
import { writeFileSync } from 'node:fs';
import { loadavg, cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { formatTable } from '../src/util/table.ts';
import { DEFAULT_POLICIES_DIR } from '../src/service/config.ts';
import type { CaseResult } from './case.ts';
import { median, sideBySide } from './case-runner.ts';
import { seed, seedShards, startStandinProcess, THRESHOLDS } from './standin-process.ts';

const { values } = parseArgs({ options: { sessions: { type: 'string' }, repeats: { type: 'string' }, quick: { type: 'boolean' }, out: { type: 'string' } } });
const SESSIONS = Number(values.sessions ?? (values.quick ? 10_000 : 100_000));
const REPEATS = Number(values.repeats ?? (values.quick ? 1 : 3));
const OUT = values.out ?? fileURLToPath(new URL('./sharded.json', import.meta.url));
/** Issue #10's target: the sharded pass at most 1.5 times the single-node pass over the same sessions. */
const TARGET_RATIO = 1.5;
/** Sessions per killSessions call, as in the other cases (bench/case.ts's default). */
const BATCH_SIZE = 10_000;
const SHARDS = 2;
const MEMBERS = 3;
type Shape = 'single' | 'sharded';

const runs = await sideBySide<Shape>(['single', 'sharded'], REPEATS, {
  start: (shape) => startStandinProcess(SESSIONS, shape === 'sharded' ? ['--shards', String(SHARDS), '--members', String(MEMBERS)] : []),
  // The same sessions on both: the single node gets the shards' chunks, from the same seeds, one after the other.
  seed: (shape, uri) => (shape === 'sharded' ? seedShards(uri, SESSIONS) : seed(uri, SESSIONS, 1, false, Math.ceil(SESSIONS / SHARDS))),
}, { thresholds: THRESHOLDS, policiesDir: DEFAULT_POLICIES_DIR, batchSize: BATCH_SIZE });

const floor = (r: CaseResult): number => Math.ceil(r.kills / BATCH_SIZE);
const rows = (['single', 'sharded'] as Shape[]).map((shape) => {
  const of = runs.filter((r) => r.shape === shape);
  return {
    shape, totalMs: median(of.map((r) => r.totalMs)), inventoryMs: median(of.map((r) => r.stagesMs.inventory)), killMs: median(of.map((r) => r.stagesMs.kill)),
    verifyMs: median(of.map((r) => r.stagesMs.verify)), kills: of.map((r) => r.kills).join('/'), roundTrips: of.map((r) => r.roundTrips).join('/'),
    killSessions: of.map((r) => `${r.killSessionsCalls} (floor ${floor(r)})`).join(', '),
  };
});
console.log(formatTable(rows, [
  { header: 'DEPLOYMENT', value: (r) => (r.shape === 'single' ? 'single node' : `${SHARDS} shards x ${MEMBERS} members, 1 router`) },
  { header: 'SESSIONS', value: () => SESSIONS },
  { header: 'KILLS (each run)', value: (r) => r.kills },
  { header: 'INVENTORY ms', value: (r) => Math.round(r.inventoryMs) },
  { header: 'KILL ms', value: (r) => Math.round(r.killMs) },
  { header: 'VERIFY ms', value: (r) => Math.round(r.verifyMs) },
  { header: `TOTAL ms (median of ${REPEATS})`, value: (r) => Math.round(r.totalMs) },
  { header: 'ROUND TRIPS (each run)', value: (r) => r.roundTrips },
  { header: 'KILLSESSIONS (each run)', value: (r) => r.killSessions },
]));
const ratio = rows[1]!.totalMs / rows[0]!.totalMs;
console.log(`\nsharded / single node: ${ratio.toFixed(2)}x (target at most ${TARGET_RATIO}x), medians of ${REPEATS} alternating run(s); load average ${loadavg()[0]!.toFixed(1)} at the end`);
writeFileSync(OUT, `${JSON.stringify({
  machine: { cpus: cpus().length, node: process.version, loadAverageAtEnd: loadavg()[0] }, sessions: SESSIONS, repeats: REPEATS, shards: SHARDS, members: MEMBERS, batchSize: BATCH_SIZE,
  thresholds: THRESHOLDS, ratio, targetRatio: TARGET_RATIO, medians: rows, runs,
}, null, 2)}\n`);
console.log(`written ${OUT}`);

const off = runs.filter((r) => r.shape === 'sharded' && r.killSessionsCalls !== floor(r));
if (off.length) {
  throw new Error(`killSessions through the router: ${off.map((r) => `${r.killSessionsCalls} calls for ${r.kills} kills (floor ${floor(r)})`).join('; ')}: each batch of ${BATCH_SIZE} must be one call`);
}
