/**
 * The read loop every review command shares: pulls items from a source one at a time, counts them,
 * reports each problem, applies the filter, and hands each matching record to the command. One item
 * at a time and awaited, so a slow consumer (a pipe to `less`) slows the reading instead of piling
 * records up in memory.
 */
import { matchesFilter, type ReviewFilter } from './filter.ts';
import type { AuditRecord, ReadProblem, SourceItem } from './record.ts';

/** Progress is reported every this many items read (lines or log events). */
export const PROGRESS_EVERY = 100_000;

export interface ScanSummary {
  /** Lines or log events read, blank lines excluded. */
  read: number;
  /** Blank lines in a file: no event, nothing lost. */
  blank: number;
  /** Valid audit events. */
  events: number;
  /** Valid events that matched the filter. */
  matched: number;
  /** Not a JSON event envelope. */
  malformed: number;
  /** An envelope whose detail breaks the schema or contradicts its detail-type. */
  invalid: number;
}

export interface ScanHandlers {
  onRecord: (record: AuditRecord) => void | Promise<void>;
  onProblem: (problem: ReadProblem) => void;
  /** Called every PROGRESS_EVERY items with the summary so far. */
  onProgress?: (summary: Readonly<ScanSummary>) => void;
}

export function emptySummary(): ScanSummary {
  return { read: 0, blank: 0, events: 0, matched: 0, malformed: 0, invalid: 0 };
}

export async function scan(source: AsyncIterable<SourceItem>, filter: ReviewFilter, handlers: ScanHandlers, summary = emptySummary()): Promise<ScanSummary> {
  for await (const item of source) {
    summary.read++;
    if (item.problem) {
      summary[item.problem.kind]++;
      handlers.onProblem(item.problem);
    } else {
      summary.events++;
      if (matchesFilter(item.record, filter)) {
        summary.matched++;
        const pending = handlers.onRecord(item.record);
        if (pending) await pending;
      }
    }
    if (summary.read % PROGRESS_EVERY === 0) handlers.onProgress?.(summary);
  }
  return summary;
}

const n = (value: number): string => value.toLocaleString('en-US');

/** One line for stderr: what was read, what matched, what was wrong. */
export function formatSummary(summary: Readonly<ScanSummary>, unit: string): string {
  const problems = summary.malformed + summary.invalid;
  const parts = [
    `${n(summary.read)} ${unit} read`,
    `${n(summary.events)} audit events`,
    `${n(summary.matched)} matched`,
    problems === 0 ? 'no problems' : `${n(problems)} problems (${n(summary.malformed)} malformed, ${n(summary.invalid)} not matching the schema)`,
  ];
  if (summary.blank) parts.push(`${n(summary.blank)} blank lines skipped`);
  return parts.join(', ');
}
