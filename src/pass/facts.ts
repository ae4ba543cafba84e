/**
 * The fact record: one per session (or per sessionless operation), built by the inventory stage
 * and evaluated by the policy stage. Facts are flat and always defined (0, "", false, [] when the
 * thing is absent) so that json-rules-engine never meets an undefined fact and compiled conditions
 * need no null checks. FACT_CATALOGUE is the single source of the names, types, units and meanings:
 * policy validation, the README's fact catalogue and the random-fact generators all read it.
 */

export type FactType = 'string' | 'number' | 'boolean' | 'string[]';

export interface FactSpec {
  readonly name: keyof SessionFacts;
  readonly type: FactType;
  readonly unit: string;
  readonly meaning: string;
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
  /** Client application name from the handshake (appName); "" when none was reported. */
  appName: string;
  /** Client address "host:port" of the last connection that used the session; "" when unknown. */
  client: string;
  /** Client host (address without the port); "" when unknown. */
  clientHost: string;
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
  /** Distinct namespaces ("db.coll") of the running operations. */
  namespaces: string[];
  /** Opid of a sessionless operation ("123", or "shard:123" through mongos); "" for sessions. */
  opid: string;
  /** The session has an open multi-document transaction (active or idle). */
  hasTransaction: boolean;
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
  /** The session is the one the reaper itself is using for this pass. */
  isReaperSession: boolean;
  /** The session belongs to the user the reaper is authenticated as. */
  isReaperUser: boolean;
  /** Replica-set members (host:port) where it holds an operation, transaction or cursor; [] on a standalone. */
  members: string[];
  /** Distinct states ("PRIMARY", "SECONDARY") of those members. */
  memberStates: string[];
  /** It holds something on a secondary. */
  onSecondary: boolean;
}

export const FACT_CATALOGUE: readonly FactSpec[] = [
  { name: 'target', type: 'string', unit: '"session" or "operation"', meaning: 'What the record describes: a logical session, or a running operation without a session' },
  { name: 'sessionId', type: 'string', unit: 'UUID', meaning: 'Session id; "" for a sessionless operation' },
  { name: 'uid', type: 'string', unit: 'hex (64 digits)', meaning: 'SHA-256 of "user@db" (of "" without auth): the other half of the session key' },
  { name: 'user', type: 'string', unit: '"name@db"', meaning: 'Owning user; "" when unknown or auth is off' },
  { name: 'userName', type: 'string', unit: 'text', meaning: 'User name part of user' },
  { name: 'userDb', type: 'string', unit: 'text', meaning: 'Authentication database part of user' },
  { name: 'appName', type: 'string', unit: 'text', meaning: 'Client application name (appName in the handshake); "" when none' },
  { name: 'client', type: 'string', unit: 'host:port', meaning: 'Address of the client that last used the session' },
  { name: 'clientHost', type: 'string', unit: 'host', meaning: 'Client address without the port (for CIDR matching)' },
  { name: 'lastUseMs', type: 'number', unit: 'epoch ms', meaning: 'Last use of the session (precise from $listLocalSessions, else the last 5-minute flush); 0 when unknown' },
  { name: 'idleSeconds', type: 'number', unit: 's', meaning: 'Seconds since lastUse' },
  { name: 'opCount', type: 'number', unit: 'count', meaning: 'Running operations in the session' },
  { name: 'longestOpSeconds', type: 'number', unit: 's', meaning: 'Longest secs_running among them' },
  { name: 'opTypes', type: 'string[]', unit: 'op kinds', meaning: 'Distinct op kinds running (query, command, update, insert, remove, getmore)' },
  { name: 'namespaces', type: 'string[]', unit: 'db.coll', meaning: 'Distinct namespaces of the running operations' },
  { name: 'opid', type: 'string', unit: 'opid', meaning: 'Opid of a sessionless operation ("shard:123" through mongos); "" for sessions' },
  { name: 'hasTransaction', type: 'boolean', unit: '', meaning: 'An open multi-document transaction (active or idle)' },
  { name: 'txnOpenSeconds', type: 'number', unit: 's', meaning: 'Time since the transaction started (timeOpenMicros)' },
  { name: 'txnActiveSeconds', type: 'number', unit: 's', meaning: 'Time the transaction spent executing (timeActiveMicros)' },
  { name: 'txnInactiveSeconds', type: 'number', unit: 's', meaning: 'Time the transaction spent idle (timeInactiveMicros)' },
  { name: 'txnPrepared', type: 'boolean', unit: '', meaning: 'The transaction is prepared; killSessions never aborts it' },
  { name: 'txnExpiresInSeconds', type: 'number', unit: 's', meaning: 'Time until transactionLifetimeLimitSeconds aborts it; 0 when unknown' },
  { name: 'cursorCount', type: 'number', unit: 'count', meaning: 'Open cursors owned by the session' },
  { name: 'longestCursorIdleSeconds', type: 'number', unit: 's', meaning: 'Longest time since one of its cursors was last used' },
  { name: 'isReaperSession', type: 'boolean', unit: '', meaning: 'The session the reaper itself uses' },
  { name: 'isReaperUser', type: 'boolean', unit: '', meaning: 'The session belongs to the reaper\'s own user' },
  { name: 'members', type: 'string[]', unit: 'host:port', meaning: 'Replica-set members where it holds an operation, transaction or cursor; [] on a standalone or through mongos' },
  { name: 'memberStates', type: 'string[]', unit: '"PRIMARY", "SECONDARY"', meaning: 'Distinct states of those members' },
  { name: 'onSecondary', type: 'boolean', unit: '', meaning: 'It holds something on a secondary (reads with secondary read preference)' },
];

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
  f.target = target; f.sessionId = ''; f.uid = ''; f.user = ''; f.userName = ''; f.userDb = ''; f.appName = '';
  f.client = ''; f.clientHost = ''; f.lastUseMs = 0; f.idleSeconds = 0; f.opCount = 0; f.longestOpSeconds = 0;
  f.opTypes = NO_STRINGS; f.namespaces = NO_STRINGS; f.opid = ''; f.hasTransaction = false; f.txnOpenSeconds = 0;
  f.txnActiveSeconds = 0; f.txnInactiveSeconds = 0; f.txnPrepared = false; f.txnExpiresInSeconds = 0; f.cursorCount = 0;
  f.longestCursorIdleSeconds = 0; f.isReaperSession = false; f.isReaperUser = false;
  f.members = NO_STRINGS; f.memberStates = NO_STRINGS; f.onSecondary = false;
  return f;
}

/** A record with every fact at its "absent" value; the inventory fills in what it knows. */
export function emptyFacts(target: SessionFacts['target'] = 'session'): SessionFacts {
  return resetFacts({} as SessionFacts, target);
}
