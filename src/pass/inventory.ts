/**
 * Inventory: joins the session listings and $currentOp into one fact record per session, keyed by the
 * pair (id, uid), plus one record per running operation outside any session.
 *
 * What each source contributes (docs/server-semantics.md#session-listings and
 * docs/server-semantics.md#current-operations):
 *  - $listSessions: every session flushed to config.system.sessions; its lastUse is the time of the last
 *    refresh write, so it lags the real last use by up to logicalSessionRefreshMillis (5 minutes);
 *  - $listLocalSessions: the sessions used since the node's last refresh, with the exact lastUse; it makes
 *    idle times precise for recently used sessions and adds sessions not yet flushed;
 *  - $currentOp: running ops (type "op"), idle transactions (type "idleSession", the only way to see them),
 *    idle cursors (type "idleCursor", with lastAccessDate), and the app name and client address.
 * Internal threads (ops without a client) are counted but never become records: they are not the reaper's
 * to kill.
 */
import { emptyFacts, NO_STRINGS, resetFacts, type SessionFacts } from './facts.ts';
import type { Activity, ListedSession, MongoPort, ReaperIdentity } from './ports.ts';

export interface Inventory {
  /** One record per session, in first-seen order. */
  sessions: SessionFacts[];
  /** Running operations with no session (killable with killOp only). */
  sessionlessOps: SessionFacts[];
  /** Operations of internal threads (no client connection), counted and left alone. */
  internalOps: number;
  /** Documents read from each source. */
  counts: { listSessions: number; listLocalSessions: number; currentOp: number };
}

function splitUser(user: string): [string, string] {
  const at = user.lastIndexOf('@');
  return at < 0 ? [user, ''] : [user.slice(0, at), user.slice(at + 1)];
}

/** Unknown lastUse (0) counts as "just used": never idle by default, so nothing is killed on a guess. */
function idleSince(now: number, lastUseMs: number): number {
  return lastUseMs ? Math.max(0, (now - lastUseMs) / 1000) : 0;
}

function hostOf(client: string): string {
  if (client.startsWith('[')) return client.slice(1, client.indexOf(']'));
  const colon = client.lastIndexOf(':');
  return colon < 0 || client.indexOf(':') !== colon ? client : client.slice(0, colon);
}

/** Adds `v` to a list that may be the shared empty one (copy on write). */
function withItem(list: string[], v: string): string[] {
  if (list.includes(v)) return list;
  return list === NO_STRINGS ? [v] : (list.push(v), list);
}

/** The join, separate from I/O so it is testable with plain arrays. */
export class InventoryBuilder {
  /** uid -> id -> record: the pair is the key, and nesting avoids building an id+uid string per session. */
  private readonly byUid = new Map<string, Map<string, SessionFacts>>();
  private readonly order: SessionFacts[] = [];
  private readonly sessionlessOps: SessionFacts[] = [];
  /** One string per distinct user and uid, shared by all their records. */
  private readonly interned = new Map<string, string>();
  /** "user@db" split once per distinct user. */
  private readonly users = new Map<string, { user: string; name: string; db: string }>();
  private internalOps = 0;
  readonly counts = { listSessions: 0, listLocalSessions: 0, currentOp: 0 };

  constructor(private readonly now: number, private readonly self: ReaperIdentity) {}

  private intern(s: string): string {
    const have = this.interned.get(s);
    if (have !== undefined) return have;
    this.interned.set(s, s);
    return s;
  }

  /** A new record for (id, uid), not yet registered. */
  private newRecord(id: string, uid: string): SessionFacts {
    const f = emptyFacts('session');
    f.sessionId = id;
    f.uid = this.intern(uid);
    f.isReaperSession = id === this.self.sessionId && uid === this.self.uid;
    return f;
  }

  private setUser(f: SessionFacts, user: string): void {
    if (!user || f.user) return;
    let u = this.users.get(user);
    if (!u) {
      const [name, db] = splitUser(user);
      u = { user, name, db };
      this.users.set(user, u);
    }
    f.user = u.user;
    f.userName = u.name;
    f.userDb = u.db;
    f.isReaperUser = this.self.user !== '' && user === this.self.user;
  }

  private record(id: string, uid: string, user: string): SessionFacts {
    let byId = this.byUid.get(uid);
    if (!byId) {
      byId = new Map();
      this.byUid.set(this.intern(uid), byId);
    }
    let f = byId.get(id);
    if (!f) {
      f = this.newRecord(id, uid);
      byId.set(id, f);
      this.order.push(f);
    }
    this.setUser(f, user);
    return f;
  }

  /**
   * Streaming ("paging through the inventory"): a listed session the builder already knows (it has activity,
   * or was used since the last refresh) is merged into its record, kept for build(), and false is returned;
   * any other is written into `into` (overwritten whole, so one scratch record serves a whole listing) and
   * true is returned, for the caller to evaluate and drop. Read $currentOp and $listLocalSessions first, then
   * stream $listSessions through this: memory then grows with the sessions that hold something, not with
   * every session on the server.
   */
  detachListed(s: ListedSession, into: SessionFacts): boolean {
    this.counts.listSessions++;
    const known = this.byUid.get(s.uid)?.get(s.id);
    if (known) {
      this.touch(known, s.lastUseMs);
      this.setUser(known, s.user);
      return false;
    }
    resetFacts(into);
    into.sessionId = s.id;
    into.uid = this.intern(s.uid);
    into.isReaperSession = s.id === this.self.sessionId && s.uid === this.self.uid;
    this.setUser(into, s.user);
    into.lastUseMs = s.lastUseMs;
    into.idleSeconds = idleSince(this.now, s.lastUseMs);
    return true;
  }

  /** lastUseMs accumulates the most recent use seen in any source; build() derives idleSeconds from it. */
  private touch(f: SessionFacts, ms: number): void {
    if (ms > f.lastUseMs) f.lastUseMs = ms;
  }

  addListed(s: ListedSession, source: 'listSessions' | 'listLocalSessions'): void {
    this.counts[source]++;
    this.touch(this.record(s.id, s.uid, s.user), s.lastUseMs);
  }

  addActivity(a: Activity): void {
    this.counts.currentOp++;
    if (!a.sessionId || !a.uid) {
      if (a.type !== 'op' || !a.active) return;
      if (!a.client) {
        this.internalOps++;
        return;
      }
      const f = emptyFacts('operation');
      f.opid = a.opid;
      f.opCount = 1;
      f.longestOpSeconds = a.secsRunning;
      f.opTypes = a.op ? [a.op] : [];
      f.namespaces = a.ns ? [a.ns] : [];
      this.applyClient(f, a);
      if (a.user) {
        f.user = a.user;
        [f.userName, f.userDb] = splitUser(a.user);
        f.isReaperUser = this.self.user !== '' && a.user === this.self.user;
      }
      f.lastUseMs = this.now - a.secsRunning * 1000;
      this.applyMember(f, a);
      this.sessionlessOps.push(f);
      return;
    }
    const f = this.record(a.sessionId, a.uid, a.user);
    this.applyClient(f, a);
    if ((a.type === 'op' && a.active) || a.txn || a.type === 'idleCursor') this.applyMember(f, a);
    if (a.type === 'op' && a.active) {
      f.opCount++;
      if (a.secsRunning > f.longestOpSeconds) f.longestOpSeconds = a.secsRunning;
      if (a.op) f.opTypes = withItem(f.opTypes, a.op);
      if (a.ns) f.namespaces = withItem(f.namespaces, a.ns);
      // A running op is a use right now.
      this.touch(f, this.now);
    }
    if (a.txn) {
      f.hasTransaction = true;
      f.txnOpenSeconds = Math.max(f.txnOpenSeconds, a.txn.openSeconds);
      f.txnActiveSeconds = Math.max(f.txnActiveSeconds, a.txn.activeSeconds);
      f.txnInactiveSeconds = Math.max(f.txnInactiveSeconds, a.txn.inactiveSeconds);
      f.txnPrepared = f.txnPrepared || a.txn.prepared;
      if (a.txn.expiresAtMs) f.txnExpiresInSeconds = Math.max(0, (a.txn.expiresAtMs - this.now) / 1000);
    }
    if (a.type === 'idleCursor') {
      f.cursorCount++;
      // An unknown last access (0) counts as "just used", like an unknown lastUse: no kill on a guess.
      const idle = a.cursorLastAccessMs ? Math.max(0, (this.now - a.cursorLastAccessMs) / 1000) : 0;
      if (idle > f.longestCursorIdleSeconds) f.longestCursorIdleSeconds = idle;
      this.touch(f, a.cursorLastAccessMs);
    }
  }

  /** Where it holds something: the member the document was read on (the kill goes there). */
  private applyMember(f: SessionFacts, a: Activity): void {
    if (!a.member) return;
    f.members = withItem(f.members, this.intern(a.member));
    if (a.memberState) f.memberStates = withItem(f.memberStates, a.memberState);
    if (a.memberState === 'SECONDARY') f.onSecondary = true;
  }

  private applyClient(f: SessionFacts, a: Activity): void {
    if (a.appName && !f.appName) f.appName = this.intern(a.appName);
    if (a.client && !f.client) {
      f.client = a.client;
      f.clientHost = hostOf(a.client);
    }
  }

  build(): Inventory {
    for (const f of this.order) f.idleSeconds = idleSince(this.now, f.lastUseMs);
    return { sessions: this.order, sessionlessOps: this.sessionlessOps, internalOps: this.internalOps, counts: this.counts };
  }
}

/** Reads the three sources through the port, streaming, and joins them. */
export async function takeInventory(mongo: MongoPort, self: ReaperIdentity, now: number): Promise<Inventory> {
  const builder = new InventoryBuilder(now, self);
  for await (const batch of mongo.listSessions()) for (const s of batch) builder.addListed(s, 'listSessions');
  for await (const batch of mongo.listLocalSessions()) for (const s of batch) builder.addListed(s, 'listLocalSessions');
  for await (const batch of mongo.currentOp()) for (const a of batch) builder.addActivity(a);
  return builder.build();
}
