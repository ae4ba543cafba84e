/**
 * Decisions of the default policy set on hand-made fact records, and the resolution rules
 * (protect over kill over report, then priority, then load order) on small hand-made sets.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { emptyFacts, type SessionFacts } from '../src/pass/facts.ts';
import { evaluate, type Decision } from '../src/pass/policy/evaluate.ts';
import { explainWithEngine } from '../src/pass/policy/engine.ts';
import { loadPolicySet, parsePolicySet, type PolicySet } from '../src/pass/policy/load.ts';

const POLICIES_DIR = join(fileURLToPath(new URL('.', import.meta.url)), '..', 'policies');

function session(overrides: Partial<SessionFacts>): SessionFacts {
  return {
    ...emptyFacts('session'),
    sessionId: '9f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f',
    uid: 'a'.repeat(64),
    user: 'app@admin', userName: 'app', userDb: 'admin', appName: 'orders-service',
    // Seen by the previous pass too: the idle rules wait for a second sighting (minSightings).
    sightings: 2, seenForSeconds: 300,
    ...overrides,
  };
}

function only(decisions: Decision[]): Decision {
  assert.equal(decisions.length, 1, `expected exactly one decision, got ${decisions.length}`);
  return decisions[0]!;
}

describe('default policy set', () => {
  let policy: PolicySet;
  before(async () => {
    policy = await loadPolicySet(POLICIES_DIR, { env: {} });
  });

  it('kills a session whose transaction is idle past the threshold, with the facts as evidence', () => {
    // Prepare
    const facts = session({ hasTransaction: true, txnInactiveSeconds: 61, txnOpenSeconds: 70 });

    // Act
    const decision = only(evaluate([facts], policy));

    // Assess
    assert.equal(decision.action, 'kill');
    assert.equal(decision.rule, 'idle-transaction');
    assert.equal(decision.reason, 'transaction idle for more than 60s holds locks and cache');
    assert.deepEqual(decision.evidence, { hasTransaction: true, txnInactiveSeconds: 61, sightings: 2 });
    assert.equal(decision.facts, facts);
  });

  it('leaves a transaction idle exactly at the threshold alone (greaterThan, not greaterThanInclusive)', () => {
    // Prepare
    const facts = session({ hasTransaction: true, txnInactiveSeconds: 60 });

    // Act
    const decisions = evaluate([facts], policy);

    // Assess
    assert.deepEqual(decisions, []);
  });

  it('protects a prepared transaction even when kill rules match, and says why', () => {
    // Prepare
    const facts = session({ hasTransaction: true, txnPrepared: true, txnInactiveSeconds: 5000, longestOpSeconds: 1000, opCount: 1 });

    // Act
    const decision = only(evaluate([facts], policy));

    // Assess
    assert.equal(decision.action, 'protect');
    assert.equal(decision.rule, 'prepared-transaction');
    assert.match(decision.reason, /prepared transactions are never killed/);
    // idle-transaction matches prepared transactions on purpose, so the protection is audited as an overridden kill.
    assert.deepEqual(decision.matched.map((m) => [m.rule, m.action]), [['prepared-transaction', 'protect'], ['idle-transaction', 'kill'], ['runaway-operation', 'kill']]);
  });

  it('protects sessions of the internal __system user', () => {
    // Prepare
    const facts = session({ user: '__system@local', userName: '__system', userDb: 'local', longestOpSeconds: 4000, opCount: 1 });

    // Act
    const decision = only(evaluate([facts], policy));

    // Assess
    assert.equal(decision.action, 'protect');
    assert.equal(decision.rule, 'internal-user');
    assert.deepEqual(decision.evidence, { userName: '__system' });
  });

  it('protects backup and automation agents by appName, case-insensitively, anchored at the start', () => {
    // Prepare
    const stale = { cursorCount: 2, longestCursorIdleSeconds: 5000 };
    const records = [
      session({ ...stale, appName: 'mongodump 100.9.4' }),
      session({ ...stale, appName: 'MongoDB Automation Agent v13.10.2.8620 (git: abc)' }),
      session({ ...stale, appName: 'PBM-agent' }),
      session({ ...stale, appName: 'nightly-mongodump-wrapper' }),
    ];

    // Act
    const decisions = evaluate(records, policy);

    // Assess
    assert.deepEqual(decisions.map((d) => [d.facts.appName, d.action, d.rule]), [
      ['mongodump 100.9.4', 'protect', 'atlas-agents-and-backup'],
      ['MongoDB Automation Agent v13.10.2.8620 (git: abc)', 'protect', 'atlas-agents-and-backup'],
      ['PBM-agent', 'protect', 'atlas-agents-and-backup'],
      ['nightly-mongodump-wrapper', 'kill', 'stale-cursor-session'],
    ]);
  });

  it("protects the reaper's own session and its user's sessions", () => {
    // Prepare
    const records = [
      session({ isReaperSession: true, longestOpSeconds: 1000, opCount: 1 }),
      session({ isReaperUser: true, hasTransaction: true, txnInactiveSeconds: 500 }),
    ];

    // Act
    const decisions = evaluate(records, policy);

    // Assess
    assert.deepEqual(decisions.map((d) => [d.action, d.rule]), [['protect', 'reaper-self'], ['protect', 'reaper-self']]);
  });

  it('kills a sessionless runaway operation', () => {
    // Prepare
    const facts: SessionFacts = { ...emptyFacts('operation'), opid: 'shard01:4242', opCount: 1, longestOpSeconds: 301, opTypes: ['command'] };

    // Act
    const decision = only(evaluate([facts], policy));

    // Assess
    assert.equal(decision.action, 'kill');
    assert.equal(decision.rule, 'runaway-operation');
    assert.equal(decision.facts.target, 'operation');
    assert.deepEqual(decision.evidence, { longestOpSeconds: 301 });
  });

  it('kills a session holding a long-unused cursor only while it runs nothing', () => {
    // Prepare
    const idleCursor = { cursorCount: 1, longestCursorIdleSeconds: 901 };
    const records = [session({ ...idleCursor, opCount: 0 }), session({ ...idleCursor, opCount: 1, longestOpSeconds: 3 })];

    // Act
    const decisions = evaluate(records, policy);

    // Assess
    assert.deepEqual(decisions.map((d) => [d.facts.opCount, d.rule]), [[0, 'stale-cursor-session']]);
  });

  it('gives no decision to sessions no rule matches, and reports each decision to the listener in order', () => {
    // Prepare
    const records = [session({}), session({ longestOpSeconds: 400, opCount: 1 }), session({ idleSeconds: 10 }), session({ userName: '__system' })];
    const heard: Decision[] = [];

    // Act
    const decisions = evaluate(records, policy, (d) => heard.push(d));

    // Assess
    assert.deepEqual(decisions.map((d) => d.rule), ['runaway-operation', 'internal-user']);
    assert.deepEqual(heard, decisions);
  });

  it('explains a decision with json-rules-engine per-condition results', async () => {
    // Prepare
    const facts = session({ hasTransaction: true, txnInactiveSeconds: 61 });

    // Act
    const explanation = await explainWithEngine(facts, policy);

    // Assess
    assert.equal(explanation.decision?.rule, 'idle-transaction');
    assert.deepEqual(explanation.rules.map((r) => r.rule), policy.rules.map((r) => r.name));
    assert.deepEqual(explanation.rules.filter((r) => r.matched).map((r) => r.rule), ['idle-transaction']);
  });
});

describe('decision resolution', () => {
  function rule(name: string, action: string, priority: number, fact = 'idleSeconds') {
    return { name, priority, conditions: { all: [{ fact, operator: 'greaterThan', value: 10 }] }, event: { type: action, params: { reason: `${name} says so` } } };
  }
  function policyOf(files: Record<string, unknown[]>): PolicySet {
    return parsePolicySet(Object.entries(files).map(([path, rules]) => ({ path, text: JSON.stringify({ version: 1, rules }) })));
  }

  it('lets protect win over a kill of higher priority', () => {
    // Prepare
    const policy = policyOf({ 'p.json': [rule('kill-hard', 'kill', 100), rule('keep', 'protect', 1)] });

    // Act
    const decision = only(evaluate([session({ idleSeconds: 11 })], policy));

    // Assess
    assert.equal(decision.action, 'protect');
    assert.equal(decision.rule, 'keep');
    assert.deepEqual(decision.matched.map((m) => m.rule), ['kill-hard', 'keep']);
  });

  it('lets kill win over report', () => {
    // Prepare
    const policy = policyOf({ 'p.json': [rule('tell', 'report', 50), rule('kill', 'kill', 1)] });

    // Act
    const decision = only(evaluate([session({ idleSeconds: 11 })], policy));

    // Assess
    assert.deepEqual([decision.action, decision.rule], ['kill', 'kill']);
  });

  it('picks the highest priority within an action, then the first rule in load order across files', () => {
    // Prepare
    const policy = policyOf({
      'b.json': [rule('b-kill', 'kill', 5)],
      'a.json': [rule('a-kill-low', 'kill', 1), rule('a-kill', 'kill', 5)],
    });

    // Act
    const decision = only(evaluate([session({ idleSeconds: 11 })], policy));

    // Assess
    assert.equal(decision.rule, 'a-kill');
    assert.deepEqual(decision.matched.map((m) => m.rule), ['a-kill', 'b-kill', 'a-kill-low']);
  });
});
