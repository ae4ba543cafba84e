/**
 * The reaper through mongos (docs/server-semantics.md#through-mongos).
 *
 * - Discovery: the shards and their members from getShardMap (src/mongo/s/commands/cluster_get_shard_map_cmd.cpp;
 *   "name/h1,h2" per shard), the routers from the connection string's hosts, each member's state from an
 *   unauthenticated hello on a direct connection (hello needs no authentication).
 * - Inventory: one $currentOp through the router with targetAllNodes (7.1+, maxWireVersion 22;
 *   document_source_current_op.cpp) covers every data-bearing member of every shard; each document names its
 *   `shard` and `host`. Each router's own operations, cursors and transactions ($currentOp localOps) and cache
 *   ($listLocalSessions) are read over a connection to that router alone. Before 7.1 the router's $currentOp
 *   reaches each shard's primary, and every other member is read over an authenticated direct connection (the
 *   reaper's shard-local user), its documents made what the router makes of a shard's (asFromShard); a member that
 *   refuses or does not answer is named as not covered, with why. With 7.1+ and a member down (targetAllNodes then
 *   fails as a whole), the pass reads as before 7.1: the primaries through the router, every other member that
 *   answers directly, so only the member that is down is not covered. Shard
 *   members' own caches ($listLocalSessions) are not read: they are written into config.system.sessions, which
 *   $listSessions reads (docs/deploy.md#sharded-clusters-three-levels-of-coverage).
 * - Kills: a session's killSessions goes through the router once, which kills it on every host of every shard
 *   (src/mongo/s/commands/kill_sessions_remote.cpp); a sessionless operation is killed where it was seen: on a
 *   shard primary as "shard:opid" through the router (cluster_kill_op.cpp forwards it to the shard's primary), on a
 *   secondary by its number over a direct connection to that member (never "shard:opid", which would kill
 *   whatever has that number on the primary), a router's own by its number on that router.
 */
import { ConnectionString } from 'mongodb-connection-string-url';
import { Binary, MongoClient, MongoServerError, ReadPreference, type ClientSession, type Document, type MongoClientOptions } from 'mongodb';
import { MongoStageError } from '../../util/errors.ts';
import type { Activity, Coverage, MemberCoverage, MembersMode, MemberState } from '../../pass/ports.ts';
import { connectDirect, MemberPool, memberUri, MEMBER_TIMEOUT_MS, whyNot } from './members.ts';
import { toActivity, uuidBytes, uuidString } from './activity.ts';

/** targetAllNodes exists from 7.1 on (SERVER-76255), whose routers answer hello with maxWireVersion 22 or more. */
export const TARGET_ALL_NODES_MIN_WIRE_VERSION = 22;

/** Which read of the pass: the inventory, the re-check before a kill batch, the verification after the kills. */
export type ReadStage = 'inventory' | 're-check' | 'verification';

/** What a failed read of the shards' primaries stopped, by the stage that read them. */
const STOPPED_AT = {
  inventory: 'The pass stopped before deciding anything: no kill was made on a partial view.',
  're-check': 'The re-check before the kill batch failed with it: the batch was not killed (kills of earlier batches stand).',
  verification: 'The verification after the kills failed with it: the kills were made; which sessions still hold something is not known.',
} as const;

/** HostUnreachable: a router's killSessions reached some hosts only (kill_sessions_remote.cpp, "Failed to kill on some hosts"). */
export const HOST_UNREACHABLE = 6;

/** Where a shard member stands, as this pass found it. */
export interface ShardMember {
  host: string;
  shard: string;
  state: MemberState | '';
}

/** A direct connection's URI without the credentials: enough for hello, which needs no authentication. */
function anonymousUri(uri: string, host: string): string {
  const cs = new ConnectionString(memberUri(uri, host));
  cs.username = '';
  cs.password = '';
  for (const k of ['authSource', 'authMechanism', 'authMechanismProperties']) cs.searchParams.delete(k);
  return cs.toString();
}

/**
 * A document read on a shard member directly, made what a router makes of it (doGetNext with fromMongos,
 * document_source_current_op.cpp): `shard` first, `opid` as "<shard>:<opid>", `client` renamed `client_s`. So a
 * fact and its kill are the same whether the member was read through the router (targetAllNodes) or directly.
 */
export function asFromShard(shard: string, doc: Document): Document {
  const out: Document = { shard };
  for (const [k, v] of Object.entries(doc)) {
    if (k === 'opid') out.opid = `${shard}:${String(v)}`;
    else if (k === 'client') out.client_s = v;
    else out[k] = v;
  }
  return out;
}

/**
 * A shard member's $currentOp document (read directly, before 7.1) as the router's cluster-wide $currentOp
 * would report it (asFromShard), with `host` the member as getShardMap names it (its own `host` is the name the
 * server gives itself) and the reaper's session on that member taken for its main one.
 */
export function asSeenThroughRouter(m: ShardMember, doc: Document, ownSessionId: string, mainSessionId: string): Document {
  const out = asFromShard(m.shard, doc);
  out.host = m.host;
  const lsid = out.lsid as Document | undefined;
  if (lsid?.id instanceof Binary && ownSessionId && uuidString(lsid.id) === ownSessionId) out.lsid = { ...lsid, id: new Binary(uuidBytes(mainSessionId), Binary.SUBTYPE_UUID) };
  return out;
}

/**
 * Turns one server batch of $currentOp into documents (the adapter's): `router` names the router read alone
 * (null: the main connection); `rewrite`, given for a shard member read directly, makes each document what the
 * pass and the recording take it for; when a snapshot is taken, what records each document is pushed on `held`,
 * to be run once the whole read has succeeded.
 */
export type CurrentOpDecoder = (docs: unknown[], router: string | null, rewrite: ((doc: Document) => Document) | undefined, held: (() => void)[]) => Document[];

/** Why a shard member's direct connection or read failed, with the fix: the shard-local user the reaper needs. */
export function shardMemberWhy(host: string, shard: string, e: unknown): string {
  const err = e as { code?: number; message?: string };
  const msg = err.message ?? String(e);
  if (err.code === 18 || /authentication failed/i.test(msg)) {
    return `the reaper's credentials were refused on ${host} (${msg}): cluster users do not exist on the shards; create the reaper as a shard-local user on ${shard} (on its primary, with the same name and password; it replicates to the shard's members)`;
  }
  if (err.code === 13 || /not authorized/i.test(msg)) {
    return `${host} refused the reaper's shard-local user (${msg}); grant it the sessionReaper role (infra/mongodb-role.json) created on ${shard}'s primary`;
  }
  return whyNot(host, e);
}

/** "name/h1,h2" (a replica-set shard) or "h1" (a standalone shard): its hosts. */
export function shardHosts(connectionString: string): string[] {
  const slash = connectionString.indexOf('/');
  return (slash >= 0 ? connectionString.slice(slash + 1) : connectionString).split(',').filter(Boolean);
}

/** Where the shards' hosts came from: getShardMap, else listShards, else a find on config.shards; '' when none answered. */
export type ShardSource = 'getShardMap' | 'listShards' | 'config.shards' | '';

/**
 * The shards and their connection strings ("name/h1,h2"), the config servers left out. getShardMap
 * (cluster_get_shard_map_cmd.cpp; the getShardMap action) first; when it is refused or does not exist, listShards
 * (cluster_list_shards_cmd.cpp; the listShards action) and then a find on config.shards (the find action on
 * config.shards), both of which return the ShardType documents { _id, host } the config servers keep.
 */
export async function listShardHosts(main: MongoClient, session: ClientSession): Promise<{ map: Record<string, string>; source: ShardSource; note?: string }> {
  const failures: string[] = [];
  const fromShardDocs = (docs: Document[]): Record<string, string> => Object.fromEntries(docs.filter((d) => typeof d._id === 'string' && typeof d.host === 'string').map((d) => [String(d._id), String(d.host)]));
  try {
    const map = (await main.db('admin').command({ getShardMap: 1 }, { session })).map ?? {};
    return { map: Object.fromEntries(Object.entries(map).filter(([name]) => name !== 'config').map(([k, v]) => [k, String(v)])), source: 'getShardMap' };
  } catch (e) {
    failures.push(`getShardMap: ${(e as Error).message}`);
  }
  try {
    const reply = await main.db('admin').command({ listShards: 1 }, { session });
    return { map: fromShardDocs(Array.isArray(reply.shards) ? reply.shards : []), source: 'listShards' };
  } catch (e) {
    failures.push(`listShards: ${(e as Error).message}`);
  }
  try {
    const docs = await main.db('config').collection('shards').find({}, { session, projection: { _id: 1, host: 1 } }).toArray();
    return { map: fromShardDocs(docs), source: 'config.shards' };
  } catch (e) {
    failures.push(`find on config.shards: ${(e as Error).message}`);
  }
  return {
    map: {}, source: '',
    note: `the shards' members are not named: ${failures.join('; ')}; grant getShardMap on the cluster (infra/mongodb-role.json), or listShards on the cluster, or find on config.shards`,
  };
}

export class RouterPath {
  /** One client per router host (directConnection): that router's own state. */
  private readonly routerClients = new Map<string, MongoClient>();
  /** Unauthenticated direct clients to shard members: their state from hello, which needs no authentication. */
  private readonly helloClients = new Map<string, MongoClient>();
  /** Authenticated direct clients to shard members (killOp of an operation seen on a secondary; before 7.1, reads). */
  private readonly memberClients: MemberPool;
  private readonly sessions = new Map<string, ClientSession>();
  private readonly members = new Map<string, ShardMember>();
  /** Before 7.1: the shard members other than the primaries, read over their authenticated direct clients. */
  private direct: ShardMember[] = [];
  private routers: string[] = [];
  /** Where this pass's discovery found the shards' hosts (getShardMap, or a fallback). */
  private shardSource: ShardSource = 'getShardMap';
  private allNodes = false;
  private coverage: Coverage | null = null;

  constructor(private readonly uri: string, private readonly options: MongoClientOptions, private readonly onConnected: (client: MongoClient) => void) {
    this.memberClients = new MemberPool(uri, options, onConnected);
  }

  /** The server answers targetAllNodes (7.1+): one $currentOp reads every member. */
  get targetAllNodes(): boolean {
    return this.allNodes;
  }

  /** Where the last discovery found the shards' hosts. */
  get shardsFrom(): ShardSource {
    return this.shardSource;
  }

  private async client(pool: Map<string, MongoClient>, host: string, uri: string, anonymous = false): Promise<MongoClient> {
    let c = pool.get(host);
    if (c) return c;
    // Anonymous (hello only): credentials given as options, not in the URI, are left out too.
    const { auth: _auth, authSource: _source, authMechanism: _mechanism, authMechanismProperties: _properties, ...rest } = this.options;
    c = new MongoClient(uri, { ...(anonymous ? rest : this.options), serverSelectionTimeoutMS: MEMBER_TIMEOUT_MS, connectTimeoutMS: MEMBER_TIMEOUT_MS });
    try {
      await connectDirect(c);
    } catch (e) {
      await c.close().catch(() => {});
      throw e;
    }
    pool.set(host, c);
    this.onConnected(c);
    return c;
  }

  private session(host: string, c: MongoClient): ClientSession {
    let s = this.sessions.get(host);
    if (!s || s.hasEnded) this.sessions.set(host, (s = c.startSession({ causalConsistency: false })));
    return s;
  }

  async discover(main: MongoClient, session: ClientSession, maxWireVersion: number, mode: MembersMode = 'all'): Promise<Coverage> {
    const serverHasIt = maxWireVersion >= TARGET_ALL_NODES_MIN_WIRE_VERSION;
    this.allNodes = serverHasIt && mode === 'all';
    this.routers = new ConnectionString(this.uri).hosts;
    const notes: string[] = [];
    const listed = await listShardHosts(main, session);
    this.shardSource = listed.source;
    if (listed.note) notes.push(listed.note);
    const map = listed.map;
    this.members.clear();
    this.direct = [];
    const shardMembers = Object.entries(map).flatMap(([shard, cs]) => shardHosts(String(cs)).map((host) => ({ host, shard })));
    const probed = await Promise.all(shardMembers.map(async ({ host, shard }): Promise<{ member: ShardMember; error?: unknown }> => {
      try {
        const c = await this.client(this.helloClients, host, anonymousUri(this.uri, host), true);
        const hello = await c.db('admin').command({ hello: 1 });
        return { member: { host, shard, state: hello.isWritablePrimary ? 'PRIMARY' : hello.secondary ? 'SECONDARY' : '' } };
      } catch (error) {
        return { member: { host, shard, state: '' }, error };
      }
    }));
    for (const { member } of probed) this.members.set(member.host, member);
    const down = probed.filter((p) => p.error !== undefined).map((p) => p.member.host);
    // Why the members other than the primaries are read directly, if they are.
    let directWhy = `the cluster answers with wire version ${maxWireVersion}: before 7.1 $currentOp through mongos has no targetAllNodes and reaches each shard's primary only`;
    if (this.allNodes && down.length > 0) {
      // The router's targetAllNodes read fails as a whole when one member does not answer: sharded_agg_helpers.cpp
      // calls establishCursorsOnAllHosts (src/mongo/s/query/establish_cursors.cpp) with allowPartialResults false,
      // which throws the first host's failure (6 HostUnreachable for a refused connection). So it is not sent.
      this.allNodes = false;
      directWhy = `$currentOp with targetAllNodes fails as a whole while a member is down (${down.join(', ')})`;
      notes.push(`${down.join(', ')} did not answer: $currentOp with targetAllNodes would fail as a whole, so the shards' primaries are read through the router and the other members that answer over direct connections (the reaper's shard-local user)`);
    }
    const cover = await Promise.all(probed.map(async ({ member, error }): Promise<MemberCoverage> => {
      const { host, state } = member;
      if (error !== undefined) return { host, state, covered: false, why: whyNot(host, error) };
      if (this.allNodes || state === 'PRIMARY') return { host, state, covered: true };
      if (mode === 'primary') return { host, state, covered: false, why: 'not read: --members primary (REAPER_MEMBERS=primary): the shards\' primaries only', byChoice: true };
      if (state !== 'SECONDARY') return { host, state, covered: false, why: `not read: ${directWhy}, and ${host} is neither primary nor secondary` };
      return this.readDirectly(member, directWhy);
    }));
    const routers = await Promise.all(this.routers.map(async (host): Promise<MemberCoverage> => {
      try {
        await this.client(this.routerClients, host, memberUri(this.uri, host));
        return { host, state: 'MONGOS', covered: true };
      } catch (e) {
        return { host, state: 'MONGOS', covered: false, why: whyNot(host, e) };
      }
    }));
    this.coverage = { topology: 'mongos', setName: '', members: [...routers, ...cover], notes };
    return this.coverage;
  }

  /**
   * A member other than a primary, to be read over an authenticated direct connection (the reaper's shard-local
   * user) because the router does not read it (`why`): covered once the connection is up, else named with the fix.
   */
  private async readDirectly(member: ShardMember, why: string): Promise<MemberCoverage> {
    const { host, shard, state } = member;
    try {
      await this.memberClients.connected(host);
    } catch (e) {
      return { host, state, covered: false, why: `not read: ${why}; a direct connection to ${host} failed: ${shardMemberWhy(host, shard, e)}` };
    }
    this.direct.push(member);
    return { host, state, covered: true };
  }

  /**
   * The error of a failed read of the shards' primaries through the router, naming the shards discovery found
   * without a primary. The router's $currentOp (without targetAllNodes) targets each shard's primary and fails as a
   * whole when one has none (a primary down, an election under way): "Could not find host matching read
   * preference { mode: "primary" } for set shard0". The pass stops at its inventory, before any decision, so no
   * kill is made on a view that lacks a shard.
   */
  private primariesNotRead(e: unknown, stage: ReadStage): MongoStageError {
    const shards = [...new Set([...this.members.values()].map((m) => m.shard))];
    const without = shards.filter((shard) => ![...this.members.values()].some((m) => m.shard === shard && m.state === 'PRIMARY'));
    const message = e instanceof Error ? e.message : String(e);
    const which = without.length > 0
      ? `shard ${without.join(', ')} has no primary that answers (its primary is down or an election is under way)`
      : 'a shard\'s primary did not answer (it went down or an election began during the pass)';
    return new MongoStageError(
      `$currentOp through the router failed (${message}): ${which}, and that read of every shard's primary fails as a whole. ` +
      `${STOPPED_AT[stage]} The next pass reads the cluster again; ` +
      `if the shard stays without a primary, bring its members up (rs.status() on one of them says which are down)`,
      { cause: e },
    );
  }

  /**
   * The routers' and the shards' documents, each tagged with where it lives (`member`: the shard member or the
   * router; `shard`), in a fixed order: the router's read of the shards, the members read directly in discovery
   * order, the routers' own in the order of the connection string (not the order the replies came in: the same
   * input, the same order). `decode` turns one server batch into documents (the adapter's, recorded when a
   * snapshot is taken); a read's documents are recorded only when that read has finished, so a read that fails
   * half-way leaves nothing in the snapshot that the pass did not decide on.
   *
   * `stage` 're-check' (the re-check before a kill batch) is strict: a member or router that was read at the scan and cannot be read
   * now fails the whole read, and with it the batch, rather than a kill being approved on a view that lacks it.
   */
  async currentOp(main: MongoClient, session: ClientSession, pipelineAfter: (shard?: string) => Document[], options: Document, decode: CurrentOpDecoder, mainSessionId: string, stage: ReadStage = 'inventory'): Promise<Activity[]> {
    const strict = stage === 're-check';
    const spec = { allUsers: true, idleSessions: true, idleCursors: true };
    interface Read { activities: Activity[]; record: () => void }
    // `from.router`: a router read alone (its own operations); `from.member`: a shard member read directly, its
    // documents made what the router makes of them (asFromShard), named by the member as getShardMap names it,
    // the reaper's session there taken for the main one: so a recording of them reads like the router's
    // cluster-wide $currentOp, and a replay tags them as this pass does.
    const read = async (c: MongoClient, s: ClientSession, stage: Document, from: { router?: string; member?: ShardMember } = {}): Promise<Read> => {
      const activities: Activity[] = [];
      const held: (() => void)[] = [];
      const m = from.member;
      const ownId = m ? uuidString(s.id?.id) : '';
      const rewrite = m ? (raw: Document): Document => asSeenThroughRouter(m, raw, ownId, mainSessionId) : undefined;
      // The shards' primaries are the read preference's to choose: pinned, whatever the connection string says.
      const cursor = c.db('admin').aggregate([{ $currentOp: stage }, ...pipelineAfter(m?.shard)], { session: s, readPreference: ReadPreference.primary, ...options });
      while (await cursor.hasNext()) for (const d of decode(cursor.readBufferedDocuments(), from.router ?? null, rewrite, held)) activities.push(this.tagShard(d, toActivity(d)));
      return { activities, record: () => { for (const r of held) r(); } };
    };
    const failStrict = (what: string, e: unknown): never => {
      throw new MongoStageError(`the re-check before the kill batch could not read ${what} (${e instanceof Error ? e.message : String(e)}), which the scan read: the batch is not killed on a view that lacks it`, { cause: e });
    };
    const readMembers = (members: ShardMember[]): Promise<(Read | null)[]> => Promise.all(members.map(async (m): Promise<Read | null> => {
      try {
        const c = await this.memberClients.connected(m.host);
        return await read(c, this.session(m.host, c), spec, { member: m });
      } catch (e) {
        if (strict) failStrict(`${m.host} over a direct connection`, e);
        this.notRead(m, e);
        return null;
      }
    }));
    // The members read directly as discovered (readMembers starts every read at once: what the fallback adds below is read there).
    const direct = readMembers(this.direct);
    // The shards' primaries through the router: that read fails as a whole when one shard has no primary.
    const primaries = (): Promise<Read> => read(main, session, spec).catch((e: unknown) => {
      throw this.primariesNotRead(e, stage);
    });
    let shards: Read;
    let fallback: (Read | null)[] = [];
    try {
      shards = this.allNodes ? await read(main, session, { ...spec, targetAllNodes: true }) : await primaries();
    } catch (e) {
      if (!this.allNodes || !(e instanceof MongoServerError)) throw e;
      if (strict) failStrict('every shard member with $currentOp {targetAllNodes} through the router', e);
      // A member the router cannot reach fails the whole targetAllNodes read (see discover): for the rest of the pass
      // the primaries are read through the router and the other members over direct connections, as before 7.1.
      this.allNodes = false;
      const why = `$currentOp with targetAllNodes through the router failed (${e.message})`;
      this.coverage?.notes.push(`${why}: the shards' primaries were read through the router, the other members that answer over direct connections (the reaper's shard-local user)`);
      const others = [...this.members.values()].filter((m) => m.state !== 'PRIMARY' && this.coverage?.members.find((c) => c.host === m.host)?.covered);
      const added = await Promise.all(others.map(async (m) => {
        const c = m.state === 'SECONDARY' ? await this.readDirectly(m, why) : { host: m.host, state: m.state, covered: false, why: `not read: ${why}, and ${m.host} is neither primary nor secondary` };
        const entry = this.coverage?.members.find((x) => x.host === m.host);
        if (entry) Object.assign(entry, c);
        return c.covered ? [m] : [];
      }));
      [shards, fallback] = await Promise.all([primaries(), readMembers(added.flat())]);
    }
    const directReads = await direct;
    const local = await Promise.all(this.routers.map(async (host): Promise<Read | null> => {
      const c = this.routerClients.get(host);
      if (!c) {
        if (strict) failStrict(`router ${host}`, new Error('not connected in this pass'));
        return null;
      }
      const s = this.session(host, c);
      const ownId = uuidString(s.id?.id);
      try {
        const r = await read(c, s, { ...spec, localOps: true }, { router: host });
        return { ...r, activities: r.activities.map((a) => ({ ...a, sessionId: a.sessionId === ownId ? mainSessionId : a.sessionId, member: host, memberState: 'MONGOS' as const })) };
      } catch (e) {
        if (strict) failStrict(`router ${host}`, e);
        this.dropRouter(host, e);
        return null;
      }
    }));
    const out: Activity[] = [];
    for (const r of [shards, ...directReads, ...fallback, ...local]) {
      if (!r) continue;
      out.push(...r.activities);
      r.record();
    }
    return out;
  }

  /** One member failing does not stop the pass: it is no longer read, and named as not covered, with why. */
  private notRead(m: ShardMember, e: unknown): void {
    this.direct = this.direct.filter((x) => x !== m);
    const c = this.coverage?.members.find((x) => x.host === m.host);
    if (c) Object.assign(c, { covered: false, why: `not read: $currentOp on ${m.host} over a direct connection failed: ${shardMemberWhy(m.host, m.shard, e)}` });
  }

  /** A shard's document: the member it was read on (`host`), that member's state, its shard. */
  private tagShard(doc: Document, a: Activity): Activity {
    if (typeof doc.shard !== 'string' || typeof doc.host !== 'string') return a;
    const m = this.members.get(doc.host);
    a.member = doc.host;
    a.shard = doc.shard;
    if (m && m.state) a.memberState = m.state;
    return a;
  }

  /** Each router's cache, read on that router alone; the reaper's own sessions reported as its main one. */
  async listLocalSessions<T extends { id: string }>(read: (c: MongoClient, s: ClientSession, router: string) => Promise<T[]>, mainSessionId: string): Promise<T[]> {
    const parts = await Promise.all(this.routers.map(async (host) => {
      const c = this.routerClients.get(host);
      if (!c) return [];
      const s = this.session(host, c);
      const ownId = uuidString(s.id?.id);
      try {
        return (await read(c, s, host)).map((x) => (x.id === ownId ? { ...x, id: mainSessionId } : x));
      } catch (e) {
        this.dropRouter(host, e);
        return [];
      }
    }));
    return parts.flat();
  }

  /**
   * The routers read alone this pass (connected at discover()), with the reaper's session on each, and the shard
   * members with their shards and states: what a recording's header names (src/adapters/snapshot/).
   */
  readAlone(): { routers: { host: string; reaperSessionId: string }[]; shardMembers: ShardMember[] } {
    const routers = this.routers.flatMap((host) => {
      const c = this.routerClients.get(host);
      return c ? [{ host, reaperSessionId: uuidString(this.session(host, c).id?.id) }] : [];
    });
    return { routers, shardMembers: [...this.members.values()] };
  }

  private dropRouter(host: string, e: unknown): void {
    const c = this.coverage?.members.find((m) => m.host === host);
    if (c) Object.assign(c, { covered: false, why: whyNot(host, e) });
  }

  /**
   * killOp where the operation was seen: a router's by number on that router; a shard primary's as "shard:opid"
   * through the router (it answers ok whatever happened: verification re-reads); a secondary's by number on a
   * direct, authenticated connection to it (shard-local users: cluster users do not exist on the shards).
   */
  async killOpOn(main: MongoClient, mainSession: ClientSession, host: string, opid: string): Promise<void> {
    const number = Number(opid.slice(opid.lastIndexOf(':') + 1));
    if (this.routers.includes(host)) {
      const c = this.routerClients.get(host);
      if (!c) throw new MongoStageError(`router ${host} is not connected in this pass; its operation ${opid} was not killed`);
      await c.db('admin').command({ killOp: 1, op: number }, { session: this.session(host, c) });
      return;
    }
    const m = this.members.get(host);
    if (!m) throw new MongoStageError(`${host} is neither a router nor a shard member getShardMap named; operation ${opid} was not killed`);
    if (m.state === 'PRIMARY') {
      // By its number on the member itself where the reaper can reach it directly (the shard-local user):
      // "shard:opid" through the router goes to whichever member is the shard's primary now, which after a
      // stepdown is another process, where that number is another operation.
      let directWhy = '';
      const direct = await this.memberClients.connected(host).catch((e: unknown) => {
        directWhy = shardMemberWhy(host, m.shard, e);
        return null;
      });
      if (direct) {
        await direct.db('admin').command({ killOp: 1, op: number }, { session: this.session(host, direct) });
        return;
      }
      const hello = await (await this.client(this.helloClients, host, anonymousUri(this.uri, host), true)).db('admin').command({ hello: 1 });
      if (!hello.isWritablePrimary) {
        throw new MongoStageError(`operation ${opid} was seen on ${host}, the primary of ${m.shard} at discovery, which is no longer its primary: "shard:opid" through the router would reach the new primary, where that number is another operation; not killed (a later pass finds it where it runs). Killing it on ${host} directly failed: ${directWhy}`);
      }
      await main.db('admin').command({ killOp: 1, op: `${m.shard}:${number}` }, { session: mainSession });
      return;
    }
    let c: MongoClient;
    try {
      c = await this.memberClients.connected(host);
    } catch (e) {
      throw new MongoStageError(`operation ${opid} runs on ${host}, a ${m.state || 'non-primary'} member of shard ${m.shard}; "shard:opid" through the router would reach the primary, so it must be killed on ${host} directly, which failed: ${whyNot(host, e)} (create the reaper as a shard-local user on ${m.shard}, with the same name and password)`, { cause: e });
    }
    await c.db('admin').command({ killOp: 1, op: number }, { session: this.session(host, c) });
  }

  async close(): Promise<void> {
    await Promise.all([...this.sessions.values()].map((s) => s.endSession().catch(() => {})));
    this.sessions.clear();
    await Promise.all([...this.routerClients.values(), ...this.helloClients.values()].map((c) => c.close().catch(() => {})));
    await this.memberClients.close();
    this.routerClients.clear();
    this.helloClients.clear();
  }
}

/**
 * What a role's coverage is through mongos, for `setup-role`: how many routers and shard members it reads, each
 * one it does not and why, and which extra grant enables what (docs/deploy.md#sharded-clusters-three-levels-of-coverage).
 */
export function shardedCoverageLines(coverage: Coverage, allNodes: boolean, shardsFrom: ShardSource = 'getShardMap'): string[] {
  const routers = coverage.members.filter((m) => m.state === 'MONGOS');
  const members = coverage.members.filter((m) => m.state !== 'MONGOS');
  const read = members.filter((m) => m.covered).length;
  return [
    `through mongos: ${routers.length} router(s) read alone (localOps, $listLocalSessions); ${read} of ${members.length} shard member(s) read${allNodes ? ' with one $currentOp {targetAllNodes}' : ' (before 7.1, or with a member down: the shards\' primaries through the router, the other members over direct connections as the shard-local user)'}`,
    ...coverage.members.filter((m) => !m.covered).map((m) => `  not covered: ${m.host}: ${m.why ?? 'no reason given'}`),
    ...coverage.notes.map((n) => `  note: ${n}`),
    ...(shardsFrom === 'listShards' || shardsFrom === 'config.shards' ? [`  the shards' members were listed from ${shardsFrom}: getShardMap was refused or does not exist (grant getShardMap on the cluster, infra/mongodb-role.json, to use it)`] : []),
    '  getShardMap names the shards\' members (without it, listShards or a find on config.shards does; without all three, none is named); the sessionReaper role on each shard, for a shard-local user of the same name and password, lets the reaper kill an operation outside any session on a secondary and, before 7.1, read the secondaries (docs/deploy.md, "Sharded clusters")',
  ];
}

/** The message of a router's killSessions that missed hosts: what was and was not done. */
export function hostUnreachableMessage(e: MongoServerError): string {
  const failed: unknown = (e as { errorResponse?: { failedHosts?: unknown } }).errorResponse?.failedHosts ?? (e as { failedHosts?: unknown }).failedHosts;
  const hosts = Array.isArray(failed) ? failed.map(String).join(', ') : 'some hosts';
  return `killSessions through the router did not reach ${hosts} (6 HostUnreachable: ${e.message}); the sessions were killed on every host it reached, what they hold on ${hosts} stays until those hosts are back and a later pass kills it`;
}
