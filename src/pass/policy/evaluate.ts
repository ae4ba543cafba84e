/**
 * The policy stage's evaluator: synchronous and pure. Each pass compiles the policy once and runs
 * the compiled predicates over every record; a record yields a Decision only when at least one rule
 * matched it (sessions no rule mentions need no audit line). json-rules-engine is the reference
 * (engine.ts) and the differential test holds the two to the same answers.
 */
import { emptyFacts, type SessionFacts } from '../facts.ts';
import { compilePolicy } from './compile.ts';
import { decide, decisionOf, resolve, type Decision, type DecisionListener, type Outcome } from './decide.ts';
import type { PolicySet } from './types.ts';

export type { Decision, DecisionListener, MatchedRule } from './decide.ts';
export type { Action } from './types.ts';

/** Up to this many rules, the set of matched rules fits in a bit mask and its outcome is cached. */
const MASKABLE_RULES = 30;

export interface Evaluator {
  /** Decisions for the records that matched at least one rule. */
  evaluate(records: Iterable<SessionFacts>, onDecision?: DecisionListener): Decision[];
  /**
   * The decision for one record, or null when no rule matched. The decision keeps a reference to
   * `facts`: a caller that reuses a scratch record must give the decision a copy (see pass.ts scan).
   */
  decide(facts: SessionFacts): Decision | null;
  /**
   * decide() for a record whose facts outside `varying` are all at their absent values (emptyFacts): the rules
   * that read none of `varying` give the same answer for every such record, so they are evaluated once per set
   * and only the others per record. The listing-only sessions of a pass (most of them) go through here.
   */
  decideVarying(facts: SessionFacts, varying: ReadonlySet<keyof SessionFacts>): Decision | null;
}

/** json-rules-engine's evaluator answers through promises (engine.ts createEngineEvaluator). */
export interface AsyncEvaluator {
  decide(facts: SessionFacts): Promise<Decision | null>;
}

export { EVALUATORS, type EvaluatorKind } from './evaluators.ts';

/** Compiles the policy once; the evaluator is then used for every record of a pass. */
export function createEvaluator(policy: PolicySet): Evaluator {
  const rules = compilePolicy(policy);
  const count = rules.length;
  // Which rules matched decides the winner and the matched list; only the evidence depends on the
  // record. Caching the outcome per set of matched rules keeps a decision to two allocations,
  // which matters when a pass decides hundreds of thousands of records.
  const outcomes = new Map<number, Outcome>();
  const outcomeOf = (mask: number): Outcome => {
    let outcome = outcomes.get(mask);
    if (!outcome) {
      outcome = resolve(rules.filter((_, i) => (mask & (1 << i)) !== 0));
      outcomes.set(mask, outcome);
    }
    return outcome;
  };
  const decideOne = (facts: SessionFacts): Decision | null => {
    if (count <= MASKABLE_RULES) {
      let mask = 0;
      for (let i = 0; i < count; i++) if (rules[i]!.test(facts)) mask |= 1 << i;
      return mask === 0 ? null : decisionOf(facts, outcomeOf(mask));
    }
    const matched = rules.filter((rule) => rule.test(facts));
    return matched.length === 0 ? null : decide(facts, matched);
  };
  // Per `varying` set: the mask of the rules that match every record of that kind, and the rules left to test.
  const partitions = new WeakMap<ReadonlySet<keyof SessionFacts>, { constant: number; tested: number[] }>();
  const partitionOf = (varying: ReadonlySet<keyof SessionFacts>) => {
    let p = partitions.get(varying);
    if (!p) {
      const absent = emptyFacts();
      let constant = 0;
      const tested: number[] = [];
      for (let i = 0; i < count; i++) {
        if (rules[i]!.factsUsed.some((f) => varying.has(f))) tested.push(i);
        else if (rules[i]!.test(absent)) constant |= 1 << i;
      }
      partitions.set(varying, (p = { constant, tested }));
    }
    return p;
  };
  return {
    decide: decideOne,
    decideVarying(facts, varying) {
      if (count > MASKABLE_RULES) return decideOne(facts);
      const { constant, tested } = partitionOf(varying);
      let mask = constant;
      for (let j = 0; j < tested.length; j++) if (rules[tested[j]!]!.test(facts)) mask |= 1 << tested[j]!;
      return mask === 0 ? null : decisionOf(facts, outcomeOf(mask));
    },
    evaluate(records, onDecision) {
      const decisions: Decision[] = [];
      // Arrays (the usual input) are walked by index: cheaper than the iterator protocol per record.
      const list: ArrayLike<SessionFacts> = Array.isArray(records) ? records : [...records];
      for (let r = 0; r < list.length; r++) {
        const decision = decideOne(list[r]!);
        if (!decision) continue;
        decisions.push(decision);
        onDecision?.(decision);
      }
      return decisions;
    },
  };
}

/**
 * The compiled evaluator of each policy set, built once per set: compiling (the RE2 regexes among it) costs
 * more than deciding a small pass, and a backtest decides many snapshots, a Lambda container many passes, with
 * one set. An evaluator keeps nothing of a pass (its caches are per set of matched rules), so passes share it.
 */
const compiled = new WeakMap<PolicySet, Evaluator>();

export function evaluatorFor(policy: PolicySet): Evaluator {
  let e = compiled.get(policy);
  if (!e) compiled.set(policy, (e = createEvaluator(policy)));
  return e;
}

export function evaluate(records: Iterable<SessionFacts>, policy: PolicySet, onDecision?: DecisionListener): Decision[] {
  return createEvaluator(policy).evaluate(records, onDecision);
}
