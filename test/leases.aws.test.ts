/**
 * Leases through the reaper itself, with the DynamoDB state table on moto_server (REAPER_STATE_TABLE):
 * two passes of one cluster started together, exactly one runs and the other is refused naming the holder
 * and audited as not started; passes of two clusters run at the same time.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { CreateTableCommand, DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { InMemoryAuditSink } from '../src/adapters/audit-sinks.ts';
import type { AuditEvent } from '../src/pass/audit/events.ts';
import type { AuditSink } from '../src/pass/audit/sink.ts';
import { createReaper, type Reaper } from '../src/service/app.ts';
import { PassInProgressError } from '../src/util/errors.ts';
import { startStandin, type RunningStandin } from '../standin/src/server.ts';
import { motoAvailable, requireMoto, startMoto, type Moto } from './support/moto.ts';

let moto: Moto | null = null;
let orders: RunningStandin;
let billing: RunningStandin;
let reaper: Reaper | null = null;
const sink = new InMemoryAuditSink();

/**
 * Passes held inside their leases: a pass publishes its audit before it returns, so before it releases its
 * lease. hold(trigger id) makes the first publish of that trigger's pass wait until release(); `reached`
 * settles once it waits.
 */
const gates = new Map<string, { arrived: () => void; opened: Promise<void> }>();
function hold(triggerId: string): { reached: Promise<void>; release: () => void } {
  let arrived!: () => void;
  let release!: () => void;
  const reached = new Promise<void>((r) => { arrived = r; });
  gates.set(triggerId, { arrived: () => arrived(), opened: new Promise<void>((r) => { release = r; }) });
  return { reached, release: () => release() };
}
const gated: AuditSink = {
  async publish(events) {
    const id = events.map((e: AuditEvent) => (e.detail as { trigger?: { id?: string } }).trigger?.id).find((i) => i !== undefined && gates.has(i));
    const gate = id === undefined ? undefined : gates.get(id);
    if (gate) {
      gates.delete(id!);
      gate.arrived();
      await gate.opened;
    }
    return sink.publish(events);
  },
};
/**
 * Settles when the pass is held; fails when it ends without being held, or when it is not held after 20 s: it
 * is waiting (for the other pass, held until this one is), and the test would otherwise never end.
 */
function heldOrEnded(held: Promise<void>, pass: Promise<unknown>, what: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const waiting = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`${what} did not get inside its lease: it waits for the other pass`)), 20_000); });
  return Promise.race([held, waiting, pass.then(() => assert.fail(`${what} ended without publishing its audit`))]).finally(() => clearTimeout(timer));
}

/** The lease item of the cluster in the state table, or undefined when no pass holds it. */
async function leaseOf(cluster: string): Promise<{ owner: string } | undefined> {
  const { Item } = await new DynamoDBClient({}).send(new GetItemCommand({ TableName: 'reaper-state', Key: { pk: { S: `lease#${cluster}` }, sk: { S: 'lease' } }, ConsistentRead: true }));
  return Item ? { owner: Item.owner!.S! } : undefined;
}
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
  }, logger, { sink: gated });
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

test('passes of two clusters run at the same time: each holds its own lease while the other holds its', async (t) => {
  if (requireMoto(t)) return;
  // Prepare: both passes are held at their audit, inside their leases
  const ordersHeld = hold('orders-held');
  const billingHeld = hold('billing-held');
  // Act: orders' pass starts and is held; billing's starts while it is
  const ordersPass = reaper!.run({ cluster: 'orders', trigger: { type: 'schedule', id: 'orders-held' } });
  let billingPass: ReturnType<Reaper['run']> | undefined;
  let leases: [{ owner: string } | undefined, { owner: string } | undefined];
  try {
    await heldOrEnded(ordersHeld.reached, ordersPass, 'orders\' pass');
    billingPass = reaper!.run({ cluster: 'billing', trigger: { type: 'schedule', id: 'billing-held' } });
    await heldOrEnded(billingHeld.reached, billingPass, 'billing\'s pass, started while orders\' was held,');
    leases = await Promise.all([leaseOf('orders'), leaseOf('billing')]);
  } finally {
    billingHeld.release();
    ordersHeld.release();
  }
  const reports = await Promise.all([ordersPass, billingPass!]);
  // Assess: billing's pass took its lease while orders' pass held its own: both leases were held at once
  assert.deepEqual(leases, [{ owner: 'schedule orders-held' }, { owner: 'schedule billing-held' }]);
  assert.deepEqual(reports.map((r) => [r.cluster, r.error]), [['orders', null], ['billing', null]]);
  assert.deepEqual([await leaseOf('orders'), await leaseOf('billing')], [undefined, undefined], 'both leases are released');
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
