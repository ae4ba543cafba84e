/**
 * Reads a snapshot file (format.ts), streaming: gzip (or the same lines uncompressed, e.g. after zcat and an
 * edit), split into lines, each line checked as it passes. Nothing is trusted: a file that is not gzip, cut
 * short, a line that is not JSON, a section that is missing, incomplete, duplicated or miscounted, a format
 * version this code does not know: each is a SnapshotError that names the file and the line or section.
 *
 * documents(source) yields the documents of that listing's sections (every member's; for currentOp also the
 * routers' own "localOps" sections), a chunk of lines at a time, each naming its member and section. It stops at the next section after the last one it wants, and the next read carries on from there if
 * it wants that section, else starts again from the top: a pass reading the listings in the recorded order
 * decompresses the file once. The read that reaches the end checks the whole structure (every section present
 * and complete, the trailer).
 */
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { createGunzip } from 'node:zlib';
import { SnapshotError } from '../../util/errors.ts';
import {
  isSectionSource, LINE_KEYS, memberSections, OLDEST_READABLE_VERSION, sectionListing, SNAPSHOT_FORMAT, SNAPSHOT_VERSION, SOURCES, WRITER_NAME, WRITER_VERSION,
  type ListingSource, type SectionEnd, type SectionSource, type SnapshotHeader,
} from './format.ts';

/**
 * A recorded document: its line of Extended JSON, not yet parsed (decode.ts parses it, and reads the usual
 * listing line without parsing it as JSON at all), and where it is, for messages ("FILE line 812", or
 * "FILE case x, snapshot.currentOp[2]" in a test file).
 */
export interface RecordedDocument {
  where: string;
  text: string;
  /** The member whose section holds it, and which section; absent in a test case's excerpt (one member). */
  readonly member?: string;
  readonly section?: SectionSource;
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

/** Decompressed bytes per chunk: zlib's default is 16 KiB; larger chunks mean fewer hops per line. */
const GUNZIP_CHUNK = 256 * 1024;

type Line = { number: number; text: string };

/** Consecutive lines of the file: `texts[i]` is line `first + i`. */
type Lines = { first: number; texts: string[] };

/** Lines of the file, a chunk at a time, decompressed when the file is gzip. */
async function* lines(path: string): AsyncIterable<Lines> {
  const head = Buffer.alloc(2);
  const handle = await open(path, 'r');
  try {
    await handle.read(head, 0, 2, 0);
  } finally {
    await handle.close();
  }
  const raw = createReadStream(path);
  const gzip = head[0] === GZIP_MAGIC[0] && head[1] === GZIP_MAGIC[1];
  const stream = gzip ? raw.pipe(createGunzip({ chunkSize: GUNZIP_CHUNK })) : raw;
  if (gzip) raw.on('error', (e) => stream.destroy(e));
  stream.setEncoding('utf8');
  let rest = '';
  let number = 0;
  try {
    for await (const chunk of stream as AsyncIterable<string>) {
      const texts = (rest + chunk).split('\n');
      rest = texts.pop()!;
      yield { first: number + 1, texts };
      number += texts.length;
    }
  } catch (e) {
    const what = gzip ? 'is not a readable gzip stream' : 'cannot be read';
    throw new SnapshotError(`${path} ${what} ${number ? `after line ${number}` : 'from its start'} (${(e as Error).message}): the file is damaged or was cut short; record it again`, { cause: e });
  } finally {
    stream.destroy();
    raw.destroy();
  }
  if (rest) yield { first: number + 1, texts: [rest] };
}

/** A document line of a file; its place is spelled out only when a message needs it. */
class FileDocument implements RecordedDocument {
  constructor(readonly text: string, private readonly path: string, private readonly line: number, readonly member: string, readonly section: SectionSource) {}

  get where(): string {
    return `${this.path} line ${this.line}`;
  }
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
  else if (!h.members.every((m: Record<string, unknown>) => m.sections === undefined || (Array.isArray(m.sections) && m.sections.every(isSectionSource)))) problems.push(`members' "sections" (lists of ${SOURCES.join(', ')}, localOps)`);
  else if (!h.members.every((m: Record<string, unknown>) => m.direct === undefined || (isObject(m.direct) && typeof m.direct.reaperSessionId === 'string'))) problems.push('members\' "direct" ({reaperSessionId})');
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
  open: { member: string; source: SectionSource; line: number; documents: number } | null = null;
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
      const documents = [...this.seen.values()].reduce((n, s) => n + s.documents, 0);
      if (body.documents !== documents) fail(path, line.number, `the trailer counts ${String(body.documents)} documents, the sections hold ${documents}`);
      if (typeof body.coverageChanged === 'string') fail(path, line.number, `the members read changed while the pass read the cluster (${body.coverageChanged}): the sections do not hold one view the pass decided on, so this snapshot cannot be used for decisions`);
      return null;
    }
    const { member, source } = body;
    if (typeof member !== 'string' || !isSectionSource(source)) fail(path, line.number, `a "${key}" line needs "member" (host:port) and "source" (${SOURCES.join(', ')} or localOps)`);
    if (key === LINE_KEYS.section) {
      if (this.open) fail(path, line.number, `section ${source} of ${member} starts while section ${this.open.source} of ${this.open.member} (line ${this.open.line}) has not ended: the file is damaged`);
      const listed = this.header.members.find((m) => m.name === member);
      if (!listed) fail(path, line.number, `section ${source} names member ${member}, which the header does not list`);
      if (!memberSections(listed).includes(source)) fail(path, line.number, `section ${source} of ${member}, which the header does not list for that member`);
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
      for (const s of memberSections(m)) {
        if (!this.seen.has(`${m.name} ${s}`)) throw new SnapshotError(`${path}: section ${s} of ${m.name} is missing; the recording did not read it (the pass failed early?): record the snapshot again`);
      }
    }
    if (!this.trailerLine) throw new SnapshotError(`${path}: the file ends at line ${lastLine} without its trailer: it was cut short (an interrupted recording or copy); record it again`);
  }
}

/** Where a read stopped early: the next read, when it wants the section that starts there, carries on. */
interface Resume {
  iterator: AsyncIterator<Lines>;
  pending: Lines | null;
  structure: Structure;
}

export class SnapshotFile implements SnapshotContent {
  private resume: Resume | null = null;

  private constructor(readonly name: string, readonly header: SnapshotHeader, readonly notes: readonly string[]) {}

  /**
   * Reads and checks the header line; the rest is checked as it is read. The read is kept for the first
   * listing (the one recorded first, which a replay reads first), so the start of the file is decompressed once.
   */
  static async open(path: string): Promise<SnapshotFile> {
    let iterator: AsyncIterator<Lines> | null = null;
    try {
      iterator = lines(path)[Symbol.asyncIterator]();
      for (let r = await iterator.next(); !r.done; r = await iterator.next()) {
        const chunk = r.value;
        if (chunk.texts.length === 0) continue;
        const { header, notes } = checkHeader(path, parseLine(path, { number: 1, text: chunk.texts[0]! }, 'the header line'));
        const file = new SnapshotFile(path, header, notes);
        file.resume = { iterator, pending: { first: chunk.first + 1, texts: chunk.texts.slice(1) }, structure: new Structure(path, header) };
        iterator = null;
        return file;
      }
    } catch (e) {
      if (e instanceof SnapshotError) throw e;
      throw new SnapshotError(`cannot read the snapshot ${path}: ${(e as Error).message}`, { cause: e });
    } finally {
      await iterator?.return?.();
    }
    throw new SnapshotError(`${path} is empty: it is not a snapshot`);
  }

  /** The stopped read, when the next line starts a section of `source`; any other is closed. */
  private takeResume(source: ListingSource): Resume | null {
    const r = this.resume;
    this.resume = null;
    if (!r) return null;
    const next = r.pending?.texts[0];
    const start = next !== undefined && controlKey(next) === LINE_KEYS.section ? (JSON.parse(next) as { $section?: { source?: unknown } }).$section?.source : undefined;
    if (isSectionSource(start) && sectionListing(start) === source) return r;
    void r.iterator.return?.();
    return null;
  }

  /** Closes a read left open for the next listing (a replay that ended early). */
  async close(): Promise<void> {
    const r = this.resume;
    this.resume = null;
    await r?.iterator.return?.();
  }

  async *documents(source: ListingSource): AsyncIterable<RecordedDocument[]> {
    const path = this.name;
    const state: Resume = this.takeResume(source) ?? { iterator: lines(path)[Symbol.asyncIterator](), pending: null, structure: new Structure(path, this.header) };
    const { structure } = state;
    const wanted = this.header.members.reduce((n, m) => n + memberSections(m).filter((x) => sectionListing(x) === source).length, 0);
    let done = 0;
    let last = 0;
    let handedOver = false;
    const next = async (): Promise<Lines | null> => {
      const p = state.pending;
      state.pending = null;
      if (p) return p;
      const r = await state.iterator.next();
      return r.done ? null : r.value;
    };
    try {
      for (let chunk = await next(); chunk; chunk = await next()) {
        const out: RecordedDocument[] = [];
        const { first, texts } = chunk;
        for (let i = 0; i < texts.length; i++) {
          const text = texts[i]!;
          const number = first + i;
          last = number;
          if (number === 1 || text === '') continue;
          const key = controlKey(text);
          if (key === null) {
            const open = structure.open;
            if (!open) fail(path, number, structure.trailerLine ? 'a document after the trailer' : 'a document outside any section');
            open.documents++;
            if (sectionListing(open.source) === source) out.push(new FileDocument(text, path, number, open.member, open.source));
            continue;
          }
          // Past every section this read wants, the next section start ends the read; the next read carries
          // on from there when it wants that section (the recorded order is the order a pass reads in).
          if (key === LINE_KEYS.section && done === wanted) {
            if (out.length) yield out;
            this.resume = { iterator: state.iterator, pending: { first: number, texts: texts.slice(i) }, structure };
            handedOver = true;
            return;
          }
          const ended = structure.control({ number, text }, key);
          if (ended && sectionListing(ended.source) === source) done++;
        }
        if (out.length) yield out;
      }
      structure.end(last);
    } finally {
      if (!handedOver) await state.iterator.return?.();
    }
  }
}
