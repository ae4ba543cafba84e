/**
 * Replayed Atlas alerts (functions/atlas-webhook.ts with REAPER_STATE_TABLE): the state table on
 * moto_server's DynamoDB, the hand-off over the wire to the local Invoke endpoint, whose recorded
 * invocations count the passes. A copy of a signed alert within the window answers 200 and queues
 * nothing; a new `updated` starts a pass; after the window the same alert starts one again (an
 * injected clock: node:test's Date mock, which Powertools' expiry arithmetic reads). The guard
 * itself: `status` is part of an alert's identity, and a failed hand-off leaves no record behind.
 */
import { after, before, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LambdaFunctionURLEvent } from 'aws-lambda';
import { CreateTableCommand, DynamoDBClient, QueryCommand, UpdateTimeToLiveCommand } from '@aws-sdk/client-dynamodb';
import { startStandin, type RunningStandin } from '../standin/src/server.ts';
import { signBody } from '../src/service/signature.ts';
import { dynamoDbAlertReplayGuard, STATE_TABLE_KEYS } from '../src/adapters/dynamodb-alert-replays.ts';
import { DispatchError, StateStoreError } from '../src/util/errors.ts';
import { startLambdaInvokeStandin, type LambdaInvokeStandin } from './support/lambda-invoke.ts';
import { motoAvailable, requireMoto, startMoto, type Moto } from './support/moto.ts';
import { loadReaperAndWebhook, webhookTestEnv } from './support/webhook.ts';

const SECRET = 'test-webhook-secret';
const TABLE = 'session-reaper-test-state';
const WINDOW_SECONDS = 60;
const context = { getRemainingTimeInMillis: () => 60_000, awsRequestId: 'async-1' };
const fixture = (): LambdaFunctionURLEvent => JSON.parse(readFileSync(new URL('./events/function-url-atlas-alert.json', import.meta.url), 'utf8'));
const alert = JSON.parse(readFileSync(new URL('./events/atlas-alert.json', import.meta.url), 'utf8')) as Record<string, unknown>;

const MOTO = motoAvailable();
const skip = (t: TestContext): boolean => (MOTO ? false : requireMoto(t));

let moto: Moto;
let dynamo: DynamoDBClient;
let standin: RunningStandin;
let lambda: LambdaInvokeStandin;
let webhook: (typeof import('../functions/atlas-webhook.ts'))['handler'];
let closeReaper: () => Promise<void>;
const savedEnv = { ...process.env };

/** The alert with some fields changed, signed, as the function URL delivers it. */
function post(changes: Record<string, unknown> = {}): LambdaFunctionURLEvent {
  const body = JSON.stringify({ ...alert, ...changes });
  const e = fixture();
  e.body = body;
  e.headers['x-mms-signature'] = signBody(body, SECRET);
  return e;
}

/** The state table as infra/state.yml declares it. */
async function createStateTable(name: string): Promise<void> {
  const { partitionKey, sortKey, ttl } = STATE_TABLE_KEYS;
  await dynamo.send(new CreateTableCommand({
    TableName: name, BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [{ AttributeName: partitionKey, AttributeType: 'S' }, { AttributeName: sortKey, AttributeType: 'S' }],
    KeySchema: [{ AttributeName: partitionKey, KeyType: 'HASH' }, { AttributeName: sortKey, KeyType: 'RANGE' }],
  }));
  await dynamo.send(new UpdateTimeToLiveCommand({ TableName: name, TimeToLiveSpecification: { AttributeName: ttl, Enabled: true } }));
}

before(async () => {
  if (!MOTO) return;
  moto = await startMoto();
  moto.apply();
  dynamo = new DynamoDBClient({});
  await createStateTable(TABLE);
  standin = await startStandin();
  const reaperModule = { handler: null as null | ((e: unknown, c: typeof context) => Promise<unknown>) };
  lambda = await startLambdaInvokeStandin({ 'session-reaper': (payload) => reaperModule.handler!(payload, context) });
  Object.assign(process.env, {
    ...webhookTestEnv({ uri: standin.uri, auditFile: join(mkdtempSync(join(tmpdir(), 'replay-')), 'audit.jsonl'), secret: SECRET, lambdaEndpoint: lambda.endpoint }),
    REAPER_STATE_TABLE: TABLE, ATLAS_REPLAY_WINDOW_SECONDS: String(WINDOW_SECONDS),
  });
  ({ webhook, closeReaper } = await loadReaperAndWebhook(reaperModule));
});

after(async () => {
  await closeReaper?.();
  await lambda?.stop();
  await standin?.stop();
  await moto?.stop();
  process.env = savedEnv;
});

describe('the Atlas webhook against replays (state table on moto)', () => {
  it('the same signed alert posted three times: one pass; the copies answer 200 and queue nothing', async (t) => {
    if (skip(t)) return;
    // Act
    const responses = [];
    for (let i = 0; i < 3; i++) responses.push(await webhook(post(), context));
    await lambda.settled();
    // Assess
    assert.deepEqual(responses.map((r) => r.statusCode), [202, 200, 200]);
    for (const r of responses.slice(1)) {
      assert.match(JSON.parse(r.body!).ignored, /^Atlas alert 6749e1f4a1b2c3d4e5f60718 \(status OPEN, updated 2026-11-30T09:58:12Z\) was already handed off within the last 60 s \(ATLAS_REPLAY_WINDOW_SECONDS\): a copy starts no pass$/);
    }
    assert.equal(lambda.invocations.length, 1);
    assert.ok(lambda.invocations[0]!.outcome && 'result' in lambda.invocations[0]!.outcome, 'the one pass ran');
  });

  it('the same alert with a new "updated" is a new notification: another pass', async (t) => {
    if (skip(t)) return;
    // Prepare
    const before = lambda.invocations.length;
    // Act
    const changed = await webhook(post({ updated: '2026-11-30T10:20:00Z' }), context);
    const copy = await webhook(post({ updated: '2026-11-30T10:20:00Z' }), context);
    await lambda.settled();
    // Assess
    assert.deepEqual([changed.statusCode, copy.statusCode], [202, 200]);
    assert.equal(lambda.invocations.length, before + 1);
  });

  it('after the window the same alert starts a pass again', async (t) => {
    if (skip(t)) return;
    // Prepare: a fresh alert, handed off now.
    const fresh = { id: '6749e1f4a1b2c3d4e5f6ffff', updated: '2026-11-30T11:00:00Z' };
    assert.equal((await webhook(post(fresh), context)).statusCode, 202);
    await lambda.settled();
    const before = lambda.invocations.length;
    // Act: the same copy, one second past the window (the injected clock).
    t.mock.timers.enable({ apis: ['Date'], now: Date.now() + (WINDOW_SECONDS + 1) * 1000 });
    let late;
    try {
      late = await webhook(post(fresh), context);
    } finally {
      t.mock.timers.reset();
    }
    await lambda.settled();
    // Assess
    assert.equal(late.statusCode, 202);
    assert.equal(lambda.invocations.length, before + 1);
  });
});

describe('the replay guard (src/adapters/dynamodb-alert-replays.ts)', () => {
  it('status is part of the identity; each hand-off is recorded under pk "atlas-alert" with expiresAt', async (t) => {
    if (skip(t)) return;
    // Prepare
    const table = 'guard-status';
    await createStateTable(table);
    const guard = dynamoDbAlertReplayGuard({ tableName: table, windowSeconds: WINDOW_SECONDS, client: dynamo });
    let handOffs = 0;
    const handOff = async () => ({ n: ++handOffs });
    const start = Math.floor(Date.now() / 1000);
    // Act
    const outcomes = [
      await guard.once({ id: 'a1', status: 'OPEN', updated: 'u1' }, handOff),
      await guard.once({ id: 'a1', status: 'TRACKING', updated: 'u1' }, handOff),
      await guard.once({ id: 'a1', status: 'OPEN', updated: 'u1' }, handOff),
    ];
    // Assess
    assert.deepEqual(outcomes, [
      { replayed: false, result: { n: 1 } },
      { replayed: false, result: { n: 2 } },
      { replayed: true, result: { n: 1 }, inProgress: false },
    ]);
    const items = (await dynamo.send(new QueryCommand({ TableName: table, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': { S: 'atlas-alert' } } }))).Items ?? [];
    assert.equal(items.length, 2);
    for (const item of items) {
      assert.match(item.sk!.S!, /^atlas-alert#[A-Za-z0-9+/]{22}==$/);
      const expiresAt = Number(item.expiresAt!.N);
      assert.ok(expiresAt >= start + WINDOW_SECONDS && expiresAt <= start + WINDOW_SECONDS + 5, `expiresAt ${expiresAt} is the window from now`);
    }
  });

  it('a failed hand-off leaves no record (Atlas\'s retry is not a replay); a missing table is a StateStoreError', async (t) => {
    if (skip(t)) return;
    // Prepare
    const table = 'guard-failure';
    await createStateTable(table);
    const guard = dynamoDbAlertReplayGuard({ tableName: table, windowSeconds: WINDOW_SECONDS, client: dynamo });
    const identity = { id: 'a2', status: 'OPEN', updated: 'u1' };
    // Act
    await assert.rejects(guard.once(identity, async () => { throw new DispatchError('Invoke throttled'); }), DispatchError);
    const retry = await guard.once(identity, async () => ({ ok: true }));
    const noTable = dynamoDbAlertReplayGuard({ tableName: 'no-such-table', windowSeconds: WINDOW_SECONDS, client: dynamo });
    // Assess
    assert.deepEqual(retry, { replayed: false, result: { ok: true } });
    await assert.rejects(noTable.once(identity, async () => ({})), (e: Error) => e instanceof StateStoreError && /cannot record Atlas alert a2 in the state table no-such-table: .*ResourceNotFoundException/.test(e.message));
  });

  it('infra/state.yml declares the keys and the TTL attribute the guard uses', () => {
    const template = readFileSync(new URL('../infra/state.yml', import.meta.url), 'utf8');
    const { partitionKey, sortKey, ttl } = STATE_TABLE_KEYS;
    assert.match(template, new RegExp(`\\{ AttributeName: ${partitionKey}, KeyType: HASH \\}`));
    assert.match(template, new RegExp(`\\{ AttributeName: ${sortKey}, KeyType: RANGE \\}`));
    assert.match(template, new RegExp(`TimeToLiveSpecification:\\s+AttributeName: ${ttl}\\s+Enabled: true`));
  });
});
