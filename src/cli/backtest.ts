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
import { SnapshotFile } from '../adapters/snapshot/reader.ts';
import { SnapshotReplayPort } from '../adapters/snapshot/replay-port.ts';
import type { RunCounts } from '../pass/audit/events.ts';
import { compareDecisions, decideOffline, type DecisionDifference, type DecisionSide } from '../pass/backtest.ts';
import type { DecisionRow } from '../pass/pass.ts';
import type { EvaluatorKind } from '../pass/policy/evaluate.ts';
import type { PolicySet } from '../pass/policy/types.ts';
import { resolveSettings } from '../service/config.ts';
import { ConfigError, ReaperError } from '../util/errors.ts';
import { formatTable } from '../util/table.ts';
import { loadPolicyWithFlags, renderDecisions, sessionLabel, splitFlags, thresholdFlags, type CliIo, type FlagSpec } from './run.ts';

export const BACKTEST_USAGE = `usage: session-reaper backtest [--policies DIR] [--compare DIR2] [--json] [--max-kills N] [--max-kill-share F]
                               [--evaluator compiled|json-rules-engine] [--<threshold> N]... SNAPSHOT...
decides on recorded snapshots (session-reaper snapshot, run --record) without connecting to any server`;

const BACKTEST_FLAGS: FlagSpec = {
  valued: new Set(['policies', 'compare', 'max-kills', 'max-kill-share', 'evaluator']),
  booleans: new Set(['json', 'help']),
  positionals: true,
  usage: BACKTEST_USAGE,
};

/** One policy set's decisions on one snapshot. */
export interface SideResult {
  counts: RunCounts;
  reportOnly: boolean;
  reportOnlyReason: string | null;
  decisions: DecisionRow[];
}

export interface SnapshotResult {
  file: string;
  usable: boolean;
  /** Why the snapshot was not used (names the line or section). */
  error?: string;
  notes: string[];
  takenAt?: string;
  topology?: string;
  members?: string[];
  a?: SideResult;
  b?: SideResult;
  /** With --compare: the sessions the two sets decide differently. */
  differences?: DecisionDifference[];
  /** With --evaluator json-rules-engine: where the compiled evaluator and the reference disagree. */
  disagreements?: DecisionDifference[];
}

interface Plan {
  a: PolicySet;
  b: PolicySet | null;
  maxKills: number;
  maxKillShare: number;
  crossCheck: boolean;
}

async function decideSnapshot(file: string, plan: Plan): Promise<SnapshotResult> {
  let snapshot: SnapshotFile;
  try {
    snapshot = await SnapshotFile.open(file);
  } catch (e) {
    return { file, usable: false, error: (e as Error).message, notes: [] };
  }
  const { header } = snapshot;
  const base: SnapshotResult = {
    file, usable: true, notes: [...snapshot.notes], takenAt: header.takenAt,
    topology: header.topology.setName ? `${header.topology.kind} ${header.topology.setName}` : header.topology.kind,
    members: header.members.map((m) => m.name),
  };
  const replay = new SnapshotReplayPort(snapshot);
  const decide = async (policy: PolicySet, evaluator: EvaluatorKind): Promise<SideResult> => {
    const r = await decideOffline(replay, policy, { nowMs: replay.nowMs, maxKills: plan.maxKills, maxKillShare: plan.maxKillShare, evaluator });
    if (r.error) throw new Error(r.error);
    return { counts: r.counts, reportOnly: r.reportOnly, reportOnlyReason: r.reportOnlyReason, decisions: r.decisions };
  };
  try {
    const a = await decide(plan.a, 'compiled');
    const b = plan.b ? await decide(plan.b, 'compiled') : undefined;
    const result: SnapshotResult = { ...base, a, ...(b ? { b, differences: compareDecisions(a.decisions, b.decisions) } : {}) };
    if (plan.crossCheck) {
      result.disagreements = compareDecisions(a.decisions, (await decide(plan.a, 'json-rules-engine')).decisions);
      if (b && plan.b) result.disagreements.push(...compareDecisions(b.decisions, (await decide(plan.b, 'json-rules-engine')).decisions));
    }
    return result;
  } catch (e) {
    return { file, usable: false, error: (e as Error).message, notes: base.notes };
  }
}

export interface SideTotals {
  decisions: number;
  planned: number;
  skipped: number;
  protected: number;
  reported: number;
  reportOnlyPasses: number;
}

export interface Totals {
  snapshots: number;
  usable: number;
  unusable: number;
  sessions: number;
  sessionlessOps: number;
  a: SideTotals;
  b?: SideTotals;
  differences?: number;
  disagreements?: number;
}

const emptySide = (): SideTotals => ({ decisions: 0, planned: 0, skipped: 0, protected: 0, reported: 0, reportOnlyPasses: 0 });

export function emptyTotals(compare: boolean, crossCheck: boolean): Totals {
  return {
    snapshots: 0, usable: 0, unusable: 0, sessions: 0, sessionlessOps: 0, a: emptySide(),
    ...(compare ? { b: emptySide(), differences: 0 } : {}), ...(crossCheck ? { disagreements: 0 } : {}),
  };
}

function addSide(t: SideTotals, s: SideResult): void {
  t.decisions += s.counts.decisions;
  t.planned += s.counts.planned;
  t.skipped += s.counts.skipped;
  t.protected += s.counts.protected;
  t.reported += s.counts.reported;
  if (s.reportOnly) t.reportOnlyPasses++;
}

/** Adds one snapshot's result to the totals (results are written as they come and then dropped). */
export function addToTotals(t: Totals, r: SnapshotResult): void {
  t.snapshots++;
  if (!r.usable || !r.a) {
    t.unusable++;
    return;
  }
  t.usable++;
  t.sessions += r.a.counts.sessions;
  t.sessionlessOps += r.a.counts.sessionlessOps;
  addSide(t.a, r.a);
  if (t.b && r.b) addSide(t.b, r.b);
  if (t.differences !== undefined) t.differences += r.differences?.length ?? 0;
  if (t.disagreements !== undefined) t.disagreements += r.disagreements?.length ?? 0;
}

function sideCell(s: DecisionSide): string {
  return s.outcome === 'none' ? 'none (no rule matched)' : `${s.outcome} ${s.rule}`;
}

function whyCell(s: DecisionSide): string {
  return s.outcome === 'none' ? '-' : s.why ?? s.reason;
}

export function renderDifferences(differences: readonly DecisionDifference[], labels: { a: string; b: string }): string {
  if (differences.length === 0) return '(both policy sets decide every session alike)';
  return formatTable(differences, [
    { header: 'SESSION', value: sessionLabel },
    { header: 'USER', value: (d) => d.user || '-', max: 20 },
    { header: 'APP', value: (d) => d.appName || '-', max: 20 },
    { header: 'HOLDS', value: (d) => d.holds, max: 32 },
    { header: `${labels.a}: DECISION`, value: (d) => sideCell(d.a), max: 40 },
    { header: `${labels.b}: DECISION`, value: (d) => sideCell(d.b), max: 40 },
    { header: `${labels.a}: WHY`, value: (d) => whyCell(d.a), max: 70 },
    { header: `${labels.b}: WHY`, value: (d) => whyCell(d.b), max: 70 },
  ]);
}

function heading(r: SnapshotResult): string {
  if (!r.usable) return `== ${r.file}: UNUSABLE, not used for decisions: ${r.error}`;
  const c = r.a!.counts;
  return `== ${r.file}: taken ${r.takenAt}, ${r.topology} (${r.members!.join(', ')}), ${c.sessions} sessions, ${c.sessionlessOps} sessionless operations`;
}

/** One snapshot's part of the text output. */
export function renderSnapshot(r: SnapshotResult, compare: boolean): string {
  const out: string[] = [heading(r)];
  for (const n of r.notes) out.push(`   note: ${n}`);
  if (r.usable) {
    for (const [label, side] of [['A', r.a], ['B', r.b]] as const) {
      if (side?.reportOnly) out.push(`   ${compare ? `${label}: ` : ''}REPORT-ONLY: ${side.reportOnlyReason}`);
    }
    out.push('', compare ? renderDifferences(r.differences!, { a: 'A', b: 'B' }) : renderDecisions(r.a!.decisions));
    if (r.disagreements?.length) out.push('', 'CROSS-CHECK: the compiled evaluator and json-rules-engine disagree:', renderDifferences(r.disagreements, { a: 'compiled', b: 'json-rules-engine' }));
  }
  out.push('');
  return out.join('\n');
}

export function renderTotals(totals: Totals): string {
  const compare = totals.b !== undefined;
  const pad = compare ? [''] : [];
  const rows: [string, ...(string | number)[]][] = [
    ['snapshots', totals.snapshots, ...pad],
    ['unusable snapshots', totals.unusable, ...pad],
    ['sessions', totals.sessions, ...pad],
    ['sessionless operations', totals.sessionlessOps, ...pad],
  ];
  const sides = compare ? [totals.a, totals.b!] : [totals.a];
  for (const [label, key] of [['decisions', 'decisions'], ['planned (would kill)', 'planned'], ['skipped', 'skipped'], ['protected', 'protected'], ['reported', 'reported'], ['report-only passes', 'reportOnlyPasses']] as const) {
    rows.push([label, ...sides.map((s) => s[key])]);
  }
  if (compare) rows.push(['sessions decided differently', totals.differences!, '']);
  if (totals.disagreements !== undefined) rows.push(['evaluator disagreements', totals.disagreements, ...pad]);
  return formatTable(rows, [
    { header: 'TOTALS', value: (r) => r[0] },
    { header: compare ? 'A' : '', value: (r) => r[1]! },
    ...(compare ? [{ header: 'B', value: (r: (typeof rows)[number]) => r[2]! }] : []),
  ]);
}

/** Writes and waits for the stream to take more (a pipe into a pager must not buffer every snapshot). */
function write(stream: NodeJS.WritableStream, text: string): Promise<void> {
  return stream.write(text) ? Promise.resolve() : new Promise((resolve) => stream.once('drain', () => resolve()));
}

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
  let plan: Plan;
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
    plan = { ...sets, maxKills: settings.maxKills, maxKillShare: settings.maxKillShare, crossCheck: settings.evaluator === 'json-rules-engine' };
    files = positionals;
    json = flags.json === true;
  } catch (e) {
    io.stderr.write(`session-reaper backtest: ${(e as Error).message}\n`);
    return e instanceof ReaperError ? 2 : 1;
  }
  const compare = dirs.b !== null;
  const totals = emptyTotals(compare, plan.crossCheck);
  // One snapshot at a time, each written out as soon as it is decided and then dropped: memory holds one
  // snapshot's decisions, however many snapshots there are. The JSON output is one document, written in parts.
  if (json) io.stdout.write(`{"policies":${JSON.stringify(dirs)},"snapshots":[`);
  else if (compare) io.stdout.write(`A = ${dirs.a}\nB = ${dirs.b}\n\n`);
  for (const [i, file] of files.entries()) {
    const r = await decideSnapshot(file, plan);
    addToTotals(totals, r);
    await write(io.stdout, json ? `${i ? ',' : ''}${JSON.stringify(r)}` : `${renderSnapshot(r, compare)}\n`);
    if (!r.usable) io.stderr.write(`session-reaper backtest: ${r.error}\n`);
  }
  await write(io.stdout, json ? `],"totals":${JSON.stringify(totals)}}\n` : `${renderTotals(totals)}\n`);
  return totals.unusable > 0 || (totals.disagreements ?? 0) > 0 ? 1 : 0;
}
