/**
 * Reads a $currentOp document straight from its BSON bytes into the port's Activity: the same record as
 * toActivity(BSON.deserialize(bytes)) (activity.ts), without building the document's objects first.
 *
 * A pass reads a few hundred $currentOp documents per member, and deserialising each (a JS object per nested
 * document, a Binary per lsid field, a string per key) cost more than the listings' decoding (profiled: ~12 us a
 * document against ~2 us here). Equality with toActivity is by construction, not by imitation of every corner:
 * the reader first checks that the document is plain (well-formed, every string and key ASCII, no type or shape
 * whose deserialisation has its own rules: regular expressions, code, symbols, undefined, old binary, DBRef
 * documents, numeric keys that JS would order first, duplicate keys where their order counts); any document
 * that is not, and any field of an unexpected type, is handed to BSON.deserialize and toActivity instead, which
 * then decide (or throw) as before. test/activity-reader.test.ts holds the two equal on varied documents.
 * Layout reference: bsonspec.org "Specification Version 1.1".
 */
import { BSON, type Document } from './driver-bson.ts';
import type { Activity } from '../../pass/ports.ts';
import { driverText, NO_STAGES, toActivity, truncatedCommandName } from './activity.ts';
import { int32, recentUids, uuid } from './session-doc-reader.ts';

/** Thrown (one shared object, never seen outside this module) when a field needs the general decoding. */
const GENERAL = new Error('needs BSON.deserialize');

/** Absent field. */
const NONE = -1;

/** Is the document at `at` (ending before `limit`) plain, as the module comment says? Recursive over nested documents and arrays. */
function plain(buf: Buffer, at: number, limit: number, depth: number): boolean {
  if (depth > 100 || at + 5 > limit) return false;
  const size = int32(buf, at);
  if (size < 5 || at + size > limit || buf[at + size - 1] !== 0) return false;
  const end = at + size - 1;
  let p = at + 4;
  while (p < end) {
    const type = buf[p]!;
    let q = p + 1;
    // Key: ASCII C string; "$ref" could make a DBRef of its document.
    while (q < end && buf[q] !== 0) {
      if (buf[q]! >= 0x80) return false;
      q++;
    }
    if (q >= end) return false;
    if (q - p - 1 === 4 && buf[p + 1] === 0x24 && buf[p + 2] === 0x72 && buf[p + 3] === 0x65 && buf[p + 4] === 0x66) return false;
    const v = q + 1;
    let next: number;
    switch (type) {
      case 0x01: case 0x09: case 0x11: case 0x12: next = v + 8; break;
      case 0x02: {
        if (v + 4 > end) return false;
        const n = int32(buf, v);
        if (n <= 0 || v + 4 + n > end || buf[v + 4 + n - 1] !== 0) return false;
        for (let i = v + 4; i < v + 3 + n; i++) if (buf[i]! >= 0x80) return false;
        next = v + 4 + n;
        break;
      }
      case 0x03: case 0x04: {
        if (!plain(buf, v, end, depth + 1)) return false;
        next = v + int32(buf, v);
        break;
      }
      case 0x05: {
        if (v + 5 > end) return false;
        const n = int32(buf, v);
        const subtype = buf[v + 4]!;
        if (n < 0 || subtype === 0x02 || (subtype === 0x04 && n !== 16)) return false;
        next = v + 5 + n;
        break;
      }
      case 0x07: next = v + 12; break;
      case 0x08: if (buf[v] !== 0 && buf[v] !== 1) return false; next = v + 1; break;
      case 0x0a: next = v; break;
      case 0x10: next = v + 4; break;
      case 0x13: next = v + 16; break;
      default: return false;
    }
    if (next > end) return false;
    p = next;
  }
  return p === end;
}

/** Does the key at `at` equal `name`? */
function nameIs(buf: Buffer, at: number, name: string): boolean {
  for (let i = 0; i < name.length; i++) if (buf[at + i] !== name.charCodeAt(i)) return false;
  return buf[at + name.length] === 0;
}

function keyEnd(buf: Buffer, at: number): number {
  while (buf[at] !== 0) at++;
  return at;
}

/** Offset just past the value of BSON type `type` at `v` (the document was checked plain). */
function skip(buf: Buffer, type: number, v: number): number {
  switch (type) {
    case 0x01: case 0x09: case 0x11: case 0x12: return v + 8;
    case 0x02: return v + 4 + int32(buf, v);
    case 0x03: case 0x04: return v + int32(buf, v);
    case 0x05: return v + 5 + int32(buf, v);
    case 0x07: return v + 12;
    case 0x08: return v + 1;
    case 0x10: return v + 4;
    case 0x13: return v + 16;
    default: return v; // null
  }
}

/**
 * A field located in a document: its type and value offset, of the key's LAST occurrence (JS assignment keeps
 * the last value of a repeated key).
 */
interface Field {
  type: number;
  at: number;
}

function absent(): Field {
  return { type: 0, at: NONE };
}

/**
 * Field names to look for in a document, indexed by first byte and length: a key costs one table probe and
 * mostly no comparison, where trying every name on every key was most of a document's reading time.
 */
class Names {
  /** (first byte << 5 | min(length, 31)) -> index + 1 of the first name there, 0 for none. */
  private readonly slots = new Uint8Array(128 << 5);
  /** The next name with the same slot, index + 1, 0 for none. */
  private readonly next: Uint8Array;

  constructor(readonly names: readonly string[]) {
    this.next = new Uint8Array(names.length);
    for (let i = names.length - 1; i >= 0; i--) {
      const slot = Names.slot(names[i]!.charCodeAt(0), names[i]!.length);
      this.next[i] = this.slots[slot]!;
      this.slots[slot] = i + 1;
    }
  }

  private static slot(first: number, length: number): number {
    return ((first & 0x7f) << 5) | (length > 31 ? 31 : length);
  }

  /** The index of the name equal to the key from `k` to `end` (its NUL), or -1. */
  find(buf: Buffer, k: number, end: number): number {
    const length = end - k;
    for (let i = this.slots[((buf[k]! & 0x7f) << 5) | (length > 31 ? 31 : length)]!; i !== 0; i = this.next[i - 1]!) {
      const name = this.names[i - 1]!;
      if (name.length !== length) continue;
      let j = 1;
      while (j < length && buf[k + j] === name.charCodeAt(j)) j++;
      if (j === length) return i - 1;
    }
    return -1;
  }
}

/** Locates `names` in the document at `doc` (last occurrence of each) into `out`, which has one Field per name. */
function locate(buf: Buffer, doc: number, names: Names, out: Field[]): void {
  for (let i = 0; i < out.length; i++) out[i]!.at = NONE;
  const end = doc + int32(buf, doc) - 1;
  let p = doc + 4;
  while (p < end) {
    const type = buf[p]!;
    const k = p + 1;
    let ke = k;
    while (buf[ke] !== 0) ke++;
    const v = ke + 1;
    const i = ke === k ? -1 : names.find(buf, k, ke);
    if (i >= 0) {
      const f = out[i]!;
      f.type = type;
      f.at = v;
    }
    switch (type) {
      case 0x01: case 0x09: case 0x11: case 0x12: p = v + 8; break;
      case 0x02: p = v + 4 + int32(buf, v); break;
      case 0x03: case 0x04: p = v + int32(buf, v); break;
      case 0x05: p = v + 5 + int32(buf, v); break;
      case 0x07: p = v + 12; break;
      case 0x08: p = v + 1; break;
      case 0x10: p = v + 4; break;
      case 0x13: p = v + 16; break;
      default: p = v; // null
    }
  }
}

/** Buffer's own slice methods (in Node's Buffer, not in its type declarations): toString('latin1', ...) less its argument checks. */
interface Slices {
  latin1Slice(start: number, end: number): string;
}

function ascii(buf: Buffer, from: number, to: number): string {
  return (buf as unknown as Slices).latin1Slice(from, to);
}

function str(buf: Buffer, f: Field): string | null {
  return f.at !== NONE && f.type === 0x02 ? ascii(buf, f.at + 4, f.at + 3 + int32(buf, f.at)) : null;
}

function int64(buf: Buffer, at: number): number {
  return int32(buf, at + 4) * 0x100000000 + (int32(buf, at) >>> 0);
}

/** toActivity's num(): numbers as they are, a Long by toNumber(), anything without toNumber 0. */
function num(buf: Buffer, f: Field): number {
  if (f.at === NONE) return 0;
  switch (f.type) {
    case 0x10: return int32(buf, f.at);
    case 0x01: return buf.readDoubleLE(f.at);
    // promoteLongs gives a number in [-2^53, 2^53] and a Long (toNumber()) outside: the same double either way.
    case 0x12: return int64(buf, f.at);
    case 0x11: case 0x13: throw GENERAL; // Timestamp has toNumber(); Decimal128: left to the general path
    default: return 0;
  }
}

function isTrue(buf: Buffer, f: Field): boolean {
  return f.at !== NONE && f.type === 0x08 && buf[f.at] === 1;
}

function isDoc(f: Field): boolean {
  return f.at !== NONE && f.type === 0x03;
}

/** A Date's getTime() (NaN beyond the ECMAScript time range, as new Date gives). */
function dateMs(buf: Buffer, at: number): number {
  const ms = int64(buf, at);
  return Math.abs(ms) > 8.64e15 ? NaN : ms + 0;
}

/** Keys whose JS property order is not their BSON order (array indices come first) or whose key is not plain text. */
function orderedKeys(buf: Buffer, doc: number): boolean {
  const end = doc + int32(buf, doc) - 1;
  for (let p = doc + 4; p < end;) {
    const type = buf[p]!;
    const c = buf[p + 1]!;
    if (c >= 0x30 && c <= 0x39) return false;
    p = skip(buf, type, keyEnd(buf, p + 1) + 1);
  }
  return true;
}

/** Two elements of the document at `doc` with the same key? (Object.values keeps one: the sums below would differ.) */
function repeatsKeys(buf: Buffer, doc: number): boolean {
  const end = doc + int32(buf, doc) - 1;
  for (let p = doc + 4; p < end;) {
    const k = p + 1;
    const ke = keyEnd(buf, k);
    for (let q = doc + 4; q < p;) {
      const k2 = q + 1;
      const ke2 = keyEnd(buf, k2);
      if (ke2 - k2 === ke - k && buf.compare(buf, k, ke, k2, ke2) === 0) return true;
      q = skip(buf, buf[q]!, ke2 + 1);
    }
    p = skip(buf, buf[p]!, ke + 1);
  }
  return false;
}

const TOP = [
  'type', 'lsid', 'opid', 'active', 'secs_running', 'op', 'ns', 'appName', 'client', 'client_s', 'clientMetadata',
  'connectionId', 'effectiveUsers', 'transaction', 'cursor', 'command', 'desc', 'msg', 'planSummary', 'queryShapeHash',
  'waitingForLock', 'lockStats', 'numYields', 'writeConflicts', 'killPending', 'twoPhaseCommitCoordinator',
] as const;
const T = Object.fromEntries(TOP.map((n, i) => [n, i])) as { [K in (typeof TOP)[number]]: number };
const top: Field[] = TOP.map(absent);

const LSID = ['id', 'uid', 'txnUUID', 'txnNumber'] as const;
const lsid: Field[] = LSID.map(absent);
const METADATA = ['driver', 'mongos'] as const;
const metadata: Field[] = METADATA.map(absent);
const DRIVER = ['name', 'version'] as const;
const driver: Field[] = DRIVER.map(absent);
const CLIENT = ['client'] as const;
const mongos: Field[] = CLIENT.map(absent);
const USER = ['user', 'db'] as const;
const user: Field[] = USER.map(absent);
const TXN = ['parameters', 'timeOpenMicros', 'timeActiveMicros', 'timeInactiveMicros', 'timePreparedMicros', 'expiryTime'] as const;
const txn: Field[] = TXN.map(absent);
const PARAMETERS = ['txnNumber'] as const;
const parameters: Field[] = PARAMETERS.map(absent);
const CURSOR = ['lastAccessDate', 'originatingCommand', 'tailable', 'awaitData', 'noCursorTimeout', 'nDocsReturned'] as const;
const cursor: Field[] = CURSOR.map(absent);
const COMMAND = ['$truncated', 'comment', 'pipeline'] as const;
const command: Field[] = COMMAND.map(absent);
const RESOURCE = ['timeAcquiringMicros'] as const;
const resource: Field[] = RESOURCE.map(absent);

const TOP_NAMES = new Names(TOP);
const LSID_NAMES = new Names(LSID);
const METADATA_NAMES = new Names(METADATA);
const DRIVER_NAMES = new Names(DRIVER);
const CLIENT_NAMES = new Names(CLIENT);
const USER_NAMES = new Names(USER);
const TXN_NAMES = new Names(TXN);
const PARAMETERS_NAMES = new Names(PARAMETERS);
const CURSOR_NAMES = new Names(CURSOR);
const COMMAND_NAMES = new Names(COMMAND);
const RESOURCE_NAMES = new Names(RESOURCE);

/** lsid.id: a UUID (BinData 4, 16 bytes), or absent / null (no session). */
function sessionIdOf(buf: Buffer, f: Field): string | null {
  if (f.at === NONE || f.type === 0x0a) return null;
  if (f.type === 0x05 && buf[f.at + 4] === 0x04) return uuid(buf, f.at + 5);
  throw GENERAL;
}

/** lsid.uid: any binary's bytes as hex, or absent / null. */
function uidOf(buf: Buffer, f: Field): string | null {
  if (f.at === NONE || f.type === 0x0a) return null;
  if (f.type === 0x05) return recentUids.get(buf, f.at + 5, f.at + 5 + int32(buf, f.at));
  throw GENERAL;
}

function opidOf(buf: Buffer, f: Field): string {
  if (f.at === NONE || f.type === 0x0a) return '';
  switch (f.type) {
    case 0x02: return str(buf, f)!;
    case 0x10: return String(int32(buf, f.at));
    case 0x01: return String(buf.readDoubleLE(f.at));
    case 0x12: {
      // Promoted to a number within [-2^53, 2^53] (bson's promoteLongs); a Long's decimal text beyond.
      const hi = int32(buf, f.at + 4);
      if ((hi >= -0x200000 && hi < 0x200000) || (hi === 0x200000 && int32(buf, f.at) === 0)) return String(int64(buf, f.at));
      throw GENERAL;
    }
    default: throw GENERAL;
  }
}

/** `${u.user}@${u.db}` of effectiveUsers[0], '' when the array is empty or absent. */
function userOf(buf: Buffer, f: Field): string {
  if (f.at === NONE || f.type !== 0x04) return '';
  const size = int32(buf, f.at);
  if (size === 5) return '';
  const type = buf[f.at + 4]!;
  if (type !== 0x03) throw GENERAL;
  locate(buf, keyEnd(buf, f.at + 5) + 1, USER_NAMES, user);
  const name = str(buf, user[0]!);
  const db = str(buf, user[1]!);
  if (name === null || db === null) throw GENERAL;
  return `${name}@${db}`;
}

/** The command's first key, as for-in gives it (commandNameOf). */
function commandNameAt(buf: Buffer, doc: number): string {
  if (int32(buf, doc) === 5) return '';
  const k = doc + 5;
  if (nameIs(buf, k, '$truncated')) {
    const t = str(buf, command[0]!);
    return t === null ? '' : truncatedCommandName(t);
  }
  return ascii(buf, k, keyEnd(buf, k));
}

function commentAt(buf: Buffer, f: Field): string {
  if (f.at === NONE || f.type === 0x0a) return '';
  switch (f.type) {
    case 0x02: return str(buf, f)!;
    case 0x10: return String(int32(buf, f.at));
    case 0x08: return buf[f.at] === 1 ? 'true' : 'false';
    default: throw GENERAL; // JSON of a BSON value: the general path's
  }
}

function stagesAt(buf: Buffer, f: Field): readonly string[] {
  if (f.at === NONE || f.type !== 0x04 || int32(buf, f.at) === 5) return NO_STAGES;
  const out: string[] = [];
  const end = f.at + int32(buf, f.at) - 1;
  for (let p = f.at + 4; p < end;) {
    const type = buf[p]!;
    const v = keyEnd(buf, p + 1) + 1;
    if (type !== 0x03) out.push('');
    else if (!orderedKeys(buf, v)) throw GENERAL;
    else out.push(int32(buf, v) === 5 ? '' : ascii(buf, v + 5, keyEnd(buf, v + 5)));
    p = skip(buf, type, v);
  }
  return out;
}

/** Sum of lockStats.*.timeAcquiringMicros.* (lockWaitMicrosOf). */
function lockWaitAt(buf: Buffer, f: Field): number {
  if (!isDoc(f)) return 0;
  if (repeatsKeys(buf, f.at)) throw GENERAL;
  let total = 0;
  const end = f.at + int32(buf, f.at) - 1;
  for (let p = f.at + 4; p < end;) {
    const type = buf[p]!;
    const v = keyEnd(buf, p + 1) + 1;
    if (type === 0x03) {
      locate(buf, v, RESOURCE_NAMES, resource);
      const waits = resource[0]!;
      if (isDoc(waits)) {
        if (repeatsKeys(buf, waits.at)) throw GENERAL;
        const wend = waits.at + int32(buf, waits.at) - 1;
        for (let q = waits.at + 4; q < wend;) {
          const wt = buf[q]!;
          const wv = keyEnd(buf, q + 1) + 1;
          // Integers add up the same in any order while every sum stays within 2^53 (exact); a double's sum could
          // depend on the order, which Object.values gives differently for numeric keys.
          const n = wt === 0x10 ? int32(buf, wv) : wt === 0x12 ? int64(buf, wv) : wt === 0x01 || wt === 0x11 || wt === 0x13 ? NaN : 0;
          total += n;
          if (!(Math.abs(n) <= 2 ** 53 && Math.abs(total) <= 2 ** 53)) throw GENERAL;
          q = skip(buf, wt, wv);
        }
      }
    }
    p = skip(buf, type, v);
  }
  return total;
}

function general(buf: Buffer, start: number): Activity {
  return toActivity(BSON.deserialize(buf.subarray(start, start + int32(buf, start))) as Document);
}

/** The Activity of the $currentOp document at `start` of `buf`: toActivity(BSON.deserialize(document)). */
export function readActivity(buf: Buffer, start = 0): Activity {
  return readActivityDirectly(buf, start) ?? general(buf, start);
}

/** The Activity read from the bytes, or null when the document needs the general decoding (exported for the tests). */
export function readActivityDirectly(buf: Buffer, start = 0): Activity | null {
  // The reader uses Buffer's own methods (latin1Slice, readDoubleLE, compare); other bytes take the general path.
  if (!Buffer.isBuffer(buf) || !plain(buf, start, buf.length, 0)) return null;
  try {
    return readPlain(buf, start);
  } catch (e) {
    if (e === GENERAL) return null;
    throw e;
  }
}

function readPlain(buf: Buffer, start: number): Activity {
  locate(buf, start, TOP_NAMES, top);
  const typeText = str(buf, top[T.type]!);
  const op = str(buf, top[T.op]!) ?? '';

  // lsid: a document, or nothing (another type's .id / .uid would be the general path's business).
  const l = top[T.lsid]!;
  let sessionId: string | null = null;
  let uid: string | null = null;
  let childSession = false;
  if (isDoc(l)) {
    locate(buf, l.at, LSID_NAMES, lsid);
    sessionId = sessionIdOf(buf, lsid[0]!);
    uid = uidOf(buf, lsid[1]!);
    childSession = lsid[2]!.at !== NONE || lsid[3]!.at !== NONE;
  } else if (l.at !== NONE && l.type !== 0x0a) throw GENERAL;

  // clientMetadata.driver and clientMetadata.mongos.client.
  const m = top[T.clientMetadata]!;
  let viaRouter: string | null = null;
  let clientDriver: string | null = null;
  if (isDoc(m)) {
    locate(buf, m.at, METADATA_NAMES, metadata);
    const d = metadata[0]!;
    const r = metadata[1]!;
    if (isDoc(r)) {
      locate(buf, r.at, CLIENT_NAMES, mongos);
      viaRouter = str(buf, mongos[0]!);
    } else if (r.at !== NONE && r.type !== 0x0a) throw GENERAL;
    if (isDoc(d)) {
      locate(buf, d.at, DRIVER_NAMES, driver);
      const name = str(buf, driver[0]!);
      if (name !== null) clientDriver = driverText(name, str(buf, driver[1]!) ?? '');
    }
  } else if (m.at !== NONE && m.type !== 0x0a) throw GENERAL;
  const client = viaRouter ?? str(buf, top[T.client]!) ?? str(buf, top[T.client_s]!);
  const appName = str(buf, top[T.appName]!) ?? (client !== null ? '' : null);

  // transaction
  const t = top[T.transaction]!;
  let transaction: Activity['txn'] = null;
  if (isDoc(t)) {
    locate(buf, t.at, TXN_NAMES, txn);
    const p = txn[0]!;
    let txnNumber = -1;
    if (isDoc(p)) {
      locate(buf, p.at, PARAMETERS_NAMES, parameters);
      if (parameters[0]!.at !== NONE) txnNumber = num(buf, parameters[0]!);
    } else if (p.at !== NONE && p.type !== 0x0a) throw GENERAL;
    const expiry = txn[5]!;
    transaction = {
      txnNumber,
      openSeconds: num(buf, txn[1]!) / 1e6,
      activeSeconds: num(buf, txn[2]!) / 1e6,
      inactiveSeconds: num(buf, txn[3]!) / 1e6,
      prepared: txn[4]!.at !== NONE,
      expiresAtMs: expiry.at === NONE ? 0 : expiry.type === 0x02 ? Date.parse(str(buf, expiry)!) || 0 : expiry.type === 0x09 ? dateMs(buf, expiry.at) : 0,
    };
  } else if (t.at !== NONE && t.type !== 0x0a && !(t.type === 0x08 && buf[t.at] === 0)) throw GENERAL;

  // cursor and the command the document is about (commandOf).
  const c = top[T.cursor]!;
  let cursorAt = NONE;
  let originating = NONE;
  if (isDoc(c)) {
    locate(buf, c.at, CURSOR_NAMES, cursor);
    cursorAt = c.at;
    if (isDoc(cursor[1]!)) originating = cursor[1]!.at;
  }
  const lastAccess = cursor[0]!;
  const cursorLastAccessMs = cursorAt !== NONE && lastAccess.at !== NONE && lastAccess.type === 0x09 ? dateMs(buf, lastAccess.at) : 0;
  const cmdField = top[T.command]!;
  const ownCommand = isDoc(cmdField) ? cmdField.at : NONE;
  const cmd = typeText === 'idleCursor' || op === 'getmore' ? (originating !== NONE ? originating : ownCommand) : ownCommand;
  let commandName = '';
  let comment = '';
  let stages = NO_STAGES;
  if (cmd !== NONE) {
    if (!orderedKeys(buf, cmd)) throw GENERAL;
    locate(buf, cmd, COMMAND_NAMES, command);
    commandName = commandNameAt(buf, cmd);
    comment = commentAt(buf, command[1]!);
    stages = stagesAt(buf, command[2]!);
  }

  return {
    type: typeText === 'idleSession' || typeText === 'idleCursor' ? typeText : 'op',
    sessionId,
    uid,
    childSession,
    opid: opidOf(buf, top[T.opid]!),
    active: isTrue(buf, top[T.active]!),
    secsRunning: num(buf, top[T.secs_running]!),
    op,
    ns: str(buf, top[T.ns]!) ?? '',
    appName,
    client,
    clientDriver,
    connectionId: num(buf, top[T.connectionId]!),
    user: userOf(buf, top[T.effectiveUsers]!),
    txn: transaction,
    cursorLastAccessMs,
    commandName,
    comment,
    stages,
    desc: str(buf, top[T.desc]!) ?? '',
    msg: str(buf, top[T.msg]!) ?? '',
    planSummary: str(buf, top[T.planSummary]!) ?? '',
    queryShapeHash: str(buf, top[T.queryShapeHash]!) ?? '',
    waitingForLock: isTrue(buf, top[T.waitingForLock]!),
    lockWaitMicros: lockWaitAt(buf, top[T.lockStats]!),
    numYields: num(buf, top[T.numYields]!),
    writeConflicts: num(buf, top[T.writeConflicts]!),
    killPending: isTrue(buf, top[T.killPending]!),
    coordinator: isDoc(top[T.twoPhaseCommitCoordinator]!),
    tailable: cursorAt !== NONE && isTrue(buf, cursor[2]!),
    awaitData: cursorAt !== NONE && isTrue(buf, cursor[3]!),
    noCursorTimeout: cursorAt !== NONE && isTrue(buf, cursor[4]!),
    docsReturned: cursorAt !== NONE ? num(buf, cursor[5]!) : 0,
  };
}
