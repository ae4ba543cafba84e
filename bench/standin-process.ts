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

export async function startStandinProcess(size: number): Promise<{ uri: string; child: ChildProcess; stop: () => Promise<void> }> {
  const child = spawn(process.execPath, [BIN, 'mongod', '--port', '0', '--txn-lifetime-seconds', '86400', '--max-sessions', String(size + 10_000)], { stdio: ['ignore', 'pipe', 'ignore'] });
  const [uri] = (await once(createInterface({ input: child.stdout! }), 'line')) as [string];
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null) return;
    child.kill('SIGTERM');
    await once(child, 'exit');
  };
  return { uri, child, stop };
}

/**
 * `firstSeed` varies the sessions between stand-ins (ids, ages, which hold what). spreadOverMembers (a
 * replica-set stand-in): operations and cursors are dealt round-robin over the members, transactions go to the
 * primary (standinBulkCreateSessions, standin/src/commands/sessions.ts).
 */
export async function seed(uri: string, size: number, firstSeed = 1, spreadOverMembers = false): Promise<void> {
  const c = new MongoClient(uri);
  await c.connect();
  for (let done = 0, chunk = 0; done < size; done += CHUNK, chunk++) {
    const n = Math.min(CHUNK, size - done);
    await c.db('admin').command({
      standinBulkCreateSessions: n, users: USERS, appNames: APPS, seed: firstSeed + chunk,
      lastUseAgeSeconds: { min: 0, max: 1500 } /* under the 30-minute session timeout with room for a slow run: the TTL pass must not delete seeded sessions mid-benchmark */,
      runningOps: Math.round(n * 0.05), opSecondsRunning: { min: 10, max: 600 },
      idleTransactions: Math.round(n * 0.02), txnInactiveSeconds: { min: 120, max: 600 },
      cursors: Math.round(n * 0.1), cursorIdleSeconds: { min: 300, max: 1800 },
      ...(spreadOverMembers ? { spreadOverMembers: true } : {}),
    });
  }
  await c.close();
}
