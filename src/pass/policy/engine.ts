/**
 * json-rules-engine as the reference evaluator. The compiled evaluator (evaluate.ts) is what runs in a
 * pass by default; this one is selectable (`--evaluator json-rules-engine`, REAPER_EVALUATOR), gives the
 * same decisions (the differential test holds the two together) and is slower, since every record is an
 * awaited engine run. It is the library whose rule format the policies use: the reference when an
 * operator wants the compiled answers checked.
 */
import { Engine, type RuleResult } from 'json-rules-engine';
import type { SessionFacts } from '../facts.ts';
import { byPriorityThenLoadOrder, factsUsedBy } from './compile.ts';
import { decide, decisionRule, type Decision, type DecisionRule } from './decide.ts';
import { OPERATORS, predicateCache } from './operators.ts';
import type { PolicySet } from './types.ts';
import type { AsyncEvaluator } from './evaluate.ts';

/**
 * The one place an Engine is built: custom operators registered from the OPERATORS table (the
 * built-ins are json-rules-engine's own, which the compiled evaluator mirrors), the set's rules,
 * and allowUndefinedFacts false so a rule naming a missing fact fails loudly instead of quietly
 * not matching.
 */
export function createEngine(policy: PolicySet): Engine {
  const engine = new Engine([], { allowUndefinedFacts: false });
  for (const spec of OPERATORS) {
    if (spec.builtin) continue;
    const predicateFor = predicateCache(spec);
    engine.addOperator(spec.name, (factValue: unknown, jsonValue: unknown) => predicateFor(jsonValue)(factValue));
  }
  for (const rule of policy.rules) {
    engine.addRule({
      name: rule.name,
      priority: rule.priority,
      // The engine's types describe its own condition shape; ours is the same JSON.
      conditions: rule.conditions as unknown as Parameters<Engine['addRule']>[0]['conditions'],
      event: { type: rule.action, params: { reason: rule.reason } },
    });
  }
  return engine;
}

interface RuleIndex {
  byName: Map<string, DecisionRule & { loadIndex: number }>;
}

function indexRules(policy: PolicySet): RuleIndex {
  return {
    byName: new Map(policy.rules.map((rule, loadIndex) => [rule.name, { ...decisionRule(rule, factsUsedBy(rule.conditions)), loadIndex }])),
  };
}

/**
 * The engine reports successes in the order their promises settle, which within one priority
 * depends on condition depth, not on load order; sorting gives the compiled evaluator's order.
 */
function decisionFrom(facts: SessionFacts, results: readonly RuleResult[], index: RuleIndex): Decision | null {
  if (results.length === 0) return null;
  const matched = results.map((r) => {
    const entry = index.byName.get(r.name);
    if (!entry) throw new Error(`json-rules-engine reported rule "${r.name}", which is not in the policy set`);
    return entry;
  }).sort(byPriorityThenLoadOrder);
  return decide(facts, matched);
}

/**
 * Evaluates records one at a time, each run awaited before the next starts. Never run one Engine
 * concurrently: the run status lives on the Engine, the first run to finish sets it to FINISHED and
 * evaluateRules (dist/engine.js) then skips the remaining priority sets of every other run still in
 * flight, so their events are silently dropped (upstream CacheControl/json-rules-engine#303, "Rule
 * chaining not working with Promise.all": parallel runs of one engine return results only for the
 * first).
 */
export async function evaluateWithEngine(records: Iterable<SessionFacts>, policy: PolicySet): Promise<Decision[]> {
  const engine = createEngine(policy);
  const index = indexRules(policy);
  const decisions: Decision[] = [];
  for (const facts of records) {
    const { results } = await engine.run(facts as unknown as Record<string, unknown>);
    const decision = decisionFrom(facts, results, index);
    if (decision) decisions.push(decision);
  }
  return decisions;
}

export interface Explanation {
  decision: Decision | null;
  /** Every rule with its result and, per condition, the fact value the engine saw and the outcome. */
  rules: { rule: string; matched: boolean; conditions: unknown }[];
}

/** One record through the engine, with json-rules-engine's per-condition results, for "why". */
export async function explainWithEngine(facts: SessionFacts, policy: PolicySet): Promise<Explanation> {
  const engine = createEngine(policy);
  const { results, failureResults } = await engine.run(facts as unknown as Record<string, unknown>);
  const index = indexRules(policy);
  const rules = [...results, ...failureResults]
    .map((r) => ({ rule: r.name, matched: r.result === true, conditions: r.toJSON(false).conditions }))
    .sort((a, b) => index.byName.get(a.rule)!.loadIndex - index.byName.get(b.rule)!.loadIndex);
  return { decision: decisionFrom(facts, results, index), rules };
}

/**
 * A pass evaluator over json-rules-engine. `decide` must be awaited before the next call: the scan does,
 * and one Engine must never run records concurrently (see evaluateWithEngine).
 */
export function createEngineEvaluator(policy: PolicySet): AsyncEvaluator {
  const engine = createEngine(policy);
  const index = indexRules(policy);
  return {
    async decide(facts) {
      const { results } = await engine.run(facts as unknown as Record<string, unknown>);
      return decisionFrom(facts, results, index);
    },
  };
}
