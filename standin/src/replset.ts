/**
 * A stand-in replica set: N members in one process, each on its own port with its own Mongod (session cache,
 * running operations, cursors, transactions, fail points, parameters), sharing what a real set replicates:
 * the documents, the users and config.system.sessions. See replication.ts for what each member says.
 *
 * A member can be stopped (its port refuses connections and every connection is cut, as when mongod crashes)
 * and started again on the same port, with a fresh Mongod: its in-memory operations, cursors, cache and
 * transactions are gone, its data is not.
 */
import { AuthRegistry } from './auth.ts';
import { systemClock, type Clock } from './clock.ts';
import type { Logger, Mongod, MongodParams, ServerVersion } from './mongod.ts';
import { memberConfigs, ReplicaMember, ReplicaSetTopology, type MemberOptions } from './replication.ts';
import { createMongod, createUsers, NodeListener, type UserSpec } from './server.ts';
import { SessionsCollection } from './sessions-collection.ts';
import { Storage } from './storage.ts';

export interface ReplicaSetOptions {
  /** replSetName: the `replicaSet` of the connection string. */
  name: string;
  /** How many members (default 3), or one options object per member (hidden, priority, votes). */
  members?: number | MemberOptions[];
  host?: string;
  /** The first member's port; the others follow it. 0 (the default): free ports. */
  port?: number;
  params?: Partial<MongodParams>;
  /** Users created at start, shared by every member (as admin.system.users replicates). */
  users?: UserSpec[];
  clock?: Clock;
  log?: Logger;
  /** A simulated network: every reply of every member is sent this many ms after it is ready (default 0). */
  replyLatencyMs?: number;
  /** What buildInfo and hello report (default 7.0.14). */
  version?: ServerVersion;
  /**
   * The users and config.system.sessions of a sharded cluster, shared with its routers and other shards
   * (sharding/cluster.ts); a set on its own gets fresh ones.
   */
  auth?: AuthRegistry;
  sessionsCollection?: SessionsCollection;
}

export type MemberStateName = 'PRIMARY' | 'SECONDARY' | 'DOWN';

/** A stand-in process of a set or a cluster (a member, a router), which a test can stop and start. */
export interface RunningNode {
  readonly index: number;
  /** host:port, as in hello's hosts and me. */
  readonly host: string;
  readonly port: number;
  /** The process's current server state; a new one after each start(). */
  readonly mongod: Mongod;
  /** Stops it as a crash would: the port refuses connections, open connections are cut. */
  stop(): Promise<void>;
  /** Starts it again on the same port. */
  start(): Promise<void>;
}

export interface RunningMember extends RunningNode {
  readonly state: MemberStateName;
}

export interface RunningReplicaSet {
  readonly name: string;
  /** mongodb://H:P1,H:P2,.../?replicaSet=NAME */
  readonly uri: string;
  readonly members: readonly RunningMember[];
  readonly topology: ReplicaSetTopology;
  uriFor(user: string, password: string, authSource?: string): string;
  /** A direct connection (directConnection=true) to member i, with credentials when given. */
  directUri(i: number, user?: string, password?: string, authSource?: string): string;
  /** Makes member i primary (an election it wins). */
  stepUp(i: number): void;
  stop(): Promise<void>;
}

/** At least one member; a default of three, as a typical production set. */
const DEFAULT_MEMBERS = 3;
/** The highest TCP port. */
const MAX_PORT = 65_535;

function memberOptions(members: ReplicaSetOptions['members']): MemberOptions[] {
  if (members === undefined) return Array.from({ length: DEFAULT_MEMBERS }, () => ({}));
  if (typeof members === 'number') {
    if (!Number.isInteger(members) || members < 1) throw new Error(`members must be a whole number of at least 1, got ${members}`);
    return Array.from({ length: members }, () => ({}));
  }
  if (members.length < 1) throw new Error('members must list at least one member');
  return members;
}

/** "user:password@" for a connection string, or nothing without a user. */
export function credentials(user: string | undefined, password: string | undefined): string {
  if (user === undefined) return '';
  if (password === undefined) throw new Error('a user needs a password in the connection string');
  return `${encodeURIComponent(user)}:${encodeURIComponent(password)}@`;
}

export async function startReplicaSet(opts: ReplicaSetOptions): Promise<RunningReplicaSet> {
  const options = memberOptions(opts.members);
  const host = opts.host ?? '127.0.0.1';
  const firstPort = opts.port ?? 0;
  if (!Number.isInteger(firstPort) || firstPort < 0 || firstPort + options.length - 1 > MAX_PORT) {
    throw new Error(`port must be 0 (free ports) or a port such that ${options.length} consecutive ports fit under ${MAX_PORT + 1}, got ${firstPort}`);
  }
  const clock = opts.clock ?? systemClock;
  const log = opts.log ?? (() => {});
  const shared = { storage: new Storage(), auth: opts.auth ?? new AuthRegistry(), sessionsCollection: opts.sessionsCollection ?? new SessionsCollection() };
  createUsers(shared.auth, opts.users ?? []);
  const listeners = options.map(() => new NodeListener(host, opts.replyLatencyMs));
  const mongods: Mongod[] = [];
  const ports: number[] = [];
  const newMongod = (i: number): Mongod =>
    createMongod({ params: opts.params, version: opts.version, clock, log: (line) => log(`[member ${i}] ${line}`), ...shared });
  let topology: ReplicaSetTopology;
  let hosts: string[];
  try {
    for (let i = 0; i < options.length; i++) {
      mongods[i] = newMongod(i);
      ports[i] = await listeners[i].listen(firstPort === 0 ? 0 : firstPort + i, mongods[i]);
    }
    hosts = ports.map((p) => `${host}:${p}`);
    topology = new ReplicaSetTopology(opts.name, memberConfigs(hosts, options), clock);
  } catch (e) {
    // Bad options or a port in use: nothing is left listening.
    await Promise.all(listeners.map((l) => l.close()));
    throw e;
  }
  const up = (i: number, mongod: Mongod): void => {
    mongod.hostAndPort = hosts[i];
    mongod.member = new ReplicaMember(topology, i);
    topology.attach(i, mongod);
    mongod.startBackgroundJobs();
  };
  mongods.forEach((m, i) => up(i, m));

  const members: RunningMember[] = hosts.map((h, i) => ({
    index: i,
    host: h,
    port: ports[i],
    get mongod() {
      return mongods[i];
    },
    get state(): MemberStateName {
      return !topology.node(i) ? 'DOWN' : topology.isPrimary(i) ? 'PRIMARY' : 'SECONDARY';
    },
    async stop() {
      if (!topology.node(i)) return;
      log(`[member ${i}] stopping ${h}`);
      topology.detach(i);
      mongods[i].stopBackgroundJobs();
      await listeners[i].close();
    },
    async start() {
      if (topology.node(i)) return;
      const mongod = newMongod(i);
      await listeners[i].listen(ports[i], mongod);
      mongods[i] = mongod;
      up(i, mongod);
      log(`[member ${i}] started ${h}`);
    },
  }));
  const seedList = hosts.join(',');
  const name = encodeURIComponent(opts.name);
  return {
    name: opts.name,
    uri: `mongodb://${seedList}/?replicaSet=${name}`,
    members,
    topology,
    uriFor: (user, password, authSource = 'admin') => `mongodb://${credentials(user, password)}${seedList}/?replicaSet=${name}&authSource=${encodeURIComponent(authSource)}`,
    directUri: (i, user, password, authSource = 'admin') => {
      const m = members[i];
      if (!m) throw new Error(`no member ${i}: the set has members 0..${members.length - 1}`);
      return `mongodb://${credentials(user, password)}${m.host}/?directConnection=true${user !== undefined ? `&authSource=${encodeURIComponent(authSource)}` : ''}`;
    },
    stepUp: (i) => topology.stepUp(i),
    stop: async () => {
      await Promise.all(members.map((m) => m.stop()));
    },
  };
}
