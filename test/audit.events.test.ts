/**
 * The audit event model: the builder stamps what the run context owns, derives the DetailType from
 * the outcome, and everything it builds validates against schemas/audit-event.v1.json; the schema
 * rejects what a consumer must never see (bad uid, a skipped decision without a reason, ...).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import auditEventSchema from '../schemas/audit-event.v1.json' with { type: 'json' };
import { emptyFacts } from '../src/pass/facts.ts';
import {
  AUDIT_SCHEMA_VERSION,
  DEFAULT_AUDIT_SOURCE,
  detailTypeFor,
  envelopeTime,
  toEventEnvelope,
  type DecisionDetail,
  type Outcome,
  type RunSummaryDetail,
} from '../src/pass/audit/events.ts';
import {
  decisionEvent,
  emptyCounts,
  operationRefFromFacts,
  runSummaryEvent,
  sessionRefFromFacts,
  type AuditContext,
  type DecisionFields,
} from '../src/pass/audit/builder.ts';
import { validateAuditDetail } from '../src/pass/audit/schema.ts';

const UID = 'a'.repeat(64);
const SESSION_ID = '3b241101-e2bb-4255-8caf-4136c566a962';
const NOW = new Date('2024-05-01T12:00:00.123Z');

function context(overrides: Partial<AuditContext> = {}): AuditContext {
  return {
    source: DEFAULT_AUDIT_SOURCE,
    runId: 'run-1',
    cluster: 'cluster0',
    trigger: { type: 'schedule', name: 'every-5-minutes' },
    dryRun: false,
    now: () => NOW,
    ...overrides,
  };
}

function sessionDecision(overrides: Partial<DecisionFields> = {}): DecisionFields {
  return {
    target: 'session',
    session: { id: SESSION_ID, uid: UID, user: 'app@admin', appName: 'orders', client: '10.0.0.5:51234' },
    operation: null,
    rule: 'idle-transaction',
    action: 'kill',
    reason: 'transaction idle for 600 s',
    facts: { hasTransaction: true, txnInactiveSeconds: 600 },
    outcome: 'killed',
    ...overrides,
  };
}

describe('decisionEvent', () => {
  const cases: { outcome: Outcome; extra: Partial<DecisionFields>; detailType: string; dryRun: boolean }[] = [
    { outcome: 'planned', extra: {}, detailType: 'Session Kill Planned', dryRun: true },
    { outcome: 'killed', extra: { killBatch: { index: 0, size: 3 } }, detailType: 'Session Killed', dryRun: false },
    { outcome: 'skipped', extra: { why: 'transaction is prepared' }, detailType: 'Session Kill Skipped', dryRun: false },
    {
      outcome: 'failed',
      extra: { error: { code: 13, codeName: 'Unauthorized', message: 'not authorized on admin' } },
      detailType: 'Session Kill Failed',
      dryRun: false,
    },
  ];
  for (const c of cases) {
    it(`stamps the context and maps outcome "${c.outcome}" to "${c.detailType}"`, () => {
      // Prepare
      const ctx = context({ dryRun: c.dryRun });

      // Act
      const event = decisionEvent(ctx, sessionDecision({ outcome: c.outcome, ...c.extra }));

      // Assess
      assert.deepEqual(validateAuditDetail(event.detail), []);
      assert.equal(event.detailType, c.detailType);
      assert.equal(event.source, 'mongodb.session-reaper');
      assert.equal(event.time, NOW);
      const detail = event.detail as DecisionDetail;
      assert.equal(detail.schemaVersion, AUDIT_SCHEMA_VERSION);
      assert.equal(detail.kind, 'decision');
      assert.equal(detail.runId, 'run-1');
      assert.equal(detail.cluster, 'cluster0');
      assert.deepEqual(detail.trigger, { type: 'schedule', name: 'every-5-minutes' });
      assert.equal(detail.time, '2024-05-01T12:00:00.123Z');
      assert.equal(detail.dryRun, c.dryRun);
      assert.equal(detail.outcome, c.outcome);
    });
  }

  it('builds a valid decision for a sessionless operation from its facts', () => {
    // Prepare
    const facts = { ...emptyFacts('operation'), opid: 'shard01:4711', longestOpSeconds: 900 };

    // Act
    const event = decisionEvent(context({ source: 'acme.reaper', trigger: { type: 'cli' } }), {
      target: 'operation',
      session: sessionRefFromFacts(facts),
      operation: operationRefFromFacts(facts),
      rule: 'runaway-op',
      action: 'kill',
      reason: 'running for 900 s',
      facts: { longestOpSeconds: facts.longestOpSeconds },
      outcome: 'killed',
    });

    // Assess
    assert.deepEqual(validateAuditDetail(event.detail), []);
    assert.equal(event.source, 'acme.reaper');
    const detail = event.detail as DecisionDetail;
    assert.equal(detail.session, null);
    assert.deepEqual(detail.operation, { opid: 'shard01:4711' });
  });

  it('builds the session reference from session facts', () => {
    // Prepare
    const facts = {
      ...emptyFacts('session'),
      sessionId: SESSION_ID,
      uid: UID,
      user: 'app@admin',
      appName: 'orders',
      client: '10.0.0.5:51234',
    };

    // Act
    const ref = sessionRefFromFacts(facts);
    const event = decisionEvent(context(), sessionDecision({ session: ref, operation: operationRefFromFacts(facts) }));

    // Assess
    assert.deepEqual(ref, { id: SESSION_ID, uid: UID, user: 'app@admin', appName: 'orders', client: '10.0.0.5:51234' });
    assert.deepEqual(validateAuditDetail(event.detail), []);
  });
});

describe('runSummaryEvent', () => {
  it('computes finishedAt and durationMs from the clock and validates', () => {
    // Prepare
    const startedAt = new Date(NOW.getTime() - 4_321);
    const counts = { ...emptyCounts(), sessions: 12, decisions: 3, killed: 2, skipped: 1, killSessionsCalls: 1, stillRunning: 1 };

    // Act
    const event = runSummaryEvent(context({ trigger: { type: 'alarm', name: 'HighConnections', id: 'arn:alarm' } }), {
      startedAt,
      reportOnly: false,
      reportOnlyReason: null,
      counts,
      stillRunning: [{ sessionId: SESSION_ID, uid: UID, opid: '123', secsRunning: 12.5 }],
    });

    // Assess
    assert.deepEqual(validateAuditDetail(event.detail), []);
    assert.equal(event.detailType, 'Reaper Run Completed');
    assert.equal(event.time, NOW);
    const detail = event.detail as RunSummaryDetail;
    assert.equal(detail.kind, 'run');
    assert.equal(detail.startedAt, startedAt.toISOString());
    assert.equal(detail.finishedAt, NOW.toISOString());
    assert.equal(detail.durationMs, 4_321);
    assert.deepEqual(detail.counts, counts);
  });

  it('validates a report-only run that stopped early, with a sessionless op still running', () => {
    // Prepare
    const startedAt = new Date('2024-05-01T11:59:00.000Z');
    const finishedAt = new Date('2024-05-01T11:59:58.000Z');

    // Act
    const event = runSummaryEvent(context({ dryRun: true, trigger: { type: 'demo' } }), {
      startedAt,
      finishedAt,
      reportOnly: true,
      reportOnlyReason: 'primary not reachable: listing from a secondary',
      counts: { ...emptyCounts(), stillRunning: 1 },
      stillRunning: [{ sessionId: '', uid: '', opid: 'shard02:99', secsRunning: 1 }],
      unfinished: 'stopped 2 s before the Lambda deadline: 4 kills not attempted',
      error: { message: 'deadline' },
    });

    // Assess
    assert.deepEqual(validateAuditDetail(event.detail), []);
    assert.equal(event.time, finishedAt);
    assert.equal((event.detail as RunSummaryDetail).durationMs, 58_000);
  });
});

describe('validateAuditDetail', () => {
  function validDecision(): DecisionDetail {
    return decisionEvent(context(), sessionDecision()).detail as DecisionDetail;
  }

  it('rejects a uid that is not 64 lowercase hex digits, naming the field', () => {
    // Prepare
    const detail = validDecision();
    const bad = { ...detail, session: { ...detail.session!, uid: 'A'.repeat(64) } };

    // Act
    const errors = validateAuditDetail(bad);

    // Assess
    assert.ok(errors.length > 0);
    assert.ok(errors.some((e) => e.startsWith('"session.uid" must be a string matching ^[0-9a-f]{64}$ (SHA-256 of')), errors.join('\n'));
  });

  const invalid: { name: string; mutate: (d: DecisionDetail) => unknown; expect: RegExp }[] = [
    { name: 'a session id that is not a UUID', mutate: (d) => ({ ...d, session: { ...d.session!, id: 'abc' } }), expect: /^"session\.id" must be a UUID such as [-0-9a-f]+, got "abc"$/ },
    { name: 'a skipped decision without why', mutate: (d) => ({ ...d, outcome: 'skipped' }), expect: /^"why" is missing$/ },
    { name: 'a failed decision without error', mutate: (d) => ({ ...d, outcome: 'failed' }), expect: /^"error" is missing$/ },
    { name: 'a dry run that killed', mutate: (d) => ({ ...d, dryRun: true }), expect: /^"outcome" must not be "killed"$/ },
    { name: 'a session decision without session', mutate: (d) => ({ ...d, session: null }), expect: /^"session" must be an object, got null$/ },
    { name: 'an unknown property', mutate: (d) => ({ ...d, extra: 1 }), expect: /^the detail has unknown field "extra"; allowed: schemaVersion, kind, / },
    { name: 'a time that is not ISO 8601', mutate: (d) => ({ ...d, time: 'yesterday' }), expect: /^"time" must be an RFC 3339 date-time such as [-0-9T:.Z]+, got "yesterday"$/ },
    { name: 'a time with a month 13', mutate: (d) => ({ ...d, time: '2024-13-01T00:00:00Z' }), expect: /^"time" must be an RFC 3339 date-time such as [-0-9T:.Z]+, got "2024-13-01T00:00:00Z"$/ },
    { name: 'another schema version', mutate: (d) => ({ ...d, schemaVersion: '2.0' }), expect: /^"schemaVersion" must be one of 1\.0, 1\.1, 1\.2, got "2\.0"$/ },
    { name: 'an unknown trigger type', mutate: (d) => ({ ...d, trigger: { type: 'cron' } }), expect: /^"trigger\.type" must be one of schedule, alarm, atlas-alert, manual, cli, demo, got "cron"$/ },
    { name: 'an unknown kind', mutate: (d) => ({ ...d, kind: 'verdict' }), expect: /^"kind" must be "decision" or "run", got "verdict"$/ },
  ];
  for (const c of invalid) {
    it(`rejects ${c.name}`, () => {
      // Prepare
      const detail = c.mutate(validDecision());

      // Act
      const errors = validateAuditDetail(detail);

      // Assess
      assert.ok(errors.some((e) => c.expect.test(e)), `expected ${c.expect} in:\n${errors.join('\n')}`);
    });
  }

  it('rejects a run summary with a negative count and reports only run-branch errors', () => {
    // Prepare
    const detail = runSummaryEvent(context(), {
      startedAt: NOW,
      reportOnly: false,
      reportOnlyReason: null,
      counts: { ...emptyCounts(), killed: -1 },
      stillRunning: [],
    }).detail;

    // Act
    const errors = validateAuditDetail(detail);

    // Assess
    assert.deepEqual(errors, ['"counts.killed" must be >= 0, got -1']);
  });

  it('rejects values that are not objects', () => {
    // Prepare
    const values: unknown[] = [null, 'x', 42, []];

    // Act
    const results = values.map((v) => validateAuditDetail(v));

    // Assess
    for (const errors of results) assert.ok(errors.length > 0);
  });

  it('pins the schema version and $id the code publishes', () => {
    // Prepare
    const defs = auditEventSchema.$defs;

    // Act
    const accepted = defs.schemaVersion.enum;

    // Assess: the code publishes the newest version; the older ones stay valid (audit trails are read back).
    assert.equal(accepted.at(-1), AUDIT_SCHEMA_VERSION);
    assert.ok(accepted.includes('1.0'), 'details written as 1.0 still validate');
    assert.match(auditEventSchema.$id, /v1$/);
    assert.equal(auditEventSchema.$schema, 'https://json-schema.org/draft/2020-12/schema');
  });
});

describe('detailTypeFor and envelopes', () => {
  it('maps every detail kind and outcome to its DetailType', () => {
    // Prepare
    const base = decisionEvent(context(), sessionDecision()).detail as DecisionDetail;
    const run = runSummaryEvent(context(), { startedAt: NOW, reportOnly: false, reportOnlyReason: null, counts: emptyCounts(), stillRunning: [] }).detail;

    // Act
    const types = (['planned', 'killed', 'skipped', 'failed'] as const).map((outcome) => detailTypeFor({ ...base, outcome }));

    // Assess
    assert.deepEqual(types, ['Session Kill Planned', 'Session Killed', 'Session Kill Skipped', 'Session Kill Failed']);
    assert.equal(detailTypeFor(run), 'Reaper Run Completed');
  });

  it('wraps an event in the envelope EventBridge delivers to targets', () => {
    // Prepare
    const event = decisionEvent(context(), sessionDecision());

    // Act
    const envelope = toEventEnvelope(event, { account: '123456789012', region: 'eu-west-1', newId: () => 'id-1' });

    // Assess
    assert.deepEqual(envelope, {
      version: '0',
      id: 'id-1',
      'detail-type': 'Session Killed',
      source: 'mongodb.session-reaper',
      account: '123456789012',
      time: '2024-05-01T12:00:00Z',
      region: 'eu-west-1',
      resources: [],
      detail: event.detail,
    });
    assert.equal(envelopeTime(new Date('2024-01-02T03:04:05.000Z')), '2024-01-02T03:04:05Z');
  });
});
