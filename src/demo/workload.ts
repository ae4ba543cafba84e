/**
 * The demo workload: real driver connections, as several users, each holding something the default
 * policies have an opinion about. Shared by `npm start` and the end-to-end tests, so the demo shows
 * exactly what the tests assert.
 */
import { readFileSync } from 'node:fs';
import { MongoClient, type ClientSession, type FindCursor, type Document } from 'mongodb';
import { shippedPath } from '../util/shipped-path.ts';

export const REAPER_ROLE_DOCUMENT: Document = JSON.parse(readFileSync(shippedPath('infra/mongodb-role.json'), 'utf8'));

export interface DemoUsers {
  adminUri: string;
  /** Builds a connection string for a user created on admin. */
  uriFor(user: string, password: string): string;
}

/** What each client of the workload is doing, and how it ends once the reaper has run. */
export interface Workload {
  reaperUri: string;
  /** Settles with what the client saw: "ok" or "<code> <codeName>". */
  outcomes(): Promise<Record<string, string>>;
  close(): Promise<void>;
}

async function connect(uri: string, appName: string): Promise<MongoClient> {
  const c = new MongoClient(uri, { appName, retryReads: false, retryWrites: false });
  await c.connect();
  return c;
}

function seen(p: Promise<unknown>): Promise<string> {
  return p.then(() => 'ok', (e: { code?: number; codeName?: string; message?: string }) => `${e.code ?? '?'} ${e.codeName ?? e.message ?? ''}`.trim());
}

/**
 * Creates the users (reaper with the least-privilege role only) and starts:
 *  - orders-api (alice): a transaction left idle after one insert      -> idle-transaction
 *  - reporting-job (bob): an operation that runs for a minute          -> runaway-operation
 *  - analytics (carol): a cursor opened and left unused                -> application-unknown (idle cursors carry no appName)
 *  - mongodump (backup): a long operation by a backup tool             -> protected
 *  - payments (dave): a prepared transaction                           -> protected, never killed
 */
export async function startWorkload(users: DemoUsers): Promise<Workload> {
  const admin = new MongoClient(users.adminUri);
  await admin.connect();
  const adminDb = admin.db('admin');
  await adminDb.command(REAPER_ROLE_DOCUMENT);
  const password = 'demo-password';
  const create = (user: string, roles: Document[]) => adminDb.command({ createUser: user, pwd: password, roles });
  await create('reaper', [{ role: 'sessionReaper', db: 'admin' }]);
  for (const u of ['alice', 'bob', 'carol', 'backup', 'dave']) await create(u, [{ role: 'readWrite', db: 'shop' }]);
  await admin.db('shop').collection('orders').insertMany(Array.from({ length: 50 }, (_, i) => ({ _id: i as never, status: i % 3 ? 'open' : 'paid', total: i * 10 })));

  const alice = await connect(users.uriFor('alice', password), 'orders-api');
  const bob = await connect(users.uriFor('bob', password), 'reporting-job');
  const carol = await connect(users.uriFor('carol', password), 'analytics');
  const backup = await connect(users.uriFor('backup', password), 'mongodump');
  const dave = await connect(users.uriFor('dave', password), 'payments');

  // alice: a transaction with one write, then silence.
  const aliceSession: ClientSession = alice.startSession();
  aliceSession.startTransaction();
  await alice.db('shop').collection('orders').insertOne({ _id: 1000 as never, status: 'new', total: 99 }, { session: aliceSession });

  // bob and backup: long operations (the test command sleep stands in for a heavy query).
  const bobSession = bob.startSession();
  // bob's report runs on a secondary (read preference "secondary"): only that member's $currentOp shows it.
  const bobOp = seen(bob.db('admin').command({ sleep: 1, secs: 60, lock: 'none' }, { session: bobSession, readPreference: 'secondary' }));
  const backupSession = backup.startSession();
  const backupOp = seen(backup.db('admin').command({ sleep: 1, secs: 5, lock: 'none' }, { session: backupSession }));

  // carol: a cursor with more to read, left open.
  const carolSession = carol.startSession();
  const carolCursor: FindCursor = carol.db('shop').collection('orders').find({}, { session: carolSession, batchSize: 5 });
  await carolCursor.next();

  // dave: a transaction prepared for a two-phase commit, waiting for its coordinator.
  const daveSession = dave.startSession();
  daveSession.startTransaction();
  await dave.db('shop').collection('orders').updateOne({ _id: 1 as never }, { $set: { status: 'settling' } }, { session: daveSession });
  await dave.db('admin').command({ prepareTransaction: 1 }, { session: daveSession });

  return {
    reaperUri: users.uriFor('reaper', password),
    async outcomes() {
      const [aliceCommit, bobSleep, carolNext, backupSleep, daveState] = await Promise.all([
        seen(aliceSession.commitTransaction()),
        bobOp,
        seen(carolCursor.toArray()),
        backupOp,
        seen(admin.db('admin').aggregate([{ $currentOp: { allUsers: true, idleSessions: true } }, { $match: { 'lsid.id': daveSession.id!.id, 'transaction.timePreparedMicros': { $exists: true } } }]).toArray()
          .then((docs) => (docs.length === 1 ? undefined : Promise.reject(new Error('prepared transaction missing'))))),
      ]);
      return {
        'orders-api (alice) commitTransaction': aliceCommit,
        'reporting-job (bob) running query': bobSleep,
        'analytics (carol) getMore': carolNext,
        'mongodump (backup) running dump': backupSleep,
        'payments (dave) prepared transaction': daveState === 'ok' ? 'ok (still prepared)' : daveState,
      };
    },
    async close() {
      await daveSession.abortTransaction().catch(() => {});
      for (const s of [aliceSession, bobSession, backupSession, carolSession, daveSession]) await s.endSession().catch(() => {});
      for (const c of [alice, bob, carol, backup, dave, admin]) await c.close(true).catch(() => {});
    },
  };
}
