/**
 * What the end-to-end tests on a cluster (e2e.replset, e2e.sharded) share (their pass options are
 * clocked-pass.ts passOptions): a bounded poll for what the server reaches on its own, how a client's command ended, the clients a test opens,
 * and the reaper's role and users.
 */
import { MongoClient, type Db } from 'mongodb';
import { REAPER_ROLE_DOCUMENT } from '../../src/demo/workload.ts';
import type { RunningShardedCluster } from '../../standin/src/sharding/cluster.ts';

/** Polls for a condition the server reaches on its own (an operation registered); bounded, no fixed sleep. */
export async function eventually(what: string, check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`timed out waiting until ${what}`);
}

/** "ok", or "<code> <codeName>" of the server error it ended with. */
export const outcome = (p: Promise<unknown>): Promise<string> => p.then(() => 'ok', (e: { code?: number; codeName?: string }) => `${e.code} ${e.codeName}`);

/** Clients a test opens (each with its appName), kept to be closed at tear-down. */
export function clientPool(): { clients: MongoClient[]; connect(uri: string, appName: string): Promise<MongoClient> } {
  const clients: MongoClient[] = [];
  return {
    clients,
    async connect(uri, appName) {
      const c = new MongoClient(uri, { appName, serverSelectionTimeoutMS: 5000 });
      clients.push(c);
      await c.connect();
      return c;
    },
  };
}

/** The least-privilege role (infra/mongodb-role.json), the reaper holding only it, and the test's users (readWrite on shop). */
export async function createReaperAndUsers(adminDb: Db, password: string, users: readonly string[]): Promise<void> {
  await adminDb.command(REAPER_ROLE_DOCUMENT);
  await adminDb.command({ createUser: 'reaper', pwd: password, roles: [{ role: 'sessionReaper', db: 'admin' }] });
  for (const u of users) await adminDb.command({ createUser: u, pwd: password, roles: [{ role: 'readWrite', db: 'shop' }] });
}

/**
 * As docs/deploy.md says for direct reads and kills on shard members: on each shard's primary, the reaper's role
 * and the reaper as a shard-local user with the cluster user's name and password (it replicates to the shard's
 * members). `shardAdmin` is a shard-local user allowed to create them.
 */
export async function createShardLocalReaper(cluster: RunningShardedCluster, connect: (uri: string, appName: string) => Promise<MongoClient>, shardAdmin: string, password: string): Promise<void> {
  for (const shard of cluster.shards) {
    const primary = await connect(`mongodb://${shardAdmin}:${password}@${shard.set.members[0]!.host}/?directConnection=true&authSource=admin`, 'setup');
    await primary.db('admin').command(REAPER_ROLE_DOCUMENT);
    await primary.db('admin').command({ createUser: 'reaper', pwd: password, roles: [{ role: 'sessionReaper', db: 'admin' }] });
  }
}
