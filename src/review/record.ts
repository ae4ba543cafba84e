/**
 * One audit event as the review commands see it, read back from a file line or a CloudWatch Logs
 * log event, and the problems reading can find. The envelope is kept as read, so `--json` can write
 * it back out unchanged (and its output can be read again with `--file`).
 */
import type { AuditDetail, DecisionDetail, EventEnvelope, RunSummaryDetail } from '../pass/audit/events.ts';

export interface AuditRecord {
  /** Where it came from, for messages: "line 17" or "log event 3759...". */
  where: string;
  /** The envelope's id: EventBridge's event id. */
  eventId: string;
  envelope: EventEnvelope;
  detail: AuditDetail;
  /**
   * When it happened, epoch ms: the decision's `time`, or the run's `finishedAt`. The detail's
   * times, not the envelope's, because the envelope keeps whole seconds only.
   */
  timeMs: number;
}

export interface DecisionRecord extends AuditRecord {
  detail: DecisionDetail;
}

export interface RunRecord extends AuditRecord {
  detail: RunSummaryDetail;
}

export function isDecision(record: AuditRecord): record is DecisionRecord {
  return record.detail.kind === 'decision';
}

export function isRun(record: AuditRecord): record is RunRecord {
  return record.detail.kind === 'run';
}

/**
 * Input that could not be read as an audit event. `malformed`: not a JSON object in the envelope
 * shape; `invalid`: an envelope whose detail breaks schemas/audit-event.v1.json, or whose
 * detail-type contradicts the detail.
 */
export interface ReadProblem {
  where: string;
  kind: 'malformed' | 'invalid';
  message: string;
}

/** What a source yields: an event, or a problem in its place (never nothing). */
export type SourceItem = { record: AuditRecord; problem?: undefined } | { record?: undefined; problem: ReadProblem };
