/**
 * The kill stage and the pass around it, without a server: an in-memory MongoPort records what the
 * pass sends. Batching, a failed batch that does not stop the others, killOp for sessionless
 * operations, the deadline, and the audit events each outcome produces.
 */
import { activity } from './support/activity.ts';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { InMemoryAuditSink } from '../src/adapters/audit-sinks.ts';
import { validateAuditDetail } from '../src/pass/audit/schema.ts';
import { executeKills, MAX_KILL_BATCH_SIZE } from '../src/pass/kill.ts';
import { PASS_FAILURE, runPass, VERIFY_MIN_MS, type PassOptions } from '../src/pass/pass.ts';
import { checkReport } from '../src/service/lambda/runtime.ts';
import { auditBudget } from '../src/pass/audit/budget.ts';
import { groupKillFailures, KILL_FAILURE_GROUPS_MAX, KILL_FAILURE_IDS_MAX, KILL_FAILURE_MESSAGE_MAX } from '../src/pass/kill-failures.ts';
import { parsePolicySet } from '../src/pass/policy/load.ts';
import type { Activity, ActivityFilter, ListedSession, MongoPort, ReaperIdentity, SessionKey } from '../src/pass/ports.ts';

const NOW = Date.parse('2026-11-30T12:00:00Z');
const uuid = (n: number) => `${n.toString(16).padStart(8, '0')}-0000-4000-8000-000000000000`;
const UID = 'c'.repeat(64);

class MemoryPort implements MongoPort {
  killCalls: SessionKey[][] = [];
  killOps: string[] = [];
  trips = 0;
  constructor(
    private readonly sessions: ListedSession[],
    private readonly activities: Activity[],
    private readonly failBatch: (batch: readonly SessionKey[]) => Error | null = () => null,
  ) {}
  async identity(): Promise<ReaperIdentity> {
    return { sessionId: uuid(0), uid: 'f'.repeat(64), user: 'reaper@admin' };
  }
  async *listSessions() {
    this.trips++;
    yield this.sessions;
  }
  async *listLocalSessions() {
    this.trips++;
  }
  async *currentOp() {
    this.trips++;
    yield this.activities;
  }
  async currentOpOf(filter: ActivityFilter) {
    this.trips++;
    const ids = new Set(filter.sessions.map((k) => k.id));
    return this.activities.filter((a) => (a.sessionId && ids.has(a.sessionId)) || filter.opids.includes(a.opid));
  }
  async killSessions(batch: readonly SessionKey[]) {
    this.trips++;
    this.killCalls.push([...batch]);
    const err = this.failBatch(batch);
    if (err) throw err;
  }
  async killOp(opid: string) {
    this.trips++;
    this.killOps.push(opid);
  }
  roundTrips() {
    return this.trips;
  }
}

/** n sessions each with a 100 s operation, plus one sessionless 100 s operation. */
function runaway(n: number): { sessions: ListedSession[]; activities: Activity[] } {
  const sessions = Array.from({ length: n }, (_, i) => ({ id: uuid(i + 1), uid: UID, lastUseMs: NOW, user: 'app@admin' }));
  const op = (i: number): Activity => activity({
    sessionId: uuid(i + 1), uid: UID, opid: String(i + 1), secsRunning: 100 + i, op: 'query', ns: 'db.c',
    appName: 'app', client: '10.0.0.1:1', user: 'app@admin',
  });
  const sessionless: Activity = { ...op(n), sessionId: null, uid: null, opid: 'shard01:999' };
  return { sessions, activities: [...sessions.map((_, i) => op(i)), sessionless] };
}

const POLICY = parsePolicySet([{
  path: 'p.json',
  text: JSON.stringify({
    version: 1,
    rules: [{ name: 'runaway', conditions: { all: [{ fact: 'longestOpSeconds', operator: 'greaterThan', value: 50 }] }, event: { type: 'kill', params: { reason: 'runs too long' } } }],
  }),
}]);

const opts = (o: Partial<PassOptions> = {}): PassOptions => ({
  cluster: 'unit', trigger: { type: 'cli' }, dryRun: false, maxKills: 1000, maxKillShare: 1, batchSize: 4, concurrency: 2,
  source: 'mongodb.session-reaper', now: () => NOW, ...o,
});

describe('kill stage', () => {
  it('batches sessions into ceil(n / batch size) killSessions calls, {id, uid} in every element', async () => {
    // Prepare
    const { sessions, activities } = runaway(10);
    const port = new MemoryPort(sessions, activities);
    // Act
    const report = await runPass(port, POLICY, new InMemoryAuditSink(), opts());
    // Assess
    assert.equal(port.killCalls.length, 3);
    assert.deepEqual(port.killCalls.map((b) => b.length), [4, 4, 2]);
    assert.ok(port.killCalls.flat().every((k) => k.id && k.uid === UID));
    assert.equal(report.counts.killSessionsCalls, 3);
    assert.equal(report.counts.killed, 11);
  });

  it('orders victims by what they hold: the longest-running first', async () => {
    const { sessions, activities } = runaway(6);
    const port = new MemoryPort(sessions, activities);
    await runPass(port, POLICY, new InMemoryAuditSink(), opts({ batchSize: 100 }));
    assert.deepEqual(port.killCalls[0]!.map((k) => k.id), [6, 5, 4, 3, 2, 1].map(uuid));
  });

  it('a failed batch does not stop the others; its sessions are audited as failed with the error', async () => {
    // Prepare
    const { sessions, activities } = runaway(8);
    const port = new MemoryPort(sessions, activities, (batch) => (batch.some((k) => k.id === uuid(8)) ? Object.assign(new Error('not primary'), { code: 10107, codeName: 'NotWritablePrimary' }) : null));
    const sink = new InMemoryAuditSink();
    // Act
    const report = await runPass(port, POLICY, sink, opts());
    // Assess
    assert.equal(port.killCalls.length, 2, 'both batches were sent');
    assert.equal(report.counts.failed, 4);
    assert.equal(report.counts.killed, 5, '4 sessions of the other batch and the sessionless op');
    const failed = sink.events.filter((e) => e.detailType === 'Session Kill Failed');
    assert.equal(failed.length, 4);
    for (const e of failed) {
      assert.equal(e.detail.kind === 'decision' && e.detail.error?.code, 10107);
      assert.deepEqual(validateAuditDetail(e.detail), []);
    }
  });

  it('the run summary says which kills failed and why, grouped by error', async () => {
    // Prepare
    const { sessions, activities } = runaway(8);
    const port = new MemoryPort(sessions, activities, (batch) => (batch.some((k) => k.id === uuid(8)) ? Object.assign(new Error('not primary'), { code: 10107, codeName: 'NotWritablePrimary' }) : null));
    const sink = new InMemoryAuditSink();
    // Act
    const report = await runPass(port, POLICY, sink, opts());
    // Assess
    const summary = sink.events.at(-1)!.detail;
    assert.ok(summary.kind === 'run');
    assert.deepEqual(validateAuditDetail(summary), []);
    const failedIds = sink.events.filter((e) => e.detailType === 'Session Kill Failed').map((e) => e.detail.kind === 'decision' && e.detail.session!.id);
    assert.deepEqual(summary.killFailures, [{ error: { code: 10107, codeName: 'NotWritablePrimary', message: 'not primary' }, count: 4, sessionIds: failedIds, opids: [] }]);
    assert.deepEqual(report.killFailures, summary.killFailures);
    assert.deepEqual(summary.audit, { events: 9, undelivered: 0 });
  });

  it('groups at most KILL_FAILURE_GROUPS_MAX errors, largest first, with a bounded sample of ids and message', () => {
    // Prepare: 12 distinct errors, the last one on 30 sessions with a long message.
    const failed = [
      ...Array.from({ length: 11 }, (_, i) => ({ target: 'session' as const, sessionId: uuid(i), opid: '', error: { message: `error ${i}` } })),
      ...Array.from({ length: 30 }, (_, i) => ({ target: 'session' as const, sessionId: uuid(100 + i), opid: '', error: { code: 6, message: 'x'.repeat(2000) } })),
      { target: 'operation' as const, sessionId: '', opid: '42', error: { code: 6, message: 'x'.repeat(2000) } },
    ];
    // Act
    const groups = groupKillFailures(failed);
    // Assess
    assert.equal(groups.length, KILL_FAILURE_GROUPS_MAX);
    assert.equal(groups[0]!.count, 31);
    assert.equal(groups[0]!.sessionIds.length, KILL_FAILURE_IDS_MAX);
    assert.deepEqual(groups[0]!.opids, ['42']);
    assert.equal(groups[0]!.error.message.length, KILL_FAILURE_MESSAGE_MAX + 1);
  });

  it('no kill starts when its event could not be sent and then logged before the audit deadline', async () => {
    // Prepare: logging the 7 events would take 7 s; the audit must end in 50 ms.
    const { sessions, activities } = runaway(5);
    const port = new MemoryPort(sessions, activities);
    const sink = new InMemoryAuditSink();
    // Act
    const report = await runPass(port, POLICY, sink, opts({ now: Date.now, audit: auditBudget({ deadlineMs: Date.now() + 50, logMsPerEvent: 1000 }) }));
    // Assess
    assert.equal(port.killCalls.length + port.killOps.length, 0);
    assert.equal(report.counts.skipped, 6);
    assert.match(report.unfinished ?? '', /6 planned kill\(s\) were not sent before the deadline/);
  });

  it('through mongos, sessions seen on several members go out once through the router; operations to where they were seen', async () => {
    // Prepare: a port that kills per member, and says one killSessions reaches every member (a router).
    const sent: string[] = [];
    const port = Object.assign(new MemoryPort([], []), {
      killSessionsReachEveryMember: () => true,
      killSessionsOn: async (member: string) => void sent.push(`killSessions on ${member}`),
      killOpOn: async (member: string, opid: string) => void sent.push(`killOp ${opid} on ${member}`),
    });
    const key = (i: number) => ({ id: uuid(i), uid: UID });
    const targets = [
      { kind: 'session' as const, key: key(1), opid: '', members: ['sh0-a:1', 'sh1-a:1', 'router:1'] },
      { kind: 'session' as const, key: key(2), opid: '', members: ['sh1-b:1'] },
      { kind: 'operation' as const, key: null, opid: 'shard1:7', members: ['sh1-b:1'] },
    ];
    // Act
    const result = await executeKills(port, targets, { batchSize: 10, concurrency: 1 });
    // Assess
    assert.deepEqual(port.killCalls, [[key(1), key(2)]]);
    assert.deepEqual(sent, ['killOp shard1:7 on sh1-b:1']);
    assert.equal(result.killSessionsCalls, 1);
    assert.deepEqual(result.outcomes.map((o) => [o.status, o.member ?? '']), [['killed', ''], ['killed', ''], ['killed', 'sh1-b:1']]);
  });

  it('sessionless operations are killed with killOp, mongos opids as "shard:opid"', async () => {
    const { sessions, activities } = runaway(1);
    const port = new MemoryPort(sessions, activities);
    const report = await runPass(port, POLICY, new InMemoryAuditSink(), opts());
    assert.deepEqual(port.killOps, ['shard01:999']);
    assert.equal(report.counts.killOpCalls, 1);
  });

  it('past the deadline nothing more is sent, and the report says what was not done', async () => {
    // Prepare
    const { sessions, activities } = runaway(5);
    const port = new MemoryPort(sessions, activities);
    const sink = new InMemoryAuditSink();
    // Act
    const report = await runPass(port, POLICY, sink, opts({ deadlineMs: NOW - 1 }));
    // Assess
    assert.equal(port.killCalls.length, 0);
    assert.equal(port.killOps.length, 0);
    assert.match(report.unfinished ?? '', /6 planned kill\(s\) were not sent before the deadline/);
    assert.equal(sink.events.filter((e) => e.detailType === 'Session Kill Skipped').length, 6);
    const summary = sink.events.at(-1)!;
    assert.equal(summary.detail.kind === 'run' && summary.detail.unfinished, report.unfinished);
  });

  it('no kills means no killSessions call at all: never an empty batch', async () => {
    const port = new MemoryPort([{ id: uuid(1), uid: UID, lastUseMs: NOW, user: 'a@admin' }], []);
    const report = await runPass(port, POLICY, new InMemoryAuditSink(), opts());
    assert.equal(port.killCalls.length, 0);
    assert.equal(report.counts.killSessionsCalls, 0);
  });

  it('refuses a batch size above the bound that keeps a command well under 16 MiB', async () => {
    await assert.rejects(executeKills(new MemoryPort([], []), [], { batchSize: MAX_KILL_BATCH_SIZE + 1, concurrency: 1 }), /batch size must be an integer from 1 to 50000/);
  });

  it('kill outcomes are published before the verification: a pass cut short there has audited every kill', async () => {
    // Prepare: the second $currentOp (the verification) fails.
    const { sessions, activities } = runaway(3);
    const port = new MemoryPort(sessions, activities);
    let reads = 0;
    const first = port.currentOp.bind(port);
    port.currentOp = async function* () {
      if (++reads > 1) throw new Error('connection reset during verification');
      yield* first();
    };
    const sink = new InMemoryAuditSink();
    // Act
    const report = await runPass(port, POLICY, sink, opts());
    // Assess
    assert.match(report.error ?? '', /connection reset during verification/);
    assert.equal(sink.events.filter((e) => e.detailType === 'Session Killed').length, 4);
    assert.equal(sink.calls, 2, 'kills published in their own round, the summary in the last');
  });

  it('no verification starts with less than VERIFY_MIN_MS before the deadline', async () => {
    const { sessions, activities } = runaway(2);
    const port = new MemoryPort(sessions, activities);
    let reads = 0;
    const first = port.currentOp.bind(port);
    port.currentOp = async function* () {
      reads++;
      yield* first();
    };
    const report = await runPass(port, POLICY, new InMemoryAuditSink(), opts({ deadlineMs: NOW + VERIFY_MIN_MS - 1 }));
    assert.equal(report.counts.killed, 3);
    assert.equal(reads, 1, 'only the inventory read $currentOp');
    assert.match(report.unfinished ?? '', /verification skipped/);
  });

  it('a session kill without {id, uid} fails its batch, audited, without stopping the other batches', async () => {
    const port = new MemoryPort([], []);
    const good = { kind: 'session' as const, key: { id: uuid(1), uid: UID }, opid: '' };
    const bad = { kind: 'session' as const, key: { id: uuid(2), uid: '' }, opid: '' };
    const result = await executeKills(port, [good, bad], { batchSize: 1, concurrency: 1 });
    assert.deepEqual(result.outcomes.map((o) => o.status).sort(), ['failed', 'killed']);
    assert.equal(port.killCalls.length, 1, 'the bad batch was never sent');
  });

  it('a pass that fails half-way still emits its run summary with the error', async () => {
    const port = new MemoryPort([], []);
    port.currentOp = async function* () {
      throw Object.assign(new Error('not authorized on admin to execute command { aggregate: 1 }'), { code: 13 });
    };
    const sink = new InMemoryAuditSink();
    const report = await runPass(port, POLICY, sink, opts());
    assert.match(report.error ?? '', /not authorized/);
    assert.equal(sink.events.length, 1);
    assert.equal(sink.events[0]!.detailType, 'Reaper Run Completed');
    assert.deepEqual(validateAuditDetail(sink.events[0]!.detail), []);
  });

  it('the failure keeps its cause chain through the pass boundary, out of the JSON report', async () => {
    // Prepare
    const port = new MemoryPort([], []);
    const root = Object.assign(new Error('connection 3 to 10.0.0.5:27017 closed'), { code: 6 });
    port.currentOp = async function* () {
      throw new Error('$currentOp failed', { cause: root });
    };
    // Act
    const report = await runPass(port, POLICY, new InMemoryAuditSink(), opts());
    // Assess
    assert.equal(report[PASS_FAILURE]?.cause, root);
    assert.equal(JSON.parse(JSON.stringify(report)).error, '$currentOp failed');
    assert.throws(() => checkReport(report), (e: Error) => e.name === 'ReaperError' && (e.cause as Error).cause === root);
  });

  it('round trips are counted per pass, also on an adapter that served earlier passes', async () => {
    // Prepare: a warm adapter (a Lambda container's second pass)
    const { sessions, activities } = runaway(3);
    const port = new MemoryPort(sessions, activities);
    const first = await runPass(port, POLICY, new InMemoryAuditSink(), opts({ batchSize: 100 }));
    // Act
    const second = await runPass(port, POLICY, new InMemoryAuditSink(), opts({ batchSize: 100 }));
    // Assess: $currentOp, $listLocalSessions, $listSessions, a re-check and one killSessions, a re-check and
    // one killOp, the verification
    assert.equal(first.roundTrips, 8);
    assert.equal(first.rechecks, 2);
    assert.equal(second.roundTrips, 8);
    assert.equal(port.roundTrips(), 16);
  });

  it('json-rules-engine as the evaluator makes the same decisions as the compiled one', async () => {
    // Prepare: kill, protect and no-match records in one inventory
    const { sessions, activities } = runaway(6);
    activities[2] = { ...activities[2]!, appName: 'mongodump' };
    activities[4] = { ...activities[4]!, secsRunning: 10 };
    const policy = parsePolicySet([{
      path: 'p.json',
      text: JSON.stringify({
        version: 1,
        rules: [
          { name: 'runaway', conditions: { all: [{ fact: 'longestOpSeconds', operator: 'greaterThan', value: 50 }] }, event: { type: 'kill', params: { reason: 'runs too long' } } },
          { name: 'backup', priority: 90, conditions: { all: [{ fact: 'appName', operator: 'equal', value: 'mongodump' }] }, event: { type: 'protect', params: { reason: 'backups' } } },
        ],
      }),
    }]);
    const rows = async (evaluator: 'compiled' | 'json-rules-engine') => {
      const report = await runPass(new MemoryPort(sessions, activities), policy, new InMemoryAuditSink(), opts({ dryRun: true, evaluator }));
      return report.decisions.map((d) => `${d.sessionId || d.opid} ${d.rule} ${d.outcome}`).sort();
    };
    // Act
    const compiled = await rows('compiled');
    const engine = await rows('json-rules-engine');
    // Assess
    assert.deepEqual(engine, compiled);
    assert.equal(compiled.length, 6, 'five runaways and the protected backup; the 10 s operation matched nothing');
    assert.ok(compiled.some((r) => r.endsWith('backup skipped')));
  });
});

describe('kills on a replica set, member by member', () => {
  /** A port that reads three members and records each kill command with the member it went to. */
  class MembersPort extends MemoryPort {
    sent: { member: string; kind: 'killSessions' | 'killOp'; size: number }[] = [];
    async killSessionsOn(member: string, batch: readonly SessionKey[]) {
      this.sent.push({ member, kind: 'killSessions', size: batch.length });
    }
    async killOpOn(member: string, _opid: string) {
      this.sent.push({ member, kind: 'killOp', size: 1 });
    }
  }

  it('sends ceil(kills there / batch size) killSessions to each member, and each killOp to its member only', async () => {
    // Prepare: 10 sessions on member A, 7 on member B, 3 on both; one sessionless operation on B.
    const target = (i: number, members: string[]) => ({ kind: 'session' as const, key: { id: uuid(i), uid: UID }, opid: '', members });
    const targets = [
      ...Array.from({ length: 10 }, (_, i) => target(i + 1, ['a:1'])),
      ...Array.from({ length: 7 }, (_, i) => target(i + 11, ['b:1'])),
      ...Array.from({ length: 3 }, (_, i) => target(i + 21, ['a:1', 'b:1'])),
      { kind: 'operation' as const, key: null, opid: '42', members: ['b:1'] },
    ];
    const port = new MembersPort([], []);
    // Act
    const result = await executeKills(port, targets, { batchSize: 4, concurrency: 2 });
    // Assess: A holds 13 kills (4 batches), B 10 (3 batches); nothing went through the main connection.
    const on = (m: string, kind: string) => port.sent.filter((s) => s.member === m && s.kind === kind);
    assert.equal(on('a:1', 'killSessions').length, Math.ceil(13 / 4));
    assert.equal(on('b:1', 'killSessions').length, Math.ceil(10 / 4));
    assert.deepEqual(on('a:1', 'killSessions').map((s) => s.size).reduce((x, y) => x + y), 13);
    assert.deepEqual(on('b:1', 'killOp').length, 1);
    assert.equal(on('a:1', 'killOp').length, 0);
    assert.deepEqual([port.killCalls.length, port.killOps.length], [0, 0]);
    assert.equal(result.killSessionsCalls, 7);
    assert.equal(result.outcomes.filter((o) => o.status === 'killed').length, 13 + 10 + 1);
  });
});
