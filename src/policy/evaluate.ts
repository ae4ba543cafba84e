/**
 * The policy stage's evaluator: synchronous and pure. Each pass compiles the policy once and runs
 * the compiled predicates over every record; a record yields a Decision only when at least one rule
 * matched it (sessions no rule mentions need no audit line). json-rules-engine is the reference
 * (engine.ts) and the differential test holds the two to the same answers.
 */
import type { SessionFacts } from '../facts.ts';
import { compilePolicy } from './compile.ts';
import { decide, decisionOf, resolve, type Decision, type DecisionListener, type Outcome } from './decide.ts';
import type { PolicySet } from './types.ts';

export type { Decision, DecisionListener, MatchedRule } from './decide.ts';
export type { Action } from './types.ts';

/** Up to this many rules, the set of matched rules fits in a bit mask and its outcome is cached. */
const MASKABLE_RULES = 30;

export function evaluate(records: Iterable<SessionFacts>, policy: PolicySet, onDecision?: DecisionListener): Decision[] {
  const rules = compilePolicy(policy);
  const count = rules.length;
  const decisions: Decision[] = [];
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
  // Arrays (the usual input) are walked by index: cheaper than the iterator protocol per record.
  const list: ArrayLike<SessionFacts> = Array.isArray(records) ? records : [...records];
  for (let r = 0; r < list.length; r++) {
    const facts = list[r]!;
    let decision: Decision;
    if (count <= MASKABLE_RULES) {
      let mask = 0;
      for (let i = 0; i < count; i++) if (rules[i]!.test(facts)) mask |= 1 << i;
      if (mask === 0) continue;
      decision = decisionOf(facts, outcomeOf(mask));
    } else {
      const matched = rules.filter((rule) => rule.test(facts));
      if (matched.length === 0) continue;
      decision = decide(facts, matched);
    }
    decisions.push(decision);
    onDecision?.(decision);
  }
  return decisions;
}
