/**
 * $currentOp documents (and the driver's session listing documents) mapped into the port's records: what the
 * reaper reads of the server's reports, in one place for the live adapter (adapter.ts) and the snapshot replay
 * (src/adapters/snapshot/decode.ts). Needs only bson's value types, not the driver: a backtest's worker
 * threads load this without the MongoDB driver.
 */
import { Binary, type Document } from './driver-bson.ts';
import { MongoStageError } from '../../util/errors.ts';
import type { Activity, ListedSession } from '../../pass/ports.ts';
import { uuid } from './session-doc-reader.ts';

/**
 * Only what toActivity reads. `command` and `cursor.originatingCommand` are projected whole, since the command
 * name is their first key, which no projection path can name (the server reports the command as the client sent
 * it, curop.cpp reportState); COMMAND_PAYLOAD then removes their arguments, which can be most of a document (an
 * insert's documents) and which toActivity never reads; client metadata only as its driver name and version.
 */
export const CURRENT_OP_PROJECTION = {
  type: 1, lsid: 1, opid: 1, active: 1, secs_running: 1, op: 1, ns: 1, appName: 1, client: 1, client_s: 1,
  connectionId: 1, desc: 1, msg: 1, planSummary: 1, queryShapeHash: 1, command: 1, killPending: 1,
  waitingForLock: 1, numYields: 1, writeConflicts: 1, lockStats: 1, twoPhaseCommitCoordinator: 1,
  'clientMetadata.driver.name': 1, 'clientMetadata.driver.version': 1, 'clientMetadata.mongos.client': 1,
  'effectiveUsers.user': 1, 'effectiveUsers.db': 1,
  'transaction.parameters.txnNumber': 1, 'transaction.timeOpenMicros': 1, 'transaction.timeActiveMicros': 1, 'transaction.timeInactiveMicros': 1,
  'transaction.timePreparedMicros': 1, 'transaction.expiryTime': 1,
  'cursor.lastAccessDate': 1, 'cursor.originatingCommand': 1, 'cursor.tailable': 1, 'cursor.awaitData': 1,
  'cursor.noCursorTimeout': 1, 'cursor.nDocsReturned': 1,
} as const;

/**
 * Command arguments toActivity does not read (it reads the first key, `comment` and `pipeline`): removed from
 * `command` and `cursor.originatingCommand` on the server ($unset, MongoDB 4.2+), so the reply stays small and
 * the driver builds no objects for them.
 */
const COMMAND_PAYLOAD = [
  // ($db, $clusterTime and $readPreference stay: a field path cannot name a field starting with "$".)
  'lsid', 'readConcern', 'writeConcern', 'txnNumber', 'autocommit', 'startTransaction',
  'filter', 'projection', 'sort', 'hint', 'let', 'collation', 'documents', 'updates', 'deletes', 'query', 'update', 'indexes', 'cursor',
];
export const CURRENT_OP_UNSET = COMMAND_PAYLOAD.flatMap((f) => [`command.${f}`, `cursor.originatingCommand.${f}`]);

export function uuidString(b: unknown): string {
  if (b instanceof Binary) {
    // bson's toUUID().toString() builds a UUID and five sub-arrays per call; the string is the same.
    if (b.sub_type === Binary.SUBTYPE_UUID && b.position === 16) return uuid(Buffer.from(b.buffer.buffer, b.buffer.byteOffset, 16), 0);
    return b.toUUID().toString();
  }
  throw new MongoStageError(`expected a UUID (BinData subtype 4) in a session id, got ${typeof b}`);
}

/** A session id's 16 bytes, for a command's lsid filter or killSessions element. */
export function uuidBytes(id: string): Buffer {
  const hex = id.replace(/-/g, '');
  if (!/^[0-9a-f]{32}$/i.test(hex)) throw new MongoStageError(`session id "${id}" is not a UUID`);
  return Buffer.from(hex, 'hex');
}

function hexOf(b: unknown): string {
  if (b instanceof Binary) return Buffer.from(b.buffer).subarray(0, b.length()).toString('hex');
  throw new MongoStageError(`expected a uid (BinData subtype 0) in a session id, got ${typeof b}`);
}

function num(v: unknown): number {
  if (typeof v === 'number') return v;
  if (v && typeof v === 'object' && 'toNumber' in v && typeof (v as { toNumber: unknown }).toNumber === 'function') return (v as { toNumber(): number }).toNumber();
  return 0;
}

export function toListedSession(doc: Document): ListedSession {
  const user = typeof doc.user === 'string' ? doc.user : typeof doc.user?.name === 'string' ? doc.user.name : '';
  const uid = hexOf(doc._id?.uid);
  // An empty uid names no user: refused, as the raw reader (session-doc-reader.ts) refuses it.
  if (uid === '') throw new MongoStageError('a session listing document has an empty _id.uid');
  return { id: uuidString(doc._id?.id), uid, lastUseMs: doc.lastUse instanceof Date ? doc.lastUse.getTime() : 0, user };
}

/**
 * The command a document is about: `cursor.originatingCommand` for getMore operations and idle cursors (the
 * find or aggregate that opened the cursor), else `command`. A command cut short by truncateOps is
 * {$truncated: "{ find: \"c\", ... }", comment}: its name is read from the text.
 */
function commandOf(doc: Document): Document | null {
  const originating = doc.cursor?.originatingCommand;
  const cmd = doc.type === 'idleCursor' || doc.op === 'getmore' ? (isDocument(originating) ? originating : doc.command) : doc.command;
  return isDocument(cmd) ? cmd : null;
}

/**
 * A BSON document, deserialised: a plain object. Not an array, and not one of bson's value classes (Binary, Long,
 * ObjectId, Timestamp, a Date, a RegExp, a DBRef...): their own properties are not fields, and a `command` that is
 * not a document has no command name (the raw reader, activity-reader.ts, reads only type 0x03 as a document).
 */
function isDocument(v: unknown): v is Document {
  return v !== null && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype;
}

/** The command name at the start of the text of a command the server truncated (`{ find: "c", ... }`); '' when none. */
export function truncatedCommandName(text: string): string {
  return /^\{ ?"?([A-Za-z_$][\w$]*)/.exec(text)?.[1] ?? '';
}

function commandNameOf(cmd: Document | null): string {
  if (!cmd) return '';
  for (const key in cmd) {
    if (key === '$truncated') return typeof cmd.$truncated === 'string' ? truncatedCommandName(cmd.$truncated) : '';
    return key;
  }
  return '';
}

function commentOf(cmd: Document | null): string {
  const c: unknown = cmd?.comment;
  if (c === undefined || c === null) return '';
  return typeof c === 'string' ? c : JSON.stringify(c);
}

export const NO_STAGES: readonly string[] = Object.freeze([]);

function stagesOf(cmd: Document | null): readonly string[] {
  const pipeline: unknown = cmd?.pipeline;
  if (!Array.isArray(pipeline) || pipeline.length === 0) return NO_STAGES;
  return pipeline.map((stage) => (isDocument(stage) ? Object.keys(stage)[0] ?? '' : ''));
}

/** lockStats: { <resource>: { acquireCount: {...}, timeAcquiringMicros: { r: n, w: n, ... } } } (lock_stats.cpp). */
function lockWaitMicrosOf(lockStats: unknown): number {
  if (!isDocument(lockStats)) return 0;
  let total = 0;
  for (const resource of Object.values(lockStats)) {
    const waits = isDocument(resource) ? resource.timeAcquiringMicros : undefined;
    if (isDocument(waits)) for (const v of Object.values(waits)) total += num(v);
  }
  return total;
}

/** "name version" per driver seen: a pass meets a handful of drivers in many documents. */
const driverNames = new Map<string, Map<string, string>>();

function driverOf(driver: unknown): string | null {
  if (!isDocument(driver) || typeof driver.name !== 'string') return null;
  return driverText(driver.name, typeof driver.version === 'string' ? driver.version : '');
}

/** clientDriver's text for a driver's name and version ('' when it gave none). */
export function driverText(name: string, version: string): string {
  let byVersion = driverNames.get(name);
  if (!byVersion) driverNames.set(name, (byVersion = new Map()));
  let text = byVersion.get(version);
  if (text === undefined) byVersion.set(version, (text = version ? `${name} ${version}` : name));
  return text;
}

/**
 * The application's address. Through a router, `client` (renamed `client_s` in a document the router passed on)
 * is the router's own connection to the shard; the router records the application's address in the
 * metadata it forwards as clientMetadata.mongos.client (ClientMetadata::setMongoSMetadata,
 * src/mongo/rpc/metadata/client_metadata.cpp, called by the router's hello with the client's address). A document with none of them names no client.
 */
function clientOf(doc: Document): string | null {
  const viaRouter: unknown = doc.clientMetadata?.mongos?.client;
  if (typeof viaRouter === 'string') return viaRouter;
  return typeof doc.client === 'string' ? doc.client : typeof doc.client_s === 'string' ? doc.client_s : null;
}

export function toActivity(doc: Document): Activity {
  const u = Array.isArray(doc.effectiveUsers) && doc.effectiveUsers[0] ? doc.effectiveUsers[0] : null;
  // A transaction report is a document (curop.cpp, TransactionParticipant reportState); anything else is none.
  const t = isDocument(doc.transaction) ? doc.transaction : null;
  const client = clientOf(doc);
  const driver = doc.clientMetadata?.driver;
  const cmd = commandOf(doc);
  const cursor = isDocument(doc.cursor) ? doc.cursor : null;
  return {
    type: doc.type === 'idleSession' || doc.type === 'idleCursor' ? doc.type : 'op',
    sessionId: doc.lsid?.id ? uuidString(doc.lsid.id) : null,
    uid: doc.lsid?.uid ? hexOf(doc.lsid.uid) : null,
    // An internal child session's lsid is its parent's {id, uid} plus txnNumber and/or txnUUID (5.0+).
    childSession: doc.lsid?.txnUUID !== undefined || doc.lsid?.txnNumber !== undefined,
    opid: doc.opid === undefined || doc.opid === null ? '' : String(doc.opid),
    active: doc.active === true,
    secsRunning: num(doc.secs_running),
    op: typeof doc.op === 'string' ? doc.op : '',
    ns: typeof doc.ns === 'string' ? doc.ns : '',
    // Through mongos the shard's client address is renamed client_s (docs/server-semantics.md#through-mongos). A
    // document that names a client but no appName comes from a client that gave none (""); one that names no
    // client says nothing (null).
    appName: typeof doc.appName === 'string' ? doc.appName : client !== null ? '' : null,
    client,
    clientDriver: driverOf(driver),
    connectionId: num(doc.connectionId),
    user: u ? `${u.user}@${u.db}` : '',
    txn: t ? {
      txnNumber: t.parameters?.txnNumber === undefined ? -1 : num(t.parameters.txnNumber),
      openSeconds: num(t.timeOpenMicros) / 1e6,
      activeSeconds: num(t.timeActiveMicros) / 1e6,
      inactiveSeconds: num(t.timeInactiveMicros) / 1e6,
      // A prepared transaction is recognised by timePreparedMicros (docs/server-semantics.md#idle-session-documents).
      prepared: t.timePreparedMicros !== undefined,
      expiresAtMs: typeof t.expiryTime === 'string' ? Date.parse(t.expiryTime) || 0 : t.expiryTime instanceof Date ? t.expiryTime.getTime() : 0,
    } : null,
    cursorLastAccessMs: cursor?.lastAccessDate instanceof Date ? cursor.lastAccessDate.getTime() : 0,
    commandName: commandNameOf(cmd),
    comment: commentOf(cmd),
    stages: stagesOf(cmd),
    desc: typeof doc.desc === 'string' ? doc.desc : '',
    msg: typeof doc.msg === 'string' ? doc.msg : '',
    planSummary: typeof doc.planSummary === 'string' ? doc.planSummary : '',
    queryShapeHash: typeof doc.queryShapeHash === 'string' ? doc.queryShapeHash : '',
    waitingForLock: doc.waitingForLock === true,
    lockWaitMicros: lockWaitMicrosOf(doc.lockStats),
    numYields: num(doc.numYields),
    writeConflicts: num(doc.writeConflicts),
    killPending: doc.killPending === true,
    coordinator: isDocument(doc.twoPhaseCommitCoordinator),
    tailable: cursor?.tailable === true,
    awaitData: cursor?.awaitData === true,
    noCursorTimeout: cursor?.noCursorTimeout === true,
    docsReturned: num(cursor?.nDocsReturned),
  };
}

