/**
 * One snapshot of a backtest, decided: opened, replayed through the pass's decision path (src/pass/backtest.ts)
 * with each policy set, compared, cross-checked. Used by the command in its own thread or in worker threads
 * (backtest-pool.ts).
 */
import { memberSections } from '../adapters/snapshot/format.ts';
import { SnapshotFile } from '../adapters/snapshot/reader.ts';
import { SnapshotReplayPort } from '../adapters/snapshot/replay-port.ts';
import type { RunCounts } from '../pass/audit/events.ts';
import { compareDecisions, decideOffline, type DecisionDifference } from '../pass/backtest.ts';
import { coverageGaps, type DecisionRow } from '../pass/pass.ts';
import type { EvaluatorKind } from '../pass/policy/evaluate.ts';
import type { PolicySet } from '../pass/policy/types.ts';
import { renderResult, type OutputFormat, type RenderedSnapshot } from './backtest-output.ts';

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

/** What every snapshot of one backtest is decided with; plain data, so a worker thread can be given it. */
export interface BacktestPlan {
  a: PolicySet;
  b: PolicySet | null;
  maxKills: number;
  maxKillShare: number;
  crossCheck: boolean;
  /** How each snapshot's result is written out (renderResult). */
  format: OutputFormat;
}

/** One snapshot, decided by the plan's sets (and cross-checked); a snapshot that cannot be read comes back unusable. */
export async function decideSnapshot(file: string, plan: BacktestPlan): Promise<SnapshotResult> {
  let snapshot: SnapshotFile;
  try {
    snapshot = await SnapshotFile.open(file);
  } catch (e) {
    return { file, usable: false, error: (e as Error).message, notes: [] };
  }
  const { header } = snapshot;
  const base: SnapshotResult = {
    // The members the recording pass did not read, and why, as that pass reported them.
    file, usable: true, notes: [...snapshot.notes, ...coverageGaps(header.coverage ?? null)], takenAt: header.takenAt,
    topology: header.topology.setName ? `${header.topology.kind} ${header.topology.setName}` : header.topology.kind,
    // The members whose documents it holds (version 1: every member listed).
    members: header.members.filter((m) => memberSections(m).length > 0).map((m) => m.name),
  };
  // Decided more than once (--compare, the cross-check): decompressed and decoded once.
  const replay = new SnapshotReplayPort(snapshot, { keepDecoded: plan.b !== null || plan.crossCheck });
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
  } finally {
    await snapshot.close();
  }
}


/** One snapshot decided and rendered for output (the command's thread or a worker's). */
export async function decideAndRender(file: string, plan: BacktestPlan): Promise<RenderedSnapshot> {
  return renderResult(await decideSnapshot(file, plan), plan.format, plan.b !== null, plan.crossCheck);
}
