/**
 * The MongoDB adapter against the stand-in: the raw listing path (commands with raw batch arrays, through
 * the driver's public API) reads exactly what the driver's documents say, across getMores, and frees the
 * server's cursor when its reader stops early.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { MongoClient } from 'mongodb';
import { MongoAdapter, toListedSession } from '../src/adapters/mongodb/adapter.ts';
import { commandBatches } from '../src/adapters/mongodb/raw-cursor.ts';
import { readListedSession } from '../src/adapters/mongodb/session-doc-reader.ts';
import { startStandin, type RunningStandin } from '../standin/src/server.ts';

let standin: RunningStandin;
let client: MongoClient;
before(async () => {
  standin = await startStandin({ params: { auth: true }, users: ['admin:pw:root'] });
  client = new MongoClient(standin.uriFor('admin', 'pw'), { monitorCommands: true });
  await client.connect();
  await client.db('admin').command({ standinBulkCreateSessions: 5000, users: [{ user: 'app', db: 'admin' }, { user: 'etl', db: 'admin' }], seed: 3, lastUseAgeSeconds: { min: 1, max: 100 } });
});
after(async () => {
  await client?.close();
  await standin?.stop();
});

const LIST = { aggregate: 'system.sessions', pipeline: [{ $listSessions: { allUsers: true } }], cursor: { batchSize: 1000 } };

test('the raw batch reader returns what the driver\'s documents say, batch by batch', async () => {
  // Prepare
  const session = client.startSession();
  const commands: string[] = [];
  const seen = (e: { commandName: string }) => commands.push(e.commandName);
  client.on('commandStarted', seen);
  // Act
  const fast: unknown[] = [];
  const sizes: number[] = [];
  try {
    for await (const batch of commandBatches(client.db('config'), LIST, session, readListedSession)) {
      fast.push(...batch);
      sizes.push(batch.length);
    }
  } finally {
    client.off('commandStarted', seen);
    await session.endSession();
  }
  const slow = (await client.db('config').collection('system.sessions').aggregate([{ $listSessions: { allUsers: true } }]).toArray()).map(toListedSession);
  // Assess
  assert.equal(fast.length, 5000);
  assert.deepEqual(fast, slow);
  // cursor.batchSize sizes the first batch only; a getMore without batchSize takes the rest (up to 16 MiB).
  assert.deepEqual(sizes, [1000, 4000]);
  assert.deepEqual(commands, ['aggregate', 'getMore']);
});

test('a reader that stops early frees the server\'s cursor with killCursors', async () => {
  // Prepare
  const session = client.startSession();
  const commands: string[] = [];
  const seen = (e: { commandName: string }) => commands.push(e.commandName);
  client.on('commandStarted', seen);
  // Act
  try {
    for await (const batch of commandBatches(client.db('config'), LIST, session, readListedSession)) {
      assert.equal(batch.length, 1000);
      break;
    }
  } finally {
    client.off('commandStarted', seen);
  }
  const status = await client.db('admin').command({ serverStatus: 1 });
  await session.endSession();
  // Assess
  assert.deepEqual(commands, ['aggregate', 'killCursors']);
  assert.equal(status.metrics.cursor.open.total, 0, "no cursor left open on the server");
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

test('the connection string\'s serverSelectionTimeoutMS stands; without it a pass waits 10 s, not the driver\'s 30 s', async () => {
  // Prepare
  const uri = standin.uriFor('admin', 'pw');
  const withOption = `${uri}${uri.includes('?') ? '&' : '?'}serverSelectionTIMEOUTms=1234`;
  // Act
  const given = await MongoAdapter.connect(withOption);
  const defaulted = await MongoAdapter.connect(uri);
  try {
    // Assess: the driver's own parsed options
    assert.equal(given.client.options.serverSelectionTimeoutMS, 1234);
    assert.equal(defaulted.client.options.serverSelectionTimeoutMS, 10_000);
  } finally {
    await given.close();
    await defaulted.close();
  }
});
