/**
 * Compiles a rule's condition tree into a plain predicate over a fact record, once per pass, so
 * that evaluating a million sessions costs closure calls rather than json-rules-engine's promise
 * per condition. The operator tests come from the same OPERATORS table the engine is given.
 *
 * Semantics mirrored from json-rules-engine 7.3.1 (dist/rule.js): `all` is every, `any` is some,
 * `not` negates its single child, and an EMPTY `all` or `any` is true (prioritizeAndRun resolves
 * true for zero conditions whatever the operator; the loader refuses empty groups, but the compiler
 * still agrees with the engine). Conditions have no side effects, so short-circuiting, which the
 * engine also does between priority sets, cannot change a result.
 */
import type { SessionFacts } from '../facts.ts';
import { decisionRule, type DecisionRule } from './decide.ts';
import { operatorNamed } from './operators.ts';
import { isAll, isAny, isNot, type ConditionNode, type LoadedRule, type PolicySet } from './types.ts';

export type FactsPredicate = (facts: SessionFacts) => boolean;

export interface CompiledRule extends DecisionRule {
  rule: LoadedRule;
  /** Position in load order (files by name, then rules in file order): the tie-breaker after priority. */
  loadIndex: number;
  test: FactsPredicate;
  /** Facts the conditions read, in first-use order: the evidence of a decision. */
  factsUsed: readonly (keyof SessionFacts)[];
}

const ALWAYS: FactsPredicate = () => true;

export function compileCondition(node: ConditionNode): FactsPredicate {
  if (isAny(node)) {
    // `any` is checked before `all`, as json-rules-engine's Condition.booleanOperator does.
    const children = node.any.map(compileCondition);
    if (children.length === 0) return ALWAYS;
    if (children.length === 1) return children[0]!;
    if (children.length === 2) {
      const [a, b] = children as [FactsPredicate, FactsPredicate];
      return (f) => a(f) || b(f);
    }
    return (f) => {
      for (let i = 0; i < children.length; i++) if (children[i]!(f)) return true;
      return false;
    };
  }
  if (isAll(node)) {
    const children = node.all.map(compileCondition);
    if (children.length === 0) return ALWAYS;
    if (children.length === 1) return children[0]!;
    if (children.length === 2) {
      const [a, b] = children as [FactsPredicate, FactsPredicate];
      return (f) => a(f) && b(f);
    }
    if (children.length === 3) {
      const [a, b, c] = children as [FactsPredicate, FactsPredicate, FactsPredicate];
      return (f) => a(f) && b(f) && c(f);
    }
    return (f) => {
      for (let i = 0; i < children.length; i++) if (!children[i]!(f)) return false;
      return true;
    };
  }
  if (isNot(node)) {
    const child = compileCondition(node.not);
    return (f) => !child(f);
  }
  const spec = operatorNamed(node.operator);
  if (!spec) throw new TypeError(`operator "${node.operator}" is not in the operator table (the loader should have refused it)`);
  const test = spec.compile(node.value);
  const fact = node.fact;
  return (f) => test(f[fact]);
}

export function factsUsedBy(node: ConditionNode, into: (keyof SessionFacts)[] = []): (keyof SessionFacts)[] {
  if (isAny(node)) node.any.forEach((c) => factsUsedBy(c, into));
  else if (isAll(node)) node.all.forEach((c) => factsUsedBy(c, into));
  else if (isNot(node)) factsUsedBy(node.not, into);
  else if (!into.includes(node.fact)) into.push(node.fact);
  return into;
}

/**
 * Compiles every rule, ordered by priority (highest first) and then load order: the order in which
 * matches are listed in a decision, and in which the first rule of the winning action is found.
 */
export function compilePolicy(policy: PolicySet): CompiledRule[] {
  return policy.rules
    .map((rule, loadIndex) => {
      const factsUsed = factsUsedBy(rule.conditions);
      return { ...decisionRule(rule, factsUsed), loadIndex, test: compileCondition(rule.conditions), factsUsed };
    })
    .sort(byPriorityThenLoadOrder);
}

export function byPriorityThenLoadOrder(a: { rule: LoadedRule; loadIndex: number }, b: { rule: LoadedRule; loadIndex: number }): number {
  return b.rule.priority - a.rule.priority || a.loadIndex - b.loadIndex;
}
