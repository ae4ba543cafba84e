/**
 * A stand-in sharded cluster in one process: R routers (mongos) over K shards, each shard a replica set of N
 * members (replset.ts), and the config state they share (config.ts): the shard list, the sharded collections,
 * the cluster's users (created through a router, they live on the config servers) and config.system.sessions (one sharded collection
 * every router and shard member refreshes into).
 *
 * Users: the cluster's users authenticate clients of the routers only. A direct connection to a shard member
 * authenticates against that shard's own users (shard-local users: admin.system.users of the shard's replica
 * set, created on its primary, not through mongos), given here with `shardUsers` and shared by every shard.
 * The routers reach the members as the internal user, so shard-local users are needed only for direct access.
 *
 * Version: 8.0.4, wire version 25 by default, on every process: a version where $currentOp through mongos
 * accepts targetAllNodes (7.1+; document_source_current_op.cpp). `version` gives another, for an older cluster.
 *
 * Routers and shard members can be stopped and started; a restarted router has a fresh cache, operations,
 * cursors and router transaction state (what mongos keeps in memory), on the same port.
 */
import { AuthRegistry } from '../auth.ts';
import { systemClock, type Clock } from '../clock.ts';
import { adminCommands } from '../commands/admin.ts';
import { routerCommands } from '../commands/router/index.ts';
import { sessionCommands } from '../commands/sessions.ts';
import { txnCommands } from '../commands/txn.ts';
import { userCommands } from '../commands/users.ts';
import { Mongod, type Logger, type MongodParams, type ServerVersion } from '../mongod.ts';
import { credentials, startReplicaSet, type RunningNode, type RunningReplicaSet } from '../replset.ts';
import { createUsers, NodeListener, type UserSpec } from '../server.ts';
import { SessionsCollection } from '../sessions-collection.ts';
import { ClusterConfig, type Shard } from './config.ts';
import { Router } from './router.ts';

export const CLUSTER_VERSION: ServerVersion = { version: '8.0.4', maxWireVersion: 25 };

export interface ShardedClusterOptions {
  /** Shards (default 2). */
  shards?: number;
  /** Members per shard (default 1). */
  members?: number;
  /** Routers (default 1). */
  routers?: number;
  host?: string;
  /** The first router's port; the other routers follow, then each shard's members. 0 (the default): free ports. */
  port?: number;
  params?: Partial<MongodParams>;
  /** The cluster's users (clients of the routers). */
  users?: UserSpec[];
  /** Shard-local users, created on every shard (direct connections to members); none by default. */
  shardUsers?: UserSpec[];
  /** Default CLUSTER_VERSION (8.0.4); a version below 7.1 (wire < 22) has no targetAllNodes. */
  version?: ServerVersion;
  clock?: Clock;
  log?: Logger;
  /** A simulated network: every reply of every router and member is sent this many ms after it is ready. */
  replyLatencyMs?: number;
}

export interface RunningRouter extends RunningNode {
  readonly router: Router;
  readonly up: boolean;
}

export interface RunningShardedCluster {
  /** mongodb://H:P1,H:P2/ : every router. */
  readonly uri: string;
  readonly routers: readonly RunningRouter[];
  readonly shards: readonly Shard[];
  readonly config: ClusterConfig;
  uriFor(user: string, password: string, authSource?: string): string;
  /** One router only (a client then sees that router's cache and operations). */
  routerUri(i: number, user?: string, password?: string, authSource?: string): string;
  stop(): Promise<void>;
}

function count(name: string, v: number | undefined, dflt: number): number {
  const n = v ?? dflt;
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a whole number of at least 1, got ${n}`);
  return n;
}

/** A router's process state: the mongod commands a mongos shares, then the router's own (commands/router/). */
function createRouterMongod(opts: ConstructorParameters<typeof Mongod>[0]): Mongod {
  const m = new Mongod(opts);
  const sleep = txnCommands.filter((d) => d.names.includes('sleep'));
  m.register([...adminCommands, ...userCommands, ...sessionCommands, ...sleep, ...routerCommands]);
  return m;
}

export async function startShardedCluster(opts: ShardedClusterOptions = {}): Promise<RunningShardedCluster> {
  const nShards = count('shards', opts.shards, 2);
  const nMembers = count('members', opts.members, 1);
  const nRouters = count('routers', opts.routers, 1);
  const host = opts.host ?? '127.0.0.1';
  const firstPort = opts.port ?? 0;
  const portAt = (offset: number) => (firstPort === 0 ? 0 : firstPort + offset);
  const clock = opts.clock ?? systemClock;
  const log = opts.log ?? (() => {});
  const version = opts.version ?? CLUSTER_VERSION;
  const auth = new AuthRegistry();
  const sessionsCollection = new SessionsCollection();
  createUsers(auth, opts.users ?? []);

  const sets: RunningReplicaSet[] = [];
  const listeners: NodeListener[] = [];
  const stopAll = async () => {
    await Promise.all(listeners.map((l) => l.close()));
    await Promise.all(sets.map((s) => s.stop()));
  };
  try {
    for (let k = 0; k < nShards; k++) {
      const name = `shard${k}`;
      sets.push(await startReplicaSet({
        name, members: nMembers, host, port: portAt(nRouters + k * nMembers), params: opts.params, clock, version, replyLatencyMs: opts.replyLatencyMs,
        users: opts.shardUsers ?? [], sessionsCollection, log: (line) => log(`[${name}] ${line}`),
      }));
    }
    const config = new ClusterConfig(sets.map((set) => ({ name: set.name, set })));
    const routers: RunningRouter[] = [];
    for (let i = 0; i < nRouters; i++) {
      const listener = new NodeListener(host, opts.replyLatencyMs);
      listeners.push(listener);
      const fresh = (): Router => {
        const m = createRouterMongod({ params: opts.params, version, clock, log: (line) => log(`[router ${i}] ${line}`), auth, sessionsCollection });
        return new Router(m, config);
      };
      let router = fresh();
      const port = await listener.listen(portAt(i), router.mongod);
      const address = `${host}:${port}`;
      router.mongod.hostAndPort = address;
      router.mongod.startBackgroundJobs();
      let up = true;
      routers.push({
        index: i, host: address, port,
        get mongod() {
          return router.mongod;
        },
        get router() {
          return router;
        },
        get up() {
          return up;
        },
        async stop() {
          if (!up) return;
          up = false;
          log(`[router ${i}] stopping ${address}`);
          router.mongod.stopBackgroundJobs();
          await listener.close();
        },
        async start() {
          if (up) return;
          const next = fresh();
          await listener.listen(port, next.mongod);
          next.mongod.hostAndPort = address;
          next.mongod.startBackgroundJobs();
          router = next;
          up = true;
          log(`[router ${i}] started ${address}`);
        },
      });
    }
    const seeds = routers.map((r) => r.host).join(',');
    return {
      uri: `mongodb://${seeds}/`,
      routers,
      shards: config.shards,
      config,
      uriFor: (user, password, authSource = 'admin') => `mongodb://${credentials(user, password)}${seeds}/?authSource=${encodeURIComponent(authSource)}`,
      routerUri: (i, user, password, authSource = 'admin') => {
        const r = routers[i];
        if (!r) throw new Error(`no router ${i}: the cluster has routers 0..${routers.length - 1}`);
        return `mongodb://${credentials(user, password)}${r.host}/${user !== undefined ? `?authSource=${encodeURIComponent(authSource)}` : ''}`;
      },
      stop: async () => {
        await Promise.all(routers.map((r) => r.stop()));
        await Promise.all(sets.map((s) => s.stop()));
      },
    };
  } catch (e) {
    await stopAll();
    throw e;
  }
}
