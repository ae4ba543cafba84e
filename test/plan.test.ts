/**
 * The gates between decisions and kills: the reaper's own session, missing identifiers, duplicate
 * records, the kill-count and kill-share caps (which turn the whole pass report-only), the victim
 * order, and dry-run.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { emptyFacts, type SessionFacts } from '../src/pass/facts.ts';
import { ConfigError } from '../src/util/errors.ts';
import type { Action, Decision } from '../src/pass/policy/evaluate.ts';
import { planKills, SHARE_CAP_FLOOR, type PlanOptions } from '../src/pass/plan.ts';

let nextId = 0;
/** A session with a valid id and uid, unique per call, holding something (a kill frees it). */
function sessionFacts(overrides: Partial<SessionFacts> = {}): SessionFacts {
  const n = (nextId++).toString(16).padStart(12, '0');
  return { ...emptyFacts('session'), sessionId: `00000000-0000-4000-8000-${n}`, uid: 'b'.repeat(64), holdsNothing: false, ...overrides };
}

function decision(facts: SessionFacts, action: Action = 'kill', rule = 'idle-transaction'): Decision {
  return { facts, action, rule, reason: `${rule} matched`, matched: [{ rule, action, reason: `${rule} matched` }], evidence: {} };
}

const OPTIONS: PlanOptions = { dryRun: false, maxKills: 100, maxKillShare: 1, totalSessions: 0, reaperSession: null };

describe('planKills', () => {
  it('plans session kills and sessionless operation kills, and sets protect and report decisions aside', () => {
    // Prepare
    const kill = decision(sessionFacts());
    const op = decision({ ...emptyFacts('operation'), opid: 'shard01:77', longestOpSeconds: 400 }, 'kill', 'runaway-operation');
    const keep = decision(sessionFacts(), 'protect', 'prepared-transaction');
    const tell = decision(sessionFacts(), 'report', 'audit-only');

    // Act
    const plan = planKills([kill, op, keep, tell], OPTIONS);

    // Assess
    assert.deepEqual(plan.kills.map((k) => [k.kind, k.decision]), [['operation', op], ['session', kill]]);
    assert.deepEqual(plan.protectedOrReported, [keep, tell]);
    assert.deepEqual(plan.skipped, []);
    assert.equal(plan.reportOnly, false);
    assert.equal(plan.reportOnlyReason, null);
  });

  it('does not kill a session that holds nothing unless the winning rule names holdsNothing', () => {
    // Prepare: two empty sessions, one matched by a rule that reads holdsNothing
    const empty = decision(sessionFacts({ holdsNothing: true }), 'kill', 'stale-cursor-session');
    const named = { ...decision(sessionFacts({ holdsNothing: true }), 'kill', 'sweep-empty'), evidence: { holdsNothing: true } };
    // Act
    const plan = planKills([empty, named], OPTIONS);
    // Assess
    assert.deepEqual(plan.kills.map((k) => k.decision), [named]);
    assert.equal(plan.skipped.length, 1);
    assert.match(plan.skipped[0]!.why, /holds nothing .* killing it would free nothing; rule "stale-cursor-session" does not name the holdsNothing fact/);
  });

  it("never kills the reaper's own session, even when a kill rule matched it", () => {
    // Prepare
    const own = sessionFacts({ uid: 'c'.repeat(64) });
    const sameIdOtherUser = { ...own, uid: 'd'.repeat(64) };
    const opts = { ...OPTIONS, reaperSession: { id: own.sessionId, uid: own.uid } };

    // Act
    const plan = planKills([decision(own), decision(sameIdOtherUser)], opts);

    // Assess
    assert.deepEqual(plan.kills.map((k) => k.decision.facts.uid), ['d'.repeat(64)]);
    assert.equal(plan.skipped.length, 1);
    assert.equal(plan.skipped[0]!.decision.facts, own);
    assert.match(plan.skipped[0]!.why, /reaper's own session/);
  });

  it('also skips a session the inventory flagged as the reaper session', () => {
    // Prepare
    const flagged = sessionFacts({ isReaperSession: true });

    // Act
    const plan = planKills([decision(flagged)], OPTIONS);

    // Assess
    assert.deepEqual(plan.kills, []);
    assert.match(plan.skipped[0]!.why, /reaper's own session/);
  });

  it('skips session kills without a valid id or uid, and operation kills without an opid', () => {
    // Prepare
    const records = [
      sessionFacts({ sessionId: '' }),
      sessionFacts({ sessionId: 'not-a-uuid' }),
      sessionFacts({ uid: '' }),
      sessionFacts({ uid: 'B'.repeat(64) }),
      { ...emptyFacts('operation'), opid: '' },
      { ...emptyFacts('operation'), opid: 'shard01:' },
    ];

    // Act
    const plan = planKills(records.map((f) => decision(f)), OPTIONS);

    // Assess
    assert.deepEqual(plan.kills, []);
    assert.deepEqual(plan.skipped.map((s) => s.why.match(/valid (session id|uid|opid)/)?.[1]),
      ['session id', 'session id', 'uid', 'uid', 'opid', 'opid']);
  });

  it('plans a session listed twice only once', () => {
    // Prepare
    const facts = sessionFacts();

    // Act
    const plan = planKills([decision(facts), decision({ ...facts })], OPTIONS);

    // Assess
    assert.equal(plan.kills.length, 1);
    assert.match(plan.skipped[0]!.why, /already planned/);
  });

  it('plans the same opid on two members as two kills (opids are per process), the same operation read twice once', () => {
    // Prepare
    const op = (member: string) => decision({ ...emptyFacts('operation'), opid: 'shard1:5', longestOpSeconds: 400, members: [member] }, 'kill', 'runaway-operation');

    // Act
    const plan = planKills([op('shard1-b:27018'), op('shard1-a:27018'), op('shard1-a:27018')], OPTIONS);

    // Assess
    assert.deepEqual(plan.kills.map((k) => k.decision.facts.members), [['shard1-b:27018'], ['shard1-a:27018']]);
    assert.equal(plan.skipped.length, 1);
    assert.match(plan.skipped[0]!.why, /already planned: the same operation/);
  });

  it('turns the pass report-only when the kills exceed --max-kills', () => {
    // Prepare
    const kills = Array.from({ length: 17 }, () => decision(sessionFacts()));
    const own = sessionFacts();
    const opts = { ...OPTIONS, maxKills: 10, reaperSession: { id: own.sessionId, uid: own.uid } };

    // Act
    const plan = planKills([...kills, decision(own)], opts);

    // Assess
    assert.deepEqual(plan.kills, []);
    assert.equal(plan.reportOnly, true);
    assert.equal(plan.reportOnlyReason, '17 kills planned exceed --max-kills 10; pass turned report-only');
    assert.equal(plan.skipped.length, 18);
    assert.match(plan.skipped[0]!.why, /reaper's own session/);
    assert.ok(plan.skipped.slice(1).every((s) => s.why === plan.reportOnlyReason));
  });

  it('allows exactly --max-kills kills', () => {
    // Prepare
    const kills = Array.from({ length: 10 }, () => decision(sessionFacts()));

    // Act
    const plan = planKills(kills, { ...OPTIONS, maxKills: 10 });

    // Assess
    assert.equal(plan.kills.length, 10);
    assert.equal(plan.reportOnly, false);
  });

  it('turns the pass report-only when the kills exceed --max-kill-share of all sessions', () => {
    // Prepare
    const kills = Array.from({ length: 11 }, () => decision(sessionFacts()));

    // Act
    const plan = planKills(kills, { ...OPTIONS, maxKillShare: 0.25, totalSessions: 40 });

    // Assess
    assert.deepEqual(plan.kills, []);
    assert.equal(plan.reportOnly, true);
    assert.equal(plan.reportOnlyReason, '11 kills planned are 27.5% of 40 sessions, above --max-kill-share 0.25 (25%); pass turned report-only');
  });

  it('does not apply the share cap to a handful of kills (at most SHARE_CAP_FLOOR)', () => {
    // Prepare: 10 kills out of 12 sessions is 83%, but 10 kills is not a mass kill.
    const kills = Array.from({ length: SHARE_CAP_FLOOR }, () => decision(sessionFacts()));

    // Act
    const plan = planKills(kills, { ...OPTIONS, maxKillShare: 0.25, totalSessions: 12 });

    // Assess
    assert.equal(plan.reportOnly, false);
    assert.equal(plan.kills.length, SHARE_CAP_FLOOR);
  });

  it('applies no share cap when the session count is unknown (0)', () => {
    // Prepare
    const kills = Array.from({ length: 3 }, () => decision(sessionFacts()));

    // Act
    const plan = planKills(kills, { ...OPTIONS, maxKillShare: 0.01, totalSessions: 0 });

    // Assess
    assert.equal(plan.kills.length, 3);
  });

  it('orders victims by running time, transaction age, cursor idleness, idleness, then session id', () => {
    // Prepare
    const facts = [
      sessionFacts({ sessionId: '00000000-0000-4000-8000-00000000000b', idleSeconds: 5 }),
      sessionFacts({ sessionId: '00000000-0000-4000-8000-00000000000a', idleSeconds: 5 }),
      sessionFacts({ idleSeconds: 9 }),
      sessionFacts({ longestCursorIdleSeconds: 1000 }),
      sessionFacts({ txnOpenSeconds: 30, longestCursorIdleSeconds: 1 }),
      sessionFacts({ longestOpSeconds: 500 }),
    ];

    // Act
    const plan = planKills(facts.map((f) => decision(f)), OPTIONS);

    // Assess
    assert.deepEqual(plan.kills.map((k) => k.decision.facts), [facts[5], facts[4], facts[3], facts[2], facts[1], facts[0]]);
  });

  it('marks a dry run but still lists the kills', () => {
    // Prepare
    const kill = decision(sessionFacts());

    // Act
    const plan = planKills([kill], { ...OPTIONS, dryRun: true });

    // Assess
    assert.equal(plan.dryRun, true);
    assert.deepEqual(plan.kills.map((k) => k.decision), [kill]);
  });

  it('refuses caps that make no sense', () => {
    // Prepare
    const bad = [{ ...OPTIONS, maxKills: -1 }, { ...OPTIONS, maxKills: 1.5 }, { ...OPTIONS, maxKillShare: 1.5 }, { ...OPTIONS, maxKillShare: Number.NaN }];

    // Act
    const outcomes = bad.map((opts) => {
      try {
        planKills([], opts);
        return 'accepted';
      } catch (err) {
        return err instanceof ConfigError ? 'ConfigError' : String(err);
      }
    });

    // Assess
    assert.deepEqual(outcomes, ['ConfigError', 'ConfigError', 'ConfigError', 'ConfigError']);
  });
});
