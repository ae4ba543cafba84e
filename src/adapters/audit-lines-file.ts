/**
 * Audit events from a JSON-lines file (what the file sink writes, and what `audit --json` writes),
 * read line by line with readline: memory stays flat however long the file is, because nothing
 * holds more than the line being parsed.
 */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { parseAuditText } from '../review/parse.ts';
import type { SourceItem } from '../review/record.ts';

export interface FileSourceOptions {
  /** Called for each blank line (not an event, not a problem: counted in the summary). */
  onBlank?: () => void;
}

/** `path` "-" reads standard input. */
export function openAuditFile(path: string): Readable {
  return path === '-' ? process.stdin : createReadStream(path, { encoding: 'utf8' });
}

/**
 * Yields one item per non-blank line, numbered from 1 as editors number them. A stream error
 * (file missing, unreadable) rejects the iteration: that is a failure to read, not bad input.
 */
export async function* readAuditLines(input: Readable, options: FileSourceOptions = {}): AsyncGenerator<SourceItem> {
  // crlfDelay: a "\r\n" split across two chunks still counts as one line break.
  const lines = createInterface({ input, crlfDelay: Infinity });
  let n = 0;
  try {
    for await (const raw of lines) {
      n++;
      // A byte-order mark on the first line (editors on Windows add one) is not part of the JSON.
      const line = n === 1 ? raw.replace(/^\uFEFF/, '') : raw;
      if (line.trim() === '') {
        options.onBlank?.();
        continue;
      }
      yield parseAuditText(line, `line ${n}`);
    }
  } finally {
    lines.close();
  }
}
