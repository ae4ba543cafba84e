/**
 * Access control through the driver: SCRAM-SHA-256 and SCRAM-SHA-1 logins, user and role management with
 * the real commands, built-in role actions, and the server's Unauthorized replies.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { MongoClient } from 'mongodb';
import { needsAuth, startTarget, targetKinds, type Target } from './target.ts';

for (const kind of targetKinds()) {
  describe(`access control (${kind})`, () => {
    let target: Target;
    let admin: MongoClient;
    before(async () => {
      target = await startTarget(kind, { auth: true });
      admin = await target.client();
    });
    after(async () => {
      await target?.stop();
    });

    test('SCRAM-SHA-1 and SCRAM-SHA-256 logins both work', async (t) => {
      if (needsAuth(t, target)) return;
      const { uri } = await target.createUser('both', [{ role: 'read', db: 'test' }]);
      for (const mechanism of ['SCRAM-SHA-1', 'SCRAM-SHA-256']) {
        const c = await target.client(`${uri}&authMechanism=${mechanism}`);
        const status = await c.db('admin').command({ connectionStatus: 1 });
        assert.equal(status.authInfo.authenticatedUsers.length, 1, mechanism);
      }
    });

    test('usersInfo shows a user\'s roles; grantRolesToUser adds one; dropUser removes the user', async (t) => {
      if (needsAuth(t, target)) return;
      // Prepare
      const { user } = await target.createUser('managed', [{ role: 'read', db: 'test' }]);
      // Act
      await admin.db('admin').command({ grantRolesToUser: user, roles: [{ role: 'clusterMonitor', db: 'admin' }] });
      const info = await admin.db('admin').command({ usersInfo: user });
      // Assess
      assert.deepEqual(info.users[0].roles.map((r: { role: string }) => r.role).sort(), ['clusterMonitor', 'read']);
      await admin.db('admin').command({ dropUser: user });
      assert.equal((await admin.db('admin').command({ usersInfo: user })).users.length, 0);
    });

    test('a custom role with database privileges grants exactly those actions', async (t) => {
      if (needsAuth(t, target)) return;
      // Prepare
      const role = await target.createRole('ordersReader', [{ resource: { db: 'shop', collection: 'orders' }, actions: ['find'] }]);
      const { uri } = await target.createUser('reader', [{ role, db: 'admin' }]);
      await admin.db('shop').collection('orders').insertOne({ a: 1 });
      const c = await target.client(uri);
      // Act + Assess
      assert.equal((await c.db('shop').collection('orders').find().toArray()).length >= 1, true);
      await assert.rejects(c.db('shop').collection('orders').insertOne({ b: 1 }), { code: 13 });
      await assert.rejects(c.db('shop').collection('other').findOne({}), { code: 13 });
    });

    test('readWrite cannot list other users\' sessions or kill them; clusterMonitor can list but not kill', async (t) => {
      if (needsAuth(t, target)) return;
      const rw = await target.client((await target.createUser('rw', [{ role: 'readWrite', db: 'test' }])).uri);
      const mon = await target.client((await target.createUser('mon', [{ role: 'clusterMonitor', db: 'admin' }])).uri);
      await assert.rejects(rw.db('admin').aggregate([{ $currentOp: { allUsers: true } }]).toArray(), { code: 13 });
      assert.ok(Array.isArray(await mon.db('admin').aggregate([{ $currentOp: { allUsers: true } }]).toArray()));
      await assert.rejects(mon.db('admin').command({ killAllSessions: [] }), { code: 13, message: 'Unauthorized' });
    });

    test('an unauthenticated client can run hello but nothing that needs a user', async (t) => {
      if (needsAuth(t, target)) return;
      const anonymous = await target.client(target.adminUri.replace(/\/\/[^@]*@/, '//'));
      assert.equal((await anonymous.db('admin').command({ hello: 1 })).ok, 1);
      await assert.rejects(anonymous.db('admin').command({ killSessions: [] }), { code: 13, message: /^command killSessions requires authentication$/i });
    });
  });
}
