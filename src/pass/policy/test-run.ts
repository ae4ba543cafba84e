/**
 * Runs policy test cases (test-file.ts). A fact case is decided by the pass's evaluator; a snapshot case by
 * the pass's whole decision path (inventory join, evaluation, plan) through the `decideExcerpt` the caller
 * gives (the CLI replays the excerpt as a snapshot). With `crossCheck`, json-rules-engine, the reference,
 * decides every case too and a disagreement fails the case.
 */
import type { DecisionRow } from '../journal.ts';
import type { SessionFacts } from '../facts.ts';
import { createEngineEvaluator } from './engine.ts';
import { evaluatorFor, type Decision, type EvaluatorKind } from './evaluate.ts';
import type { ExpectedAction, PolicyTestCase, SnapshotExcerpt } from './test-file.ts';
import type { Outcome } from '../journal.ts';
import type { PolicySet } from './types.ts';

export interface Decided {
  action: ExpectedAction;
  rule: string | null;
  /** The winning rule's reason, or for a snapshot case the plan's why when it did not kill. */
  reason: string;
  outcome?: Outcome;
  /** Every rule that matched (fact cases). */
  matched: string[];
}

export interface Mismatch {
  field: 'action' | 'rule' | 'outcome';
  expected: string;
  decided: string;
}

export interface CaseResult {
  file: string;
  name: string;
  passed: boolean;
  decided: Decided | null;
  mismatches: Mismatch[];
  /** Why the case could not be decided (a bad excerpt document, several records and none selected). */
  error?: string;
}

/** The pass's decisions for an excerpt: the rows of a dry-run pass over it. */
export type ExcerptDecider = (excerpt: SnapshotExcerpt, where: string, policy: PolicySet, evaluator: EvaluatorKind) => Promise<DecisionRow[]>;

export interface RunOptions {
  /** The set with these parameter overrides (the case's "parameters"; {} for the declared defaults). */
  policyFor: (parameters: Record<string, number>) => Promise<PolicySet>;
  decideExcerpt: ExcerptDecider;
  crossCheck: boolean;
}

const NONE: Decided = { action: 'none', rule: null, reason: '', matched: [] };

function fromDecision(d: Decision | null): Decided {
  return d ? { action: d.action, rule: d.rule, reason: d.reason, matched: d.matched.map((m) => m.rule) } : NONE;
}

function fromRow(r: DecisionRow | undefined): Decided {
  return r ? { action: r.action, rule: r.rule, reason: r.why ?? r.reason, outcome: r.outcome, matched: [] } : NONE;
}

export function describeDecided(d: Pick<Decided, 'action' | 'rule'>): string {
  return d.action === 'none' ? 'none (no rule matched)' : `${d.action} by ${d.rule}`;
}

function mismatches(c: PolicyTestCase, d: Decided): Mismatch[] {
  const out: Mismatch[] = [];
  if (c.expect.action !== d.action) out.push({ field: 'action', expected: c.expect.action, decided: d.action });
  if (c.expect.rule !== d.rule) out.push({ field: 'rule', expected: c.expect.rule ?? '(none)', decided: d.rule ?? '(none)' });
  if (c.expect.outcome !== undefined && c.expect.outcome !== d.outcome) out.push({ field: 'outcome', expected: c.expect.outcome, decided: d.outcome ?? '(none)' });
  return out;
}

/** Per policy set, its reference evaluator, built once (the compiled one is cached by evaluatorFor). */
class Evaluators {
  private readonly engine = new Map<PolicySet, ReturnType<typeof createEngineEvaluator>>();

  async decide(set: PolicySet, facts: SessionFacts, kind: EvaluatorKind): Promise<Decided> {
    if (kind === 'compiled') return fromDecision(evaluatorFor(set).decide(facts));
    let e = this.engine.get(set);
    if (!e) this.engine.set(set, (e = createEngineEvaluator(set)));
    return fromDecision(await e.decide(facts));
  }
}

async function decideSnapshotCase(c: PolicyTestCase & { input: { kind: 'snapshot' } }, set: PolicySet, kind: EvaluatorKind, opts: RunOptions): Promise<Decided> {
  const where = `${c.file} case "${c.name}"`;
  const rows = await opts.decideExcerpt(c.input.excerpt, where, set, kind);
  const { session, opid } = c.input;
  if (session !== undefined) return fromRow(rows.find((r) => r.target === 'session' && r.sessionId.toLowerCase() === session));
  if (opid !== undefined) return fromRow(rows.find((r) => r.target === 'operation' && r.opid === opid));
  if (rows.length > 1) {
    throw new Error(`the excerpt gives ${rows.length} decisions (${rows.map((r) => (r.target === 'operation' ? `op ${r.opid}` : r.sessionId)).join(', ')}); name the one to check with "session" (its id) or "opid"`);
  }
  return fromRow(rows[0]);
}

export async function runPolicyTests(cases: readonly PolicyTestCase[], opts: RunOptions): Promise<CaseResult[]> {
  const evaluators = new Evaluators();
  const results: CaseResult[] = [];
  for (const c of cases) {
    const base = { file: c.file, name: c.name };
    try {
      const set = await opts.policyFor(c.parameters);
      const decideWith = (kind: EvaluatorKind): Promise<Decided> =>
        c.input.kind === 'facts' ? evaluators.decide(set, c.input.facts, kind) : decideSnapshotCase(c as PolicyTestCase & { input: { kind: 'snapshot' } }, set, kind, opts);
      const decided = await decideWith('compiled');
      const found = mismatches(c, decided);
      let error: string | undefined;
      if (opts.crossCheck) {
        const reference = await decideWith('json-rules-engine');
        if (reference.action !== decided.action || reference.rule !== decided.rule || reference.outcome !== decided.outcome) {
          error = `the compiled evaluator decides ${describeDecided(decided)} but json-rules-engine, the reference, decides ${describeDecided(reference)}`;
        }
      }
      results.push({ ...base, passed: found.length === 0 && !error, decided, mismatches: found, ...(error ? { error } : {}) });
    } catch (e) {
      results.push({ ...base, passed: false, decided: null, mismatches: [], error: (e as Error).message });
    }
  }
  return results;
}
