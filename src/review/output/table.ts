/**
 * An aligned table written as rows arrive. Column widths are taken from the first WIDTH_SAMPLE rows
 * (buffered until then) and kept afterwards, cutting longer cells with an ellipsis: aligning a
 * million rows exactly would mean holding them all before printing the first.
 */
import type { ReviewRow } from '../row.ts';
import { printable } from '../../util/terminal.ts';
import { ChunkedWriter } from './write.ts';

export const WIDTH_SAMPLE = 1_000;

interface TableColumn {
  header: string;
  value: (row: ReviewRow) => string;
  /** Widest the column gets, whatever the sample holds. */
  max: number;
}

const short = (id: string): string => id.slice(0, 8);

export const LISTING_COLUMNS: readonly TableColumn[] = [
  { header: 'TIME', value: (r) => r.time, max: 24 },
  { header: 'OUTCOME', value: (r) => r.outcome, max: 8 },
  { header: 'MODE', value: (r) => (r.dryRun ? 'dry-run' : 'real'), max: 7 },
  { header: 'CLUSTER', value: (r) => r.cluster, max: 20 },
  { header: 'RUN', value: (r) => short(r.runId), max: 8 },
  { header: 'TRIGGER', value: (r) => r.trigger, max: 24 },
  { header: 'RULE', value: (r) => r.rule, max: 28 },
  { header: 'USER', value: (r) => r.user, max: 24 },
  { header: 'APP', value: (r) => r.app, max: 24 },
  { header: 'SESSION', value: (r) => (r.opid ? `op ${r.opid}` : short(r.sessionId)), max: 14 },
  { header: 'NOTE', value: (r) => r.note || r.reason, max: 80 },
];

function cut(text: string, width: number): string {
  return text.length <= width ? text : `${text.slice(0, Math.max(1, width - 1))}…`;
}

export class StreamingTable {
  readonly #out: ChunkedWriter;
  readonly #columns: readonly TableColumn[];
  #pending: string[][] | null = [];
  #widths: number[] = [];
  #rows = 0;

  constructor(out: ChunkedWriter, columns: readonly TableColumn[] = LISTING_COLUMNS) {
    this.#out = out;
    this.#columns = columns;
  }

  get rows(): number {
    return this.#rows;
  }

  add(row: ReviewRow): Promise<void> | undefined {
    this.#rows++;
    const cells = this.#columns.map((c) => printable(c.value(row)) || '-');
    if (this.#pending) {
      this.#pending.push(cells);
      return this.#pending.length >= WIDTH_SAMPLE ? this.#flushPending() : undefined;
    }
    return this.#out.write(this.#line(cells));
  }

  /** Writes what is buffered; call once at the end. Writes "(no events matched)" for an empty table. */
  async end(): Promise<void> {
    if (this.#rows === 0) await this.#out.write('(no events matched)\n');
    else if (this.#pending) await this.#flushPending();
    await this.#out.flush();
  }

  async #flushPending(): Promise<void> {
    const pending = this.#pending ?? [];
    this.#pending = null;
    this.#widths = this.#columns.map((c, i) => Math.min(c.max, Math.max(c.header.length, ...pending.map((cells) => cells[i]!.length))));
    await this.#out.write(this.#line(this.#columns.map((c) => c.header)));
    await this.#out.write(`${this.#widths.map((w) => '-'.repeat(w)).join('  ')}\n`);
    for (const cells of pending) await this.#out.write(this.#line(cells));
  }

  #line(cells: string[]): string {
    return `${cells.map((cell, i) => cut(cell, this.#widths[i]!).padEnd(this.#widths[i]!)).join('  ').trimEnd()}\n`;
  }
}
