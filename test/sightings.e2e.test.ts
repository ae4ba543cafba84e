/**
 * Sightings across passes, end to end: the official driver against the stand-in on a ManualClock, the reaper
 * given the same clock as its `now`, and the sightings in a JSON state file (the CLI's store). A rule waiting
 * for two sightings kills on the second pass only; a session seen only through its idle cursor gets the
 * application an earlier pass saw it run, so an application rule matches it.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MongoClient, MongoServerError } from 'mongodb';
import { MongoAdapter } from '../src/adapters/mongodb/adapter.ts';
import { InMemoryAuditSink } from '../src/adapters/audit-sinks.ts';
import { FileSightings } from '../src/adapters/sightings-file.ts';
import { DEFAULT_POLICIES_DIR } from '../src/service/config.ts';
import { runPass, type RunReport } from '../src/pass/pass.ts';
import { loadPolicySet } from '../src/pass/policy/load.ts';
import { ManualClock } from '../standin/src/clock.ts';
import { startStandin, type RunningStandin } from '../standin/src/server.ts';
import { clockedPassOptions } from './support/clocked-pass.ts';

describe('sightings across passes (stand-in, state file)', () => {
  const clock = new ManualClock(Date.UTC(2026, 0, 5, 9, 0, 0));
  let standin: RunningStandin;
  const clients: MongoClient[] = [];
  const connect = async (appName: string): Promise<MongoClient> => {
    const c = new MongoClient(standin.uri, { appName, retryWrites: false });
    await c.connect();
    clients.push(c);
    return c;
  };
  const newStore = (): FileSightings => new FileSightings(join(mkdtempSync(join(tmpdir(), 'sightings-e2e-')), 'state', 'sightings.json'));
  /** The audit events of the last pass. */
  let audited = new InMemoryAuditSink();
  const pass = async (store: FileSightings, overrides: Record<string, number> = {}): Promise<RunReport> => {
    const policy = await loadPolicySet(DEFAULT_POLICIES_DIR, { env: {}, overrides });
    const mongo = await MongoAdapter.connect(standin.uri);
    audited = new InMemoryAuditSink();
    try {
      return await runPass(mongo, policy, audited, clockedPassOptions(clock, { sightings: store }));
    } finally {
      await mongo.close();
    }
  };

  before(async () => {
    standin = await startStandin({ clock });
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await standin?.stop();
  });

  test('an idle transaction is killed by the second pass that sees it, not by the first (minSightings 2)', async () => {
    // Prepare: a transaction idle for 90 s, past the 60 s threshold
    const store = newStore();
    const app = await connect('orders-service');
    const session = app.startSession();
    session.startTransaction();
    await app.db('shop').collection<{ _id: number }>('orders').insertOne({ _id: 1 }, { session });
    const id = session.id!.id.toUUID().toString();
    clock.advance(90_000);
    // Act: the first pass
    const first = await pass(store);
    // Assess: noted, not killed
    assert.equal(first.error, null);
    assert.equal(first.counts.killed, 0);
    assert.equal(first.decisions.find((d) => d.sessionId === id), undefined, 'no rule fires on a first sighting');
    const saved = JSON.parse(readFileSync(store.path, 'utf8'));
    const entry = Object.entries(saved.clusters.e2e.entries).find(([k]) => k.startsWith(`s:${id}:`))?.[1] as { sightings: number; appName: string };
    assert.deepEqual([entry.sightings, entry.appName], [1, 'orders-service']);
    // Act: the next scheduled pass, five minutes later, finds it still idle
    clock.advance(300_000);
    const second = await pass(store);
    // Assess: killed, with the sightings in its evidence, and the transaction is gone
    const d = second.decisions.find((x) => x.sessionId === id);
    assert.equal(d?.outcome, 'killed');
    assert.equal(d?.rule, 'idle-transaction');
    const killed = audited.events.find((e) => e.detail.kind === 'decision' && (e.detail as { session?: { id: string } }).session?.id === id);
    assert.equal((killed?.detail as { facts?: { sightings?: number } }).facts?.sightings, 2);
    await assert.rejects(session.commitTransaction(), (e: unknown) => e instanceof MongoServerError && e.code === 251);
    await session.endSession();
  });

  test('a session that held nothing in between starts its sightings again', async () => {
    // Prepare: an idle transaction seen once, then committed before the next pass, then a new one left idle
    const store = newStore();
    const app = await connect('billing');
    const session = app.startSession();
    session.startTransaction();
    await app.db('shop').collection<{ _id: number }>('invoices').insertOne({ _id: 1 }, { session });
    clock.advance(90_000);
    assert.equal((await pass(store)).counts.killed, 0);
    await session.commitTransaction();
    clock.advance(300_000);
    assert.equal((await pass(store)).counts.killed, 0, 'it holds nothing now: its run of sightings ends');
    session.startTransaction();
    await app.db('shop').collection<{ _id: number }>('invoices').insertOne({ _id: 2 }, { session });
    clock.advance(90_000);
    // Act
    const report = await pass(store);
    // Assess: a first sighting again
    assert.equal(report.counts.killed, 0);
    await session.abortTransaction();
    await session.endSession();
  });

  test('a cursor-only session whose application an earlier pass saw is matched by the application rule', async () => {
    // Prepare: mongodump holds a cursor and, during the first pass, an idle transaction whose document names it
    const store = newStore();
    const dump = await connect('mongodump');
    const session = dump.startSession();
    const seed = await connect('seed');
    await seed.db('shop').collection<{ _id: number }>('items').insertMany(Array.from({ length: 20 }, (_, i) => ({ _id: i })));
    const cursor = dump.db('shop').collection('items').find({}, { session, batchSize: 2 });
    await cursor.next();
    session.startTransaction();
    await dump.db('shop').collection('log').insertOne({ at: 1 }, { session });
    const id = session.id!.id.toUUID().toString();
    clock.advance(5_000);
    assert.equal((await pass(store, { staleCursorIdleSeconds: 120 })).counts.killed, 0);
    // Only the cursor is left: its idleCursor document names no client
    await session.commitTransaction();
    clock.advance(200_000);
    // Act
    const report = await pass(store, { staleCursorIdleSeconds: 120 });
    // Assess: the stale-cursor rule fired on its second sighting, and the backup protection, keyed on the
    // application recalled from the first pass, won (without the recall: "application-unknown")
    const d = report.decisions.find((x) => x.sessionId === id);
    assert.equal(d?.rule, 'atlas-agents-and-backup');
    assert.equal(d?.appName, 'mongodump');
    assert.equal(d?.outcome, 'skipped');
    assert.match(d?.why ?? '', /stale-cursor-session/);
    assert.equal((await cursor.toArray()).length, 19, 'the dump reads on');
    await session.endSession();
  });
});
