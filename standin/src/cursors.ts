/**
 * Cursors: created by find/aggregate with more results than the first batch, continued by getMore,
 * ended by exhaustion, killCursors, killSessions of their session, or the removal of their session's record.
 *
 * Session cursors do not time out (cursor_manager.cpp cursorShouldTimeout_inlock, with the query knob
 * enableTimeoutOfInactiveSessionCursors=false); cursors without a session time out after
 * cursorTimeoutMillis = 600000 (cursor_server_params.idl; docs/server-semantics.md#server-side-timeouts).
 */
import { Long, type Document } from 'bson';
import type { BatchSource } from './batches.ts';
import type { SessionRecord, Transaction } from './sessions.ts';
import { SessionIndex } from './session-index.ts';

export interface Cursor {
  readonly id: Long;
  readonly key: string;
  readonly ns: string;
  readonly session: SessionRecord | null;
  /** Owner "user@db", or null without auth (getMore from another user is refused). */
  readonly owner: string | null;
  readonly txn: Transaction | null;
  readonly originatingCommand: Document;
  readonly createdDate: Date;
  readonly noCursorTimeout: boolean;
  /** find {tailable, awaitData} and change streams (tailable + awaitData). */
  readonly tailable?: boolean;
  readonly awaitData?: boolean;
  /** What $currentOp reports as planSummary; undefined: COLLSCAN for a collection, none for a collectionless cursor. */
  readonly planSummary?: string;
  /** The lsid as the client sent it when it differs from the session's ({id, uid} plus txnNumber/txnUUID of a child session). */
  readonly lsid?: Document;
  readonly source: BatchSource;
  lastAccessDate: Date;
  nDocsReturned: number;
  nBatchesReturned: number;
  /** A getMore is running on it (pinned cursors are not reported as idle and do not time out). */
  pinned: boolean;
}

/** cursorTimeoutMillis default (src/mongo/db/cursor_server_params.idl). */
export const CURSOR_TIMEOUT_MILLIS = 600_000;

export class CursorManager {
  private readonly cursors = new Map<string, Cursor>();
  private readonly bySession = new SessionIndex<Cursor>();
  private next = BigInt(Math.floor(Math.random() * 2 ** 40)) + 1n;

  get size(): number {
    return this.cursors.size;
  }

  open(fields: Omit<Cursor, 'id' | 'key' | 'lastAccessDate' | 'nDocsReturned' | 'nBatchesReturned' | 'pinned'>): Cursor {
    const id = Long.fromBigInt(this.next++);
    const cursor: Cursor = { ...fields, id, key: id.toString(), lastAccessDate: fields.createdDate, nDocsReturned: 0, nBatchesReturned: 0, pinned: false };
    this.cursors.set(cursor.key, cursor);
    this.bySession.add(cursor.session, cursor);
    return cursor;
  }

  get(id: Long | number | bigint): Cursor | undefined {
    return this.cursors.get(String(id instanceof Long ? id.toString() : id));
  }

  close(cursor: Cursor): boolean {
    if (!this.cursors.delete(cursor.key)) return false;
    this.bySession.delete(cursor.session, cursor);
    return true;
  }

  ofSession(rec: SessionRecord): Cursor[] {
    return this.bySession.of(rec);
  }

  hasCursors(rec: SessionRecord): boolean {
    return this.bySession.has(rec);
  }

  all(): IterableIterator<Cursor> {
    return this.cursors.values();
  }

  /** The cursor monitor (clientCursorMonitorFrequencySecs = 4): times out idle cursors without a session. */
  timeOut(now: number, timeoutMillis: number): number {
    let n = 0;
    for (const c of this.cursors.values()) {
      if (c.session || c.noCursorTimeout || c.pinned) continue;
      if (now - c.lastAccessDate.getTime() > timeoutMillis) {
        this.close(c);
        n++;
      }
    }
    return n;
  }
}
