/**
 * Manual requests: payload validation, and the one-off policy set that routes a manual kill through
 * the ordinary pipeline (protections of the cluster's policy still win; never the reaper itself).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { DEFAULT_POLICIES_DIR } from '../src/service/config.ts';
import { InvalidTriggerError } from '../src/util/errors.ts';
import { emptyFacts, type SessionFacts } from '../src/pass/facts.ts';
import { MANUAL_KILL_RULE, manualPolicySet, notFound, parseManualRequest } from '../src/service/manual-request.ts';
import triggersSchema from '../schemas/triggers.json' with { type: 'json' };
import { evaluate } from '../src/pass/policy/evaluate.ts';
import { loadPolicySet } from '../src/pass/policy/load.ts';

const fixture = (name: string) => JSON.parse(readFileSync(new URL(`./events/${name}`, import.meta.url), 'utf8'));
const invalid = (pattern: RegExp) => (e: unknown) => e instanceof InvalidTriggerError && pattern.test((e as Error).message) && /nothing was killed/.test((e as Error).message);

const UID = 'a'.repeat(64);
/** The schema's limit of session ids per request. */
const MAX_TARGETS = triggersSchema.$defs.manualRequest.oneOf[0]!.properties.sessionIds!.maxItems!;
function session(id: string, over: Partial<SessionFacts> = {}): SessionFacts {
  return { ...emptyFacts('session'), sessionId: id, uid: UID, user: 'alice@admin', userName: 'alice', userDb: 'admin', ...over };
}

describe('parseManualRequest', () => {
  test('the fixtures parse; dry run unless the payload says otherwise', () => {
    const kill = parseManualRequest(fixture('manual-kill-sessions.json'));
    assert.deepEqual(kill.sessionIds, ['6f1c2d9e-3b4a-4c5d-8e7f-0a1b2c3d4e5f']);
    assert.equal(kill.dryRun, false);
    assert.deepEqual(parseManualRequest(fixture('manual-kill-user-sessions.json')).users, ['bob@admin']);
    const run = parseManualRequest(fixture('manual-run-policy-set.json'));
    assert.equal(run.policySet, 'strict');
    assert.equal(run.dryRun, true, 'no dryRun field means a dry run');
  });

  test('session ids are normalised to lower case and de-duplicated', () => {
    const r = parseManualRequest({ action: 'kill-sessions', sessionIds: ['6F1C2D9E-3B4A-4C5D-8E7F-0A1B2C3D4E5F', '6f1c2d9e-3b4a-4c5d-8e7f-0a1b2c3d4e5f'], reason: 'x' });
    assert.deepEqual(r.sessionIds, ['6f1c2d9e-3b4a-4c5d-8e7f-0a1b2c3d4e5f']);
  });

  test('the invalid fixtures and every other mistake are refused, naming the field', () => {
    assert.throws(() => parseManualRequest(fixture('manual-invalid-session-id.json')), invalid(/^the manual request's "sessionIds\[0\]" must be a UUID such as [-0-9a-f]+, got "not-a-uuid"; nothing was killed\. Example: \{"action":"kill-sessions"/));
    assert.throws(() => parseManualRequest(fixture('manual-invalid-no-reason.json')), invalid(/"reason" is missing; give the reason for the kill, which goes into every audit event; .*Example: \{"action":"kill-user-sessions"/));
    assert.throws(() => parseManualRequest(null), invalid(/^the manual request must be an object, got null/));
    assert.throws(() => parseManualRequest({ action: 'kill-everything' }), invalid(/"action" must be one of kill-sessions, kill-user-sessions, run-policy-set, got "kill-everything"/));
    assert.throws(() => parseManualRequest({ sessionIds: [] }), invalid(/"action" is missing; give one of kill-sessions, kill-user-sessions, run-policy-set/));
    assert.throws(() => parseManualRequest({ action: 'kill-sessions', sessionIds: [], reason: 'x' }), invalid(/"sessionIds" must be a non-empty array of session ids \(UUIDs\), got \[\]/));
    assert.throws(() => parseManualRequest({ action: 'kill-user-sessions', users: ['bob'], reason: 'x' }), invalid(/"users\[0\]" must be a user as "name@db", got "bob"/));
    assert.throws(() => parseManualRequest({ action: 'kill-user-sessions', users: ['bob@admin'], sessionIds: [], reason: 'x' }), invalid(/has unknown field "sessionIds"; allowed: kind, action, users, reason, cluster, requestedBy, dryRun/));
    assert.throws(() => parseManualRequest({ action: 'run-policy-set' }), invalid(/"policySet" is missing; give the name of the policy set to run/));
    assert.throws(() => parseManualRequest({ action: 'run-policy-set', policySet: 'strict', dryRun: 'false' }), invalid(/"dryRun" must be true or false, got "false"/));
    assert.throws(() => parseManualRequest({ kind: 'schedule', action: 'run-policy-set', policySet: 'strict' }), invalid(/"kind" must be "manual", got "schedule"/));
    assert.throws(() => parseManualRequest({ action: 'kill-sessions', reason: 'x'.repeat(501), sessionIds: ['6f1c2d9e-3b4a-4c5d-8e7f-0a1b2c3d4e5f'] }), invalid(/"reason" has 501 characters; at most 500/));
    const many = Array.from({ length: MAX_TARGETS + 1 }, (_, i) => `6f1c2d9e-3b4a-4c5d-8e7f-${String(i).padStart(12, '0')}`);
    assert.throws(() => parseManualRequest({ action: 'kill-sessions', reason: 'x', sessionIds: many }), invalid(/"sessionIds" has 501 entries; at most 500/));
    assert.equal(parseManualRequest({ action: 'kill-sessions', reason: 'x', sessionIds: many.slice(1) }).sessionIds.length, MAX_TARGETS);
  });
});

describe('the one-off policy set', () => {
  test('only the named sessions are killed, protections of the cluster\'s policy still win, the reaper never', async () => {
    // Prepare
    const base = await loadPolicySet(DEFAULT_POLICIES_DIR, { env: {} });
    const named = '11111111-1111-4111-8111-111111111111';
    const backup = '22222222-2222-4222-8222-222222222222';
    const mine = '33333333-3333-4333-8333-333333333333';
    const request = parseManualRequest({ action: 'kill-sessions', sessionIds: [named, backup, mine], reason: 'INC-1' });
    const policy = manualPolicySet(request, base);
    const facts = [
      session(named),
      session(backup, { appName: 'mongodump' }),
      session(mine, { isReaperSession: true }),
      session('44444444-4444-4444-8444-444444444444', { hasTransaction: true, txnInactiveSeconds: 9999 }),
    ];
    // Act
    const decisions = evaluate(facts, policy);
    const byId = new Map(decisions.map((d) => [d.facts.sessionId, d]));
    // Assess
    assert.equal(byId.get(named)?.action, 'kill');
    assert.equal(byId.get(named)?.rule, MANUAL_KILL_RULE);
    assert.equal(byId.get(named)?.reason, 'manual request: INC-1');
    assert.equal(byId.get(backup)?.action, 'protect', 'the backup tool stays protected');
    assert.ok(byId.get(backup)?.matched.some((m) => m.rule === MANUAL_KILL_RULE), 'and the kill rule is recorded as overridden');
    assert.equal(byId.get(mine)?.action, 'protect');
    assert.equal(byId.has('44444444-4444-4444-8444-444444444444'), false, 'the base set\'s kill rules are not part of a manual request');
    assert.deepEqual(notFound(request, decisions.map((d) => ({ sessionId: d.facts.sessionId, user: d.facts.user, rule: d.rule }))), []);
  });

  test('by user: every session of the named users, nobody else\'s', async () => {
    const base = await loadPolicySet(DEFAULT_POLICIES_DIR, { env: {} });
    const request = parseManualRequest({ action: 'kill-user-sessions', users: ['bob@admin', 'ghost@admin'], reason: 'INC-2' });
    const decisions = evaluate([
      session('11111111-1111-4111-8111-111111111111', { user: 'bob@admin', userName: 'bob' }),
      session('22222222-2222-4222-8222-222222222222', { user: 'bob@admin', userName: 'bob' }),
      session('33333333-3333-4333-8333-333333333333', { user: 'bob@reports', userName: 'bob', userDb: 'reports' }),
    ], manualPolicySet(request, base));
    assert.deepEqual(decisions.filter((d) => d.action === 'kill').map((d) => d.facts.sessionId).sort(), ['11111111-1111-4111-8111-111111111111', '22222222-2222-4222-8222-222222222222']);
    assert.deepEqual(notFound(request, decisions.map((d) => ({ sessionId: d.facts.sessionId, user: d.facts.user, rule: d.rule }))), ['ghost@admin']);
  });
});
