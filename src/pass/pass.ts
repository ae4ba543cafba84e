/**
 * One reaping pass: inventory -> policy -> plan -> kill -> verify -> audit.
 *
 * The decision logic is pure (evaluate, planKills); I/O happens at the edges, through the MongoPort and
 * the AuditSink. Guarantees:
 *  - the policy set is loaded and validated before the pass starts (a bad policy aborts before any kill);
 *  - every decision that acts gets one audit event (planned, killed, skipped with why, failed with the error),
 *    and every pass ends with one run summary event, also when it fails half-way;
 *  - what the pass did not finish before its deadline is reported, never silently dropped.
 */
import { randomUUID } from 'node:crypto';
import { decisionEvent, emptyCounts, runSummaryEvent, sessionRefFromFacts, operationRefFromFacts, type AuditContext } from './audit/builder.ts';
import { earliest, type AuditBudget } from './audit/budget.ts';
import type { AuditEvent, KillFailureGroup, RunCounts, StillRunningOp, TriggerInfo } from './audit/events.ts';
import type { AuditSink, PublishResult } from './audit/sink.ts';
import { groupKillFailures } from './kill-failures.ts';
import { emptyFacts, type SessionFacts } from './facts.ts';
import { InventoryBuilder } from './inventory.ts';
import { executeKills, type KillOutcome, type KillTarget } from './kill.ts';
import { planKills, type PlannedKill } from './plan.ts';
import { createEvaluator, type Decision } from './policy/evaluate.ts';
import type { PolicySet } from './policy/types.ts';
import type { MongoPort, ReaperIdentity } from './ports.ts';

export interface PassOptions {
  cluster: string;
  trigger: TriggerInfo;
  dryRun: boolean;
  maxKills: number;
  maxKillShare: number;
  batchSize: number;
  concurrency: number;
  /** EventBridge Source of the audit events. */
  source: string;
  /** Epoch ms by which the pass must have stopped starting new work (Lambda deadline minus a margin). */
  deadlineMs?: number;
  /**
   * How long the audit may take (src/pass/audit/budget.ts); unbounded when absent. Its deadlines are
   * wall-clock (Date.now), as the sinks' timers are: a pass given another `now` gets no absolute one.
   */
  audit?: AuditBudget;
  now?: () => number;
  /** Progress lines for long work (stderr in the CLI). */
  progress?: (line: string) => void;
}

export type Outcome = 'planned' | 'killed' | 'skipped' | 'failed' | 'protected' | 'reported';

export interface DecisionRow {
  target: 'session' | 'operation';
  sessionId: string;
  uid: string;
  opid: string;
  user: string;
  appName: string;
  rule: string;
  reason: string;
  action: 'kill' | 'protect' | 'report';
  outcome: Outcome;
  why?: string;
  error?: { code?: number; codeName?: string; message: string };
  /** What the session held, for the table. */
  holds: string;
}

/**
 * The verification re-reads all of $currentOp; it is not started with less time than this left before the
 * deadline, so that it cannot run the pass past it (our estimate: a few hundred ms at 100,000 sessions,
 * ~2.5 s at 1,000,000, measured by `npm run bench`).
 */
export const VERIFY_MIN_MS = 3_000;

export type StageName = 'inventory' | 'evaluate' | 'plan' | 'kill' | 'verify' | 'audit';

export interface RunReport {
  runId: string;
  cluster: string;
  trigger: TriggerInfo;
  dryRun: boolean;
  reportOnly: boolean;
  reportOnlyReason: string | null;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  counts: RunCounts;
  stages: Record<StageName, number>;
  roundTrips: number;
  audit: { events: number; sent: number; failed: number; putEventsCalls: number };
  /** The failed kills grouped by error, as in the run summary event; empty when none failed. */
  killFailures: KillFailureGroup[];
  decisions: DecisionRow[];
  stillRunning: StillRunningOp[];
  unfinished: string | null;
  internalOps: number;
  error: string | null;
}

function holds(f: SessionFacts): string {
  const parts: string[] = [];
  if (f.opCount) parts.push(`${f.opCount} op${f.opCount > 1 ? 's' : ''} ${Math.round(f.longestOpSeconds)}s`);
  if (f.hasTransaction) parts.push(`txn${f.txnPrepared ? ' (prepared)' : ''} idle ${Math.round(f.txnInactiveSeconds)}s`);
  if (f.cursorCount) parts.push(`${f.cursorCount} cursor${f.cursorCount > 1 ? 's' : ''} idle ${Math.round(f.longestCursorIdleSeconds)}s`);
  if (!parts.length) parts.push(`idle ${Math.round(f.idleSeconds)}s`);
  return parts.join(', ');
}

function row(d: Decision, outcome: Outcome, extra: Partial<DecisionRow> = {}): DecisionRow {
  const f = d.facts;
  return {
    target: f.target, sessionId: f.sessionId, uid: f.uid, opid: f.opid, user: f.user, appName: f.appName,
    rule: d.rule, reason: d.reason, action: d.action, outcome, holds: holds(f), ...extra,
  };
}

interface Timer {
  stages: Record<StageName, number>;
  time<T>(stage: StageName, fn: () => Promise<T> | T): Promise<T>;
}

function stageTimer(): Timer {
  const stages: Record<StageName, number> = { inventory: 0, evaluate: 0, plan: 0, kill: 0, verify: 0, audit: 0 };
  return {
    stages,
    async time(stage, fn) {
      const t0 = performance.now();
      try {
        return await fn();
      } finally {
        stages[stage] += performance.now() - t0;
      }
    },
  };
}

interface Scan {
  decisions: Decision[];
  sessions: number;
  sessionlessOps: number;
  internalOps: number;
  /** Time spent in policy evaluation, inside the scan. */
  evaluateMs: number;
}

/**
 * Inventory and evaluation in one streaming scan: $currentOp and $listLocalSessions first (the sessions that
 * hold something or were just used, joined in the InventoryBuilder), then $listSessions a server batch at a
 * time, where every session not already known is evaluated on the spot and dropped unless a rule matched.
 * A million idle sessions then cost one batch of records at a time, not a million records at once.
 */
async function scan(mongo: MongoPort, self: ReaperIdentity, now: number, policy: PolicySet, progress?: (l: string) => void): Promise<Scan> {
  const builder = new InventoryBuilder(now, self);
  const evaluator = createEvaluator(policy);
  const decisions: Decision[] = [];
  let evaluateMs = 0;
  let streamed = 0;
  let n = 0;
  let reported = 0;
  const tick = (count: number): void => {
    n += count;
    if (n - reported >= 100_000) {
      reported = n;
      progress?.(`inventory: ${n.toLocaleString('en-US')} documents read`);
    }
  };
  const decide = (records: readonly SessionFacts[]): void => {
    const t = performance.now();
    for (const d of evaluator.evaluate(records)) decisions.push(d);
    evaluateMs += performance.now() - t;
  };
  // Sessions known only from the listing go through one scratch record: most match no rule and leave
  // nothing behind; those that do get a copy of their own.
  const scratch = emptyFacts('session');
  for await (const batch of mongo.currentOp()) {
    for (const a of batch) builder.addActivity(a);
    tick(batch.length);
  }
  for await (const batch of mongo.listLocalSessions()) {
    for (const s of batch) builder.addListed(s, 'listLocalSessions');
    tick(batch.length);
  }
  for await (const batch of mongo.listSessions()) {
    for (const s of batch) {
      if (!builder.detachListed(s, scratch)) continue;
      streamed++;
      // Timed per record (a clock read costs ~25 ns) so the stage report keeps joining and deciding apart.
      const t = performance.now();
      const d = evaluator.decide(scratch);
      if (d) {
        d.facts = { ...scratch };
        decisions.push(d);
      }
      evaluateMs += performance.now() - t;
    }
    tick(batch.length);
  }
  const inventory = builder.build();
  decide(inventory.sessions);
  decide(inventory.sessionlessOps);
  return {
    decisions, sessions: inventory.sessions.length + streamed, sessionlessOps: inventory.sessionlessOps.length,
    internalOps: inventory.internalOps, evaluateMs,
  };
}

/** Re-reads $currentOp: what of the killed sessions and operations is still running. */
async function verifyKills(mongo: MongoPort, killed: KillTarget[]): Promise<StillRunningOp[]> {
  const sessions = new Set(killed.filter((k) => k.key).map((k) => k.key!.id + k.key!.uid));
  const opids = new Set(killed.filter((k) => k.kind === 'operation').map((k) => k.opid));
  const still: StillRunningOp[] = [];
  for await (const batch of mongo.currentOp()) {
    for (const a of batch) {
      if (a.type !== 'op' || !a.active) continue;
      const inKilledSession = a.sessionId && a.uid && sessions.has(a.sessionId + a.uid);
      if (inKilledSession || opids.has(a.opid)) {
        still.push({ sessionId: a.sessionId ?? '', uid: a.uid ?? '', opid: a.opid, secsRunning: a.secsRunning });
      }
    }
  }
  return still;
}

/**
 * No kill starts after the pass's deadline, nor after the moment from which the audit could no longer
 * send and, failing that, log the kills' events before the process may be stopped.
 */
function killDeadline(opts: PassOptions, kills: number): number | undefined {
  return earliest(opts.deadlineMs, opts.audit?.killCutoff(kills));
}

/**
 * Runs one pass. Throws only for errors before anything could be done (the caller reports them);
 * once the inventory is read, failures are recorded in the report and the run summary.
 */
export async function runPass(mongo: MongoPort, policy: PolicySet, sink: AuditSink, opts: PassOptions): Promise<RunReport> {
  const now = opts.now ?? Date.now;
  const startedAt = new Date(now());
  const runId = randomUUID();
  const timer = stageTimer();
  const counts = emptyCounts();
  const ctx: AuditContext = { source: opts.source, runId, cluster: opts.cluster, trigger: opts.trigger, dryRun: opts.dryRun, now: () => new Date(now()) };
  const events: AuditEvent[] = [];
  const rows: DecisionRow[] = [];
  let stillRunning: StillRunningOp[] = [];
  let reportOnly = false;
  let reportOnlyReason: string | null = null;
  let unfinished: string | null = null;
  let failure: string | null = null;
  let internalOps = 0;

  // Events are published in two rounds at most: the decisions and kill outcomes right after the kill stage,
  // then what is left (everything, for a dry run) with the run summary at the end.
  const published = { sent: 0, failed: 0, calls: 0 };
  let publishedUpTo = 0;
  const publish = async (): Promise<void> => {
    if (events.length === publishedUpTo) return;
    const batch = events.slice(publishedUpTo);
    publishedUpTo = events.length;
    const r: PublishResult = await sink.publish(batch, { deadlineMs: opts.audit?.deadline(batch.length) });
    published.sent += r.sent;
    published.failed += r.failed.length;
    published.calls += r.calls;
  };

  const addEvent = (d: Decision, outcome: 'planned' | 'killed' | 'skipped' | 'failed', extra: { why?: string; error?: DecisionRow['error']; killBatch?: { index: number; size: number } } = {}): void => {
    const f = d.facts;
    events.push(decisionEvent(ctx, {
      target: f.target,
      session: f.target === 'session' ? sessionRefFromFacts(f) : null,
      operation: f.target === 'operation' ? operationRefFromFacts(f) : null,
      rule: d.rule, action: d.action, reason: d.reason, facts: d.evidence, outcome,
      ...(extra.why ? { why: extra.why } : {}),
      ...(extra.error ? { error: extra.error } : {}),
      ...(extra.killBatch ? { killBatch: extra.killBatch } : {}),
    }));
  };

  try {
    const self = await mongo.identity();
    const scanned = await timer.time('inventory', () => scan(mongo, self, now(), policy, opts.progress));
    // The scan interleaves reading and evaluating; its evaluation time is reported as its own stage.
    timer.stages.inventory -= scanned.evaluateMs;
    timer.stages.evaluate += scanned.evaluateMs;
    const decisions = scanned.decisions;
    internalOps = scanned.internalOps;
    counts.sessions = scanned.sessions;
    counts.sessionlessOps = scanned.sessionlessOps;
    counts.decisions = decisions.length;

    const plan = await timer.time('plan', () => planKills(decisions, {
      dryRun: opts.dryRun, maxKills: opts.maxKills, maxKillShare: opts.maxKillShare,
      totalSessions: scanned.sessions + scanned.sessionlessOps,
      reaperSession: { id: self.sessionId, uid: self.uid },
    }));
    reportOnly = plan.reportOnly;
    reportOnlyReason = plan.reportOnlyReason;
    if (reportOnly) opts.progress?.(`REPORT-ONLY: ${reportOnlyReason}`);

    // Protections and reports: a protection that overrode a kill rule is audited as a skipped kill.
    for (const d of plan.protectedOrReported) {
      const overriddenKill = d.matched.find((m) => m.action === 'kill');
      if (d.action === 'protect') {
        counts.protected++;
        if (overriddenKill) {
          const why = `protected by rule "${d.rule}" (${d.reason}); kill rule "${overriddenKill.rule}" also matched`;
          rows.push(row(d, 'protected', { why }));
          addEvent(d, 'skipped', { why });
          counts.skipped++;
        } else {
          rows.push(row(d, 'protected'));
        }
      } else {
        counts.reported++;
        rows.push(row(d, 'reported'));
      }
    }
    for (const s of plan.skipped) {
      rows.push(row(s.decision, 'skipped', { why: s.why }));
      addEvent(s.decision, 'skipped', { why: s.why });
      counts.skipped++;
    }

    const targets = plan.kills.map((k: PlannedKill) => ({
      kind: k.kind,
      key: k.kind === 'session' ? { id: k.decision.facts.sessionId, uid: k.decision.facts.uid } : null,
      opid: k.decision.facts.opid,
      decision: k.decision,
    }));

    if (opts.dryRun) {
      for (const t of targets) {
        rows.push(row(t.decision, 'planned'));
        addEvent(t.decision, 'planned');
        counts.planned++;
      }
    } else if (targets.length > 0) {
      const result = await timer.time('kill', () => executeKills(mongo, targets, {
        batchSize: opts.batchSize, concurrency: opts.concurrency, deadlineMs: killDeadline(opts, targets.length), now,
        onProgress: targets.length >= 10_000 ? (done, total) => opts.progress?.(`kill: ${done}/${total}`) : undefined,
      }));
      counts.killSessionsCalls = result.killSessionsCalls;
      counts.killOpCalls = result.killOpCalls;
      const notAttempted: KillOutcome<(typeof targets)[number]>[] = [];
      for (const o of result.outcomes) {
        const d = o.item.decision;
        if (o.status === 'killed') {
          rows.push(row(d, 'killed'));
          addEvent(d, 'killed', { killBatch: o.batch });
          counts.killed++;
        } else if (o.status === 'failed') {
          rows.push(row(d, 'failed', { error: o.error }));
          addEvent(d, 'failed', { error: o.error!, killBatch: o.batch });
          counts.failed++;
        } else {
          notAttempted.push(o);
          const why = 'not attempted: the pass reached its deadline before this kill was sent';
          rows.push(row(d, 'skipped', { why }));
          addEvent(d, 'skipped', { why });
          counts.skipped++;
        }
      }
      if (notAttempted.length) unfinished = `${notAttempted.length} planned kill(s) were not sent before the deadline`;
      // The kills are done: their events go out now, before the verification, so that a pass cut short
      // after this point (a Lambda timeout) has still audited every kill it made.
      await timer.time('audit', () => publish());
      const killed = result.outcomes.filter((o) => o.status === 'killed').map((o) => o.item);
      if (killed.length && !(opts.deadlineMs !== undefined && opts.deadlineMs - now() < VERIFY_MIN_MS)) {
        stillRunning = await timer.time('verify', () => verifyKills(mongo, killed));
        counts.stillRunning = stillRunning.length;
      } else if (killed.length) {
        unfinished = [unfinished, 'verification skipped: deadline reached'].filter(Boolean).join('; ');
      }
    }
  } catch (e) {
    failure = (e as Error).message;
  }

  // The run summary goes out even when the pass failed: an operator must see that it did. It is sent
  // on its own, after the other events, so that it can say how many of them were not delivered.
  await timer.time('audit', () => publish());
  const finishedAt = new Date(now());
  const killFailures = groupKillFailures(rows.filter((r) => r.outcome === 'failed'));
  events.push(runSummaryEvent(ctx, {
    startedAt, finishedAt, reportOnly, reportOnlyReason, counts, stillRunning,
    ...(unfinished ? { unfinished } : {}),
    ...(failure ? { error: { message: failure } } : {}),
    ...(killFailures.length ? { killFailures } : {}),
    audit: { events: events.length, undelivered: published.failed },
  }));
  await timer.time('audit', () => publish());

  return {
    runId, cluster: opts.cluster, trigger: opts.trigger, dryRun: opts.dryRun, reportOnly, reportOnlyReason,
    startedAt: startedAt.toISOString(), finishedAt: finishedAt.toISOString(), durationMs: finishedAt.getTime() - startedAt.getTime(),
    counts, stages: timer.stages, roundTrips: mongo.roundTrips(),
    audit: { events: events.length, sent: published.sent, failed: published.failed, putEventsCalls: published.calls },
    killFailures, decisions: rows, stillRunning, unfinished, internalOps, error: failure,
  };
}
