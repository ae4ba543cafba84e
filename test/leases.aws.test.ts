/**
 * Leases through the reaper itself, with the DynamoDB state table on moto_server (REAPER_STATE_TABLE):
 * two passes of one cluster started together, exactly one runs and the other is refused naming the holder
 * and audited as not started; passes of two clusters run at the same time.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { InMemoryAuditSink } from '../src/adapters/audit-sinks.ts';
import { createReaper, type Reaper } from '../src/service/app.ts';
import { PassInProgressError } from '../src/util/errors.ts';
import { startStandin, type RunningStandin } from '../standin/src/server.ts';
import { motoAvailable, requireMoto, startMoto, type Moto } from './support/moto.ts';

let moto: Moto | null = null;
let orders: RunningStandin;
let billing: RunningStandin;
let reaper: Reaper | null = null;
const sink = new InMemoryAuditSink();
/** The reaper's log, kept for the assertions instead of printed. */
const logged: string[] = [];
const logger = { info: (m: string) => void logged.push(m), warn: (m: string) => void logged.push(m), error: (m: string) => void logged.push(m) };

before(async () => {
  orders = await startStandin();
  billing = await startStandin();
  if (!motoAvailable()) return;
  moto = await startMoto();
  moto.apply();
  await new DynamoDBClient({}).send(new CreateTableCommand({
    TableName: 'reaper-state', BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }, { AttributeName: 'sk', AttributeType: 'S' }],
    KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }, { AttributeName: 'sk', KeyType: 'RANGE' }],
  }));
  reaper = await createReaper({
    ...moto.env, REAPER_STATE_TABLE: 'reaper-state', REAPER_AUDIT: 'stdout', DRY_RUN: 'true',
    REAPER_CLUSTERS: JSON.stringify({ orders: { uriEnv: 'ORDERS_URI' }, billing: { uriEnv: 'BILLING_URI' } }),
    ORDERS_URI: orders.uri, BILLING_URI: billing.uri,
  }, logger, { sink });
});
after(async () => {
  await reaper?.close();
  await moto?.stop();
  await orders?.stop();
  await billing?.stop();
});

test('two passes of one cluster started together: one runs, the other is refused naming the holder and audited', async (t) => {
  if (requireMoto(t)) return;
  // Act
  const [a, b] = await Promise.allSettled([
    reaper!.run({ cluster: 'orders', trigger: { type: 'schedule', id: 'exec-1' } }),
    reaper!.run({ cluster: 'orders', trigger: { type: 'alarm', id: 'alarm-2' } }),
  ]);
  // Assess
  const ran = [a, b].filter((r) => r.status === 'fulfilled');
  const refused = [a, b].filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  assert.equal(ran.length, 1);
  assert.equal(refused.length, 1);
  assert.ok(refused[0]!.reason instanceof PassInProgressError);
  assert.match(refused[0]!.reason.message, /a pass for cluster "orders" is already running \((schedule exec-1|alarm alarm-2), since \d{4}-/);
  const notStarted = sink.events.find((e) => e.detail.kind === 'run' && (e.detail as { unfinished?: string }).unfinished?.startsWith('did not start'));
  assert.ok(notStarted, 'the refused pass is in the audit trail');
  // The lease was released: the next pass of the cluster runs.
  assert.equal((await reaper!.run({ cluster: 'orders', trigger: { type: 'manual', id: 'after' } })).error, null);
});

test('passes of two clusters run at the same time', async (t) => {
  if (requireMoto(t)) return;
  const reports = await Promise.all([
    reaper!.run({ cluster: 'orders', trigger: { type: 'schedule', id: 'o' } }),
    reaper!.run({ cluster: 'billing', trigger: { type: 'schedule', id: 'b' } }),
  ]);
  assert.deepEqual(reports.map((r) => [r.cluster, r.error]), [['orders', null], ['billing', null]]);
});

test('a failed pass releases its lease', async (t) => {
  if (requireMoto(t)) return;
  // Prepare: billing's server goes away, so its pass fails
  await billing.stop();
  // Act
  const failed = await reaper!.run({ cluster: 'billing', trigger: { type: 'schedule', id: 'down' } });
  // Assess: the pass failed, and the next one is not refused by a leftover lease: it gets as far as connecting
  assert.notEqual(failed.error, null);
  assert.ok(logged.some((l) => l.includes(`pass ${failed.runId} on billing failed`)), 'the failure is logged');
  await assert.rejects(
    reaper!.run({ cluster: 'billing', trigger: { type: 'schedule', id: 'next' } }),
    (e: Error) => !(e instanceof PassInProgressError) && /cannot connect/.test(e.message),
  );
});
