/**
 * Turns the rules a record matched into one decision. Shared by the compiled evaluator and the
 * json-rules-engine reference, so the two can only differ in which rules they say matched.
 *
 * Resolution: protect wins over kill (a protection is a promise never to kill, e.g. a prepared
 * transaction or a backup agent, and must not be outvoted by a threshold); kill wins over report;
 * within one action the highest priority wins, then the first rule in load order.
 */
import type { SessionFacts } from '../facts.ts';
import type { Action, LoadedRule } from './types.ts';

export interface MatchedRule {
  readonly rule: string;
  readonly action: Action;
  readonly reason: string;
}

export interface Decision {
  facts: SessionFacts;
  action: Action;
  /** The winning rule. */
  rule: string;
  reason: string;
  /** Every rule that matched, by priority (highest first) then load order. Shared and frozen. */
  matched: readonly MatchedRule[];
  /** The facts the winning rule's conditions read, with their values: "the facts that matched". */
  evidence: Record<string, unknown>;
}

export type DecisionListener = (decision: Decision) => void;

const ACTION_RANK: Record<Action, number> = { protect: 3, kill: 2, report: 1 };

/** What a decision needs to know about a rule, prepared once per pass rather than per record. */
export interface DecisionRule {
  rule: LoadedRule;
  rank: number;
  /** Shared by every decision the rule appears in: a pass may produce a million decisions. */
  summary: MatchedRule;
  evidenceOf: (facts: SessionFacts) => Record<string, unknown>;
}

export function decisionRule(rule: LoadedRule, factsUsed: readonly (keyof SessionFacts)[]): DecisionRule {
  const names = [...factsUsed];
  return {
    rule,
    rank: ACTION_RANK[rule.action],
    summary: Object.freeze({ rule: rule.name, action: rule.action, reason: rule.reason }),
    evidenceOf: (facts) => {
      const evidence: Record<string, unknown> = {};
      for (let i = 0; i < names.length; i++) evidence[names[i]!] = facts[names[i]!];
      return evidence;
    },
  };
}

/** The part of a decision that depends only on which rules matched, not on the record. */
export interface Outcome {
  winner: DecisionRule;
  /** Frozen: shared by every decision with the same set of matched rules. */
  matched: readonly MatchedRule[];
}

/**
 * `matched` must be non-empty and ordered by priority then load order; the winner is the first
 * entry of the highest-ranked action.
 */
export function resolve(matched: readonly DecisionRule[]): Outcome {
  let winner = matched[0]!;
  for (let i = 1; i < matched.length; i++) if (matched[i]!.rank > winner.rank) winner = matched[i]!;
  return { winner, matched: Object.freeze(matched.map((m) => m.summary)) };
}

export function decisionOf(facts: SessionFacts, outcome: Outcome): Decision {
  const { winner } = outcome;
  return {
    facts,
    action: winner.rule.action,
    rule: winner.rule.name,
    reason: winner.rule.reason,
    matched: outcome.matched,
    evidence: winner.evidenceOf(facts),
  };
}

export function decide(facts: SessionFacts, matched: readonly DecisionRule[]): Decision {
  return decisionOf(facts, resolve(matched));
}
