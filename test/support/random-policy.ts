/**
 * Seeded random fact records and random policy files for the differential test and the benchmark.
 * Everything is derived from FACT_CATALOGUE and the OPERATORS table (their examples and sample fact
 * values), so a new fact or a new operator is exercised without editing this file.
 */
import { FACT_CATALOGUE, emptyFacts, type FactType, type SessionFacts } from '../../src/pass/facts.ts';
import { OPERATORS, type OperatorSpec } from '../../src/pass/policy/operators.ts';

/** mulberry32: tiny, fast and good enough to spread test cases; the seed makes failures replayable. */
export class Random {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('pick from an empty list');
    return items[this.int(items.length)]!;
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
}

/** Thresholds of the default policy set, so that random facts land on and around them. */
const DEFAULT_THRESHOLDS = [60, 300, 900];

export interface FactPools {
  number: number[];
  string: string[];
  boolean: boolean[];
  'string[]': string[][];
}

/** Values per fact type: the operators' samples and examples, thresholds and their neighbours, "" and []. */
export function buildFactPools(): FactPools {
  const numbers = new Set<number>([0, 1, 2]);
  const strings = new Set<string>(['']);
  const arrays: string[][] = [[]];
  const addNumberAround = (n: number) => {
    for (const d of [-1, -0.001, 0, 0.001, 1]) numbers.add(n + d);
  };
  DEFAULT_THRESHOLDS.forEach(addNumberAround);
  const addValue = (v: unknown) => {
    if (typeof v === 'number') Number.isNaN(v) ? numbers.add(v) : addNumberAround(v);
    else if (typeof v === 'string') strings.add(v);
    else if (Array.isArray(v)) v.forEach(addValue);
  };
  for (const op of OPERATORS) {
    for (const [type, values] of Object.entries(op.sampleFacts) as [FactType, readonly unknown[]][]) {
      for (const v of values) (type === 'string[]' ? arrays.push(v as string[]) : addValue(v));
    }
    for (const values of Object.values(op.examples)) values.forEach(addValue);
  }
  return { number: [...numbers], string: [...strings], boolean: [true, false], 'string[]': arrays };
}

export function randomFacts(rng: Random, pools: FactPools): SessionFacts {
  const facts = emptyFacts(rng.chance(0.8) ? 'session' : 'operation') as unknown as Record<string, unknown>;
  for (const spec of FACT_CATALOGUE) {
    if (spec.name === 'target') continue;
    // A quarter of the facts keep their "absent" value (null, unknown, for identity facts), as real inventories mostly do.
    if (rng.chance(0.25)) continue;
    if (spec.type === 'string[]') {
      facts[spec.name] = rng.chance(0.5) ? rng.pick(pools['string[]']) : Array.from({ length: rng.int(4) }, () => rng.pick(pools.string));
    } else {
      facts[spec.name] = rng.pick(pools[spec.type] as readonly unknown[]);
    }
  }
  return facts as unknown as SessionFacts;
}

const FACTS_BY_TYPE: Record<FactType, string[]> = { string: [], number: [], boolean: [], 'string[]': [] };
for (const f of FACT_CATALOGUE) FACTS_BY_TYPE[f.type].push(f.name);
/** Facts that can be unknown (null), for the operators that apply to those only. */
const NULLABLE_BY_TYPE: Record<FactType, string[]> = { string: [], number: [], boolean: [], 'string[]': [] };
for (const f of FACT_CATALOGUE) if (f.nullable) NULLABLE_BY_TYPE[f.type].push(f.name);

/** Parameters every random policy declares, so that {"param": ...} values are exercised too. */
export const RANDOM_PARAMETERS = {
  low: { default: 60, description: 'random test threshold' },
  high: { default: 300, description: 'random test threshold' },
};

export interface RandomPolicyStats {
  /** Every leaf generated, to check afterwards that each operator both matched and failed somewhere. */
  leaves: { spec: OperatorSpec; fact: string; value: unknown }[];
}

/**
 * A policy file (as JSON text) with `ruleCount` random rules. Leaves take their operator from the
 * table in turn, so every operator appears once per |OPERATORS| leaves.
 */
export function randomPolicyFile(rng: Random, ruleCount: number, stats: RandomPolicyStats, namePrefix = 'r'): string {
  let turn = rng.int(OPERATORS.length);
  const leaf = (): unknown => {
    const spec = OPERATORS[turn++ % OPERATORS.length]!;
    const factType = rng.pick(spec.factTypes);
    const fact = rng.pick((spec.nullableFactsOnly ? NULLABLE_BY_TYPE : FACTS_BY_TYPE)[factType]);
    const examples = spec.examples[factType];
    if (!examples || examples.length === 0) throw new Error(`operator ${spec.name} has no examples for ${factType} facts: add some to OPERATORS`);
    const example = rng.pick(examples);
    if (factType === 'number' && typeof example === 'number' && rng.chance(0.3)) {
      const param = rng.pick(Object.keys(RANDOM_PARAMETERS) as (keyof typeof RANDOM_PARAMETERS)[]);
      stats.leaves.push({ spec, fact, value: RANDOM_PARAMETERS[param].default });
      return { fact, operator: spec.name, value: { param } };
    }
    stats.leaves.push({ spec, fact, value: example });
    return { fact, operator: spec.name, value: example };
  };
  const group = (depth: number): unknown => {
    const children = (): unknown[] => Array.from({ length: 1 + rng.int(3) }, () => node(depth + 1));
    const kind = rng.int(3);
    if (kind === 0) return { all: children() };
    if (kind === 1) return { any: children() };
    return { not: node(depth + 1) };
  };
  const node = (depth: number): unknown => (depth >= 3 || rng.chance(0.6) ? leaf() : group(depth));
  const rules = Array.from({ length: ruleCount }, (_, i) => ({
    name: `${namePrefix}${i}`,
    priority: 1 + rng.int(3),
    conditions: group(0),
    event: { type: rng.pick(['kill', 'protect', 'report']), params: { reason: `random rule ${i} (low={low})` } },
  }));
  return JSON.stringify({ version: 1, parameters: RANDOM_PARAMETERS, rules }, null, 1);
}
