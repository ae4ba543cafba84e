/**
 * Reads a snapshot file (format.ts), streaming: gzip (or the same lines uncompressed, e.g. after zcat and an
 * edit), split into lines, each line checked as it passes. Nothing is trusted: a file that is not gzip, cut
 * short, a line that is not JSON, a section that is missing, incomplete, duplicated or miscounted, a format
 * version this code does not know: each is a SnapshotError that names the file and the line or section.
 *
 * documents(source) reads the file from its start each time and yields the documents of that listing's
 * sections (every member's), a chunk of lines at a time. It stops at the next section after the last one it
 * wants, so a pass reading the listings in the recorded order decompresses the big listing once; the read
 * that reaches the end checks the whole structure (every section present and complete, the trailer).
 */
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { createGunzip } from 'node:zlib';
import { SnapshotError } from '../../util/errors.ts';
import {
  isListingSource, LINE_KEYS, OLDEST_READABLE_VERSION, SNAPSHOT_FORMAT, SNAPSHOT_VERSION, SOURCES, WRITER_NAME, WRITER_VERSION,
  type ListingSource, type SectionEnd, type SnapshotHeader,
} from './format.ts';

/** A recorded document and where it is, for messages ("line 812", or "case x, currentOp[2]" in a test file). */
export interface RecordedDocument {
  where: string;
  doc: unknown;
}

/** What a replay reads: a file, or a snapshot excerpt inside a policy test case. */
export interface SnapshotContent {
  readonly name: string;
  readonly header: SnapshotHeader;
  /** Notes for the operator (an older writer), not problems. */
  readonly notes: readonly string[];
  documents(source: ListingSource): AsyncIterable<RecordedDocument[]>;
}

const GZIP_MAGIC = [0x1f, 0x8b];

type Line = { number: number; text: string };

/** Lines of the file, a chunk at a time, decompressed when the file is gzip. */
async function* lines(path: string): AsyncIterable<Line[]> {
  const head = Buffer.alloc(2);
  const handle = await open(path, 'r');
  try {
    await handle.read(head, 0, 2, 0);
  } finally {
    await handle.close();
  }
  const raw = createReadStream(path);
  const gzip = head[0] === GZIP_MAGIC[0] && head[1] === GZIP_MAGIC[1];
  const stream = gzip ? raw.pipe(createGunzip()) : raw;
  if (gzip) raw.on('error', (e) => stream.destroy(e));
  stream.setEncoding('utf8');
  let rest = '';
  let number = 0;
  try {
    for await (const chunk of stream as AsyncIterable<string>) {
      const parts = (rest + chunk).split('\n');
      rest = parts.pop()!;
      yield parts.map((text) => ({ number: ++number, text }));
    }
  } catch (e) {
    const what = gzip ? 'is not a readable gzip stream' : 'cannot be read';
    throw new SnapshotError(`${path} ${what} ${number ? `after line ${number}` : 'from its start'} (${(e as Error).message}): the file is damaged or was cut short; record it again`, { cause: e });
  } finally {
    stream.destroy();
    raw.destroy();
  }
  if (rest) yield [{ number: ++number, text: rest }];
}

function fail(path: string, line: number, message: string): never {
  throw new SnapshotError(`${path} line ${line}: ${message}`);
}

function controlKey(text: string): string | null {
  if (!text.startsWith('{"$')) return null;
  const end = text.indexOf('"', 3);
  return end < 0 ? null : text.slice(2, end);
}

function parseLine(path: string, line: Line, what: string): unknown {
  try {
    return JSON.parse(line.text);
  } catch (e) {
    return fail(path, line.number, `${what} is not valid JSON (${(e as Error).message}); the file is damaged: record the snapshot again`);
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** The header's checks: every field a replay relies on, and the version. Returns the notes to show. */
function checkHeader(path: string, value: unknown): { header: SnapshotHeader; notes: string[] } {
  const h = isObject(value) ? value[LINE_KEYS.header] : undefined;
  if (!isObject(h) || h.format !== SNAPSHOT_FORMAT) {
    fail(path, 1, `is not a snapshot header ({"${LINE_KEYS.header}": {"format": "${SNAPSHOT_FORMAT}", ...}}): is this a session-reaper snapshot? Record one with \`session-reaper snapshot\` or \`run --record\``);
  }
  const version = h.version;
  if (typeof version !== 'number' || !Number.isInteger(version)) fail(path, 1, 'the header has no whole-number "version"');
  if (version > SNAPSHOT_VERSION) {
    fail(path, 1, `the snapshot is format version ${version} (written by ${String(h.writer)}); this session-reaper (${WRITER_VERSION}) reads versions ${OLDEST_READABLE_VERSION} to ${SNAPSHOT_VERSION}: upgrade session-reaper to read it`);
  }
  if (version < OLDEST_READABLE_VERSION) fail(path, 1, `format version ${version} is older than the oldest this session-reaper reads (${OLDEST_READABLE_VERSION}); record the snapshot again`);
  const problems: string[] = [];
  if (typeof h.takenAtMs !== 'number' || !Number.isFinite(h.takenAtMs)) problems.push('"takenAtMs" (epoch ms)');
  if (!Array.isArray(h.members) || h.members.length === 0 || !h.members.every((m) => isObject(m) && typeof m.name === 'string' && m.name)) problems.push('"members" (a non-empty list of {name})');
  const r = h.reaper;
  if (!isObject(r) || typeof r.sessionId !== 'string' || typeof r.uid !== 'string' || typeof r.user !== 'string') problems.push('"reaper" ({sessionId, uid, user})');
  if (problems.length) fail(path, 1, `the header lacks ${problems.join(', ')}; the file was not written by session-reaper or was edited: record it again`);
  const notes: string[] = [];
  const current = `${WRITER_NAME} ${WRITER_VERSION}`;
  if (h.writer !== current || version < SNAPSHOT_VERSION) {
    notes.push(`written by ${String(h.writer ?? 'an unnamed writer')} (format version ${version}); read by ${current} (format version ${SNAPSHOT_VERSION}): facts added since then are computed from its raw documents`);
  }
  return { header: h as unknown as SnapshotHeader, notes };
}

/** Tracks the sections a read passes, and checks the structure when it reaches the end. */
class Structure {
  readonly seen = new Map<string, SectionEnd>();
  open: { member: string; source: ListingSource; line: number; documents: number } | null = null;
  trailerLine = 0;

  constructor(private readonly path: string, private readonly header: SnapshotHeader) {}

  /** Checks one control line; returns the section it ended, if it ended one. */
  control(line: Line, key: string): SectionEnd | null {
    const { path } = this;
    if (this.trailerLine) fail(path, line.number, `follows the trailer (line ${this.trailerLine}); the file was damaged or two snapshots were joined`);
    const value = parseLine(path, line, 'the line');
    const body = isObject(value) ? value[key] : undefined;
    if (!isObject(body)) fail(path, line.number, `a "${key}" line without an object`);
    if (key === LINE_KEYS.header) fail(path, line.number, 'a second snapshot header; two snapshots were joined: keep one per file');
    if (key === LINE_KEYS.trailer) {
      if (this.open) fail(path, line.number, `the trailer comes while section ${this.open.source} of ${this.open.member} (line ${this.open.line}) is open`);
      this.trailerLine = line.number;
      if (body.sections !== this.seen.size) fail(path, line.number, `the trailer counts ${String(body.sections)} sections, the file has ${this.seen.size}`);
      return null;
    }
    const { member, source } = body;
    if (typeof member !== 'string' || !isListingSource(source)) fail(path, line.number, `a "${key}" line needs "member" (host:port) and "source" (${SOURCES.join(', ')})`);
    if (key === LINE_KEYS.section) {
      if (this.open) fail(path, line.number, `section ${source} of ${member} starts while section ${this.open.source} of ${this.open.member} (line ${this.open.line}) has not ended: the file is damaged`);
      if (!this.header.members.some((m) => m.name === member)) fail(path, line.number, `section ${source} names member ${member}, which the header does not list`);
      if (this.seen.has(`${member} ${source}`)) fail(path, line.number, `section ${source} of ${member} appears twice`);
      this.open = { member, source, line: line.number, documents: 0 };
      return null;
    }
    if (key !== LINE_KEYS.end) fail(path, line.number, `unknown line kind "${key}"`);
    const open = this.open;
    if (!open || open.member !== member || open.source !== source) fail(path, line.number, `the end of section ${source} of ${member}, which is not the open section`);
    if (typeof body.error === 'string') fail(path, line.number, `section ${source} of ${member} is incomplete: ${body.error}; this snapshot cannot be used for decisions`);
    if (body.documents !== open.documents) fail(path, line.number, `section ${source} of ${member} says ${String(body.documents)} documents and has ${open.documents}: lines are missing`);
    const ended: SectionEnd = { member, source, documents: open.documents };
    this.seen.set(`${member} ${source}`, ended);
    this.open = null;
    return ended;
  }

  /** At the end of the file: every member's three sections, complete, and the trailer. */
  end(lastLine: number): void {
    const { path } = this;
    if (this.open) fail(path, lastLine, `the file ends inside section ${this.open.source} of ${this.open.member} (begun at line ${this.open.line}): it was cut short; record it again`);
    for (const m of this.header.members) {
      for (const s of SOURCES) {
        if (!this.seen.has(`${m.name} ${s}`)) throw new SnapshotError(`${path}: section ${s} of ${m.name} is missing; the recording did not read it (the pass failed early?): record the snapshot again`);
      }
    }
    if (!this.trailerLine) throw new SnapshotError(`${path}: the file ends at line ${lastLine} without its trailer: it was cut short (an interrupted recording or copy); record it again`);
  }
}

export class SnapshotFile implements SnapshotContent {
  private constructor(readonly name: string, readonly header: SnapshotHeader, readonly notes: readonly string[]) {}

  /** Reads and checks the header line; the rest is checked as it is read. */
  static async open(path: string): Promise<SnapshotFile> {
    try {
      for await (const chunk of lines(path)) {
        if (chunk.length === 0) continue;
        const first = chunk[0]!;
        const { header, notes } = checkHeader(path, parseLine(path, first, 'the header line'));
        return new SnapshotFile(path, header, notes);
      }
    } catch (e) {
      if (e instanceof SnapshotError) throw e;
      throw new SnapshotError(`cannot read the snapshot ${path}: ${(e as Error).message}`, { cause: e });
    }
    throw new SnapshotError(`${path} is empty: it is not a snapshot`);
  }

  async *documents(source: ListingSource): AsyncIterable<RecordedDocument[]> {
    const path = this.name;
    const structure = new Structure(path, this.header);
    const wanted = this.header.members.length;
    let done = 0;
    let last = 0;
    for await (const chunk of lines(path)) {
      const out: RecordedDocument[] = [];
      for (const line of chunk) {
        last = line.number;
        if (line.number === 1) continue;
        if (line.text === '') continue;
        const key = controlKey(line.text);
        if (key === null) {
          const open = structure.open;
          if (!open) fail(path, line.number, structure.trailerLine ? 'a document after the trailer' : 'a document outside any section');
          open.documents++;
          if (open.source === source) out.push({ where: `${path} line ${line.number}`, doc: parseLine(path, line, `the ${source} document`) });
          continue;
        }
        // Past every section this read wants, the next section start ends the read: another read checks the rest.
        if (key === LINE_KEYS.section && done === wanted) {
          if (out.length) yield out;
          return;
        }
        if (structure.control(line, key)?.source === source) done++;
      }
      if (out.length) yield out;
    }
    structure.end(last);
  }
}
