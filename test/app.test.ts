/**
 * The service behind the handlers (src/service/app.ts) on the stand-in with access control: connection
 * strings from Secrets Manager fetched once per container, fetched again after a failed connection
 * (a rotated password), never printed; one client per cluster reused.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { MongoClient } from 'mongodb';
import { startStandin, type RunningStandin } from '../standin/src/server.ts';
import { ManualClock } from '../standin/src/clock.ts';
import { createReaper } from '../src/service/app.ts';
import { InMemoryAuditSink } from '../src/adapters/audit-sinks.ts';
import { MongoStageError } from '../src/util/errors.ts';
import type { SecretStore } from '../src/adapters/secrets-manager.ts';

const ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:session-reaper/orders-AbCdEf';

/** A secret store the test can rotate, counting fetches. */
class RotatingSecrets implements SecretStore {
  fetches = 0;
  cached: string | null = null;
  constructor(public value: string) {}
  async get(): Promise<string> {
    if (this.cached === null) {
      this.fetches++;
      this.cached = this.value;
    }
    return this.cached;
  }
  forget(): void {
    this.cached = null;
  }
}

let standin: RunningStandin;
before(async () => {
  standin = await startStandin({ params: { auth: true }, users: ['admin:admin-secret:root', 'reaper:new-pw-81f2:root'] });
});
after(async () => standin?.stop());

test('a rotated password: the failed pass drops the cached secret, the next one reads the new value; then it is cached', async () => {
  // Prepare: the secret still holds the old password.
  const secrets = new RotatingSecrets(standin.uriFor('reaper', 'old-pw-3c9d'));
  const lines: string[] = [];
  const logger = { error: (m: string) => lines.push(m), warn: (m: string) => lines.push(m) };
  const sink = new InMemoryAuditSink();
  const reaper = await createReaper({ REAPER_CLUSTERS: JSON.stringify({ orders: { secretArn: ARN } }), REAPER_AUDIT: 'stdout' }, logger, { secrets, sink });
  try {
    // Act + Assess: the old password fails, and nothing prints it.
    await assert.rejects(reaper.run({ trigger: { type: 'schedule' } }), (e: Error) => e instanceof MongoStageError && /Authentication failed/.test(e.message) && !e.message.includes('old-pw-3c9d') && e.message.includes('***:***@'));
    assert.equal(secrets.fetches, 1);
    // The secret is rotated in Secrets Manager.
    secrets.value = standin.uriFor('reaper', 'new-pw-81f2');
    const first = await reaper.run({ trigger: { type: 'schedule' } });
    const second = await reaper.run({ trigger: { type: 'schedule' } });
    assert.deepEqual([first.error, second.error], [null, null]);
    assert.equal(secrets.fetches, 2, 'fetched again once after the failure, then served from the cache');
    assert.equal(first.cluster, 'orders');
    assert.ok(!lines.join('\n').includes('pw-'), 'no password in any log line');
  } finally {
    await reaper.close();
  }
});

test('without REAPER_STATE_TABLE the start-up warns that sightings and leases are kept only in this process', async () => {
  // Act
  const warned: string[] = [];
  const reaper = await createReaper({ MONGODB_URI: standin.uriFor('admin', 'admin-secret'), REAPER_AUDIT: 'stdout' }, { ...console, warn: (m: string) => void warned.push(m) }, { sink: new InMemoryAuditSink() });
  await reaper.close();
  // Assess
  const warning = warned.find((m) => m.startsWith('REAPER_STATE_TABLE is not set'));
  assert.match(warning ?? '(no warning)', /^REAPER_STATE_TABLE is not set: sightings and cluster leases are kept only in this process /);
  assert.match(warning!, /a lease holds only within this container, so it does not keep a pass in another container off the same cluster/);
});

test('DRY_RUN=true wins over a trigger asking for a real pass', async () => {
  const reaper = await createReaper({ MONGODB_URI: standin.uriFor('admin', 'admin-secret'), REAPER_AUDIT: 'stdout', DRY_RUN: 'true' }, console, { sink: new InMemoryAuditSink() });
  try {
    assert.equal((await reaper.run({ trigger: { type: 'manual' }, dryRun: false })).dryRun, true);
  } finally {
    await reaper.close();
  }
});

test('the passes read the clock the reaper is given: ten minutes on the stand-in\'s clock make a transaction stale', async (t) => {
  // Prepare: one clock for the stand-in and the reaper; a transaction with one write, then nothing.
  const clock = new ManualClock();
  const clocked = await startStandin({ clock });
  const client = new MongoClient(clocked.uri, { appName: 'orders-api' });
  const reaper = await createReaper({ MONGODB_URI: clocked.uri, REAPER_AUDIT: 'stdout', DRY_RUN: 'true' }, console, { sink: new InMemoryAuditSink(), now: () => clock.now() });
  t.after(async () => {
    await reaper.close();
    await client.close();
    await clocked.stop();
  });
  const session = client.startSession();
  session.startTransaction();
  await client.db('shop').collection('orders').insertOne({ a: 1 }, { session });
  const idleTransactionPlanned = async () => (await reaper.run({ trigger: { type: 'manual' } })).decisions.some((d) => d.rule === 'idle-transaction' && d.outcome === 'planned');
  // Act and assess: fresh at first, stale once ten minutes have passed on the clock (no waiting).
  assert.equal(await idleTransactionPlanned(), false);
  clock.advance(10 * 60_000);
  assert.equal(await idleTransactionPlanned(), true);
});
