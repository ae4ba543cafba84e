/**
 * src/util/validate.ts: ajv's errors, from the generated validators of schemas/, turned into one
 * sentence per problem that names the field, says what it must be and what it was.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { isObject, validated, validationProblems, type CompiledValidator } from '../src/util/validate.ts';
import { validateAlarms } from '../src/service/generated/validate-alarms.js';
import { validateClusters } from '../src/service/generated/validate-clusters.js';
import { validateManualRequest } from '../src/service/generated/validate-manual-request.js';
import { validateSchedulerInput } from '../src/service/generated/validate-scheduler-input.js';
import { validateAuditDetail } from '../src/pass/audit/generated/validate-audit-detail.js';
import { validateRunDetail } from '../src/pass/audit/generated/validate-run-detail.js';

const ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:orders-AbCdEf';

describe('validationProblems', () => {
  test('a valid value has no problems', () => {
    assert.deepEqual(validationProblems(validateSchedulerInput, { kind: 'schedule', cluster: 'orders' }, { name: 'the input' }), []);
  });

  test('fields are named the way the caller names the value', () => {
    const bad = { dryRun: 'yes' };
    assert.deepEqual(validationProblems(validateSchedulerInput, bad, { name: 'the input' }), ['the input\'s "dryRun" must be true or false, got "yes"']);
    assert.deepEqual(validationProblems(validateSchedulerInput, bad, { name: 'INPUT', fields: 'dotted' }), ['INPUT.dryRun must be true or false, got "yes"']);
    assert.deepEqual(validationProblems(validateSchedulerInput, bad, { name: 'the input', fields: 'quoted' }), ['"dryRun" must be true or false, got "yes"']);
    assert.deepEqual(validationProblems(validateManualRequest, { action: 'kill-user-sessions', users: ['a@b', 'c'], reason: 'x' }, { name: 'the request' }),
      ['the request\'s "users[1]" must be a user as "name@db", got "c"'], 'array indexes in brackets');
  });

  test('every problem is reported, and the unknown fields of one object in one sentence', () => {
    // Act
    const problems = validationProblems(validateSchedulerInput, { kind: 'cron', a: 1, b: 2, cluster: '' }, { name: 'the input' });
    // Assess
    assert.deepEqual(problems, [
      'the input has unknown fields "a", "b"; allowed: kind, cluster, policySet, dryRun, scheduleArn, executionId',
      'the input\'s "kind" must be "schedule", got "cron"',
      'the input\'s "cluster" must be a non-empty string, got ""',
    ]);
  });

  test('of "a name or an object", the form of the value\'s type is the one checked', () => {
    // Act
    const asObject = validationProblems(validateAlarms, { cpu: { cluster: 'orders' } }, { name: 'REAPER_ALARMS', fields: 'dotted' });
    const asName = validationProblems(validateAlarms, { cpu: 'bad name' }, { name: 'REAPER_ALARMS', fields: 'dotted' });
    const neither = validationProblems(validateAlarms, { cpu: 5 }, { name: 'REAPER_ALARMS', fields: 'dotted' });
    // Assess
    assert.deepEqual(asObject, ['REAPER_ALARMS.cpu.policySet is missing; give the name of the policy set the alarm runs']);
    assert.deepEqual(asName, ['REAPER_ALARMS.cpu must be a name of 1-64 letters, digits, ".", "_" or "-", starting with a letter or digit, got "bad name"']);
    assert.deepEqual(neither, ['REAPER_ALARMS.cpu must be a policy set name or {"cluster": NAME, "policySet": NAME}, got 5'], 'the title says what is accepted');
  });

  test('"exactly one of" speaks with its title, whether none or both are given', () => {
    for (const spec of [{}, { secretArn: ARN, uriEnv: 'ORDERS_URI' }]) {
      const problems = validationProblems(validateClusters, { orders: spec }, { name: 'REAPER_CLUSTERS', fields: 'dotted' });
      assert.equal(problems.length, 1, problems.join('\n'));
      assert.match(problems[0]!, /^REAPER_CLUSTERS\.orders must be an object with exactly one of "secretArn" \(a Secrets Manager ARN\) or "uriEnv"/);
    }
  });

  test('branches that differ in one constant are reported as that field, not as every branch\'s complaints', () => {
    assert.deepEqual(validationProblems(validateAuditDetail, { kind: 'verdict' }, { name: 'the detail', fields: 'quoted' }), ['"kind" must be "decision" or "run", got "verdict"']);
  });

  test('branches that each want a different value are joined with "or"', () => {
    // Prepare: a run summary whose one still-running operation has a session id that is neither "" nor a UUID.
    const detail = { stillRunning: [{ sessionId: 'abc', uid: '', opid: '1', secsRunning: 1 }] };
    // Act
    const problems = validationProblems(validateRunDetail, detail, { name: 'the detail', fields: 'quoted' });
    // Assess
    assert.ok(problems.includes('"stillRunning[0].sessionId" must be "" or a UUID such as 6f1c2d9e-3b4a-4c5d-8e7f-0a1b2c3d4e5f, got "abc"'), problems.join('\n'));
  });

  test('a manual request is checked as its action says; a missing or unknown action names the actions', () => {
    const subject = { name: 'the request' };
    assert.deepEqual(validationProblems(validateManualRequest, { action: 'run-policy-set', policySet: 'strict', users: [] }, subject),
      ['the request has unknown field "users"; allowed: kind, action, policySet, reason, cluster, requestedBy, dryRun']);
    assert.deepEqual(validationProblems(validateManualRequest, {}, subject), ['the request\'s "action" is missing; give one of kill-sessions, kill-user-sessions, run-policy-set']);
    assert.deepEqual(validationProblems(validateManualRequest, { action: 'kill' }, subject), ['the request\'s "action" must be one of kill-sessions, kill-user-sessions, run-policy-set, got "kill"']);
  });

  test('an object key is named with what keys must be', () => {
    assert.deepEqual(validationProblems(validateClusters, { 'bad name': { uriEnv: 'X' } }, { name: 'REAPER_CLUSTERS', fields: 'dotted' }),
      ['REAPER_CLUSTERS: key "bad name" must be a name of 1-64 letters, digits, ".", "_" or "-", starting with a letter or digit']);
  });

  test('long values are quoted short', () => {
    const [problem] = validationProblems(validateSchedulerInput, { dryRun: 'x'.repeat(1000) }, { name: 'the input' });
    assert.ok(problem!.length < 150, problem);
  });

  test('a failure the rules would say nothing about still gets a sentence', () => {
    // Prepare: validators reporting only an `if` failure, which on its own announces nothing, with
    // and without ajv's message (the generated validators have none).
    const failing = (message?: string): CompiledValidator => Object.assign(() => false, {
      errors: [{ instancePath: '/a', schemaPath: '#/if', keyword: 'if', params: { failingKeyword: 'then' }, ...(message ? { message } : {}) }],
    });
    // Act + Assess
    assert.deepEqual(validationProblems(failing('must match "then" schema'), { a: 1 }, { name: 'the value' }), ['the value\'s "a" must match "then" schema']);
    assert.deepEqual(validationProblems(failing(), { a: 1 }, { name: 'the value' }), ['the value\'s "a" does not match the schema (if at #/if)']);
  });
});

describe('validated', () => {
  test('returns the value when valid, else throws the caller\'s error with every problem', () => {
    // Prepare
    const fail = (problems: string) => new RangeError(`${problems}; see the docs`);
    // Act + Assess
    assert.deepEqual(validated(validateSchedulerInput, { cluster: 'orders' }, { name: 'the input' }, fail), { cluster: 'orders' });
    assert.throws(() => validated(validateSchedulerInput, { kind: 1, dryRun: 0 }, { name: 'the input' }, fail),
      (e: unknown) => e instanceof RangeError && e.message === 'the input\'s "kind" must be "schedule", got 1; the input\'s "dryRun" must be true or false, got 0; see the docs');
  });
});

test('isObject: a JSON object, not null and not an array', () => {
  assert.deepEqual([{}, { a: 1 }, [], null, 'x', 1, undefined].map(isObject), [true, true, false, false, false, false, false]);
});
