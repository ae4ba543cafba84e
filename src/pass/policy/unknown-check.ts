/**
 * The warning of `policies check` about unknown identity facts: a protection keyed on appName or client
 * cannot see a session whose application or client nobody reported (idle cursors carry neither,
 * jstests/core/currentop_cursors.js), so a kill rule that can still fire on such a session may kill what the
 * protection was written to keep. For each nullable fact a protect rule reads, the rules are evaluated with
 * that fact unknown and every other fact left open (three-valued: true, false, maybe) except holdsNothing, taken
 * both ways: a kill rule that is not certainly false, while no protect rule is certainly true, gets a warning.
 */
import { IDENTITY_FACTS, type SessionFacts } from '../facts.ts';
import { factsUsedBy } from './compile.ts';
import { operatorNamed } from './operators.ts';
import { isAll, isAny, isNot, type ConditionNode, type LoadedRule } from './types.ts';

type Tri = true | false | 'maybe';

/** What is assumed besides the unknown fact: whether the session holds nothing (see unknownFactWarnings). */
interface Assumption {
  fact: keyof SessionFacts;
  holdsNothing: boolean;
}

function evaluateWithUnknown(node: ConditionNode, fact: Assumption): Tri {
  if (isAny(node)) {
    let result: Tri = false;
    for (const c of node.any) {
      const v = evaluateWithUnknown(c, fact);
      if (v === true) return true;
      if (v === 'maybe') result = 'maybe';
    }
    return result;
  }
  if (isAll(node)) {
    let result: Tri = true;
    for (const c of node.all) {
      const v = evaluateWithUnknown(c, fact);
      if (v === false) return false;
      if (v === 'maybe') result = 'maybe';
    }
    return result;
  }
  if (isNot(node)) {
    const v = evaluateWithUnknown(node.not, fact);
    return v === 'maybe' ? 'maybe' : !v;
  }
  if (node.fact === 'holdsNothing') return operatorNamed(node.operator)!.compile(node.value)(fact.holdsNothing);
  if (node.fact !== fact.fact) return 'maybe';
  return operatorNamed(node.operator)!.compile(node.value)(null);
}

export interface UnknownFactWarning {
  fact: keyof SessionFacts;
  killRule: string;
  protectRules: string[];
  message: string;
}

export function unknownFactWarnings(rules: readonly LoadedRule[]): UnknownFactWarning[] {
  const protects = rules.filter((r) => r.action === 'protect');
  const kills = rules.filter((r) => r.action === 'kill');
  const warnings: UnknownFactWarning[] = [];
  for (const fact of IDENTITY_FACTS) {
    const keyedOn = protects.filter((r) => factsUsedBy(r.conditions).includes(fact)).map((r) => r.name);
    if (keyedOn.length === 0) continue;
    const warned = new Set<string>();
    // The plan never kills a session that holds nothing unless the kill rule names holdsNothing (plan.ts), so
    // such sessions count only for the rules that name it.
    for (const holdsNothing of [false, true]) {
      const assumption = { fact, holdsNothing };
      if (protects.some((r) => evaluateWithUnknown(r.conditions, assumption) === true)) continue;
      for (const kill of kills) {
        if (warned.has(kill.name)) continue;
        if (holdsNothing && !factsUsedBy(kill.conditions).includes('holdsNothing')) continue;
        if (evaluateWithUnknown(kill.conditions, assumption) === false) continue;
        warned.add(kill.name);
        warnings.push({
          fact, killRule: kill.name, protectRules: keyedOn,
          message: `kill rule "${kill.name}" can fire on a session whose ${fact} is unknown, which protect rule(s) ${keyedOn.map((n) => `"${n}"`).join(', ')} cannot recognise; add a protection for {"fact": "${fact}", "operator": "isUnknown", "value": true} or make the kill rule require ${fact} to be known`,
        });
      }
    }
  }
  return warnings;
}
