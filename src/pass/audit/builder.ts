/**
 * Pure helpers that build audit events from a run context plus the fields that differ per event.
 * The pipeline calls these instead of writing event objects by hand, so the schema version, run id,
 * cluster, trigger, timestamps, Source and DetailType are stamped in one place and always agree
 * with each other (the DetailType is derived from the outcome, never passed separately).
 */
import type { SessionFacts } from '../facts.ts';
import {
  AUDIT_SCHEMA_VERSION,
  detailTypeFor,
  isoTime,
  type AuditEvent,
  type DecisionDetail,
  type RunCounts,
  type RunSummaryDetail,
  type SessionRef,
  type TriggerInfo,
} from './events.ts';

/** What every event of one run shares. `now` is injected so tests and replays are deterministic. */
export interface AuditContext {
  source: string;
  runId: string;
  cluster: string;
  trigger: TriggerInfo;
  dryRun: boolean;
  now: () => Date;
}

/** The per-decision part of a DecisionDetail: everything the context does not stamp. */
export type DecisionFields = Omit<DecisionDetail, 'schemaVersion' | 'kind' | 'runId' | 'cluster' | 'trigger' | 'time' | 'dryRun'>;

/**
 * The per-run part of a RunSummaryDetail. Timestamps are Dates; `finishedAt` defaults to
 * ctx.now() and `durationMs` is computed from the two, so they cannot disagree.
 */
export type RunSummaryFields = Omit<
  RunSummaryDetail,
  'schemaVersion' | 'kind' | 'runId' | 'cluster' | 'trigger' | 'dryRun' | 'startedAt' | 'finishedAt' | 'durationMs'
> & { startedAt: Date; finishedAt?: Date };

export function decisionEvent(ctx: AuditContext, fields: DecisionFields): AuditEvent {
  const time = ctx.now();
  const detail: DecisionDetail = {
    schemaVersion: AUDIT_SCHEMA_VERSION,
    kind: 'decision',
    runId: ctx.runId,
    cluster: ctx.cluster,
    trigger: ctx.trigger,
    time: isoTime(time),
    dryRun: ctx.dryRun,
    ...fields,
  };
  return { source: ctx.source, detailType: detailTypeFor(detail), time, detail };
}

export function runSummaryEvent(ctx: AuditContext, fields: RunSummaryFields): AuditEvent {
  const { startedAt, finishedAt = ctx.now(), ...rest } = fields;
  const detail: RunSummaryDetail = {
    schemaVersion: AUDIT_SCHEMA_VERSION,
    kind: 'run',
    runId: ctx.runId,
    cluster: ctx.cluster,
    trigger: ctx.trigger,
    startedAt: startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    // Clamped: a wall clock stepped backwards (NTP) must not produce a negative duration.
    durationMs: Math.max(0, finishedAt.getTime() - startedAt.getTime()),
    dryRun: ctx.dryRun,
    ...rest,
  };
  return { source: ctx.source, detailType: detailTypeFor(detail), time: finishedAt, detail };
}

/** All counters at zero, for the pipeline to increment. */
export function emptyCounts(): RunCounts {
  return {
    sessions: 0, sessionlessOps: 0, decisions: 0, planned: 0, killed: 0, skipped: 0, failed: 0,
    protected: 0, reported: 0, killSessionsCalls: 0, killOpCalls: 0, stillRunning: 0, killedHoldingNothing: 0,
  };
}

/** The session reference of a fact record; null for a sessionless operation. */
export function sessionRefFromFacts(facts: SessionFacts): SessionRef | null {
  if (facts.target !== 'session') return null;
  return { id: facts.sessionId, uid: facts.uid, user: facts.user, appName: facts.appName, client: facts.client };
}

/** The operation reference of a fact record; null for a session. */
export function operationRefFromFacts(facts: SessionFacts): { opid: string } | null {
  return facts.target === 'operation' ? { opid: facts.opid } : null;
}
