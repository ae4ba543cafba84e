/**
 * Handshake and server information: hello/isMaster (awaitable, streamed with exhaust), ping, buildInfo,
 * getParameter, setParameter, serverStatus, connectionStatus, configureFailPoint, whatsmyuri.
 *
 * hello answers as a member of the node's replica set (replication.ts); the single-node stand-in is the
 * primary of a one-member set so that the driver sends txnNumber and allows transactions (node-mongodb-native
 * src/utils.ts supportsRetryableWrites: not Standalone), and it leaves topologyVersion out so the driver's
 * monitor keeps polling. Members of a started replica set carry topologyVersion and serve the awaitable hello
 * (replication_info.cpp CmdHello): with topologyVersion and maxAwaitTimeMS the reply waits for a topology
 * change or maxAwaitTimeMS, and with OP_MSG exhaustAllowed the replies keep coming (moreToCome), each next
 * one invoked with the topologyVersion of the last.
 */
import { ObjectId, type Document } from 'bson';
import { CommandError } from '../errors.ts';
import { isDoc, isNumber, toNumber } from '../idl.ts';
import type { CommandContext, CommandDef, Mongod } from '../mongod.ts';
import { MAX_BSON_OBJECT_SIZE, MAX_MESSAGE_SIZE_BYTES } from '../wire.ts';

export const REPLICA_SET_NAME = 'standin';

/** maxWriteBatchSize (src/mongo/s/write_ops/batched_command_request.h kMaxWriteBatchSize). */
const MAX_WRITE_BATCH_SIZE = 100_000;

export function helloReply(mongod: Mongod, ctx: { conn: CommandContext['conn'] }, cmd: Document, legacy: boolean): Document {
  const member = mongod.member;
  const reply: Document = {
    ...(cmd.helloOk === true || !legacy ? { helloOk: true } : {}),
    ...(member ? member.topology.helloFields(member.index, legacy) : { [legacy ? 'ismaster' : 'isWritablePrimary']: true }),
    maxBsonObjectSize: MAX_BSON_OBJECT_SIZE,
    maxMessageSizeBytes: MAX_MESSAGE_SIZE_BYTES,
    maxWriteBatchSize: MAX_WRITE_BATCH_SIZE,
    localTime: new Date(mongod.now()),
    // The sessions switch: without it the driver attaches no lsid (docs/server-semantics.md#hello-reply-fields).
    logicalSessionTimeoutMinutes: mongod.params.localLogicalSessionTimeoutMinutes,
    connectionId: ctx.conn.id,
    minWireVersion: 0,
    maxWireVersion: mongod.version.maxWireVersion,
    readOnly: false,
  };
  // A router answers as mongos does (src/mongo/s/commands/cluster_hello_cmd.cpp): isWritablePrimary and
  // msg "isdbgrid", which is how drivers tell a mongos (server-discovery-and-monitoring spec), no set fields.
  if (mongod.processName === 'mongos') reply.msg = 'isdbgrid';
  if (typeof cmd.saslSupportedMechs === 'string') {
    const [db, ...rest] = cmd.saslSupportedMechs.split('.');
    const user = mongod.auth.getUser(rest.join('.'), db);
    if (user) reply.saslSupportedMechs = user.mechanisms;
  }
  return reply;
}

/** The awaitable-hello arguments, checked as replication_info.cpp does (31368, 31372, 31373). */
function awaitArguments(cmd: Document): { processId: unknown; counter: number; maxAwaitTimeMS: number } | null {
  const tv = cmd.topologyVersion;
  const wait = cmd.maxAwaitTimeMS;
  if (tv === undefined || wait === undefined) {
    if (tv !== undefined || wait !== undefined) {
      throw new CommandError(31368, 'Location31368', tv !== undefined ? "A request with a 'topologyVersion' must include 'maxAwaitTimeMS'" : "A request with 'maxAwaitTimeMS' must include a 'topologyVersion'");
    }
    return null;
  }
  if (!isDoc(tv) || !(tv.processId instanceof ObjectId) || !isNumber(tv.counter)) {
    throw new CommandError(14, 'TypeMismatch', "BSON field 'hello.topologyVersion' must be { processId: <ObjectId>, counter: <long> }");
  }
  const counter = toNumber(tv.counter);
  if (counter < 0) throw new CommandError(31372, 'Location31372', 'topologyVersion must have a non-negative counter');
  if (!isNumber(wait) || toNumber(wait) < 0 || !Number.isInteger(toNumber(wait))) {
    throw new CommandError(31373, 'Location31373', 'maxAwaitTimeMS must be a non-negative integer');
  }
  return { processId: tv.processId, counter, maxAwaitTimeMS: toNumber(wait) };
}

function hello(legacy: boolean) {
  return async (ctx: CommandContext): Promise<Document> => {
    // The first hello on a connection carries the client metadata (mongodb-handshake spec).
    if (isDoc(ctx.cmd.client) && !ctx.conn.clientMetadata) {
      ctx.conn.clientMetadata = ctx.cmd.client;
      const app = isDoc(ctx.cmd.client.application) ? ctx.cmd.client.application.name : undefined;
      if (typeof app === 'string') ctx.conn.appName = app;
    }
    if (typeof ctx.cmd.helloOk === 'boolean') ctx.conn.supportsHello = ctx.cmd.helloOk;
    const wait = awaitArguments(ctx.cmd);
    const member = ctx.mongod.member;
    if (wait && member?.topology.streaming) {
      // CurOp::pauseTimer: the wait is not running time in $currentOp.
      ctx.op.pausedSinceMs = ctx.mongod.now();
      try {
        await member.topology.awaitTopologyChange(member.index, wait, wait.maxAwaitTimeMS, Promise.race([ctx.op.interrupted, ctx.conn.closed]));
      } finally {
        ctx.op.pausedMs += ctx.mongod.now() - ctx.op.pausedSinceMs;
        ctx.op.pausedSinceMs = 0;
      }
      if (ctx.op.killPending) throw ctx.op.killPending;
    }
    const reply = helloReply(ctx.mongod, ctx, ctx.cmd, legacy);
    if (ctx.exhaustAllowed && reply.topologyVersion) {
      if (!wait) throw new CommandError(51756, 'Location51756', "An isMaster or hello request with exhaust must specify 'maxAwaitTimeMS'");
      reply.$nextInvocation = { ...ctx.cmd, topologyVersion: reply.topologyVersion };
    }
    return reply;
  };
}

/** Runtime-settable parameters; everything else is startup-only, as in mongod. */
const SETTABLE = new Set(['transactionLifetimeLimitSeconds', 'cursorTimeoutMillis']);

function parameterValues(m: Mongod): Document {
  return {
    transactionLifetimeLimitSeconds: m.params.transactionLifetimeLimitSeconds,
    logicalSessionRefreshMillis: m.params.logicalSessionRefreshMillis,
    localLogicalSessionTimeoutMinutes: m.params.localLogicalSessionTimeoutMinutes,
    maxSessions: m.params.maxSessions,
    cursorTimeoutMillis: m.params.cursorTimeoutMillis,
    enableTestCommands: true,
    featureCompatibilityVersion: { version: '7.0' },
    authenticationMechanisms: ['SCRAM-SHA-1', 'SCRAM-SHA-256'],
  };
}

/** net.maxIncomingConnections: 1,000,000 by default (src/mongo/db/server_options.h DEFAULT_MAX_CONN). */
const MAX_INCOMING_CONNECTIONS = 1_000_000;

/**
 * serverStatus.connections (src/mongo/transport/service_entry_point_impl.cpp appendStats): `active` counts the
 * connections with an operation in progress, the serverStatus command itself included.
 */
function connectionCounts(m: Mongod): Document {
  const busy = new Set<number>();
  for (const op of m.ops.all()) if (op.client && !op.synthetic) busy.add(op.client.connectionId);
  const current = m.connections.size;
  return { current, available: MAX_INCOMING_CONNECTIONS - current, totalCreated: m.stats.connectionsCreated, rejected: 0, active: busy.size };
}

/** The stand-in's flow control across connections (inbound.ts): how many have reading stopped, and what waits. */
function inboundTotals(m: Mongod): Document {
  let pausedConnections = 0;
  let maxQueuedRequests = 0;
  let queuedBytes = 0;
  let unsentReplyBytes = 0;
  for (const c of m.connections.values()) {
    const s = c.inboundState?.();
    if (!s) continue;
    if (s.paused) pausedConnections++;
    maxQueuedRequests = Math.max(maxQueuedRequests, s.queuedRequests);
    queuedBytes += s.queuedBytes;
    unsentReplyBytes += s.unsentReplyBytes;
  }
  return { pausedConnections, maxQueuedRequests, queuedBytes, unsentReplyBytes };
}

export const adminCommands: CommandDef[] = [
  { names: ['hello'], secondaryAllowed: 'always', requiresAuth: false, run: hello(false) },
  { names: ['isMaster', 'ismaster'], secondaryAllowed: 'always', requiresAuth: false, run: hello(true) },
  { names: ['ping'], secondaryAllowed: 'always', requiresAuth: false, run: () => ({ ok: 1 }) },
  {
    names: ['buildInfo', 'buildinfo'], secondaryAllowed: 'always', requiresAuth: false,
    run: (ctx) => ({
      version: ctx.mongod.version.version, gitVersion: 'standin', versionArray: ctx.mongod.version.version.split('.').map(Number).concat(0), bits: 64,
      maxBsonObjectSize: MAX_BSON_OBJECT_SIZE, storageEngines: ['inMemory'], modules: [], javascriptEngine: 'none',
      openssl: { running: 'disabled' }, debug: false, allocator: 'system', ok: 1,
    }),
  },
  {
    names: ['getParameter'], secondaryAllowed: 'always', adminOnly: true,
    run: (ctx) => {
      ctx.mongod.requirePrivilege(ctx, { cluster: true }, 'getParameter');
      const all = parameterValues(ctx.mongod);
      const arg = ctx.cmd.getParameter;
      if (arg === '*' || (isDoc(arg) && arg.allParameters === true)) return { ...all };
      const out: Document = {};
      for (const [k, v] of Object.entries(ctx.cmd)) {
        if (k === 'getParameter' || k.startsWith('$') || k === 'lsid' || k === 'comment') continue;
        if (v === undefined) continue;
        if (!(k in all)) throw new CommandError(72, 'InvalidOptions', 'no option found to get');
        out[k] = all[k];
      }
      if (Object.keys(out).length === 0) throw new CommandError(72, 'InvalidOptions', 'no option found to get');
      return out;
    },
  },
  {
    names: ['setParameter'], secondaryAllowed: 'always', adminOnly: true,
    run: (ctx) => {
      ctx.mongod.requirePrivilege(ctx, { cluster: true }, 'setParameter');
      const out: Document = {};
      let n = 0;
      for (const [k, v] of Object.entries(ctx.cmd)) {
        if (k === 'setParameter' || k.startsWith('$') || k === 'lsid' || k === 'comment') continue;
        const all = parameterValues(ctx.mongod);
        if (!(k in all)) throw new CommandError(2, 'BadValue', `attempted to set unrecognized parameter [${k}], use help:true to see options `);
        if (!SETTABLE.has(k)) throw new CommandError(2, 'BadValue', `not allowed to change [${k}] at runtime`);
        if (!isNumber(v)) throw new CommandError(14, 'TypeMismatch', `Parameter ${k} must be a number`);
        const num = toNumber(v);
        // transaction_participant.idl: validator gte: 1
        if (k === 'transactionLifetimeLimitSeconds' && num < 1) {
          throw new CommandError(2, 'BadValue', `Bad value for parameter "transactionLifetimeLimitSeconds": ${num} is not greater than or equal to 1`);
        }
        out.was = (ctx.mongod.params as unknown as Document)[k];
        (ctx.mongod.params as unknown as Document)[k] = num;
        if (k === 'transactionLifetimeLimitSeconds') ctx.mongod.scheduleTransactionReaper();
        n++;
      }
      if (n === 0) throw new CommandError(2, 'BadValue', 'no option found to set, use help:true to see options ');
      return out;
    },
  },
  {
    names: ['serverStatus'], secondaryAllowed: 'always',
    run: (ctx) => {
      ctx.mongod.requirePrivilege(ctx, { cluster: true }, 'serverStatus');
      const m = ctx.mongod;
      const mem = process.memoryUsage();
      return {
        host: m.hostAndPort, version: m.version.version, process: m.processName, pid: process.pid,
        uptime: Math.floor(Math.max(0, m.now() - m.startedAt) / 1000), uptimeMillis: Math.max(0, m.now() - m.startedAt), localTime: new Date(m.now()),
        connections: connectionCounts(m),
        logicalSessionRecordCache: {
          activeSessionsCount: m.sessions.cachedCount,
          sessionsCollectionJobCount: 0, lastSessionsCollectionJobDurationMillis: 0,
        },
        transactions: {
          currentOpen: [...m.sessions.all()].filter((r) => r.txn && (r.txn.state === 'inProgress' || r.txn.state === 'prepared')).length,
          currentPrepared: [...m.sessions.all()].filter((r) => r.txn?.state === 'prepared').length,
        },
        metrics: { cursor: { open: { noTimeout: [...m.cursors.all()].filter((c) => c.noCursorTimeout).length, pinned: [...m.cursors.all()].filter((c) => c.pinned).length, total: m.cursors.size } }, commands: { total: m.stats.commands } },
        mem: { bits: 64, resident: Math.round(mem.rss / 1048576), virtual: Math.round(mem.rss / 1048576) },
        standin: { sessions: m.sessions.size, operations: m.ops.size, cursors: m.cursors.size, heapUsedBytes: mem.heapUsed, rssBytes: mem.rss, inbound: inboundTotals(m) },
        ok: 1,
      };
    },
  },
  {
    names: ['connectionStatus'], secondaryAllowed: 'always', requiresAuth: false,
    run: (ctx) => {
      const u = ctx.conn.user;
      const info: Document = {
        authenticatedUsers: u ? [{ user: u.user, db: u.db }] : [],
        authenticatedUserRoles: u ? ctx.mongod.auth.rolesOf(u.user, u.db) : [],
      };
      if (ctx.cmd.showPrivileges === true) info.authenticatedUserPrivileges = u ? ctx.mongod.auth.privilegesOf(u.user, u.db) : [];
      return { authInfo: info, ok: 1 };
    },
  },
  { names: ['whatsmyuri'], secondaryAllowed: 'always', requiresAuth: false, run: (ctx) => ({ you: ctx.conn.remote, ok: 1 }) },
  { names: ['configureFailPoint'], secondaryAllowed: 'always', adminOnly: true, run: (ctx) => ctx.mongod.failPoints.configure(ctx.cmd) },
  {
    names: ['getLog'], secondaryAllowed: 'always', adminOnly: true,
    run: () => ({ totalLinesWritten: 0, log: [], ok: 1 }),
  },
];
