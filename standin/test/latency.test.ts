/**
 * The simulated network (replyLatencyMs, `mongod --reply-latency-ms`): every reply leaves that long after it is
 * ready, in order, so that benchmarks of many clusters are latency-bound as over a real network. Only a lower
 * bound is asserted (load can make a reply later, never earlier).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MongoClient } from 'mongodb';
import { startStandin } from '../src/server.ts';
import { startReplicaSet } from '../src/replset.ts';
import { kind0, opMsg, Raw } from './raw-wire.ts';

test('pipelined replies leave no earlier than the latency, in the order of their requests', async (t) => {
  // Prepare
  const standin = await startStandin({ replyLatencyMs: 100 });
  t.after(() => standin.stop());
  const raw = await Raw.connect(standin.port);
  t.after(() => raw.end());
  // Act: three requests written at once.
  const started = performance.now();
  const replies = await Promise.all([
    raw.send(opMsg(1, 0, [kind0({ buildInfo: 1, $db: 'admin' })])),
    raw.send(opMsg(2, 0, [kind0({ ping: 1, $db: 'admin' })])),
    raw.send(opMsg(3, 0, [kind0({ hello: 1, $db: 'admin' })])),
  ]);
  const elapsed = performance.now() - started;
  // Assess
  assert.ok(elapsed >= 100, `the replies came after ${elapsed.toFixed(0)} ms`);
  assert.equal(typeof replies[0]!.doc.version, 'string', 'buildInfo first');
  assert.deepEqual(Object.keys(replies[1]!.doc), ['ok'], 'then ping');
  assert.equal(replies[2]!.doc.isWritablePrimary, true, 'then hello');
});

test('the driver works across the latency, on a replica set too', async (t) => {
  const rs = await startReplicaSet({ name: 'slow', members: 2, replyLatencyMs: 20 });
  t.after(() => rs.stop());
  const client = new MongoClient(rs.uri);
  t.after(() => client.close());
  await client.db('shop').collection('orders').insertOne({ _id: 1 as never });
  assert.deepEqual(await client.db('shop').collection('orders').find({}, { readPreference: 'secondary' }).toArray(), [{ _id: 1 }]);
});

test('a negative latency is refused with the setting named', async () => {
  await assert.rejects(startStandin({ replyLatencyMs: -1 }), /reply latency must be a non-negative number of ms, got -1/);
});
