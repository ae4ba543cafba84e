/**
 * A stand-in mongos: a Mongod that owns no data (its session cache, running operations, router cursors and
 * router transaction state are its own, as mongos's are) and runs the statements it is sent on the shards.
 *
 * How the router reaches a shard member: in process, through the member's own dispatch, on a pooled
 * connection of its own per client connection and member. The pooled connection is what the shard sees:
 *  - `client` is the router's address (a port of the router's host), which $currentOp through mongos reports
 *    as `client_s`; the application's address and the router are in `clientMetadata.mongos`
 *    (ClientMetadata::setMongoSMetadata: { host, client, version });
 *  - it is authenticated as the cluster's internal user with the client's user impersonated
 *    (ConnState.internal): the shard runs the statement with the client's effectiveUsers and session uid,
 *    and lets the router do what only a router may (killAllSessionsByPattern with impersonation data).
 * A member that is stopped refuses the call with HostUnreachable(6), as a refused TCP connect does.
 *
 * Transactions (src/mongo/s/transaction_router.cpp): the router keeps its own record of the transaction (the
 * router Mongod's session), and the shards a statement reaches become participants: the first statement sent
 * to a shard carries startTransaction (and the readConcern), the later ones only txnNumber and autocommit.
 * A statement that fails on a participant aborts the transaction on the others (implicitlyAbortTransaction).
 */
import { BSON, Long, type Document } from 'bson';
import { CommandError } from '../errors.ts';
import { isDoc, isNumber, toNumber } from '../idl.ts';
import type { CommandContext, ConnState, KillPattern, Mongod } from '../mongod.ts';
import type { Cursor } from '../cursors.ts';
import type { BatchSource } from '../batches.ts';
import { uidBinary, uuidBinary, type Transaction } from '../sessions.ts';
import { cursorReply } from '../commands/crud.ts';
import type { ClusterConfig, Shard } from './config.ts';

export interface Participant {
  readonly shard: string;
  /** No write was sent to it (readOnly in the router's $currentOp). */
  readOnly: boolean;
}

/** A shard cursor behind a router cursor. */
interface ShardCursor {
  readonly shard: Shard;
  readonly member: number;
  id: Long;
  /** The collection a getMore names ("$cmd.aggregate" for a collectionless aggregate). */
  readonly collection: string;
  readonly db: string;
}

/** What a router cursor holds: the shard cursors still open and the documents fetched but not yet returned. */
export interface RemoteCursors {
  readonly parts: ShardCursor[];
  readonly buffer: Document[];
}

/** Fields of a client's command the router sets itself on what it sends to a shard. */
const ROUTER_FIELDS = new Set(['$db', 'lsid', 'txnNumber', 'autocommit', 'startTransaction', '$clusterTime', '$readPreference', 'readConcern', 'writeConcern']);

/** Pooled connections are numbered apart from the listener's (which counts from 1), so that ids never clash. */
let nextPooledConnectionId = 100_000;

const routers = new WeakMap<Mongod, Router>();

/** The router a command runs on (the command tables of commands/router/ run only there). */
export function routerOf(ctx: CommandContext): Router {
  const r = routers.get(ctx.mongod);
  if (!r) throw new CommandError(59, 'CommandNotFound', `no such command: '${ctx.name}'`);
  return r;
}

export function hostUnreachable(host: string): CommandError {
  return new CommandError(6, 'HostUnreachable', `Error connecting to ${host} :: caused by :: Connection refused`);
}

/** A shard's error reply, raised as the router's error (the router returns a shard's failure as its own). */
export function replyError(reply: Document): CommandError {
  return new CommandError(isNumber(reply.code) ? toNumber(reply.code) : 8, typeof reply.codeName === 'string' ? reply.codeName : 'UnknownError', String(reply.errmsg ?? 'shard command failed'));
}

export class Router {
  /** Router transactions' participants, in the order the statements reached them (the first is the coordinator). */
  readonly participants = new WeakMap<Transaction, Participant[]>();
  /** Router cursors' shard cursors. */
  readonly remotes = new WeakMap<Cursor, RemoteCursors>();
  private readonly pools = new WeakMap<ConnState, Map<Mongod, ConnState>>();

  constructor(readonly mongod: Mongod, readonly config: ClusterConfig) {
    mongod.processName = 'mongos';
    routers.set(mongod, this);
  }

  // ---- reaching members ------------------------------------------------------------------------

  /** The shard's primary, or FailedToSatisfyReadPreference(133) when it has none up. */
  primaryOf(shard: Shard): number {
    const p = shard.set.topology.primary();
    if (p === null) {
      throw new CommandError(133, 'FailedToSatisfyReadPreference', `Could not find host matching read preference { mode: "primary" } for set ${shard.name}`);
    }
    return p;
  }

  /**
   * The member a read goes to by its read preference (primary by default): secondary and secondaryPreferred
   * take the first secondary that is up, primaryPreferred and nearest the primary when it is up.
   */
  pick(shard: Shard, readPreference: unknown): number {
    const mode = isDoc(readPreference) && typeof readPreference.mode === 'string' ? readPreference.mode : 'primary';
    if (mode === 'primary') return this.primaryOf(shard);
    const topo = shard.set.topology;
    const secondary = shard.set.members.findIndex((m, i) => topo.node(i) !== null && !topo.isPrimary(i));
    if (mode === 'secondary') {
      if (secondary < 0) throw new CommandError(133, 'FailedToSatisfyReadPreference', `Could not find host matching read preference { mode: "secondary" } for set ${shard.name}`);
      return secondary;
    }
    if (mode === 'secondaryPreferred' && secondary >= 0) return secondary;
    const p = topo.primary();
    if (p !== null) return p;
    if (secondary >= 0) return secondary;
    throw new CommandError(133, 'FailedToSatisfyReadPreference', `Could not find host matching read preference { mode: "${mode}" } for set ${shard.name}`);
  }

  /** The router's pooled connection to `node` for this client connection (made on first use). */
  private pooled(client: ConnState, node: Mongod): ConnState {
    let pool = this.pools.get(client);
    if (!pool) {
      pool = new Map();
      this.pools.set(client, pool);
      const owned = pool;
      void client.closed.then(() => {
        for (const [n, c] of owned) n.connections.delete(c.id);
        owned.clear();
      });
    }
    let conn = pool.get(node);
    if (conn) return conn;
    const router = this.mongod;
    const id = nextPooledConnectionId++;
    const [routerIp] = router.hostAndPort.split(':');
    // An ephemeral-looking port for the router's side of the pooled connection.
    const remote = `${routerIp}:${20_000 + (id % 40_000)}`;
    conn = {
      id,
      remote,
      get clientMetadata() {
        return { ...(client.clientMetadata ?? {}), mongos: { host: router.hostAndPort, client: client.remote, version: router.version.version } };
      },
      set clientMetadata(_v) {},
      get appName() {
        return client.appName;
      },
      set appName(_v) {},
      get user() {
        return client.user;
      },
      set user(_v) {},
      scram: new Map(),
      supportsHello: true,
      closed: client.closed,
      close: () => {},
      internal: true,
    };
    pool.set(node, conn);
    node.connections.set(id, conn);
    return conn;
  }

  /** Runs `cmd` on member `i` of `shard` and returns its reply (ok: 0 included); a stopped member: HostUnreachable. */
  async run(ctx: CommandContext, shard: Shard, i: number, cmd: Document): Promise<Document> {
    const node = shard.set.topology.node(i);
    const host = shard.set.members[i]!.host;
    if (!node) throw hostUnreachable(host);
    const call = node.dispatch(this.pooled(ctx.conn, node), cmd);
    // The router's own operation can be killed while it waits (killOp on the router, killSessions).
    const reply = await Promise.race([call, ctx.op.interrupted.then((e) => Promise.reject(e))]);
    if (Array.isArray(reply.$rawReply)) return BSON.deserialize(Buffer.concat(reply.$rawReply as Uint8Array[]));
    return reply;
  }

  /** As run(), raising a shard's error reply as the router's error. */
  async command(ctx: CommandContext, shard: Shard, i: number, cmd: Document): Promise<Document> {
    const reply = await this.run(ctx, shard, i, cmd);
    if (reply.ok !== 1) throw replyError(reply);
    return reply;
  }

  /**
   * The statement the router sends to a shard for the client's command: the client's fields less those the
   * router sets, the lsid with its uid resolved (mongos sends { id, uid }), and the transaction fields; the
   * first statement of a transaction on a shard makes it a participant and starts the transaction there.
   */
  statement(ctx: CommandContext, shard: Shard, body: Document, opts: { write?: boolean; readPreference?: unknown } = {}): Document {
    const cmd: Document = {};
    for (const [k, v] of Object.entries(body)) if (!ROUTER_FIELDS.has(k)) cmd[k] = v;
    cmd.$db = body.$db ?? ctx.db;
    if (ctx.session) cmd.lsid = { id: uuidBinary(ctx.session.idHex), uid: uidBinary(ctx.session.uidHex) };
    const txn = ctx.txn;
    if (txn) {
      cmd.txnNumber = Long.fromNumber(txn.txnNumber);
      cmd.autocommit = false;
      let list = this.participants.get(txn);
      if (!list) this.participants.set(txn, (list = []));
      let p = list.find((x) => x.shard === shard.name);
      if (!p) {
        p = { shard: shard.name, readOnly: true };
        list.push(p);
        cmd.startTransaction = true;
        if (txn.readConcern) cmd.readConcern = txn.readConcern;
      }
      if (opts.write) p.readOnly = false;
    } else {
      if (ctx.cmd.txnNumber !== undefined) cmd.txnNumber = ctx.cmd.txnNumber; // a retryable write
      if (ctx.cmd.readConcern !== undefined) cmd.readConcern = ctx.cmd.readConcern;
      if (ctx.cmd.writeConcern !== undefined) cmd.writeConcern = ctx.cmd.writeConcern;
      if (opts.readPreference !== undefined) cmd.$readPreference = opts.readPreference;
    }
    return cmd;
  }

  /**
   * A client statement on a shard: to the member its read preference picks (writes and transactions: the
   * primary). Inside a transaction a failure aborts the transaction on the other participants.
   */
  async onShard(ctx: CommandContext, shard: Shard, body: Document, opts: { write?: boolean } = {}): Promise<Document> {
    return this.onMember(ctx, shard, this.target(ctx, shard, opts.write === true), body, opts);
  }

  /** The member a client statement goes to: the primary for writes and transactions, else by read preference. */
  target(ctx: CommandContext, shard: Shard, write: boolean): number {
    const readPreference = write || ctx.txn ? undefined : ctx.cmd.$readPreference;
    return readPreference === undefined ? this.primaryOf(shard) : this.pick(shard, readPreference);
  }

  async onMember(ctx: CommandContext, shard: Shard, i: number, body: Document, opts: { write?: boolean } = {}): Promise<Document> {
    const readPreference = opts.write || ctx.txn ? undefined : ctx.cmd.$readPreference;
    const cmd = this.statement(ctx, shard, body, { write: opts.write, readPreference });
    try {
      return await this.command(ctx, shard, i, cmd);
    } catch (e) {
      if (ctx.txn && e instanceof CommandError) await this.abortParticipants(ctx, shard.name);
      throw e;
    }
  }

  /**
   * A router cursor over shard cursors: the first batch from what the shards returned, the rest through
   * getMore on the router. A single batch or an exhausted router cursor closes the shard cursors left.
   */
  async openCursor(ctx: CommandContext, ns: string, remote: RemoteCursors, batchSize: number | null, singleBatch = false): Promise<Document> {
    await this.fill(ctx, remote, batchSize ?? 0);
    let opened = false;
    const reply = cursorReply(ctx, ns, Router.bufferSource(remote), batchSize, singleBatch, (cursor) => {
      opened = true;
      this.remotes.set(cursor, remote);
    });
    if (!opened && remote.parts.length) await this.killShardCursors(ctx, remote);
    return reply;
  }

  /** abortTransaction on every participant but `except`; their failures do not matter (the transaction is gone). */
  async abortParticipants(ctx: CommandContext, except: string | null): Promise<Document[]> {
    const txn = ctx.txn;
    const replies: Document[] = [];
    if (!txn) return replies;
    for (const p of this.participants.get(txn) ?? []) {
      if (p.shard === except) continue;
      const shard = this.config.shard(p.shard)!;
      try {
        const primary = this.primaryOf(shard);
        replies.push(await this.run(ctx, shard, primary, this.txnCommand(ctx, { abortTransaction: 1 })));
      } catch (e) {
        if (!(e instanceof CommandError)) throw e;
        replies.push({ ok: 0, code: e.code, codeName: e.codeName, errmsg: e.message });
      }
    }
    return replies;
  }

  /** commitTransaction / abortTransaction for a participant: admin, the lsid and the transaction number. */
  txnCommand(ctx: CommandContext, body: Document): Document {
    return { ...body, $db: 'admin', lsid: { id: uuidBinary(ctx.session!.idHex), uid: uidBinary(ctx.session!.uidHex) }, txnNumber: Long.fromNumber(ctx.txn!.txnNumber), autocommit: false };
  }

  // ---- cursors ---------------------------------------------------------------------------------

  /**
   * The batch source of a router cursor: what the shards returned and the router has not. getMore on the router
   * (commands/router/get-more.ts) refills the buffer from the shard cursors before it takes a batch.
   */
  static bufferSource(remote: RemoteCursors): BatchSource {
    return {
      next(max) {
        const n = Math.min(max ?? remote.buffer.length, remote.buffer.length);
        const docs = remote.buffer.splice(0, n);
        return { docs, raw: null, count: docs.length, exhausted: remote.buffer.length === 0 && remote.parts.length === 0 };
      },
    };
  }

  /** Adds a shard's cursor reply to a router cursor's state: its batch to the buffer, its cursor if still open. */
  static addShardReply(remote: RemoteCursors, shard: Shard, member: number, db: string, reply: Document): void {
    const cursor = reply.cursor as Document;
    const batch = (cursor.firstBatch ?? cursor.nextBatch) as Document[];
    remote.buffer.push(...batch);
    const id = cursor.id instanceof Long ? cursor.id : Long.fromNumber(toNumber(cursor.id));
    const ns = String(cursor.ns);
    if (!id.isZero()) remote.parts.push({ shard, member, id, db, collection: ns.slice(ns.indexOf('.') + 1) });
  }

  /** Fetches from the shard cursors until `want` documents wait in the buffer or every shard cursor is exhausted. */
  async fill(ctx: CommandContext, remote: RemoteCursors, want: number): Promise<void> {
    while (remote.buffer.length < want && remote.parts.length > 0) {
      const part = remote.parts[0]!;
      const reply = await this.command(ctx, part.shard, part.member, this.statement(ctx, part.shard, { getMore: part.id, collection: part.collection, $db: part.db }));
      const cursor = reply.cursor as Document;
      remote.buffer.push(...(cursor.nextBatch as Document[]));
      const id = cursor.id instanceof Long ? cursor.id : Long.fromNumber(toNumber(cursor.id));
      if (id.isZero()) remote.parts.shift();
      else part.id = id;
    }
  }

  /** Every document of a shard command's cursor (the $currentOp fan-out, merges that need all of them). */
  async drain(ctx: CommandContext, shard: Shard, member: number, cmd: Document): Promise<Document[]> {
    const remote: RemoteCursors = { parts: [], buffer: [] };
    Router.addShardReply(remote, shard, member, String(cmd.$db), await this.command(ctx, shard, member, cmd));
    await this.fill(ctx, remote, Infinity);
    return remote.buffer;
  }

  /** killCursors on a router cursor's shard cursors; a shard that cannot be reached keeps its cursor until its session goes. */
  async killShardCursors(ctx: CommandContext, remote: RemoteCursors): Promise<void> {
    for (const part of remote.parts.splice(0)) {
      try {
        await this.run(ctx, part.shard, part.member, this.statement(ctx, part.shard, { killCursors: part.collection, cursors: [part.id], $db: part.db }));
      } catch (e) {
        if (!(e instanceof CommandError)) throw e;
      }
    }
  }

  // ---- killing sessions ------------------------------------------------------------------------

  /**
   * killSessionsRemote (src/mongo/s/commands/kill_sessions_remote.cpp): the router's matching cursors and
   * operations first, then { killAllSessionsByPattern: <the patterns> } to the admin database of every host of
   * every shard (getAllClusterHosts: every member in the shard's connection string, secondaries included). Any
   * host that fails makes the command fail with HostUnreachable(6) "Failed to kill on some hosts", with the
   * hosts in `failedHosts` (kill_sessions_common.cpp killSessionsCmdHelper, appended to the error reply). The
   * router's own transaction state is not touched: the client's next statement reaches a participant whose
   * transaction was aborted and gets NoSuchTransaction(251) from it.
   */
  async killEverywhere(ctx: CommandContext, patterns: KillPattern[], by: string): Promise<Document> {
    const m = this.mongod;
    let n = 0;
    for (const rec of m.matchingSessions(patterns)) {
      n++;
      for (const op of m.ops.ofSession(rec)) m.ops.kill(op);
      for (const c of m.cursors.ofSession(rec)) m.cursors.close(c);
    }
    m.log(`kill: ${by} killed ${n} router session(s); sending killAllSessionsByPattern to every shard host`);
    const forwarded = { killAllSessionsByPattern: patterns.map((p) => this.patternDocument(ctx, p)), $db: 'admin' };
    const failedHosts: string[] = [];
    // AsyncMulticaster with KillSessionsMaxConcurrency = 100 (kill_sessions_remote.idl): every host at once here.
    await Promise.all(this.config.shards.flatMap((shard) => shard.set.members.map(async (member, i) => {
      try {
        const reply = await this.run(ctx, shard, i, forwarded);
        if (reply.ok !== 1) failedHosts.push(member.host);
      } catch (e) {
        if (!(e instanceof CommandError)) throw e;
        failedHosts.push(member.host);
      }
    })));
    if (failedHosts.length) throw new CommandError(6, 'HostUnreachable', 'Failed to kill on some hosts', { failedHosts });
    return { ok: 1 };
  }

  /**
   * A KillAllSessionsByPattern document: {} (everything), { uid } or { lsid: { id, uid } }, with the caller's
   * user and roles as impersonation data when auth is on (kill_sessions.cpp makeKillAllSessionsByPattern).
   */
  private patternDocument(ctx: CommandContext, p: KillPattern): Document {
    const d: Document = p.kind === 'all' ? {} : p.kind === 'uid' ? { uid: uidBinary(p.uidHex) } : { lsid: { id: uuidBinary(p.idHex), uid: uidBinary(p.uidHex) } };
    const u = ctx.conn.user;
    if (this.mongod.params.auth && u) {
      d.users = [{ user: u.user, db: u.db }];
      d.roles = this.mongod.auth.rolesOf(u.user, u.db).map((r) => ({ role: r.role, db: r.db }));
    }
    return d;
  }
}


