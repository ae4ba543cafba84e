/**
 * config.system.sessions: one document per session, { _id: {id, uid}, lastUse, user: {name} }, written by
 * the logical session cache's refresh and read by $listSessions.
 *
 * In a replica set there is one such collection for the whole set: every member's refresh writes its cache
 * to it through the primary (sessions_collection_rs.cpp), and the TTL index `lsidTTLIndex` deletes on the
 * primary only, the deletes replicating (ttl.cpp skips collections it cannot write). The stand-in's members
 * share one instance of this class, as they share their data.
 *
 * Memory: a two-level map uid -> id -> document, so a million sessions cost one small object each.
 */
export interface PersistedSession {
  readonly idHex: string;
  readonly uidHex: string;
  /** "user@db" of the session's owner, or null without auth. */
  readonly user: string | null;
  /** ms; the document's lastUse. */
  lastUse: number;
}

export class SessionsCollection {
  private readonly byUid = new Map<string, Map<string, PersistedSession>>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  get(idHex: string, uidHex: string): PersistedSession | undefined {
    return this.byUid.get(uidHex)?.get(idHex);
  }

  /** The refresh's upsert: lastUse = $$NOW of the refreshing member (sessions_collection.cpp updateOp). */
  upsert(idHex: string, uidHex: string, user: string | null, lastUse: number): PersistedSession {
    let byId = this.byUid.get(uidHex);
    if (!byId) this.byUid.set(uidHex, (byId = new Map()));
    let doc = byId.get(idHex);
    if (!doc) {
      doc = { idHex, uidHex, user, lastUse };
      byId.set(idHex, doc);
      this.count++;
    } else {
      doc.lastUse = lastUse;
    }
    return doc;
  }

  remove(idHex: string, uidHex: string): boolean {
    const byId = this.byUid.get(uidHex);
    if (!byId?.delete(idHex)) return false;
    this.count--;
    if (byId.size === 0) this.byUid.delete(uidHex);
    return true;
  }

  *all(): IterableIterator<PersistedSession> {
    for (const byId of this.byUid.values()) yield* byId.values();
  }

  /** The TTL monitor's pass over lsidTTLIndex: deletes documents whose lastUse is before the cut-off. */
  expire(cutoffMs: number): number {
    let n = 0;
    for (const [uidHex, byId] of this.byUid) {
      for (const [idHex, doc] of byId) {
        if (doc.lastUse < cutoffMs) {
          byId.delete(idHex);
          n++;
        }
      }
      if (byId.size === 0) this.byUid.delete(uidHex);
    }
    this.count -= n;
    return n;
  }
}
