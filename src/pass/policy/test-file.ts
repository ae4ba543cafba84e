/**
 * Policy test files: the cases that live beside a policy set (DIR/tests/*.json) and say what the set must
 * decide. Each case gives either a fact record (partial: every fact not given has its "absent" value, as
 * facts.ts defines) or a snapshot excerpt (raw $currentOp and listing documents in Extended JSON, decided by
 * the pass's own path), and the expected action and rule (and, for an excerpt, the outcome after the plan).
 *
 *   { "version": 1, "description": "...", "cases": [
 *       { "name": "idle transaction just over 60 s is killed",
 *         "facts": { "hasTransaction": true, "txnInactiveSeconds": 61 },
 *         "expect": { "action": "kill", "rule": "idle-transaction" } },
 *       { "name": "...", "parameters": { "idleTransactionSeconds": 30 }, "facts": { ... }, "expect": { "action": "none" } },
 *       { "name": "...", "snapshot": { "time": "2024-06-01T12:00:00Z", "currentOp": [ ... ], "listSessions": [ ... ] },
 *         "session": "UUID", "expect": { "action": "protect", "rule": "prepared-transaction", "outcome": "skipped" } } ] }
 *
 * Like policy files, every problem of every file is collected and reported together, each naming the file,
 * the case and the field, with what to do.
 */
import { emptyFacts, FACT_CATALOGUE, type SessionFacts } from '../facts.ts';
import type { Outcome } from '../journal.ts';
import { parseJsonWithPosition } from './json.ts';
import { fieldPath } from './paths.ts';
import { ACTIONS, type Action, type PolicySet } from './types.ts';

export const TESTS_DIR = 'tests';

export interface TestProblem {
  file: string;
  case?: string;
  field?: string;
  message: string;
}

export function formatTestProblem(p: TestProblem): string {
  const where = [p.file, p.case ? `case "${p.case}"` : undefined, p.field ? `field ${p.field}` : undefined].filter(Boolean).join(', ');
  return `${where}: ${p.message}`;
}

export type ExpectedAction = Action | 'none';

export interface Expectation {
  action: ExpectedAction;
  /** The winning rule; null when no rule may match (action "none"). */
  rule: string | null;
  /** Snapshot cases only: the outcome after the plan (planned, skipped, protected, reported). */
  outcome?: Outcome;
}

/** A snapshot excerpt: the raw documents of one member's three listings, and the time they were read. */
export interface SnapshotExcerpt {
  timeMs: number;
  reaper: { sessionId: string; uid: string; user: string };
  currentOp: unknown[];
  listLocalSessions: unknown[];
  listSessions: unknown[];
}

export type CaseInput =
  | { kind: 'facts'; facts: SessionFacts; given: Record<string, unknown> }
  | { kind: 'snapshot'; excerpt: SnapshotExcerpt; session?: string; opid?: string };

export interface PolicyTestCase {
  file: string;
  name: string;
  description?: string;
  parameters: Record<string, number>;
  input: CaseInput;
  expect: Expectation;
}

const FILE_KEYS = new Set(['$schema', 'version', 'description', 'cases']);
const CASE_KEYS = new Set(['name', 'description', 'parameters', 'facts', 'snapshot', 'session', 'opid', 'expect']);
const SNAPSHOT_KEYS = new Set(['time', 'reaper', 'currentOp', 'listLocalSessions', 'listSessions']);
const EXPECT_KEYS = new Set(['action', 'rule', 'outcome']);
const OUTCOMES: readonly Outcome[] = ['planned', 'skipped', 'protected', 'reported'];
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function typeOf(v: unknown): string {
  return Array.isArray(v) ? 'array' : v === null ? 'null' : typeof v;
}

/** Checks one case; problems go to `problems`, a usable case is returned. */
class CaseChecker {
  constructor(private readonly file: string, private readonly set: PolicySet, private readonly problems: TestProblem[]) {}

  private problem(caseName: string, field: (string | number)[], message: string): void {
    this.problems.push({ file: this.file, case: caseName, ...(field.length ? { field: fieldPath(field) } : {}), message });
  }

  private unknownKeys(caseName: string, at: (string | number)[], value: Record<string, unknown>, allowed: ReadonlySet<string>): void {
    for (const k of Object.keys(value)) {
      if (!allowed.has(k)) this.problem(caseName, [...at, k], `is not allowed here; allowed: ${[...allowed].join(', ')}`);
    }
  }

  facts(name: string, value: unknown): CaseInput | null {
    if (!isObject(value)) {
      this.problem(name, ['facts'], `must be an object of fact names and values (got ${typeOf(value)}); facts not given keep their "absent" value`);
      return null;
    }
    const target = value.target === 'operation' ? 'operation' : 'session';
    const facts = emptyFacts(target);
    let ok = true;
    for (const [fact, v] of Object.entries(value)) {
      const spec = FACT_CATALOGUE.find((f) => f.name === fact);
      if (!spec) {
        const near = FACT_CATALOGUE.filter((f) => f.name.toLowerCase().includes(fact.toLowerCase().slice(0, 4))).map((f) => f.name);
        this.problem(name, ['facts', fact], `is not a fact${near.length ? ` (did you mean ${near.slice(0, 3).join(', ')}?)` : ''}; the facts are listed in the README's fact catalogue`);
        ok = false;
        continue;
      }
      const fits = spec.type === 'string[]' ? Array.isArray(v) && v.every((x) => typeof x === 'string') : typeof v === spec.type && (spec.type !== 'number' || Number.isFinite(v));
      if (!fits) {
        this.problem(name, ['facts', fact], `must be a ${spec.type} (${spec.unit || spec.meaning}), got ${JSON.stringify(v)}`);
        ok = false;
        continue;
      }
      if (fact === 'target' && v !== 'session' && v !== 'operation') {
        this.problem(name, ['facts', fact], `must be "session" or "operation", got ${JSON.stringify(v)}`);
        ok = false;
        continue;
      }
      (facts as unknown as Record<string, unknown>)[fact] = v;
    }
    return ok ? { kind: 'facts', facts, given: value } : null;
  }

  snapshot(name: string, value: unknown, c: Record<string, unknown>): CaseInput | null {
    if (!isObject(value)) {
      this.problem(name, ['snapshot'], `must be an object {"time", "currentOp", "listLocalSessions", "listSessions"} (got ${typeOf(value)})`);
      return null;
    }
    this.unknownKeys(name, ['snapshot'], value, SNAPSHOT_KEYS);
    let ok = true;
    const timeMs = typeof value.time === 'string' ? Date.parse(value.time) : typeof value.time === 'number' ? value.time : NaN;
    if (!Number.isFinite(timeMs)) {
      this.problem(name, ['snapshot', 'time'], 'is required: the time the documents were read, as an ISO 8601 string ("2024-06-01T12:00:00Z") or epoch milliseconds; idle times are measured from it');
      ok = false;
    }
    const lists: Record<'currentOp' | 'listLocalSessions' | 'listSessions', unknown[]> = { currentOp: [], listLocalSessions: [], listSessions: [] };
    for (const source of ['currentOp', 'listLocalSessions', 'listSessions'] as const) {
      const docs = value[source];
      if (docs === undefined) continue;
      if (!Array.isArray(docs) || !docs.every(isObject)) {
        this.problem(name, ['snapshot', source], 'must be an array of documents (Extended JSON, as a snapshot records them)');
        ok = false;
        continue;
      }
      lists[source] = docs;
    }
    const reaper = { sessionId: '', uid: '', user: '' };
    if (value.reaper !== undefined) {
      const r = value.reaper;
      if (!isObject(r) || !Object.entries(r).every(([k, v]) => k in reaper && typeof v === 'string')) {
        this.problem(name, ['snapshot', 'reaper'], 'must be {"sessionId", "uid", "user"} (strings): the session the reaper itself uses');
        ok = false;
      } else Object.assign(reaper, r);
    }
    const selected: { session?: string; opid?: string } = {};
    if (c.session !== undefined && c.opid !== undefined) {
      this.problem(name, ['opid'], 'give "session" or "opid", not both');
      ok = false;
    } else if (c.session !== undefined) {
      if (typeof c.session !== 'string' || !UUID.test(c.session)) {
        this.problem(name, ['session'], `must be a session id (UUID) from the excerpt, got ${JSON.stringify(c.session)}`);
        ok = false;
      } else selected.session = c.session.toLowerCase();
    } else if (c.opid !== undefined) {
      if (typeof c.opid !== 'string' || c.opid === '') {
        this.problem(name, ['opid'], `must be the opid of a sessionless operation in the excerpt, as a string ("123"), got ${JSON.stringify(c.opid)}`);
        ok = false;
      } else selected.opid = c.opid;
    }
    return ok && Number.isFinite(timeMs) ? { kind: 'snapshot', excerpt: { timeMs, reaper, ...lists }, ...selected } : null;
  }

  parameters(name: string, value: unknown): Record<string, number> | null {
    if (value === undefined) return {};
    if (!isObject(value)) {
      this.problem(name, ['parameters'], `must be an object of parameter names and numbers (got ${typeOf(value)})`);
      return null;
    }
    const out: Record<string, number> = {};
    let ok = true;
    for (const [p, v] of Object.entries(value)) {
      const info = this.set.parameterInfo[p];
      if (!info) {
        this.problem(name, ['parameters', p], `is not a parameter of the policy set; its parameters: ${Object.keys(this.set.parameterInfo).join(', ') || '(none)'}`);
        ok = false;
      } else if (typeof v !== 'number' || !Number.isFinite(v) || (info.minimum !== undefined && v < info.minimum) || (info.maximum !== undefined && v > info.maximum)) {
        const range = [info.minimum !== undefined ? `at least ${info.minimum}` : '', info.maximum !== undefined ? `at most ${info.maximum}` : ''].filter(Boolean).join(' and ');
        this.problem(name, ['parameters', p], `must be a number${range ? ` (${range})` : ''}, got ${JSON.stringify(v)}`);
        ok = false;
      } else out[p] = v;
    }
    return ok ? out : null;
  }

  expect(name: string, value: unknown, snapshotCase: boolean): Expectation | null {
    if (!isObject(value)) {
      this.problem(name, ['expect'], 'is required: {"action": "kill" | "protect" | "report" | "none", "rule": NAME}');
      return null;
    }
    this.unknownKeys(name, ['expect'], value, EXPECT_KEYS);
    const { action, rule, outcome } = value;
    if (action !== 'none' && !(ACTIONS as readonly unknown[]).includes(action)) {
      this.problem(name, ['expect', 'action'], `must be one of ${[...ACTIONS, 'none'].join(', ')} ("none": no rule matches), got ${JSON.stringify(action)}`);
      return null;
    }
    let ok = true;
    if (action === 'none') {
      if (rule !== undefined && rule !== null) {
        this.problem(name, ['expect', 'rule'], 'must be left out when the action is "none" (no rule matches)');
        ok = false;
      }
    } else if (typeof rule !== 'string') {
      this.problem(name, ['expect', 'rule'], `is required with action "${String(action)}": the name of the rule that must win`);
      ok = false;
    } else {
      const found = this.set.rules.find((r) => r.name === rule);
      if (!found) {
        this.problem(name, ['expect', 'rule'], `names rule "${rule}", which is not in the policy set; its rules: ${this.set.rules.map((r) => r.name).join(', ')}`);
        ok = false;
      } else if (found.action !== action) {
        this.problem(name, ['expect', 'action'], `is "${String(action)}" but rule "${rule}" is a ${found.action} rule: expect action "${found.action}", or name another rule`);
        ok = false;
      }
    }
    if (outcome !== undefined) {
      if (!snapshotCase) {
        this.problem(name, ['expect', 'outcome'], 'needs a snapshot case: a fact case is evaluated without the plan; give "snapshot" instead of "facts", or drop "outcome"');
        ok = false;
      } else if (!(OUTCOMES as readonly unknown[]).includes(outcome)) {
        this.problem(name, ['expect', 'outcome'], `must be one of ${OUTCOMES.join(', ')}, got ${JSON.stringify(outcome)}`);
        ok = false;
      }
    }
    return ok ? { action: action as ExpectedAction, rule: action === 'none' ? null : (rule as string), ...(outcome !== undefined ? { outcome: outcome as Outcome } : {}) } : null;
  }

  check(c: unknown, index: number, names: Set<string>): PolicyTestCase | null {
    const label = isObject(c) && typeof c.name === 'string' && c.name !== '' ? c.name : `cases[${index}]`;
    if (!isObject(c)) {
      this.problem(label, [], `must be an object {"name", "facts" | "snapshot", "expect"} (got ${typeOf(c)})`);
      return null;
    }
    this.unknownKeys(label, [], c, CASE_KEYS);
    let ok = true;
    if (typeof c.name !== 'string' || c.name === '') {
      this.problem(label, ['name'], 'is required: a sentence saying what the case checks');
      ok = false;
    } else if (names.has(c.name)) {
      this.problem(label, ['name'], 'is used by another case of this file; give each case its own name');
      ok = false;
    } else names.add(c.name);
    let input: CaseInput | null = null;
    if ((c.facts === undefined) === (c.snapshot === undefined)) {
      this.problem(label, [], 'needs exactly one of "facts" (a fact record) and "snapshot" (raw documents)');
      ok = false;
    } else {
      input = c.facts !== undefined ? this.facts(label, c.facts) : this.snapshot(label, c.snapshot, c);
      if (c.facts !== undefined && (c.session !== undefined || c.opid !== undefined)) {
        this.problem(label, [c.session !== undefined ? 'session' : 'opid'], 'selects a record of a snapshot excerpt; a fact case has one record: drop it');
        ok = false;
      }
    }
    const parameters = this.parameters(label, c.parameters);
    const expect = this.expect(label, c.expect, c.snapshot !== undefined);
    if (!ok || !input || !parameters || !expect) return null;
    return { file: this.file, name: c.name as string, ...(typeof c.description === 'string' ? { description: c.description } : {}), parameters, input, expect };
  }
}

/** Parses and checks test files against the policy set they test; every problem of every file is returned. */
export function parseTestFiles(files: readonly { name: string; text: string }[], set: PolicySet): { cases: PolicyTestCase[]; problems: TestProblem[] } {
  const cases: PolicyTestCase[] = [];
  const problems: TestProblem[] = [];
  for (const { name, text } of files) {
    const parsed = parseJsonWithPosition(text.startsWith('\uFEFF') ? text.slice(1) : text);
    if (!parsed.ok) {
      problems.push({ file: name, message: `is not valid JSON at line ${parsed.line}, column ${parsed.column} (${parsed.message}); fix the syntax there` });
      continue;
    }
    const doc = parsed.value;
    if (!isObject(doc)) {
      problems.push({ file: name, message: 'must be a JSON object with "version": 1 and a "cases" array' });
      continue;
    }
    for (const k of Object.keys(doc)) if (!FILE_KEYS.has(k)) problems.push({ file: name, field: k, message: `is not allowed here; allowed: ${[...FILE_KEYS].join(', ')}` });
    if (doc.version !== 1) problems.push({ file: name, field: 'version', message: `must be 1 (the test file format version), got ${JSON.stringify(doc.version)}` });
    if (!Array.isArray(doc.cases) || doc.cases.length === 0) {
      problems.push({ file: name, field: 'cases', message: 'must be a non-empty array of test cases' });
      continue;
    }
    const checker = new CaseChecker(name, set, problems);
    const names = new Set<string>();
    doc.cases.forEach((c, i) => {
      const checked = checker.check(c, i, names);
      if (checked) cases.push(checked);
    });
  }
  return { cases, problems };
}
