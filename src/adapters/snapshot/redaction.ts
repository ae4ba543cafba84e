/**
 * What a snapshot keeps of the documents it records. $currentOp documents carry whole commands, filters and
 * originating commands: customer data. By default every value is replaced by a marker naming its BSON type
 * ("<redacted:string>"), and field names and shapes are kept, except the values listed here: the ones the
 * reaper's facts are made of, plus the server's own bookkeeping (identifiers, times, counters, flags, the
 * names a client announces about itself), so that a fact added later can still be computed from an old
 * snapshot. A field not listed is redacted, so a field a future server adds stays redacted until it is
 * listed here. `--keep-values` keeps every value; credentials are removed whatever the mode.
 *
 * docs/snapshots.md lists the kept fields with the reason for each; a test holds the two lists together.
 */

import { truncatedCommandName } from '../mongodb/activity.ts';

/** A dotted path (array elements are transparent: "effectiveUsers.user" is the user of every element). */
export interface KeptField {
  path: string;
  why: string;
  /**
   * Keep only part of a string value: "command name" keeps the name a truncated command's text starts with
   * (`{ find: "c", filter: ... }` becomes `{ find: <redacted:string> }`), which is all the facts read of it.
   */
  part?: 'command name';
}

/** Every value of $listSessions and $listLocalSessions documents is a fact: the session key, its last use, its user. */
export const KEPT_LISTING_FIELDS: readonly KeptField[] = [
  { path: '_id', why: 'the session key {id, uid}: what killSessions needs and what the inventory joins on' },
  { path: 'lastUse', why: 'lastUseMs and idleSeconds' },
  { path: 'user', why: 'user, userName, userDb, isReaperUser' },
];

export const KEPT_CURRENT_OP_FIELDS: readonly KeptField[] = [
  { path: 'type', why: 'op, idleSession or idleCursor: what the document describes' },
  { path: 'lsid', why: 'the session key {id, uid} of the operation, transaction or cursor' },
  { path: 'opid', why: 'opid, the killOp target of a sessionless operation' },
  { path: 'active', why: 'an inactive op is not running' },
  { path: 'secs_running', why: 'longestOpSeconds' },
  { path: 'microsecs_running', why: 'the precise running time' },
  { path: 'op', why: 'opTypes' },
  { path: 'ns', why: 'namespaces (database and collection names, no data)' },
  { path: 'appName', why: 'appName: the name the client announces, matched by the protections' },
  { path: 'client', why: 'client and clientHost (host:port)' },
  { path: 'client_s', why: 'client and clientHost through mongos' },
  { path: 'effectiveUsers', why: 'user, userName, userDb of a sessionless operation' },
  { path: 'runBy', why: 'the user an operation runs as, when impersonated' },
  { path: 'currentOpTime', why: 'the server\'s clock when it listed the operation' },
  { path: 'host', why: 'the member that reported the document' },
  { path: 'shard', why: 'the shard, through mongos' },
  { path: 'desc', why: 'the connection or thread name ("conn12")' },
  { path: 'connectionId', why: 'the connection that runs the operation' },
  { path: 'threaded', why: 'server bookkeeping flag' },
  { path: 'killPending', why: 'the operation is already being killed' },
  { path: 'waitingForLock', why: 'lock waits' },
  { path: 'waitingForFlowControl', why: 'flow-control waits' },
  { path: 'numYields', why: 'yield count' },
  { path: 'locks', why: 'lock modes held (letters per resource)' },
  { path: 'lockStats', why: 'lock counters' },
  { path: 'flowControlStats', why: 'flow-control counters' },
  { path: 'planSummary', why: 'the plan ("COLLSCAN", "IXSCAN { a: 1 }"): stage and index key pattern, no values' },
  { path: 'prepareReadConflicts', why: 'counter' },
  { path: 'writeConflicts', why: 'counter' },
  { path: 'dataThroughputLastSecond', why: 'counter' },
  { path: 'dataThroughputAverage', why: 'counter' },
  { path: 'clientMetadata.application.name', why: 'the application name from the handshake' },
  { path: 'clientMetadata.driver', why: 'driver name and version' },
  { path: 'clientMetadata.os', why: 'operating system type, name, architecture, version' },
  { path: 'clientMetadata.platform', why: 'runtime platform string' },
  { path: 'clientMetadata.mongos', why: 'through mongos: the router (host, version) and the application\'s address (client)' },
  { path: 'transaction.parameters.txnNumber', why: 'transaction number' },
  { path: 'transaction.parameters.autocommit', why: 'always false for a multi-document transaction' },
  { path: 'transaction.startWallClockTime', why: 'when the transaction started' },
  { path: 'transaction.timeOpenMicros', why: 'txnOpenSeconds' },
  { path: 'transaction.timeActiveMicros', why: 'txnActiveSeconds' },
  { path: 'transaction.timeInactiveMicros', why: 'txnInactiveSeconds' },
  { path: 'transaction.timePreparedMicros', why: 'txnPrepared' },
  { path: 'transaction.expiryTime', why: 'txnExpiresInSeconds' },
  { path: 'transaction.readTimestamp', why: 'the snapshot the transaction reads' },
  { path: 'transaction.numParticipants', why: 'participants of a cross-shard transaction' },
  { path: 'cursor.cursorId', why: 'the cursor' },
  { path: 'cursor.createdDate', why: 'when the cursor was opened' },
  { path: 'cursor.lastAccessDate', why: 'longestCursorIdleSeconds' },
  { path: 'cursor.nDocsReturned', why: 'counter' },
  { path: 'cursor.nBatchesReturned', why: 'counter' },
  { path: 'cursor.noCursorTimeout', why: 'the cursor never times out on the server' },
  { path: 'cursor.tailable', why: 'cursor kind' },
  { path: 'cursor.awaitData', why: 'cursor kind' },
  { path: 'cursor.planSummary', why: 'the cursor\'s plan (stage and key pattern, no values)' },
  { path: 'cursor.operationUsingCursorId', why: 'the operation reading the cursor' },
  // What the facts read of the command (src/adapters/mongodb/adapter.ts toActivity): its name is the first
  // field name and its pipeline's stage names are field names too, which are always kept; its comment and the
  // name inside a truncated command's text are values.
  { path: 'command.comment', why: 'comments: the comment a client attaches to a command to say what it is, matched by policies' },
  { path: 'command.$truncated', why: 'commandNames of a command the server truncated: only the command name its text starts with', part: 'command name' },
  { path: 'cursor.originatingCommand.comment', why: 'comments of a getMore or idle cursor: the originating command\'s comment' },
  { path: 'cursor.originatingCommand.$truncated', why: 'commandNames of a truncated originating command: only the command name its text starts with', part: 'command name' },
  { path: 'msg', why: 'isIndexBuild: the progress message of a long operation ("Index Build: scanning collection")' },
  { path: 'queryShapeHash', why: 'queryShapeHash: a hash of the query\'s shape, no values' },
  { path: 'twoPhaseCommitCoordinator', why: 'isCommitCoordinator: the document reports a distributed commit\'s coordinator' },
];

/**
 * Fields whose value is a credential, removed at any depth in every mode (with --keep-values too): user
 * creation and password changes (createUser/updateUser pwd), SASL conversations (saslStart/saslContinue
 * payload), the cluster-time HMAC ($clusterTime.signature), and the generic names. Matched case-insensitively.
 * Connection strings inside kept strings lose their user:password part (src/util/redact.ts).
 */
export const CREDENTIAL_FIELDS: ReadonlySet<string> = new Set(['pwd', 'password', 'passwd', 'payload', 'secret', 'token', 'signature']);

/** The marker a redacted value is replaced by: it names the BSON type (the $type alias) and nothing else. */
export function redactedMarker(type: string): string {
  return `<redacted:${type}>`;
}

/**
 * A compiled keep list: per field name, the subtree kept. `all` keeps the value and everything under it;
 * `part` keeps only what it returns of a string value (other types are redacted).
 */
export interface KeepNode {
  readonly all: boolean;
  readonly part?: (value: string) => string;
  readonly children: ReadonlyMap<string, KeepNode>;
}

const PARTS: Readonly<Record<NonNullable<KeptField['part']>, (value: string) => string>> = {
  'command name': (value) => {
    const name = truncatedCommandName(value);
    return name ? `{ ${name}: ${redactedMarker('string')} }` : redactedMarker('string');
  },
};

/** Keeps every value (--keep-values): only credentials are removed. */
export const KEEP_ALL: KeepNode = { all: true, children: new Map() };

export function compileKept(fields: readonly KeptField[]): KeepNode {
  type Mutable = { all: boolean; part?: (value: string) => string; children: Map<string, Mutable> };
  const root: Mutable = { all: false, children: new Map() };
  for (const { path, part } of fields) {
    let node = root;
    for (const segment of path.split('.')) {
      let next = node.children.get(segment);
      if (!next) node.children.set(segment, (next = { all: false, children: new Map() }));
      node = next;
    }
    if (part) node.part = PARTS[part];
    else node.all = true;
  }
  return root;
}
