/**
 * Synthetic sessions whose transactions have been idle for minutes (standinBulkCreateSessions): the
 * default policy set kills every one of them. The stand-in must run with a long
 * transactionLifetimeLimitSeconds, or it aborts them itself first.
 */
import type { MongoClient } from 'mongodb';

export async function seedIdleTransactions(client: MongoClient, n: number, seed: number): Promise<void> {
  await client.db('admin').command({
    standinBulkCreateSessions: n, users: [{ user: 'app', db: 'admin' }], seed, idleTransactions: n, txnInactiveSeconds: { min: 120, max: 200 },
  });
}
