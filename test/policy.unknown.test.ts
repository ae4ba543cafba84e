/**
 * Unknown identity facts in policies: the isUnknown operator (and where it applies), the other operators on an
 * unknown fact, rules switched by a parameter ("enabled"), and the `policies check` warning when a kill rule can
 * pass a protection keyed on a fact that may be unknown.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { emptyFacts } from '../src/pass/facts.ts';
import { createEvaluator } from '../src/pass/policy/evaluate.ts';
import { parsePolicySet, loadPolicySet, PolicySetError } from '../src/pass/policy/load.ts';
import { operatorNamed } from '../src/pass/policy/operators.ts';
import { unknownFactWarnings } from '../src/pass/policy/unknown-check.ts';
import { policiesCommand } from '../src/cli/policies.ts';
import { DEFAULT_POLICIES_DIR } from '../src/service/config.ts';

const file = (rules: unknown[], parameters: Record<string, unknown> = {}) => [{ path: 'p.json', text: JSON.stringify({ version: 1, parameters, rules }) }];
const rule = (name: string, type: string, conditions: unknown) => ({ name, conditions, event: { type, params: { reason: name } } });

describe('unknown identity facts', () => {
  it('isUnknown tells unknown (null) from "" and from a value; the custom string operators match nothing on unknown', () => {
    const unknown = operatorNamed('isUnknown')!.compile(true);
    assert.deepEqual([null, '', 'mongodump'].map(unknown), [true, false, false]);
    for (const [name, value] of [['matchesRegex', '.*'], ['notMatchesRegex', '^x$'], ['inListIgnoreCase', ['a']], ['notInListIgnoreCase', ['a']], ['hostInCidr', '0.0.0.0/0'], ['notHostInCidr', '10.0.0.0/8']] as const) {
      assert.equal(operatorNamed(name)!.compile(value)(null), false, `${name} on unknown`);
    }
  });

  it('isUnknown is refused on a fact that is always known', () => {
    assert.throws(() => parsePolicySet(file([rule('r', 'kill', { all: [{ fact: 'user', operator: 'isUnknown', value: true }] })])),
      (e: Error) => e instanceof PolicySetError && /operator "isUnknown" applies only to facts that can be unknown \(appName, client, clientHost, clientDriver\); "user" is always known/.test(e.message));
  });

  it('a rule switched by a parameter is evaluated only while the parameter is not 0', () => {
    const rules = [{ ...rule('guard', 'protect', { all: [{ fact: 'appName', operator: 'isUnknown', value: true }] }), enabled: { param: 'guardOn' } }];
    const params = { guardOn: { default: 1, minimum: 0, maximum: 1, description: 'switch' } };
    const on = parsePolicySet(file(rules, params));
    assert.deepEqual(on.rules.map((r) => r.name), ['guard']);
    const off = parsePolicySet(file(rules, params), { overrides: { guardOn: 0 } });
    assert.deepEqual(off.rules, []);
    assert.deepEqual(off.disabledRules, [{ name: 'guard', file: 'p.json', param: 'guardOn' }]);
    assert.equal(createEvaluator(on).decide(emptyFacts())?.action, 'protect');
    assert.throws(() => parsePolicySet(file([{ ...rules[0], enabled: { param: 'nope' } }])), /unknown parameter "nope"/);
  });

  it('warns when a kill rule can fire where a protection keyed on a nullable fact cannot see', () => {
    const protect = rule('backup', 'protect', { all: [{ fact: 'appName', operator: 'matchesRegex', value: '^mongodump' }] });
    const kill = rule('stale', 'kill', { all: [{ fact: 'cursorCount', operator: 'greaterThan', value: 0 }] });
    const needsApp = rule('app-kill', 'kill', { all: [{ fact: 'appName', operator: 'equal', value: 'etl' }] });
    const warnings = unknownFactWarnings(parsePolicySet(file([protect, kill, needsApp])).rules);
    assert.deepEqual(warnings.map((w) => [w.fact, w.killRule, w.protectRules]), [['appName', 'stale', ['backup']]]);
    const guarded = unknownFactWarnings(parsePolicySet(file([protect, kill, rule('guard', 'protect', { all: [{ fact: 'appName', operator: 'isUnknown', value: true }] })])).rules);
    assert.deepEqual(guarded, [], 'a protection for the unknown case covers it');
  });

  it('the default set loads without warnings, and warns once its unknown-application protection is switched off', async () => {
    assert.deepEqual(unknownFactWarnings((await loadPolicySet(DEFAULT_POLICIES_DIR)).rules), []);
    const off = await loadPolicySet(DEFAULT_POLICIES_DIR, { overrides: { protectUnknownApplications: 0 } });
    assert.deepEqual(unknownFactWarnings(off.rules).map((w) => w.killRule).sort(), ['idle-transaction', 'runaway-operation', 'stale-cursor-session']);
    let out = '';
    let err = '';
    const sink = (append: (s: string) => void) => new Writable({ write(c, _e, cb) { append(String(c)); cb(); } });
    const code = await policiesCommand(['check'], { stdout: sink((s) => (out += s)), stderr: sink((s) => (err += s)), env: { REAPER_PROTECT_UNKNOWN_APPS: '0' } } as never);
    assert.equal(code, 0);
    assert.match(out, /rule "application-unknown" \(default\.json\) is switched off by parameter protectUnknownApplications/);
    assert.match(err, /warning: kill rule "stale-cursor-session" can fire on a session whose appName is unknown, which protect rule\(s\) "atlas-agents-and-backup" cannot recognise/);
  });
});
