/**
 * Sightings in the DynamoDB state table, on moto_server with the real AWS SDK: through the reaper itself (the
 * Lambda service, REAPER_STATE_TABLE), a rule waiting for two sightings kills on the second pass only; the
 * store keeps concurrent updates, and a state larger than one item spans several chunks that read back whole.
 * Time comes from the stand-in's ManualClock, given to the reaper as its `now`.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { CreateTableCommand, DynamoDBClient, QueryCommand } from '@aws-sdk/client-dynamodb';
import { MongoClient, MongoServerError } from 'mongodb';
import { InMemoryAuditSink } from '../src/adapters/audit-sinks.ts';
import { DynamoDbSightings } from '../src/adapters/dynamodb-sightings.ts';
import { recordPass } from '../src/pass/sightings.ts';
import { createReaper, type Reaper } from '../src/service/app.ts';
import { ManualClock } from '../standin/src/clock.ts';
import { startStandin, type RunningStandin } from '../standin/src/server.ts';
import { motoAvailable, requireMoto, startMoto, type Moto } from './support/moto.ts';

const TABLE = 'reaper-state';
const clock = new ManualClock(Date.UTC(2026, 0, 5, 9, 0, 0));
let moto: Moto | null = null;
let standin: RunningStandin;
let reaper: Reaper | null = null;
const logger = { info: () => {}, warn: () => {}, error: () => {} };

before(async () => {
  standin = await startStandin({ clock });
  if (!motoAvailable()) return;
  moto = await startMoto();
  moto.apply();
  await new DynamoDBClient({}).send(new CreateTableCommand({
    TableName: TABLE, BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }, { AttributeName: 'sk', AttributeType: 'S' }],
    KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }, { AttributeName: 'sk', KeyType: 'RANGE' }],
  }));
  reaper = await createReaper({
    ...moto.env, REAPER_STATE_TABLE: TABLE, REAPER_AUDIT: 'stdout',
    REAPER_CLUSTERS: JSON.stringify({ orders: { uriEnv: 'ORDERS_URI' } }), ORDERS_URI: standin.uri,
  }, logger, { sink: new InMemoryAuditSink(), now: () => clock.now() });
});
after(async () => {
  await reaper?.close();
  await moto?.stop();
  await standin?.stop();
});

test('an idle transaction is killed by the second pass that sees it, the sightings kept in DynamoDB', async (t) => {
  if (requireMoto(t)) return;
  // Prepare: a transaction idle for 90 s, past the default 60 s
  const app = new MongoClient(standin.uri, { appName: 'orders-service' });
  await app.connect();
  const session = app.startSession();
  session.startTransaction();
  await app.db('shop').collection<{ _id: number }>('orders').insertOne({ _id: 1 }, { session });
  const id = session.id!.id.toUUID().toString();
  clock.advance(90_000);
  // Act: first pass
  const first = await reaper!.run({ cluster: 'orders', trigger: { type: 'schedule', id: 'p1' } });
  // Assess: noted in the table, not killed
  assert.equal(first.error, null);
  assert.equal(first.decisions.find((d) => d.sessionId === id), undefined);
  const items = await new DynamoDBClient({}).send(new QueryCommand({ TableName: TABLE, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': { S: 'sightings#orders' } } }));
  const head = items.Items!.find((i) => i.sk!.S === 'head')!;
  assert.equal(head.generation!.N, '1');
  assert.equal(Number(head.expiresAt!.N), Math.ceil(clock.now() / 1000) + 7 * 24 * 3600, 'the items expire a week after the pass (TTL)');
  // Act: the next pass, five minutes later
  clock.advance(300_000);
  const second = await reaper!.run({ cluster: 'orders', trigger: { type: 'schedule', id: 'p2' } });
  // Assess
  const d = second.decisions.find((x) => x.sessionId === id);
  assert.equal(d?.outcome, 'killed');
  assert.equal(d?.rule, 'idle-transaction');
  await assert.rejects(session.commitTransaction(), (e: unknown) => e instanceof MongoServerError && e.code === 251);
  await session.endSession();
  await app.close();
});

test('concurrent updates of one cluster are all applied (the conditional write retries), and superseded chunks are deleted', async (t) => {
  if (requireMoto(t)) return;
  const client = new DynamoDBClient({});
  const now = clock.now();
  // Act: separate stores, as separate invocations would have
  await Promise.all(Array.from({ length: 4 }, (_, i) => new DynamoDbSightings(client, TABLE).update('race', (cur) => {
    const next = recordPass(cur, [], now);
    next.entries[`o:${i}`] = { firstSeenMs: now, lastSeenMs: now, lastPass: next.pass, sightings: 1, appName: null, client: null, clientDriver: 'x' };
    return next;
  })));
  // Assess
  const state = (await new DynamoDbSightings(client, TABLE).load('race'))!;
  assert.equal(state.pass, 4);
  assert.deepEqual(Object.keys(state.entries).sort(), ['o:0', 'o:1', 'o:2', 'o:3']);
  const items = await client.send(new QueryCommand({ TableName: TABLE, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': { S: 'sightings#race' } } }));
  assert.deepEqual(items.Items!.map((i) => i.sk!.S!.replace(/^v\w+#/, 'v#')).sort(), ['head', 'v#0000']);
});

test('a state larger than one item is written in chunks and read back whole', async (t) => {
  if (requireMoto(t)) return;
  const store = new DynamoDbSightings(new DynamoDBClient({}), TABLE);
  const now = clock.now();
  // Incompressible application names: about 600 KB of gzip, two chunks
  const apps = Array.from({ length: 3000 }, () => randomBytes(150).toString('base64'));
  await store.update('big', (cur) => {
    const next = recordPass(cur, [], now);
    apps.forEach((appName, i) => (next.entries[`s:${i}`] = { firstSeenMs: now, lastSeenMs: now, lastPass: 1, sightings: 1, appName, client: null, clientDriver: null }));
    return next;
  });
  const state = (await store.load('big'))!;
  assert.equal(Object.keys(state.entries).length, 3000);
  assert.equal(state.entries['s:2999']!.appName, apps[2999]);
  const items = await new DynamoDBClient({}).send(new QueryCommand({ TableName: TABLE, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': { S: 'sightings#big' } } }));
  assert.ok(items.Items!.length >= 3, `head and at least two chunks, got ${items.Items!.length} items`);
});
