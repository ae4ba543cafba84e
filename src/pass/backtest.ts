/**
 * Backtesting: a policy set's decisions on a recorded state, and where two policy sets decide differently.
 *
 * The decisions come from runPass itself, as a dry run, over whatever MongoPort replays the state (a
 * snapshot: src/adapters/snapshot/replay-port.ts), at the state's own time, its audit events discarded:
 * the inventory join, the evaluation and the plan with its gates are the very code a live pass runs, so a
 * backtest and a dry run of the same state cannot decide differently.
 */
import type { AuditSink } from './audit/sink.ts';
import { runPass, type DecisionRow, type Outcome, type RunReport } from './pass.ts';
import type { EvaluatorKind } from './policy/evaluate.ts';
import type { PolicySet } from './policy/types.ts';
import type { MongoPort } from './ports.ts';

export interface BacktestOptions {
  /** The state's time (epoch ms): every idle duration is measured from it. */
  nowMs: number;
  maxKills: number;
  maxKillShare: number;
  evaluator?: EvaluatorKind;
  cluster?: string;
}

/** A backtest publishes nothing: its audit events (planned kills, the run summary) are counted and dropped. */
const DISCARD: AuditSink = {
  async publish(events) {
    return { sent: events.length, failed: [], calls: 0 };
  },
};

/** One dry-run pass over `mongo` at `nowMs`. The report's `error` says when the state could not be read. */
export function decideOffline(mongo: MongoPort, policy: PolicySet, opts: BacktestOptions): Promise<RunReport> {
  return runPass(mongo, policy, DISCARD, {
    cluster: opts.cluster ?? 'backtest', trigger: { type: 'cli', name: 'backtest' }, dryRun: true,
    maxKills: opts.maxKills, maxKillShare: opts.maxKillShare,
    // Nothing is sent in a dry run; the kill settings only have to be valid.
    batchSize: 1, concurrency: 1,
    source: 'mongodb.session-reaper.backtest', now: () => opts.nowMs,
    ...(opts.evaluator ? { evaluator: opts.evaluator } : {}),
  });
}

/** What one policy set decided for one session: "none" when no rule matched it. */
export interface DecisionSide {
  outcome: Outcome | 'none';
  rule: string;
  reason: string;
  why?: string;
}

/** A session (or sessionless operation) the two lists decide differently: who it is, and both decisions. */
export type DecisionDifference = Pick<DecisionRow, 'target' | 'sessionId' | 'uid' | 'opid' | 'user' | 'appName' | 'holds'> & {
  a: DecisionSide;
  b: DecisionSide;
};

const NONE: DecisionSide = { outcome: 'none', rule: '', reason: '' };

/**
 * The session key (id, uid), or a sessionless operation's opid on its members (opids are per process: facts.ts
 * recordKey); a repeat gets its occurrence number. Rows of journals written before members were recorded have none.
 */
function keyed(rows: readonly DecisionRow[]): Map<string, DecisionRow> {
  const out = new Map<string, DecisionRow>();
  for (const r of rows) {
    const base = r.target === 'operation' ? `o ${r.opid}${r.members?.length ? `@${r.members.join(',')}` : ''}` : `s ${r.sessionId} ${r.uid}`;
    let key = base;
    for (let n = 2; out.has(key); n++) key = `${base} #${n}`;
    out.set(key, r);
  }
  return out;
}

function side(r: DecisionRow | undefined): DecisionSide {
  if (!r) return NONE;
  return { outcome: r.outcome, rule: r.rule, reason: r.reason, ...(r.why ? { why: r.why } : {}) };
}

/**
 * The sessions two decision lists treat differently: another outcome or another winning rule (a reason that
 * only differs by a threshold's value is the same decision). In the order of `a`, then those only in `b`.
 */
export function compareDecisions(a: readonly DecisionRow[], b: readonly DecisionRow[]): DecisionDifference[] {
  const left = keyed(a);
  const right = keyed(b);
  const out: DecisionDifference[] = [];
  for (const [key, row] of [...left, ...[...right].filter(([k]) => !left.has(k))]) {
    const x = side(left.get(key));
    const y = side(right.get(key));
    if (x.outcome === y.outcome && x.rule === y.rule) continue;
    out.push({
      target: row.target, sessionId: row.sessionId, uid: row.uid, opid: row.opid, user: row.user, appName: row.appName, holds: row.holds,
      a: x, b: y,
    });
  }
  return out;
}
