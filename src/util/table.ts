/**
 * Aligned plain-text tables for operators: a header, a rule, one line per row. Numbers right-aligned,
 * text left-aligned; long cells are cut with an ellipsis so a row stays on one line. Every cell goes
 * through printable (src/util/terminal.ts): cells hold client-chosen names (appName, user).
 */
import { printable } from './terminal.ts';

export interface Column<T> {
  header: string;
  value: (row: T) => string | number;
  max?: number;
}

function cut(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, Math.max(1, max - 1))}…`;
}

export function formatTable<T>(rows: readonly T[], columns: readonly Column<T>[]): string {
  const cells = rows.map((r) => columns.map((c) => {
    const v = c.value(r);
    return { text: cut(printable(String(v)), c.max ?? 60), numeric: typeof v === 'number' };
  }));
  const widths = columns.map((c, i) => Math.max(c.header.length, ...cells.map((row) => row[i]!.text.length)));
  const line = (parts: { text: string; numeric: boolean }[]): string =>
    parts.map((p, i) => (p.numeric ? p.text.padStart(widths[i]!) : p.text.padEnd(widths[i]!))).join('  ').trimEnd();
  return [
    line(columns.map((c) => ({ text: c.header, numeric: false }))),
    widths.map((w) => '-'.repeat(w)).join('  '),
    ...cells.map(line),
  ].join('\n');
}
