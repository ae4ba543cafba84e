/**
 * Writes a snapshot (format.ts): JSON lines into a gzip stream into a file or into memory (the Lambda uploads
 * it to S3 afterwards). Documents arrive one at a time from the adapter's tap, synchronously, as raw BSON;
 * they are encoded (ejson.ts, with the redaction) at once and handed to gzip when the recorder calls drain(),
 * once per server batch, which also waits for gzip and the file to keep up: memory holds one batch of lines,
 * not the listing.
 */
import { once } from 'node:events';
import { open } from 'node:fs/promises';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { SnapshotError } from '../../util/errors.ts';
import { bsonToCanonicalJson } from './ejson.ts';
import { LINE_KEYS, type SectionSource, type SectionEnd, type SectionStart, type SnapshotHeader, type Trailer } from './format.ts';
import { compileKept, KEEP_ALL, KEPT_CURRENT_OP_FIELDS, KEPT_LISTING_FIELDS, type KeepNode } from './redaction.ts';

/** zlib's best compression: a snapshot is written once and kept; level 9 costs little more time than 6 here. */
const GZIP_LEVEL = 9;

const KEPT_CURRENT_OP = compileKept(KEPT_CURRENT_OP_FIELDS);
const KEPT_LISTINGS = compileKept(KEPT_LISTING_FIELDS);

export interface WriterOptions {
  /** --keep-values: every value is recorded (credentials are still removed). */
  keepValues: boolean;
}

export interface WrittenSnapshot {
  sections: number;
  documents: number;
}

export class SnapshotWriter {
  private readonly gzip = createGzip({ level: GZIP_LEVEL });
  private readonly done: Promise<void>;
  private failure: Error | null = null;
  private pending: string[] = [];
  private section: SectionStart | null = null;
  private keep: KeepNode = KEEP_ALL;
  private sectionDocuments = 0;
  private sections = 0;
  private documents = 0;
  private finished: Promise<WrittenSnapshot> | null = null;

  private constructor(destination: Writable, private readonly where: string, private readonly options: WriterOptions) {
    this.done = pipeline(this.gzip, destination).catch((e: Error) => {
      this.failure = new SnapshotError(`cannot write the snapshot to ${where}: ${e.message}`, { cause: e });
    });
  }

  /** Opens (creates or truncates) the file now, so a bad path fails before anything is read from a cluster. */
  static async toFile(path: string, options: WriterOptions): Promise<SnapshotWriter> {
    let handle;
    try {
      handle = await open(path, 'w');
    } catch (e) {
      throw new SnapshotError(`cannot create the snapshot file ${path}: ${(e as Error).message}; give a path in a directory that exists and is writable`, { cause: e });
    }
    return new SnapshotWriter(handle.createWriteStream(), path, options);
  }

  /** A snapshot kept in memory (compressed), for an upload once it is complete. */
  static inMemory(options: WriterOptions): { writer: SnapshotWriter; bytes: () => Buffer } {
    const chunks: Buffer[] = [];
    const sink = new Writable({ write(chunk: Buffer, _enc, cb) { chunks.push(chunk); cb(); } });
    return { writer: new SnapshotWriter(sink, 'memory', options), bytes: () => Buffer.concat(chunks) };
  }

  get valuesKept(): boolean {
    return this.options.keepValues;
  }

  private line(key: string, value: unknown): void {
    this.pending.push(`{"${key}":${JSON.stringify(value)}}`);
  }

  header(header: SnapshotHeader): void {
    this.line(LINE_KEYS.header, header);
  }

  beginSection(member: string, source: SectionSource): void {
    if (this.section) throw new Error(`snapshot writer: section ${this.section.source} of ${this.section.member} is still open`);
    this.section = { member, source };
    this.sectionDocuments = 0;
    this.keep = this.keepFor(source);
    this.line(LINE_KEYS.section, this.section);
  }

  private keepFor(source: SectionSource): KeepNode {
    return this.options.keepValues ? KEEP_ALL : source === 'currentOp' || source === 'localOps' ? KEPT_CURRENT_OP : KEPT_LISTINGS;
  }

  /** One raw document of the open section. */
  document(bytes: Uint8Array): void {
    if (!this.section) return;
    this.encoded(bsonToCanonicalJson(bytes, this.keep));
  }

  /**
   * One raw document of `source` as its line (redacted as that listing's documents are), for a section
   * written later: a replica set's members are read in parallel, their sections one after the other.
   */
  encode(source: SectionSource, bytes: Uint8Array): string {
    return bsonToCanonicalJson(bytes, this.keepFor(source));
  }

  /** A line encode() made, as the next document of the open section. */
  encoded(line: string): void {
    if (!this.section) return;
    this.pending.push(line);
    this.sectionDocuments++;
    this.documents++;
  }

  /** Ends the open section; `error` says why its listing did not finish (the section is then never used). */
  endSection(error?: string): void {
    if (!this.section) return;
    const end: SectionEnd = { ...this.section, documents: this.sectionDocuments, ...(error ? { error } : {}) };
    this.line(LINE_KEYS.end, end);
    this.section = null;
    this.sections++;
  }

  /** Hands the lines so far to gzip and waits until it (and the file) can take more. */
  async drain(): Promise<void> {
    if (this.failure) throw this.failure;
    if (this.pending.length === 0) return;
    const chunk = `${this.pending.join('\n')}\n`;
    this.pending = [];
    if (!this.gzip.write(chunk)) await Promise.race([once(this.gzip, 'drain'), this.done]);
    if (this.failure) throw this.failure;
  }

  /** Writes the trailer and closes the stream; idempotent. Rejects with SnapshotError when the file could not be written. */
  finish(extra: Pick<Trailer, 'coverageChanged'> = {}): Promise<WrittenSnapshot> {
    this.finished ??= (async () => {
      this.endSection('the recording ended before this listing finished');
      const trailer: Trailer = { sections: this.sections, documents: this.documents, ...(extra.coverageChanged ? { coverageChanged: extra.coverageChanged } : {}) };
      this.line(LINE_KEYS.trailer, trailer);
      await this.drain();
      this.gzip.end();
      await this.done;
      if (this.failure) throw this.failure;
      return { sections: this.sections, documents: this.documents };
    })();
    return this.finished;
  }
}
