/**
 * The stand-in as the benchmarks run it: its own process (as a server would be, so its memory and CPU are
 * not the measured code's), seeded with synthetic sessions by standinBulkCreateSessions.
 *
 * Inventory per seed: 4 users, 10 applications (one of them mongodump, protected by the default policies),
 * 5% of sessions running an operation for 10-600 s, 2% with an idle transaction (120-600 s), 10% holding a
 * cursor idle for 300-1800 s, the rest idle. With the default thresholds (60 s / 300 s / 900 s) about a
 * tenth of the sessions are killed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { MongoClient } from 'mongodb';

// The synthetic cursor sessions show only their idle cursors, which carry no appName (as on a real server), so
// the default set would protect them all (application-unknown); lifting that keeps the kill mix (about a tenth
// of the sessions) the same as before that protection existed, so results stay comparable across versions.
// minSightings 1: a benchmark case is one pass, so the idle rules act on their first sighting.
export const THRESHOLDS = { idleTransactionSeconds: 60, runawayOperationSeconds: 300, staleCursorIdleSeconds: 900, protectUnknownApplications: 0, minSightings: 1 };

export const BIN = fileURLToPath(new URL('../bin/session-reaper.mjs', import.meta.url));
const APPS = ['orders-api', 'billing', 'analytics', 'search', 'checkout', 'inventory', 'reporting', 'notifications', 'mongodump', 'admin-console'];
const USERS = ['app', 'etl', 'web', 'report'].map((user) => ({ user, db: 'admin' }));
/** Sessions per standinBulkCreateSessions command: one command's reply stays small. */
const CHUNK = 100_000;

/** `extraArgs`: more `session-reaper mongod` options (e.g. --replset NAME --members 3). */
export async function startStandinProcess(size: number, extraArgs: readonly string[] = []): Promise<{ uri: string; child: ChildProcess; stop: () => Promise<void> }> {
  const child = spawn(process.execPath, [BIN, 'mongod', '--port', '0', '--txn-lifetime-seconds', '86400', '--max-sessions', String(size + 10_000), ...extraArgs], { stdio: ['ignore', 'pipe', 'ignore'] });
  const [uri] = (await once(createInterface({ input: child.stdout! }), 'line')) as [string];
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null) return;
    child.kill('SIGTERM');
    await once(child, 'exit');
  };
  return { uri, child, stop };
}

/** One standinBulkCreateSessions command: n sessions of the inventory above, from PRNG seed `seed`. */
function bulkCommand(n: number, seed: number, spreadOverMembers: boolean): Record<string, unknown> {
  return {
    standinBulkCreateSessions: n, users: USERS, appNames: APPS, seed,
    lastUseAgeSeconds: { min: 0, max: 1500 } /* under the 30-minute session timeout with room for a slow run: the TTL pass must not delete seeded sessions mid-benchmark */,
    runningOps: Math.round(n * 0.05), opSecondsRunning: { min: 10, max: 600 },
    idleTransactions: Math.round(n * 0.02), txnInactiveSeconds: { min: 120, max: 600 },
    cursors: Math.round(n * 0.1), cursorIdleSeconds: { min: 300, max: 1800 },
    ...(spreadOverMembers ? { spreadOverMembers: true } : {}),
  };
}

/**
 * `firstSeed` varies the sessions between stand-ins (ids, ages, which hold what). spreadOverMembers (a
 * replica-set stand-in): operations and cursors are dealt round-robin over the members, transactions go to the
 * primary (standinBulkCreateSessions, standin/src/commands/sessions.ts). `chunk`: sessions per command, each
 * chunk from the next seed (seedShards deals the same chunks to the shards).
 */
export async function seed(uri: string, size: number, firstSeed = 1, spreadOverMembers = false, chunk = CHUNK): Promise<void> {
  const c = new MongoClient(uri);
  await c.connect();
  for (let done = 0, i = 0; done < size; done += chunk, i++) {
    await c.db('admin').command(bulkCommand(Math.min(chunk, size - done), firstSeed + i, spreadOverMembers));
  }
  await c.close();
}

/**
 * A sharded stand-in (--shards K): the same sessions as seed(uri, size, firstSeed, false, size / K), chunk k
 * on shard k, sent to its primary with spreadOverMembers (operations and cursors dealt over the shard's members,
 * transactions on its primary). The session documents go to the cluster's one config.system.sessions, which
 * $listSessions through a router reads; the shards' hosts come from getShardMap on the router.
 */
export async function seedShards(routerUri: string, size: number, firstSeed = 1): Promise<void> {
  const router = new MongoClient(routerUri);
  await router.connect();
  const map = Object.entries((await router.db('admin').command({ getShardMap: 1 })).map as Record<string, string>).filter(([name]) => name !== 'config');
  await router.close();
  const chunk = Math.ceil(size / map.length);
  for (const [k, [name, cs]] of map.entries()) {
    const n = Math.min(chunk, size - k * chunk);
    if (n <= 0) break;
    const c = new MongoClient(`mongodb://${cs.slice(cs.indexOf('/') + 1)}/?replicaSet=${encodeURIComponent(name)}`);
    await c.connect();
    try {
      await c.db('admin').command(bulkCommand(n, firstSeed + k, true));
    } finally {
      await c.close();
    }
  }
}
