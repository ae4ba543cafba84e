/**
 * Logical sessions: the session catalog, the logical session cache and config.system.sessions.
 *
 * mongod keeps a session's state in three independent places (docs/server-semantics.md#cache-refresh-and-the-session-ttl):
 *  - the in-memory LogicalSessionCache entry (`cacheLastUse`), vivified by every command carrying the lsid
 *    and cleared at every refresh (logical_session_cache_impl.cpp `_refresh` swaps out `_activeSessions`);
 *  - the config.system.sessions document (sessions-collection.ts), written at refresh with lastUse = $$NOW,
 *    deleted by the TTL index `lsidTTLIndex` after localLogicalSessionTimeoutMinutes, or at the next refresh
 *    after endSessions;
 *  - the SessionCatalog entry (transaction state), which killSessions does not remove
 *    (kill_sessions_local.cpp touches neither the cache nor the collection).
 * One SessionRecord per lsid = (id, uid) holds the first and the last, which are per member (each member of a
 * replica set has its own cache and catalog); the collection is shared by the set.
 *
 * Memory: records are kept in a two-level map uid -> id -> record, with the uid hex string interned per user,
 * so one million sessions cost one short id string and one small object each.
 */
import { Binary } from 'bson';
import { CommandError } from './errors.ts';
import type { SessionsCollection } from './sessions-collection.ts';

export interface ClientInfo {
  connectionId: number;
  client: string;
  appName: string;
  clientMetadata: Record<string, unknown> | null;
}

export type TxnState = 'inProgress' | 'prepared' | 'committed' | 'aborted';

export interface Transaction {
  txnNumber: number;
  state: TxnState;
  /** Why an aborted transaction was aborted: 251 (killed/aborted) or 290 (lifetime limit). */
  abortCode: number;
  startWallMs: number;
  /** Microseconds spent executing statements, not counting the one running now. */
  activeMicros: number;
  /** Wall time (ms) at which the currently running statement started, or 0 when idle. */
  activeSinceMs: number;
  preparedAtMs: number;
  expiresAtMs: number;
  readConcern: Record<string, unknown> | null;
  /**
   * The transaction's write set, applied to the collections at commit: ns -> _id key -> the document's
   * new version, or null for a delete. Reads inside the transaction see it over the committed data.
   * Write conflicts between concurrent transactions are not modelled (last commit wins).
   */
  writes: Map<string, Map<string, import('bson').Document | null>>;
  /** Synthetic transactions (bulk-created for benchmarks) hold no writes. */
  synthetic: boolean;
}

export interface SessionRecord {
  readonly idHex: string;
  readonly uidHex: string;
  /** "user@db" of the user that created the session, or null without auth. */
  readonly user: string | null;
  /** ms; 0 when the session has not been used since the last refresh. */
  cacheLastUse: number;
  /** endSessions was called: the record and the cursors go at the next refresh. */
  ending: boolean;
  /** Highest txnNumber seen on the session (-1 before any). */
  txnNumber: number;
  txn: Transaction | null;
  lastClient: ClientInfo | null;
}

export function uuidBinary(idHex: string): Binary {
  return new Binary(Buffer.from(idHex, 'hex'), 4);
}

export function uidBinary(uidHex: string): Binary {
  return new Binary(Buffer.from(uidHex, 'hex'), 0);
}

export function formatUuid(idHex: string): string {
  return `${idHex.slice(0, 8)}-${idHex.slice(8, 12)}-${idHex.slice(12, 16)}-${idHex.slice(16, 20)}-${idHex.slice(20)}`;
}

export interface SessionParams {
  /** localLogicalSessionTimeoutMinutes: 30 (logical_session_id.idl). */
  timeoutMinutes: number;
  /** logicalSessionRefreshMillis: 300000 (logical_session_cache.idl). */
  refreshMillis: number;
  /** maxSessions: 1,000,000 (logical_session_cache.idl); over it, TooManyLogicalSessions(261). */
  maxSessions: number;
}

export class SessionCatalog {
  private readonly byUid = new Map<string, Map<string, SessionRecord>>();
  private readonly internedUids = new Map<string, string>();
  private count = 0;
  /** Records with a cache entry (cacheLastUse > 0): the LogicalSessionCache's _activeSessions. */
  private cached = 0;

  constructor(readonly params: SessionParams, readonly collection: SessionsCollection) {}

  get size(): number {
    return this.count;
  }

  /** Sessions in the cache (used since the last refresh). */
  get cachedCount(): number {
    return this.cached;
  }

  get(idHex: string, uidHex: string): SessionRecord | undefined {
    return this.byUid.get(uidHex)?.get(idHex);
  }

  /**
   * Vivify: the lsid of a command puts the session in the cache with lastUse = now
   * (initialize_operation_session_info.cpp calls LogicalSessionCache::vivify).
   */
  vivify(idHex: string, uidHex: string, user: string | null, now: number, client: ClientInfo | null): SessionRecord {
    let rec = this.get(idHex, uidHex);
    if (!rec?.cacheLastUse) {
      // logical_session_cache_impl.cpp _addToCacheIfNotFull: the limit is on the cache's active sessions.
      if (this.cached >= this.params.maxSessions) {
        throw new CommandError(261, 'TooManyLogicalSessions', `Unable to add session into the cache because the number of active sessions is too high`);
      }
      rec ??= this.create(idHex, uidHex, user);
      this.cached++;
    }
    rec.cacheLastUse = now;
    if (client) rec.lastClient = client;
    return rec;
  }

  /** Creates a record without touching the cache (bulk creation puts it straight into the collection). */
  create(idHex: string, uidHexIn: string, user: string | null): SessionRecord {
    let uidHex = this.internedUids.get(uidHexIn);
    if (!uidHex) {
      uidHex = uidHexIn;
      this.internedUids.set(uidHex, uidHex);
    }
    let byId = this.byUid.get(uidHex);
    if (!byId) {
      byId = new Map();
      this.byUid.set(uidHex, byId);
    }
    const rec: SessionRecord = {
      idHex, uidHex, user, cacheLastUse: 0, ending: false, txnNumber: -1, txn: null, lastClient: null,
    };
    byId.set(idHex, rec);
    this.count++;
    return rec;
  }

  *all(): IterableIterator<SessionRecord> {
    for (const byId of this.byUid.values()) yield* byId.values();
  }

  *ofUid(uidHex: string): IterableIterator<SessionRecord> {
    const byId = this.byUid.get(uidHex);
    if (byId) yield* byId.values();
  }

  /**
   * Drops records that hold nothing any more: no cache entry, no transaction, no cursor or op, and no
   * transaction number to remember while the session's document lives (the catalog entry outlives the cache
   * entry until the session is reaped, so a retryable write's txnNumber still counts).
   */
  collect(rec: SessionRecord, hasCursorsOrOps: boolean): void {
    if (rec.cacheLastUse || rec.txn || rec.ending || hasCursorsOrOps) return;
    if (rec.txnNumber >= 0 && this.collection.get(rec.idHex, rec.uidHex)) return;
    const byId = this.byUid.get(rec.uidHex);
    if (byId?.delete(rec.idHex)) {
      this.count--;
      if (byId.size === 0) this.byUid.delete(rec.uidHex);
    }
  }

  /**
   * The refresh job (LogicalSessionCacheImpl::_refresh):
   *  1. upsert every cached session and every session with a running op, lastUse = now ($$NOW);
   *  2. delete the documents of ended sessions;
   *  3. clear the cache.
   * Returns the records whose documents are now gone, so the caller kills their cursors
   * (`findRemovedSessions` + ended sessions' cursors).
   */
  refresh(now: number, sessionsWithRunningOps: Iterable<SessionRecord>): SessionRecord[] {
    const coll = this.collection;
    const removed: SessionRecord[] = [];
    for (const rec of sessionsWithRunningOps) if (!rec.ending) coll.upsert(rec.idHex, rec.uidHex, rec.user, now);
    for (const rec of this.all()) {
      if (rec.ending) {
        coll.remove(rec.idHex, rec.uidHex);
        rec.cacheLastUse = 0;
        rec.ending = false;
        removed.push(rec);
        continue;
      }
      if (rec.cacheLastUse) {
        coll.upsert(rec.idHex, rec.uidHex, rec.user, now);
        rec.cacheLastUse = 0;
      } else if (!coll.get(rec.idHex, rec.uidHex)) {
        removed.push(rec);
      }
    }
    this.cached = 0;
    return removed;
  }
}
