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
 * A session's identity (appName, client, clientHost, clientDriver) comes from whichever of its documents names
 * a client: idle cursors never do (jstests/core/currentop_cursors.js), so a cursor-only session takes it from
 * its other documents of the pass, then from the IdentitySightings hook (earlier passes), and is otherwise
 * left unknown (null), never "". Internal child sessions (lsid with txnUUID) are joined to their parent:
 * the parent (id, uid) is what killSessions takes (a child lsid is refused with InvalidOptions).
 * How several documents make one value is FactSpec.perSession (facts.ts).
 * Internal threads (ops without a client) are counted but never become records: they are not the reaper's
 * to kill.
 */
import * as K from './classify.ts';
import { emptyFacts, NO_STRINGS, resetFacts, type SessionFacts } from './facts.ts';
import type { Activity, IdentitySightings, ListedSession, MongoPort, ReaperIdentity } from './ports.ts';

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

/**
 * One-element lists shared by every record with that one value (most sessions run one command on one
 * namespace): frozen, so adding a second value copies (copy on write), as with NO_STRINGS.
 */
const singletons = new Map<string, string[]>();

/** Adds `v` to a list that may be shared (NO_STRINGS or a frozen singleton): copy on write. */
function withItem(list: string[], v: string): string[] {
  if (list.includes(v)) return list;
  if (list === NO_STRINGS) {
    let one = singletons.get(v);
    if (!one) {
      // Bounded by the distinct command names, op kinds and namespaces of a pass; past this, plain arrays.
      if (singletons.size >= MAX_SINGLETONS) return [v];
      singletons.set(v, (one = Object.freeze([v]) as unknown as string[]));
    }
    return one;
  }
  if (Object.isFrozen(list)) return [...list, v];
  list.push(v);
  return list;
}

/** Distinct one-element lists kept for sharing (a few hundred namespaces and commands are typical). */
const MAX_SINGLETONS = 10_000;

/**
 * The facts detachListed can set: every other fact of a listing-only record is at its absent value, which lets
 * the evaluator decide such records with only the rules that read these (Evaluator.decideVarying).
 */
export const LISTED_FACTS: ReadonlySet<keyof SessionFacts> = new Set<keyof SessionFacts>([
  'sessionId', 'uid', 'user', 'userName', 'userDb', 'isReaperUser', 'isReaperSession', 'lastUseMs', 'idleSeconds',
  'appName', 'client', 'clientHost', 'clientDriver',
]);

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
  /** The record detachListed last wrote into, reset whole once and then only where it writes. */
  private scratch: SessionFacts | null = null;
  readonly counts = { listSessions: 0, listLocalSessions: 0, currentOp: 0 };

  constructor(private readonly now: number, private readonly self: ReaperIdentity, private readonly sightings?: IdentitySightings) {}

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
   * true is returned, for the caller to evaluate and drop (the caller must not write into it: after the first
   * call only the facts this method sets are reset). Read $currentOp and $listLocalSessions first, then
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
    if (into === this.scratch) {
      // Only what this method writes can differ from the absent values (the caller never writes the scratch).
      into.user = ''; into.userName = ''; into.userDb = ''; into.isReaperUser = false;
      into.appName = null; into.client = null; into.clientHost = null; into.clientDriver = null;
    } else {
      resetFacts(into);
      this.scratch = into;
    }
    into.sessionId = s.id;
    into.uid = this.intern(s.uid);
    into.isReaperSession = s.id === this.self.sessionId && s.uid === this.self.uid;
    this.setUser(into, s.user);
    into.lastUseMs = s.lastUseMs;
    into.idleSeconds = idleSince(this.now, s.lastUseMs);
    if (this.sightings) this.recallIdentity(into);
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
      if (a.client === null) {
        this.internalOps++;
        return;
      }
      const f = emptyFacts('operation');
      f.opid = a.opid;
      if (a.user) {
        f.user = a.user;
        [f.userName, f.userDb] = splitUser(a.user);
        f.isReaperUser = this.self.user !== '' && a.user === this.self.user;
      }
      this.applyDocument(f, a);
      f.lastUseMs = this.now - a.secsRunning * 1000;
      this.applyMember(f, a);
      this.sessionlessOps.push(f);
      return;
    }
    const f = this.record(a.sessionId, a.uid, a.user);
    this.applyDocument(f, a);
    if (a.childSession) f.childSessionDocs++;
    if (a.type === 'op' && a.active) this.touch(f, this.now); // a running op is a use right now
    // Where it holds something (the kill goes there): an operation running, a transaction, a cursor.
    if ((a.type === 'op' && a.active) || a.txn || a.type === 'idleCursor') this.applyMember(f, a);
    if (a.txn) {
      f.hasTransaction = true;
      f.holdsNothing = false;
      if (!a.childSession && a.txn.txnNumber > f.txnNumber) f.txnNumber = a.txn.txnNumber;
      f.txnOpenSeconds = Math.max(f.txnOpenSeconds, a.txn.openSeconds);
      f.txnActiveSeconds = Math.max(f.txnActiveSeconds, a.txn.activeSeconds);
      f.txnInactiveSeconds = Math.max(f.txnInactiveSeconds, a.txn.inactiveSeconds);
      f.txnPrepared = f.txnPrepared || a.txn.prepared;
      if (a.txn.expiresAtMs) f.txnExpiresInSeconds = Math.max(0, (a.txn.expiresAtMs - this.now) / 1000);
    }
    if (a.type === 'idleCursor') {
      f.cursorCount++;
      f.holdsNothing = false;
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
    if (a.shard) f.shards = withItem(f.shards, this.intern(a.shard));
  }

  /** What every document type contributes, aggregated as FactSpec.perSession says. */
  private applyDocument(f: SessionFacts, a: Activity): void {
    this.applyClient(f, a);
    const running = a.type === 'op' && a.active;
    // "oldest": the longest-running operation's value; with none running, the first document's.
    const oldest = running ? f.opCount === 0 || a.secsRunning > f.longestOpSeconds : f.opCount === 0 && f.desc === '' && f.planSummary === '';
    if (running) {
      f.opCount++;
      f.holdsNothing = false;
      if (a.secsRunning > f.longestOpSeconds) f.longestOpSeconds = a.secsRunning;
      if (a.op) f.opTypes = withItem(f.opTypes, a.op);
      if (a.waitingForLock) f.waitingForLock = true;
      if (a.lockWaitMicros / 1e6 > f.lockWaitSeconds) f.lockWaitSeconds = a.lockWaitMicros / 1e6;
      if (a.numYields > f.numYields) f.numYields = a.numYields;
      if (a.writeConflicts > f.writeConflicts) f.writeConflicts = a.writeConflicts;
      if (a.killPending) f.killPending = true;
    }
    if (oldest) {
      if (a.desc) f.desc = a.desc;
      if (a.planSummary) f.planSummary = a.planSummary;
      if (a.queryShapeHash) f.queryShapeHash = a.queryShapeHash;
    }
    // With no operation running, the idle transaction's last client names the connection (cursors name none).
    if (a.connectionId && (oldest || f.connectionId === 0)) f.connectionId = a.connectionId;
    if (a.ns && (running || a.type === 'idleCursor')) f.namespaces = withItem(f.namespaces, this.intern(a.ns));
    if (a.commandName) f.commandNames = withItem(f.commandNames, this.intern(a.commandName));
    if (a.comment) f.comments = withItem(f.comments, a.comment);
    if (a.tailable) f.tailable = true;
    if (a.awaitData) f.awaitData = true;
    if (a.noCursorTimeout) f.noCursorTimeout = true;
    f.docsReturned += a.docsReturned;
    const flags = K.classify(a);
    if (flags) {
      if (flags & K.CHANGE_STREAM) f.isChangeStream = true;
      if (flags & K.INDEX_BUILD) f.isIndexBuild = true;
      if (flags & K.WRITES_OUTPUT) f.writesOutput = true;
      if (flags & K.INTERNAL_COMMAND) f.isInternalCommand = true;
      if (flags & K.SYSTEM_NAMESPACE) f.isSystemNamespace = true;
      if (flags & K.RESHARDING) f.isResharding = true;
      if (flags & K.COMMIT_COORDINATOR) f.isCommitCoordinator = true;
    }
  }

  /** "identity": the first document that names the client wins; a document that names none changes nothing. */
  private applyClient(f: SessionFacts, a: Activity): void {
    if (a.appName !== null && f.appName === null) f.appName = this.intern(a.appName);
    if (a.client !== null && f.client === null) {
      f.client = a.client;
      f.clientHost = hostOf(a.client);
    }
    if (a.clientDriver !== null && f.clientDriver === null) f.clientDriver = this.intern(a.clientDriver);
  }

  /** The IdentitySightings hook, for what this pass left unknown. */
  private recallIdentity(f: SessionFacts): void {
    if (f.appName !== null && f.client !== null && f.clientDriver !== null) return;
    const seen = this.sightings?.lookup(f.sessionId, f.uid);
    if (!seen) return;
    if (f.appName === null && seen.appName !== null) f.appName = seen.appName;
    if (f.client === null && seen.client !== null) {
      f.client = seen.client;
      f.clientHost = hostOf(seen.client);
    }
    if (f.clientDriver === null && seen.clientDriver !== null) f.clientDriver = seen.clientDriver;
  }

  build(): Inventory {
    for (const f of this.order) {
      f.idleSeconds = idleSince(this.now, f.lastUseMs);
      if (this.sightings) this.recallIdentity(f);
    }
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
