/**
 * The wire protocol and bad input: the legacy OP_QUERY handshake answered with OP_REPLY, OP_MSG with
 * document sequences and moreToCome, unknown commands (59), malformed BSON, unknown opcodes and oversized
 * messages answered without taking the server down. Raw sockets are used only where the driver cannot
 * produce the bytes; everything else goes through the driver.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { BSON, type Document } from 'bson';
import type { MongoClient } from 'mongodb';
import { startTarget, targetKinds, type Target } from './target.ts';
import { header, kind0, kind1, opMsg, opQuery, Raw } from './raw-wire.ts';

for (const kind of targetKinds()) {
  describe(`wire protocol (${kind})`, () => {
    let target: Target;
    let client: MongoClient;
    let port: number;
    before(async () => {
      target = await startTarget(kind, { auth: false });
      client = await target.client();
      port = Number(new URL(target.adminUri.replace(/^mongodb:/, 'http:')).port || 27017);
    });
    after(async () => {
      await target?.stop();
    });

    test('the legacy OP_QUERY isMaster handshake is answered with OP_REPLY', async () => {
      const raw = await Raw.connect(port);
      const reply = await raw.send(opQuery(1, 'admin.$cmd', { isMaster: 1, helloOk: true, client: { application: { name: 'raw' } } }));
      assert.equal(reply?.opCode, 1);
      assert.equal(reply?.doc.ok, 1);
      assert.equal(reply?.doc.ismaster, true);
      assert.equal(reply?.doc.helloOk, true);
      assert.equal(typeof reply?.doc.logicalSessionTimeoutMinutes, 'number');
      assert.equal(reply?.doc.topologyVersion, undefined, 'no topologyVersion keeps the driver polling');
      raw.end();
    });

    test('other commands over OP_QUERY are refused with 352 UnsupportedOpQueryCommand', async () => {
      const raw = await Raw.connect(port);
      const reply = await raw.send(opQuery(2, 'admin.$cmd', { ping: 1 }));
      assert.equal(reply?.doc.code, 352);
      raw.end();
    });

    test('OP_MSG document sequences (kind 1) are merged into the command', async () => {
      const raw = await Raw.connect(port);
      const coll = `seq_${Date.now()}`;
      const reply = await raw.send(opMsg(3, 0, [kind0({ insert: coll, $db: 'test' }), kind1('documents', [{ a: 1 }, { a: 2 }])]));
      assert.equal(reply?.opCode, 2013);
      assert.equal(reply?.doc.n, 2);
      assert.equal(await client.db('test').collection(coll).countDocuments(), 2);
      raw.end();
    });

    test('moreToCome from the client gets no reply, and the command still runs', async () => {
      const raw = await Raw.connect(port);
      const coll = `mtc_${Date.now()}`;
      raw.write(opMsg(4, 2, [kind0({ insert: coll, documents: [{ x: 1 }], $db: 'test' })]));
      const next = await raw.send(opMsg(5, 0, [kind0({ ping: 1, $db: 'admin' })]));
      assert.equal(next?.doc.ok, 1, 'the next reply is the ping\'s');
      assert.equal(await client.db('test').collection(coll).countDocuments(), 1);
      raw.end();
    });

    test('an unknown command gets 59 CommandNotFound', async () => {
      await assert.rejects(client.db('admin').command({ noSuchCommandHere: 1 }), { code: 59, codeName: 'CommandNotFound', message: "no such command: 'noSuchCommandHere'" });
    });

    test('malformed BSON gets an error reply and the connection stays usable', async () => {
      const raw = await Raw.connect(port);
      const bad = Buffer.from(BSON.serialize({ ping: 1, $db: 'admin' }));
      bad.writeInt32LE(bad.length + 100, 0);
      const reply = await raw.send(opMsg(6, 0, [kind0(bad)]));
      assert.equal(reply?.doc.ok, 0);
      assert.equal(reply?.doc.code, 22);
      const ping = await raw.send(opMsg(7, 0, [kind0({ ping: 1, $db: 'admin' })]));
      assert.equal(ping?.doc.ok, 1);
      raw.end();
    });

    test('an unknown opcode gets an error reply, never a crash', async () => {
      const raw = await Raw.connect(port);
      const reply = await raw.send(Buffer.concat([header(20, 8, 2002), Buffer.alloc(4)]));
      // The stand-in answers with an error document; a real server may instead close the connection.
      if (kind === 'stand-in') assert.equal(reply?.doc.ok, 0);
      else assert.ok(reply === null || reply.doc.ok === 0);
      assert.equal((await client.db('admin').command({ ping: 1 })).ok, 1, 'the server is still up');
      raw.end();
    });

    test('a message over 48 MB closes that connection only; others carry on', async () => {
      const raw = await Raw.connect(port);
      const reply = await raw.send(header(48_000_001, 9, 2013));
      assert.equal(reply, null, 'the connection is closed');
      assert.equal((await client.db('admin').command({ ping: 1 })).ok, 1, 'the driver\'s connections still work');
    });

    test('wrong field types get the server\'s error reply', async () => {
      await assert.rejects(client.db('test').command({ find: 5 }), { code: 73 });
      await assert.rejects(client.db('test').command({ insert: 'c', documents: 'no' }), { code: 14 });
    });

    test('buildInfo, serverStatus, getParameter and connectionStatus answer', async () => {
      const admin = client.db('admin');
      assert.match((await admin.command({ buildInfo: 1 })).version, /^\d+\.\d+/);
      const status = await admin.command({ serverStatus: 1 });
      assert.ok(status.connections.current >= 1);
      assert.equal(typeof status.uptime, 'number');
      assert.equal((await admin.command({ getParameter: 1, transactionLifetimeLimitSeconds: 1 })).transactionLifetimeLimitSeconds, 60);
      assert.ok(Array.isArray((await admin.command({ connectionStatus: 1 })).authInfo.authenticatedUsers));
    });
  });
}
