/**
 * Hostile clients cannot stall the stand-in: a client that pipelines requests and never reads the replies
 * stalls only itself; a catastrophic-backtracking $regex returns; a large message is taken in linearly; bad
 * options and JavaScript-reserved field names get the server's (or a clear) error. Outcomes are asserted,
 * never durations: timeouts only guard against a hang.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import type { Document } from 'bson';
import { MongoClient } from 'mongodb';
import { startStandin, type RunningStandin } from '../src/server.ts';
import { MAX_QUEUED_REQUESTS, MessageFramer } from '../src/inbound.ts';
import { kind0, opMsg } from './raw-wire.ts';
import { until } from './poll.ts';

function rawSocket(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => resolve(s));
    s.once('error', reject);
  });
}

describe('hostile clients (stand-in)', () => {
  let standin: RunningStandin;
  let client: MongoClient;
  const status = async (): Promise<Document> => client.db('admin').command({ serverStatus: 1 });

  before(async () => {
    standin = await startStandin();
    client = new MongoClient(standin.uri, { serverSelectionTimeoutMS: 5000 });
    await client.connect();
  });
  after(async () => {
    await client?.close();
    await standin?.stop();
  });

  test('1,000 pipelined finds whose replies are never read: reading stops, the queue stays bounded, others are served', async () => {
    // Prepare: 101 documents of 10 KB, so each find's first batch is about 1 MB.
    const big = client.db('hostile').collection('big');
    await big.insertMany(Array.from({ length: 101 }, (_, i) => ({ _id: i as never, pad: 'x'.repeat(10_000) })));
    const before = (await status()).metrics.commands.total as number;
    const find = (i: number): Buffer => opMsg(i, 0, [kind0({ find: 'big', filter: {}, batchSize: 101, $db: 'hostile' })]);
    const hostile = await rawSocket(standin.port);
    // Act: every request in one write, and the socket is never read.
    hostile.write(Buffer.concat(Array.from({ length: 1000 }, (_, i) => find(i + 1))));
    const inbound = await until(async () => {
      const s = (await status()).standin.inbound as Document;
      return s.pausedConnections >= 1 ? s : undefined;
    }, 'the hostile connection to be paused');
    const ping = await client.db('admin').command({ ping: 1 });
    const handled = ((await status()).metrics.commands.total as number) - before;
    // Assess
    assert.equal(ping.ok, 1, 'another connection is served while the hostile one is connected');
    assert.ok(inbound.maxQueuedRequests <= MAX_QUEUED_REQUESTS, `at most ${MAX_QUEUED_REQUESTS} requests wait, got ${inbound.maxQueuedRequests}`);
    assert.ok(inbound.unsentReplyBytes < 4 * 1024 * 1024, `unsent reply bytes stay about one reply, got ${inbound.unsentReplyBytes}`);
    assert.ok(handled < 200, `the server stopped running the hostile requests (ran about ${handled} commands)`);
    hostile.destroy();
    await until(async () => ((await status()).standin.inbound.pausedConnections === 0 ? true : undefined), 'the hostile connection to go');
  });

  test('a backtracking $regex over a crafted string returns no match, and other connections are served meanwhile', async () => {
    // Prepare
    const coll = client.db('hostile').collection('redos');
    await coll.insertOne({ s: `${'a'.repeat(30)}!` });
    const other = new MongoClient(standin.uri);
    await other.connect();
    // Act
    const [byString, byRegex, ping] = await Promise.all([
      coll.find({ s: { $regex: '^(a+)+$' } }).toArray(),
      coll.find({ s: /^(a|a)+$/ }).toArray(),
      other.db('admin').command({ ping: 1 }),
    ]);
    await other.close();
    // Assess
    assert.deepEqual(byString, []);
    assert.deepEqual(byRegex, []);
    assert.equal(ping.ok, 1);
  });

  test('backreferences and lookaround are refused with 51091 "Regular expression is invalid"', async () => {
    const coll = client.db('hostile').collection('redos');
    await assert.rejects(coll.find({ s: { $regex: '^(a)\\1$' } }).toArray(), (e: { code?: number; message: string }) => e.code === 51091 && e.message.startsWith('Regular expression is invalid: invalid escape sequence'));
    await assert.rejects(coll.find({ s: { $regex: 'a(?=b)' } }).toArray(), { code: 51091 });
    await assert.rejects(coll.find({ s: { $regex: 'a', $options: 'q' } }).toArray(), { code: 51108, message: 'invalid flag in regex options: q' });
  });

  test('expressions that would run a JavaScript RegExp or script are refused, so nothing bypasses the linear engine', async () => {
    const coll = client.db('hostile').collection('redos');
    const refused = (op: string) => (e: { code?: number; message: string }) => e.code === 2 && e.message.startsWith(`${op} is not supported by the stand-in`);
    await assert.rejects(coll.aggregate([{ $project: { m: { $regexMatch: { input: '$s', regex: '^(a+)+$' } } } }]).toArray(), refused('$regexMatch'));
    await assert.rejects(coll.find({ $expr: { $regexFind: { input: '$s', regex: '^(a+)+$' } } }).toArray(), refused('$regexFind'));
    await assert.rejects(coll.find({ $where: 'true' }).toArray(), refused('$where'));
  });

  test('a 40 MB message is taken in and answered, with other connections served while it arrives', async () => {
    // Prepare: 40 documents of 1 MB go as one OP_MSG (under maxMessageSizeBytes, 48,000,000).
    const docs = Array.from({ length: 40 }, (_, i) => ({ _id: i as never, pad: 'y'.repeat(1_000_000) }));
    const other = new MongoClient(standin.uri);
    await other.connect();
    // Act
    const [inserted, ping] = await Promise.all([client.db('hostile').collection('large').insertMany(docs), other.db('admin').command({ ping: 1 })]);
    await other.close();
    // Assess
    assert.equal(inserted.insertedCount, 40);
    assert.equal(ping.ok, 1);
    assert.equal(await client.db('hostile').collection('large').countDocuments(), 40);
  });

  test('the framer copies each byte of a message that spans chunks once (linear, not re-concatenated per chunk)', () => {
    // Prepare: a 40 MB message in 64 KB chunks, then a small one in the same last chunk.
    const message = Buffer.alloc(40_000_000, 1);
    message.writeInt32LE(message.length, 0);
    const small = opMsg(2, 0, [kind0({ ping: 1, $db: 'admin' })]);
    const stream = Buffer.concat([message, small]);
    const framer = new MessageFramer();
    const out: Buffer[] = [];
    // Act
    for (let at = 0; at < stream.length; at += 65_536) {
      framer.push(stream.subarray(at, at + 65_536));
      for (let len = framer.nextLength(); len !== null; len = framer.nextLength()) {
        const m = framer.take(len);
        if (!m) break;
        out.push(m);
      }
    }
    // Assess
    assert.deepEqual(out.map((m) => m.length), [message.length, small.length]);
    assert.ok(out[0]!.equals(message));
    assert.equal(framer.copiedBytes, message.length, 'only the spanning message was copied, once');
    assert.equal(framer.bufferedBytes, 0);
  });

  test('delete with a limit other than 0 or 1, or without one, is refused as mongod does', async () => {
    const db = client.db('hostile');
    await db.collection('del').insertMany([{ a: 1 }, { a: 1 }, { a: 1 }]);
    await assert.rejects(db.command({ delete: 'del', deletes: [{ q: {}, limit: 2 }] }), { code: 9, message: 'The limit field in delete objects must be 0 or 1. Got 2' });
    await assert.rejects(db.command({ delete: 'del', deletes: [{ q: {}, limit: 0.5 }] }), { code: 9, message: 'The limit field in delete objects must be 0 or 1. Got 0.5' });
    await assert.rejects(db.command({ delete: 'del', deletes: [{ q: {} }] }), { code: 40414 });
    assert.equal((await db.collection('del').deleteOne({ a: 1 })).deletedCount, 1);
    assert.equal(await db.collection('del').countDocuments(), 2);
  });

  test('__proto__, constructor and prototype in documents, filters, projections and updates are refused; nothing is polluted', async () => {
    const coll = client.db('hostile').collection('proto');
    await coll.insertOne({ _id: 1 as never, a: 1 });
    const refused = (field: string) => (e: { code?: number; message: string }) => e.code === 2 && e.message.includes(`'${field}'`) && e.message.includes('rename the field');
    await assert.rejects(coll.insertOne(JSON.parse('{"__proto__": {"polluted": 1}}')), refused('__proto__'));
    await assert.rejects(coll.find({ '__proto__.polluted': 1 }).toArray(), refused('__proto__'));
    await assert.rejects(coll.find({}, { projection: { 'constructor.prototype': 1 } }).toArray(), refused('constructor'));
    await assert.rejects(coll.updateOne({ _id: 1 as never }, { $set: { 'constructor.prototype.polluted': 1 } }), refused('constructor'));
    await assert.rejects(coll.aggregate([{ $addFields: { x: '$__proto__.polluted' } }]).toArray(), refused('__proto__'));
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    assert.deepEqual(await coll.findOne({ _id: 1 as never }), { _id: 1, a: 1 });
  });

  test('find skip, limit and batchSize are type-checked and range-checked as the IDL does', async () => {
    const db = client.db('hostile');
    const wrongType = (field: string, type: string) => ({ code: 14, message: `BSON field 'FindCommandRequest.${field}' is the wrong type '${type}', expected types '[long, int, decimal, double']` });
    await assert.rejects(db.command({ find: 'big', limit: 'ten' }), wrongType('limit', 'string'));
    await assert.rejects(db.command({ find: 'big', skip: true }), wrongType('skip', 'bool'));
    await assert.rejects(db.command({ find: 'big', batchSize: {} }), wrongType('batchSize', 'object'));
    await assert.rejects(db.command({ find: 'big', limit: -1 }), { code: 51024, message: "BSON field 'limit' value must be >= 0, actual value '-1'" });
    const ok = await db.command({ find: 'big', limit: 2, skip: 1, batchSize: 1, projection: { _id: 1 } });
    assert.deepEqual(ok.cursor.firstBatch, [{ _id: 1 }]);
  });

  test('serverStatus.connections counts the connections open, created and active', async () => {
    const base = (await status()).connections as Document;
    const sockets = await Promise.all([1, 2, 3].map(() => rawSocket(standin.port)));
    const opened = await until(async () => {
      const c = (await status()).connections as Document;
      return c.current === base.current + 3 ? c : undefined;
    }, 'three more connections');
    assert.ok(opened.totalCreated >= base.totalCreated + 3);
    assert.equal(opened.available, 1_000_000 - opened.current);
    assert.ok(opened.active >= 1, 'the serverStatus command itself is in progress');
    for (const s of sockets) s.destroy();
    const closed = await until(async () => {
      const c = (await status()).connections as Document;
      return c.current === base.current ? c : undefined;
    }, 'the three connections to close');
    assert.equal(closed.totalCreated, opened.totalCreated);
  });
});
