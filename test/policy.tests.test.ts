/**
 * `session-reaper policies test`: the shipped default set's tests pass and cover every rule, every protection
 * and every threshold on both sides; a failing case prints what was expected and what was decided and exits 1;
 * bad test files are refused with every problem named by file, case and field.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { policyTestsCommand } from '../src/cli/policy-tests.ts';
import { DEFAULT_POLICIES_DIR } from '../src/service/config.ts';
import { capture } from './support/capture.ts';

const shipped = JSON.parse(readFileSync(join(DEFAULT_POLICIES_DIR, 'tests', 'default.json'), 'utf8'));
const policy = JSON.parse(readFileSync(join(DEFAULT_POLICIES_DIR, 'default.json'), 'utf8'));

/** A copy of the default set whose tests are `cases`. */
function setWithTests(cases: unknown[], extra: Record<string, unknown> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'ptest-'));
  cpSync(DEFAULT_POLICIES_DIR, dir, { recursive: true });
  writeFileSync(join(dir, 'tests', 'default.json'), JSON.stringify({ version: 1, cases, ...extra }));
  return dir;
}

const run = (args: string[]) => capture((io) => policyTestsCommand(args, io));

describe('the shipped default set\'s tests', () => {
  test('all pass, with the compiled evaluator and cross-checked by json-rules-engine', async () => {
    for (const args of [[DEFAULT_POLICIES_DIR], [DEFAULT_POLICIES_DIR, '--evaluator', 'json-rules-engine']]) {
      const r = await run(args);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.match(r.stdout, new RegExp(`^${shipped.cases.length} cases: ${shipped.cases.length} passed, 0 failed`, 'm'));
      assert.equal((r.stdout.match(/^ {2}PASS {2}/gm) ?? []).length, shipped.cases.length);
    }
  });

  test('every rule wins at least one case, every protection included', () => {
    const expected = new Set(shipped.cases.map((c: { expect: { rule?: string } }) => c.expect.rule));
    for (const rule of policy.rules) assert.ok(expected.has(rule.name), `a case where ${rule.name} decides`);
  });

  test('every threshold has a case just under, at and just over its default', () => {
    type Leaf = { fact: string; operator: string; value: unknown };
    const leaves = (node: unknown): Leaf[] => {
      if (!node || typeof node !== 'object') return [];
      const n = node as Record<string, unknown>;
      if ('fact' in n) return [n as unknown as Leaf];
      return Object.values(n).flatMap((v) => (Array.isArray(v) ? v.flatMap(leaves) : leaves(v)));
    };
    for (const rule of policy.rules) {
      for (const leaf of leaves(rule.conditions)) {
        const param = (leaf.value as { param?: string } | null)?.param;
        if (!param) continue;
        const threshold = policy.parameters[param].default as number;
        const plain = shipped.cases.filter((c: { facts?: Record<string, number>; parameters?: object }) => c.facts && !c.parameters && typeof c.facts[leaf.fact] === 'number');
        const at = (pred: (v: number) => boolean, action: string) => plain.some((c: { facts: Record<string, number>; expect: { action: string; rule?: string } }) => pred(c.facts[leaf.fact]!) && c.expect.action === action && (action === 'none' || c.expect.rule === rule.name));
        // At the threshold itself: "greaterThan" does not match yet, "greaterThanInclusive" (minSightings) does.
        const atThreshold = leaf.operator === 'greaterThanInclusive' ? 'kill' : 'none';
        assert.ok(at((v) => v < threshold && v >= threshold - 1, 'none'), `${rule.name}: ${leaf.fact} just under ${threshold}`);
        assert.ok(at((v) => v === threshold, atThreshold), `${rule.name}: ${leaf.fact} at ${threshold}`);
        assert.ok(at((v) => v > threshold && v <= threshold + 1, 'kill'), `${rule.name}: ${leaf.fact} just over ${threshold}`);
      }
    }
  });

  test('every rule switched by a parameter has a case where it decides (switch on, the default) and one where it is switched off', () => {
    type Case = { parameters?: Record<string, number>; expect: { rule?: string } };
    const switched = policy.rules.filter((r: { enabled?: unknown }) => typeof r.enabled === 'object' && r.enabled !== null);
    assert.ok(switched.length >= 2, 'the default set has switched rules (output-aggregation, application-unknown)');
    for (const rule of switched) {
      const param = (rule.enabled as { param: string }).param;
      assert.equal(policy.parameters[param].default, 1, `${param} is on by default`);
      assert.ok(shipped.cases.some((c: Case) => c.parameters?.[param] === undefined && c.expect.rule === rule.name), `${rule.name} decides a case with ${param} at its default`);
      assert.ok(shipped.cases.some((c: Case) => c.parameters?.[param] === 0 && c.expect.rule !== rule.name), `a case with ${param} 0 where ${rule.name} does not decide`);
    }
  });
});

describe('failing cases', () => {
  test('a wrong expectation fails with the expectation and the decision side by side; exit 1', async () => {
    // Prepare
    const dir = setWithTests([
      { name: 'idle 61 s is killed', facts: { hasTransaction: true, txnInactiveSeconds: 61, sightings: 2 }, expect: { action: 'kill', rule: 'idle-transaction' } },
      { name: 'idle 61 s is left alone (wrong on purpose)', facts: { hasTransaction: true, txnInactiveSeconds: 61, sightings: 2 }, expect: { action: 'none' } },
      {
        name: 'a prepared transaction\'s kill is planned (wrong on purpose: it is skipped)',
        snapshot: { time: '2024-06-01T12:00:00Z', currentOp: [shipped.cases.find((c: { name: string }) => c.name.includes('prepared transaction idle 120 s')).snapshot.currentOp[0]] },
        parameters: { minSightings: 1 },
        expect: { action: 'protect', rule: 'prepared-transaction', outcome: 'planned' },
      },
    ]);
    // Act
    const r = await run([dir]);
    // Assess
    assert.equal(r.code, 1);
    assert.match(r.stdout, /^ {2}PASS {2}idle 61 s is killed$/m);
    assert.match(r.stdout, /^ {2}FAIL {2}idle 61 s is left alone \(wrong on purpose\)\n {8}action: {3}expected none, decided kill\n {8}rule: {5}expected \(none\), decided idle-transaction\n {8}decided: {2}kill by idle-transaction \(transaction idle for more than 60s holds locks and cache\)\n {8}matched: {2}idle-transaction\n {8}facts: {4}\{"hasTransaction":true,"txnInactiveSeconds":61,"sightings":2\}$/m);
    assert.match(r.stdout, /^ {2}FAIL {2}a prepared transaction's kill is planned .*\n {8}outcome: {2}expected planned, decided skipped\n/m);
    assert.match(r.stdout, /^3 cases: 1 passed, 2 failed$/m);
  });

  test('--json gives every result for machines', async () => {
    const dir = setWithTests([{ name: 'x', facts: { txnPrepared: true }, expect: { action: 'kill', rule: 'idle-transaction' } }]);
    const r = await run([dir, '--json']);
    assert.equal(r.code, 1);
    const out = JSON.parse(r.stdout);
    assert.equal(out.failed, 1);
    assert.deepEqual(out.results[0].mismatches, [{ field: 'action', expected: 'kill', decided: 'protect' }, { field: 'rule', expected: 'idle-transaction', decided: 'prepared-transaction' }]);
  });

  test('an excerpt document that cannot be read fails its case, naming the case and the document', async () => {
    const dir = setWithTests([{ name: 'broken lsid', snapshot: { time: 0, currentOp: [{ type: 'op', active: true, lsid: { id: 'not a uuid' } }] }, expect: { action: 'none' } }]);
    const r = await run([dir]);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /FAIL {2}broken lsid\n {8}error: {4}.*tests\/default\.json case "broken lsid", snapshot\.currentOp\[0\]: the currentOp document cannot be read/);
  });
});

describe('bad test files', () => {
  test('every problem is named by file, case and field, with what to do; nothing runs; exit 1', async () => {
    // Prepare
    const dir = setWithTests([
      { name: 'unknown fact', facts: { idleSecs: 5 }, expect: { action: 'none' } },
      { name: 'wrong type', facts: { opCount: '1' }, expect: { action: 'none' } },
      { name: 'wrong action for the rule', facts: {}, expect: { action: 'kill', rule: 'prepared-transaction' } },
      { name: 'unknown rule', facts: {}, expect: { action: 'kill', rule: 'idle-txn' } },
      { name: 'both inputs', facts: {}, snapshot: { time: 0 }, expect: { action: 'none' } },
      { name: 'outcome without a snapshot', facts: {}, expect: { action: 'none', outcome: 'planned' } },
      { name: 'unknown parameter', parameters: { idleSeconds: 5 }, facts: {}, expect: { action: 'none' } },
      { name: 'out of range', parameters: { idleTransactionSeconds: 0 }, facts: {}, expect: { action: 'none' } },
      { name: 'no time', snapshot: { currentOp: [] }, expect: { action: 'none' } },
      { name: 'unknown fact', facts: {}, expect: { action: 'none' } },
      { facts: {}, expect: { action: 'nothing' } },
    ]);
    // Act
    const r = await run([dir]);
    // Assess
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    const expected = [
      /tests\/default\.json, case "unknown fact", field facts\.idleSecs: is not a fact \(did you mean idleSeconds/,
      /case "wrong type", field facts\.opCount: must be a number \(count\), got "1"/,
      /case "wrong action for the rule", field expect\.action: is "kill" but rule "prepared-transaction" is a protect rule: expect action "protect"/,
      /case "unknown rule", field expect\.rule: names rule "idle-txn", which is not in the policy set; its rules: internal-user, /,
      /case "both inputs": needs exactly one of "facts" \(a fact record\) and "snapshot" \(raw documents\)/,
      /case "outcome without a snapshot", field expect\.outcome: needs a snapshot case/,
      /case "unknown parameter", field parameters\.idleSeconds: is not a parameter of the policy set; its parameters: idleTransactionSeconds, /,
      /case "out of range", field parameters\.idleTransactionSeconds: must be a number \(at least 1\), got 0/,
      /case "no time", field snapshot\.time: is required: the time the documents were read/,
      /case "unknown fact", field name: is used by another case of this file/,
      /case "cases\[10\]", field name: is required/,
      /case "cases\[10\]", field expect\.action: must be one of kill, protect, report, none/,
    ];
    assert.match(r.stderr, /^test files in .*tests have 12 problems; fix all of them and run again:/);
    for (const e of expected) assert.match(r.stderr, e);
  });

  test('a file that is not JSON names the line and column', async () => {
    const dir = setWithTests([]);
    writeFileSync(join(dir, 'tests', 'default.json'), '{\n  "version": 1,\n  "cases": [\n    { "name": "x", }\n  ]\n}\n');
    const r = await run([dir]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /tests\/default\.json: is not valid JSON at line 4, column 20/);
  });

  test('a set without tests says where to put them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ptest-'));
    cpSync(join(DEFAULT_POLICIES_DIR, 'default.json'), join(dir, 'default.json'));
    mkdirSync(join(dir, 'other'));
    const r = await run([dir]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no test files in .*tests: add tests\/\*\.json beside the policies/);
  });
});
