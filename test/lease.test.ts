/**
 * The in-process lease: one pass per cluster at a time; other clusters are not held up.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassInProgressError } from '../src/util/errors.ts';
import { ClusterLeases } from '../src/service/lease.ts';

test('a second pass for the same cluster does not start while the first holds the lease', async () => {
  // Prepare: the first pass waits on a promise the test controls.
  const leases = new ClusterLeases();
  let finish!: () => void;
  const first = leases.with('orders', 'schedule', () => new Promise<string>((r) => (finish = () => r('first done'))));
  // Act + Assess
  await assert.rejects(leases.with('orders', 'alarm', async () => 'second'), (e: Error) => e instanceof PassInProgressError && e.cluster === 'orders' && /already running \(schedule, since/.test(e.message));
  assert.equal(await leases.with('billing', 'alarm', async () => 'other cluster'), 'other cluster');
  finish();
  assert.equal(await first, 'first done');
  assert.equal(await leases.with('orders', 'alarm', async () => 'after'), 'after');
});

test('the lease is released when the pass throws', async () => {
  const leases = new ClusterLeases();
  await assert.rejects(leases.with('orders', 'x', async () => { throw new Error('boom'); }), /boom/);
  assert.equal(leases.holder('orders'), undefined);
});

test('a stale release does not free a lease taken since', () => {
  const leases = new ClusterLeases();
  const release = leases.acquire('orders', 'a');
  release();
  const second = leases.acquire('orders', 'b');
  release();
  assert.equal(leases.holder('orders')?.owner, 'b');
  second();
});
