/**
 * The listing stages: $listSessions, $listLocalSessions and $currentOp, as sources for an aggregate.
 *
 * $listSessions / $listLocalSessions: document_source_list_sessions.*, document_source_list_local_sessions.*
 * (docs/server-semantics.md#session-listings). $currentOp: document_source_current_op.*, curop.cpp,
 * transaction_participant.cpp reportStashedState / reportUnstashedState, single_transaction_stats.cpp
 * (docs/server-semantics.md#current-operations).
 */
import { Int32, Long, Timestamp, type Document } from 'bson';
import { userDigest } from './auth.ts';
import { CommandError } from './errors.ts';
import { BATCH_BYTES, ByteWriter, type BatchSource } from './batches.ts';
import { bsonTypeName, expectArray, expectDoc, expectString, isDoc, unknownField } from './idl.ts';
import type { ConnState, Mongod } from './mongod.ts';
import { runningMs, type Operation } from './ops.ts';
import type { Cursor } from './cursors.ts';
import { uidBinary, uuidBinary, type SessionRecord, type Transaction } from './sessions.ts';
import type { PersistedSession } from './sessions-collection.ts';

/** mongod prints dates in $currentOp as ISO strings with the local offset (dateToISOStringLocal). */
export function isoLocal(ms: number): string {
  return new Date(ms).toISOString().replace('Z', '+00:00');
}

// ---- $listSessions / $listLocalSessions ----------------------------------------------------------

export interface ListSessionsSpec {
  allUsers: boolean;
  /** uid hex digests to list; null for all users. */
  uids: Set<string> | null;
}

/** listSessionsParseSpec + listSessionsRequiredPrivileges (document_source_list_local_sessions.cpp). */
export function parseListSessionsSpec(m: Mongod, conn: ConnState, stage: string, spec: unknown): ListSessionsSpec {
  if (!isDoc(spec)) {
    throw new CommandError(14, 'TypeMismatch', `${stage} options must be specified in an object, but found: ${bsonTypeName(spec)}`);
  }
  for (const k of Object.keys(spec)) if (k !== 'allUsers' && k !== 'users' && k !== '$_internalPredicate') throw unknownField(`${stage}.${k}`);
  const allUsers = spec.allUsers === undefined ? false : spec.allUsers;
  if (typeof allUsers !== 'boolean') throw new CommandError(14, 'TypeMismatch', `BSON field '${stage}.allUsers' is the wrong type '${bsonTypeName(allUsers)}', expected type 'bool'`);
  const users = spec.users === undefined ? [] : expectArray(spec.users, `${stage}.users`).map((u, i) => {
    const d = expectDoc(u, `${stage}.users.${i}`);
    return `${expectString(d.user, `${stage}.users.user`)}@${expectString(d.db, `${stage}.users.db`)}`;
  });
  if (allUsers && users.length > 0) {
    throw new CommandError(12, 'UnsupportedFormat', `${stage} may not specify {allUsers:true} and {users:[...]} at the same time`);
  }
  const self = m.userName(conn);
  const othersWanted = allUsers || users.some((u) => u !== self);
  if (m.params.auth && !conn.user) throw new CommandError(13, 'Unauthorized', `command aggregate requires authentication`);
  if (othersWanted && !m.can(conn, { cluster: true }, 'listSessions')) {
    throw new CommandError(13, 'Unauthorized', `not authorized on ${stage === '$listSessions' ? 'config' : 'admin'} to execute command { aggregate: ${stage === '$listSessions' ? '"system.sessions"' : '1'}, pipeline: [ { ${stage}: ${JSON.stringify(spec)} } ] }`);
  }
  if (allUsers) return { allUsers, uids: null };
  // "self": users = [current user], or [{user:"", db:""}] (SHA-256 of "") without auth.
  const list = users.length ? users.map((u) => userDigest(u).toString('hex')) : [m.digestHex(conn)];
  return { allUsers, uids: new Set(list) };
}

function sessionId(rec: { idHex: string; uidHex: string }): Document {
  return { id: uuidBinary(rec.idHex), uid: uidBinary(rec.uidHex) };
}

/**
 * config.system.sessions documents: { _id: {id, uid}, lastUse, user: {name} } (user only when authenticated).
 * In a replica set every member reads the one collection the set shares.
 */
export function* listSessions(m: Mongod, spec: ListSessionsSpec): Generator<Document> {
  for (const rec of m.sessionsCollection.all()) {
    if (spec.uids && !spec.uids.has(rec.uidHex)) continue;
    const doc: Document = { _id: sessionId(rec), lastUse: new Date(rec.lastUse) };
    if (rec.user) doc.user = { name: rec.user };
    yield doc;
  }
}

/** The in-memory cache: { _id: {id, uid}, lastUse, user: "user@db" } (LogicalSessionRecord, user is a string). */
export function* listLocalSessions(m: Mongod, spec: ListSessionsSpec): Generator<Document> {
  for (const rec of m.sessions.all()) {
    if (!rec.cacheLastUse) continue;
    if (spec.uids && !spec.uids.has(rec.uidHex)) continue;
    const doc: Document = { _id: sessionId(rec), lastUse: new Date(rec.cacheLastUse) };
    if (rec.user) doc.user = rec.user;
    yield doc;
  }
}

// ---- $currentOp ---------------------------------------------------------------------------------

export interface CurrentOpOptions {
  allUsers: boolean;
  idleConnections: boolean;
  idleCursors: boolean;
  idleSessions: boolean;
  localOps: boolean;
  truncateOps: boolean;
  /** 7.1+, routers only: every data-bearing member of every shard rather than one per shard. */
  targetAllNodes: boolean;
}

/** The wire version of 7.1, the first with $currentOp targetAllNodes (src/mongo/db/wire_version.h). */
export const TARGET_ALL_NODES_WIRE_VERSION = 22;

const CURRENT_OP_DEFAULTS: CurrentOpOptions = {
  allUsers: false, idleConnections: false, idleCursors: false, idleSessions: true, localOps: false, truncateOps: false, targetAllNodes: false,
};

/**
 * Options parsing as document_source_current_op.cpp (FailedToParse(9) texts). targetAllNodes (7.1+) is refused
 * with localOps and outside a sharded cluster: getFromRouter() || getInRouter() there, `inRouter` here.
 */
export function parseCurrentOpSpec(m: Mongod, conn: ConnState, spec: unknown, inRouter = false): CurrentOpOptions {
  if (!isDoc(spec)) {
    throw new CommandError(9, 'FailedToParse', `$currentOp options must be specified in an object, but found: ${bsonTypeName(spec)}`);
  }
  const opts = { ...CURRENT_OP_DEFAULTS };
  for (const [k, v] of Object.entries(spec)) {
    // targetAllNodes came with 7.1 (wire version 22): an older server does not know it.
    const known = k in opts && (k !== 'targetAllNodes' || m.version.maxWireVersion >= TARGET_ALL_NODES_WIRE_VERSION);
    if (!known && k !== 'backtrace') throw new CommandError(9, 'FailedToParse', `Unrecognized option '${k}' in $currentOp stage.`);
    if (typeof v !== 'boolean') {
      throw new CommandError(9, 'FailedToParse', `The '${k}' parameter of the $currentOp stage must be a boolean value, but found: ${bsonTypeName(v)}`);
    }
    if (known) (opts as unknown as Record<string, boolean>)[k] = v;
  }
  if (opts.targetAllNodes && opts.localOps) {
    throw new CommandError(9, 'FailedToParse', "The 'localOps' parameter of the $currentOp stage cannot be true when 'targetAllNodes' is also true");
  }
  if (opts.targetAllNodes && !inRouter) {
    throw new CommandError(9, 'FailedToParse', '$currentOp supports targetAllNodes parameter only for sharded clusters');
  }
  if (m.params.auth && !conn.user) throw new CommandError(13, 'Unauthorized', 'command aggregate requires authentication');
  // requiredPrivileges: inprog on the cluster when allUsers (ignored when auth is off).
  if (opts.allUsers && !m.can(conn, { cluster: true }, 'inprog')) {
    throw new CommandError(13, 'Unauthorized', `not authorized on admin to execute command { aggregate: 1, pipeline: [ { $currentOp: ${JSON.stringify(spec)} } ] }`);
  }
  return opts;
}

function micros(ms: number): Long {
  return Long.fromNumber(Math.max(0, Math.round(ms * 1000)));
}

/** SingleTransactionStats::report: timeOpen = timeActive + timeInactive; timePreparedMicros only once prepared. */
export function transactionReport(txn: Transaction, now: number, limitSeconds: number): Document {
  const openMicros = Math.max(0, (now - txn.startWallMs) * 1000);
  const activeMicros = Math.min(openMicros, txn.activeMicros + (txn.activeSinceMs ? (now - txn.activeSinceMs) * 1000 : 0));
  const params: Document = { txnNumber: Long.fromNumber(txn.txnNumber), txnRetryCounter: new Int32(0), autocommit: false };
  if (txn.readConcern) params.readConcern = txn.readConcern;
  const report: Document = {
    parameters: params,
    readTimestamp: new Timestamp({ t: 0, i: 0 }),
    startWallClockTime: isoLocal(txn.startWallMs),
    timeOpenMicros: Long.fromNumber(Math.round(openMicros)),
    timeActiveMicros: Long.fromNumber(Math.round(activeMicros)),
    timeInactiveMicros: Long.fromNumber(Math.round(openMicros - activeMicros)),
  };
  if (txn.preparedAtMs) report.timePreparedMicros = micros(now - txn.preparedAtMs);
  // expiryTime == startWallClockTime + transactionLifetimeLimitSeconds (asserted in
  // jstests/noPassthrough/currentop_active_transaction.js; docs/server-semantics.md#idle-session-documents);
  // prepared transactions never expire, and the server reports no expiry for them.
  if (txn.state === 'inProgress') report.expiryTime = isoLocal(txn.startWallMs + limitSeconds * 1000);
  return report;
}

/** planSummary of a cursor: given, or COLLSCAN on a collection; none for collectionless ($cmd) cursors. */
function cursorPlanSummary(cur: Cursor): string | undefined {
  return cur.planSummary ?? (cur.ns.includes('.$cmd') ? undefined : 'COLLSCAN');
}

/**
 * The GenericCursor as $currentOp nests it (CurOp::truncateAndSerializeGenericCursor): lsid, ns and planSummary
 * are removed because they are reported at the top level (jstests/core/currentop_cursors.js asserts the cursor
 * sub-document has no planSummary, host or lsid), and operationUsingCursorId is only set while an operation has
 * the cursor pinned (generic_cursor.idl: "empty for idle cursors").
 */
function genericCursor(cur: Cursor): Document {
  return {
    cursorId: cur.id, createdDate: cur.createdDate, lastAccessDate: cur.lastAccessDate,
    nDocsReturned: Long.fromNumber(cur.nDocsReturned), nBatchesReturned: Long.fromNumber(cur.nBatchesReturned),
    noCursorTimeout: cur.noCursorTimeout, tailable: cur.tailable === true, awaitData: cur.awaitData === true,
    originatingCommand: cur.originatingCommand,
  };
}

function clientFields(m: Mongod, op: Pick<Operation, 'client'>): Document {
  const c = op.client;
  if (!c) return {};
  const d: Document = { host: m.hostAndPort, desc: `conn${c.connectionId}`, connectionId: c.connectionId, client: c.client };
  if (c.appName) d.appName = c.appName;
  if (c.clientMetadata) d.clientMetadata = c.clientMetadata;
  return d;
}

export function* currentOp(m: Mongod, conn: ConnState, opts: CurrentOpOptions, now = m.now()): Generator<Document> {
  const filterUsers = m.params.auth && !opts.allUsers;
  const self = conn.user;
  const ownDigest = filterUsers ? m.digestHex(conn) : '';
  const connsWithOps = new Set<number>();
  const currentOpTime = isoLocal(now);

  for (const op of m.ops.all()) {
    if (op.client && !op.synthetic) connsWithOps.add(op.client.connectionId);
    if (filterUsers && !op.effectiveUsers.some((u) => u.user === self!.user && u.db === self!.db)) continue;
    const elapsedMs = runningMs(op, now);
    const doc: Document = { type: 'op', ...clientFields(m, op), active: true, currentOpTime };
    // Only an authenticated client has effectiveUsers (curop.cpp serializeAuthenticatedUsers).
    if (op.effectiveUsers.length) doc.effectiveUsers = op.effectiveUsers;
    if (op.client) doc.threaded = true;
    doc.opid = op.opid;
    const details = op.details;
    if (details?.desc) doc.desc = details.desc;
    if (op.killPending) doc.killPending = true;
    if (op.session) doc.lsid = details?.lsid ?? sessionId(op.session);
    doc.secs_running = Long.fromNumber(Math.floor(elapsedMs / 1000));
    doc.microsecs_running = Long.fromNumber(Math.max(0, Math.round(elapsedMs * 1000)));
    doc.op = op.op;
    doc.ns = op.ns;
    doc.redacted = false;
    doc.command = op.command;
    const planSummary = details?.planSummary ?? (details?.cursor ? cursorPlanSummary(details.cursor) : undefined);
    if (planSummary) doc.planSummary = planSummary;
    if (details?.cursor) doc.cursor = { ...genericCursor(details.cursor), operationUsingCursorId: Long.fromNumber(op.opid) };
    if (details?.msg) doc.msg = details.progress ? `${details.msg} ${details.msg}: ${details.progress.done}/${details.progress.total} ${Math.floor((details.progress.done / Math.max(1, details.progress.total)) * 100)}%` : details.msg;
    if (details?.progress) doc.progress = { done: Long.fromNumber(details.progress.done), total: Long.fromNumber(details.progress.total) };
    doc.numYields = 0;
    doc.locks = {};
    doc.waitingForLock = false;
    doc.lockStats = {};
    if (op.txn && (op.txn.state === 'inProgress' || op.txn.state === 'prepared')) {
      doc.transaction = transactionReport(op.txn, now, m.params.transactionLifetimeLimitSeconds);
    }
    yield doc;
  }

  if (opts.idleConnections) {
    for (const c of m.connections.values()) {
      if (connsWithOps.has(c.id)) continue;
      if (filterUsers && !(c.user && c.user.user === self!.user && c.user.db === self!.db)) continue;
      yield {
        type: 'op', host: m.hostAndPort, desc: `conn${c.id}`, connectionId: c.id, client: c.remote,
        ...(c.appName ? { appName: c.appName } : {}), ...(c.clientMetadata ? { clientMetadata: c.clientMetadata } : {}),
        active: false, currentOpTime, ...(c.user ? { effectiveUsers: [{ ...c.user }] } : {}),
      };
    }
  }

  // idleSession: only sessions with a stashed (open, not executing) transaction (reportStashedState).
  if (opts.idleSessions) {
    for (const rec of m.sessions.all()) {
      const txn = rec.txn;
      if (!txn || (txn.state !== 'inProgress' && txn.state !== 'prepared') || txn.activeSinceMs) continue;
      if (filterUsers && rec.uidHex !== ownDigest) continue;
      if (m.ops.hasOps(rec)) continue;
      const c = rec.lastClient;
      yield {
        type: 'idleSession', host: m.hostAndPort, desc: 'inactive transaction',
        ...(c ? { client: c.client, connectionId: c.connectionId, ...(c.appName ? { appName: c.appName } : {}), ...(c.clientMetadata ? { clientMetadata: c.clientMetadata } : {}) } : {}),
        lsid: sessionId(rec),
        transaction: transactionReport(txn, now, m.params.transactionLifetimeLimitSeconds),
        waitingForLock: false, active: false, locks: {}, lockStats: {},
      };
    }
  }

  if (opts.idleCursors) {
    const selfName = m.userName(conn);
    for (const cur of m.cursors.all()) {
      if (cur.pinned) continue;
      if (filterUsers && cur.owner !== selfName) continue;
      const doc: Document = { type: 'idleCursor', host: m.hostAndPort, ns: cur.ns };
      if (cur.session) doc.lsid = cur.lsid ?? sessionId(cur.session);
      const planSummary = cursorPlanSummary(cur);
      if (planSummary) doc.planSummary = planSummary;
      doc.cursor = genericCursor(cur);
      yield doc;
    }
  }
}

/**
 * The listings without intermediate documents: each session record is written straight into the batch as a
 * BSON array element, the same bytes BSON.serialize would produce for listSessions()/listLocalSessions()
 * documents (checked by a test). Used when no stage follows the listing stage.
 */
export function rawSessionSource(m: Mongod, spec: ListSessionsSpec, mode: 'persisted' | 'local'): BatchSource {
  const records: Iterator<SessionRecord | PersistedSession> = mode === 'persisted' ? m.sessionsCollection.all() : m.sessions.all();
  const persisted = mode === 'persisted';
  const size = persisted ? m.sessionsCollection.size : m.sessions.size;
  let done = false;
  return {
    next(max) {
      const limit = max ?? Infinity;
      // About 110 bytes per session: size the buffer once instead of doubling it up to 16 MiB.
      const w = new ByteWriter(Math.min(BATCH_BYTES + 4096, Math.max(4096, Math.min(limit, size) * 120)));
      let count = 0;
      while (count < limit && w.pos < BATCH_BYTES) {
        const r = records.next();
        if (r.done) {
          done = true;
          break;
        }
        const rec = r.value;
        const lastUse = persisted ? (rec as PersistedSession).lastUse : (rec as SessionRecord).cacheLastUse;
        if (!lastUse || (spec.uids && !spec.uids.has(rec.uidHex))) continue;
        w.byte(0x03);
        w.cstring(String(count));
        const endDoc = w.begin();
        w.byte(0x03);
        w.cstring('_id');
        const endId = w.begin();
        w.byte(0x05);
        w.cstring('id');
        w.int32(16);
        w.byte(4);
        w.hex(rec.idHex);
        w.byte(0x05);
        w.cstring('uid');
        w.int32(32);
        w.byte(0);
        w.hex(rec.uidHex);
        w.byte(0);
        endId();
        w.byte(0x09);
        w.cstring('lastUse');
        w.int64(lastUse);
        if (rec.user) {
          if (persisted) {
            w.byte(0x03);
            w.cstring('user');
            const endUser = w.begin();
            w.byte(0x02);
            w.cstring('name');
            w.string(rec.user);
            w.byte(0);
            endUser();
          } else {
            w.byte(0x02);
            w.cstring('user');
            w.string(rec.user);
          }
        }
        w.byte(0);
        endDoc();
        count++;
      }
      return { docs: null, raw: w.take(), count, exhausted: done };
    },
  };
}
