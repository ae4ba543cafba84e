/**
 * Reads a $listSessions / $listLocalSessions document straight from its BSON bytes:
 *   { _id: { id: BinData(4), uid: BinData(0) }, lastUse: Date, user?: { name: string } | string }
 *
 * The listing is the biggest thing a pass reads (one document per session, a million on a big server).
 * Letting the driver build a JS object per document and then converting its Binary fields to strings costs
 * more than the rest of the inventory together (profiled: most of the time was BSON object building and
 * garbage collection), so the adapter asks the driver for raw documents (`raw: true`) and reads the four
 * fields here. Unknown fields are skipped by their BSON type, so a server that adds fields still parses.
 * Layout reference: bsonspec.org "Specification Version 1.1".
 */
import type { ListedSession } from '../../pass/ports.ts';

export function int32(buf: Uint8Array, at: number): number {
  return buf[at]! | (buf[at + 1]! << 8) | (buf[at + 2]! << 16) | (buf[at + 3]! << 24);
}

/**
 * The strings last read from a few distinct byte runs (uids, user names): a pass reads thousands of sessions of
 * a handful of users, so most reads compare some bytes instead of building a new string, and the inventory's
 * maps then hash a string whose hash V8 already keeps. A miss costs the compares and replaces the oldest entry.
 */
export class RecentStrings {
  private readonly bytes: Buffer[] = [];
  private readonly texts: string[] = [];
  private oldest = 0;

  constructor(private readonly size: number, private readonly decode: (buf: Buffer, start: number, end: number) => string) {}

  get(buf: Buffer, start: number, end: number): string {
    const n = end - start;
    for (let i = 0; i < this.bytes.length; i++) {
      const b = this.bytes[i]!;
      if (b.length !== n) continue;
      let j = 0;
      while (j < n && b[j] === buf[start + j]) j++;
      if (j === n) return this.texts[i]!;
    }
    const text = this.decode(buf, start, end);
    const copy = Buffer.from(buf.subarray(start, end));
    if (this.bytes.length < this.size) {
      this.bytes.push(copy);
      this.texts.push(text);
    } else {
      this.bytes[this.oldest] = copy;
      this.texts[this.oldest] = text;
      this.oldest = (this.oldest + 1) % this.size;
    }
    return text;
  }
}

/** Distinct uids and user names remembered (RecentStrings): more than the users of a typical cluster; past it, a miss costs 16 short compares. */
const RECENT_STRINGS = 16;

/** lsid / _id uids as hex. */
export const recentUids = new RecentStrings(RECENT_STRINGS, (buf, start, end) => buf.toString('hex', start, end));
const recentUsers = new RecentStrings(RECENT_STRINGS, (buf, start, end) => buf.toString('utf8', start, end));

/** ASCII codes of the hex digits, lowercase. */
const HEX_DIGITS = Buffer.from('0123456789abcdef', 'latin1');
/** Where the dashes of a UUID's text go (8-4-4-4-12). */
const UUID_TEXT = Buffer.from('00000000-0000-0000-0000-000000000000', 'latin1');

/**
 * The 16 bytes at `start` as a UUID string (lowercase, dashed: what bson's UUID.toHexString gives). Written into
 * one scratch buffer and read out as one flat string: the slices joined by a template were a rope that every Map
 * probe of the session's id had to flatten first (profiled: most of the inventory's own time per listed session).
 */
export function uuid(buf: Buffer, start: number): string {
  let o = 0;
  for (let i = 0; i < 16; i++) {
    if (o === 8 || o === 13 || o === 18 || o === 23) o++;
    const b = buf[start + i]!;
    UUID_TEXT[o++] = HEX_DIGITS[b >> 4]!;
    UUID_TEXT[o++] = HEX_DIGITS[b & 15]!;
  }
  return UUID_TEXT.toString('latin1', 0, 36);
}

/** A user name (a string element's value at `at`). */
function readUser(buf: Buffer, at: number): string {
  return recentUsers.get(buf, at + 4, at + 4 + int32(buf, at) - 1);
}

/** Offset just past a C string starting at `at`. */
export function skipCString(buf: Uint8Array, at: number): number {
  while (buf[at] !== 0) at++;
  return at + 1;
}

/** Does the element name at `at` (a C string) equal `name` (ASCII)? Compared as bytes: no string is built. */
function nameIs(buf: Uint8Array, at: number, name: string): boolean {
  for (let i = 0; i < name.length; i++) if (buf[at + i] !== name.charCodeAt(i)) return false;
  return buf[at + name.length] === 0;
}

/** Size in bytes of a value of BSON type `type` starting at `at` (bsonspec.org element grammar). */
export function valueSize(buf: Uint8Array, type: number, at: number): number {
  switch (type) {
    case 0x01: case 0x09: case 0x11: case 0x12: return 8; // double, date, timestamp, int64
    case 0x02: case 0x0d: case 0x0e: return 4 + int32(buf, at); // string, JS code, symbol
    case 0x03: case 0x04: case 0x0f: return int32(buf, at); // document, array, code with scope
    case 0x05: return 5 + int32(buf, at); // binary: int32 length, subtype, bytes
    case 0x06: case 0x0a: case 0x7f: case 0xff: return 0; // undefined, null, maxKey, minKey
    case 0x07: return 12; // ObjectId
    case 0x08: return 1; // bool
    case 0x0b: return skipCString(buf, skipCString(buf, at)) - at; // regex: pattern, options
    case 0x0c: return 4 + int32(buf, at) + 12; // DBPointer
    case 0x10: return 4; // int32
    case 0x13: return 16; // decimal128
    default: throw new Error(`unknown BSON type 0x${type.toString(16)} in a server document`);
  }
}

/**
 * Calls `visit` for each element of the document at `at`, until it returns true. Visitors are module-level
 * functions writing into `out`, so reading a document allocates no closures.
 */
type Visitor = (buf: Buffer, type: number, name: number, value: number, out: ListedSession) => boolean | void;

function walk(buf: Buffer, at: number, visit: Visitor, out: ListedSession): void {
  const end = at + int32(buf, at) - 1;
  let p = at + 4;
  while (p < end) {
    const type = buf[p]!;
    const name = p + 1;
    const value = skipCString(buf, name);
    if (visit(buf, type, name, value, out) === true) return;
    p = value + valueSize(buf, type, value);
  }
}

/** BinData's subtypes (bsonspec.org): 2 is the old binary, whose bytes carry their own int32 length first. */
const BINARY_OLD = 0x02;
const BINARY_UUID = 0x04;

/**
 * _id: { id: BinData(4, 16 bytes), uid: BinData(0) }. Read as the general decoding reads them (toListedSession):
 * an id only as a UUID (bson's toUUID refuses other subtypes), a uid of any subtype by its bytes, the old binary's
 * without their length prefix (as bson deserialises it).
 */
const visitId: Visitor = (buf, type, name, value, out) => {
  if (type !== 0x05) return;
  const len = int32(buf, value);
  const subtype = buf[value + 4];
  if (nameIs(buf, name, 'id')) {
    // Not a UUID: the general decoding throws; so does readListedSession, for want of an id.
    out.id = len === 16 && subtype === BINARY_UUID ? uuid(buf, value + 5) : '';
  } else if (nameIs(buf, name, 'uid')) {
    const from = subtype === BINARY_OLD ? value + 9 : value + 5;
    out.uid = recentUids.get(buf, from, value + 5 + len);
  }
};

/** user: { name: "user@db" } ($listSessions) */
const visitUser: Visitor = (buf, type, name, value, out) => {
  if (type !== 0x02 || !nameIs(buf, name, 'name')) return;
  out.user = readUser(buf, value);
  return true;
};

const visitTop: Visitor = (buf, type, name, value, out) => {
  if (type === 0x03 && nameIs(buf, name, '_id')) walk(buf, value, visitId, out);
  else if (type === 0x09 && nameIs(buf, name, 'lastUse')) out.lastUseMs = int32(buf, value + 4) * 0x100000000 + (int32(buf, value) >>> 0);
  else if (nameIs(buf, name, 'user')) {
    // A string in $listLocalSessions, a {name} document in $listSessions (docs/server-semantics.md#session-listings).
    if (type === 0x02) out.user = readUser(buf, value);
    else if (type === 0x03) walk(buf, value, visitUser, out);
  }
};

/**
 * Reads the document starting at `start` of `bytes` (a whole reply batch, so no per-document view is made).
 */
export function readListedSession(bytes: Uint8Array, start = 0): ListedSession {
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  const out: ListedSession = { id: '', uid: '', lastUseMs: 0, user: '' };
  walk(buf, start, visitTop, out);
  if (!out.id || !out.uid) throw new Error('a session listing document has no _id.id (UUID) or _id.uid (BinData)');
  return out;
}
