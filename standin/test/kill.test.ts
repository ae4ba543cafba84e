/**
 * Killing sessions under access control, through the official driver: the auth matrix of killSessions,
 * the empty-array meanings, pattern semantics, the effects in the server's order, and the error table.
 * What it holds the stand-in to: docs/server-semantics.md#kill-and-end-commands and
 * docs/server-semantics.md#what-a-kill-does.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Binary, type ClientSession, type MongoClient } from 'mongodb';
import { needsAuth, standinOnly, startTarget, targetKinds, targetNotice, type Target } from './target.ts';

const sha256 = (s: string): Binary => new Binary(createHash('sha256').update(s).digest(), 0);

test('end-to-end target', (t) => {
  t.diagnostic(targetNotice());
});

async function openCursor(client: MongoClient, session: ClientSession, coll: string) {
  const c = client.db('test').collection(coll);
  const cursor = c.find({}, { session, batchSize: 1 });
  assert.ok(await cursor.next(), 'the first batch has a document');
  return cursor;
}

async function waitForOp(admin: MongoClient, match: Record<string, unknown>): Promise<Record<string, unknown>> {
  for (let i = 0; i < 200; i++) {
    const ops = await admin.db('admin').aggregate([{ $currentOp: { allUsers: true } }, { $match: match }]).toArray();
    if (ops.length) return ops[0];
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`no operation matched ${JSON.stringify(match)} in $currentOp`);
}

for (const kind of targetKinds()) {
  describe(`killSessions under access control (${kind})`, () => {
    let target: Target;
    let admin: MongoClient;
    let alice: MongoClient;
    let aliceUser: string;
    let bob: MongoClient;
    let reaper: MongoClient;
    let weak: MongoClient;
    let coll: string;

    before(async () => {
      target = await startTarget(kind, { auth: true });
      admin = await target.client();
      const a = await target.createUser('alice', [{ role: 'readWrite', db: 'test' }]);
      aliceUser = a.user;
      alice = await target.client(a.uri);
      bob = await target.client((await target.createUser('bob', [{ role: 'readWrite', db: 'test' }])).uri);
      const role = await target.createRole('sessionReaper', [{ resource: { cluster: true }, actions: ['listSessions', 'killAnySession', 'inprog', 'killop'] }]);
      reaper = await target.client((await target.createUser('reaper', [role])).uri);
      weak = await target.client((await target.createUser('weak', [{ role: 'readWrite', db: 'test' }, { role: 'clusterMonitor', db: 'admin' }])).uri);
      coll = `kill_${Date.now()}`;
      await admin.db('test').collection(coll).insertMany([{ n: 1 }, { n: 2 }, { n: 3 }, { n: 4 }]);
    });
    after(async () => {
      await target?.stop();
    });

    test('a bare id only matches the caller\'s own sessions, even for root', async (t) => {
      if (needsAuth(t, target)) return;
      // Prepare
      const session = alice.startSession();
      const cursor = await openCursor(alice, session, coll);
      // Act
      const reply = await admin.db('admin').command({ killSessions: [{ id: session.id!.id }] });
      // Assess
      assert.equal(reply.ok, 1);
      assert.ok(await cursor.next(), 'alice\'s cursor survives a bare-id kill by root');
      await cursor.close();
      await session.endSession();
    });

    test('a foreign uid needs killAnySession: without it the kill is refused with 13', async (t) => {
      if (needsAuth(t, target)) return;
      // Prepare
      const session = alice.startSession();
      const cursor = await openCursor(alice, session, coll);
      // Act
      const attempt = weak.db('admin').command({ killSessions: [{ id: session.id!.id, uid: sha256(`${aliceUser}@admin`) }] });
      // Assess
      await assert.rejects(attempt, { code: 13, message: 'Unauthorized to set user digest in LogicalSessionId' });
      assert.ok(await cursor.next(), 'the cursor is untouched');
      await cursor.close();
      await session.endSession();
    });

    test('with killAnySession, {id, uid} kills another user\'s session: its cursor is gone (43)', async (t) => {
      if (needsAuth(t, target)) return;
      // Prepare
      const session = alice.startSession();
      const cursor = await openCursor(alice, session, coll);
      // Act
      await reaper.db('admin').command({ killSessions: [{ id: session.id!.id, uid: sha256(`${aliceUser}@admin`) }] });
      // Assess
      await assert.rejects(cursor.next(), { code: 43, codeName: 'CursorNotFound' });
      await session.endSession();
    });

    test('killSessions [] under auth kills only the caller\'s own sessions', async (t) => {
      if (needsAuth(t, target)) return;
      // Prepare
      const aliceSession = alice.startSession();
      const bobSession = bob.startSession();
      const aliceCursor = await openCursor(alice, aliceSession, coll);
      const bobCursor = await openCursor(bob, bobSession, coll);
      // Act
      await bob.db('admin').command({ killSessions: [] });
      // Assess
      await assert.rejects(bobCursor.next(), { code: 43 });
      assert.ok(await aliceCursor.next(), 'alice\'s cursor survives bob\'s kill-all-of-mine');
      await aliceCursor.close();
      await aliceSession.endSession();
      await bobSession.endSession();
    });

    test('killAllSessions needs killAnySession even for the caller\'s own sessions', async (t) => {
      if (needsAuth(t, target)) return;
      // Act
      const attempt = alice.db('admin').command({ killAllSessions: [{ user: aliceUser, db: 'admin' }] });
      // Assess
      await assert.rejects(attempt, { code: 13, message: 'Unauthorized' });
    });

    test('killAllSessions [{user, db}] kills that user\'s sessions and no one else\'s', async (t) => {
      if (needsAuth(t, target)) return;
      // Prepare
      const aliceSession = alice.startSession();
      const bobSession = bob.startSession();
      const aliceCursor = await openCursor(alice, aliceSession, coll);
      const bobCursor = await openCursor(bob, bobSession, coll);
      // Act
      await reaper.db('admin').command({ killAllSessions: [{ user: aliceUser, db: 'admin' }] });
      // Assess
      await assert.rejects(aliceCursor.next(), { code: 43 });
      assert.ok(await bobCursor.next());
      await bobCursor.close();
      await aliceSession.endSession();
      await bobSession.endSession();
    });

    test('killAllSessionsByPattern with users needs impersonate, which root does not have', async (t) => {
      if (needsAuth(t, target)) return;
      // Act
      const attempt = admin.db('admin').command({ killAllSessionsByPattern: [{ users: [{ user: aliceUser, db: 'admin' }] }] });
      // Assess
      await assert.rejects(attempt, { code: 13, message: 'Not authorized to impersonate in killAllSessionsByPattern' });
    });

    test('killAllSessionsByPattern: users are impersonation data, not a filter: {users} kills everyone\'s sessions', async (t) => {
      if (needsAuth(t, target)) return;
      if (standinOnly(t, target, 'needs a user holding the internal __system role (impersonate)')) return;
      // Prepare: an internal user (impersonate + killAnySession), and cursors of alice and bob.
      const internal = await target.client((await target.createUser('internal', [{ role: '__system', db: 'admin' }])).uri);
      const aliceSession = alice.startSession();
      const bobSession = bob.startSession();
      const aliceCursor = await openCursor(alice, aliceSession, coll);
      const bobCursor = await openCursor(bob, bobSession, coll);
      // Act: a pattern naming only a user that does not exist.
      await internal.db('admin').command({ killAllSessionsByPattern: [{ users: [{ user: 'nobody', db: 'admin' }], roles: [] }] });
      // Assess: both cursors are gone (FerretDB PatternNotMatchedUser, checked against MongoDB).
      await assert.rejects(aliceCursor.next(), { code: 43 });
      await assert.rejects(bobCursor.next(), { code: 43 });
      await aliceSession.endSession();
      await bobSession.endSession();
    });

    test('killAllSessionsByPattern {uid} kills every session of that uid', async (t) => {
      if (needsAuth(t, target)) return;
      // Prepare
      const s1 = alice.startSession();
      const s2 = alice.startSession();
      const c1 = await openCursor(alice, s1, coll);
      const c2 = await openCursor(alice, s2, coll);
      // Act
      await reaper.db('admin').command({ killAllSessionsByPattern: [{ uid: sha256(`${aliceUser}@admin`) }] });
      // Assess
      await assert.rejects(c1.next(), { code: 43 });
      await assert.rejects(c2.next(), { code: 43 });
      await s1.endSession();
      await s2.endSession();
    });

    test('a running operation of a killed session is interrupted with 11601', async (t) => {
      if (needsAuth(t, target)) return;
      // Prepare
      const session = alice.startSession();
      const sleeping = alice.db('admin').command({ sleep: 1, secs: 30, lock: 'none' }, { session });
      const outcome = sleeping.then(() => 'finished', (e) => e);
      await waitForOp(admin, { 'command.sleep': 1, 'lsid.id': session.id!.id });
      // Act
      await reaper.db('admin').command({ killSessions: [{ id: session.id!.id, uid: sha256(`${aliceUser}@admin`) }] });
      // Assess
      const err = await outcome;
      assert.equal(err.code, 11601);
      assert.equal(err.codeName, 'Interrupted');
      await session.endSession();
    });

    test('an idle transaction of a killed session is aborted: commit gets 251', async (t) => {
      if (needsAuth(t, target)) return;
      // Prepare
      const session = alice.startSession();
      session.startTransaction();
      await alice.db('test').collection(coll).insertOne({ inTxn: true }, { session });
      // Act
      await reaper.db('admin').command({ killSessions: [{ id: session.id!.id, uid: sha256(`${aliceUser}@admin`) }] });
      // Assess
      await assert.rejects(session.commitTransaction(), { code: 251, codeName: 'NoSuchTransaction' });
      assert.equal(await admin.db('test').collection(coll).countDocuments({ inTxn: true }), 0, 'the aborted write is not visible');
      await session.endSession();
    });

    test('a prepared transaction survives killSessions and still shows in $currentOp', async (t) => {
      if (needsAuth(t, target)) return;
      // Prepare
      const session = alice.startSession();
      session.startTransaction();
      await alice.db('test').collection(coll).insertOne({ prepared: true }, { session });
      await alice.db('admin').command({ prepareTransaction: 1 }, { session });
      // Act
      await reaper.db('admin').command({ killSessions: [{ id: session.id!.id, uid: sha256(`${aliceUser}@admin`) }] });
      // Assess
      const idle = await admin.db('admin').aggregate([
        { $currentOp: { allUsers: true, idleSessions: true } },
        { $match: { type: 'idleSession', 'lsid.id': session.id!.id } },
      ]).toArray();
      assert.equal(idle.length, 1, 'the prepared transaction is still there');
      assert.ok(idle[0].transaction.timePreparedMicros !== undefined, 'it is reported as prepared');
      await session.abortTransaction();
      await session.endSession();
    });

    test('a killed session keeps its record and its lsid works again', async (t) => {
      if (needsAuth(t, target)) return;
      // Prepare
      const session = alice.startSession();
      await alice.db('test').collection(coll).findOne({}, { session });
      // Act
      await reaper.db('admin').command({ killSessions: [{ id: session.id!.id, uid: sha256(`${aliceUser}@admin`) }] });
      const again = await alice.db('test').collection(coll).find({}, { session, batchSize: 1 }).toArray();
      // Assess
      assert.equal(again.length >= 4, true, 'find and getMore on the killed lsid both succeed');
      const local = await reaper.db('admin').aggregate([{ $listLocalSessions: { allUsers: true } }, { $match: { '_id.id': session.id!.id } }]).toArray();
      assert.equal(local.length, 1, 'the session is still in the cache');
      await session.endSession();
    });

    test('killSessions of an unknown session, or of one already killed, is ok:1', async (t) => {
      if (needsAuth(t, target)) return;
      // Prepare
      const unknown = new Binary(Buffer.alloc(16, 7), 4);
      // Act
      const r1 = await reaper.db('admin').command({ killSessions: [{ id: unknown }] });
      const r2 = await reaper.db('admin').command({ killSessions: [{ id: unknown, uid: sha256('nobody@admin') }] });
      // Assess
      assert.equal(r1.ok, 1);
      assert.equal(r2.ok, 1);
    });

    test('killOp of another user\'s operation needs killop; the reaper role has it', async (t) => {
      if (needsAuth(t, target)) return;
      // Prepare
      const session = alice.startSession();
      const outcome = alice.db('admin').command({ sleep: 1, secs: 30, lock: 'none' }, { session }).then(() => 'finished', (e) => e);
      const op = await waitForOp(admin, { 'command.sleep': 1, 'lsid.id': session.id!.id });
      // Act
      const refused = bob.db('admin').command({ killOp: 1, op: op.opid as number });
      await assert.rejects(refused, { code: 13 });
      const reply = await reaper.db('admin').command({ killOp: 1, op: op.opid as number });
      // Assess
      assert.equal(reply.info, 'attempting to kill op');
      assert.equal((await outcome).code, 11601);
      await session.endSession();
    });
  });

  describe(`killSessions without access control (${kind})`, () => {
    let target: Target;
    let a: MongoClient;
    let b: MongoClient;
    let coll: string;
    before(async () => {
      target = await startTarget(kind, { auth: false });
      a = await target.client();
      b = await target.client();
      coll = `kill_noauth_${Date.now()}`;
      await a.db('test').collection(coll).insertMany([{ n: 1 }, { n: 2 }, { n: 3 }]);
    });
    after(async () => {
      await target?.stop();
    });

    test('killSessions [] kills every session on the node when auth is off', async (t) => {
      if (target.auth) {
        t.skip('MONGODB_URI has credentials; this case needs a server without access control');
        return;
      }
      // Prepare
      const s1 = a.startSession();
      const s2 = b.startSession();
      const c1 = await openCursor(a, s1, coll);
      const c2 = await openCursor(b, s2, coll);
      // Act
      await b.db('admin').command({ killSessions: [] });
      // Assess
      await assert.rejects(c1.next(), { code: 43 });
      await assert.rejects(c2.next(), { code: 43 });
      await s1.endSession();
      await s2.endSession();
    });

    test('killSessions element errors are the server\'s IDL errors', async () => {
      const cmd = (v: unknown) => a.db('admin').command({ killSessions: v });
      const uuid = new Binary(Buffer.alloc(16, 1), 4);
      await assert.rejects(cmd('x'), { code: 14, message: "BSON field 'KillSessionsCmd.killSessions' is the wrong type 'string', expected type 'array'" });
      await assert.rejects(cmd(['x']), { code: 14, message: "BSON field 'KillSessionsCmd.killSessions.0' is the wrong type 'string', expected type 'object'" });
      await assert.rejects(cmd([{}]), { code: 40414, message: "BSON field 'KillSessionsCmd.killSessions.id' is missing but a required field" });
      await assert.rejects(cmd([{ id: new Binary(Buffer.alloc(0), 4) }]), { code: 207, message: 'uuid must be a 16-byte binary field with UUID (4) subtype' });
      await assert.rejects(cmd([{ id: 'x' }]), { code: 14, message: "BSON field 'KillSessionsCmd.killSessions.id' is the wrong type 'string', expected type 'binData'" });
      await assert.rejects(cmd([{ id: new Binary(Buffer.alloc(16), 0) }]), { code: 14, message: "BSON field 'KillSessionsCmd.killSessions.id' is the wrong binData type 'general', expected type 'UUID'" });
      await assert.rejects(cmd([{ id: uuid, uid: new Binary(Buffer.alloc(5), 0) }]), { code: 12, message: 'Unsupported SHA256Block hash length: 5' });
      await assert.rejects(cmd([{ id: uuid, foo: 1 }]), { code: 40415, message: "BSON field 'KillSessionsCmd.killSessions.foo' is an unknown field." });
    });

    test('killAllSessionsByPattern errors are the server\'s IDL errors', async () => {
      const P = 'KillAllSessionsByPatternCmd.killAllSessionsByPattern';
      const cmd = (v: unknown) => a.db('admin').command({ killAllSessionsByPattern: v });
      await assert.rejects(cmd('invalid'), { code: 14, message: `BSON field '${P}' is the wrong type 'string', expected type 'array'` });
      await assert.rejects(cmd([{ invalid: 'foo' }]), { code: 40415, message: `BSON field '${P}.invalid' is an unknown field.` });
      await assert.rejects(cmd([{ lsid: {} }]), { code: 40414, message: `BSON field '${P}.lsid.id' is missing but a required field` });
      await assert.rejects(cmd([{ lsid: { id: new Binary(Buffer.alloc(16), 4) } }]), { code: 40414, message: `BSON field '${P}.lsid.uid' is missing but a required field` });
      await assert.rejects(cmd([{ users: [{ user: 'foo' }] }]), { code: 40414, message: `BSON field '${P}.users.db' is missing but a required field` });
    });

    test('killOp answers "attempting to kill op" for an unknown op and rejects bad op values', async () => {
      const killOp = (op: unknown, db = 'admin') => a.db(db).command({ killOp: 1, ...(op === undefined ? {} : { op }) });
      assert.equal((await killOp(123456)).info, 'attempting to kill op');
      await assert.rejects(killOp(undefined), { code: 4, message: 'Missing expected field "op"' });
      await assert.rejects(killOp('invalid'), { code: 14, message: 'Expected field "op" to have numeric type, but found string' });
      await assert.rejects(killOp(1.1), { code: 2, message: 'Expected field "op" to have a value exactly representable as a 64-bit integer, but found op: 1.1' });
      await assert.rejects(killOp(1, 'test'), { code: 13, message: 'killOp may only be run against the admin database.' });
    });
  });
}
