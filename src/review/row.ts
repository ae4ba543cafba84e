/**
 * The flat row every listing shows (table, CSV, the report's table): one per event, the same columns
 * for decisions and run summaries, so one listing can interleave both in time order.
 */
import { identityLabel } from '../util/identity-label.ts';
import type { RunCounts } from '../pass/audit/events.ts';
import type { AuditRecord } from './record.ts';

export interface ReviewRow {
  time: string;
  detailType: string;
  /** The decision's outcome, or "run" for a run summary. */
  outcome: string;
  dryRun: boolean;
  cluster: string;
  runId: string;
  trigger: string;
  rule: string;
  action: string;
  user: string;
  app: string;
  client: string;
  sessionId: string;
  opid: string;
  reason: string;
  /** Why it was skipped, what the server said when it failed, or the run's tally. */
  note: string;
  /** The facts that matched, as JSON. */
  facts: string;
  eventId: string;
}

export function triggerText(trigger: { type: string; name?: string }): string {
  return trigger.name ? `${trigger.type}:${trigger.name}` : trigger.type;
}

/** "killed 3, failed 0, skipped 2" and the notable rest, for a run summary's note. */
export function runTally(counts: RunCounts): string {
  const parts = [`killed ${counts.killed}`, `failed ${counts.failed}`, `skipped ${counts.skipped}`];
  if (counts.planned) parts.unshift(`planned ${counts.planned}`);
  if (counts.protected) parts.push(`protected ${counts.protected}`);
  if (counts.stillRunning) parts.push(`still running ${counts.stillRunning}`);
  return `${parts.join(', ')} of ${counts.sessions} sessions`;
}

export function errorText(error: { code?: number; codeName?: string; message: string }): string {
  const code = [error.code, error.codeName].filter((p) => p !== undefined && p !== '').join(' ');
  return code ? `${code}: ${error.message}` : error.message;
}

// Built as one literal per kind, every property written out: spreading a shared part into a
// 19-property object made this the slowest step of a million-event listing.
export function toRow(record: AuditRecord): ReviewRow {
  const d = record.detail;
  if (d.kind === 'run') {
    const notes = [runTally(d.counts)];
    if (d.reportOnly) notes.push(`report-only: ${d.reportOnlyReason ?? ''}`);
    if (d.unfinished) notes.push(`unfinished: ${d.unfinished}`);
    if (d.error) notes.push(`failed: ${d.error.message}`);
    return {
      time: d.finishedAt, detailType: record.envelope['detail-type'], outcome: 'run', dryRun: d.dryRun, cluster: d.cluster,
      runId: d.runId, trigger: triggerText(d.trigger), rule: '', action: '', user: '', app: '', client: '', sessionId: '',
      opid: '', reason: '', note: notes.join('; '), facts: '', eventId: record.eventId,
    };
  }
  const session = d.session;
  return {
    time: d.time, detailType: record.envelope['detail-type'], outcome: d.outcome, dryRun: d.dryRun, cluster: d.cluster,
    runId: d.runId, trigger: triggerText(d.trigger), rule: d.rule, action: d.action, user: session?.user ?? '',
    app: session ? identityLabel(session.appName) : '', client: session ? identityLabel(session.client) : '', sessionId: session?.id ?? '', opid: d.operation?.opid ?? '',
    reason: d.reason, note: d.error ? errorText(d.error) : d.why ?? '', facts: JSON.stringify(d.facts), eventId: record.eventId,
  };
}
