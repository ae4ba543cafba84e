/**
 * One reaping pass, as a sequence of stages over one pass context:
 *
 *   inventory + evaluate (scan.ts) -> plan (plan.ts) -> kill (kill.ts) -> audit -> verify (verify.ts) -> audit
 *
 * The decision logic is pure (evaluate, planKills); I/O happens at the edges, through the MongoPort and
 * the AuditSink. Guarantees:
 *  - the policy set is loaded and validated before the pass starts (a bad policy aborts before any kill);
 *  - every decision that acts gets one audit event (planned, killed, skipped with why, failed with the error),
 *    and every pass ends with one run summary event, also when it fails half-way;
 *  - what the pass did not finish before its deadline is reported, never silently dropped.
 */
import { randomUUID } from 'node:crypto';
import type { AuditContext } from './audit/builder.ts';
import { earliest, type AuditBudget } from './audit/budget.ts';
import type { Freed, KillFailureGroup, RunCounts, StillRunningOp, TriggerInfo } from './audit/events.ts';
import { groupKillFailures } from './kill-failures.ts';
import type { AuditSink } from './audit/sink.ts';
import { PassJournal, type AuditTotals, type DecisionRow, type MemberKill } from './journal.ts';
import { executeKills, type KillOutcome, type KillTarget, type Recheck } from './kill.ts';
import { recordKey } from './facts.ts';
import { changeSince, freesNothing, freshFacts, heldBy, recheckFilter } from './recheck.ts';
import { evaluatorFor } from './policy/evaluate.ts';
import { planKills, type Plan } from './plan.ts';
import type { Decision, EvaluatorKind } from './policy/evaluate.ts';
import type { PolicySet } from './policy/types.ts';
import type { Activity, Coverage, MongoPort, ReaperIdentity, SightingsState, SightingsStore } from './ports.ts';
import { scan, type Scan } from './scan.ts';
import { PassSightings, recordPass } from './sightings.ts';
import { ReaperError } from '../util/errors.ts';
import { VERIFY_MIN_MS, verifyKills } from './verify.ts';

export type { DecisionRow, Outcome } from './journal.ts';
export { VERIFY_MIN_MS } from './verify.ts';

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
  /** The policy evaluator (default "compiled"; "json-rules-engine" is the slower reference). */
  evaluator?: EvaluatorKind;
  /** The run id (default: a new UUID), for callers that log under it before the pass starts. */
  runId?: string;
  /**
   * Where the sightings of earlier passes are kept (src/pass/sightings.ts). Without a store every candidate
   * is at its first sighting and no client is recalled: a rule waiting for a second sighting never kills.
   */
  sightings?: SightingsStore;
  /**
   * false: each kill batch is sent as planned, without the re-check before it (src/pass/recheck.ts). Only the
   * benchmark sets it, to measure what the re-check costs; every caller of the product leaves it on.
   */
  recheck?: boolean;
}

export type StageName = 'inventory' | 'evaluate' | 'plan' | 'sightings' | 'kill' | 'verify' | 'audit';

/** The error a failed pass ended with, cause chain included; a symbol key keeps it out of JSON reports. */
export const PASS_FAILURE: unique symbol = Symbol('pass failure');

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
  /** Server round trips of this pass (commands and getMores), the re-checks included. */
  roundTrips: number;
  /** Re-checks before the kill batches: one $currentOp restricted to each batch (src/pass/recheck.ts). */
  rechecks: number;
  audit: AuditTotals;
  /** The failed kills grouped by error, as in the run summary event; empty when none failed. */
  killFailures: KillFailureGroup[];
  decisions: DecisionRow[];
  stillRunning: StillRunningOp[];
  unfinished: string | null;
  internalOps: number;
  /** What the connection string pointed at and which members were read; null when the port cannot tell. */
  coverage: Coverage | null;
  /** The failure's message (credentials redacted by the callers that print it); null when the pass completed. */
  error: string | null;
  [PASS_FAILURE]?: Error;
}

/** What every stage of one pass shares. */
interface PassContext {
  readonly mongo: MongoPort;
  readonly policy: PolicySet;
  readonly sink: AuditSink;
  readonly opts: PassOptions;
  readonly now: () => number;
  readonly journal: PassJournal;
  readonly stages: Record<StageName, number>;
  /** What the pass left undone, in the order it happened. */
  readonly unfinished: string[];
  coverage: Coverage | null;
  /** Re-check round trips before the kill batches. */
  rechecks: number;
}

async function timed<T>(pass: PassContext, stage: StageName, fn: () => Promise<T> | T): Promise<T> {
  const t0 = performance.now();
  try {
    return await fn();
  } finally {
    pass.stages[stage] += performance.now() - t0;
  }
}

/** The sightings of earlier passes, read before anything else: a store that cannot be read ends the pass before any kill. */
async function loadSightings(pass: PassContext): Promise<SightingsState | null> {
  const store = pass.opts.sightings;
  if (!store) return null;
  return timed(pass, 'sightings', async () => {
    try {
      return await store.load(pass.opts.cluster);
    } catch (e) {
      if (e instanceof ReaperError) throw e;
      throw new ReaperError(`cannot read the sightings of cluster "${pass.opts.cluster}" from ${store.where}: ${(e as Error).message}; nothing was read or killed`, { cause: e });
    }
  });
}

/**
 * This pass's sightings, saved before any kill: a pass whose sightings are not recorded kills nothing, since the
 * next pass would otherwise count its candidates as seen twice in a row across a pass it does not know of.
 */
async function saveSightings(pass: PassContext, scanned: Scan, at: number): Promise<void> {
  const store = pass.opts.sightings;
  if (!store) return;
  const { sessions, sessionlessOps } = scanned.records;
  await timed(pass, 'sightings', async () => {
    try {
      await store.update(pass.opts.cluster, (current) => recordPass(current, [...sessions, ...sessionlessOps], at));
    } catch (e) {
      if (e instanceof ReaperError) throw e;
      throw new ReaperError(`cannot save the sightings of cluster "${pass.opts.cluster}" to ${store.where}: ${(e as Error).message}; no kill was sent`, { cause: e });
    }
  });
}

/** Coverage as lines for `unfinished`: every member not read, and why; never a silent skip. */
export function coverageGaps(coverage: Coverage | null): string[] {
  if (!coverage) return [];
  return [
    ...coverage.members.filter((m) => !m.covered).map((m) => `member ${m.host} not covered: ${m.why ?? 'no reason given'}`),
    ...coverage.notes,
  ];
}

/** Inventory and evaluate: what the URI points at, who the reaper is, then the streaming scan. */
async function inventoryStage(pass: PassContext, state: SightingsState | null, at: number): Promise<{ self: ReaperIdentity; scanned: Scan }> {
  if (pass.mongo.discover) {
    const coverage = await timed(pass, 'inventory', () => pass.mongo.discover!());
    pass.coverage = coverage;
    if (coverage.topology === 'replicaSet' && coverage.members.length > 1 && !coverage.members.some((m) => m.covered && m.state === 'PRIMARY')) {
      // No primary read: sessions that hold nothing anywhere would be killed on a guess; do not start.
      throw new Error(`no primary of replica set "${coverage.setName}" could be read (${coverage.members.map((m) => `${m.host}: ${m.why ?? m.state}`).join('; ')}); nothing was killed. Fix the member(s) named, or point the URI at a set with a primary`);
    }
  }
  const self = await pass.mongo.identity();
  const scanned = await timed(pass, 'inventory', () => scan(pass.mongo, self, at, pass.policy, {
    sightings: new PassSightings(state, at),
    ...(pass.opts.progress ? { progress: pass.opts.progress } : {}), ...(pass.opts.evaluator ? { evaluator: pass.opts.evaluator } : {}),
  }));
  // The scan interleaves reading and evaluating; its evaluation time is reported as its own stage.
  pass.stages.inventory -= scanned.evaluateMs;
  pass.stages.evaluate += scanned.evaluateMs;
  const { counts } = pass.journal;
  counts.sessions = scanned.sessions;
  counts.sessionlessOps = scanned.sessionlessOps;
  counts.decisions = scanned.decisions.length;
  return { self, scanned };
}

/** Plan: the safety gates, then the protections, reports and skipped kills recorded. */
async function planStage(pass: PassContext, self: ReaperIdentity, scanned: Scan): Promise<Plan> {
  const { opts } = pass;
  const plan = await timed(pass, 'plan', () => planKills(scanned.decisions, {
    dryRun: opts.dryRun, maxKills: opts.maxKills, maxKillShare: opts.maxKillShare,
    totalSessions: scanned.sessions + scanned.sessionlessOps,
    reaperSession: { id: self.sessionId, uid: self.uid },
  }));
  if (plan.reportOnly) opts.progress?.(`REPORT-ONLY: ${plan.reportOnlyReason}`);
  for (const d of plan.protectedOrReported) pass.journal.recordNonKill(d);
  for (const s of plan.skipped) pass.journal.record(s.decision, 'skipped', { why: s.why });
  return plan;
}

/** 6 HostUnreachable: a router's killSessions that missed some hosts (src/mongo/s/commands/kill_sessions_remote.cpp). */
const HOST_UNREACHABLE_CODE = 6;

/** `held`: what the target held at the re-check right before its batch, which the kill frees. */
type Target = KillTarget & { decision: Decision; held?: Freed };

/**
 * The re-check of a batch (src/pass/recheck.ts): one $currentOp restricted to it, its candidates' fresh facts
 * compared with the scan's, and the policy re-evaluated on them.
 */
function recheckWith(pass: PassContext, self: ReaperIdentity): Recheck<Target> {
  // The scan's compiled evaluator (evaluatorFor caches it per policy set): compiling the set again, RE2 regexes
  // and all, cost every killing pass ~0.4 ms of CPU for an evaluator that decides exactly as the cached one.
  const evaluator = evaluatorFor(pass.policy);
  return async (batch) => {
    const scanned = batch.map((t) => t.decision.facts);
    // On a replica set read member by member, the batch's things are re-read on every member where they live
    // (one $currentOp each), so the fresh facts are as whole as the scan's.
    const filter = recheckFilter(scanned);
    const members = [...new Set(batch.flatMap((t) => t.members ?? []))];
    // Through mongos one read covers every member (and tags each document with it): never one per member.
    const perMember = members.length > 0 && pass.mongo.killSessionsOn !== undefined && pass.mongo.killSessionsReachEveryMember?.() !== true;
    const docs: Activity[] = perMember
      ? (await Promise.all(members.map((m) => pass.mongo.currentOpOf(filter, m)))).flat()
      : await pass.mongo.currentOpOf(filter);
    const at = pass.now();
    const fresh = freshFacts(scanned, docs, at, self);
    const keep: Target[] = [];
    const changed: { item: Target; why: string }[] = [];
    for (const t of batch) {
      const f = t.decision.facts;
      const found = fresh.get(recordKey(f));
      const why = changeSince(f, found, at, (x) => evaluator.decide(x), t.decision.rule);
      if (why) {
        changed.push({ item: t, why });
      } else {
        t.held = heldBy(found?.fresh ?? f);
        keep.push(t);
      }
    }
    return { keep, changed };
  };
}

/** Kill: the planned kills sent (or, in a dry run, recorded as planned); returns what was killed. */
async function killStage(pass: PassContext, plan: Plan, self: ReaperIdentity): Promise<Target[]> {
  const { journal, opts } = pass;
  const targets: Target[] = plan.kills.map((k) => ({
    kind: k.kind,
    key: k.kind === 'session' ? { id: k.decision.facts.sessionId, uid: k.decision.facts.uid } : null,
    opid: k.decision.facts.opid,
    members: k.decision.facts.members,
    decision: k.decision,
  }));
  if (opts.dryRun) {
    for (const t of targets) journal.record(t.decision, 'planned');
    return [];
  }
  if (targets.length === 0) return [];
  const result = await timed(pass, 'kill', () => executeKills(pass.mongo, targets, {
    batchSize: opts.batchSize, concurrency: opts.concurrency, deadlineMs: killDeadline(opts, targets.length), now: pass.now,
    ...(opts.recheck === false ? {} : { recheck: recheckWith(pass, self) }),
    onProgress: targets.length >= 10_000 ? (done, total) => opts.progress?.(`kill: ${done}/${total}`) : undefined,
  }));
  journal.counts.killSessionsCalls = result.killSessionsCalls;
  journal.counts.killOpCalls = result.killOpCalls;
  pass.rechecks += result.rechecks;
  let notAttempted = 0;
  const killed: Target[] = [];
  for (const [item, outcomes] of perTarget(result.outcomes)) {
    const d = item.decision;
    const o = outcomes[0]!;
    const where = memberResults(outcomes);
    const failed = outcomes.filter((x) => x.status === 'failed');
    const killedOn = outcomes.filter((x) => x.status === 'killed');
    const changed = outcomes.find((x) => x.status === 'changed');
    const sent = outcomes.filter((x) => x.status === 'killed' || x.status === 'failed');
    if (changed && sent.length === 0) {
      // The re-check found it changed since the scan: not killed anywhere, audited with what changed.
      journal.record(d, 'skipped', { why: changed.why!, ...where });
    } else if (killedOn.length === outcomes.length) {
      const freed = item.held ?? heldBy(d.facts);
      if (freesNothing(freed)) journal.counts.killedHoldingNothing++;
      journal.record(d, 'killed', { freed, ...(o.batch ? { killBatch: o.batch } : {}), ...where });
      killed.push(item);
    } else if (sent.length > 0) {
      // A kill that failed (or was not sent, or was re-checked away) on one member is recorded per member; the
      // others still happened.
      const first = failed[0];
      const names = outcomes.filter((x) => x.status !== 'killed').map((x) => `${x.member ?? 'primary'}: ${x.status === 'failed' ? x.error?.message ?? 'failed' : x.status === 'changed' ? `not sent, ${x.why}` : 'not attempted before the deadline'}`);
      const error = { ...(first?.error ?? {}), message: outcomes.length > 1 || o.member ? `not killed on ${names.join('; ')}` : (first?.error?.message ?? names.join('; ')) };
      journal.record(d, 'failed', { error, ...(o.batch ? { killBatch: o.batch } : {}), ...where });
      // HostUnreachable from a router's killSessions: killed on every host it reached (verification re-reads).
      if (killedOn.length || failed.some((x) => x.error?.code === HOST_UNREACHABLE_CODE)) killed.push(item);
    } else {
      notAttempted++;
      journal.record(d, 'skipped', { why: 'not attempted: the pass reached its deadline before this kill was sent', ...where });
    }
  }
  if (notAttempted) pass.unfinished.push(`${notAttempted} planned kill(s) were not sent before the deadline`);
  return killed;
}

/** A target's outcomes, one per member it was sent to, in first-outcome order. */
function perTarget(outcomes: readonly KillOutcome<Target>[]): Map<Target, KillOutcome<Target>[]> {
  const by = new Map<Target, KillOutcome<Target>[]>();
  for (const o of outcomes) {
    const list = by.get(o.item);
    if (list) list.push(o);
    else by.set(o.item, [o]);
  }
  return by;
}

/** The per-member results for the decision's row and audit event; none for a kill through the main connection. */
function memberResults(outcomes: readonly KillOutcome<Target>[]): { members?: MemberKill[] } {
  const on = outcomes.filter((o) => o.member);
  if (on.length === 0) return {};
  // A member's batch the re-check held back was not sent there: "not-attempted", with what changed.
  return { members: on.map((o) => ({ host: o.member!, outcome: o.status === 'changed' ? 'not-attempted' : o.status, ...(o.error ? { error: o.error.message } : o.why ? { error: o.why } : {}) })) };
}

/** Verify: what of the killed sessions and operations still runs, when there is time to look. */
async function verifyStage(pass: PassContext, killed: readonly Target[]): Promise<StillRunningOp[]> {
  if (killed.length === 0) return [];
  if (pass.opts.deadlineMs !== undefined && pass.opts.deadlineMs - pass.now() < VERIFY_MIN_MS) {
    pass.unfinished.push('verification skipped: deadline reached');
    return [];
  }
  const still = await timed(pass, 'verify', () => verifyKills(pass.mongo, killed));
  pass.journal.counts.stillRunning = still.length;
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
 * Runs one pass. It does not throw: a failure at any stage (the reaper's identity, a listing, a kill
 * command) ends the pass there, is recorded in the report (`error`, and the Error itself under
 * PASS_FAILURE) and in the run summary, which is always published.
 */
export async function runPass(mongo: MongoPort, policy: PolicySet, sink: AuditSink, opts: PassOptions): Promise<RunReport> {
  const now = opts.now ?? Date.now;
  const startedAt = new Date(now());
  const runId = opts.runId ?? randomUUID();
  const roundTripsBefore = mongo.roundTrips();
  const audit: AuditContext = { source: opts.source, runId, cluster: opts.cluster, trigger: opts.trigger, dryRun: opts.dryRun, now: () => new Date(now()) };
  const pass: PassContext = {
    mongo, policy, sink, opts, now, journal: new PassJournal(audit), unfinished: [], coverage: null, rechecks: 0,
    stages: { inventory: 0, evaluate: 0, plan: 0, sightings: 0, kill: 0, verify: 0, audit: 0 },
  };

  let plan: Plan | null = null;
  let stillRunning: StillRunningOp[] = [];
  let internalOps = 0;
  let failure: Error | null = null;
  try {
    const state = await loadSightings(pass);
    const at = now();
    const { self, scanned } = await inventoryStage(pass, state, at);
    internalOps = scanned.internalOps;
    plan = await planStage(pass, self, scanned);
    await saveSightings(pass, scanned, at);
    const killed = await killStage(pass, plan, self);
    // The kills are done: their events go out now, before the verification, so that a pass cut short
    // after this point (a Lambda timeout) has still audited every kill it made.
    if (plan.kills.length > 0 && !opts.dryRun) await timed(pass, 'audit', () => pass.journal.publishPending(sink, opts.audit));
    stillRunning = await verifyStage(pass, killed);
  } catch (e) {
    failure = e instanceof Error ? e : new Error(String(e));
  }

  // The run summary goes out even when the pass failed: an operator must see that it did. It is sent
  // on its own, after the other events, so that it can say how many of them were not delivered.
  await timed(pass, 'audit', () => pass.journal.publishPending(sink, opts.audit));
  const finishedAt = new Date(now());
  pass.unfinished.unshift(...coverageGaps(pass.coverage));
  const unfinished = pass.unfinished.length ? pass.unfinished.join('; ') : null;
  const reportOnly = plan?.reportOnly ?? false;
  const reportOnlyReason = plan?.reportOnlyReason ?? null;
  const killFailures = groupKillFailures(pass.journal.rows.filter((r) => r.outcome === 'failed'));
  const before = pass.journal.auditTotals();
  pass.journal.recordSummary({
    startedAt, finishedAt, reportOnly, reportOnlyReason, stillRunning,
    ...(unfinished ? { unfinished } : {}),
    ...(failure ? { error: { message: failure.message } } : {}),
    ...(killFailures.length ? { killFailures } : {}),
    audit: { events: before.events, undelivered: before.failed },
    ...(pass.coverage ? { coverage: pass.coverage } : {}),
  });
  await timed(pass, 'audit', () => pass.journal.publishPending(sink, opts.audit));

  return {
    runId, cluster: opts.cluster, trigger: opts.trigger, dryRun: opts.dryRun, reportOnly, reportOnlyReason,
    startedAt: startedAt.toISOString(), finishedAt: finishedAt.toISOString(), durationMs: finishedAt.getTime() - startedAt.getTime(),
    counts: pass.journal.counts, stages: pass.stages, roundTrips: mongo.roundTrips() - roundTripsBefore, rechecks: pass.rechecks,
    audit: pass.journal.auditTotals(), killFailures, decisions: pass.journal.rows, stillRunning, unfinished, internalOps,
    coverage: pass.coverage, error: failure?.message ?? null,
    ...(failure ? { [PASS_FAILURE]: failure } : {}),
  };
}

/**
 * The run summary of a pass that did not start (another pass holds the cluster's lease): the audit trail
 * says it was triggered and why nothing was read or killed. Returns the audit totals of that one event.
 */
export async function auditPassNotStarted(sink: AuditSink, opts: PassOptions, why: string): Promise<AuditTotals> {
  const now = opts.now ?? Date.now;
  const runId = opts.runId ?? randomUUID();
  const at = new Date(now());
  const journal = new PassJournal({ source: opts.source, runId, cluster: opts.cluster, trigger: opts.trigger, dryRun: opts.dryRun, now: () => new Date(now()) });
  journal.recordSummary({ startedAt: at, finishedAt: at, reportOnly: false, reportOnlyReason: null, stillRunning: [], unfinished: `did not start: ${why}` });
  await journal.publishPending(sink);
  return journal.auditTotals();
}
