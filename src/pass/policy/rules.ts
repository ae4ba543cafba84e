/**
 * The checks a schema cannot express, and the substitution of parameters: every condition names a
 * fact of the catalogue and an operator of the table that applies to that fact's type, with a
 * value the operator accepts; {"param": name} values and {name} placeholders in reasons name
 * declared parameters; rule names are unique across the whole set. Walks defensively, because a
 * file that failed the schema check is still searched for these problems (all problems are
 * reported together).
 */
import { isObject } from '../../util/validate.ts';
import { FACT_CATALOGUE, type FactType, type SessionFacts } from '../facts.ts';
import { OPERATOR_NAMES, OPERATORS, operatorNamed } from './operators.ts';
import { fieldPath, ruleLabel } from './paths.ts';
import type { PolicyProblem } from './problems.ts';
import { ACTIONS, type Action, type ConditionNode, type LoadedRule, type TopLevelCondition } from './types.ts';

const FACT_TYPES: ReadonlyMap<string, FactType> = new Map(FACT_CATALOGUE.map((f) => [f.name, f.type]));
const NULLABLE_FACTS: ReadonlySet<string> = new Set(FACT_CATALOGUE.filter((f) => f.nullable).map((f) => f.name));

const PLACEHOLDER = /\{([A-Za-z][A-Za-z0-9_]*)\}/g;

export interface RuleContext {
  /** Parameter values by name (already resolved from default, environment and overrides). */
  parameters: ReadonlyMap<string, number>;
  /** Rule names seen so far in the set, with where: detects duplicates within and across files. */
  seenNames: Map<string, { file: string; index: number }>;
}

/** A rule switched off by its "enabled" parameter: not evaluated, shown by `policies check`. */
export interface DisabledRule {
  name: string;
  file: string;
  param: string;
}

export function loadRules(file: string, doc: unknown, ctx: RuleContext): { rules: LoadedRule[]; problems: PolicyProblem[]; disabled: DisabledRule[] } {
  const rules: LoadedRule[] = [];
  const disabled: DisabledRule[] = [];
  const problems: PolicyProblem[] = [];
  const rawRules = (doc as { rules?: unknown } | null)?.rules;
  if (!Array.isArray(rawRules)) return { rules, problems, disabled };
  rawRules.forEach((raw: unknown, index) => {
    if (!isObject(raw)) return; // reported by the schema check
    const rule = raw;
    const label = ruleLabel(doc, index);
    const before = problems.length;
    const report = (field: string, message: string) => problems.push({ file, rule: label, field, message });

    if (typeof rule.name === 'string' && rule.name !== '') {
      const earlier = ctx.seenNames.get(rule.name);
      if (earlier) {
        report('name', earlier.file === file
          ? `rule name "${rule.name}" is used twice in ${file} (rules[${earlier.index}] and rules[${index}]); rule names must be unique across the policy set, rename one`
          : `rule name "${rule.name}" is already used in ${earlier.file} (rules[${earlier.index}]); rule names must be unique across the policy set, rename one of them`);
      } else ctx.seenNames.set(rule.name, { file, index });
    }

    const event = rule.event as { type?: unknown; params?: { reason?: unknown } } | undefined;
    const reasonTemplate = event?.params?.reason;
    let reason = '';
    if (typeof reasonTemplate === 'string') {
      reason = reasonTemplate.replace(PLACEHOLDER, (whole, name: string) => {
        const value = ctx.parameters.get(name);
        if (value === undefined) {
          report('event.params.reason', `placeholder {${name}} names no parameter; declared parameters: ${knownParams(ctx)}`);
          return whole;
        }
        return String(value);
      });
    }

    const conditions = rule.conditions === undefined ? undefined : checkNode(rule.conditions, ['conditions'], ctx, report);
    const enabled = enabledBy(rule.enabled, ctx, report);

    if (problems.length === before && typeof rule.name === 'string' && conditions && isRootGroup(conditions) &&
        ACTIONS.includes(event?.type as Action) && reason !== '') {
      if (!enabled.on) {
        disabled.push({ name: rule.name, file, param: enabled.param! });
        return;
      }
      rules.push({
        name: rule.name,
        file,
        priority: typeof rule.priority === 'number' ? rule.priority : 1,
        action: event!.type as Action,
        reason,
        conditions,
        ...(typeof rule.description === 'string' ? { description: rule.description } : {}),
      });
    }
  });
  return { rules, problems, disabled };
}

/**
 * "enabled": true, false or {"param": name}: a rule switched by a parameter (0 = off, anything else = on),
 * for protections an operator may lift ("protectOutputAggregations": 0 lets the kill rules act on $merge).
 */
function enabledBy(value: unknown, ctx: RuleContext, report: Report): { on: boolean; param?: string } {
  if (value === undefined || value === true) return { on: true };
  if (value === false) return { on: false, param: '(false)' };
  if (isParamReference(value) && typeof value.param === 'string') {
    const resolved = ctx.parameters.get(value.param);
    if (resolved === undefined) {
      report('enabled.param', `unknown parameter "${value.param}"; declared parameters: ${knownParams(ctx)}`);
      return { on: true };
    }
    return { on: resolved !== 0, param: value.param };
  }
  return { on: true }; // other shapes are reported by the schema check
}

function isRootGroup(node: ConditionNode): node is TopLevelCondition {
  return 'all' in node || 'any' in node || 'not' in node;
}

type Report = (field: string, message: string) => void;

/** Returns the node with parameters substituted, or undefined when it cannot be used. */
function checkNode(node: unknown, at: (string | number)[], ctx: RuleContext, report: Report): ConditionNode | undefined {
  if (!isObject(node)) return undefined; // schema reports it
  const n = node;
  for (const group of ['any', 'all'] as const) {
    if (Object.prototype.hasOwnProperty.call(n, group)) {
      const children = n[group];
      if (!Array.isArray(children)) return undefined;
      const checked = children.map((c, i) => checkNode(c, [...at, group, i], ctx, report));
      return checked.every((c) => c !== undefined) ? ({ [group]: checked } as ConditionNode) : undefined;
    }
  }
  if (Object.prototype.hasOwnProperty.call(n, 'not')) {
    const child = checkNode(n.not, [...at, 'not'], ctx, report);
    return child ? { not: child } : undefined;
  }
  return checkLeaf(n, at, ctx, report);
}

function checkLeaf(n: Record<string, unknown>, at: (string | number)[], ctx: RuleContext, report: Report): ConditionNode | undefined {
  const { fact, operator } = n;
  let ok = true;
  const factType = typeof fact === 'string' ? FACT_TYPES.get(fact) : undefined;
  if (typeof fact === 'string' && factType === undefined) {
    report(fieldPath([...at, 'fact']), `unknown fact "${fact}"; ${suggestFact(fact)}`);
    ok = false;
  }
  const spec = typeof operator === 'string' ? operatorNamed(operator) : undefined;
  if (typeof operator === 'string' && spec === undefined) {
    report(fieldPath([...at, 'operator']), `unknown operator "${operator}"; registered operators: ${OPERATOR_NAMES.join(', ')}`);
    ok = false;
  }
  let value = n.value;
  let fromParam: string | undefined;
  if (isParamReference(value)) {
    // Stray keys or a non-string name are reported by the schema check; do not report twice.
    if (typeof value.param !== 'string' || Object.keys(value).length !== 1) return undefined;
    fromParam = value.param;
    const resolved = ctx.parameters.get(value.param);
    if (resolved === undefined) {
      report(fieldPath([...at, 'value', 'param']), `unknown parameter "${value.param}"; declared parameters: ${knownParams(ctx)}`);
      ok = false;
    }
    value = resolved;
  } else if (isObject(value) && 'fact' in value) {
    report(fieldPath([...at, 'value']), 'fact references ({"fact": ...} as a value) are not supported: compare a fact with a literal or a {"param": name}');
    ok = false;
  }
  if (!ok || factType === undefined || spec === undefined || !('value' in n)) return undefined;
  if (!spec.factTypes.includes(factType)) {
    const suitable = OPERATORS.filter((op) => op.factTypes.includes(factType)).map((op) => op.name).join(', ');
    report(fieldPath([...at, 'operator']),
      `operator "${spec.name}" does not apply to ${factType} fact "${String(fact)}" (it takes ${spec.factTypes.join(' or ')} facts); operators for ${factType} facts: ${suitable}`);
    return undefined;
  }
  if (spec.nullableFactsOnly && !NULLABLE_FACTS.has(fact as string)) {
    report(fieldPath([...at, 'operator']),
      `operator "${spec.name}" applies only to facts that can be unknown (${[...NULLABLE_FACTS].join(', ')}); "${String(fact)}" is always known`);
    return undefined;
  }
  const problem = spec.valueCheck(value, factType);
  if (problem) {
    report(fieldPath([...at, 'value']),
      `value ${problem}${fromParam ? ` (from parameter "${fromParam}")` : ''}; operator "${spec.name}" on ${factType} fact "${String(fact)}" takes ${spec.valueDescription}`);
    return undefined;
  }
  return { fact: fact as keyof SessionFacts, operator: spec.name, value };
}

function isParamReference(value: unknown): value is { param: unknown } {
  return isObject(value) && 'param' in value;
}

function knownParams(ctx: RuleContext): string {
  return [...ctx.parameters.keys()].join(', ') || '(none declared)';
}

function suggestFact(name: string): string {
  const ranked = FACT_CATALOGUE.map((f) => ({ name: f.name, distance: editDistance(name.toLowerCase(), f.name.toLowerCase()) }))
    .sort((a, b) => a.distance - b.distance);
  const best = ranked[0]!;
  if (best.distance <= Math.max(2, Math.floor(name.length / 4))) {
    return `did you mean "${best.name}"? (facts are listed in FACT_CATALOGUE, src/pass/facts.ts)`;
  }
  return `known facts: ${FACT_CATALOGUE.map((f) => f.name).join(', ')}`;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length]!;
}
