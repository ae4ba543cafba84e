/**
 * Recorded documents (canonical Extended JSON, parsed) back into the port's records, through the same
 * readers the live adapter uses: a listing document is turned back into its BSON bytes and read by
 * readListedSession, a $currentOp document is deserialised as the driver would and read by toActivity. A
 * fact added to the adapter later is then computed from old snapshots too.
 *
 * Listings are most of a snapshot (a 10,000-session snapshot is ~10,000 listing documents), and Extended
 * JSON's generic deserialiser costs ~10 µs a document, which was most of a backtest's time. So the listing
 * documents the recorder writes, {_id: {id: $binary, uid: $binary}, lastUse: $date, user}, are read from
 * the parsed JSON directly; any other shape takes the general path. test/snapshot.decode.test.ts holds the
 * two paths to the same records.
 */
import { BSON } from 'mongodb';
import { toActivity } from '../mongodb/adapter.ts';
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
  const idB64 = binaryBase64(doc._id.id);
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
  return new SnapshotError(`${where}: ${what} cannot be read (${(e as Error).message}); the snapshot is damaged or was edited`, { cause: e });
}

/** A recorded $listSessions / $listLocalSessions document as the adapter would have read it live. */
export function listedFromRecord(r: RecordedDocument): ListedSession {
  const fast = fastListed(r.doc);
  if (fast) return fast;
  try {
    return readListedSession(BSON.serialize(BSON.EJSON.deserialize(r.doc as Json, { relaxed: false })));
  } catch (e) {
    throw wrap(r.where, e, 'a session listing document');
  }
}

/** A recorded $currentOp document as the adapter would have read it live (the driver's default deserialisation). */
export function activityFromRecord(r: RecordedDocument): Activity {
  if (!isObject(r.doc)) throw wrap(r.where, new Error('not a document'), 'a $currentOp document');
  try {
    return toActivity(BSON.deserialize(BSON.serialize(BSON.EJSON.deserialize(r.doc, { relaxed: false }))));
  } catch (e) {
    throw wrap(r.where, e, 'a $currentOp document');
  }
}
