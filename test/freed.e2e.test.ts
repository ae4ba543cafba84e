/**
 * "Killed" says what was freed, end to end on the stand-in: the kill of an idle transaction says it aborted the
 * transaction; the kill of a session that held nothing (only a rule naming holdsNothing can target one) is
 * reported as freeing nothing, in the report, its audit event and the run summary's counts.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { MongoClient } from 'mongodb';
import { MongoAdapter } from '../src/adapters/mongodb/adapter.ts';
import { InMemoryAuditSink } from '../src/adapters/audit-sinks.ts';
import type { DecisionDetail, RunSummaryDetail } from '../src/pass/audit/events.ts';
import { runPass } from '../src/pass/pass.ts';
import { parsePolicySet } from '../src/pass/policy/load.ts';
import { ManualClock } from '../standin/src/clock.ts';
import { startStandin, type RunningStandin } from '../standin/src/server.ts';
import { clockedPassOptions } from './support/clocked-pass.ts';

describe('what a kill freed (stand-in)', () => {
  const clock = new ManualClock(Date.UTC(2026, 0, 5, 9, 0, 0));
  let standin: RunningStandin;
  let app: MongoClient;
  before(async () => {
    standin = await startStandin({ clock });
    app = new MongoClient(standin.uri, { appName: 'orders-service', retryWrites: false });
    await app.connect();
  });
  after(async () => {
    await app?.close();
    await standin?.stop();
  });

  test('an idle transaction\'s kill aborted it; an empty session\'s kill freed nothing, and says so', async () => {
    // Prepare: a session with an idle transaction, and a session that ran one command and holds nothing
    const busy = app.startSession();
    busy.startTransaction();
    await app.db('shop').collection('orders').insertOne({ n: 1 }, { session: busy });
    const empty = app.startSession();
    await app.db('shop').collection('orders').findOne({}, { session: empty });
    clock.advance(600_000);
    const id = (s: typeof busy) => s.id!.id.toUUID().toString();
    const policy = parsePolicySet([{
      path: 'p.json',
      text: JSON.stringify({
        version: 1,
        rules: [
          { name: 'idle-txn', conditions: { all: [{ fact: 'txnInactiveSeconds', operator: 'greaterThan', value: 60 }] }, event: { type: 'kill', params: { reason: 'idle transaction' } } },
          { name: 'this-empty-session', conditions: { all: [{ fact: 'sessionId', operator: 'equal', value: id(empty) }, { fact: 'holdsNothing', operator: 'equal', value: true }] }, event: { type: 'kill', params: { reason: 'named on purpose' } } },
        ],
      }),
    }]);
    const sink = new InMemoryAuditSink();
    const mongo = await MongoAdapter.connect(standin.uri);
    try {
      // Act
      const report = await runPass(mongo, policy, sink, clockedPassOptions(clock));
      // Assess
      const row = (s: typeof busy) => report.decisions.find((d) => d.sessionId === id(s));
      assert.equal(row(busy)?.outcome, 'killed');
      assert.deepEqual(row(busy)?.freed, { operations: 0, transactionAborted: true, cursors: 0 });
      assert.equal(row(empty)?.outcome, 'killed');
      assert.deepEqual(row(empty)?.freed, { operations: 0, transactionAborted: false, cursors: 0 });
      assert.equal(report.counts.killed, 2);
      assert.equal(report.counts.killedHoldingNothing, 1);
      const event = sink.events.find((e) => (e.detail as DecisionDetail).session?.id === id(empty))!.detail as DecisionDetail;
      assert.deepEqual(event.freed, { operations: 0, transactionAborted: false, cursors: 0 });
      const summary = sink.events.find((e) => e.detail.kind === 'run')!.detail as RunSummaryDetail;
      assert.equal(summary.counts.killedHoldingNothing, 1);
    } finally {
      await mongo.close();
      await busy.endSession().catch(() => {});
      await empty.endSession();
    }
  });
});
