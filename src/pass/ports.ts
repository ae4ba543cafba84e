/**
 * The port the core talks to for everything MongoDB: listings in, kills out. The MongoDB adapter
 * (src/adapters/mongodb/adapter.ts) implements it with the official driver; unit tests implement it in memory.
 * Records are plain values (UUID strings, hex digests, epoch ms): no BSON type crosses the port.
 *
 * Also the ports of the state kept across passes: the per-cluster lease (src/service/lease.ts, and the
 * DynamoDB adapter src/adapters/dynamodb-leases.ts), and the sightings (src/pass/sightings.ts; a JSON file
 * for the CLI, src/adapters/sightings-file.ts, and the DynamoDB state table for Lambda,
 * src/adapters/dynamodb-sightings.ts).
 */
import { PassInProgressError } from '../util/errors.ts';

/** One session from $listSessions (config.system.sessions) or $listLocalSessions (the node's cache). */
export interface ListedSession {
  /** UUID string. */
  id: string;
  /** 64 lowercase hex digits. */
  uid: string;
  lastUseMs: number;
  /** "user@db", or "" when the session was created without authentication. */
  user: string;
}

export interface TransactionActivity {
  /** transaction.parameters.txnNumber; -1 when not reported. */
  txnNumber: number;
  openSeconds: number;
  activeSeconds: number;
  inactiveSeconds: number;
  prepared: boolean;
  /** Epoch ms of expiryTime; 0 when the server reports none (prepared transactions never expire). */
  expiresAtMs: number;
}

/** One $currentOp document, normalised. */
export interface Activity {
  type: 'op' | 'idleSession' | 'idleCursor';
  /** The lsid, or null for an operation outside any session. An internal child session's lsid gives its parent's id and uid. */
  sessionId: string | null;
  uid: string | null;
  /** The lsid carries txnNumber and/or txnUUID: an internal child session (5.0+) of the parent (id, uid). */
  childSession: boolean;
  /** Opid as a string: "123" on a replica set, "shard01:123" through mongos; "" when there is none. */
  opid: string;
  active: boolean;
  secsRunning: number;
  /** "query", "command", "getmore", ... */
  op: string;
  ns: string;
  /** null when the document names no client (idle cursors never do); "" when the client gave no appName. */
  appName: string | null;
  /** host:port of the client ("client"; through mongos the application's, clientMetadata.mongos.client, not client_s, the router's); null when the document names none. */
  client: string | null;
  /** "name version" of clientMetadata.driver; null when the document carries no client metadata. */
  clientDriver: string | null;
  connectionId: number;
  /** "user@db" of the first effective user; "" when none. */
  user: string;
  txn: TransactionActivity | null;
  /** Epoch ms of the cursor's lastAccessDate (idleCursor documents). */
  cursorLastAccessMs: number;
  /** First key of `command`, or of `cursor.originatingCommand` for getMore and idle cursors; "" when none. */
  commandName: string;
  /** command.comment (or originatingCommand.comment), non-strings as JSON; "" when none. */
  comment: string;
  /** Top-level stage names of the pipeline of the command or of the originating command, in order. */
  stages: readonly string[];
  desc: string;
  msg: string;
  planSummary: string;
  queryShapeHash: string;
  waitingForLock: boolean;
  /** Sum of lockStats.*.timeAcquiringMicros (all lock kinds and modes). */
  lockWaitMicros: number;
  numYields: number;
  writeConflicts: number;
  killPending: boolean;
  /** The document is a distributed-commit coordinator's report (twoPhaseCommitCoordinator). */
  coordinator: boolean;
  /** The cursor's flags (idleCursor documents, and getMore operations' cursor). */
  tailable: boolean;
  awaitData: boolean;
  noCursorTimeout: boolean;
  docsReturned: number;
  /** host:port of the replica-set member it was seen on; absent on a standalone or through mongos. */
  member?: string;
  /** That member's state when it was read. */
  memberState?: MemberState;
  /** Through mongos: the shard whose member reported it; absent for a router's own document. */
  shard?: string;
}

/** Which replica-set members a pass reads and kills on: every data-bearing member, or the primary only. */
export const MEMBERS_MODES = ['all', 'primary'] as const;
export type MembersMode = (typeof MEMBERS_MODES)[number];

/** A member's role as hello reported it at the start of the pass. */
export type MemberState = 'PRIMARY' | 'SECONDARY' | 'STANDALONE' | 'MONGOS';

/** One member of the deployment and whether this pass read (and may kill on) it. */
export interface MemberCoverage {
  host: string;
  /** Its state from hello; "" when it could not be asked. */
  state: MemberState | '';
  covered: boolean;
  /** Why it is not covered (down, unreachable, refused the reaper's credentials, hidden): the fix included. */
  why?: string;
  /** A hidden member (found through replSetGetConfig; hello does not list it). */
  hidden?: boolean;
  /**
   * Not read because the reaper was told so (--members primary, REAPER_MEMBERS=primary): named in the run summary,
   * not counted by the MembersNotCovered metric, which is for what the reaper was meant to read and could not.
   */
  byChoice?: boolean;
}

/** What the connection string points at, found from hello at the start of each pass. */
export interface Coverage {
  topology: 'standalone' | 'replicaSet' | 'mongos';
  /** replSetName, "" when not a replica set. */
  setName: string;
  members: MemberCoverage[];
  /** What the pass could not see as a whole (e.g. the shards behind mongos). */
  notes: string[];
}

/** A session to kill: always the pair, since a bare id only ever matches the caller's own sessions. */
export interface SessionKey {
  id: string;
  uid: string;
}

/** The documents of these sessions and operations only. */
export interface ActivityFilter {
  sessions: readonly SessionKey[];
  opids: readonly string[];
}

/** A session's client as some document showed it. */
export interface ClientIdentity {
  appName: string | null;
  client: string | null;
  clientDriver: string | null;
}

/**
 * Hook for what earlier passes saw of a session's client: a cursor-only session shows no client in this
 * pass ($currentOp idleCursor documents carry no appName and no client), but an earlier pass may have seen
 * its operations. The inventory asks only for sessions whose identity is still unknown after this pass.
 */
export interface IdentitySightings {
  lookup(sessionId: string, uid: string): ClientIdentity | undefined;
}

export interface ReaperIdentity {
  /** The reaper's own session (its listings and kills run in it): never killed. */
  sessionId: string;
  uid: string;
  /** "user@db" the reaper is authenticated as, "" without auth. */
  user: string;
}

export interface MongoPort {
  /** Who the reaper is on this connection. */
  identity(): Promise<ReaperIdentity>;
  /**
   * The listings, streamed a server batch at a time (an array per getMore): per-batch rather than
   * per-document iteration keeps a million sessions from costing a million promises.
   */
  /** $listSessions {allUsers: true} on config.system.sessions. */
  listSessions(): AsyncIterable<ListedSession[]>;
  /** $listLocalSessions {allUsers: true}: the sessions used since the node's last cache refresh. */
  listLocalSessions(): AsyncIterable<ListedSession[]>;
  /** $currentOp {allUsers, idleSessions, idleCursors}. */
  currentOp(): AsyncIterable<Activity[]>;
  /**
   * One $currentOp {allUsers, idleSessions, idleCursors} restricted to these sessions (matched on lsid.id; the
   * caller checks the uid) and opids: the re-check before a kill batch (src/pass/recheck.ts). One command, on the
   * main connection or, given `member` (host:port), on that member only, its documents tagged with it.
   */
  currentOpOf(filter: ActivityFilter, member?: string): Promise<Activity[]>;
  /** One killSessions command with these (id, uid) pairs; never called with an empty batch. */
  killSessions(batch: readonly SessionKey[]): Promise<void>;
  /** killOp for an operation outside any session. */
  killOp(opid: string): Promise<void>;
  /** Server round trips so far (commands and getMores), for the run report and benchmarks. */
  roundTrips(): number;
  /**
   * Topology-aware ports only: asks hello what the connection string points at and (re)opens a direct
   * connection to each data-bearing member; currentOp and listLocalSessions then read every covered member
   * and tag what they yield with `member`. Ports without it read one server, as before.
   */
  discover?(): Promise<Coverage>;
  /** killSessions on one member (host:port from `Activity.member`), over its direct connection. */
  killSessionsOn?(member: string, batch: readonly SessionKey[]): Promise<void>;
  /** $currentOp on the named members only, tagged as currentOp tags them (the verification's re-read). */
  currentOpOn?(members: readonly string[]): AsyncIterable<Activity[]>;
  /** killOp on the member the operation was seen on (opids are per process: never on another). */
  killOpOn?(member: string, opid: string): Promise<void>;
  /**
   * True when one killSessions through the main connection reaches every member (a mongos router sends it to
   * every host of every shard): session kills then go out once, batched, not member by member.
   */
  killSessionsReachEveryMember?(): boolean;
}

// --- State across passes: one pass per cluster at a time ---

export interface LeaseHolder {
  /** What holds it (trigger and invocation), for the error of a pass that could not start. */
  owner: string;
  since: Date;
}

export interface LeaseRequest {
  cluster: string;
  owner: string;
  /** How long the lease holds if it is never released (a crashed invocation): the function timeout plus a margin. */
  ttlMs: number;
}

/** Releases the lease; safe to call more than once. */
export interface ReleaseLease {
  (): Promise<void>;
  /** When the lease expires by itself if it is never released. */
  readonly expiresAt: Date;
}

export interface LeaseStore {
  /** Takes the cluster's lease, or throws PassInProgressError naming the holder and since when. */
  acquire(request: LeaseRequest): Promise<ReleaseLease>;
}

/** The message of a pass that did not start, in one place for both stores. */
export function leaseHeld(cluster: string, holder: LeaseHolder): PassInProgressError {
  return new PassInProgressError(cluster, `a pass for cluster "${cluster}" is already running (${holder.owner}, since ${holder.since.toISOString()}); this one did not start`);
}


// --- Sightings: what earlier passes saw of each candidate and session (src/pass/sightings.ts) ---

/** What passes saw of one session ("s:<id>:<uid>") or sessionless operation ("o:<opid>"). */
export interface Sighting {
  /** Epoch ms of the first of the consecutive passes that saw it holding something; 0 when the last one did not. */
  firstSeenMs: number;
  /** Epoch ms of the last pass that saw it at all. */
  lastSeenMs: number;
  /** The number (SightingsState.pass) of the last pass that saw it holding something. */
  lastPass: number;
  /** Consecutive passes, up to lastPass, that saw it holding something (a running operation, an open transaction, a cursor). */
  sightings: number;
  /** Last known client; null where no pass saw it. */
  appName: string | null;
  client: string | null;
  clientDriver: string | null;
}

/** One cluster's sightings, as stored: plain JSON, replaced whole by each pass. */
export interface SightingsState {
  version: 1;
  /** Passes recorded so far: a candidate is seen "consecutively" when the previous pass (this number) saw it. */
  pass: number;
  /** Epoch ms of the last pass recorded (its inventory time). */
  savedAtMs: number;
  entries: Record<string, Sighting>;
}

/**
 * Where the sightings of each cluster live between passes. `update` is the one write: it re-reads the
 * cluster's state under the store's own exclusion (a file lock, a conditional write) and replaces it with
 * `apply(current)`, so two passes saving at once both count and neither tears the other's write.
 */
export interface SightingsStore {
  /** Where the state lives, for messages: "file /home/x/.local/state/...", "DynamoDB table T". */
  readonly where: string;
  /** The cluster's state as last saved, or null when none was. Throws a ReaperError naming the store when unreadable. */
  load(cluster: string): Promise<SightingsState | null>;
  update(cluster: string, apply: (current: SightingsState | null) => SightingsState): Promise<void>;
}
