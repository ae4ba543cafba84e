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
import { MongoClient, type ClientSession, type Document, type MongoClientOptions } from 'mongodb';
import { MongoStageError } from '../../util/errors.ts';
import type { Coverage, MemberCoverage, MemberState } from '../../pass/ports.ts';

/**
 * How long a member may take to answer before the pass carries on without it: well under the default
 * 10 s server selection of the main client, so that one dead member does not eat a Lambda's budget.
 */
export const MEMBER_TIMEOUT_MS = 5_000;

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

function stateOf(hello: Document): MemberState {
  if (hello.msg === 'isdbgrid') return 'MONGOS';
  if (!hello.setName) return 'STANDALONE';
  return hello.isWritablePrimary === true || hello.ismaster === true ? 'PRIMARY' : 'SECONDARY';
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

  constructor(private readonly uri: string, private readonly options: MongoClientOptions) {}

  private clientFor(host: string): MongoClient {
    let c = this.clients.get(host);
    if (!c) {
      c = new MongoClient(memberUri(this.uri, host), { ...this.options, serverSelectionTimeoutMS: MEMBER_TIMEOUT_MS, connectTimeoutMS: MEMBER_TIMEOUT_MS });
      this.clients.set(host, c);
    }
    return c;
  }

  /**
   * Discovery: hello on the main client says what the URI points at; on a replica set every member in
   * hosts and passives (data-bearing; arbiters hold no data) is asked hello over its own connection.
   */
  async discover(main: MongoClient, session: ClientSession, memberSession: (host: string, client: MongoClient) => ClientSession): Promise<Coverage> {
    // In the reaper's own session: an implicit one would show up as one more session in the inventory.
    const hello = await main.db('admin').command({ hello: 1 }, { session });
    if (hello.msg === 'isdbgrid') {
      this.current = [];
      return {
        topology: 'mongos', setName: '', members: [{ host: String(hello.me ?? ''), state: 'MONGOS', covered: true }],
        notes: ['connected to mongos: sharded clusters are not yet supported member by member; the pass reads and kills through the router'],
      };
    }
    if (!hello.setName) {
      this.current = [];
      return { topology: 'standalone', setName: '', members: [{ host: String(hello.me ?? ''), state: 'STANDALONE', covered: true }], notes: [] };
    }
    const setName = String(hello.setName);
    const hosts: string[] = [...(hello.hosts ?? []), ...(hello.passives ?? [])].map(String);
    if (hosts.length === 1) {
      // A one-member set: everything is on its primary, which the main connection reads; no second connection.
      this.current = [];
      return { topology: 'replicaSet', setName, members: [{ host: hosts[0]!, state: stateOf(hello), covered: true }], notes: [] };
    }
    // hello lists neither hidden members nor arbiters (src/mongo/db/repl/replication_info.cpp); hidden
    // members hold data and sessions, and are not read yet: said in every run summary, never skipped silently.
    const notes = ['hidden members (not listed by hello) are not covered: replSetGetConfig is not read yet'];
    const asked = await Promise.all(hosts.map(async (host): Promise<{ cover: MemberCoverage; member?: Member }> => {
      const client = this.clientFor(host);
      try {
        const own = memberSession(host, client);
        const h = await client.db('admin').command({ hello: 1 }, { timeoutMS: MEMBER_TIMEOUT_MS, session: own });
        if (h.setName !== setName) {
          return { cover: { host, state: '', covered: false, why: `${host} answers as replica set "${h.setName ?? '(none)'}", not "${setName}"; fix the member's replSetName or the seed list` } };
        }
        // connectionStatus checks the credentials took (hello itself needs none).
        await client.db('admin').command({ connectionStatus: 1 }, { timeoutMS: MEMBER_TIMEOUT_MS, session: own });
        const state = stateOf(h);
        return { cover: { host, state, covered: true }, member: { host, state, client } };
      } catch (e) {
        return { cover: { host, state: '', covered: false, why: whyNot(host, e) } };
      }
    }));
    this.current = asked.flatMap((a) => (a.member ? [a.member] : []));
    return { topology: 'replicaSet', setName, members: asked.map((a) => a.cover), notes };
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
    this.current = [];
  }
}
