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
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';
import { formatTable } from '../src/util/table.ts';
import { DEFAULT_POLICIES_DIR } from '../src/service/config.ts';
import { startPutEventsResponder } from './putevents-responder.ts';
import type { CaseResult } from './case.ts';
import { BIN, seed, THRESHOLDS } from './standin-process.ts';

const { values } = parseArgs({ options: { sessions: { type: 'string' }, repeats: { type: 'string' } } });
const SESSIONS = Number(values.sessions ?? 100_000);
const REPEATS = Number(values.repeats ?? 3);
const TARGET_RATIO = 1.3;
const CASE = fileURLToPath(new URL('./.build/case.mjs', import.meta.url));
await build({ entryPoints: [fileURLToPath(new URL('./case.ts', import.meta.url))], bundle: true, packages: 'external', platform: 'node', format: 'esm', target: 'node20', outfile: CASE, logLevel: 'warning' });

type Shape = 'single' | 'replset';

async function startStandin(shape: Shape): Promise<{ uri: string; child: ChildProcess }> {
  const args = [BIN, 'mongod', '--port', '0', '--txn-lifetime-seconds', '86400', '--max-sessions', String(SESSIONS + 10_000), ...(shape === 'replset' ? ['--replset', 'bench', '--members', '3'] : [])];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'ignore'] });
  const [uri] = (await once(createInterface({ input: child.stdout! }), 'line')) as [string];
  return { uri, child };
}

function runCase(args: object, env: Record<string, string>): Promise<CaseResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CASE, JSON.stringify(args)], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out.trim().split('\n').at(-1)!)) : reject(new Error(`case failed (${code}): ${err.slice(-2000)}`))));
  });
}

const responder = await startPutEventsResponder();
const env = { AWS_ENDPOINT_URL_EVENTBRIDGE: responder.endpoint, AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'bench', AWS_SECRET_ACCESS_KEY: 'bench', NODE_NO_WARNINGS: '1' };
const runs: (CaseResult & { shape: Shape })[] = [];
for (let i = 0; i < REPEATS; i++) {
  // Alternating, so that both shapes meet the same background load.
  for (const shape of (i % 2 ? ['replset', 'single'] : ['single', 'replset']) as Shape[]) {
    const standin = await startStandin(shape);
    try {
      await seed(standin.uri, SESSIONS, 1, shape === 'replset');
      const r = await runCase({ impl: 'reaper', mode: 'kill', uri: standin.uri, thresholds: THRESHOLDS, bus: 'bench', policiesDir: DEFAULT_POLICIES_DIR }, env);
      runs.push({ shape, ...r });
      process.stderr.write(`  ${shape}: ${r.totalMs.toFixed(0)} ms, ${r.kills} kills, ${r.roundTrips} round trips, ${r.killSessionsCalls} killSessions\n`);
    } finally {
      standin.child.kill('SIGTERM');
      await once(standin.child, 'exit');
    }
  }
}
await responder.stop();

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
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
