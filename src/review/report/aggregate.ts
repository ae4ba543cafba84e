/**
 * Everything the HTML report shows, gathered in one read of the events. Memory grows with the
 * number of distinct users, applications, rules and failure messages (a table each), never with
 * the number of events: the time series coarsens itself and the events table keeps only the most
 * recent rows.
 */
import { identityLabel } from '../../util/identity-label.ts';
import { isDecision, type AuditRecord, type ReadProblem } from '../record.ts';
import { toRow, type ReviewRow } from '../row.ts';
import { TimeBuckets } from './buckets.ts';

/** Rows the report's table keeps by default (the most recent ones). */
export const DEFAULT_TABLE_ROWS = 5_000;
/** Problems listed in full in the report (all are counted). */
export const LISTED_PROBLEMS = 100;
/** Distinct failure/skip explanations kept apart; beyond that they are pooled as "(other)". */
const MAX_ISSUE_GROUPS = 500;

export interface OutcomeCounts {
  planned: number;
  killed: number;
  skipped: number;
  failed: number;
}

export interface IssueGroup {
  outcome: 'skipped' | 'failed';
  rule: string;
  /** The skip's why or the failure's error. */
  note: string;
  count: number;
  /** Epoch ms of the first and last event of the group. */
  firstMs: number;
  lastMs: number;
}

export interface RuleComparison {
  rule: string;
  /** Kills dry runs planned. */
  dryPlanned: number;
  /** Kills dry runs skipped (over a cap, protected). */
  drySkipped: number;
  /** Kills real runs made. */
  killed: number;
  failed: number;
  /** Kills real runs skipped. */
  realSkipped: number;
}

const zero = (): OutcomeCounts => ({ planned: 0, killed: 0, skipped: 0, failed: 0 });

export class ReportCollector {
  readonly kills = new TimeBuckets();
  readonly outcomes: OutcomeCounts = zero();
  readonly users = new Map<string, OutcomeCounts>();
  readonly apps = new Map<string, OutcomeCounts>();
  /** Per replica-set member (host:port): what the kills did there; empty when no decision named a member. */
  readonly members = new Map<string, OutcomeCounts>();
  readonly rules = new Map<string, RuleComparison>();
  readonly issues = new Map<string, IssueGroup>();
  readonly runs = { dry: 0, real: 0, reportOnly: 0, failed: 0 };
  readonly problems: ReadProblem[] = [];
  problemCount = 0;
  events = 0;
  decisions = 0;
  firstMs = Infinity;
  lastMs = -Infinity;
  readonly #tableRows: number;
  #rows: { timeMs: number; row: ReviewRow }[] = [];
  #rowsSeen = 0;

  constructor(tableRows = DEFAULT_TABLE_ROWS) {
    this.#tableRows = tableRows;
  }

  /** The rows the table shows, oldest first, and how many there were in all. */
  tableRows(): { rows: ReviewRow[]; total: number } {
    return { rows: this.#rows.map((r) => r.row), total: this.#rowsSeen };
  }

  addProblem(problem: ReadProblem): void {
    this.problemCount++;
    if (this.problems.length < LISTED_PROBLEMS) this.problems.push(problem);
  }

  add(record: AuditRecord): void {
    this.events++;
    this.firstMs = Math.min(this.firstMs, record.timeMs);
    this.lastMs = Math.max(this.lastMs, record.timeMs);
    const row = toRow(record);
    this.#keepRow(record.timeMs, row);
    const d = record.detail;
    if (!isDecision(record)) {
      if (d.kind === 'run') {
        if (d.dryRun) this.runs.dry++;
        else this.runs.real++;
        if (d.reportOnly) this.runs.reportOnly++;
        if (d.error) this.runs.failed++;
      }
      return;
    }
    const decision = record.detail;
    this.decisions++;
    const outcome = decision.outcome;
    this.outcomes[outcome]++;
    // Sessionless operations have no user or application; they count under "(no session)".
    const user = decision.session ? decision.session.user || '(none)' : '(no session)';
    const app = decision.session ? identityLabel(decision.session.appName) : '(no session)';
    bump(this.users, user, outcome);
    bump(this.apps, app, outcome);
    if (outcome === 'killed') this.kills.add(record.timeMs, decision.rule);
    // A kill sent to several members counts on each, with what it did there (not sent counts as skipped).
    for (const m of decision.members ?? []) bump(this.members, m.host, m.outcome === undefined ? outcome : m.outcome === 'not-attempted' ? 'skipped' : m.outcome);

    const rule = this.rules.get(decision.rule) ?? { rule: decision.rule, dryPlanned: 0, drySkipped: 0, killed: 0, failed: 0, realSkipped: 0 };
    if (outcome === 'planned') rule.dryPlanned++;
    else if (outcome === 'killed') rule.killed++;
    else if (outcome === 'failed') rule.failed++;
    else if (decision.dryRun) rule.drySkipped++;
    else rule.realSkipped++;
    this.rules.set(decision.rule, rule);

    if (outcome === 'skipped' || outcome === 'failed') this.#addIssue(outcome, decision.rule, row.note, record.timeMs);
  }

  #addIssue(outcome: 'skipped' | 'failed', rule: string, note: string, timeMs: number): void {
    let key = `${outcome}\u0000${rule}\u0000${note}`;
    let group = this.issues.get(key);
    if (!group && this.issues.size >= MAX_ISSUE_GROUPS) {
      key = `${outcome}\u0000(other)`;
      group = this.issues.get(key);
      rule = '(other)';
      note = '(more distinct explanations than the report lists separately)';
    }
    group ??= { outcome, rule, note, count: 0, firstMs: timeMs, lastMs: timeMs };
    group.count++;
    group.firstMs = Math.min(group.firstMs, timeMs);
    group.lastMs = Math.max(group.lastMs, timeMs);
    this.issues.set(key, group);
  }

  #keepRow(timeMs: number, row: ReviewRow): void {
    this.#rowsSeen++;
    this.#rows.push({ timeMs, row });
    // Trimmed in chunks, not per row: at most twice the cap is held and the sorting stays cheap.
    if (this.#rows.length >= this.#tableRows * 2) this.#trim();
  }

  /** Keeps the most recent rows, ordered by time. */
  #trim(): void {
    this.#rows.sort((a, b) => a.timeMs - b.timeMs);
    if (this.#rows.length > this.#tableRows) this.#rows = this.#rows.slice(-this.#tableRows);
  }

  /** Call once after the read: trims the table to its cap and orders it by time. */
  finish(): void {
    this.#trim();
  }
}

function bump(map: Map<string, OutcomeCounts>, key: string, outcome: keyof OutcomeCounts): void {
  const counts = map.get(key) ?? zero();
  counts[outcome]++;
  map.set(key, counts);
}

/** Entries with the most kills first (then most decisions), at most `n`. */
export function top(map: Map<string, OutcomeCounts>, n: number): [string, OutcomeCounts][] {
  const total = (c: OutcomeCounts): number => c.planned + c.killed + c.skipped + c.failed;
  return [...map].sort((a, b) => b[1].killed - a[1].killed || total(b[1]) - total(a[1]) || a[0].localeCompare(b[0])).slice(0, n);
}
