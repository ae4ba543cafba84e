/**
 * The default policy set's never-kill rules: each protects its kind of work even when a kill rule matches
 * (a runaway operation, a stale cursor), and the switched ones give way when their parameter is 0.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { emptyFacts, type SessionFacts } from '../src/pass/facts.ts';
import { createEvaluator } from '../src/pass/policy/evaluate.ts';
import { loadPolicySet } from '../src/pass/policy/load.ts';
import { DEFAULT_POLICIES_DIR } from '../src/service/config.ts';

/** A session of a known application running one operation for 1,000 s: runaway-operation matches it. */
function runaway(over: Partial<SessionFacts>): SessionFacts {
  return {
    ...emptyFacts('session'), sessionId: '11111111-1111-4111-8111-111111111111', uid: 'a'.repeat(64), user: 'app@admin', userName: 'app', userDb: 'admin',
    appName: 'orders-api', client: '10.0.0.1:1', clientHost: '10.0.0.1', opCount: 1, longestOpSeconds: 1000, holdsNothing: false, ...over,
  };
}

describe('never-kill rules of the default set', () => {
  const cases: [string, Partial<SessionFacts>][] = [
    ['index-build', { isIndexBuild: true, commandNames: ['createIndexes'] }],
    ['change-stream', { isChangeStream: true, tailable: true, awaitData: true }],
    ['internal-command', { isInternalCommand: true, commandNames: ['_migrateClone'] }],
    ['system-namespace', { isSystemNamespace: true, namespaces: ['local.oplog.rs'] }],
    ['resharding-and-coordinators', { isResharding: true }],
    ['resharding-and-coordinators', { isCommitCoordinator: true }],
    ['already-being-killed', { killPending: true }],
    ['output-aggregation', { writesOutput: true }],
    ['application-unknown', { appName: null, client: null, clientHost: null }],
  ];
  for (const [ruleName, facts] of cases) {
    it(`${ruleName} protects ${JSON.stringify(facts)} over runaway-operation`, async () => {
      const evaluator = createEvaluator(await loadPolicySet(DEFAULT_POLICIES_DIR));
      const d = evaluator.decide(runaway(facts));
      assert.equal(d?.action, 'protect');
      assert.equal(d?.rule, ruleName);
      assert.ok(d?.matched.some((m) => m.rule === 'runaway-operation'), 'the kill rule also matched: audited as a skipped kill');
    });
  }

  it('without the protections, the same sessions are killed', async () => {
    const evaluator = createEvaluator(await loadPolicySet(DEFAULT_POLICIES_DIR, { overrides: { protectOutputAggregations: 0, protectUnknownApplications: 0 } }));
    assert.equal(evaluator.decide(runaway({ writesOutput: true }))?.rule, 'runaway-operation');
    assert.equal(evaluator.decide(runaway({ appName: null }))?.rule, 'runaway-operation');
    assert.equal(evaluator.decide(runaway({}))?.rule, 'runaway-operation');
  });
});
