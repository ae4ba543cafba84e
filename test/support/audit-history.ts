/**
 * Audit histories made with the reaper's own event builder (src/pass/audit/builder.ts), so every event is
 * exactly what the pipeline would emit:
 *  - HISTORY: a small hand-written history whose every filter result can be checked by eye;
 *  - syntheticHistory(): as many events as asked for, in passes of a few decisions each, for the
 *    streaming and scale checks and the benchmark.
 */
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { decisionEvent, emptyCounts, runSummaryEvent, type AuditContext, type DecisionFields } from '../../src/pass/audit/builder.ts';
import { DEFAULT_AUDIT_SOURCE, toEventEnvelope, type AuditEvent, type Outcome, type RunCounts, type SessionRef, type TriggerInfo } from '../../src/pass/audit/events.ts';

export const uid = (c: string): string => c.repeat(64);

/** A fixed session for the hand-written history: id, uid, user, application. */
export const S = {
  aliceTxn: { id: '11111111-aaaa-4aaa-8aaa-000000000001', uid: uid('a'), user: 'alice@admin', appName: 'orders-api', client: '10.0.0.1:50001' },
  bobQuery: { id: '22222222-bbbb-4bbb-8bbb-000000000002', uid: uid('b'), user: 'bob@admin', appName: 'reporting-job', client: '10.0.0.2:50002' },
  backupDump: { id: '33333333-cccc-4ccc-8ccc-000000000003', uid: uid('c'), user: 'backup@admin', appName: 'mongodump', client: '10.0.0.3:50003' },
  carolCursor: { id: '44444444-dddd-4ddd-8ddd-000000000004', uid: uid('d'), user: 'carol@admin', appName: 'analytics, "BI" team', client: '10.0.0.4:50004' },
  daveA: { id: '55555555-eeee-4eee-8eee-000000000005', uid: uid('e'), user: 'dave@admin', appName: 'payments', client: '10.0.0.5:50005' },
  // Shares its first 8 characters with daveA: a short prefix is ambiguous between the two.
  daveB: { id: '55555555-ffff-4fff-8fff-000000000006', uid: uid('e'), user: 'dave@admin', appName: 'payments', client: '10.0.0.5:50006' },
} as const;

type SessionSpec = SessionRef;

interface DecisionSpec {
  at: string;
  session: SessionSpec | null;
  opid?: string;
  rule: string;
  action?: 'kill' | 'protect' | 'report';
  outcome: Outcome;
  facts?: Record<string, unknown>;
  why?: string;
  error?: { code?: number; codeName?: string; message: string };
}

interface RunSpec {
  runId: string;
  cluster: string;
  trigger: TriggerInfo;
  dryRun: boolean;
  startedAt: string;
  finishedAt: string;
  reportOnlyReason?: string;
  decisions: DecisionSpec[];
}

const REASONS: Record<string, string> = {
  'idle-transaction': 'transaction idle for more than 60s holds locks and cache',
  'runaway-operation': 'operation running for more than 300s',
  'stale-cursor-session': 'cursor unused for more than 600s while the session runs nothing',
  'atlas-agents-and-backup': 'automation, monitoring and backup agents and dump/restore tools run long by design',
};

/** Builds one pass's events: its decisions, then the run summary, as runPass publishes them. */
export function passEvents(run: RunSpec): AuditEvent[] {
  let clock = new Date(run.startedAt);
  const ctx: AuditContext = { source: DEFAULT_AUDIT_SOURCE, runId: run.runId, cluster: run.cluster, trigger: run.trigger, dryRun: run.dryRun, now: () => clock };
  const counts: RunCounts = emptyCounts();
  const events: AuditEvent[] = [];
  for (const d of run.decisions) {
    clock = new Date(d.at);
    const fields: DecisionFields = {
      target: d.session ? 'session' : 'operation',
      session: d.session ? { ...d.session } : null,
      operation: d.session ? null : { opid: d.opid ?? '1' },
      rule: d.rule,
      action: d.action ?? 'kill',
      reason: REASONS[d.rule] ?? `rule ${d.rule} matched`,
      facts: d.facts ?? {},
      outcome: d.outcome,
      ...(d.why ? { why: d.why } : {}),
      ...(d.error ? { error: d.error } : {}),
      ...(d.outcome === 'killed' || d.outcome === 'failed' ? { killBatch: { index: 0, size: run.decisions.length } } : {}),
    };
    events.push(decisionEvent(ctx, fields));
    counts[d.outcome]++;
    counts.decisions++;
  }
  counts.sessions = run.decisions.length + 2;
  events.push(runSummaryEvent(ctx, {
    startedAt: new Date(run.startedAt), finishedAt: new Date(run.finishedAt), counts, stillRunning: [],
    reportOnly: run.reportOnlyReason !== undefined, reportOnlyReason: run.reportOnlyReason ?? null,
  }));
  return events;
}

const PROTECTED_WHY = 'protected by rule "atlas-agents-and-backup" (dump/restore tools run long by design); kill rule "runaway-operation" also matched';

/**
 * Four passes over two days on two clusters:
 *  run-dry-0001  prod-eu  manual:pre-check  dry run   2024-05-01T09:00Z  planned alice, planned carol
 *  run-eu-0002   prod-eu  schedule:every-5-minutes    2024-05-01T10:00Z  killed alice, killed bob, skipped backup (protected)
 *  run-us-0003   prod-us  alarm:cpu-high              2024-05-02T08:00Z  failed daveA, killed daveB, killed op shard1:123
 *  run-eu-0004   prod-eu  schedule:every-5-minutes    2024-05-02T09:30Z  report-only: skipped carol (over the cap)
 */
export const HISTORY_RUNS: RunSpec[] = [
  {
    runId: 'run-dry-0001-1111', cluster: 'prod-eu', trigger: { type: 'manual', name: 'pre-check' }, dryRun: true,
    startedAt: '2024-05-01T09:00:00.000Z', finishedAt: '2024-05-01T09:00:01.000Z',
    decisions: [
      { at: '2024-05-01T09:00:00.500Z', session: S.aliceTxn, rule: 'idle-transaction', outcome: 'planned', facts: { hasTransaction: true, txnInactiveSeconds: 75.5 } },
      { at: '2024-05-01T09:00:00.600Z', session: S.carolCursor, rule: 'stale-cursor-session', outcome: 'planned', facts: { cursorCount: 1, longestCursorIdleSeconds: 900 } },
    ],
  },
  {
    runId: 'run-eu-0002-2222', cluster: 'prod-eu', trigger: { type: 'schedule', name: 'every-5-minutes' }, dryRun: false,
    startedAt: '2024-05-01T10:00:00.000Z', finishedAt: '2024-05-01T10:00:02.000Z',
    decisions: [
      { at: '2024-05-01T10:00:01.000Z', session: S.backupDump, rule: 'atlas-agents-and-backup', action: 'protect', outcome: 'skipped', why: PROTECTED_WHY, facts: { longestOpSeconds: 4000 } },
      { at: '2024-05-01T10:00:01.500Z', session: S.aliceTxn, rule: 'idle-transaction', outcome: 'killed', facts: { hasTransaction: true, txnInactiveSeconds: 3675.5 } },
      { at: '2024-05-01T10:00:01.500Z', session: S.bobQuery, rule: 'runaway-operation', outcome: 'killed', facts: { longestOpSeconds: 412 } },
    ],
  },
  {
    runId: 'run-us-0003-3333', cluster: 'prod-us', trigger: { type: 'alarm', name: 'cpu-high' }, dryRun: false,
    startedAt: '2024-05-02T08:00:00.000Z', finishedAt: '2024-05-02T08:00:03.000Z',
    decisions: [
      { at: '2024-05-02T08:00:02.000Z', session: S.daveA, rule: 'runaway-operation', outcome: 'failed', facts: { longestOpSeconds: 301 }, error: { code: 13, codeName: 'Unauthorized', message: 'not authorized on admin to execute command { killSessions: [...] }' } },
      { at: '2024-05-02T08:00:02.000Z', session: S.daveB, rule: 'runaway-operation', outcome: 'killed', facts: { longestOpSeconds: 333 } },
      { at: '2024-05-02T08:00:02.500Z', session: null, opid: 'shard1:123', rule: 'runaway-operation', outcome: 'killed', facts: { longestOpSeconds: 900 } },
    ],
  },
  {
    runId: 'run-eu-0004-4444', cluster: 'prod-eu', trigger: { type: 'schedule', name: 'every-5-minutes' }, dryRun: false,
    startedAt: '2024-05-02T09:30:00.000Z', finishedAt: '2024-05-02T09:30:01.000Z', reportOnlyReason: '1 kill would exceed --max-kill-share 0.1',
    decisions: [
      { at: '2024-05-02T09:30:00.500Z', session: S.carolCursor, rule: 'stale-cursor-session', outcome: 'skipped', why: 'report-only: 1 kill would exceed --max-kill-share 0.1, with "quotes", commas\nand a line break', facts: { cursorCount: 1, longestCursorIdleSeconds: 1200 } },
    ],
  },
];

export function historyEvents(): AuditEvent[] {
  return HISTORY_RUNS.flatMap(passEvents);
}

/** The history as JSON lines, with envelope ids "evt-1", "evt-2"... in order. */
export function historyJsonLines(events: AuditEvent[] = historyEvents()): string {
  let n = 0;
  return events.map((e) => `${JSON.stringify(toEventEnvelope(e, { newId: () => `evt-${++n}`, region: 'eu-west-1', account: '123456789012' }))}\n`).join('');
}

const SYNTHETIC_RULES = ['idle-transaction', 'runaway-operation', 'stale-cursor-session'] as const;
const SYNTHETIC_OUTCOMES: Outcome[] = ['killed', 'killed', 'killed', 'killed', 'skipped', 'failed'];

/**
 * `total` events (decisions and run summaries) in passes of 4 decisions + 1 summary, one pass a
 * minute from `start`, cycling deterministically through users, applications, rules and outcomes.
 */
export function* syntheticHistory(total: number, start = Date.parse('2024-01-01T00:00:00Z')): Generator<AuditEvent> {
  let made = 0;
  for (let pass = 0; made < total; pass++) {
    const at = start + pass * 60_000;
    const runId = `00000000-0000-4000-8000-${pass.toString(16).padStart(12, '0')}`;
    const decisions: DecisionSpec[] = [];
    for (let i = 0; i < 4 && made + decisions.length + 1 < total; i++) {
      const k = pass * 4 + i;
      const user = `user${k % 97}@admin`;
      const outcome = SYNTHETIC_OUTCOMES[k % SYNTHETIC_OUTCOMES.length]!;
      decisions.push({
        at: new Date(at + 100 + i).toISOString(),
        session: { id: `${(k % 0xffffffff).toString(16).padStart(8, '0')}-0000-4000-8000-000000000000`, uid: uid('f'), user, appName: `app-${k % 13}`, client: '10.1.0.1:40000' },
        rule: SYNTHETIC_RULES[k % SYNTHETIC_RULES.length]!,
        outcome,
        facts: { longestOpSeconds: 300 + (k % 50) },
        ...(outcome === 'skipped' ? { why: 'not attempted: the pass reached its deadline before this kill was sent' } : {}),
        ...(outcome === 'failed' ? { error: { code: 13, codeName: 'Unauthorized', message: 'not authorized' } } : {}),
      });
    }
    const events = passEvents({
      runId, cluster: `cluster-${pass % 3}`, trigger: { type: 'schedule', name: 'every-minute' }, dryRun: false,
      startedAt: new Date(at).toISOString(), finishedAt: new Date(at + 200).toISOString(), decisions,
    });
    for (const e of events) {
      if (made++ >= total) return;
      yield e;
    }
  }
}

/** Writes events as JSON lines to `path`, honouring backpressure: memory stays flat for any count. */
export async function writeJsonLines(path: string, events: Iterable<AuditEvent>): Promise<number> {
  const out = createWriteStream(path);
  let n = 0;
  for (const event of events) {
    n++;
    if (!out.write(`${JSON.stringify(toEventEnvelope(event, { newId: () => `evt-${n}` }))}\n`)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
  return n;
}
