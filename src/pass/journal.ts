/**
 * What one pass records about its decisions, kept in one place: each decision's outcome becomes a table
 * row, an audit event when the outcome is audited, and a count, always together, so the report, the audit
 * trail and the run summary cannot disagree.
 *
 * One outcome vocabulary, used by rows, audit events, review and docs:
 *   planned    a dry run would have killed it                         (audited)
 *   killed     the kill command succeeded                             (audited)
 *   skipped    a kill rule matched but no kill was sent, `why` says why (a protect rule, a safety gate,
 *              the deadline)                                           (audited)
 *   failed     the kill command failed, `error` says how              (audited)
 *   protected  a protect rule matched and no kill rule did            (row and count only)
 *   reported   a report rule matched                                  (row and count only)
 */
import { decisionEvent, emptyCounts, operationRefFromFacts, runSummaryEvent, sessionRefFromFacts, type AuditContext, type DecisionFields, type RunSummaryFields } from './audit/builder.ts';
import type { AuditEvent, Freed, Outcome as AuditedOutcome, RunCounts } from './audit/events.ts';
import type { AuditBudget } from './audit/budget.ts';
import type { AuditSink } from './audit/sink.ts';
import type { SessionFacts } from './facts.ts';
import type { Decision } from './policy/evaluate.ts';

export type Outcome = AuditedOutcome | 'protected' | 'reported';

export interface DecisionRow {
  target: 'session' | 'operation';
  sessionId: string;
  uid: string;
  opid: string;
  user: string;
  /** null: unknown (see SessionFacts.appName). */
  appName: string | null;
  rule: string;
  reason: string;
  action: 'kill' | 'protect' | 'report';
  outcome: Outcome;
  why?: string;
  error?: { code?: number; codeName?: string; message: string };
  /** What the session held, for the table. */
  holds: string;
  /** What the kill freed (outcome "killed"): all zero and false when the target held nothing. */
  freed?: Freed;
  /** Replica-set members where it held something (host:port); [] on a standalone. */
  members: string[];
  /** Per member, what the kill did there; absent for a kill through the main connection. */
  memberKills?: MemberKill[];
}

/** One member's part of a kill sent to several replica-set members. */
export interface MemberKill {
  host: string;
  outcome: 'killed' | 'failed' | 'not-attempted';
  error?: string;
}

export interface RecordDetails {
  why?: string;
  error?: DecisionRow['error'];
  killBatch?: { index: number; size: number };
  members?: MemberKill[];
  /** What a kill freed (outcome "killed"). */
  freed?: Freed;
}

export interface AuditTotals {
  events: number;
  sent: number;
  failed: number;
  putEventsCalls: number;
}

function holds(f: SessionFacts): string {
  const parts: string[] = [];
  if (f.opCount) parts.push(`${f.opCount} op${f.opCount > 1 ? 's' : ''} ${Math.round(f.longestOpSeconds)}s`);
  if (f.hasTransaction) parts.push(`txn${f.txnPrepared ? ' (prepared)' : ''} idle ${Math.round(f.txnInactiveSeconds)}s`);
  if (f.cursorCount) parts.push(`${f.cursorCount} cursor${f.cursorCount > 1 ? 's' : ''} idle ${Math.round(f.longestCursorIdleSeconds)}s`);
  if (!parts.length) parts.push(`idle ${Math.round(f.idleSeconds)}s`);
  return parts.join(', ');
}

const AUDITED: ReadonlySet<Outcome> = new Set<Outcome>(['planned', 'killed', 'skipped', 'failed']);

export class PassJournal {
  readonly rows: DecisionRow[] = [];
  readonly events: AuditEvent[] = [];
  readonly counts: RunCounts = emptyCounts();
  readonly #ctx: AuditContext;
  readonly #audit = { sent: 0, failed: 0, calls: 0 };
  #publishedUpTo = 0;

  constructor(ctx: AuditContext) {
    this.#ctx = ctx;
  }

  /** One decision's outcome: its row, its audit event when the outcome is audited, its count. */
  record(d: Decision, outcome: Outcome, details: RecordDetails = {}): void {
    const f = d.facts;
    // The optional fields are assigned in the order the spreads of an object literal would give them (rows and
    // events are printed as JSON), without the throwaway object each conditional spread builds, per decision.
    const row: DecisionRow = {
      target: f.target, sessionId: f.sessionId, uid: f.uid, opid: f.opid, user: f.user, appName: f.appName,
      rule: d.rule, reason: d.reason, action: d.action, outcome, holds: holds(f), members: f.members ?? [],
    };
    if (details.why) row.why = details.why;
    if (details.error) row.error = details.error;
    if (details.members) row.memberKills = details.members;
    if (details.freed) row.freed = details.freed;
    this.rows.push(row);
    this.counts[outcome]++;
    if (!AUDITED.has(outcome)) return;
    const fields: DecisionFields = {
      target: f.target,
      session: sessionRefFromFacts(f),
      operation: operationRefFromFacts(f),
      rule: d.rule, action: d.action, reason: d.reason, facts: d.evidence, outcome: outcome as AuditedOutcome,
    };
    if (details.why) fields.why = details.why;
    if (details.error) fields.error = details.error;
    if (details.killBatch) fields.killBatch = details.killBatch;
    if (f.members?.length) fields.members = details.members ?? f.members.map((host) => ({ host }));
    if (details.freed) fields.freed = details.freed;
    this.events.push(decisionEvent(this.#ctx, fields));
  }

  /**
   * A protect or report decision. A protection that overrode a kill rule is a skipped kill (audited, with
   * both rules in `why`), and still counts as a protection.
   */
  recordNonKill(d: Decision): void {
    if (d.action === 'report') return this.record(d, 'reported');
    const overriddenKill = d.matched.find((m) => m.action === 'kill');
    if (!overriddenKill) return this.record(d, 'protected');
    this.counts.protected++;
    this.record(d, 'skipped', { why: `protected by rule "${d.rule}" (${d.reason}); kill rule "${overriddenKill.rule}" also matched` });
  }

  /** The run summary, last event of every pass. */
  recordSummary(fields: Omit<RunSummaryFields, 'counts'>): void {
    this.events.push(runSummaryEvent(this.#ctx, { ...fields, counts: this.counts }));
  }

  /** Publishes the events recorded since the last call (after the kills, then the rest, then the run summary on its own). */
  async publishPending(sink: AuditSink, budget?: AuditBudget): Promise<void> {
    if (this.events.length === this.#publishedUpTo) return;
    const batch = this.events.slice(this.#publishedUpTo);
    this.#publishedUpTo = this.events.length;
    const r = await sink.publish(batch, { deadlineMs: budget?.deadline(batch.length) });
    this.#audit.sent += r.sent;
    this.#audit.failed += r.failed.length;
    this.#audit.calls += r.calls;
  }

  auditTotals(): AuditTotals {
    return { events: this.events.length, sent: this.#audit.sent, failed: this.#audit.failed, putEventsCalls: this.#audit.calls };
  }
}
