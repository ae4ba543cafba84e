/**
 * `npm run bench`: one reaping pass at 10,000, 100,000 and 1,000,000 sessions on the stand-in, in dry-run
 * and kill mode, for the reaper and for the straightforward baseline, auditing to a local PutEvents
 * responder. Prints an aligned table and writes bench/results.json.
 *
 *   npm run bench                 all sizes
 *   npm run bench -- --quick      10,000 only (the CI smoke check; no time assertions)
 *   npm run bench -- --sizes 100000 --no-baseline
 *   npm run bench -- --sizes 100000 --passes-only   the pass cases alone (no backtest, no fleet: side-by-side runs)
 *
 * In kill mode the reaper also runs with the re-check before each kill batch off ("reaper-no-recheck"), side
 * by side with the reaper as shipped, to measure what the re-check costs.
 *
 * Inventory per size: bench/standin-process.ts (about a tenth of the sessions are killed). Then the sharded case
 * (2 shards x 3 members against a single node, bench/sharded.ts) and the fleet case (20 clusters behind a simulated
 * network, all passes through the reaper function's handler, bench/fleet.ts), run last.
 *
 * The stand-in runs in its own process (as a server would) and each case in a fresh process, so the
 * peak RSS reported is the pass's alone.
 *
 * Then the backtest benchmark (bench/backtest.ts): a snapshot's size on disk and a backtest of many snapshots.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { formatTable } from '../src/util/table.ts';
import { DEFAULT_POLICIES_DIR } from '../src/service/config.ts';
import { startPutEventsResponder } from './putevents-responder.ts';
import type { CaseResult } from './case.ts';
import { buildCase, caseEnv, runCase } from './case-runner.ts';
import { seed, startStandinProcess, THRESHOLDS } from './standin-process.ts';
import { benchBacktest, formatBacktestBench } from './backtest.ts';

const { values } = parseArgs({ options: { quick: { type: 'boolean' }, sizes: { type: 'string' }, 'no-baseline': { type: 'boolean' }, 'passes-only': { type: 'boolean' }, out: { type: 'string' } } });
const SIZES = values.quick ? [10_000] : values.sizes ? values.sizes.split(',').map(Number) : [10_000, 100_000, 1_000_000];
await buildCase();
const OUT = values.out ?? fileURLToPath(new URL('./results.json', import.meta.url));

const responder = await startPutEventsResponder();
const env = caseEnv(responder.endpoint);
const results: (CaseResult & { size: number })[] = [];
const impls: CaseResult['impl'][] = values['no-baseline'] ? ['reaper'] : ['reaper', 'baseline'];

for (const size of SIZES) {
  for (const mode of ['dry-run', 'kill'] as const) {
    for (const impl of mode === 'kill' ? [...impls, 'reaper-no-recheck' as const] : impls) {
      // Kills change the server's state: every kill-mode case gets a freshly seeded stand-in; the dry-run
      // cases share one.
      const standin = await startStandinProcess(size);
      try {
        process.stderr.write(`seeding ${size.toLocaleString('en-US')} sessions for ${impl} ${mode}...\n`);
        await seed(standin.uri, size);
        const r = await runCase({ impl, mode, uri: standin.uri, thresholds: THRESHOLDS, bus: 'bench', policiesDir: DEFAULT_POLICIES_DIR }, env);
        results.push({ size, ...r });
        process.stderr.write(`  ${impl} ${mode}: ${r.totalMs.toFixed(0)} ms, ${r.kills} kills, ${r.putEventsCalls} PutEvents, peak RSS ${r.peakRssMb.toFixed(0)} MB\n`);
      } finally {
        await standin.stop();
      }
    }
  }
}
await responder.stop();

const ratio = (r: CaseResult & { size: number }) => {
  const base = results.find((b) => b.impl === 'baseline' && b.size === r.size && b.mode === r.mode);
  return base && r.impl === 'reaper' ? `${(base.totalMs / r.totalMs).toFixed(1)}x` : '';
};
const ms = (n: number) => Math.round(n);
console.log(formatTable(results, [
  { header: 'SESSIONS', value: (r) => r.size },
  { header: 'MODE', value: (r) => r.mode },
  { header: 'IMPL', value: (r) => r.impl },
  { header: 'KILLS', value: (r) => r.kills },
  { header: 'INVENTORY', value: (r) => ms(r.stagesMs.inventory) },
  { header: 'EVALUATE', value: (r) => ms(r.stagesMs.evaluate) },
  { header: 'PLAN', value: (r) => ms(r.stagesMs.plan) },
  { header: 'KILL', value: (r) => ms(r.stagesMs.kill) },
  { header: 'VERIFY', value: (r) => ms(r.stagesMs.verify) },
  { header: 'AUDIT', value: (r) => ms(r.stagesMs.audit) },
  { header: 'TOTAL ms', value: (r) => ms(r.totalMs) },
  { header: 'TRIPS', value: (r) => r.roundTrips },
  { header: 'KILLSESS', value: (r) => r.killSessionsCalls },
  { header: 'RECHECKS', value: (r) => r.rechecks ?? 0 },
  { header: 'PUTEVENTS', value: (r) => r.putEventsCalls },
  { header: 'RSS MB', value: (r) => ms(r.peakRssMb) },
  { header: 'EVAL/s', value: (r) => ms(r.evaluationRate) },
  { header: 'VS BASE', value: ratio },
]));

const backtest = values['passes-only'] ? null : await benchBacktest({ quick: values.quick === true, policiesDir: DEFAULT_POLICIES_DIR, log: (line) => process.stderr.write(`${line}\n`) });
if (backtest) console.log(`\n${formatBacktestBench(backtest)}`);
writeFileSync(OUT, `${JSON.stringify({ machine: { cpus: (await import('node:os')).cpus().length, node: process.version, loadAverageAtEnd: (await import('node:os')).loadavg()[0] }, thresholds: THRESHOLDS, results, ...(backtest ? { backtest } : {}) }, null, 2)}\n`);
console.log(`\nwritten ${OUT}`);

if (!values['passes-only']) {
  // Then the sharded case (bench/sharded.ts; 10,000 sessions, one run each with --quick) and the fleet case last:
  // 20 clusters through one handler (4 small ones with --quick); each its own table and file.
  for (const [name, file] of [['sharded', 'sharded.ts'], ['fleet', 'fleet.ts']] as const) {
    console.log('');
    const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL(`./${file}`, import.meta.url)), ...(values.quick ? ['--quick', '--out', join(dirname(OUT), `${name}.json`)] : [])], { stdio: 'inherit' });
    const [code] = (await once(child, 'exit')) as [number];
    if (code !== 0) throw new Error(`the ${name} case failed (exit ${code})`);
  }
}
