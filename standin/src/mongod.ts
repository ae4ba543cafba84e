/**
 * The stand-in's server state and command dispatch: the parts of mongod's ServiceEntryPoint that matter
 * for sessions (src/mongo/db/service_entry_point_common.cpp, initialize_operation_session_info.cpp).
 *
 * Order of checks for a command, as mongod does them:
 *  1. command lookup (59 CommandNotFound "no such command: '<name>'");
 *  2. the failCommand fail point;
 *  3. authentication ("command <name> requires authentication") and adminOnly;
 *  4. the lsid: parsed strictly, uid resolved by makeLogicalSessionId (foreign uid needs impersonate), session vivified;
 *  5. transaction state (txnNumber / autocommit / startTransaction);
 *  6. the command itself, registered as a running operation so that $currentOp sees it and kills interrupt it.
 */
import { Long, type Document } from 'bson';
import { AuthRegistry, hasPrivilege, NO_AUTH_DIGEST, userDigest, type Resource } from './auth.ts';
import { CommandError, errorLabels, toErrorReply } from './errors.ts';
import { FailPoints } from './failpoints.ts';
import { expectDoc, expectUuid, expectSha256, isDoc, isNumber, rejectUnknown, toNumber, wrongType } from './idl.ts';
import { OpRegistry, interruptedError, type Operation } from './ops.ts';
import { CursorManager, CURSOR_TIMEOUT_MILLIS } from './cursors.ts';
import { SessionCatalog, formatUuid, uidBinary, type ClientInfo, type SessionRecord, type Transaction } from './sessions.ts';
import { Storage } from './storage.ts';
import { SessionsCollection } from './sessions-collection.ts';
import { systemClock, type Clock } from './clock.ts';
import type { ScramServerConversation } from './scram.ts';
import type { InboundState } from './inbound.ts';
import type { ReplicaMember } from './replication.ts';

export interface ConnState {
  readonly id: number;
  readonly remote: string;
  clientMetadata: Document | null;
  appName: string;
  user: { user: string; db: string } | null;
  readonly scram: Map<number, ScramServerConversation>;
  /** The handshake said helloOk: true (the server then says "not primary" rather than "not master"). */
  supportsHello: boolean;
  /** Resolves when the connection is closed (an awaitable hello stops waiting then). */
  readonly closed: Promise<void>;
  /** Closes the socket (fail points with closeConnection). */
  close(): void;
  /** Flow control of the connection's requests (inbound.ts), reported by serverStatus. */
  inboundState?(): InboundState;
  /**
   * A router's pooled connection to this shard member, acting for one client: mongos authenticates to shards
   * as the cluster's internal user (__system, every privilege) and sends the client's user along as
   * impersonation data, so the ops it runs show the client's effectiveUsers (sharding/router.ts).
   */
  readonly internal?: boolean;
}

export interface CommandContext {
  readonly mongod: Mongod;
  readonly conn: ConnState;
  readonly db: string;
  readonly cmd: Document;
  readonly name: string;
  readonly session: SessionRecord | null;
  readonly txn: Transaction | null;
  readonly op: Operation;
  readonly now: number;
  /** The OP_MSG request had exhaustAllowed: the command may set `$nextInvocation` on its reply to stream. */
  readonly exhaustAllowed: boolean;
}

/**
 * Command::secondaryAllowed (src/mongo/db/commands.h): where a command may run on a member that is not
 * primary: 'always', 'optIn' (reads, with a read preference other than primary) or 'never' (writes).
 */
export type SecondaryAllowed = 'always' | 'optIn' | 'never';

export interface CommandDef {
  readonly names: readonly string[];
  /** Only on admin: "<name> may only be run against the admin database." */
  readonly adminOnly?: boolean;
  /** Default true: unauthenticated clients get 13 when auth is on. */
  readonly requiresAuth?: boolean;
  /** attachLogicalSessionsToOpCtx() == false: the lsid is ignored (kill commands, endSessions...). */
  readonly ignoresSession?: boolean;
  readonly allowedInTransaction?: boolean;
  /**
   * As the server's commands declare it: find_cmd.cpp, count_cmd.cpp, pipeline_command.cpp,
   * list_collections.cpp, list_databases.cpp, user_management_commands.cpp usersInfo: optIn; write_commands.cpp,
   * create/drop, txn_cmds.cpp, the user-changing commands: never; hello, getMore, killCursors, the session and
   * kill commands, currentOp, the admin commands: always.
   */
  readonly secondaryAllowed: SecondaryAllowed;
  /** The `op` field of $currentOp for this command. */
  readonly opType?: string;
  run(ctx: CommandContext): Document | Promise<Document>;
}

export interface MongodParams {
  auth: boolean;
  /** transactionLifetimeLimitSeconds: 60, runtime-settable (transaction_participant.idl). */
  transactionLifetimeLimitSeconds: number;
  /** logicalSessionRefreshMillis: 300000 (logical_session_cache.idl). */
  logicalSessionRefreshMillis: number;
  /** localLogicalSessionTimeoutMinutes: 30 (logical_session_id.idl). */
  localLogicalSessionTimeoutMinutes: number;
  /** maxSessions: 1,000,000 (logical_session_cache.idl). */
  maxSessions: number;
  cursorTimeoutMillis: number;
  /** ttlMonitorSleepSecs: 60 (src/mongo/db/ttl.idl). */
  ttlMonitorSleepSecs: number;
}

export const DEFAULT_PARAMS: MongodParams = {
  auth: false,
  transactionLifetimeLimitSeconds: 60,
  logicalSessionRefreshMillis: 300_000,
  localLogicalSessionTimeoutMinutes: 30,
  maxSessions: 1_000_000,
  cursorTimeoutMillis: CURSOR_TIMEOUT_MILLIS,
  ttlMonitorSleepSecs: 60,
};

export type Logger = (line: string) => void;

export type KillPattern = { kind: 'all' } | { kind: 'uid'; uidHex: string } | { kind: 'lsid'; idHex: string; uidHex: string };

/** What a session key looks like once resolved: the record's hex fields. */
export interface ResolvedLsid {
  idHex: string;
  uidHex: string;
}

/** What buildInfo and hello say this server is. */
export interface ServerVersion {
  readonly version: string;
  /** hello.maxWireVersion: 21 is 7.0, 22 is 7.1, 25 is 8.0 (src/mongo/db/wire_version.h). */
  readonly maxWireVersion: number;
}

export const DEFAULT_VERSION: ServerVersion = { version: '7.0.14', maxWireVersion: 21 };

export interface MongodOptions {
  params?: Partial<MongodParams>;
  /** Default 7.0.14 (wire version 21). */
  version?: ServerVersion;
  log?: Logger;
  /** Where every reported or compared time comes from (default: the system clock). */
  clock?: Clock;
  /**
   * What a replica set's members share, as replicated data: documents, users, config.system.sessions.
   * A node on its own gets fresh ones.
   */
  storage?: Storage;
  auth?: AuthRegistry;
  sessionsCollection?: SessionsCollection;
}

export class Mongod {
  readonly params: MongodParams;
  readonly version: ServerVersion;
  readonly clock: Clock;
  readonly auth: AuthRegistry;
  readonly sessions: SessionCatalog;
  /** config.system.sessions (shared by a replica set's members). */
  readonly sessionsCollection: SessionsCollection;
  readonly ops = new OpRegistry();
  readonly cursors = new CursorManager();
  readonly storage: Storage;
  readonly failPoints = new FailPoints();
  readonly startedAt: number;
  readonly log: Logger;
  readonly commands = new Map<string, CommandDef>();
  readonly connections = new Map<number, ConnState>();
  /** host:port this server answers as, for hello's `me`, `hosts` and `primary`. */
  hostAndPort = 'localhost:27017';
  /** serverStatus.process: 'mongos' for a router (sharding/router.ts). */
  processName: 'mongod' | 'mongos' = 'mongod';
  /** This node's place in its replica set (the single-node stand-in is a set of one). */
  member: ReplicaMember | null = null;
  private readonly timers: NodeJS.Timeout[] = [];
  private txnReaperTimer: NodeJS.Timeout | null = null;
  stats = { commands: 0, killSessionsCalls: 0, sessionsKilled: 0, connectionsCreated: 0 };

  constructor(opts: MongodOptions = {}) {
    this.params = { ...DEFAULT_PARAMS, ...opts.params };
    this.version = opts.version ?? DEFAULT_VERSION;
    this.log = opts.log ?? (() => {});
    this.clock = opts.clock ?? systemClock;
    this.startedAt = this.clock.now();
    this.auth = opts.auth ?? new AuthRegistry();
    this.storage = opts.storage ?? new Storage();
    this.sessionsCollection = opts.sessionsCollection ?? new SessionsCollection();
    this.sessions = new SessionCatalog({
      timeoutMinutes: this.params.localLogicalSessionTimeoutMinutes,
      refreshMillis: this.params.logicalSessionRefreshMillis,
      maxSessions: this.params.maxSessions,
    }, this.sessionsCollection);
  }

  now(): number {
    return this.clock.now();
  }

  /**
   * canAcceptWritesForDatabase (replication_coordinator_impl.cpp): the primary, a node outside any replica
   * set, or any member for the unreplicated "local" database.
   */
  canAcceptWrites(db: string): boolean {
    return !this.member || db === 'local' || this.member.isPrimary();
  }

  /** A write was applied: the set's last optime moves (hello's lastWrite). */
  noteWrite(): void {
    this.member?.topology.noteWrite();
  }

  register(defs: CommandDef[]): void {
    for (const d of defs) for (const n of d.names) this.commands.set(n, d);
  }

  /**
   * Background jobs: cache refresh, TTL monitor, transaction reaper, cursor monitor. They run on real timers
   * and read the injected clock; runBackgroundJobs() runs them all now, for tests that move a ManualClock.
   */
  startBackgroundJobs(): void {
    const every = (ms: number, fn: () => void): void => {
      const t = setInterval(() => this.guarded(fn), ms);
      t.unref();
      this.timers.push(t);
    };
    every(this.params.logicalSessionRefreshMillis, () => this.refreshSessions());
    every(this.params.ttlMonitorSleepSecs * 1000, () => this.expireSessionDocuments());
    // clientCursorMonitorFrequencySecs = 4 (cursor_server_params.idl)
    every(4000, () => this.timeOutCursors());
    this.scheduleTransactionReaper();
  }

  /** Runs every periodic job once, now (by the injected clock): transaction reaper, cursor monitor, refresh, TTL. */
  runBackgroundJobs(): { transactionsAborted: number; cursorsTimedOut: number; documentsExpired: number } {
    const transactionsAborted = this.abortExpiredTransactions(this.now());
    const cursorsTimedOut = this.timeOutCursors();
    this.refreshSessions();
    const documentsExpired = this.expireSessionDocuments();
    return { transactionsAborted, cursorsTimedOut, documentsExpired };
  }

  timeOutCursors(): number {
    return this.cursors.timeOut(this.now(), this.params.cursorTimeoutMillis);
  }

  /**
   * The TTL monitor's pass over config.system.sessions (index lsidTTLIndex, expireAfterSeconds =
   * localLogicalSessionTimeoutMinutes * 60, sessions_collection.cpp). In a replica set only the primary
   * deletes (ttl.cpp skips collections it cannot write); the deletes reach the others by replication.
   */
  expireSessionDocuments(): number {
    if (!this.canAcceptWrites('config')) return 0;
    return this.sessionsCollection.expire(this.now() - this.params.localLogicalSessionTimeoutMinutes * 60_000);
  }

  /** A periodic job's failure is logged, not thrown out of a timer (which would end the process). */
  private guarded(fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.log(`background job failed: ${(e as Error).message}`);
    }
  }

  /**
   * abortExpiredTransactions runs every transactionLifetimeLimitSeconds * 500 ms, clamped to [1 s, 60 s]
   * (periodic_runner_job_abort_expired_transactions.cpp), so it is rescheduled when the limit changes.
   */
  scheduleTransactionReaper(): void {
    if (this.txnReaperTimer) clearInterval(this.txnReaperTimer);
    const period = Math.min(60_000, Math.max(1000, this.params.transactionLifetimeLimitSeconds * 500));
    this.txnReaperTimer = setInterval(() => this.guarded(() => this.abortExpiredTransactions(this.now())), period);
    this.txnReaperTimer.unref();
  }

  stopBackgroundJobs(): void {
    for (const t of this.timers) clearInterval(t);
    this.timers.length = 0;
    if (this.txnReaperTimer) clearInterval(this.txnReaperTimer);
    this.txnReaperTimer = null;
    for (const op of [...this.ops.all()]) this.ops.kill(op, new CommandError(11600, 'InterruptedAtShutdown', 'interrupted at shutdown'));
  }

  // ---- identity and privileges -------------------------------------------------------------

  userName(conn: ConnState): string | null {
    return conn.user ? `${conn.user.user}@${conn.user.db}` : null;
  }

  /** The caller's digest: SHA-256("user@db"), or SHA-256("") without auth (logical_session_id_helpers.cpp). */
  digestHex(conn: ConnState): string {
    if (!this.params.auth) return NO_AUTH_DIGEST.toString('hex');
    if (!conn.user) throw new CommandError(13, 'Unauthorized', 'Logical sessions require authentication');
    return userDigest(this.userName(conn)).toString('hex');
  }

  /** Every privilege check passes when auth is disabled. */
  can(conn: ConnState, resource: Resource, action: string): boolean {
    if (!this.params.auth || conn.internal) return true;
    if (!conn.user) return false;
    return hasPrivilege(this.auth.privilegesOf(conn.user.user, conn.user.db), resource, action);
  }

  /** The generic "not authorized on <db> to execute command { ... }" (commands.cpp). */
  notAuthorized(db: string, cmd: Document): CommandError {
    const name = Object.keys(cmd)[0];
    return new CommandError(13, 'Unauthorized', `not authorized on ${db} to execute command { ${name}: ${JSON.stringify(cmd[name])} }`);
  }

  requirePrivilege(ctx: CommandContext, resource: Resource, action: string): void {
    if (!this.can(ctx.conn, resource, action)) throw this.notAuthorized(ctx.db, ctx.cmd);
  }

  /**
   * makeLogicalSessionId (logical_session_id_helpers.cpp): a missing uid becomes the caller's digest;
   * a given uid is accepted only if it is the caller's own, or the caller has one of `allowSpoof`
   * or impersonate on the cluster; otherwise 13 "Unauthorized to set user digest in LogicalSessionId".
   */
  resolveLsid(conn: ConnState, fromClient: Document, path: string, allowSpoof: string | null): ResolvedLsid {
    rejectUnknown(fromClient, ['id', 'uid', 'txnNumber', 'txnUUID'], path);
    if (fromClient.txnNumber !== undefined && fromClient.txnUUID === undefined) {
      throw new CommandError(72, 'InvalidOptions', 'Cannot specify txnNumber in lsid without specifying txnUUID');
    }
    const id = expectUuid(fromClient.id, `${path}.id`);
    const own = this.digestHex(conn);
    let uidHex = own;
    if (fromClient.uid !== undefined) {
      uidHex = expectSha256(fromClient.uid, `${path}.uid`).toString('hex');
      const allowed = uidHex === own
        || this.can(conn, { cluster: true }, 'impersonate')
        || (allowSpoof !== null && this.can(conn, { cluster: true }, allowSpoof));
      if (!allowed) throw new CommandError(13, 'Unauthorized', 'Unauthorized to set user digest in LogicalSessionId');
    }
    return { idHex: Buffer.from(id.buffer.subarray(0, 16)).toString('hex'), uidHex };
  }

  clientInfo(conn: ConnState): ClientInfo {
    return { connectionId: conn.id, client: conn.remote, appName: conn.appName, clientMetadata: conn.clientMetadata };
  }

  // ---- dispatch ------------------------------------------------------------------------------

  async dispatch(conn: ConnState, cmd: Document, exhaustAllowed = false): Promise<Document> {
    this.stats.commands++;
    const name = Object.keys(cmd)[0];
    try {
      if (name === undefined) throw new CommandError(59, 'CommandNotFound', "no such command: ''");
      const def = this.commands.get(name);
      if (!def) throw new CommandError(59, 'CommandNotFound', `no such command: '${name}'`);
      const db = cmd.$db;
      if (db === undefined) throw new CommandError(40571, 'Location40571', 'OP_MSG requests require a $db argument');
      if (typeof db !== 'string') throw wrongType('$db', db, 'string');

      const fp = this.failPoints.evaluate(name, conn.appName);
      if (fp) {
        if (fp.blockTimeMS) await new Promise((r) => setTimeout(r, fp.blockTimeMS));
        if (fp.closeConnection) {
          conn.close();
          return { ok: 0, $closed: true };
        }
        if (fp.error) {
          return { ok: 0, errmsg: `Failing command via 'failCommand' failpoint`, code: fp.error.code, codeName: fp.error.codeName, ...(fp.error.errorLabels.length ? { errorLabels: fp.error.errorLabels } : {}) };
        }
      }

      if (this.params.auth && def.requiresAuth !== false && !conn.user) {
        throw new CommandError(13, 'Unauthorized', `command ${name} requires authentication`);
      }
      if (def.adminOnly && db !== 'admin') {
        throw new CommandError(13, 'Unauthorized', `${name} may only be run against the admin database.`);
      }
      return await this.runWithSession(conn, def, name, db, cmd, exhaustAllowed);
    } catch (e) {
      if (e instanceof CommandError) {
        const reply: Document = toErrorReply(e);
        const labels = errorLabels(e.code, cmd, name);
        if (labels.length) reply.errorLabels = labels;
        return reply;
      }
      this.log(`internal error in ${name}: ${(e as Error).stack ?? e}`);
      return { ok: 0, errmsg: `internal error: ${(e as Error).message}`, code: 1, codeName: 'InternalError' };
    }
  }

  /**
   * The "not primary" checks of ExecCommandDatabase::_initiateCommand (service_entry_point_common.cpp) with
   * commandCanRunHere (command_can_run_here.cpp), made after the lsid is vivified and authorization checked,
   * as there: a transaction never runs off the primary; a read that could have opted in but did not gets
   * NotPrimaryNoSecondaryOk(13435); anything else that cannot run here NotWritablePrimary(10107). For OP_MSG,
   * opting in is a $readPreference other than primary (ReadPreferenceSetting::canRunOnSecondary).
   */
  private checkCanRunHere(conn: ConnState, def: CommandDef, db: string, cmd: Document): void {
    if (this.canAcceptWrites(db)) return;
    const inTransaction = cmd.autocommit === false;
    const secondaryOk = isDoc(cmd.$readPreference) && cmd.$readPreference.mode !== 'primary';
    const couldHaveOptedIn = def.secondaryAllowed === 'optIn' && !inTransaction;
    const canRunHere = !inTransaction && (def.secondaryAllowed === 'always' || (couldHaveOptedIn && secondaryOk));
    if (canRunHere) return;
    if (couldHaveOptedIn) {
      throw new CommandError(13435, 'NotPrimaryNoSecondaryOk', conn.supportsHello ? 'not primary and secondaryOk=false' : 'not master and slaveOk=false');
    }
    throw new CommandError(10107, 'NotWritablePrimary', conn.supportsHello ? 'not primary' : 'not master');
  }

  private async runWithSession(conn: ConnState, def: CommandDef, name: string, db: string, cmd: Document, exhaustAllowed: boolean): Promise<Document> {
    const now = this.now();
    let session: SessionRecord | null = null;
    // initialize_operation_session_info.cpp: with auth on and no user logged in, the lsid of a command
    // that does not require auth (hello, createUser under the localhost exception) is ignored: there is
    // no sensible uid to give it.
    const anonymous = this.params.auth && !conn.user;
    if (cmd.lsid !== undefined && !def.ignoresSession && !anonymous) {
      const lsid = this.resolveLsid(conn, expectDoc(cmd.lsid, 'OperationSessionInfo.lsid'), 'OperationSessionInfo.lsid', null);
      session = this.sessions.vivify(lsid.idHex, lsid.uidHex, this.params.auth ? this.userName(conn) : null, now, this.clientInfo(conn));
    }
    this.checkCanRunHere(conn, def, db, cmd);
    const txn = this.beginStatement(def, name, cmd, session, now);
    const op = this.ops.start({
      client: this.clientInfo(conn),
      session,
      command: cmd,
      op: def.opType ?? 'command',
      ns: nsOf(db, cmd, name),
      effectiveUsers: conn.user ? [{ ...conn.user }] : [],
      txn,
      synthetic: false,
      startedAtMs: now,
    });
    // An internal child session (5.0+) runs in its parent's record; $currentOp shows the lsid it was sent with.
    if (session && isDoc(cmd.lsid) && cmd.lsid.txnUUID !== undefined) op.details = { lsid: childLsid(cmd.lsid, session.uidHex) };
    try {
      const reply = await def.run({ mongod: this, conn, db, cmd, name, session, txn, op, now, exhaustAllowed });
      if (op.killPending) throw op.killPending;
      if (reply.ok === undefined) reply.ok = 1;
      return reply;
    } catch (e) {
      // An error inside a transaction statement aborts the transaction (TransactionParticipant
      // aborts on a failed statement), except for the errors of the transaction commands themselves.
      if (txn && txn.state === 'inProgress' && e instanceof CommandError && !TXN_COMMANDS.has(name)) {
        this.abortTransaction(session!, txn, e.code === 290 ? 290 : 251);
      }
      throw e;
    } finally {
      this.ops.finish(op);
      if (txn && txn.activeSinceMs) {
        // The server times a statement in microseconds (timeActiveMicros); this clock counts milliseconds, so a
        // statement shorter than one counts as 1 µs rather than 0: a statement that ran always shows.
        txn.activeMicros += Math.max(1, (this.now() - txn.activeSinceMs) * 1000);
        txn.activeSinceMs = 0;
      }
      if (session) this.sessions.collect(session, this.ops.hasOps(session) || this.cursors.hasCursors(session));
    }
  }

  /**
   * Transaction bookkeeping for one statement (transaction_participant.cpp beginOrContinue):
   *  - autocommit must be false and come with txnNumber; startTransaction begins a new transaction;
   *  - an older txnNumber: TransactionTooOld(225);
   *  - continuing an aborted transaction: NoSuchTransaction(251) "Transaction <n> has been aborted.";
   *  - a number that matches no in-progress transaction: NoSuchTransaction(251).
   */
  private beginStatement(def: CommandDef, name: string, cmd: Document, session: SessionRecord | null, now: number): Transaction | null {
    const hasTxnNumber = cmd.txnNumber !== undefined;
    if (!hasTxnNumber) {
      if (cmd.autocommit !== undefined) throw new CommandError(50768, 'Location50768', "'autocommit' field requires a transaction number to also be specified");
      if (cmd.startTransaction !== undefined) throw new CommandError(50768, 'Location50768', "'startTransaction' field requires 'autocommit' field to also be specified");
      return null;
    }
    if (!session) throw new CommandError(50768, 'Location50768', 'Transaction number requires a session ID to also be specified');
    if (!isNumber(cmd.txnNumber)) throw wrongType('OperationSessionInfo.txnNumber', cmd.txnNumber, 'long');
    const txnNumber = toNumber(cmd.txnNumber);
    if (cmd.autocommit === undefined) {
      // A retryable write: records the number, no multi-document transaction.
      if (txnNumber < session.txnNumber) throw tooOld(session, txnNumber);
      if (txnNumber > session.txnNumber && session.txn?.state === 'inProgress') this.abortTransaction(session, session.txn, 251);
      session.txnNumber = Math.max(session.txnNumber, txnNumber);
      return null;
    }
    if (cmd.autocommit !== false) throw new CommandError(50891, 'Location50891', "'autocommit' field can only be set to false");
    if (!def.allowedInTransaction) {
      throw new CommandError(263, 'OperationNotSupportedInTransaction', `Cannot run '${name}' in a multi-document transaction.`);
    }
    if (txnNumber < session.txnNumber) throw tooOld(session, txnNumber);
    if (cmd.startTransaction === true) {
      if (txnNumber === session.txnNumber && session.txn) {
        throw new CommandError(225, 'TransactionTooOld', `Cannot start a transaction at given transaction number ${txnNumber} on session ${formatUuid(session.idHex)} using txnRetryCounter 0 because it has already been restarted using a higher txnRetryCounter`);
      }
      if (session.txn?.state === 'prepared') {
        throw new CommandError(267, 'PreparedTransactionInProgress', 'Cannot start a new transaction while a prepared transaction is in progress');
      }
      if (session.txn?.state === 'inProgress') this.abortTransaction(session, session.txn, 251);
      session.txnNumber = txnNumber;
      session.txn = {
        txnNumber, state: 'inProgress', abortCode: 0, startWallMs: now, activeMicros: 0, activeSinceMs: now, preparedAtMs: 0,
        expiresAtMs: now + this.params.transactionLifetimeLimitSeconds * 1000,
        readConcern: isDoc(cmd.readConcern) ? cmd.readConcern : null, writes: new Map(), synthetic: false,
      };
      return session.txn;
    }
    const txn = session.txn;
    if (!txn || txn.txnNumber !== txnNumber) {
      throw new CommandError(251, 'NoSuchTransaction', `Given transaction number ${txnNumber} does not match any in-progress transactions. The active transaction number is ${session.txnNumber}`);
    }
    if (txn.state === 'aborted') {
      throw new CommandError(251, 'NoSuchTransaction', `Transaction ${txnNumber} has been aborted.`);
    }
    if (txn.state === 'committed' && name !== 'commitTransaction') {
      throw new CommandError(256, 'TransactionCommitted', `Transaction ${txnNumber} has been committed.`);
    }
    if (txn.state === 'prepared' && !TXN_COMMANDS.has(name)) {
      throw new CommandError(267, 'PreparedTransactionInProgress', 'Cannot call any operation other than abort, prepare or commit on a prepared transaction');
    }
    txn.activeSinceMs = now;
    return txn;
  }

  abortTransaction(session: SessionRecord, txn: Transaction, code: 251 | 290): void {
    if (txn.state !== 'inProgress' && txn.state !== 'prepared') return;
    if (txn.activeSinceMs) {
      txn.activeMicros += (this.now() - txn.activeSinceMs) * 1000;
      txn.activeSinceMs = 0;
    }
    txn.state = 'aborted';
    txn.abortCode = code;
    txn.writes.clear();
    // A transaction's cursors belong to its session: look there, not through every cursor on the server.
    for (const c of this.cursors.ofSession(session)) if (c.txn === txn) this.cursors.close(c);
  }

  /**
   * killAllExpiredTransactions: only in-progress (unprepared) transactions past their expiry date are aborted,
   * with reason TransactionExceededLifetimeLimitSeconds(290) for an op running inside
   * (docs/server-semantics.md#server-side-timeouts).
   */
  abortExpiredTransactions(now: number): number {
    let n = 0;
    for (const rec of this.sessions.all()) {
      const txn = rec.txn;
      if (!txn || txn.state !== 'inProgress' || txn.expiresAtMs >= now) continue;
      for (const op of this.ops.ofSession(rec)) {
        this.ops.kill(op, new CommandError(290, 'TransactionExceededLifetimeLimitSeconds', `operation was interrupted because the transaction exceeded the configured 'transactionLifetimeLimitSeconds'`));
      }
      this.abortTransaction(rec, txn, 290);
      n++;
    }
    return n;
  }

  /** LogicalSessionCacheImpl::_refresh, then the cursors of removed or ended sessions are killed. */
  refreshSessions(now = this.now()): { refreshed: number; removed: number } {
    // A member writes its cache to the set's collection through the primary (sessions_collection_rs.cpp); with
    // no primary the refresh fails and the cache is kept for the next one (logical_session_cache_impl.cpp).
    if (this.member && this.member.topology.primary() === null) {
      throw new CommandError(133, 'FailedToSatisfyReadPreference', `Could not find host matching read preference { mode: "primary" } for set ${this.member.topology.name}`);
    }
    const removed = this.sessions.refresh(now, this.ops.sessionsWithOps());
    let killedCursors = 0;
    for (const rec of removed) {
      for (const c of this.cursors.ofSession(rec)) {
        this.cursors.close(c);
        killedCursors++;
      }
      this.sessions.collect(rec, this.ops.hasOps(rec) || this.cursors.hasCursors(rec));
    }
    return { refreshed: this.sessions.size, removed: killedCursors };
  }

  // ---- killing ---------------------------------------------------------------------------------

  /**
   * killSessionsLocal (kill_sessions_local.cpp), in the server's order:
   *  1. abort unprepared in-progress transactions (prepared ones are skipped: transactionIsInProgress() is false);
   *  2. interrupt every op of a matching session with Interrupted(11601);
   *  3. erase the sessions' cursors (getMore then gets 43 CursorNotFound).
   * The session record is kept, in the cache and in config.system.sessions, and its lsid stays usable.
   */
  /**
   * SessionKiller::Matcher (session_killer.cpp): a pattern with a uid matches every session of that uid;
   * one with an lsid matches that exact (id, uid); one with neither matches everything and then is the only pattern.
   */
  killByPatterns(patterns: KillPattern[], by: string): number {
    return this.killRecords(this.matchingSessions(patterns), by);
  }

  /** The session records a set of kill patterns matches (SessionKiller::Matcher); a router kills their ops and cursors. */
  matchingSessions(patterns: KillPattern[]): SessionRecord[] {
    if (patterns.some((p) => p.kind === 'all')) return [...this.sessions.all()];
    const victims = new Set<SessionRecord>();
    for (const p of patterns) {
      if (p.kind === 'uid') for (const rec of this.sessions.ofUid(p.uidHex)) victims.add(rec);
      else if (p.kind === 'lsid') {
        const rec = this.sessions.get(p.idHex, p.uidHex);
        if (rec) victims.add(rec);
      }
    }
    return [...victims];
  }

  killRecords(victims: Iterable<SessionRecord>, by: string): number {
    let n = 0;
    const sample: string[] = [];
    for (const rec of victims) {
      n++;
      if (sample.length < 5) sample.push(`${formatUuid(rec.idHex)}/${rec.user ?? '-'}`);
      if (rec.txn && rec.txn.state === 'inProgress') {
        for (const op of this.ops.ofSession(rec)) this.ops.kill(op, interruptedError());
        this.abortTransaction(rec, rec.txn, 251);
      }
      for (const op of this.ops.ofSession(rec)) this.ops.kill(op, interruptedError());
      for (const c of this.cursors.ofSession(rec)) this.cursors.close(c);
    }
    // One log line per kill command, as mongod logs id 558701 "Success: kill session" per command.
    this.log(`kill: ${by} killed ${n} session(s)${sample.length ? `: ${sample.join(', ')}${n > sample.length ? ', ...' : ''}` : ''}`);
    this.stats.sessionsKilled += n;
    return n;
  }

  /** A session is "killable" for the matcher only if it exists; (id, uid) lookups are O(1). */
  lookup(lsid: ResolvedLsid): SessionRecord | undefined {
    return this.sessions.get(lsid.idHex, lsid.uidHex);
  }
}

function childLsid(lsid: Document, uidHex: string): Document {
  return { id: lsid.id, uid: uidBinary(uidHex), ...(lsid.txnNumber !== undefined ? { txnNumber: lsid.txnNumber } : {}), txnUUID: lsid.txnUUID };
}

const TXN_COMMANDS = new Set(['commitTransaction', 'abortTransaction', 'prepareTransaction']);

function tooOld(session: SessionRecord, txnNumber: number): CommandError {
  return new CommandError(225, 'TransactionTooOld', `Cannot start transaction ${txnNumber} on session ${formatUuid(session.idHex)} - ${session.uidHex} because a newer transaction ${session.txnNumber} has already started.`);
}

/** The namespace $currentOp reports for a command: "db.coll" for collection commands, "db.$cmd" otherwise. */
export function nsOf(db: string, cmd: Document, name: string): string {
  const target = cmd[name];
  if (typeof target === 'string' && name !== 'configureFailPoint' && name !== 'createUser' && name !== 'createRole' && name !== 'dropUser') return `${db}.${target}`;
  if (name === 'getMore' && typeof cmd.collection === 'string') return `${db}.${cmd.collection}`;
  return `${db}.$cmd`;
}

export { Long };
