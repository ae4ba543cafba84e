/**
 * What `session-reaper backtest` prints: per snapshot its decision table (or, comparing, the sessions decided
 * differently, both decisions side by side), and the totals, kept as the snapshots come.
 */
import type { DecisionDifference, DecisionSide } from '../pass/backtest.ts';
import { formatTable } from '../util/table.ts';
import { printableJson } from '../util/terminal.ts';
import type { SideResult, SnapshotResult } from './backtest-decide.ts';
import { appLabel, renderDecisions, sessionLabel } from './decision-table.ts';

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

/** Adds one snapshot's totals (RenderedSnapshot.totals) to the running totals. */
export function addTotals(into: Totals, from: Totals): void {
  into.snapshots += from.snapshots;
  into.usable += from.usable;
  into.unusable += from.unusable;
  into.sessions += from.sessions;
  into.sessionlessOps += from.sessionlessOps;
  for (const side of ['a', 'b'] as const) {
    const t = into[side];
    const f = from[side];
    if (!t || !f) continue;
    for (const key of Object.keys(t) as (keyof SideTotals)[]) t[key] += f[key];
  }
  if (into.differences !== undefined) into.differences += from.differences ?? 0;
  if (into.disagreements !== undefined) into.disagreements += from.disagreements ?? 0;
}

export type OutputFormat = 'text' | 'json';

/**
 * One snapshot as the command writes it: its text (or its JSON document, an element of "snapshots") and its
 * share of the totals. Rendered where it was decided (a worker thread): only this crosses to the command's
 * thread, not the decisions.
 */
export interface RenderedSnapshot {
  text: string;
  usable: boolean;
  error?: string;
  totals: Totals;
}

export function renderResult(r: SnapshotResult, format: OutputFormat, compare: boolean, crossCheck: boolean): RenderedSnapshot {
  const totals = emptyTotals(compare, crossCheck);
  addToTotals(totals, r);
  const text = format === 'json' ? printableJson(JSON.stringify(r)) : `${renderSnapshot(r, compare)}\n`;
  return { text, usable: r.usable, ...(r.error !== undefined ? { error: r.error } : {}), totals };
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
    { header: 'APP', value: (d) => appLabel(d.appName), max: 20 },
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

