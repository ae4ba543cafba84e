/**
 * `npm run bench:replset`: the replica-set case of issue #9. The same 100,000 seeded sessions (bench/standin-process.ts)
 * on a single node and on a three-member replica set with the activity spread over the members; one reaping
 * pass in kill mode on each, alternating, REPEATS times; prints the medians side by side, the ratio (target:
 * the replica-set pass at most 1.3 times the single-node pass, the members being read in parallel) and each
 * pass's round trips against the floor: the reaper's identity, replSetGetConfig, one $currentOp and one
 * $listLocalSessions per member, one $listSessions, per member ceil(kills there / batch) killSessions, the
 * verification's $currentOp per member killed on, and the getMores of listings larger than one batch.
 *
 *   npm run bench:replset [-- --sessions N --repeats N]
 *
 * Times are wall-clock on whatever machine runs it; quote them as medians of one run, side by side.
 */
import { parseArgs } from 'node:util';
import { formatTable } from '../src/util/table.ts';
import { DEFAULT_POLICIES_DIR } from '../src/service/config.ts';
import { median, sideBySide } from './case-runner.ts';
import { seed, startStandinProcess, THRESHOLDS } from './standin-process.ts';

const { values } = parseArgs({ options: { sessions: { type: 'string' }, repeats: { type: 'string' } } });
const SESSIONS = Number(values.sessions ?? 100_000);
const REPEATS = Number(values.repeats ?? 3);
const TARGET_RATIO = 1.3;
type Shape = 'single' | 'replset';

const runs = await sideBySide<Shape>(['single', 'replset'], REPEATS, {
  start: (shape) => startStandinProcess(SESSIONS, shape === 'replset' ? ['--replset', 'bench', '--members', '3'] : []),
  seed: (shape, uri) => seed(uri, SESSIONS, 1, shape === 'replset'),
}, { thresholds: THRESHOLDS, policiesDir: DEFAULT_POLICIES_DIR });

const rows = (['single', 'replset'] as Shape[]).map((shape) => {
  const of = runs.filter((r) => r.shape === shape);
  return {
    shape, totalMs: median(of.map((r) => r.totalMs)), inventoryMs: median(of.map((r) => r.stagesMs.inventory)), killMs: median(of.map((r) => r.stagesMs.kill)),
    kills: of[0]!.kills, roundTrips: of.map((r) => r.roundTrips).join('/'), killSessions: of.map((r) => r.killSessionsCalls).join('/'),
  };
});
console.log(formatTable(rows, [
  { header: 'DEPLOYMENT', value: (r) => (r.shape === 'single' ? 'single node' : 'replica set, 3 members') },
  { header: 'SESSIONS', value: () => SESSIONS },
  { header: 'KILLS', value: (r) => r.kills },
  { header: 'INVENTORY ms', value: (r) => Math.round(r.inventoryMs) },
  { header: 'KILL ms', value: (r) => Math.round(r.killMs) },
  { header: 'TOTAL ms (median)', value: (r) => Math.round(r.totalMs) },
  { header: 'ROUND TRIPS (each run)', value: (r) => r.roundTrips },
  { header: 'KILLSESSIONS', value: (r) => r.killSessions },
]));
const ratio = rows[1]!.totalMs / rows[0]!.totalMs;
console.log(`\nreplica set / single node: ${ratio.toFixed(2)}x (target at most ${TARGET_RATIO}x), medians of ${REPEATS} alternating runs`);
