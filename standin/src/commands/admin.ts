/**
 * Handshake and server information: hello/isMaster, ping, buildInfo, getParameter, setParameter,
 * serverStatus, connectionStatus, configureFailPoint, whatsmyuri.
 *
 * The stand-in poses as the primary of a one-member replica set so that the driver sends txnNumber
 * and allows transactions (node-mongodb-native src/utils.ts supportsRetryableWrites: not Standalone).
 * It omits topologyVersion so the driver's monitor stays in polling mode (reference notes §9.1).
 */
import { ObjectId, Timestamp, type Document } from 'bson';
import { CommandError } from '../errors.ts';
import { isDoc, isNumber, toNumber } from '../idl.ts';
import type { CommandContext, CommandDef, Mongod } from '../mongod.ts';
import { MAX_BSON_OBJECT_SIZE, MAX_MESSAGE_SIZE_BYTES } from '../wire.ts';

export const REPLICA_SET_NAME = 'standin';
const ELECTION_ID = new ObjectId('7fffffff0000000000000001');
const VERSION = '7.0.14';

/** maxWriteBatchSize (src/mongo/s/write_ops/batched_command_request.h kMaxWriteBatchSize). */
const MAX_WRITE_BATCH_SIZE = 100_000;

export function helloReply(mongod: Mongod, ctx: { conn: CommandContext['conn'] }, cmd: Document, legacy: boolean): Document {
  const me = mongod.hostAndPort;
  const reply: Document = {
    ...(cmd.helloOk === true || !legacy ? { helloOk: true } : {}),
    [legacy ? 'ismaster' : 'isWritablePrimary']: true,
    setName: REPLICA_SET_NAME,
    setVersion: 1,
    hosts: [me],
    primary: me,
    me,
    secondary: false,
    electionId: ELECTION_ID,
    maxBsonObjectSize: MAX_BSON_OBJECT_SIZE,
    maxMessageSizeBytes: MAX_MESSAGE_SIZE_BYTES,
    maxWriteBatchSize: MAX_WRITE_BATCH_SIZE,
    localTime: new Date(),
    // The sessions switch: without it the driver attaches no lsid (notes §9.2).
    logicalSessionTimeoutMinutes: mongod.params.localLogicalSessionTimeoutMinutes,
    connectionId: ctx.conn.id,
    minWireVersion: 0,
    maxWireVersion: 21,
    readOnly: false,
    lastWrite: { opTime: { ts: new Timestamp({ t: Math.floor(Date.now() / 1000), i: 1 }), t: 1 }, lastWriteDate: new Date() },
  };
  if (typeof cmd.saslSupportedMechs === 'string') {
    const [db, ...rest] = cmd.saslSupportedMechs.split('.');
    const user = mongod.auth.getUser(rest.join('.'), db);
    if (user) reply.saslSupportedMechs = user.mechanisms;
  }
  return reply;
}

function hello(legacy: boolean) {
  return (ctx: CommandContext): Document => {
    // The first hello on a connection carries the client metadata (mongodb-handshake spec).
    if (isDoc(ctx.cmd.client) && !ctx.conn.clientMetadata) {
      ctx.conn.clientMetadata = ctx.cmd.client;
      const app = isDoc(ctx.cmd.client.application) ? ctx.cmd.client.application.name : undefined;
      if (typeof app === 'string') ctx.conn.appName = app;
    }
    return helloReply(ctx.mongod, ctx, ctx.cmd, legacy);
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

export const adminCommands: CommandDef[] = [
  { names: ['hello'], requiresAuth: false, run: hello(false) },
  { names: ['isMaster', 'ismaster'], requiresAuth: false, run: hello(true) },
  { names: ['ping'], requiresAuth: false, run: () => ({ ok: 1 }) },
  {
    names: ['buildInfo', 'buildinfo'], requiresAuth: false,
    run: () => ({
      version: VERSION, gitVersion: 'standin', versionArray: VERSION.split('.').map(Number).concat(0), bits: 64,
      maxBsonObjectSize: MAX_BSON_OBJECT_SIZE, storageEngines: ['inMemory'], modules: [], javascriptEngine: 'none',
      openssl: { running: 'disabled' }, debug: false, allocator: 'system', ok: 1,
    }),
  },
  {
    names: ['getParameter'], adminOnly: true,
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
    names: ['setParameter'], adminOnly: true,
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
    names: ['serverStatus'],
    run: (ctx) => {
      ctx.mongod.requirePrivilege(ctx, { cluster: true }, 'serverStatus');
      const m = ctx.mongod;
      const mem = process.memoryUsage();
      return {
        host: m.hostAndPort, version: VERSION, process: 'mongod', pid: process.pid,
        uptime: Math.floor((Date.now() - m.startedAt) / 1000), uptimeMillis: Date.now() - m.startedAt, localTime: new Date(),
        // totalCreated counts every connection accepted since start, not the open ones (serverStatus "connections").
        connections: { current: m.connections.size, available: 1_000_000 - m.connections.size, totalCreated: m.stats.connectionsCreated },
        logicalSessionRecordCache: {
          activeSessionsCount: [...m.sessions.all()].filter((r) => r.cacheLastUse > 0).length,
          sessionsCollectionJobCount: 0, lastSessionsCollectionJobDurationMillis: 0,
        },
        transactions: {
          currentOpen: [...m.sessions.all()].filter((r) => r.txn && (r.txn.state === 'inProgress' || r.txn.state === 'prepared')).length,
          currentPrepared: [...m.sessions.all()].filter((r) => r.txn?.state === 'prepared').length,
        },
        metrics: { cursor: { open: { noTimeout: [...m.cursors.all()].filter((c) => c.noCursorTimeout).length, pinned: [...m.cursors.all()].filter((c) => c.pinned).length, total: m.cursors.size } }, commands: { total: m.stats.commands } },
        mem: { bits: 64, resident: Math.round(mem.rss / 1048576), virtual: Math.round(mem.rss / 1048576) },
        standin: { sessions: m.sessions.size, operations: m.ops.size, cursors: m.cursors.size, heapUsedBytes: mem.heapUsed, rssBytes: mem.rss },
        ok: 1,
      };
    },
  },
  {
    names: ['connectionStatus'], requiresAuth: false,
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
  { names: ['whatsmyuri'], requiresAuth: false, run: (ctx) => ({ you: ctx.conn.remote, ok: 1 }) },
  { names: ['configureFailPoint'], adminOnly: true, run: (ctx) => ctx.mongod.failPoints.configure(ctx.cmd) },
  {
    names: ['getLog'], adminOnly: true,
    run: () => ({ totalLinesWritten: 0, log: [], ok: 1 }),
  },
];
