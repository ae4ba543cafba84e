/**
 * `session-reaper backtest --policies DIR [--compare DIR2] SNAPSHOT...`: what a policy set would decide on
 * recorded snapshots, offline. Each snapshot goes through the pass's own decision path (src/pass/backtest.ts:
 * runPass as a dry run over a replay of the snapshot, at the snapshot's time); no server is contacted and
 * nothing is killed. Prints the decision table per snapshot and the totals; with --compare, only the
 * sessions the two sets decide differently, both decisions side by side.
 *
 * Threshold flags work as in `run`: each applies to the sets that declare it (a flag neither declares is a
 * usage error). --max-kills, --max-kill-share and their environment variables feed the plan's gates as in a
 * pass. --evaluator json-rules-engine cross-checks: every snapshot is decided by the compiled evaluator and by
 * json-rules-engine, the reference, and any disagreement is reported.
 *
 * A snapshot that cannot be read (not gzip, cut short, a bad line, a missing or incomplete section, an
 * unknown format version) is named with the line or section, left out of the decisions and counted.
 * Exit codes: 0 every snapshot decided; 1 a snapshot was unusable or the evaluators disagreed; 2 bad usage,
 * configuration or policy set.
 */
import { availableParallelism } from 'node:os';
import type { PolicySet } from '../pass/policy/types.ts';
import { resolveSettings } from '../service/config.ts';
import { ConfigError, ReaperError } from '../util/errors.ts';
import type { BacktestPlan } from './backtest-decide.ts';
import { addTotals, emptyTotals, renderTotals } from './backtest-output.ts';
import { decideInOrder } from './backtest-pool.ts';
import { isClosedPipe } from '../review/output/write.ts';
import { writeFully } from '../util/stream-write.ts';
import { printable, printableJson } from '../util/terminal.ts';
import { loadPolicyWithFlags, splitFlags, thresholdFlags, type CliIo, type FlagSpec } from './run.ts';

export const BACKTEST_USAGE = `usage: session-reaper backtest [--policies DIR] [--compare DIR2] [--json] [--max-kills N] [--max-kill-share F]
                               [--evaluator compiled|json-rules-engine] [--jobs N] [--<threshold> N]... SNAPSHOT...
decides on recorded snapshots (session-reaper snapshot, run --record) without connecting to any server;
--jobs N: snapshots decided at once, in worker threads (default: the CPUs, at most 2)`;

/**
 * Worker threads by default at most (BACKTEST_USAGE says 2): each holds its own heap and its own copy of the
 * modules (~80 MB with a snapshot in hand), so two keep a backtest under 256 MB (npm run bench); --jobs raises it.
 */
const MAX_DEFAULT_JOBS = 2;
/** The most --jobs accepts. */
const MAX_JOBS = 64;

const BACKTEST_FLAGS: FlagSpec = {
  valued: new Set(['policies', 'compare', 'max-kills', 'max-kill-share', 'evaluator', 'jobs']),
  booleans: new Set(['json', 'help']),
  positionals: true,
  usage: BACKTEST_USAGE,
};


/** Loads the two sets; each threshold flag goes to the sets that declare it, and must be declared by one. */
async function loadSets(dirA: string, dirB: string | null, extra: Record<string, string>, env: CliIo['env']): Promise<{ a: PolicySet; b: PolicySet | null }> {
  if (!dirB) return { a: await loadPolicyWithFlags(dirA, extra, env, { usage: BACKTEST_USAGE }), b: null };
  const a = await loadPolicyWithFlags(dirA, extra, env, { usage: BACKTEST_USAGE, ignoreUnknown: true });
  const b = await loadPolicyWithFlags(dirB, extra, env, { usage: BACKTEST_USAGE, ignoreUnknown: true });
  const declared = new Set([...thresholdFlags(a).keys(), ...thresholdFlags(b).keys()]);
  const unknown = Object.keys(extra).filter((f) => !declared.has(f));
  if (unknown.length) {
    throw new ConfigError(`unknown option --${unknown[0]}; threshold flags of ${dirA} and ${dirB}: ${[...declared].map((f) => `--${f}`).join(', ') || '(none)'}\n${BACKTEST_USAGE}`);
  }
  return { a, b };
}

export async function backtestCommand(argv: string[], io: CliIo): Promise<number> {
  let plan: BacktestPlan;
  let jobs: number;
  let files: string[];
  let json: boolean;
  let dirs: { a: string; b: string | null };
  try {
    const { flags, extra, positionals } = splitFlags(argv, BACKTEST_FLAGS);
    if (flags.help === true) {
      io.stdout.write(`${BACKTEST_USAGE}\n`);
      return 0;
    }
    if (positionals.length === 0) throw new ConfigError(`no snapshot given: name one or more snapshot files (session-reaper snapshot --out FILE, or run --record FILE)\n${BACKTEST_USAGE}`);
    const settings = resolveSettings(['policiesDir', 'maxKills', 'maxKillShare', 'evaluator'], flags, io.env);
    dirs = { a: settings.policiesDir, b: typeof flags.compare === 'string' ? flags.compare : null };
    const sets = await loadSets(dirs.a, dirs.b, extra, io.env);
    plan = { ...sets, maxKills: settings.maxKills, maxKillShare: settings.maxKillShare, crossCheck: settings.evaluator === 'json-rules-engine', format: flags.json === true ? 'json' : 'text' };
    jobs = flags.jobs === undefined ? Math.min(MAX_DEFAULT_JOBS, availableParallelism()) : Number(flags.jobs);
    if (!Number.isInteger(jobs) || jobs < 1 || jobs > MAX_JOBS) throw new ConfigError(`--jobs must be a whole number from 1 to ${MAX_JOBS}, got "${String(flags.jobs)}"`);
    files = positionals;
    json = flags.json === true;
    for (const set of [sets.a, sets.b]) {
      const waits = set?.parameters.minSightings;
      // Each snapshot is decided as one pass with no earlier ones: a rule that waits for consecutive sightings
      // never acts in a backtest unless told to on the first (said, so a quiet backtest is not misread).
      if (waits !== undefined && waits > 1) io.stderr.write(`session-reaper backtest: note: ${set === sets.a ? dirs.a : dirs.b} sets minSightings ${waits}: each snapshot is decided as a first sighting, so the rules that wait for ${waits} consecutive passes (idle-transaction, stale-cursor-session in the default set) decide nothing here; add --min-sightings 1 to see what they do once a candidate persists\n`);
    }
  } catch (e) {
    io.stderr.write(`session-reaper backtest: ${(e as Error).message}\n`);
    return e instanceof ReaperError ? 2 : 1;
  }
  const compare = dirs.b !== null;
  const totals = emptyTotals(compare, plan.crossCheck);
  // Each snapshot is written out, in the order given, as soon as it is decided, and then dropped: memory holds
  // a few snapshots' decisions (one per job), however many snapshots there are. The JSON output is one
  // document, written in parts.
  // Each write waits until the output takes it (a pipe into a pager must not buffer every snapshot). A reader
  // that goes away (`backtest ... | head`) ends the backtest: the rest would be decided for nobody.
  const absorb = (): void => {};
  io.stdout.on('error', absorb);
  try {
    await writeFully(io.stdout, json ? `{"policies":${printableJson(JSON.stringify(dirs))},"snapshots":[` : compare ? printable(`A = ${dirs.a}`) + `\n${printable(`B = ${dirs.b}`)}\n\n` : '');
    let i = 0;
    for await (const r of decideInOrder(files, plan, jobs)) {
      addTotals(totals, r.totals);
      await writeFully(io.stdout, json && i++ ? `,${r.text}` : r.text);
      if (!r.usable) io.stderr.write(`session-reaper backtest: ${printable(r.error ?? '')}\n`);
    }
    await writeFully(io.stdout, json ? `],"totals":${JSON.stringify(totals)}}\n` : `${renderTotals(totals)}\n`);
  } catch (e) {
    if (!isClosedPipe(e)) throw e;
  } finally {
    io.stdout.off('error', absorb);
  }
  return totals.unusable > 0 || (totals.disagreements ?? 0) > 0 ? 1 : 0;
}
