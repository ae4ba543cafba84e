/**
 * The fact record: one per session (or per sessionless operation), built by the inventory stage
 * and evaluated by the policy stage. Facts are flat and always defined (0, "", false, [] when the
 * thing is absent) so that json-rules-engine never meets an undefined fact. The one exception is
 * the identity facts (nullable in the catalogue): null there means "unknown" (no document of the
 * session named its client), which is not the same as "" (the client reported none), and the
 * operators treat null as matching no pattern. FACT_CATALOGUE is the single source of the names, types, units and meanings:
 * policy validation, the README's fact catalogue and the random-fact generators all read it.
 */

export type FactType = 'string' | 'number' | 'boolean' | 'string[]';

/** The $currentOp document types a fact is read from (listings are named as such). */
export type FactSource = 'op' | 'idleSession' | 'idleCursor' | 'listSessions' | 'listLocalSessions' | 'reaper' | 'sightings';

/**
 * How a session's several documents (operations, idle cursors, an idle transaction) make one value:
 *  - "session": a property of the session itself (its key, user, idle time);
 *  - "identity": the first document of the session in the pass that names it (any type), else unknown;
 *  - "any" / "sum" / "max" / "count" / "list" (distinct values, first-seen order): over all its documents;
 *  - "oldest": the longest-running operation's value, or, with no operation running, the first document's.
 */
export type FactAggregation = 'session' | 'identity' | 'any' | 'sum' | 'max' | 'count' | 'list' | 'oldest';

export interface FactSpec {
  readonly name: keyof SessionFacts;
  readonly type: FactType;
  readonly unit: string;
  readonly meaning: string;
  /** Document types that carry it. */
  readonly from: readonly FactSource[];
  readonly perSession: FactAggregation;
  /** null means "unknown" (no document of the session said), as opposed to "" (reported empty). */
  readonly nullable?: true;
}

export interface SessionFacts {
  /** "session": a logical session (killed with killSessions); "operation": a running op with no lsid (killed with killOp). */
  target: 'session' | 'operation';
  /** Session id as a canonical UUID string; "" for a sessionless operation. */
  sessionId: string;
  /** Session uid (SHA-256 of "user@db", or of "" without auth) as 64 lowercase hex digits; "" for a sessionless operation. */
  uid: string;
  /** Owning user as "name@db"; "" when unknown or when auth is off. */
  user: string;
  /** User name part of `user`. */
  userName: string;
  /** Authentication database part of `user`. */
  userDb: string;
  /** Client application name from the handshake; "" when the client gave none, null when no document of the session said. */
  appName: string | null;
  /** Client address "host:port"; null when unknown (idle cursors carry no client). */
  client: string | null;
  /** Client host (address without the port); null when unknown. */
  clientHost: string | null;
  /** "name version" of the driver from the handshake's clientMetadata.driver; null when unknown. */
  clientDriver: string | null;
  /** Last use, epoch milliseconds; 0 when unknown. */
  lastUseMs: number;
  /** Seconds since lastUse (0 when lastUse is unknown). */
  idleSeconds: number;
  /** Running operations in the session (type "op", active). */
  opCount: number;
  /** Longest secs_running among the running operations. */
  longestOpSeconds: number;
  /** Distinct op kinds of the running operations ("query", "command", "update", ...). */
  opTypes: string[];
  /** Distinct namespaces ("db.coll") of the running operations and idle cursors. */
  namespaces: string[];
  /** Opid of a sessionless operation ("123", or "shard:123" through mongos); "" for sessions. */
  opid: string;
  /** Distinct command names: the first key of `command`, or of `cursor.originatingCommand` for getMore and idle cursors. */
  commandNames: string[];
  /** Distinct comments (`command.comment`, `originatingCommand.comment`), non-strings as JSON. */
  comments: string[];
  /** `desc` of the oldest operation ("conn12", "IndexBuildsCoordinatorMongod-0"). */
  desc: string;
  /** `planSummary` of the oldest operation or cursor ("COLLSCAN", "IXSCAN { a: 1 }"). */
  planSummary: string;
  /** `queryShapeHash` of the oldest operation (8.0+); "" when not reported. */
  queryShapeHash: string;
  /** `connectionId` of the oldest operation (or of the idle transaction's last client); 0 when unknown. */
  connectionId: number;
  /** Some operation waits for a lock. */
  waitingForLock: boolean;
  /** Most time one operation spent acquiring locks (sum of lockStats.*.timeAcquiringMicros), in seconds. */
  lockWaitSeconds: number;
  /** Most yields of one operation. */
  numYields: number;
  /** Most write conflicts of one operation. */
  writeConflicts: number;
  /** Some operation of the record is already being killed (killPending). */
  killPending: boolean;
  /** Some cursor is tailable. */
  tailable: boolean;
  /** Some cursor is tailable with awaitData. */
  awaitData: boolean;
  /** Some cursor was opened with noCursorTimeout. */
  noCursorTimeout: boolean;
  /** Documents returned so far by the session's cursors (nDocsReturned, summed). */
  docsReturned: number;
  /** Some operation or cursor is a change stream. */
  isChangeStream: boolean;
  /** Some operation is an index build. */
  isIndexBuild: boolean;
  /** Some aggregation writes its output ($out / $merge). */
  writesOutput: boolean;
  /** Some command is an internal one (name starting with "_"). */
  isInternalCommand: boolean;
  /** Some operation or cursor is on local.*, config.* or admin.system.*. */
  isSystemNamespace: boolean;
  /** Some operation belongs to a resharding (reshardCollection, moveCollection, unshardCollection). */
  isResharding: boolean;
  /** Some operation is a distributed-commit coordinator's. */
  isCommitCoordinator: boolean;
  /** Documents of internal child sessions (lsid with txnUUID) joined to this, their parent session. */
  childSessionDocs: number;
  /** The session runs nothing, has no open transaction and no cursor: killing it frees nothing. */
  holdsNothing: boolean;
  /** The session has an open multi-document transaction (active or idle). */
  hasTransaction: boolean;
  /** txnNumber of the session's own open transaction (transaction.parameters.txnNumber); -1 when none. */
  txnNumber: number;
  /** Seconds since the transaction started. */
  txnOpenSeconds: number;
  /** Seconds the transaction spent executing. */
  txnActiveSeconds: number;
  /** Seconds the transaction spent idle between statements. */
  txnInactiveSeconds: number;
  /** The transaction is prepared (transaction.timePreparedMicros present); killSessions leaves it alone. */
  txnPrepared: boolean;
  /** Seconds until the server's transactionLifetimeLimitSeconds aborts it; 0 when unknown or absent. */
  txnExpiresInSeconds: number;
  /** Open cursors owned by the session. */
  cursorCount: number;
  /** Longest time since a cursor of the session was last used. */
  longestCursorIdleSeconds: number;
  /** Consecutive passes, this one included, that saw the record holding something (src/pass/sightings.ts); 0 when it holds nothing. */
  sightings: number;
  /** Seconds since the first of those consecutive sightings; 0 at the first one. */
  seenForSeconds: number;
  /** The session is the one the reaper itself is using for this pass. */
  isReaperSession: boolean;
  /** The session belongs to the user the reaper is authenticated as. */
  isReaperUser: boolean;
  /**
   * Replica-set members (host:port) where it holds an operation, transaction or cursor; through mongos the shard
   * members and routers; [] on a standalone.
   */
  members: string[];
  /** Distinct states ("PRIMARY", "SECONDARY") of those members. */
  memberStates: string[];
  /** It holds something on a secondary. */
  onSecondary: boolean;
  /** Through mongos: the shards where it holds something; [] elsewhere. */
  shards: string[];
}

const LISTINGS: readonly FactSource[] = ['listSessions', 'listLocalSessions'];
const ALL_DOCS: readonly FactSource[] = ['op', 'idleSession', 'idleCursor'];
const CLIENT_DOCS: readonly FactSource[] = ['op', 'idleSession'];
const OPS: readonly FactSource[] = ['op'];
const CURSORS: readonly FactSource[] = ['op', 'idleCursor'];

export const FACT_CATALOGUE: readonly FactSpec[] = [
  { name: 'target', type: 'string', unit: '"session" or "operation"', from: ALL_DOCS, perSession: 'session', meaning: 'What the record describes: a logical session, or a running operation without a session' },
  { name: 'sessionId', type: 'string', unit: 'UUID', from: [...LISTINGS, ...ALL_DOCS], perSession: 'session', meaning: 'Session id (lsid.id); "" for a sessionless operation' },
  { name: 'uid', type: 'string', unit: 'hex (64 digits)', from: [...LISTINGS, ...ALL_DOCS], perSession: 'session', meaning: 'SHA-256 of "user@db" (of "" without auth): the other half of the session key' },
  { name: 'user', type: 'string', unit: '"name@db"', from: [...LISTINGS, 'op'], perSession: 'session', meaning: 'Owning user; "" when unknown or auth is off' },
  { name: 'userName', type: 'string', unit: 'text', from: [...LISTINGS, 'op'], perSession: 'session', meaning: 'User name part of user' },
  { name: 'userDb', type: 'string', unit: 'text', from: [...LISTINGS, 'op'], perSession: 'session', meaning: 'Authentication database part of user' },
  { name: 'appName', type: 'string', unit: 'text', from: CLIENT_DOCS, perSession: 'identity', nullable: true, meaning: 'Client application name (appName in the handshake); "" when the client gave none; unknown (null) when no document of the session named its client' },
  { name: 'client', type: 'string', unit: 'host:port', from: CLIENT_DOCS, perSession: 'identity', nullable: true, meaning: 'Address of a client that used the session (client; through mongos the application\'s, clientMetadata.mongos.client); unknown (null) when none was seen' },
  { name: 'clientHost', type: 'string', unit: 'host', from: CLIENT_DOCS, perSession: 'identity', nullable: true, meaning: 'Client address without the port (for CIDR matching); unknown (null) when none was seen' },
  { name: 'clientDriver', type: 'string', unit: '"name version"', from: CLIENT_DOCS, perSession: 'identity', nullable: true, meaning: 'Driver name and version from clientMetadata.driver; unknown (null) when no handshake metadata was seen' },
  { name: 'lastUseMs', type: 'number', unit: 'epoch ms', from: [...LISTINGS, 'op', 'idleCursor'], perSession: 'max', meaning: 'Last use of the session (precise from $listLocalSessions, else the last 5-minute flush); 0 when unknown' },
  { name: 'idleSeconds', type: 'number', unit: 's', from: [...LISTINGS, 'op', 'idleCursor'], perSession: 'session', meaning: 'Seconds since lastUse' },
  { name: 'opCount', type: 'number', unit: 'count', from: OPS, perSession: 'count', meaning: 'Running operations in the session' },
  { name: 'longestOpSeconds', type: 'number', unit: 's', from: OPS, perSession: 'max', meaning: 'Longest secs_running among them' },
  { name: 'opTypes', type: 'string[]', unit: 'op kinds', from: OPS, perSession: 'list', meaning: 'Distinct op kinds running (query, command, update, insert, remove, getmore)' },
  { name: 'namespaces', type: 'string[]', unit: 'db.coll', from: CURSORS, perSession: 'list', meaning: 'Distinct namespaces of the running operations and idle cursors' },
  { name: 'opid', type: 'string', unit: 'opid', from: OPS, perSession: 'session', meaning: 'Opid of a sessionless operation ("shard:123" through mongos); "" for sessions' },
  { name: 'commandNames', type: 'string[]', unit: 'command names', from: CURSORS, perSession: 'list', meaning: 'First key of command, or of cursor.originatingCommand for getMore and idle cursors (find, aggregate, createIndexes, ...)' },
  { name: 'comments', type: 'string[]', unit: 'text', from: CURSORS, perSession: 'list', meaning: 'command.comment and cursor.originatingCommand.comment (non-strings as JSON)' },
  { name: 'desc', type: 'string', unit: 'text', from: CLIENT_DOCS, perSession: 'oldest', meaning: 'desc of the oldest operation (conn12, IndexBuildsCoordinatorMongod-0, inactive transaction)' },
  { name: 'planSummary', type: 'string', unit: 'text', from: CURSORS, perSession: 'oldest', meaning: 'planSummary of the oldest operation or cursor (COLLSCAN, IXSCAN { a: 1 }); "" when none' },
  { name: 'queryShapeHash', type: 'string', unit: 'hex', from: OPS, perSession: 'oldest', meaning: 'queryShapeHash of the oldest operation (MongoDB 8.0+); "" when not reported' },
  { name: 'connectionId', type: 'number', unit: 'id', from: CLIENT_DOCS, perSession: 'oldest', meaning: 'connectionId of the oldest operation (or of the idle transaction\'s last client); 0 when unknown' },
  { name: 'waitingForLock', type: 'boolean', unit: '', from: OPS, perSession: 'any', meaning: 'An operation is waiting for a lock' },
  { name: 'lockWaitSeconds', type: 'number', unit: 's', from: OPS, perSession: 'max', meaning: 'Time one operation spent acquiring locks (sum of lockStats.*.timeAcquiringMicros)' },
  { name: 'numYields', type: 'number', unit: 'count', from: OPS, perSession: 'max', meaning: 'Yields of one operation (numYields)' },
  { name: 'writeConflicts', type: 'number', unit: 'count', from: OPS, perSession: 'max', meaning: 'Write conflicts of one operation (writeConflicts)' },
  { name: 'killPending', type: 'boolean', unit: '', from: OPS, perSession: 'any', meaning: 'An operation is already being killed (killPending): it is dying, not to be killed or counted again' },
  { name: 'tailable', type: 'boolean', unit: '', from: CURSORS, perSession: 'any', meaning: 'A cursor is tailable (cursor.tailable)' },
  { name: 'awaitData', type: 'boolean', unit: '', from: CURSORS, perSession: 'any', meaning: 'A cursor is tailable with awaitData (cursor.awaitData)' },
  { name: 'noCursorTimeout', type: 'boolean', unit: '', from: CURSORS, perSession: 'any', meaning: 'A cursor was opened with noCursorTimeout (cursor.noCursorTimeout)' },
  { name: 'docsReturned', type: 'number', unit: 'count', from: CURSORS, perSession: 'sum', meaning: 'Documents the session\'s cursors returned so far (cursor.nDocsReturned)' },
  { name: 'isChangeStream', type: 'boolean', unit: '', from: CURSORS, perSession: 'any', meaning: 'A change stream: $changeStream first stage of the pipeline or of the originating command' },
  { name: 'isIndexBuild', type: 'boolean', unit: '', from: OPS, perSession: 'any', meaning: 'An index build: a createIndexes command, an IndexBuildsCoordinator* desc or an "Index Build" msg' },
  { name: 'writesOutput', type: 'boolean', unit: '', from: CURSORS, perSession: 'any', meaning: 'An aggregation writing its output ($out or $merge stage); killed half-way it leaves partial output' },
  { name: 'isInternalCommand', type: 'boolean', unit: '', from: CURSORS, perSession: 'any', meaning: 'An internal command (name starting with "_": _shardsvr*, _configsvr*, _recvChunk*, _migrateClone, _transferMods)' },
  { name: 'isSystemNamespace', type: 'boolean', unit: '', from: CURSORS, perSession: 'any', meaning: 'An operation or cursor on local.*, config.* or admin.system.*' },
  { name: 'isResharding', type: 'boolean', unit: '', from: OPS, perSession: 'any', meaning: 'Resharding work: a Resharding* desc or a (_shardsvr/_configsvr/commit/abort) reshardCollection, moveCollection or unshardCollection command' },
  { name: 'isCommitCoordinator', type: 'boolean', unit: '', from: OPS, perSession: 'any', meaning: 'Distributed-commit coordination: desc "transaction coordinator", a twoPhaseCommitCoordinator report or coordinateCommitTransaction' },
  { name: 'childSessionDocs', type: 'number', unit: 'count', from: ALL_DOCS, perSession: 'count', meaning: 'Documents of internal child sessions (lsid with txnNumber/txnUUID, 5.0+) joined to this parent session, the kill target' },
  { name: 'holdsNothing', type: 'boolean', unit: '', from: ALL_DOCS, perSession: 'session', meaning: 'Runs nothing, no open transaction, no cursor: killing it frees nothing, so only a rule naming this fact can make it a kill target' },
  { name: 'hasTransaction', type: 'boolean', unit: '', from: CLIENT_DOCS, perSession: 'any', meaning: 'An open multi-document transaction (active or idle)' },
  { name: 'txnNumber', type: 'number', unit: 'number', from: CLIENT_DOCS, perSession: 'max', meaning: 'txnNumber of the session\'s own open transaction (transaction.parameters.txnNumber, not its internal child sessions\'); -1 when none' },
  { name: 'txnOpenSeconds', type: 'number', unit: 's', from: CLIENT_DOCS, perSession: 'max', meaning: 'Time since the transaction started (timeOpenMicros)' },
  { name: 'txnActiveSeconds', type: 'number', unit: 's', from: CLIENT_DOCS, perSession: 'max', meaning: 'Time the transaction spent executing (timeActiveMicros)' },
  { name: 'txnInactiveSeconds', type: 'number', unit: 's', from: CLIENT_DOCS, perSession: 'max', meaning: 'Time the transaction spent idle (timeInactiveMicros)' },
  { name: 'txnPrepared', type: 'boolean', unit: '', from: CLIENT_DOCS, perSession: 'any', meaning: 'The transaction is prepared; killSessions never aborts it' },
  { name: 'txnExpiresInSeconds', type: 'number', unit: 's', from: CLIENT_DOCS, perSession: 'max', meaning: 'Time until transactionLifetimeLimitSeconds aborts it; 0 when unknown' },
  { name: 'cursorCount', type: 'number', unit: 'count', from: ['idleCursor'], perSession: 'count', meaning: 'Open cursors owned by the session' },
  { name: 'longestCursorIdleSeconds', type: 'number', unit: 's', from: ['idleCursor'], perSession: 'max', meaning: 'Longest time since one of its cursors was last used' },
  { name: 'sightings', type: 'number', unit: 'count', from: ['sightings'], perSession: 'session', meaning: 'Consecutive passes, this one included, that saw the session (or sessionless operation) holding something: a running operation, an open transaction or a cursor; 1 at the first; 0 when it holds nothing. Kept across passes by the state store (--state FILE, REAPER_STATE_TABLE)' },
  { name: 'seenForSeconds', type: 'number', unit: 's', from: ['sightings'], perSession: 'session', meaning: 'Seconds since the first of those consecutive sightings (0 at the first)' },
  { name: 'isReaperSession', type: 'boolean', unit: '', from: ['reaper'], perSession: 'session', meaning: 'The session the reaper itself uses' },
  { name: 'isReaperUser', type: 'boolean', unit: '', from: ['reaper'], perSession: 'session', meaning: 'The session belongs to the reaper\'s own user' },
  { name: 'members', type: 'string[]', unit: 'host:port', from: ALL_DOCS, perSession: 'list', meaning: 'Replica-set members where it holds an operation, transaction or cursor (the kill goes to each); through mongos the shard members and routers (one killSessions through the router reaches them all); [] on a standalone, a one-member set or with --members primary' },
  { name: 'memberStates', type: 'string[]', unit: '"PRIMARY", "SECONDARY"', from: ALL_DOCS, perSession: 'list', meaning: 'Distinct states of those members' },
  { name: 'onSecondary', type: 'boolean', unit: '', from: ALL_DOCS, perSession: 'any', meaning: 'It holds something on a secondary (reads with a secondary read preference)' },
  { name: 'shards', type: 'string[]', unit: 'shard name', from: ALL_DOCS, perSession: 'list', meaning: 'Through mongos: the shards where it holds an operation, transaction or cursor (a transaction\'s participants); [] elsewhere' },
];

/**
 * The key of a record across reads and passes: the session pair, or a sessionless operation's opid with the member it
 * runs on. Opids are per process (curop.cpp numbers each mongod's operations on its own): the same number on two
 * members of a replica set, or "shard1:5" on a shard's secondary read directly and on its primary through the router,
 * are two operations. Where no member is known (a standalone, a one-member set, --members primary) the key is the
 * opid alone, as it was before members were read, so sightings saved then are still continued there; an entry of a
 * multi-member deployment saved without its member is not continued (its next sighting counts as a first one, which
 * delays a kill rather than causing one).
 */
export function recordKey(f: Pick<SessionFacts, 'target' | 'sessionId' | 'uid' | 'opid' | 'members'>): string {
  if (f.target !== 'operation') return `s:${f.sessionId}:${f.uid}`;
  return f.members.length === 0 ? `o:${f.opid}` : `o:${f.opid}@${f.members.join(',')}`;
}

/** Facts that can be unknown (null): a session's identity, seen or not in this pass. */
export const IDENTITY_FACTS: readonly (keyof SessionFacts)[] = FACT_CATALOGUE.filter((f) => f.nullable).map((f) => f.name);

export const FACT_NAMES: ReadonlySet<string> = new Set(FACT_CATALOGUE.map((f) => f.name));

/**
 * Shared by every record with nothing running: a million idle sessions need no million empty arrays.
 * Frozen, so code that wants to add to a list must replace it (copy on write), never push into it.
 */
export const NO_STRINGS: string[] = Object.freeze([]) as unknown as string[];

/**
 * Puts every fact of a record back to its "absent" value. The one list of absent values: emptyFacts builds
 * new records with it, and the inventory resets its scratch record with it (plain stores: Object.assign
 * from a template was ten times slower on the million-session path).
 */
export function resetFacts(f: SessionFacts, target: SessionFacts['target'] = 'session'): SessionFacts {
  f.target = target; f.sessionId = ''; f.uid = ''; f.user = ''; f.userName = ''; f.userDb = ''; f.appName = null;
  f.client = null; f.clientHost = null; f.clientDriver = null; f.lastUseMs = 0; f.idleSeconds = 0; f.opCount = 0;
  f.longestOpSeconds = 0; f.opTypes = NO_STRINGS; f.namespaces = NO_STRINGS; f.opid = ''; f.commandNames = NO_STRINGS;
  f.comments = NO_STRINGS; f.desc = ''; f.planSummary = ''; f.queryShapeHash = ''; f.connectionId = 0; f.waitingForLock = false;
  f.lockWaitSeconds = 0; f.numYields = 0; f.writeConflicts = 0; f.killPending = false; f.tailable = false; f.awaitData = false;
  f.noCursorTimeout = false; f.docsReturned = 0; f.isChangeStream = false; f.isIndexBuild = false; f.writesOutput = false;
  f.isInternalCommand = false; f.isSystemNamespace = false; f.isResharding = false; f.isCommitCoordinator = false;
  f.childSessionDocs = 0; f.holdsNothing = true; f.hasTransaction = false; f.txnNumber = -1; f.txnOpenSeconds = 0; f.txnActiveSeconds = 0;
  f.txnInactiveSeconds = 0; f.txnPrepared = false; f.txnExpiresInSeconds = 0; f.cursorCount = 0; f.longestCursorIdleSeconds = 0;
  f.sightings = 0; f.seenForSeconds = 0; f.isReaperSession = false; f.isReaperUser = false;
  f.members = NO_STRINGS; f.memberStates = NO_STRINGS; f.onSecondary = false; f.shards = NO_STRINGS;
  return f;
}

/** Every fact at its "absent" value, laid out once by resetFacts (the one list); emptyFacts copies it. */
const ABSENT_FACTS: Readonly<SessionFacts> = resetFacts({} as SessionFacts);

/**
 * A record with every fact at its "absent" value; the inventory fills in what it knows. A spread copy of
 * ABSENT_FACTS: V8 clones the template's layout in one allocation (every fact inside the object), as the
 * class constructor this replaced did through slack tracking, but a copy is one operation where the
 * constructor was 60 stores, each a layout transition: 4x faster to create (1,000,000 records: 213 ms against
 * 783-866 ms), and TurboFan no longer spends ~100 ms compiling every function that inlined the constructor
 * (the inventory's record and newRecord, `--trace-opt`), work that ran on V8's background threads for the
 * first hundred or so passes of a container.
 */
export function emptyFacts(target: SessionFacts['target'] = 'session'): SessionFacts {
  return { ...ABSENT_FACTS, target };
}
