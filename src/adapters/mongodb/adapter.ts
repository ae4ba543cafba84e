/**
 * The MongoDB adapter: the MongoPort over the official driver.
 *
 * Everything the reaper sends runs in ONE explicit session, so the reaper knows its own lsid and the
 * policy can protect it. Session listings are read a server batch at a time as raw BSON (raw-cursor.ts);
 * $currentOp is projected down to the fields the inventory reads (its documents carry whole commands).
 */
import { createHash } from 'node:crypto';
import { Binary, BSON, MongoClient, MongoServerError, type ClientSession, type Document, type MongoClientOptions, type TopologyDescription } from 'mongodb';
import { MongoStageError } from '../../util/errors.ts';
import type { Activity, ActivityFilter, Coverage, ListedSession, MembersMode, MemberState, MongoPort, ReaperIdentity, SessionKey } from '../../pass/ports.ts';
import { redactConnectionString, redactUri } from '../../util/redact.ts';
import { commandBatches } from './raw-cursor.ts';
import { CURRENT_OP_PROJECTION, CURRENT_OP_UNSET, toActivity, uuidBytes, uuidString } from './activity.ts';
import { readListedSession } from './session-doc-reader.ts';
import { readActivity } from './activity-reader.ts';
import { MemberPool, type Member } from './members.ts';
import { HOST_UNREACHABLE, hostUnreachableMessage, RouterPath, shardedCoverageLines, type CurrentOpDecoder, type ReadStage, type ShardMember } from './sharded.ts';

/** Through mongos the shard documents also say which shard and member they come from. */
const ROUTER_CURRENT_OP_PROJECTION = { ...CURRENT_OP_PROJECTION, shard: 1, host: 1 };

export { CURRENT_OP_PROJECTION, toActivity, toListedSession, truncatedCommandName } from './activity.ts';

/** The appName the reaper announces, so operators can see it in $currentOp and logs. */
export const REAPER_APP_NAME = 'mongodb-session-reaper';

/** killSessions elements: always {id, uid} (a bare id would default to the reaper's own uid). */
export function killSessionsCommand(batch: readonly SessionKey[]): Document {
  if (batch.length === 0) {
    // `killSessions: []` means "every session I may kill": never send it.
    throw new MongoStageError('refusing to send an empty killSessions batch: it would kill every session the reaper may kill');
  }
  return {
    killSessions: batch.map((k) => {
      if (!/^[0-9a-f]{64}$/.test(k.uid)) throw new MongoStageError(`session ${k.id} has no valid uid ("${k.uid}"); a bare id only matches the reaper's own sessions`);
      return { id: new Binary(uuidBytes(k.id), Binary.SUBTYPE_UUID), uid: new Binary(Buffer.from(k.uid, 'hex'), Binary.SUBTYPE_DEFAULT) };
    }),
  };
}

/** Through mongos the opid is "shard:opid" and is passed as that string (docs/server-semantics.md#through-mongos). */
function opidValue(opid: string): number | string {
  return /^-?\d+$/.test(opid) ? Number(opid) : opid;
}

/** killOp's command, with the opid as opidValue gives it. */
function killOpCommand(opid: string): Document {
  return { killOp: 1, op: opidValue(opid) };
}

/**
 * Documents asked for in the re-check's first reply: more than a kill batch's sessions can have (the server still
 * stops a reply at 16 MiB, and the driver then fetches the rest with getMore).
 */
const RECHECK_BATCH_SIZE = 1_000_000;

/**
 * How long a pass waits for a server to select, unless the connection string says (serverSelectionTimeoutMS):
 * shorter than the driver's 30 s, so an unreachable cluster fails its pass well inside a Lambda timeout.
 */
const SERVER_SELECTION_TIMEOUT_MS = 10_000;

/** Does the connection string set this option? URI option names are case-insensitive (connection string spec). */
function uriSetsOption(uri: string, option: string): boolean {
  const query = uri.indexOf('?');
  if (query < 0) return false;
  const wanted = option.toLowerCase();
  return uri.slice(query + 1).split('&').some((pair) => {
    const eq = pair.indexOf('=');
    return (eq < 0 ? pair : pair.slice(0, eq)).toLowerCase() === wanted;
  });
}

/** The listings whose raw documents a tap receives. */
export type RawListing = 'listSessions' | 'listLocalSessions' | 'currentOp';

/**
 * Receives every raw document a listing returns, as the server sent it (snapshots record them:
 * src/adapters/snapshot/), and the member it came from: the host of a replica-set member or router read over
 * its own direct connection, null for the main connection.
 */
export type RawDocumentTap = (listing: RawListing, bson: Uint8Array, member: string | null) => void;

/** A member read over its own direct connection this pass, as a recording names it (see readMembers). */
export interface DirectMember {
  host: string;
  state: MemberState;
  /** The reaper's session on that member's connection, reported as the reaper's main session. */
  reaperSessionId: string;
  /** What the driver's monitor last learnt from its hello (the fields that describe its role). */
  hello: Record<string, unknown>;
}

export class MongoAdapter implements MongoPort {
  private trips = 0;
  private session: ClientSession | null = null;
  /** Each member client's own session id, reported as the reaper's one session (see tagged()). */
  private readonly memberSessions = new Map<string, ClientSession>();
  private readonly pool: MemberPool | null;
  /** Through mongos: the routers, the shards' members, and what is read and killed where (sharded.ts). */
  private readonly router: RouterPath | null;
  private sharded = false;
  /** The last discover()'s answer, updated when a member fails later in the pass. */
  private coverage: Coverage | null = null;
  private readonly count = (): void => {
    this.trips++;
  };
  private tap: RawDocumentTap | null = null;

  /** What the driver's monitors last said the deployment is (SDAM): discovery costs the pass no command. */
  private description: TopologyDescription | null = null;

  private constructor(readonly client: MongoClient, private readonly ownsClient: boolean, uri: string | null, options: MongoClientOptions, private readonly mode: MembersMode) {
    client.on('commandStarted', this.count);
    client.on('topologyDescriptionChanged', (e) => {
      this.description = e.newDescription;
    });
    this.pool = uri ? new MemberPool(uri, { appName: REAPER_APP_NAME, monitorCommands: true, ...options }, (c) => c.on('commandStarted', this.count)) : null;
    this.router = uri ? new RouterPath(uri, { appName: REAPER_APP_NAME, monitorCommands: true, ...options }, (c) => c.on('commandStarted', this.count)) : null;
  }

  /** Connects with command monitoring on (to count round trips) and the reaper's appName. */
  static async connect(uri: string, options: MongoClientOptions = {}, mode: MembersMode = 'all'): Promise<MongoAdapter> {
    let client: MongoClient | undefined;
    let adapter: MongoAdapter;
    try {
      // Inside the try: the driver parses the string in the constructor, and its parse errors need the same wording.
      // The connection string's serverSelectionTimeoutMS stands: an option given here would override it.
      const selection = uriSetsOption(uri, 'serverSelectionTimeoutMS') ? {} : { serverSelectionTimeoutMS: SERVER_SELECTION_TIMEOUT_MS };
      client = new MongoClient(uri, { appName: REAPER_APP_NAME, monitorCommands: true, ...selection, ...options });
      // Before connect(): the adapter follows the topology description from the first hello on.
      adapter = new MongoAdapter(client, true, uri, options, mode);
      await client.connect();
    } catch (e) {
      await client?.close().catch(() => {});
      // The driver's own message is free text that may quote the string back: redacted too.
      throw new MongoStageError(`cannot connect to ${redactConnectionString(uri)}: ${redactUri((e as Error).message)}; check the connection string (seed list, replicaSet name), the network path and the credentials`, { cause: e });
    }
    return adapter;
  }

  /**
   * Wraps a client created elsewhere (a Lambda's module-scope client); it must have monitorCommands on to count
   * round trips. With its URI the adapter reads every replica-set member; without, the server the client picks.
   */
  static wrap(client: MongoClient, uri: string | null = null, mode: MembersMode = 'all'): MongoAdapter {
    return new MongoAdapter(client, false, uri, {}, mode);
  }

  /** The members read member by member this pass; empty on a standalone, a one-member set, through mongos, or with --members primary. */
  private members(): Member[] {
    return this.pool ? this.pool.current : [];
  }

  async discover(): Promise<Coverage> {
    if (!this.pool || !this.description) {
      // A wrapped client: its description was not followed from the start, so one hello says what it is.
      const hello = await this.client.db('admin').command({ hello: 1 }, { session: this.ownSession() });
      const topology = hello.msg === 'isdbgrid' ? 'mongos' : hello.setName ? 'replicaSet' : 'standalone';
      return { topology, setName: String(hello.setName ?? ''), members: [], notes: ['the adapter wraps a client it did not connect: only the server the driver selects is read'] };
    }
    this.coverage = await this.pool.discover(this.description, this.mode, (host, client) => this.memberSession({ host, client }));
    this.sharded = this.coverage.topology === 'mongos' && this.router !== null;
    if (this.sharded) {
      const wire = Math.min(...[...this.description.servers.values()].filter((sd) => sd.type === 'Mongos').map((sd) => sd.maxWireVersion));
      this.coverage = await this.router!.discover(this.client, this.ownSession(), Number.isFinite(wire) ? wire : 0, this.mode);
    }
    return this.coverage;
  }

  private memberSession(m: Pick<Member, 'host' | 'client'>): ClientSession {
    let s = this.memberSessions.get(m.host);
    if (!s || s.hasEnded) {
      s = m.client.startSession({ causalConsistency: false });
      this.memberSessions.set(m.host, s);
    }
    return s;
  }

  /**
   * Every member's documents, read in parallel, each tagged with its member. The reaper's session on a member
   * client is reported under the reaper's main session id, so the policy's isReaperSession protects it too.
   */
  private async readMembers<T>(read: (db: (name: string) => ReturnType<MongoClient['db']>, session: ClientSession, host: string) => Promise<T[]>, tag: (item: T, m: Member, mainId: string, ownId: string) => T, only?: ReadonlySet<string>): Promise<T[]> {
    const mainId = uuidString(this.ownSession().id?.id);
    const parts = await Promise.all(this.members().filter((m) => !only || only.has(m.host)).map(async (m) => {
      const session = this.memberSession(m);
      const ownId = uuidString(session.id?.id);
      try {
        return (await read((name) => m.client.db(name), session, m.host)).map((x) => tag(x, m, mainId, ownId));
      } catch (e) {
        // One member failing does not stop the pass: it is marked not covered (and why) in this pass's coverage.
        this.pool!.drop(this.coverage, m.host, e);
        return [];
      }
    }));
    return parts.flat();
  }

  private ownSession(): ClientSession {
    if (!this.session || this.session.hasEnded) this.session = this.client.startSession({ causalConsistency: false });
    return this.session;
  }

  async identity(): Promise<ReaperIdentity> {
    const session = this.ownSession();
    const status = await this.client.db('admin').command({ connectionStatus: 1 }, { session });
    const u = status.authInfo?.authenticatedUsers?.[0];
    const user = u ? `${u.user}@${u.db}` : '';
    return {
      sessionId: uuidString(session.id?.id),
      uid: createHash('sha256').update(user).digest('hex'),
      user,
    };
  }

  /**
   * Hands every raw document of the listings to `tap` too (null: no more). While tapped, $currentOp is read
   * whole (no projection) and raw, so that what is recorded is what the server sent.
   */
  tapRawDocuments(tap: RawDocumentTap | null): void {
    this.tap = tap;
  }

  /**
   * The members this pass reads over their own direct connections (after discover()), for a recording's
   * header: a replica set's members, or the routers through mongos (each read alone for its own state); empty
   * when the main connection reads everything (a standalone, a one-member set, --members primary).
   */
  directMembers(): DirectMember[] {
    if (this.sharded) return this.router!.readAlone().routers.map((r) => ({ ...r, state: 'MONGOS', hello: { msg: 'isdbgrid' } }));
    return this.members().map((m) => {
      const sd = this.description?.servers.get(m.host);
      const hello: Record<string, unknown> = {};
      if (sd) {
        Object.assign(hello, { isWritablePrimary: sd.type === 'RSPrimary', secondary: sd.type === 'RSSecondary' });
        for (const [k, v] of Object.entries({ setName: sd.setName, setVersion: sd.setVersion, hosts: sd.hosts, passives: sd.passives, arbiters: sd.arbiters, primary: sd.primary, me: sd.me, minWireVersion: sd.minWireVersion, maxWireVersion: sd.maxWireVersion, logicalSessionTimeoutMinutes: sd.logicalSessionTimeoutMinutes })) {
          if (v !== undefined && v !== null) hello[k] = v;
        }
      }
      return { host: m.host, state: m.state, reaperSessionId: uuidString(this.memberSession(m).id?.id), hello };
    });
  }

  private listingReader(listing: RawListing, member: string | null = null): (bytes: Buffer) => ListedSession {
    const tap = this.tap;
    return tap ? (bytes) => (tap(listing, bytes, member), readListedSession(bytes)) : readListedSession;
  }

  async *listSessions(): AsyncIterable<ListedSession[]> {
    const command = { aggregate: 'system.sessions', pipeline: [{ $listSessions: { allUsers: true } }], cursor: {} };
    yield* commandBatches(this.client.db('config'), command, this.ownSession(), this.listingReader('listSessions'));
  }

  async *listLocalSessions(): AsyncIterable<ListedSession[]> {
    const command = { aggregate: 1, pipeline: [{ $listLocalSessions: { allUsers: true } }], cursor: {} };
    if (this.sharded) {
      // Each router's cache, on that router alone: a session used through one router is in its cache only.
      yield await this.router!.listLocalSessions(async (c, session, host) => {
        const all: ListedSession[] = [];
        for await (const b of commandBatches(c.db('admin'), command, session, this.listingReader('listLocalSessions', host))) all.push(...b);
        return all;
      }, uuidString(this.ownSession().id?.id));
      return;
    }
    if (this.members().length === 0) {
      yield* commandBatches(this.client.db('admin'), command, this.ownSession(), this.listingReader('listLocalSessions'));
      return;
    }
    // Each member's cache: a session used on a secondary is in that secondary's cache only.
    yield await this.readMembers<ListedSession>(async (db, session, host) => {
      const all: ListedSession[] = [];
      for await (const b of commandBatches(db('admin'), command, session, this.listingReader('listLocalSessions', host))) all.push(...b);
      return all;
    }, (s, _m, mainId, ownId) => (s.id === ownId ? { ...s, id: mainId } : s));
  }

  async *currentOp(): AsyncIterable<Activity[]> {
    yield* this.currentOpWhere();
  }

  /** $currentOp on the named members only (the verification after kills re-reads where it killed). */
  async *currentOpOn(members: readonly string[]): AsyncIterable<Activity[]> {
    yield* this.currentOpWhere(new Set(members), 'verification');
  }

  private async *currentOpWhere(only?: ReadonlySet<string>, readStage: ReadStage = 'inventory'): AsyncIterable<Activity[]> {
    const tap = this.tap;
    const stage = { $currentOp: { allUsers: true, idleSessions: true, idleCursors: true } };
    // Tapped (a snapshot is being recorded): the documents whole and raw, as the server sent them; else only
    // what toActivity reads.
    const pipeline = tap ? [stage] : [stage, { $project: CURRENT_OP_PROJECTION }, { $unset: CURRENT_OP_UNSET }];
    // The documents arrive raw either way. Tapped, they are deserialised with the driver's default options, so
    // toActivity sees what it sees untapped; untapped, readActivity reads the same Activity from the bytes
    // (activity-reader.ts): building each document's objects cost more than the rest of the $currentOp read,
    // and a raw cursor's command monitoring event makes a Buffer per document instead of deserialising them.
    const read = (docs: Document[], member: string | null = null): Activity[] => (tap ? docs.map((bytes) => (tap('currentOp', bytes as unknown as Uint8Array, member), toActivity(BSON.deserialize(bytes as unknown as Uint8Array)))) : docs.map((bytes) => readActivity(bytes as unknown as Buffer)));
    if (this.sharded) {
      // Every member of every shard and every router, whatever `only` names: a session killed through the router
      // was killed everywhere, so it is looked for everywhere.
      yield await this.routerCurrentOp(() => (tap ? [] : [{ $project: ROUTER_CURRENT_OP_PROJECTION }, { $unset: CURRENT_OP_UNSET }]), readStage);
      return;
    }
    if (this.members().length === 0) {
      const cursor = this.client.db('admin').aggregate(pipeline, { session: this.ownSession(), raw: true });
      while (await cursor.hasNext()) yield read(cursor.readBufferedDocuments());
      return;
    }
    yield await this.readMembers<Activity>(async (db, session, host) => {
      const all: Activity[] = [];
      const cursor = db('admin').aggregate(pipeline, { session, raw: true });
      while (await cursor.hasNext()) all.push(...read(cursor.readBufferedDocuments(), host));
      return all;
    }, (a, m, mainId, ownId) => ({ ...a, sessionId: a.sessionId === ownId ? mainId : a.sessionId, member: m.host, memberState: m.state }), only);
  }

  /**
   * Through mongos: the shards' documents (targetAllNodes where it exists, else the primaries through the router and
   * the other members directly) and each router's own, tagged with where they live. `after(shard)`: the stages
   * after $currentOp, for a router (no shard) or for a member of that shard read directly.
   */
  private routerCurrentOp(after: (shard?: string) => Document[], stage: ReadStage = 'inventory'): Promise<Activity[]> {
    const tap = this.tap;
    const docs: CurrentOpDecoder = (batch, router, rewrite, held) => {
      if (!tap) return rewrite ? (batch as Document[]).map(rewrite) : batch as Document[];
      return batch.map((bytes) => {
        const d = BSON.deserialize(bytes as Uint8Array);
        if (!rewrite) {
          held.push(() => tap('currentOp', bytes as Uint8Array, router));
          return d;
        }
        // Rewritten (a shard member read directly): recorded as rewritten, with the router's cluster-wide documents.
        const r = rewrite(d);
        held.push(() => tap('currentOp', BSON.serialize(r), null));
        return r;
      });
    };
    return this.router!.currentOp(this.client, this.ownSession(), after, tap ? { raw: true } : {}, docs, uuidString(this.ownSession().id?.id), stage);
  }

  /**
   * The re-check's read: $currentOp restricted to these sessions and opids, on the main connection or, for a
   * batch bound for one replica-set member, on that member (where the batch's things live).
   */
  async currentOpOf(filter: ActivityFilter, member?: string): Promise<Activity[]> {
    const or: Document[] = [];
    if (filter.sessions.length) or.push({ 'lsid.id': { $in: filter.sessions.map((k) => new Binary(uuidBytes(k.id), Binary.SUBTYPE_UUID)) } });
    if (filter.opids.length) or.push({ opid: { $in: filter.opids.map(opidValue) } });
    if (or.length === 0) return [];
    // On a shard member read directly (before 7.1) an opid is its number there; "<shard>:<n>" through a router.
    const onShard = (shard: string): Document[] => {
      const opids = filter.opids.filter((o) => o.startsWith(`${shard}:`)).map((o) => Number(o.slice(shard.length + 1)));
      return [{ $match: { $or: or.map((c) => (c.opid ? { opid: { $in: opids } } : c)) } }, { $project: ROUTER_CURRENT_OP_PROJECTION }, { $unset: CURRENT_OP_UNSET }];
    };
    // $match right after $currentOp: the server filters before projecting (and, on mongos, on each shard).
    // One reply holds up to 16 MiB: a batch's documents fit in one round trip but for the largest batches.
    const pipeline = [{ $currentOp: { allUsers: true, idleSessions: true, idleCursors: true } }, { $match: { $or: or } }, { $project: CURRENT_OP_PROJECTION }, { $unset: CURRENT_OP_UNSET }];
    // Raw, and read from the bytes as the inventory's $currentOp is (currentOpWhere says why).
    const read = async (db: ReturnType<MongoClient['db']>, session: ClientSession): Promise<Activity[]> => {
      const cursor = db.aggregate(pipeline, { session, batchSize: RECHECK_BATCH_SIZE, raw: true });
      const out: Activity[] = [];
      while (await cursor.hasNext()) for (const bytes of cursor.readBufferedDocuments()) out.push(readActivity(bytes as unknown as Buffer));
      return out;
    };
    // Through mongos the batch's things are looked for on every shard member and router at once (tagged with where).
    if (this.sharded) return this.routerCurrentOp((shard) => (shard === undefined ? pipeline.slice(1).map((st) => ('$project' in st ? { $project: ROUTER_CURRENT_OP_PROJECTION } : st)) : onShard(shard)), 're-check');
    if (!member) return read(this.client.db('admin'), this.ownSession());
    const m = this.memberOrThrow(member);
    return (await read(m.client.db('admin'), this.memberSession(m))).map((a) => ({ ...a, member: m.host, memberState: m.state }));
  }

  async killSessions(batch: readonly SessionKey[]): Promise<void> {
    try {
      await this.client.db('admin').command(killSessionsCommand(batch), { session: this.ownSession() });
    } catch (e) {
      if (!this.sharded || !(e instanceof MongoServerError) || e.code !== HOST_UNREACHABLE) throw e;
      // Through a router: the hosts it reached did kill; the error says which it did not (verification re-reads).
      throw Object.assign(new MongoStageError(hostUnreachableMessage(e), { cause: e }), { code: HOST_UNREACHABLE, codeName: 'HostUnreachable' });
    }
  }

  /** Through mongos one killSessions reaches every host of every shard (kill_sessions_remote.cpp). */
  killSessionsReachEveryMember(): boolean {
    return this.sharded;
  }

  /** Through mongos (after discover()): the shard members, their shards and states, as the documents are tagged with; [] elsewhere. */
  shardMembers(): ShardMember[] {
    return this.sharded ? this.router!.readAlone().shardMembers : [];
  }

  /** Through mongos (after discover()): what setup-role says of the coverage; [] elsewhere. */
  shardedCoverage(): string[] {
    return this.sharded && this.coverage ? shardedCoverageLines(this.coverage, this.router!.targetAllNodes, this.router!.shardsFrom) : [];
  }

  async killOp(opid: string): Promise<void> {
    await this.client.db('admin').command(killOpCommand(opid), { session: this.ownSession() });
  }

  async killSessionsOn(member: string, batch: readonly SessionKey[]): Promise<void> {
    await this.onMember(member, (m) => m.client.db('admin').command(killSessionsCommand(batch), { session: this.memberSession(m) }));
  }

  async killOpOn(member: string, opid: string): Promise<void> {
    if (this.sharded) return this.router!.killOpOn(this.client, this.ownSession(), member, opid);
    await this.onMember(member, (m) => m.client.db('admin').command(killOpCommand(opid), { session: this.memberSession(m) }));
  }

  /**
   * One command on one member. A member that stops answering in the middle of the pass (no server reply: the
   * connection was refused or cut) is dropped from the pass, so the run summary names it as not covered; a
   * server's refusal (a reply with a code) is the kill's failure only.
   */
  private async onMember(member: string, send: (m: Member) => Promise<unknown>): Promise<void> {
    const m = this.memberOrThrow(member);
    try {
      await send(m);
    } catch (e) {
      if (typeof (e as { code?: unknown }).code !== 'number') this.pool!.drop(this.coverage, m.host, e);
      throw e;
    }
  }

  private memberOrThrow(host: string): Member {
    if (!this.pool) throw new MongoStageError(`no member connections (the adapter wraps a client without its URI); cannot send to ${host}`);
    return this.pool.member(host);
  }

  roundTrips(): number {
    return this.trips;
  }

  async close(): Promise<void> {
    await this.session?.endSession().catch(() => {});
    this.session = null;
    await Promise.all([...this.memberSessions.values()].map((s) => s.endSession().catch(() => {})));
    this.memberSessions.clear();
    await this.pool?.close();
    await this.router?.close();
    if (this.ownsClient) await this.client.close();
  }
}
