/**
 * Cursor batches. A cursor's source hands out batches either as documents (serialised with the reply) or,
 * for the big session listings, as ready BSON array elements written straight from the session records:
 * a $listSessions of 100,000 sessions then allocates no per-session JS objects on the server.
 *
 * Batch bounds: first batches default to 101 documents (query_request_helper.h kDefaultBatchSize);
 * getMore batches are bounded by the 16 MiB reply (maxBsonObjectSize), less room for the envelope.
 */
import { BSON, type Long, type Document } from 'bson';
import { MAX_BSON_OBJECT_SIZE } from './wire.ts';

export const DEFAULT_FIRST_BATCH = 101;
export const BATCH_BYTES = MAX_BSON_OBJECT_SIZE - 16 * 1024;

export interface Batch {
  /** Documents, or null when `raw` carries the batch as BSON array elements keyed "0", "1", ... */
  docs: Document[] | null;
  raw: Buffer | null;
  count: number;
  exhausted: boolean;
}

export interface BatchSource {
  /** Up to `max` documents; null = as many as fit in a reply. */
  next(max: number | null): Batch;
}

/** A source over an iterator of documents. */
export function documentSource(source: Iterator<Document>): BatchSource {
  return {
    next(max) {
      const docs: Document[] = [];
      let bytes = 0;
      let measured = 0;
      const limit = max ?? Infinity;
      while (docs.length < limit) {
        const n = source.next();
        if (n.done) return { docs, raw: null, count: docs.length, exhausted: true };
        docs.push(n.value);
        // Measure in chunks, each document once: most batches are far below the limit.
        if (docs.length - measured === 1024) {
          for (; measured < docs.length; measured++) bytes += BSON.calculateObjectSize(docs[measured]!);
          if (bytes > BATCH_BYTES) break;
        }
      }
      return { docs, raw: null, count: docs.length, exhausted: false };
    },
  };
}

/** A growable byte buffer for hand-written BSON. */
export class ByteWriter {
  buf: Buffer;
  pos = 0;
  constructor(size = 1 << 16) {
    this.buf = Buffer.allocUnsafe(size);
  }
  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }
  byte(b: number): void {
    this.ensure(1);
    this.buf[this.pos++] = b;
  }
  int32(v: number): void {
    this.ensure(4);
    this.buf.writeInt32LE(v, this.pos);
    this.pos += 4;
  }
  /** A non-negative integer below 2^53 (dates as epoch ms) as int64, without a BigInt per value. */
  int64(v: number): void {
    this.ensure(8);
    this.buf.writeUInt32LE(v % 0x100000000, this.pos);
    this.buf.writeUInt32LE(Math.floor(v / 0x100000000), this.pos + 4);
    this.pos += 8;
  }
  /** A C string (element names). */
  cstring(s: string): void {
    const n = Buffer.byteLength(s);
    this.ensure(n + 1);
    this.buf.write(s, this.pos, 'utf8');
    this.pos += n;
    this.buf[this.pos++] = 0;
  }
  /** Hex digits as raw bytes. */
  hex(s: string): void {
    this.ensure(s.length >> 1);
    this.pos += this.buf.write(s, this.pos, 'hex');
  }
  /** A BSON string value: int32 length (with the NUL), bytes, NUL. */
  string(s: string): void {
    const n = Buffer.byteLength(s);
    this.ensure(n + 5);
    this.buf.writeInt32LE(n + 1, this.pos);
    this.pos += 4;
    this.buf.write(s, this.pos, 'utf8');
    this.pos += n;
    this.buf[this.pos++] = 0;
  }
  /** Reserves an int32 length and returns a function that fills it in. */
  begin(): () => void {
    const at = this.pos;
    this.int32(0);
    return () => this.buf.writeInt32LE(this.pos - at, at);
  }
  take(): Buffer {
    return this.buf.subarray(0, this.pos);
  }
}

/**
 * The reply { cursor: { <firstBatch|nextBatch>: [...], id, ns }, ok: 1 } with the batch given as raw array
 * elements, serialised by hand (BSON.serialize cannot embed pre-serialised bytes). Returned as parts
 * (head, elements, tail) so the elements are never copied again.
 */
export function rawCursorReply(kind: 'firstBatch' | 'nextBatch', elements: Buffer, id: Long, ns: string): Buffer[] {
  const head = new ByteWriter(64);
  head.int32(0); // total length, patched below
  head.byte(0x03);
  head.cstring('cursor');
  head.int32(0); // cursor document length, patched below
  head.byte(0x04);
  head.cstring(kind);
  head.int32(4 + elements.length + 1); // array length: int32 + elements + terminator
  const tail = new ByteWriter(64);
  tail.byte(0); // end of array
  tail.byte(0x12);
  tail.cstring('id');
  tail.ensure(8);
  tail.buf.writeInt32LE(id.low, tail.pos);
  tail.buf.writeInt32LE(id.high, tail.pos + 4);
  tail.pos += 8;
  tail.byte(0x02);
  tail.cstring('ns');
  tail.string(ns);
  const cursorEnd = tail.pos; // the cursor document ends with the next byte
  tail.byte(0);
  tail.byte(0x01);
  tail.cstring('ok');
  tail.ensure(8);
  tail.buf.writeDoubleLE(1, tail.pos);
  tail.pos += 8;
  tail.byte(0);
  const h = head.take();
  const t = tail.take();
  const cursorStart = 4 + 1 + 'cursor'.length + 1;
  h.writeInt32LE(h.length + elements.length + t.length, 0);
  h.writeInt32LE(h.length - cursorStart + elements.length + cursorEnd + 1, cursorStart);
  return [h, elements, t];
}
