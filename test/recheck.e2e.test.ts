/**
 * The re-check before each kill batch, end to end: the official driver against the stand-in (ManualClock, the
 * reaper's `now` on the same clock). Between the scan and the kill, one session's transaction runs a statement
 * and another session's cursor is used: both are skipped with what changed, the unchanged candidate of the same
 * batch is killed, and the re-check costs one round trip per batch.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { MongoClient, MongoServerError } from 'mongodb';
import { MongoAdapter } from '../src/adapters/mongodb/adapter.ts';
import { InMemoryAuditSink } from '../src/adapters/audit-sinks.ts';
import { DEFAULT_POLICIES_DIR } from '../src/service/config.ts';
import { runPass } from '../src/pass/pass.ts';
import { loadPolicySet } from '../src/pass/policy/load.ts';
import type { Activity, ActivityFilter, MongoPort } from '../src/pass/ports.ts';
import { ManualClock } from '../standin/src/clock.ts';
import { startStandin, type RunningStandin } from '../standin/src/server.ts';
import { clockedPassOptions } from './support/clocked-pass.ts';

/** The real adapter, with something done on the server right before the re-check reads it: "between the scan and the kill". */
function withBeforeRecheck(adapter: MongoAdapter, beforeRecheck: () => Promise<void>): MongoPort {
  return new Proxy(adapter, {
    get(target, prop, receiver) {
      if (prop === 'currentOpOf') {
        return async (filter: ActivityFilter): Promise<Activity[]> => {
          await beforeRecheck();
          return target.currentOpOf(filter);
        };
      }
      const v = Reflect.get(target, prop, receiver);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}

describe('the re-check before a kill batch (stand-in)', () => {
  const clock = new ManualClock(Date.UTC(2026, 0, 5, 9, 0, 0));
  let standin: RunningStandin;
  let app: MongoClient;

  before(async () => {
    standin = await startStandin({ clock });
    app = new MongoClient(standin.uri, { appName: 'orders-service', retryWrites: false });
    await app.connect();
    await app.db('shop').collection<{ _id: number }>('items').insertMany(Array.from({ length: 10 }, (_, i) => ({ _id: i })));
  });
  after(async () => {
    await app?.close();
    await standin?.stop();
  });

  test('a session that ran something between the scan and the kill is skipped with what changed; the others are killed', async () => {
    // Prepare: three candidates of one batch: two idle transactions and a stale cursor
    const busy = app.startSession();
    busy.startTransaction();
    await app.db('shop').collection('orders').insertOne({ n: 1 }, { session: busy });
    const idle = app.startSession();
    idle.startTransaction();
    await app.db('shop').collection('orders').insertOne({ n: 2 }, { session: idle });
    const reader = app.startSession();
    const cursor = app.db('shop').collection('items').find({}, { session: reader, batchSize: 2 });
    await cursor.next();
    clock.advance(1_000_000);
    const id = (s: typeof busy) => s.id!.id.toUUID().toString();
    // One pass (minSightings 1); the cursor-only session's application is unknown in it (protectUnknownApplications 0).
    const policy = await loadPolicySet(DEFAULT_POLICIES_DIR, { env: {}, overrides: { minSightings: 1, protectUnknownApplications: 0 } });
    const adapter = await MongoAdapter.connect(standin.uri);
    // Between the scan and the kill: `busy` runs a statement, `reader` fetches its next batch, two seconds pass
    const mongo = withBeforeRecheck(adapter, async () => {
      await app.db('shop').collection('orders').insertOne({ n: 3 }, { session: busy });
      for (let i = 0; i < 2; i++) await cursor.next();
      await cursor.next();
      clock.advance(2_000);
    });
    try {
      // Act
      const report = await runPass(mongo, policy, new InMemoryAuditSink(), clockedPassOptions(clock));
      // Assess
      const outcome = (s: typeof busy) => report.decisions.find((d) => d.sessionId === id(s));
      assert.deepEqual([outcome(busy)?.outcome, outcome(busy)?.why], ['skipped', 'no longer matches: its transaction ran a statement since the scan']);
      assert.deepEqual([outcome(reader)?.outcome, outcome(reader)?.why], ['skipped', 'no longer matches: cursor used 2 s ago']);
      assert.equal(outcome(idle)?.outcome, 'killed');
      assert.equal(report.rechecks, 1, 'one re-check for the one batch');
      assert.equal(report.counts.killSessionsCalls, 1);
      // The skipped ones go on; the killed one does not
      await busy.commitTransaction();
      assert.ok((await cursor.toArray()).length > 0, 'the cursor reads on');
      await assert.rejects(idle.commitTransaction(), (e: unknown) => e instanceof MongoServerError && e.code === 251);
    } finally {
      await adapter.close();
      for (const s of [busy, idle, reader]) await s.endSession();
    }
  });

  test('a batch whose candidates all changed sends no killSessions', async () => {
    // Prepare
    const s = app.startSession();
    s.startTransaction();
    await app.db('shop').collection('orders').insertOne({ n: 4 }, { session: s });
    clock.advance(120_000);
    const policy = await loadPolicySet(DEFAULT_POLICIES_DIR, { env: {}, overrides: { minSightings: 1 } });
    const adapter = await MongoAdapter.connect(standin.uri);
    const mongo = withBeforeRecheck(adapter, async () => {
      await s.commitTransaction();
    });
    try {
      // Act
      const report = await runPass(mongo, policy, new InMemoryAuditSink(), clockedPassOptions(clock));
      // Assess
      const d = report.decisions.find((x) => x.sessionId === s.id!.id.toUUID().toString());
      assert.deepEqual([d?.outcome, d?.why], ['skipped', 'no longer matches: its transaction ended since the scan']);
      assert.equal(report.counts.killSessionsCalls, 0);
      assert.equal(report.counts.killed, 0);
    } finally {
      await adapter.close();
      await s.endSession();
    }
  });
});
