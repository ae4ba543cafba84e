/**
 * The one table of condition operators. Load-time validation (which fact types an operator applies
 * to, which values it takes), the compiled evaluator and the json-rules-engine reference engine all
 * read OPERATORS, so an operator cannot mean one thing in a policy check and another at run time.
 *
 * Built-in entries mirror json-rules-engine 7.3.1 exactly (dist/engine-default-operators.js and
 * operator.js): a numeric operator first applies the engine's factValueValidator (parseFloat of the
 * fact must not be NaN), contains / doesNotContain first require the fact to be an array, and
 * `in` / `notIn` use Array.prototype.indexOf (strict equality). The engine keeps its own
 * implementation of those, so the differential test compares our mirror with the real thing; the
 * custom entries are registered on the engine from this table.
 *
 * Every entry carries examples (valid values per fact type) and sample fact values: the
 * differential test builds its random rules and facts from them, so a new operator is covered
 * without touching the test.
 */
import { isObject } from '../../util/validate.ts';
import type { FactType } from '../facts.ts';
import { addHostPattern, emptyHostPatterns, hostMatches } from './cidr.ts';
import { compilePolicyRegex, type PolicyRegex } from './regex.ts';

export type FactPredicate = (factValue: unknown) => boolean;

export interface OperatorSpec {
  readonly name: string;
  /** The fact types the operator applies to; validation refuses it on any other fact. */
  readonly factTypes: readonly FactType[];
  /** Shipped by json-rules-engine: the engine keeps its own implementation, ours mirrors it. */
  readonly builtin: boolean;
  /** What the value must be, for error messages and the README ("a number", "an array of strings"). */
  readonly valueDescription: string;
  /** null when `value` is acceptable for a fact of `factType`, else what is wrong with it. */
  valueCheck(value: unknown, factType: FactType): string | null;
  /** Builds the per-session test once per rule (regexes and CIDRs are parsed here, not per session). */
  compile(value: unknown): FactPredicate;
  /** Applies only to facts that can be unknown (FactSpec.nullable): the loader refuses it on others. */
  readonly nullableFactsOnly?: true;
  /** Valid values per fact type: documentation, and the values the random rules use. */
  readonly examples: Partial<Record<FactType, readonly unknown[]>>;
  /** Fact values worth testing against the examples (matching and not), per fact type. */
  readonly sampleFacts: Partial<Record<FactType, readonly unknown[]>>;
}

// ---- value checks shared by several entries ----

function describe(value: unknown): string {
  if (Array.isArray(value)) return 'an array';
  if (value === null) return 'null';
  if (typeof value === 'object') return 'an object';
  return `${typeof value} ${JSON.stringify(value)}`;
}

function scalarOfType(value: unknown, factType: FactType): string | null {
  if (factType === 'number') {
    return typeof value === 'number' && Number.isFinite(value) ? null : `must be a finite number, got ${describe(value)}`;
  }
  if (factType === 'string' || factType === 'boolean') {
    return typeof value === factType ? null : `must be a ${factType}, got ${describe(value)}`;
  }
  return `does not apply to ${factType} facts`;
}

function arrayOfType(value: unknown, factType: FactType, nonEmpty: boolean): string | null {
  if (!Array.isArray(value)) return `must be an array of ${factType}s, got ${describe(value)}`;
  if (nonEmpty && value.length === 0) return 'must be a non-empty array';
  for (let i = 0; i < value.length; i++) {
    const problem = scalarOfType(value[i], factType);
    if (problem) return `element [${i}] ${problem}`;
  }
  return null;
}

function stringArray(value: unknown): string | null {
  return arrayOfType(value, 'string', true);
}

// ---- json-rules-engine built-ins ----

/** json-rules-engine's numberValidator, with a fast path for numbers that gives the same answer. */
function engineNumberValidator(factValue: unknown): boolean {
  if (typeof factValue === 'number') return factValue === factValue;
  return Number.parseFloat(factValue as string).toString() !== 'NaN';
}

function numeric(name: string, compare: (a: number, b: number) => boolean): OperatorSpec {
  return {
    name,
    factTypes: ['number'],
    builtin: true,
    valueDescription: 'a finite number (or {"param": name})',
    valueCheck: scalarOfType,
    compile: (value) => {
      const b = value as number;
      return (a) => engineNumberValidator(a) && compare(a as number, b);
    },
    examples: { number: [0, 1, 59, 60, 61, 300, 900, 1800.5] },
    sampleFacts: { number: [0, 0.5, 1, 59, 59.999, 60, 60.001, 61, 299, 300, 301, 899, 900, 901, 1800.5, 86400, -1, Number.NaN] },
  };
}

const SCALAR_TYPES: readonly FactType[] = ['string', 'number', 'boolean'];
const SCALAR_EXAMPLES = { string: ['session', 'operation', '', '__system', 'admin', 'mongodump'], number: [0, 60, 300], boolean: [true, false] };
const SCALAR_SAMPLES = { string: ['session', 'operation', '', '__system', 'Session', 'admin'], number: [0, 60, 300, 301], boolean: [true, false] };

const builtins: OperatorSpec[] = [
  {
    name: 'equal', factTypes: SCALAR_TYPES, builtin: true, valueDescription: 'a value of the fact\'s type',
    valueCheck: scalarOfType,
    compile: (b) => (a) => a === b,
    examples: SCALAR_EXAMPLES, sampleFacts: SCALAR_SAMPLES,
  },
  {
    name: 'notEqual', factTypes: SCALAR_TYPES, builtin: true, valueDescription: 'a value of the fact\'s type',
    valueCheck: scalarOfType,
    compile: (b) => (a) => a !== b,
    examples: SCALAR_EXAMPLES, sampleFacts: SCALAR_SAMPLES,
  },
  {
    name: 'in', factTypes: SCALAR_TYPES, builtin: true, valueDescription: 'an array of values of the fact\'s type',
    valueCheck: (value, factType) => arrayOfType(value, factType, false),
    compile: (value) => {
      const b = value as unknown[];
      return (a) => b.indexOf(a) > -1;
    },
    examples: { string: [['session'], ['admin', '__system'], []], number: [[0, 60], [300]], boolean: [[true], [true, false]] },
    sampleFacts: SCALAR_SAMPLES,
  },
  {
    name: 'notIn', factTypes: SCALAR_TYPES, builtin: true, valueDescription: 'an array of values of the fact\'s type',
    valueCheck: (value, factType) => arrayOfType(value, factType, false),
    compile: (value) => {
      const b = value as unknown[];
      return (a) => b.indexOf(a) === -1;
    },
    examples: { string: [['operation'], ['admin', '']], number: [[0], [60, 300]], boolean: [[false]] },
    sampleFacts: SCALAR_SAMPLES,
  },
  {
    name: 'contains', factTypes: ['string[]'], builtin: true, valueDescription: 'a string',
    valueCheck: (value) => scalarOfType(value, 'string'),
    compile: (b) => (a) => Array.isArray(a) && a.indexOf(b) > -1,
    examples: { 'string[]': ['query', 'command', 'app.orders', ''] },
    sampleFacts: { 'string[]': [[], ['query'], ['command', 'getmore'], ['app.orders', 'app.users'], ['']] },
  },
  {
    name: 'doesNotContain', factTypes: ['string[]'], builtin: true, valueDescription: 'a string',
    valueCheck: (value) => scalarOfType(value, 'string'),
    compile: (b) => (a) => Array.isArray(a) && a.indexOf(b) === -1,
    examples: { 'string[]': ['update', 'app.orders'] },
    sampleFacts: { 'string[]': [[], ['update'], ['query', 'update'], ['app.orders']] },
  },
  numeric('lessThan', (a, b) => a < b),
  numeric('lessThanInclusive', (a, b) => a <= b),
  numeric('greaterThan', (a, b) => a > b),
  numeric('greaterThanInclusive', (a, b) => a >= b),
];

// ---- custom operators ----

/** Accepts "pattern" or {"pattern": "...", "flags": "i"}; returns the compiled RE2 regex or the problem. */
export function parseRegexValue(value: unknown): PolicyRegex | string {
  let pattern: unknown = value;
  let flags: unknown = '';
  if (isObject(value)) {
    const keys = Object.keys(value);
    const unknownKey = keys.find((k) => k !== 'pattern' && k !== 'flags');
    if (unknownKey) return `takes {"pattern", "flags"} only; remove "${unknownKey}"`;
    pattern = (value as { pattern?: unknown }).pattern;
    flags = (value as { flags?: unknown }).flags ?? '';
  }
  if (typeof pattern !== 'string') return `must be a regex string or {"pattern": "...", "flags": "i"}, got ${describe(value)}`;
  if (typeof flags !== 'string') return `flags must be a string of i, m, s, u, got ${describe(flags)}`;
  return compilePolicyRegex(pattern, flags);
}

function compileRegex(value: unknown): PolicyRegex {
  const re = parseRegexValue(value);
  if (typeof re === 'string') throw new TypeError(`regex value ${re}`);
  return re;
}

/** Accepts one pattern or an array of them (CIDR, address or host name). */
export function parseHostPatternsValue(value: unknown): ReturnType<typeof emptyHostPatterns> | string {
  const list = Array.isArray(value) ? value : [value];
  if (list.length === 0) return 'must be a CIDR, an address, a host name or a non-empty array of them';
  const patterns = emptyHostPatterns();
  for (let i = 0; i < list.length; i++) {
    const item: unknown = list[i];
    if (typeof item !== 'string') {
      return `${Array.isArray(value) ? `element [${i}] ` : ''}must be a CIDR string such as "10.0.0.0/8", got ${describe(item)}`;
    }
    const problem = addHostPattern(patterns, item);
    if (problem) return Array.isArray(value) ? `element [${i}] ${problem}` : problem;
  }
  return patterns;
}

function compileHostPatterns(value: unknown): ReturnType<typeof emptyHostPatterns> {
  const patterns = parseHostPatternsValue(value);
  if (typeof patterns === 'string') throw new TypeError(`host pattern value ${patterns}`);
  return patterns;
}

const REGEX_EXAMPLES = {
  string: [
    '^mongo',
    { pattern: '^(MongoDB Automation Agent|mongodump|pbm)', flags: 'i' },
    { pattern: 'backup$' },
    '',
    '^$',
    // Exponential for a backtracking engine on the hostile sample below; linear on RE2.
    '^(a+)+$',
  ],
};
const REGEX_SAMPLES = {
  string: ['', 'mongodump', 'MONGODUMP 100.9', 'MongoDB Automation Agent v13', 'pbm-agent', 'nightly backup', 'Backup', 'mongosh 2.3', 'app',
    'aaaa', `${'a'.repeat(120)}!`],
};
const HOST_EXAMPLES = {
  string: ['10.0.0.0/8', ['192.168.1.0/24', 'fd00::/8'], '10.1.2.3', ['app-1.internal', '::1'], ['0.0.0.0/0']],
};
const HOST_SAMPLES = {
  string: ['', '10.1.2.3', '10.1.2.3:51234', '11.0.0.1:27017', '192.168.1.77', '192.168.2.1:1', '[fd00::5]:27017', 'fd00::5',
    '::1', '::ffff:10.9.9.9', 'app-1.internal:40000', 'APP-1.INTERNAL', 'other.host:1', '/tmp/mongodb-27017.sock'],
};
const LIST_EXAMPLES = { string: [['__system', 'Admin'], ['MONGODUMP', 'mongorestore'], ['']] };
const LIST_SAMPLES = { string: ['', '__system', '__SYSTEM', 'admin', 'ADMIN', 'mongodump', 'mongosh'] };

const customs: OperatorSpec[] = [
  {
    name: 'matchesRegex', factTypes: ['string'], builtin: false,
    valueDescription: 'an RE2 regex string or {"pattern": "...", "flags": "i"}',
    valueCheck: (value) => { const re = parseRegexValue(value); return typeof re === 'string' ? re : null; },
    compile: (value) => { const re = compileRegex(value); return (a) => typeof a === 'string' && re.test(a); },
    examples: REGEX_EXAMPLES, sampleFacts: REGEX_SAMPLES,
  },
  {
    name: 'notMatchesRegex', factTypes: ['string'], builtin: false,
    valueDescription: 'an RE2 regex string or {"pattern": "...", "flags": "i"}',
    valueCheck: (value) => { const re = parseRegexValue(value); return typeof re === 'string' ? re : null; },
    compile: (value) => { const re = compileRegex(value); return (a) => typeof a === 'string' && !re.test(a); },
    examples: REGEX_EXAMPLES, sampleFacts: REGEX_SAMPLES,
  },
  {
    // Case-sensitive membership is the built-in `in` / `notIn`; this is the case-insensitive one
    // (user and application names are often typed with varying case).
    name: 'inListIgnoreCase', factTypes: ['string'], builtin: false, valueDescription: 'a non-empty array of strings',
    valueCheck: stringArray,
    compile: (value) => {
      const set = new Set((value as string[]).map((s) => s.toLowerCase()));
      return (a) => typeof a === 'string' && set.has(a.toLowerCase());
    },
    examples: LIST_EXAMPLES, sampleFacts: LIST_SAMPLES,
  },
  {
    name: 'notInListIgnoreCase', factTypes: ['string'], builtin: false, valueDescription: 'a non-empty array of strings',
    valueCheck: stringArray,
    compile: (value) => {
      const set = new Set((value as string[]).map((s) => s.toLowerCase()));
      return (a) => typeof a === 'string' && !set.has(a.toLowerCase());
    },
    examples: LIST_EXAMPLES, sampleFacts: LIST_SAMPLES,
  },
  {
    name: 'hostInCidr', factTypes: ['string'], builtin: false,
    valueDescription: 'a CIDR, an address or a host name, or a non-empty array of them',
    valueCheck: (value) => { const p = parseHostPatternsValue(value); return typeof p === 'string' ? p : null; },
    compile: (value) => { const p = compileHostPatterns(value); return (a) => typeof a === 'string' && hostMatches(p, a); },
    examples: HOST_EXAMPLES, sampleFacts: HOST_SAMPLES,
  },
  {
    // An unknown client ("") is neither inside nor outside: a kill rule written as "not from the
    // application subnet" must not fire on sessions whose address the server did not report.
    name: 'notHostInCidr', factTypes: ['string'], builtin: false,
    valueDescription: 'a CIDR, an address or a host name, or a non-empty array of them',
    valueCheck: (value) => { const p = parseHostPatternsValue(value); return typeof p === 'string' ? p : null; },
    compile: (value) => {
      const p = compileHostPatterns(value);
      return (a) => typeof a === 'string' && a !== '' && !hostMatches(p, a);
    },
    examples: HOST_EXAMPLES, sampleFacts: HOST_SAMPLES,
  },
  {
    name: 'containsAny', factTypes: ['string[]'], builtin: false, valueDescription: 'a non-empty array of strings',
    valueCheck: stringArray,
    compile: (value) => {
      const set = new Set(value as string[]);
      return (a) => {
        if (!Array.isArray(a)) return false;
        for (const item of a) if (set.has(item)) return true;
        return false;
      };
    },
    examples: { 'string[]': [['update', 'remove'], ['app.orders'], ['']] },
    sampleFacts: { 'string[]': [[], ['update'], ['query', 'remove'], ['app.orders', 'x.y'], [''], ['command']] },
  },
];

/**
 * Unknown is its own state. The custom string operators are false on an unknown (null) fact in both
 * directions (a "not from that subnet" or "not that app" rule must not fire on what nobody reported); the
 * json-rules-engine built-ins compare null as a value, so notEqual and notIn are true on it (`policies check`
 * warns where that lets a kill rule past a protection). A rule that wants unknown sessions says isUnknown.
 */
const unknownness: OperatorSpec = {
  name: 'isUnknown', factTypes: ['string'], builtin: false, nullableFactsOnly: true, valueDescription: 'true or false',
  valueCheck: (value) => (typeof value === 'boolean' ? null : `must be true or false, got ${describe(value)}`),
  compile: (value) => (a) => (a === null || a === undefined) === value,
  examples: { string: [true, false] },
  sampleFacts: { string: [null, '', 'mongodump', '10.1.2.3:5000'] },
};

export const OPERATORS: readonly OperatorSpec[] = [...builtins, ...customs, unknownness];

const BY_NAME: ReadonlyMap<string, OperatorSpec> = new Map(OPERATORS.map((op) => [op.name, op]));

export function operatorNamed(name: string): OperatorSpec | undefined {
  return BY_NAME.get(name);
}

export const OPERATOR_NAMES: readonly string[] = OPERATORS.map((op) => op.name);

/**
 * Caches compiled predicates by condition value, so the engine compiles each rule's regex or CIDR
 * list once rather than per session. Keyed by the value's JSON text, not by identity: json-rules-
 * engine deep-clones a rule's conditions into every RuleResult (dist/rule-result.js), so the
 * operator receives a fresh copy of an object value on every run.
 */
export function predicateCache(spec: OperatorSpec): (value: unknown) => FactPredicate {
  const compiled = new Map<string, FactPredicate>();
  return (value) => {
    const key = JSON.stringify(value);
    let predicate = compiled.get(key);
    if (!predicate) compiled.set(key, (predicate = spec.compile(value)));
    return predicate;
  };
}
