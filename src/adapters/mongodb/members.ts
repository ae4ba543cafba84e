/**
 * Topology discovery and the direct connections to replica-set members.
 *
 * $currentOp and $listLocalSessions are per process (src/mongo/db/pipeline/document_source_current_op.cpp
 * reads the local ServiceContext; $listLocalSessions reads the node's LogicalSessionCache), so a session's
 * operations, cursors and transactions on a secondary are only seen, and only killed, on that secondary.
 * Each data-bearing member gets a directConnection=true client built from the original connection string
 * (same credentials, TLS and auth options), opened once and kept across passes (a warm Lambda reuses it).
 */
import { ConnectionString } from 'mongodb-connection-string-url';
import { MongoClient, type ClientSession, type MongoClientOptions, type ServerDescription, type ServerHeartbeatFailedEvent, type TopologyDescription } from 'mongodb';
import { MongoStageError } from '../../util/errors.ts';
import type { Coverage, MemberCoverage, MembersMode, MemberState } from '../../pass/ports.ts';

/**
 * How long a member may take to answer before the pass carries on without it: well under the default
 * 10 s server selection of the main client, so that one dead member does not eat a Lambda's budget.
 */
export const MEMBER_TIMEOUT_MS = 5_000;

/**
 * connect() on a direct client, failing as soon as its monitor's hello to the member fails (a refused connection
 * at once; no answer within connectTimeoutMS, MEMBER_TIMEOUT_MS) instead of when server selection gives up: the
 * driver keeps retrying a member it cannot reach until serverSelectionTimeoutMS, so a member that is down cost each
 * pass the whole MEMBER_TIMEOUT_MS. A member that is slow but up still has MEMBER_TIMEOUT_MS to answer, and one
 * that does not is named as not covered (whyNot), never dropped silently.
 */
export async function connectDirect(c: MongoClient): Promise<void> {
  let onFailed: (e: ServerHeartbeatFailedEvent) => void = () => {};
  const down = new Promise<never>((_, reject) => {
    onFailed = (e) => reject(e.failure);
  });
  const connecting = c.connect();
  // Whichever loses is settled later (connect() rejects when the caller closes the client): not an unhandled rejection.
  connecting.catch(() => {});
  down.catch(() => {});
  c.once('serverHeartbeatFailed', onFailed);
  try {
    await Promise.race([connecting, down]);
  } finally {
    c.off('serverHeartbeatFailed', onFailed);
  }
}

/** The URI of a direct connection to one member, with everything else of the original kept. */
export function memberUri(uri: string, host: string): string {
  const cs = new ConnectionString(uri);
  const params = cs.searchParams;
  if (cs.isSRV) {
    // An SRV record implies tls=true (the driver's initial DNS seedlist discovery spec); a direct connection
    // cannot be SRV, so the implied option is written out. authSource/replicaSet from TXT must be in the URI.
    if (!params.has('tls') && !params.has('ssl')) params.set('tls', 'true');
  }
  const direct = new ConnectionString(cs.toString().replace(/^mongodb\+srv:/, 'mongodb:'));
  direct.hosts = [host];
  direct.searchParams.set('directConnection', 'true');
  return direct.toString();
}

function stateOf(sd: ServerDescription | undefined): MemberState {
  if (sd?.type === 'Mongos') return 'MONGOS';
  if (sd?.type === 'Standalone') return 'STANDALONE';
  return sd?.type === 'RSPrimary' ? 'PRIMARY' : 'SECONDARY';
}

/** The member answered but refused the reaper's credentials (18 AuthenticationFailed). */
function refusedCredentials(e: unknown): boolean {
  const err = e as { code?: number; message?: string };
  return err.code === 18 || /authentication failed/i.test(err.message ?? '');
}

/** Why a member could not be used, with the fix. */
export function whyNot(host: string, e: unknown): string {
  const err = e as { code?: number; message?: string };
  const msg = err.message ?? String(e);
  if (err.code === 18 || /authentication failed/i.test(msg)) {
    return `the reaper's credentials were refused on ${host} (${msg}); create the reaper user on the set (it replicates) or check the password`;
  }
  if (err.code === 13 || /not authorized/i.test(msg)) {
    return `${host} refused the reaper (${msg}); grant the reaper role (infra/mongodb-role.json)`;
  }
  return `${host} did not answer (${msg}); check that the member is up and reachable from the reaper`;
}

export interface Member {
  host: string;
  state: MemberState;
  client: MongoClient;
}

/** The direct clients, one per member host, kept across passes. */
export class MemberPool {
  private readonly clients = new Map<string, MongoClient>();
  /** The members covered by the last discover(), in hello's order. */
  current: Member[] = [];

  /** Hosts whose client connected (and authenticated). */
  private readonly ready = new Set<string>();
  private readonly seen = new Map<string, ServerDescription>();
  /** The hidden members found at a setVersion: the configuration is read again only when it changes. */
  private config: { setVersion: number | null; found: { hosts: string[]; note?: string } } | null = null;

  /** onConnected: called once per member client after it connected (the adapter counts its round trips from then). */
  constructor(private readonly uri: string, private readonly options: MongoClientOptions, private readonly onConnected: (client: MongoClient) => void) {}

  private clientFor(host: string): MongoClient {
    let c = this.clients.get(host);
    if (!c) {
      c = new MongoClient(memberUri(this.uri, host), { ...this.options, serverSelectionTimeoutMS: MEMBER_TIMEOUT_MS, connectTimeoutMS: MEMBER_TIMEOUT_MS });
      // What this client's own monitor last saw of its member: its state when the main client has not looked yet.
      c.on('serverDescriptionChanged', (e) => this.seen.set(host, e.newDescription));
      this.clients.set(host, c);
    }
    return c;
  }

  /**
   * A member's client, connected: connect() authenticates a pooled connection (the driver checks out one
   * connection when credentials are given), so a member that refuses the reaper's credentials fails here,
   * before anything is read. Connected clients are kept; one that failed is dropped and tried again next pass.
   * Also the shard members' authenticated clients through mongos (sharded.ts).
   */
  async connected(host: string): Promise<MongoClient> {
    const c = this.clientFor(host);
    if (this.ready.has(host)) return c;
    try {
      await connectDirect(c);
    } catch (e) {
      this.clients.delete(host);
      await c.close().catch(() => {});
      throw e;
    }
    this.ready.add(host);
    this.onConnected(c);
    return c;
  }

  /**
   * Discovery from the main client's topology description (what the driver's monitors learnt from hello,
   * src/mongo/db/repl/replication_info.cpp on the server; the server discovery and monitoring spec in the
   * driver): no command of the pass's own. A standalone, a one-member set and mongos are read over the main
   * connection, as before topology discovery; a set of two or more members is read member by member over
   * direct connections to every data-bearing member in hosts and passives (arbiters hold no data).
   */
  async discover(description: TopologyDescription, mode: MembersMode, sessionFor: (host: string, client: MongoClient) => ClientSession): Promise<Coverage> {
    const servers = [...description.servers.values()];
    if (description.type === 'Sharded' || servers.some((sd) => sd.type === 'Mongos')) {
      this.current = [];
      return {
        topology: 'mongos', setName: '',
        members: servers.filter((sd) => sd.type === 'Mongos').map((sd) => ({ host: sd.address, state: 'MONGOS' as const, covered: true })),
        notes: ['connected to mongos: sharded clusters are not yet read shard by shard; the pass reads and kills through the router'],
      };
    }
    const setName = description.setName ?? servers.find((sd) => sd.setName)?.setName ?? '';
    if (!setName) {
      this.current = [];
      return { topology: 'standalone', setName: '', members: servers.map((sd) => ({ host: sd.address, state: 'STANDALONE' as const, covered: true })), notes: [] };
    }
    // Every data-bearing member any member names (the primary's list first), and the servers the driver tracks.
    const named = servers.filter((sd) => sd.setName === setName).sort((a, b) => Number(b.type === 'RSPrimary') - Number(a.type === 'RSPrimary'));
    const arbiters = new Set(servers.flatMap((sd) => sd.arbiters));
    const hosts = [...new Set([...named.flatMap((sd) => [...sd.hosts, ...sd.passives]), ...servers.filter((sd) => sd.type !== 'RSArbiter' && !arbiters.has(sd.address)).map((sd) => sd.address)])];
    if (hosts.length <= 1 || description.type === 'Single') {
      // A one-member set, or a direct connection to one member: the main connection reads it, as it always has.
      this.current = [];
      const one = named[0] ?? servers[0];
      const notes = description.type === 'Single' && hosts.length > 1
        ? [`directConnection to ${one?.address ?? '?'}: only that member is read; connect with the seed list and replicaSet=${setName} to read every member`]
        : [];
      return { topology: 'replicaSet', setName, members: one ? [{ host: one.address, state: stateOf(one), covered: true }] : [], notes };
    }
    if (mode === 'primary') {
      // The behaviour before topology discovery: the main connection reads the primary, the others are named.
      this.current = [];
      return {
        topology: 'replicaSet', setName, notes: [],
        members: hosts.map((host) => {
          const sd = description.servers.get(host);
          return sd?.type === 'RSPrimary'
            ? { host, state: 'PRIMARY' as const, covered: true }
            : { host, state: sd && sd.type !== 'Unknown' ? stateOf(sd) : '' as const, covered: false, why: 'not read: --members primary (REAPER_MEMBERS=primary)', byChoice: true };
        }),
      };
    }
    const notes: string[] = [];
    const hidden = await this.hiddenMembers(named.find((sd) => sd.type === 'RSPrimary') ?? null, sessionFor);
    if (hidden.note) notes.push(hidden.note);
    const all = [...hosts, ...hidden.hosts.filter((h) => !hosts.includes(h))];
    const asked = await Promise.all(all.map(async (host): Promise<{ cover: MemberCoverage; member?: Member }> => {
      const sd = description.servers.get(host);
      // A member the monitor found down (Unknown with an error) is not waited for again.
      if (sd && sd.type === 'Unknown' && sd.error) return { cover: { host, state: '', covered: false, why: whyNot(host, sd.error) } };
      if (sd && (sd.type === 'RSGhost' || sd.type === 'RSOther')) {
        return { cover: { host, state: '', covered: false, why: `${host} is neither primary nor secondary (${sd.type}: starting up, recovering or in rollback); it is read again when it is` } };
      }
      try {
        const client = await this.connected(host);
        const state = sd && sd.type !== 'Unknown' ? stateOf(sd) : stateOf(this.seen.get(host) ?? sd);
        const isHidden = hidden.hosts.includes(host);
        return { cover: { host, state, covered: true, ...(isHidden ? { hidden: true } : {}) }, member: { host, state, client } };
      } catch (e) {
        if (refusedCredentials(e)) {
          // Not a member that is down: the reaper is configured wrong for it. Nothing is read or killed on a guess.
          throw new MongoStageError(`${whyNot(host, e)}; nothing was read or killed`, { cause: e });
        }
        return { cover: { host, state: '', covered: false, why: whyNot(host, e) } };
      }
    }));
    this.current = asked.flatMap((a) => (a.member ? [a.member] : []));
    return { topology: 'replicaSet', setName, members: asked.map((a) => a.cover), notes };
  }

  /**
   * Hidden members, which hello never lists (src/mongo/db/repl/topology_coordinator.cpp fillHelloForReplSet)
   * yet hold sessions, cursors and operations: from replSetGetConfig on the primary, read again only when the
   * primary's setVersion (in its hello, so in the driver's description) changed. Without the
   * replSetGetConfig action, the run summary says that hidden members, if any, are not covered.
   */
  private async hiddenMembers(primary: ServerDescription | null, sessionFor: (host: string, client: MongoClient) => ClientSession): Promise<{ hosts: string[]; note?: string }> {
    if (!primary) return { hosts: [], note: 'no primary to read the replica set configuration from: hidden members, if any, are not covered' };
    if (this.config && this.config.setVersion === primary.setVersion) return this.config.found;
    let found: { hosts: string[]; note?: string };
    try {
      const client = await this.connected(primary.address);
      const reply = await client.db('admin').command({ replSetGetConfig: 1 }, { session: sessionFor(primary.address, client) });
      const members = (reply.config?.members ?? []) as { host?: unknown; hidden?: unknown; arbiterOnly?: unknown }[];
      found = { hosts: members.filter((m) => m.hidden === true && m.arbiterOnly !== true && typeof m.host === 'string').map((m) => String(m.host)) };
    } catch (e) {
      const err = e as { code?: number; message?: string };
      found = {
        hosts: [],
        note: err.code === 13
          ? `hidden members, if any, are not covered: the reaper's role lacks replSetGetConfig (${err.message ?? 'Unauthorized'}); re-run session-reaper setup-role (infra/mongodb-role.json grants it)`
          : `hidden members, if any, are not covered: replSetGetConfig on ${primary.address} failed (${err.message ?? String(e)})`,
      };
    }
    this.config = { setVersion: primary.setVersion, found };
    return found;
  }

  /** A member that failed after discovery: no longer read or killed on in this pass, and said why. */
  drop(coverage: Coverage | null, host: string, e: unknown): void {
    this.current = this.current.filter((m) => m.host !== host);
    const c = coverage?.members.find((m) => m.host === host);
    if (c) Object.assign(c, { covered: false, why: whyNot(host, e) });
  }

  member(host: string): Member {
    const m = this.current.find((x) => x.host === host);
    if (!m) throw new MongoStageError(`member ${host} is not covered by this pass; nothing is sent to it`);
    return m;
  }

  async close(): Promise<void> {
    await Promise.all([...this.clients.values()].map((c) => c.close().catch(() => {})));
    this.clients.clear();
    this.ready.clear();
    this.current = [];
  }
}
