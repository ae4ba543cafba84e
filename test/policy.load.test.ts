/**
 * Loading and validating policy sets: every kind of mistake is reported with the file, the rule
 * and the field, all mistakes of a set come in one error, and parameters take their values from
 * default, environment and overrides in that order.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, PolicyError } from '../src/util/errors.ts';
import { loadPolicySet, parsePolicySet, PolicySetError, type ConditionNode, type LoadedRule, type PolicyProblem } from '../src/pass/policy/load.ts';

const POLICIES_DIR = join(fileURLToPath(new URL('.', import.meta.url)), '..', 'policies');

const tempDirs: string[] = [];
after(() => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

/** Writes files (objects as JSON, strings as they are) into a fresh temporary directory. */
function policyDir(files: Record<string, unknown>): string {
  const dir = mkdtempSync(join(tmpdir(), 'reaper-policy-'));
  tempDirs.push(dir);
  for (const [name, content] of Object.entries(files)) {
    writeFileSync(join(dir, name), typeof content === 'string' ? content : JSON.stringify(content, null, 2));
  }
  return dir;
}

function rule(name: string, conditions: unknown, event: unknown = { type: 'kill', params: { reason: 'because' } }) {
  return { name, conditions, event };
}
function file(rules: unknown[], parameters?: unknown) {
  return { version: 1, ...(parameters ? { parameters } : {}), rules };
}
/** The children of a rule whose root is an "all" group. */
function allOf(loaded: LoadedRule): ConditionNode[] {
  assert.ok('all' in loaded.conditions, `rule ${loaded.name} has an "all" root`);
  return loaded.conditions.all;
}
const IDLE_OVER_60 = { all: [{ fact: 'idleSeconds', operator: 'greaterThan', value: 60 }] };

/** Loads the set and returns the problems of the PolicyError it must throw. */
async function problemsOf(files: Record<string, unknown>): Promise<{ error: PolicySetError; problems: readonly PolicyProblem[] }> {
  const dir = policyDir(files);
  try {
    await loadPolicySet(dir, { env: {} });
  } catch (err) {
    assert.ok(err instanceof PolicyError, `expected a PolicyError, got ${String(err)}`);
    assert.ok(err instanceof PolicySetError);
    return { error: err, problems: err.problems };
  }
  assert.fail('the policy set loaded but should not have');
}

describe('the default policy set', () => {
  it('loads with its documented thresholds, and schema.json is not taken for a policy', async () => {
    // Prepare
    const env = {};

    // Act
    const policy = await loadPolicySet(POLICIES_DIR, { env });

    // Assess
    assert.deepEqual(policy.files, ['default.json']);
    assert.deepEqual(policy.parameters, { idleTransactionSeconds: 60, runawayOperationSeconds: 300, staleCursorIdleSeconds: 900, protectOutputAggregations: 1, minSightings: 2, protectUnknownApplications: 1 });
    assert.deepEqual(policy.rules.map((r) => [r.name, r.action]), [
      ['internal-user', 'protect'], ['reaper-self', 'protect'], ['atlas-agents-and-backup', 'protect'], ['prepared-transaction', 'protect'],
      ['index-build', 'protect'], ['change-stream', 'protect'], ['internal-command', 'protect'], ['system-namespace', 'protect'],
      ['resharding-and-coordinators', 'protect'], ['already-being-killed', 'protect'], ['output-aggregation', 'protect'],
      ['application-unknown', 'protect'],
      ['idle-transaction', 'kill'], ['runaway-operation', 'kill'], ['stale-cursor-session', 'kill'],
    ]);
    assert.deepEqual(allOf(policy.rules.find((r) => r.name === 'idle-transaction')!)[1],
      { fact: 'txnInactiveSeconds', operator: 'greaterThan', value: 60 });
  });

  it('takes thresholds from the environment, and overrides over the environment', async () => {
    // Prepare
    const env = { REAPER_IDLE_TXN_SECONDS: '120', REAPER_RUNAWAY_OP_SECONDS: ' 600 ' };

    // Act
    const policy = await loadPolicySet(POLICIES_DIR, { env, overrides: { idleTransactionSeconds: 30 } });

    // Assess
    assert.deepEqual(policy.parameters, { idleTransactionSeconds: 30, runawayOperationSeconds: 600, staleCursorIdleSeconds: 900, protectOutputAggregations: 1, minSightings: 2, protectUnknownApplications: 1 });
    assert.deepEqual(Object.values(policy.parameterInfo).map((p) => [p.name, p.source]),
      [['idleTransactionSeconds', 'override'], ['runawayOperationSeconds', 'env'], ['staleCursorIdleSeconds', 'default'], ['protectOutputAggregations', 'default'], ['minSightings', 'default'], ['protectUnknownApplications', 'default']]);
    const runaway = policy.rules.find((r) => r.name === 'runaway-operation')!;
    assert.equal(runaway.reason, 'operation running for more than 600s');
    assert.deepEqual(allOf(runaway)[0], { fact: 'longestOpSeconds', operator: 'greaterThan', value: 600 });
  });

  it('refuses an environment value that is not a number, naming the variable and the fix', async () => {
    // Prepare
    const env = { REAPER_IDLE_TXN_SECONDS: '60s' };

    // Act
    const loading = loadPolicySet(POLICIES_DIR, { env });

    // Assess
    await assert.rejects(loading, (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, /REAPER_IDLE_TXN_SECONDS="60s" is not a finite decimal number/);
      assert.match(err.message, /unset it to use the default 60/);
      return true;
    });
  });

  it('refuses empty, hexadecimal and below-minimum environment values, all in one error', async () => {
    // Prepare
    const env = { REAPER_IDLE_TXN_SECONDS: '', REAPER_RUNAWAY_OP_SECONDS: '0x10', REAPER_STALE_CURSOR_SECONDS: '0' };

    // Act
    const loading = loadPolicySet(POLICIES_DIR, { env });

    // Assess
    await assert.rejects(loading, (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, /3 parameter settings are invalid/);
      assert.match(err.message, /REAPER_IDLE_TXN_SECONDS="" is not a finite decimal number/);
      assert.match(err.message, /REAPER_RUNAWAY_OP_SECONDS="0x10" is not a finite decimal number/);
      assert.match(err.message, /REAPER_STALE_CURSOR_SECONDS="0" 0 is below the minimum 1/);
      return true;
    });
  });

  it('refuses an override that is not a finite number, naming the flag', async () => {
    // Prepare
    const overrides = { runawayOperationSeconds: Number.NaN };

    // Act
    const loading = loadPolicySet(POLICIES_DIR, { env: {}, overrides });

    // Assess
    await assert.rejects(loading, (err: unknown) => err instanceof ConfigError && /flag --runaway-op-seconds="NaN" is not a finite number/.test(err.message));
  });

  it('refuses an override for a parameter the set does not declare', async () => {
    // Prepare
    const overrides = { idleTxnSeconds: 5 };

    // Act
    const loading = loadPolicySet(POLICIES_DIR, { env: {}, overrides });

    // Assess
    await assert.rejects(loading, (err: unknown) => err instanceof ConfigError && /override "idleTxnSeconds" names no parameter.*idleTransactionSeconds/.test(err.message));
  });
});

describe('policy validation', () => {
  it('reports bad JSON with line and column', async () => {
    // Prepare
    const text = '{\n  "version": 1,\n  "rules": [\n    { "name": "x", }\n  ]\n}\n';

    // Act
    const { problems } = await problemsOf({ 'broken.json': text });

    // Assess
    assert.equal(problems.length, 1);
    assert.equal(problems[0]!.file, 'broken.json');
    assert.match(problems[0]!.message, /not valid JSON at line 4, column 20/);
  });

  it('reports bad JSON nested deeper than the position scanner can recurse', async () => {
    // Prepare
    const text = '{"version": 1, "rules": ' + '['.repeat(20_000);

    // Act
    const { problems } = await problemsOf({ 'deep.json': text });

    // Assess
    assert.deepEqual(problems.map((p) => p.file), ['deep.json']);
    assert.match(problems[0]!.message, new RegExp(`not valid JSON at line 1, column ${text.length + 1} `));
  });

  it('reports a file that is not an object, and one without rules', async () => {
    // Prepare
    const files = { 'a.json': '[1, 2]', 'b.json': { version: 1 } };

    // Act
    const { problems } = await problemsOf(files);

    // Assess
    assert.deepEqual(problems.map((p) => [p.file, p.message]), [
      ['a.json', 'must be a JSON object with "version": 1 and a "rules" array'],
      ['b.json', 'missing required property "rules"'],
    ]);
  });

  it('reports an empty directory', async () => {
    // Prepare
    const dir = policyDir({ 'schema.json': '{}', 'notes.txt': 'not a policy' });

    // Act
    const loading = loadPolicySet(dir, { env: {} });

    // Assess
    await assert.rejects(loading, (err: unknown) => err instanceof PolicyError && /no \*\.json policy files found/.test(err.message));
  });

  it('reports an unknown fact with the nearest known one', async () => {
    // Prepare
    const files = { 'p.json': file([rule('idle', { all: [{ fact: 'idelSeconds', operator: 'greaterThan', value: 60 }] })]) };

    // Act
    const { problems } = await problemsOf(files);

    // Assess
    assert.deepEqual(problems, [{
      file: 'p.json', rule: 'idle', field: 'conditions.all[0].fact',
      message: 'unknown fact "idelSeconds"; did you mean "idleSeconds"? (facts are listed in FACT_CATALOGUE, src/pass/facts.ts)',
    }]);
  });

  it('reports an unknown operator with the registered ones', async () => {
    // Prepare
    const files = { 'p.json': file([rule('idle', { any: [{ fact: 'idleSeconds', operator: 'gt', value: 60 }] })]) };

    // Act
    const { problems } = await problemsOf(files);

    // Assess
    assert.equal(problems.length, 1);
    assert.equal(problems[0]!.field, 'conditions.any[0].operator');
    assert.match(problems[0]!.message, /^unknown operator "gt"; registered operators: equal, notEqual, .*greaterThan.*hostInCidr/);
  });

  it('reports values of the wrong type for the fact and operator', async () => {
    // Prepare
    const files = {
      'p.json': file([rule('typed', {
        all: [
          { fact: 'idleSeconds', operator: 'greaterThan', value: '60' },
          { fact: 'appName', operator: 'in', value: 'mongodump' },
          { fact: 'appName', operator: 'matchesRegex', value: '(unclosed' },
          { fact: 'clientHost', operator: 'hostInCidr', value: ['10.0.0.0/8', '10.0.0.0/40'] },
          { fact: 'appName', operator: 'greaterThan', value: 3 },
          { not: { fact: 'opTypes', operator: 'contains', value: 1 } },
        ],
      })]),
    };

    // Act
    const { problems } = await problemsOf(files);

    // Assess
    assert.deepEqual(problems.map((p) => [p.rule, p.field]), [
      ['typed', 'conditions.all[0].value'], ['typed', 'conditions.all[1].value'], ['typed', 'conditions.all[2].value'],
      ['typed', 'conditions.all[3].value'], ['typed', 'conditions.all[4].operator'], ['typed', 'conditions.all[5].not.value'],
    ]);
    assert.match(problems[0]!.message, /must be a finite number, got string "60"/);
    assert.match(problems[1]!.message, /must be an array of strings/);
    assert.match(problems[2]!.message, /not a valid RE2 regular expression/);
    assert.match(problems[3]!.message, /element \[1\] "10\.0\.0\.0\/40": an IPv4 prefix length is at most 32/);
    assert.match(problems[4]!.message, /does not apply to string fact "appName".*operators for string facts: equal/);
    assert.match(problems[5]!.message, /must be a string, got number 1/);
  });

  it('refuses condition trees nested past the depth limit, naming file and rule, where the checks used to overflow the stack', async () => {
    // Prepare: 1,500 "not"s (the stack overflowed in the schema validator), one just past the limit, one at it.
    const nest = (levels: number): unknown => {
      let node: unknown = { fact: 'appName', operator: 'equal', value: 'x' };
      for (let i = 0; i < levels; i++) node = { not: node };
      return node;
    };
    const files = {
      'a.json': file([rule('deep', { all: [nest(1500)] }), rule('ok', IDLE_OVER_60)]),
      // root all (1) + 30 nots + the leaf = 32 levels: accepted; one more "not" is 33.
      'b.json': file([rule('at-limit', { all: [nest(30)] }), rule('past-limit', { all: [nest(31)] })]),
    };

    // Act
    const { error, problems } = await problemsOf(files);

    // Assess
    assert.deepEqual(problems.map((p) => [p.file, p.rule, p.field]), [['a.json', 'deep', 'conditions'], ['b.json', 'past-limit', 'conditions']]);
    assert.match(problems[0]!.message, /^conditions are nested 1502 levels deep, more than the limit of 32; flatten the tree/);
    assert.match(problems[1]!.message, /nested 33 levels deep/);
    assert.doesNotMatch(error.message, /call stack/);
  });

  it('refuses a regex RE2 cannot express, naming file, rule and field', async () => {
    // Prepare
    const files = { 'p.json': file([rule('backref', { all: [{ not: { fact: 'appName', operator: 'matchesRegex', value: { pattern: '^(\\w+)-\\1$', flags: 'i' } } }] })]) };

    // Act
    const { problems } = await problemsOf(files);

    // Assess
    assert.deepEqual(problems.map((p) => [p.file, p.rule, p.field]), [['p.json', 'backref', 'conditions.all[0].not.value']]);
    assert.match(problems[0]!.message, /^value uses a backreference \\1, which policy regexes do not support: they run on RE2/);
  });

  it('refuses "path", since facts are flat', async () => {
    // Prepare
    const files = { 'p.json': file([rule('pathy', { all: [{ fact: 'user', operator: 'equal', value: 'x', path: '$.name' }] })]) };

    // Act
    const { problems } = await problemsOf(files);

    // Assess
    assert.equal(problems.length, 1);
    assert.deepEqual([problems[0]!.rule, problems[0]!.field], ['pathy', 'conditions.all[0].path']);
    assert.match(problems[0]!.message, /"path" is not allowed: facts are flat/);
  });

  it('reports a rule name used twice in one file', async () => {
    // Prepare
    const files = { 'p.json': file([rule('same', IDLE_OVER_60), rule('same', IDLE_OVER_60)]) };

    // Act
    const { problems } = await problemsOf(files);

    // Assess
    assert.equal(problems.length, 1);
    assert.match(problems[0]!.message, /rule name "same" is used twice in p\.json \(rules\[0\] and rules\[1\]\)/);
  });

  it('reports a rule name used in two files, naming both', async () => {
    // Prepare
    const files = { 'a.json': file([rule('same', IDLE_OVER_60)]), 'b.json': file([rule('same', IDLE_OVER_60)]) };

    // Act
    const { problems } = await problemsOf(files);

    // Assess
    assert.equal(problems.length, 1);
    assert.equal(problems[0]!.file, 'b.json');
    assert.match(problems[0]!.message, /rule name "same" is already used in a\.json/);
  });

  it('reports unknown parameters in values and in reason placeholders', async () => {
    // Prepare
    const params = { limit: { default: 5, description: 'a limit' } };
    const files = {
      'p.json': file([rule('p', { all: [{ fact: 'idleSeconds', operator: 'greaterThan', value: { param: 'limt' } }] },
        { type: 'kill', params: { reason: 'idle over {limit}s and {other}' } })], params),
    };

    // Act
    const { problems } = await problemsOf(files);

    // Assess
    assert.deepEqual(problems.map((p) => [p.field, p.message]), [
      ['event.params.reason', 'placeholder {other} names no parameter; declared parameters: limit'],
      ['conditions.all[0].value.param', 'unknown parameter "limt"; declared parameters: limit'],
    ]);
  });

  it('reports a bad event type and a missing reason', async () => {
    // Prepare
    const files = { 'p.json': file([rule('a', IDLE_OVER_60, { type: 'terminate', params: { reason: 'x' } }), rule('b', IDLE_OVER_60, { type: 'kill', params: {} })]) };

    // Act
    const { problems } = await problemsOf(files);

    // Assess
    assert.deepEqual(problems.map((p) => [p.rule, p.field]), [['a', 'event.type'], ['b', 'event.params.reason']]);
    assert.match(problems[0]!.message, /must be one of "kill", "protect", "report", got "terminate"/);
    assert.match(problems[1]!.message, /missing required property "reason"/);
  });

  it('refuses empty condition groups, which json-rules-engine treats as always true', async () => {
    // Prepare
    const files = { 'p.json': file([rule('everything', { all: [] })]) };

    // Act
    const { problems } = await problemsOf(files);

    // Assess
    assert.equal(problems.length, 1);
    assert.equal(problems[0]!.field, 'conditions.all');
    assert.match(problems[0]!.message, /would match every session/);
  });

  it('refuses a parameter declared in two files with different defaults, and accepts identical ones', async () => {
    // Prepare
    const declare = (d: number) => ({ limit: { default: d, env: 'LIMIT', description: 'a limit' } });
    const limitRule = (name: string) => rule(name, { all: [{ fact: 'idleSeconds', operator: 'greaterThan', value: { param: 'limit' } }] });
    const conflicting = { 'a.json': file([limitRule('a')], declare(5)), 'b.json': file([limitRule('b')], declare(6)) };
    const identical = policyDir({ 'a.json': file([limitRule('a')], declare(5)), 'b.json': file([limitRule('b')], declare(5)) });

    // Act
    const { problems } = await problemsOf(conflicting);
    const loaded = await loadPolicySet(identical, { env: { LIMIT: '7' } });

    // Assess
    assert.equal(problems.length, 1);
    assert.deepEqual([problems[0]!.file, problems[0]!.field], ['b.json', 'parameters.limit']);
    assert.match(problems[0]!.message, /default 5 in a\.json but 6 here/);
    assert.deepEqual(loaded.parameterInfo.limit?.declaredIn, ['a.json', 'b.json']);
    assert.deepEqual(loaded.rules.map((r) => allOf(r)[0]), [
      { fact: 'idleSeconds', operator: 'greaterThan', value: 7 }, { fact: 'idleSeconds', operator: 'greaterThan', value: 7 },
    ]);
  });

  it('collects every problem of every file into one error, one line each', async () => {
    // Prepare
    const files = {
      'a.json': file([rule('one', { all: [{ fact: 'nope', operator: 'equal', value: 1 }] })]),
      'b.json': '{ "version": 1, "rules": [ }',
      'c.json': file([rule('two', IDLE_OVER_60, { type: 'explode', params: { reason: 'r' } })]),
    };

    // Act
    const { error, problems } = await problemsOf(files);

    // Assess
    assert.deepEqual(problems.map((p) => p.file), ['a.json', 'b.json', 'c.json']);
    const lines = error.message.split('\n');
    assert.match(lines[0]!, /has 3 problems; fix all of them/);
    assert.match(lines[1]!, /^ {2}- a\.json, rule "one", field conditions\.all\[0\]\.fact: unknown fact "nope"/);
    assert.match(lines[2]!, /^ {2}- b\.json: is not valid JSON at line 1, column 28/);
    assert.match(lines[3]!, /^ {2}- c\.json, rule "two", field event\.type: must be one of/);
    assert.deepEqual([error.file, error.rule, error.field], ['a.json', 'one', 'conditions.all[0].fact']);
  });
});

describe('loadPolicySet', () => {
  it('follows symlinked policy files, as a Kubernetes ConfigMap mounts them, and skips hidden entries', async () => {
    // Prepare
    const dir = policyDir({ '.hidden.json': 'not even JSON' });
    const target = policyDir({ 'real.json': file([rule('linked', IDLE_OVER_60)]) });
    symlinkSync(join(target, 'real.json'), join(dir, 'linked.json'));

    // Act
    const policy = await loadPolicySet(dir, { env: {} });

    // Assess
    assert.deepEqual(policy.files, ['linked.json']);
    assert.deepEqual(policy.rules.map((r) => r.name), ['linked']);
  });
});

describe('parsePolicySet', () => {
  it('loads files in name order whatever order they are given in', () => {
    // Prepare
    const files = [
      { path: '/p/20-b.json', text: JSON.stringify(file([rule('b', IDLE_OVER_60)])) },
      { path: '/p/10-a.json', text: JSON.stringify(file([rule('a', IDLE_OVER_60)])) },
    ];

    // Act
    const policy = parsePolicySet(files, { env: {} });

    // Assess
    assert.equal(policy.dir, '/p');
    assert.deepEqual(policy.files, ['10-a.json', '20-b.json']);
    assert.deepEqual(policy.rules.map((r) => [r.name, r.file, r.priority]), [['a', '10-a.json', 1], ['b', '20-b.json', 1]]);
  });
});
