/**
 * Recorded documents (canonical Extended JSON, parsed) back into the port's records, through the same
 * readers the live adapter uses: a listing document is turned back into its BSON bytes and read by
 * readListedSession, a $currentOp document is deserialised as the driver would and read by toActivity. A
 * fact added to the adapter later is then computed from old snapshots too.
 *
 * bson's Extended JSON deserialiser (JSON.stringify, then JSON.parse with a reviver, then a BSON round trip to
 * get the driver's value types) cost ~50 µs a document and was most of a backtest's time. So the two common
 * cases take a direct path, each falling back to the general one for anything unusual:
 *  - listing documents in the recorded shape, {_id: {id: $binary, uid: $binary}, lastUse: $date, user}, are
 *    read from the parsed JSON straight into the record;
 *  - $currentOp documents are converted value by value into what the driver's default deserialisation gives
 *    (promoteValues, promoteLongs: numbers, Dates, Binary/UUID, ObjectId, Timestamp); a type that is rare in
 *    $currentOp (decimal, regex, code, DBRef, ...) sends the whole document down the general path.
 * test/snapshot.ejson.test.ts holds each direct path to the general one.
 */
import { Binary, BSON, Long, ObjectId, Timestamp, UUID } from '../mongodb/driver-bson.ts';
import { toActivity } from '../mongodb/activity.ts';
import { readListedSession } from '../mongodb/session-doc-reader.ts';
import type { Activity, ListedSession } from '../../pass/ports.ts';
import { SnapshotError } from '../../util/errors.ts';
import type { RecordedDocument } from './reader.ts';

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** The bytes of {"$binary": {"base64", "subType"}}, or null for any other shape. */
function binaryBase64(v: unknown): string | null {
  if (!isObject(v)) return null;
  const b = v.$binary;
  return isObject(b) && typeof b.base64 === 'string' && typeof b.subType === 'string' && b.subType !== '02' ? b.base64 : null;
}

/** uid digests repeat (one per user): decoded once. */
const UID_HEX = new Map<string, string>();
/** Bounds the cache: a listing has a handful of users, never this many (the cache only saves time). */
const UID_CACHE_LIMIT = 10_000;

function uidHex(base64: string): string {
  let hex = UID_HEX.get(base64);
  if (hex === undefined) {
    hex = Buffer.from(base64, 'base64').toString('hex');
    if (UID_HEX.size < UID_CACHE_LIMIT) UID_HEX.set(base64, hex);
  }
  return hex;
}

function uuidOf(base64: string): string | null {
  const h = Buffer.from(base64, 'base64').toString('hex');
  if (h.length !== 32) return null;
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** {"$date": {"$numberLong": "ms"}} (canonical) or {"$date": "ISO"} (relaxed); undefined for another shape, 0 for none. */
function dateMs(v: unknown): number | undefined {
  if (v === undefined) return 0;
  if (!isObject(v)) return undefined;
  const d = v.$date;
  if (isObject(d) && typeof d.$numberLong === 'string') return Number(d.$numberLong);
  if (typeof d === 'string') return Date.parse(d);
  return undefined;
}

/** The fast path; null when the document is not in the recorded shape. */
function fastListed(doc: unknown): ListedSession | null {
  if (!isObject(doc) || !isObject(doc._id)) return null;
  // Only a UUID (subtype 4) is a session id, live as here (session-doc-reader.ts): others take the general path, which refuses them.
  const idB64 = (doc._id.id as { $binary?: { subType?: unknown } } | undefined)?.$binary?.subType === '04' ? binaryBase64(doc._id.id) : null;
  const uidB64 = binaryBase64(doc._id.uid);
  const lastUseMs = dateMs(doc.lastUse);
  if (idB64 === null || uidB64 === null || lastUseMs === undefined || Number.isNaN(lastUseMs)) return null;
  const id = uuidOf(idB64);
  if (id === null) return null;
  const u = doc.user;
  const user = typeof u === 'string' ? u : isObject(u) && typeof u.name === 'string' ? u.name : u === undefined || isObject(u) ? '' : null;
  if (user === null) return null;
  return { id, uid: uidHex(uidB64), lastUseMs, user };
}

function wrap(where: string, e: unknown, what: string): SnapshotError {
  return new SnapshotError(`${where}: the ${what} cannot be read (${(e as Error).message}); the snapshot is damaged or was edited`, { cause: e });
}

function parse(r: RecordedDocument, what: string): unknown {
  try {
    return JSON.parse(r.text);
  } catch (e) {
    throw new SnapshotError(`${r.where}: the ${what} is not valid JSON (${(e as Error).message}); the file is damaged: record the snapshot again`, { cause: e });
  }
}

/** Base64 digit values by character code (-1: not a base64 digit; "=" is padding, handled apart). */
const BASE64_DIGIT = (() => {
  const t = new Int8Array(128).fill(-1);
  const digits = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  for (let i = 0; i < digits.length; i++) t[digits.charCodeAt(i)] = i;
  return t;
})();
const HEX_DIGIT = Buffer.from('0123456789abcdef');
/** The UUID being written, as ASCII: one flat string per id (a Map key hashes it without flattening). */
const UUID_TEXT = Buffer.alloc(36, 0x2d);

/**
 * Two base64 digits (by their character codes, c1 * 128 + c2) as their 12 bits; -1 when either is not a
 * base64 digit. 16 K entries: a UUID's 22 digits are read as 11 pairs, three hex digits each.
 */
const BASE64_PAIR = (() => {
  const t = new Int16Array(128 * 128).fill(-1);
  for (let a = 0; a < 128; a++) {
    const x = BASE64_DIGIT[a]!;
    if (x < 0) continue;
    for (let b = 0; b < 128; b++) {
      const y = BASE64_DIGIT[b]!;
      if (y >= 0) t[a * 128 + b] = (x << 6) | y;
    }
  }
  return t;
})();

/** Where hex digit h (0..31) of the 128 bits goes in the dashed text (8-4-4-4-12). */
const UUID_PLACE = Uint8Array.from({ length: 33 }, (_, h) => h + Number(h >= 8) + Number(h >= 12) + Number(h >= 16) + Number(h >= 20));

/**
 * The UUID string of a 16-byte binary given as 22 base64 digits and "==" at `at` of `text`; null when a digit
 * is not base64. Read two digits at a time into the dashed hex text: no intermediate strings per id.
 */
function uuidOfBase64At(text: string, at: number): string | null {
  for (let k = 0; k < 11; k++) {
    const i = at + 2 * k;
    const c1 = text.charCodeAt(i);
    const c2 = text.charCodeAt(i + 1);
    const v = c1 < 128 && c2 < 128 ? BASE64_PAIR[c1 * 128 + c2]! : -1;
    if (v < 0) return null;
    const h = 3 * k;
    UUID_TEXT[UUID_PLACE[h]!] = HEX_DIGIT[v >> 8]!;
    UUID_TEXT[UUID_PLACE[h + 1]!] = HEX_DIGIT[(v >> 4) & 15]!;
    // The 33rd hex digit (the last pair's third) is past the 128 bits: the two padding bits of the last digit.
    if (h + 2 < 32) UUID_TEXT[UUID_PLACE[h + 2]!] = HEX_DIGIT[v & 15]!;
  }
  return UUID_TEXT.toString('latin1', 0, 36);
}

function isBase64Text(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c !== 0x3d && (c >= 128 || BASE64_DIGIT[c]! < 0)) return false;
  }
  return true;
}

/**
 * The listing line exactly as the recorder writes it (ejson.ts, canonical, fields in the server's order):
 *
 *   {"_id":{"id":{"$binary":{"base64":"<22 digits>==","subType":"04"}},"uid":{"$binary":{"base64":"<digits>","subType":"00"}}},
 *    "lastUse":{"$date":{"$numberLong":"<ms>"}}[,"user":"<name>" | ,"user":{"name":"<name>"}]}
 *
 * read at fixed places, without parsing it as JSON (the bulk of a snapshot: one line per session). Anything
 * else (null) is parsed: a name with an escape, another field order, an edited file.
 */
const LINE_START = '{"_id":{"id":{"$binary":{"base64":"';
const AFTER_ID = '==","subType":"04"}},"uid":{"$binary":{"base64":"';
const AFTER_UID = '","subType":"00"}}},"lastUse":{"$date":{"$numberLong":"';
const AFTER_LAST_USE = '"}}';
const USER_TEXT = ',"user":"';
const USER_NAME = ',"user":{"name":"';
/** At most 16 digits: what the line's pattern allowed before (epoch ms until the year 318857). */
const MAX_MS_DIGITS = 16;

let lastUidBase64 = '';
let lastUidHex = '';

function recordedListing(t: string): ListedSession | null {
  if (!t.startsWith(LINE_START)) return null;
  const idAt = LINE_START.length;
  if (!t.startsWith(AFTER_ID, idAt + 22)) return null;
  const id = uuidOfBase64At(t, idAt);
  if (id === null) return null;
  const uidAt = idAt + 22 + AFTER_ID.length;
  const uidEnd = t.indexOf('"', uidAt);
  if (uidEnd < 0 || !t.startsWith(AFTER_UID, uidEnd)) return null;
  // Sessions share a handful of uids (one per user): the last one is compared before the cache is asked.
  const uidBase64 = t.slice(uidAt, uidEnd);
  let uid: string;
  if (uidBase64 === lastUidBase64) uid = lastUidHex;
  else {
    if (!isBase64Text(uidBase64)) return null;
    uid = uidHex(uidBase64);
    lastUidBase64 = uidBase64;
    lastUidHex = uid;
  }
  const msAt = uidEnd + AFTER_UID.length;
  let p = t.charCodeAt(msAt) === 0x2d ? msAt + 1 : msAt;
  const digitsAt = p;
  while (p < t.length && t.charCodeAt(p) >= 0x30 && t.charCodeAt(p) <= 0x39) p++;
  if (p === digitsAt || p - digitsAt > MAX_MS_DIGITS || !t.startsWith(AFTER_LAST_USE, p)) return null;
  const lastUseMs = Number(t.slice(msAt, p));
  p += AFTER_LAST_USE.length;
  const last = t.length - 1;
  if (t.charCodeAt(last) !== 0x7d) return null;
  if (p === last) return { id, uid, lastUseMs, user: '' };
  let close: number;
  let user: string;
  if (t.startsWith(USER_TEXT, p)) {
    close = t.indexOf('"', p + USER_TEXT.length);
    if (close + 1 !== last) return null;
    user = t.slice(p + USER_TEXT.length, close);
  } else if (t.startsWith(USER_NAME, p)) {
    close = t.indexOf('"', p + USER_NAME.length);
    if (close + 2 !== last || t.charCodeAt(close + 1) !== 0x7d) return null;
    user = t.slice(p + USER_NAME.length, close);
  } else return null;
  return user.includes('\\') ? null : { id, uid, lastUseMs, user };
}

/** A recorded $listSessions / $listLocalSessions document as the adapter would have read it live. */
export function listedFromRecord(r: RecordedDocument, what = 'session listing document'): ListedSession {
  const recorded = recordedListing(r.text);
  if (recorded) return recorded;
  const doc = parse(r, what);
  const fast = fastListed(doc);
  if (fast) return fast;
  try {
    return readListedSession(BSON.serialize(BSON.EJSON.deserialize(doc as Json, { relaxed: false })));
  } catch (e) {
    throw wrap(r.where, e, what);
  }
}

/** Thrown by driverValue for a value it leaves to the general path. */
const GENERAL = Symbol('general path');

/** Extended JSON type wrappers driverValue leaves to the general path (and $ref/$id: a DBRef). */
const RARE_WRAPPERS = new Set(['$numberDecimal', '$regularExpression', '$regex', '$code', '$symbol', '$dbPointer', '$minKey', '$maxKey', '$undefined', '$uuid', '$ref', '$id', '$type']);

/** ±2^53: the int64 range the driver turns into numbers (bson's deserializer, promoteLongs). */
const SAFE_LONG_MAX = Long.fromNumber(2 ** 53);
const SAFE_LONG_MIN = Long.fromNumber(-(2 ** 53));

function wrapper(o: Json, key: string): unknown {
  const v = o[key];
  switch (key) {
    case '$numberInt':
    case '$numberDouble':
      if (typeof v === 'string') return Number(v);
      break;
    case '$numberLong': {
      if (typeof v !== 'string') break;
      // Up to 15 digits a number is exact and well inside ±2^53.
      if (v.length <= 15 && /^-?\d+$/.test(v)) return Number(v);
      const l = Long.fromString(v);
      return l.lessThanOrEqual(SAFE_LONG_MAX) && l.greaterThanOrEqual(SAFE_LONG_MIN) ? l.toNumber() : l;
    }
    case '$date':
      if (isObject(v) && typeof v.$numberLong === 'string') return new Date(Number(v.$numberLong));
      if (typeof v === 'string') return new Date(Date.parse(v));
      break;
    case '$binary':
      if (isObject(v) && typeof v.base64 === 'string' && typeof v.subType === 'string') {
        const bytes = Buffer.from(v.base64, 'base64');
        const subType = parseInt(v.subType, 16);
        // A 16-byte subtype-4 binary is a UUID to the driver (bson's deserializer: UUID.isValid, toUUID).
        return subType === Binary.SUBTYPE_UUID && bytes.length === 16 ? new UUID(bytes) : new Binary(bytes, subType);
      }
      break;
    case '$oid':
      if (typeof v === 'string') return new ObjectId(v);
      break;
    case '$timestamp':
      if (isObject(v) && typeof v.t === 'number' && typeof v.i === 'number') return new Timestamp({ t: v.t, i: v.i });
      break;
    default:
      if (RARE_WRAPPERS.has(key)) throw GENERAL;
      return undefined;
  }
  throw GENERAL;
}

/**
 * A parsed Extended JSON value as the driver's default deserialisation gives it (GENERAL when unsure). The
 * parsed tree is converted in place: it was just parsed for this, and rebuilding every object cost more than
 * the parse.
 */
function driverValue(v: unknown): unknown {
  if (v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const x = v[i];
      if (x !== null && typeof x === 'object') v[i] = driverValue(x);
    }
    return v;
  }
  const o = v as Json;
  let first = true;
  for (const k in o) {
    if (first && k.charCodeAt(0) === 36 /* $ */) {
      const converted = wrapper(o, k);
      // A "$"-key that is no type wrapper (a query operator such as $gt in a command) is an ordinary field.
      if (converted !== undefined) {
        for (const other in o) if (other !== k) throw GENERAL;
        return converted;
      }
    }
    first = false;
    // A document with $ref and $id anywhere is a DBRef to bson's deserializer (toPotentialDbRef), whatever its other
    // fields: left to the general path, which makes it one as the live decoding does.
    if (k.charCodeAt(0) === 36 /* $ */ && (k === '$ref' || k === '$id')) throw GENERAL;
    const x = o[k];
    if (x !== null && typeof x === 'object') o[k] = driverValue(x);
  }
  return o;
}

/** The general path: bson's Extended JSON, then a BSON round trip for the driver's value types. */
function generalDriverDocument(doc: Json): BSON.Document {
  return BSON.deserialize(BSON.serialize(BSON.EJSON.deserialize(doc, { relaxed: false })));
}

/** A recorded $currentOp document (parsed from `text`) as the driver would have deserialised it live. */
export function currentOpDocument(doc: Json, text: string): BSON.Document {
  try {
    return driverValue(doc) as BSON.Document;
  } catch (e) {
    if (e !== GENERAL) throw e;
    // The direct conversion may have changed part of the tree: the general path starts from the text again.
    return generalDriverDocument(JSON.parse(text) as Json);
  }
}

export { generalDriverDocument };

/**
 * A recorded $currentOp document as the adapter would have read it live (the driver's default deserialisation).
 * `place` sees the document too: through mongos it names the shard and member that reported it.
 */
export function activityFromRecord(r: RecordedDocument, what = '$currentOp document', place?: (doc: BSON.Document, a: Activity) => Activity): Activity {
  const doc = parse(r, what);
  if (!isObject(doc)) throw wrap(r.where, new Error('not a document'), what);
  try {
    const d = currentOpDocument(doc, r.text);
    return place ? place(d, toActivity(d)) : toActivity(d);
  } catch (e) {
    throw wrap(r.where, e, what);
  }
}
