/**
 * The backtest benchmark (part of `npm run bench`): how big a snapshot is on disk, and how fast and how lean
 * a backtest of many snapshots is.
 *
 *  - record: one `session-reaper snapshot` of a stand-in holding SNAPSHOT_SESSIONS sessions (the mix of
 *    standin-process.ts), through the real CLI: its size on disk and the recording's time;
 *  - backtest: `session-reaper backtest --json` of 100 snapshots of 10,000 sessions each (ten distinct
 *    recordings, each copied to make up the count) with the default policies, as its own process under GNU time
 *    (/usr/bin/time: wall time and peak RSS, worker threads included), its output dropped; and the same with
 *    --compare (two policy sets decide every snapshot).
 *
 * Targets (issue 13): a 100,000-session snapshot at most 4 MB; 100 snapshots of 10,000 sessions backtested in
 * at most 10 s and 256 MB. --quick: a 10,000-session snapshot and 10 snapshots (CI smoke check).
 */
import { spawn } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatTable } from '../src/util/table.ts';
import { BIN, seed, startStandinProcess } from './standin-process.ts';

export interface BacktestBench {
  snapshot: { sessions: number; bytes: number; mb: number; recordMs: number };
  /** cpuMs: user + system CPU time of the process (all its threads): what the work costs, whatever else runs on the machine. */
  backtest: { snapshots: number; sessionsEach: number; compare: boolean; sessions: number; decisions: number; totalMs: number; cpuMs: number; peakRssMb: number }[];
}

/** Distinct recordings the backtest's snapshots are copies of. */
const DISTINCT = 10;

/** GNU time: the measured command's wall time and peak RSS (its worker threads are in the same process). */
const TIME = '/usr/bin/time';

function run(command: string, args: string[], keepStdout = true): Promise<{ code: number; stdout: string; stderr: string; ms: number }> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: ['ignore', keepStdout ? 'pipe' : 'ignore', 'pipe'], env: { ...process.env, NODE_NO_WARNINGS: '1' } });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    child.on('exit', (code) => resolve({ code: code ?? -1, stdout, stderr, ms: performance.now() - t0 }));
  });
}

async function record(sessions: number, seedNo: number, out: string): Promise<number> {
  const standin = await startStandinProcess(sessions);
  try {
    await seed(standin.uri, sessions, seedNo);
    const r = await run(process.execPath, [BIN, 'snapshot', '--uri', standin.uri, '--out', out]);
    if (r.code !== 0) throw new Error(`snapshot failed (${r.code}): ${r.stderr}`);
    return r.ms;
  } finally {
    await standin.stop();
  }
}

export async function benchBacktest(opts: { quick: boolean; policiesDir: string; log: (line: string) => void }): Promise<BacktestBench> {
  const snapshotSessions = opts.quick ? 10_000 : 100_000;
  const count = opts.quick ? 10 : 100;
  const each = 10_000;
  if (!existsSync(TIME)) throw new Error(`${TIME} (GNU time) is needed to measure the backtest's peak memory: install the "time" package`);
  const dir = mkdtempSync(join(tmpdir(), 'bench-backtest-'));
  // The compared set: the same rules, the runaway threshold raised from 300 s to 500 s.
  const comparePoliciesDir = join(dir, 'policies-b');
  cpSync(opts.policiesDir, comparePoliciesDir, { recursive: true });
  const set = JSON.parse(readFileSync(join(comparePoliciesDir, 'default.json'), 'utf8'));
  set.parameters.runawayOperationSeconds.default = 500;
  writeFileSync(join(comparePoliciesDir, 'default.json'), JSON.stringify(set));
  try {
    opts.log(`recording a ${snapshotSessions.toLocaleString('en-US')}-session snapshot...`);
    const big = join(dir, 'big.jsonl.gz');
    const recordMs = await record(snapshotSessions, 1, big);
    const bytes = statSync(big).size;
    opts.log(`  ${(bytes / 1048576).toFixed(2)} MB in ${Math.round(recordMs)} ms`);

    opts.log(`recording ${DISTINCT} snapshots of ${each.toLocaleString('en-US')} sessions...`);
    const distinct: string[] = [];
    for (let i = 0; i < Math.min(DISTINCT, count); i++) {
      distinct.push(join(dir, `d${i}.jsonl.gz`));
      await record(each, 100 + i * 7, distinct[i]!);
    }
    const files = Array.from({ length: count }, (_, i) => {
      const f = join(dir, `s${String(i).padStart(3, '0')}.jsonl.gz`);
      copyFileSync(distinct[i % distinct.length]!, f);
      return f;
    });
    const backtest: BacktestBench['backtest'] = [];
    for (const compare of [false, true]) {
      const out = join(dir, 'out.json');
      const cli = [BIN, 'backtest', '--json', '--policies', opts.policiesDir, ...(compare ? ['--compare', comparePoliciesDir] : []), ...files];
      const r = await run(TIME, ['-f', 'TIME %e %M %U %S', '-o', join(dir, 'time.txt'), 'sh', '-c', `"$0" "$@" > ${out}`, process.execPath, ...cli], false);
      if (r.code !== 0) throw new Error(`backtest failed (${r.code}): ${r.stderr.slice(-2000)}`);
      const [, seconds, kb, user, system] = /TIME ([\d.]+) (\d+) ([\d.]+) ([\d.]+)/.exec(readFileSync(join(dir, 'time.txt'), 'utf8'))!;
      const { totals } = JSON.parse(readFileSync(out, 'utf8'));
      if (totals.unusable) throw new Error(`backtest: ${totals.unusable} snapshots unusable: ${r.stderr.slice(-2000)}`);
      const totalMs = Number(seconds) * 1000;
      const peakRssMb = Number(kb) / 1024;
      const cpuMs = (Number(user) + Number(system)) * 1000;
      backtest.push({ snapshots: count, sessionsEach: each, compare, sessions: totals.sessions, decisions: totals.a.decisions + (totals.b?.decisions ?? 0), totalMs, cpuMs, peakRssMb });
      opts.log(`  backtest${compare ? ' --compare' : ''} of ${count} snapshots: ${Math.round(totalMs)} ms (CPU ${Math.round(cpuMs)} ms), peak RSS ${Math.round(peakRssMb)} MB`);
    }
    return { snapshot: { sessions: snapshotSessions, bytes, mb: bytes / 1048576, recordMs }, backtest };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function formatBacktestBench(b: BacktestBench): string {
  return [
    `load average ${loadavg().map((l) => l.toFixed(1)).join(' ')} (other work on the machine lengthens TOTAL, not CPU)`,
    `snapshot of ${b.snapshot.sessions.toLocaleString('en-US')} sessions: ${b.snapshot.mb.toFixed(2)} MB on disk, recorded in ${Math.round(b.snapshot.recordMs)} ms`,
    '',
    formatTable(b.backtest, [
      { header: 'BACKTEST', value: (r) => (r.compare ? '--compare' : 'one set') },
      { header: 'SNAPSHOTS', value: (r) => r.snapshots },
      { header: 'SESSIONS', value: (r) => r.sessions },
      { header: 'DECISIONS', value: (r) => r.decisions },
      { header: 'TOTAL ms', value: (r) => Math.round(r.totalMs) },
      { header: 'CPU ms', value: (r) => Math.round(r.cpuMs) },
      { header: 'RSS MB', value: (r) => Math.round(r.peakRssMb) },
    ]),
  ].join('\n');
}
