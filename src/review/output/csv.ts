/**
 * CSV as RFC 4180 has it: CRLF line breaks, a header line, and a field quoted when it holds a comma,
 * a double quote, CR or LF, with each double quote inside doubled. Values are written unchanged but
 * for one thing: a value a spreadsheet would take for a formula (application and user names are
 * chosen by clients: "=HYPERLINK(...)", "@SUM(...)") gets a leading single quote, as OWASP's "CSV
 * Injection" page recommends, so Excel, LibreOffice and Google Sheets show it as text.
 */
import type { ReviewRow } from '../row.ts';

export const CSV_COLUMNS: readonly (keyof ReviewRow)[] = [
  'time', 'detailType', 'outcome', 'dryRun', 'cluster', 'runId', 'trigger', 'rule', 'action', 'user', 'app',
  'client', 'sessionId', 'opid', 'reason', 'note', 'facts', 'eventId',
];

const CSV_HEADERS: Record<keyof ReviewRow, string> = {
  time: 'time', detailType: 'detail_type', outcome: 'outcome', dryRun: 'dry_run', cluster: 'cluster', runId: 'run_id',
  trigger: 'trigger', rule: 'rule', action: 'action', user: 'user', app: 'app', client: 'client', sessionId: 'session_id',
  opid: 'opid', reason: 'reason', note: 'note', facts: 'facts', eventId: 'event_id',
};

/** The characters a spreadsheet starts a formula with (OWASP "CSV Injection": = + - @, tab, CR). */
const FORMULA_START = /^[=+\-@\t\r]/;

export function csvField(value: string): string {
  const text = FORMULA_START.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function csvHeader(): string {
  return `${CSV_COLUMNS.map((c) => CSV_HEADERS[c]).join(',')}\r\n`;
}

export function csvRecord(row: ReviewRow): string {
  return `${CSV_COLUMNS.map((c) => csvField(String(row[c]))).join(',')}\r\n`;
}
