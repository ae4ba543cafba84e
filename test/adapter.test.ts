/**
 * The MongoDB adapter against the stand-in: the raw listing path reads exactly what the driver's public
 * API reads, and with the pinned driver it really takes the fast path (if a driver upgrade changes the
 * cursor internals it relies on, this test says so, while the adapter falls back to the public API).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { MongoClient } from 'mongodb';
import { bufferedReply, MongoAdapter, rawBatches, toListedSession } from '../src/adapters/mongodb/adapter.ts';
import { readListedSession } from '../src/adapters/mongodb/session-doc-reader.ts';
import { startStandin, type RunningStandin } from '../standin/src/server.ts';

let standin: RunningStandin;
let client: MongoClient;
before(async () => {
  standin = await startStandin({ params: { auth: true }, users: ['admin:pw:root'] });
  client = new MongoClient(standin.uriFor('admin', 'pw'));
  await client.connect();
  await client.db('admin').command({ standinBulkCreateSessions: 5000, users: [{ user: 'app', db: 'admin' }, { user: 'etl', db: 'admin' }], seed: 3, lastUseAgeSeconds: { min: 1, max: 100 } });
});
after(async () => {
  await client?.close();
  await standin?.stop();
});

const list = () => client.db('config').collection('system.sessions').aggregate<Uint8Array>([{ $listSessions: { allUsers: true } }], { raw: true, batchSize: 1000 });

test('the raw batch reader returns what the driver\'s documents say, batch by batch', async () => {
  // Act
  const fast: unknown[] = [];
  for await (const batch of rawBatches(list(), readListedSession)) fast.push(...batch);
  const slow = (await client.db('config').collection('system.sessions').aggregate([{ $listSessions: { allUsers: true } }]).toArray()).map(toListedSession);
  // Assess
  assert.equal(fast.length, 5000);
  assert.deepEqual(fast, slow);
});

test('with the pinned driver the cursor internals the fast path reads are there', async () => {
  const cursor = list();
  assert.equal(await cursor.hasNext(), true);
  assert.notEqual(bufferedReply(cursor), null, 'mongodb driver internals changed: rawBatches now uses the slower public API');
  await cursor.close();
});

test('the adapter knows the reaper\'s identity: its session and its uid', async () => {
  const mongo = await MongoAdapter.connect(standin.uriFor('admin', 'pw'));
  try {
    const id = await mongo.identity();
    assert.equal(id.user, 'admin@admin');
    assert.match(id.sessionId, /^[0-9a-f-]{36}$/);
    let listed = 0;
    for await (const batch of mongo.listSessions()) listed += batch.length;
    assert.equal(listed, 5000);
  } finally {
    await mongo.close();
  }
});
