/**
 * One pass per cluster at a time: the same contract held by both lease stores, the in-process map and the
 * DynamoDB table (through the real SDK on moto_server). Time comes from an injected clock. A release that
 * fails is a warning, never the pass's outcome.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { PassInProgressError } from '../src/util/errors.ts';
import { InProcessLeases, withLease as withLeaseLogged, type LeaseRequest, type LeaseStore } from '../src/service/lease.ts';
import { DynamoDbLeases } from '../src/adapters/dynamodb-leases.ts';
import { InMemoryAuditSink } from '../src/adapters/audit-sinks.ts';
import { createReaper } from '../src/service/app.ts';
import { startStandin } from '../standin/src/server.ts';
import { motoAvailable, requireMoto, startMoto, type Moto } from './support/moto.ts';

const T0 = Date.parse('2026-12-01T10:00:00Z');
const TTL = 150_000;

/** A clock the test moves. */
function clock(): { now: () => number; advance(ms: number): void } {
  let t = T0;
  return { now: () => t, advance: (ms) => void (t += ms) };
}

/** withLease where no release may fail: a warning fails the test. */
const withLease = <T>(store: LeaseStore, request: LeaseRequest, fn: () => Promise<T>) =>
  withLeaseLogged(store, request, fn, { warn: (m: string) => assert.fail(`unexpected warning: ${m}`) });

/** The in-process store, except that releasing fails as a DeleteItem refused by DynamoDB would. */
function failingRelease(now: () => number): LeaseStore & { releases: number } {
  const inner = new InProcessLeases(now);
  const store = {
    releases: 0,
    async acquire(request: LeaseRequest) {
      const release = await inner.acquire(request);
      return Object.assign(async () => {
        store.releases++;
        throw new Error('cannot release the lease of cluster "orders" in reaper-state: ProvisionedThroughputExceededException');
      }, { expiresAt: release.expiresAt });
    },
  };
  return store;
}

function contract(name: string, makeStore: (now: () => number) => Promise<LeaseStore>, skip: (t: import('node:test').TestContext) => boolean) {
  describe(name, () => {
    test('a second pass for the same cluster does not start while the first holds the lease; it names the holder', async (t) => {
      if (skip(t)) return;
      // Prepare
      const c = clock();
      const leases = await makeStore(c.now);
      // Act + Assess: the first pass holds the lease (acquired, not yet released)
      const releaseFirst = await leases.acquire({ cluster: 'orders', owner: 'schedule req-1', ttlMs: TTL });
      await assert.rejects(
        withLease(leases, { cluster: 'orders', owner: 'alarm req-2', ttlMs: TTL }, async () => 'second'),
        (e: Error) => e instanceof PassInProgressError && e.cluster === 'orders' && e.message.includes('already running (schedule req-1, since 2026-12-01T10:00:00.000Z)'),
      );
      assert.equal(await withLease(leases, { cluster: 'billing', owner: 'alarm req-3', ttlMs: TTL }, async () => 'other cluster'), 'other cluster');
      await releaseFirst();
      assert.equal(await withLease(leases, { cluster: 'orders', owner: 'alarm req-4', ttlMs: TTL }, async () => 'after'), 'after');
    });

    test('the lease is released when the pass fails', async (t) => {
      if (skip(t)) return;
      const leases = await makeStore(clock().now);
      await assert.rejects(withLease(leases, { cluster: 'orders', owner: 'x', ttlMs: TTL }, async () => { throw new Error('boom'); }), /boom/);
      assert.equal(await withLease(leases, { cluster: 'orders', owner: 'y', ttlMs: TTL }, async () => 'taken'), 'taken');
    });

    test('an expired lease (an invocation that never released it) is taken over, and the old release leaves the new lease alone', async (t) => {
      if (skip(t)) return;
      // Prepare: a pass takes the lease and "crashes" (never releases)
      const c = clock();
      const leases = await makeStore(c.now);
      const staleRelease = await leases.acquire({ cluster: 'orders', owner: 'crashed', ttlMs: TTL });
      await assert.rejects(leases.acquire({ cluster: 'orders', owner: 'too early', ttlMs: TTL }), PassInProgressError);
      // Act
      c.advance(TTL + 1);
      const release = await leases.acquire({ cluster: 'orders', owner: 'successor', ttlMs: TTL });
      await staleRelease();
      // Assess: the successor still holds it
      await assert.rejects(leases.acquire({ cluster: 'orders', owner: 'third', ttlMs: TTL }), (e: Error) => e.message.includes('(successor, since'));
      await release();
      await (await leases.acquire({ cluster: 'orders', owner: 'third', ttlMs: TTL }))();
    });
  });
}

contract('in-process leases', async (now) => new InProcessLeases(now), () => false);

describe('a release that fails', () => {
  const request = { cluster: 'orders', owner: 'schedule exec-7, run 0f6d2c1e-run', ttlMs: TTL };

  test('a pass that succeeded keeps its result; the warning names the lease, the pass and when the lease expires', async () => {
    // Prepare
    const store = failingRelease(clock().now);
    const warnings: string[] = [];
    // Act
    const result = await withLeaseLogged(store, request, async () => 'the report', { warn: (m) => void warnings.push(m) });
    // Assess
    assert.equal(result, 'the report');
    assert.equal(store.releases, 1);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /^the lease of cluster "orders" held by pass schedule exec-7, run 0f6d2c1e-run was not released \(.*ProvisionedThroughputExceededException\); it expires by itself at 2026-12-01T10:02:30\.000Z/);
  });

  test('a pass that failed keeps its own error, not the release\'s', async () => {
    const store = failingRelease(clock().now);
    const warnings: string[] = [];
    await assert.rejects(
      withLeaseLogged(store, request, async () => { throw new Error('the pass failed: connection reset'); }, { warn: (m) => void warnings.push(m) }),
      /^Error: the pass failed: connection reset$/,
    );
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /was not released .* expires by itself at 2026-12-01T10:02:30\.000Z/);
  });

  test('through the reaper: the pass\'s report is returned and the warning logged with the pass\'s run id', async (t) => {
    // Prepare
    const standin = await startStandin();
    const warnings: string[] = [];
    const reaper = await createReaper({ MONGODB_URI: standin.uri, REAPER_CLUSTER: 'orders', REAPER_AUDIT: 'stdout', DRY_RUN: 'true' },
      { warn: (m: string) => void warnings.push(m), error: (m: string) => assert.fail(m) }, { sink: new InMemoryAuditSink(), leases: failingRelease(Date.now) });
    t.after(async () => {
      await reaper.close();
      await standin.stop();
    });
    // Act
    const report = await reaper.run({ trigger: { type: 'schedule', id: 'exec-8' }, runId: 'run-8' });
    // Assess
    assert.equal(report.error, null);
    assert.equal(report.runId, 'run-8');
    const released = warnings.filter((w) => w.includes('was not released'));
    assert.equal(released.length, 1, warnings.join('\n'));
    assert.match(released[0]!, /^the lease of cluster "orders" held by pass schedule exec-8, run run-8 was not released/);
  });
});

let moto: Moto | null = null;
let table = 0;
before(async () => {
  if (motoAvailable()) {
    moto = await startMoto();
    moto.apply();
  }
});
after(async () => {
  await moto?.stop();
});

contract('DynamoDB leases (moto_server)', async (now) => {
  // One table per test: no state shared between tests.
  const client = new DynamoDBClient({});
  const name = `reaper-state-${++table}`;
  await client.send(new CreateTableCommand({
    TableName: name, BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }, { AttributeName: 'sk', AttributeType: 'S' }],
    KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }, { AttributeName: 'sk', KeyType: 'RANGE' }],
  }));
  return new DynamoDbLeases(client, name, now);
}, requireMoto);
